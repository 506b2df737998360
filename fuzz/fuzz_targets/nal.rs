//! Access units from the network are checked for NAL framing before they are stored.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = media::nal::check_length_prefixed(data) {
        assert!(n >= 1 && n <= data.len() / 5);
    }
});
