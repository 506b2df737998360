//! The file source's MP4 demuxer reads files users point it at: any bytes must give a
//! track or an error, never a panic or an unbounded allocation.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(track) = media::mp4::demux::parse_file(data) {
        // Every sample the demuxer returns must be addressable without overflow.
        for s in &track.samples {
            let _ = s.offset.checked_add(u64::from(s.size));
        }
    }
});
