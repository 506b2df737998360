//! Privacy masks reach snapshots: every pixel of an event's snapshot inside a mask is black
//! (luma 16, neutral chroma), and the rest of the picture is untouched.

mod common;

use std::path::Path;

use porchlight_detect::analyser::Analyser;
use porchlight_detect::motion::MotionConfig;
use porchlight_detect::zone::Polygon;

#[test]
fn snapshots_are_masked() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/generated/back.mp4");
    assert!(p.exists(), "{} is missing: run `make testdata` first", p.display());
    // The left 40% of the picture is private.
    let mask = Polygon::parse("mask", "0,0 0.4,0 0.4,1 0,1").unwrap();
    let cfg = MotionConfig { masks: vec![mask], ..MotionConfig::default() };
    let events = common::events_of(Analyser::new(cfg, 5).unwrap(), &p);
    let snap = events.iter().find_map(|e| e.snapshot.as_ref()).expect("the moving test pattern makes an event");
    let pic = &snap.picture;
    let (w, h) = (pic.width, pic.height);
    let masked_x = (w as f32 * 0.4) as usize;
    for y in 0..h {
        for x in 0..w {
            let v = pic.y[y * w + x];
            if x + 1 < masked_x {
                assert_eq!(v, 16, "luma at ({x}, {y}) inside the mask");
            }
        }
    }
    let cw = w.div_ceil(2);
    for y in 0..h.div_ceil(2) {
        for x in 0..(masked_x / 2).saturating_sub(1) {
            assert_eq!((pic.u[y * cw + x], pic.v[y * cw + x]), (128, 128), "chroma at ({x}, {y})");
        }
    }
    // Outside the mask the test pattern is still there.
    let outside: Vec<u8> = (0..h).flat_map(|y| pic.y[y * w + masked_x + 2..(y + 1) * w].to_vec()).collect();
    assert!(outside.iter().any(|&v| v > 100), "the unmasked part is not blacked out");
}
