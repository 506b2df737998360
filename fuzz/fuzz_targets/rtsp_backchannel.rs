//! What a camera sends to the ONVIF backchannel client: RTSP responses (interleaved frames
//! among them) and the SDP that names the backchannel track. Every input is refused or
//! parsed, never a panic; a parsed response never claims more bytes than it was given.
#![no_main]
use libfuzzer_sys::fuzz_target;
use media::backchannel::{Parsed, backchannel_track, parse_response};

fuzz_target!(|data: &[u8]| {
    match parse_response(data) {
        Ok(Parsed::Response(r, n)) => {
            assert!(n <= data.len());
            assert!(r.body.len() <= media::backchannel::BODY_BYTES_MAX);
            let base = url::Url::parse("rtsp://camera/live/").expect("a URL");
            let _ = backchannel_track(&base, &r.body);
        }
        Ok(Parsed::Interleaved(n)) => assert!(n <= data.len() && n >= 4),
        Ok(Parsed::Incomplete) | Err(_) => {}
    }
    let base = url::Url::parse("rtsp://camera/live").expect("a URL");
    if let Ok(t) = backchannel_track(&base, data) {
        assert!(t.control.starts_with("rtsp"));
    }
});
