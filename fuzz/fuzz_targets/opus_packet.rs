//! Opus packets come from cameras (live view passes them through); their durations are
//! read from bytes the camera chose.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(n) = media::opus::packet_samples(data) {
        assert!(n > 0 && n <= media::opus::PACKET_SAMPLES_MAX);
    }
});
