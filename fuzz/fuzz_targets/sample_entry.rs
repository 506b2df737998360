//! Sample entries come from cameras (via retina) and from files.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = media::SampleEntry::from_box(data.to_vec());
});
