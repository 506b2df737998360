//! What the neighbourhood takes from strangers' devices and models: a posted photo's JPEG
//! structure (the metadata check) and the text detector's probability map turned into
//! boxes. Neither may panic; an accepted photo is a whole JPEG; every box lies in the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if api::check_jpeg(data).is_ok() {
        assert!(data.starts_with(&[0xff, 0xd8]) && data.ends_with(&[0xff, 0xd9]));
    }
    // A probability map of up to 64 columns from the rest of the bytes.
    if let Some((&w, rest)) = data.split_first() {
        let w = usize::from(w % 64) + 1;
        let h = rest.len() / w;
        let prob: Vec<f32> = rest[..w * h].iter().map(|&b| f32::from(b) / 255.0).collect();
        for (score, b) in detect::redact::models::regions(&prob, w, h, 0.3, 0.5) {
            assert!((0.5..=1.0).contains(&score));
            assert!(0.0 <= b.x0 && b.x0 <= b.x1 && b.x1 <= 1.0 && 0.0 <= b.y0 && b.y0 <= b.y1 && b.y1 <= 1.0, "{b:?}");
        }
    }
});
