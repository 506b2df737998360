//! What the analysis thread parses from camera bytes: the sample entry's avcC box (the
//! parameter sets) and every frame's length-prefixed NAL units, then OpenH264 and the
//! motion detector on whatever decodes. Bad input must give errors, never a crash.
#![no_main]
use detect::decode::H264Decoder;
use detect::motion::{MotionConfig, MotionDetector};
use libfuzzer_sys::fuzz_target;
use media::SampleEntry;

fuzz_target!(|data: &[u8]| {
    // The first byte splits the input into a sample entry and frames.
    let Some((&split, rest)) = data.split_first() else { return };
    let cut = (usize::from(split) * 2).min(rest.len());
    let (entry, frames) = rest.split_at(cut);
    let Ok(entry) = SampleEntry::from_box(entry.to_vec()) else { return };
    let Ok(mut dec) = H264Decoder::new(&entry) else { return };
    let mut det = MotionDetector::new(MotionConfig::default()).unwrap();
    for (i, f) in frames.chunks(97).enumerate() {
        if let Ok(Some(p)) = dec.decode(f, i % 5 == 0) {
            let _ = det.detect(p.luma());
        }
    }
});
