//! Micro-benchmarks of the per-frame and per-export work in `media`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use porchlight_media::SampleEntry;
use porchlight_media::index::{self, FrameInfo};
use porchlight_media::mp4::mux::{self, BodyRange, Part};
use porchlight_media::reorder::Reorderer;

const HOUR_FRAMES: usize = 3600 * 30;

fn hour_of_frames() -> Vec<FrameInfo> {
    (0..HOUR_FRAMES)
        .map(|i| FrameInfo {
            size_bytes: if i % 60 == 0 { 120_000 } else { 15_000 + (i as u32 % 97) * 13 },
            duration_90k: 3000,
            is_key: i % 60 == 0,
            pts_offset_90k: 0,
        })
        .collect()
}

fn entry() -> Arc<SampleEntry> {
    let avcc = [1u8, 0x64, 0, 0x28, 0xff, 0xe1, 0, 2, 0x67, 0x64, 1, 0, 1, 0x68];
    Arc::new(SampleEntry::h264(1920, 1080, &avcc).unwrap())
}

fn benches(c: &mut Criterion) {
    let frames = hour_of_frames();
    let mut blob = Vec::new();
    for f in &frames {
        index::append(&mut blob, f);
    }
    let mut g = c.benchmark_group("index");
    g.throughput(Throughput::Elements(HOUR_FRAMES as u64));
    g.bench_function("encode_hour", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(blob.len());
            for f in &frames {
                index::append(&mut out, f);
            }
            black_box(out)
        })
    });
    g.bench_function("decode_hour", |b| b.iter(|| black_box(index::decode(black_box(&blob)).unwrap())));
    g.finish();

    // An hour as 60 one-minute segments: the MP4 header that export generates.
    let parts: Vec<Part> = frames
        .chunks(1800)
        .enumerate()
        .map(|(i, fs)| Part {
            entry: 0,
            frames: fs.to_vec(),
            body: BodyRange {
                path: format!("/seg/{i}").into(),
                offset: 0,
                len: fs.iter().map(|f| u64::from(f.size_bytes)).sum(),
            },
        })
        .collect();
    let entries = [entry()];
    let mut g = c.benchmark_group("mux");
    g.throughput(Throughput::Elements(HOUR_FRAMES as u64));
    g.bench_function("progressive_header_hour", |b| b.iter(|| black_box(mux::progressive(&entries, &parts, 0))));
    g.bench_function("fragmented_headers_hour", |b| b.iter(|| black_box(mux::fragmented(&entries, &parts, 0))));
    g.finish();

    let mut g = c.benchmark_group("reorder");
    g.throughput(Throughput::Elements(HOUR_FRAMES as u64));
    g.bench_function("b_frames_hour", |b| {
        b.iter(|| {
            let mut r = Reorderer::default();
            let mut n = 0usize;
            for i in 0..HOUR_FRAMES as i64 {
                let pts = (i / 4) * 4 * 3000 + [0, 3, 1, 2][(i % 4) as usize] * 3000;
                n += r.push((), pts).unwrap().len();
            }
            n + r.flush().len()
        })
    });
    g.finish();
}

criterion_group!(media, benches);
criterion_main!(media);
