//! Motion detection per 640x360 frame after decode (goal: under 1 ms on one core).

use criterion::{Criterion, criterion_group, criterion_main};
use porchlight_detect::motion::{Luma, MotionConfig, MotionDetector};

fn motion(c: &mut Criterion) {
    let (w, h) = (640usize, 360usize);
    // Two textured frames with an object in different places, alternated.
    let frame = |off: usize| -> Vec<u8> {
        (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                if (off..off + 60).contains(&x) && (150..210).contains(&y) {
                    240
                } else {
                    (60 + (x / 8 + y / 6) % 90) as u8
                }
            })
            .collect()
    };
    let frames = [frame(100), frame(160)];
    let mut d = MotionDetector::new(MotionConfig::default()).unwrap();
    let mut i = 0;
    c.bench_function("motion 640x360 frame", |b| {
        b.iter(|| {
            i += 1;
            d.detect(Luma { width: w, height: h, stride: w, data: &frames[i % 2] }).unwrap()
        })
    });
}

criterion_group!(benches, motion);
criterion_main!(benches);
