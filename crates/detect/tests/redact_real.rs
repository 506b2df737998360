//! Redaction on real frames: 30 s of ../shared/data/one-by-one-person-detection.mp4 (two
//! visits and the empty doorway between them), prepared for posting as the agent does it.
//! Skipped, loudly, when the clip or the models are absent. Checks:
//! - against the ground truth: every frame while a person is in view has a person region;
//! - against the detector: every person the detector finds in any frame (not only the
//!   frames redaction sampled) lies inside that frame's blurred regions;
//! - on the output's pixels: inside every region the picture is flat blocks, outside it
//!   the picture is the source's (up to re-encoding);
//! - the output is a standard MP4 that ffprobe reads: one video stream, no audio, every frame.
//!
//!   cargo test --release -p porchlight-detect --test redact_real -- --nocapture

mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::{installed, shared};
use porchlight_detect::decode::{H264Decoder, OwnedPicture};
use porchlight_detect::objects::{Category, ObjectDetector, OnnxDetector, Runtime};
use porchlight_detect::redact::plan::{Kind, coverage};
use porchlight_detect::redact::{Options, Redactor, pixel_rect};

const START: f64 = 3.0;
/// Person in view (ground truth, ../shared/data/README.md), in the clip's own time.
const TRUTH: [(f64, f64); 2] = [(6.0 - START, 19.0 - START), (23.0 - START, 45.0 - START)];

/// 30 s of the person clip at its own size, without B-frames (as a camera's main stream
/// without them, or its sub-stream, would be recorded).
fn clip(src: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("person-30s.mp4");
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-ss", &START.to_string(), "-t", "30", "-i"])
        .arg(src)
        .args(["-an", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline", "-g", "20", "-bf", "0"])
        .arg(&out)
        .status()
        .expect("running ffmpeg (make setup installs it)");
    assert!(st.success());
    out
}

fn decode_all(path: &Path) -> Vec<(f64, OwnedPicture)> {
    let (file, track) = media::source::file::read_track(path).unwrap();
    let mut dec = H264Decoder::new(&track.sample_entry).unwrap();
    let first = track.samples[0].dts;
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for s in &track.samples {
        buf.resize(s.size as usize, 0);
        file.read_exact_at(&mut buf, s.offset).unwrap();
        let t = (s.dts - first) as f64 / f64::from(track.timescale);
        let pic = dec.decode(&buf, s.is_key).unwrap().expect("every frame decodes");
        out.push((t, pic.to_owned()));
    }
    out
}

/// Mean absolute difference between horizontal neighbours inside a rectangle, skipping
/// pairs that straddle a mosaic block edge of size `block` aligned at `x0`.
fn texture(p: &OwnedPicture, (x0, y0, x1, y1): (usize, usize, usize, usize), block: Option<usize>) -> f64 {
    let (mut sum, mut n) = (0u64, 0u64);
    for y in y0..y1 {
        for x in x0..x1.saturating_sub(1) {
            if block.is_some_and(|b| (x + 1 - x0) % b == 0) {
                continue;
            }
            sum += u64::from(p.y[y * p.width + x].abs_diff(p.y[y * p.width + x + 1]));
            n += 1;
        }
    }
    if n == 0 { 0.0 } else { sum as f64 / n as f64 }
}

#[test]
fn person_clip_every_person_frame_is_blurred() {
    let Some(src) = shared("one-by-one-person-detection.mp4") else { return };
    let Some(inst) = installed() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = clip(&src, dir.path());
    let output = dir.path().join("posted.mp4");
    let mut r = Redactor::installed().expect("make setup installs the redaction models");
    let report = r.prepare(&input, &output, &Options::default()).unwrap();
    eprintln!(
        "{}; sightings person/face/text {:?}; decode {:.2} s, detect {:.2} s, blur+encode {:.2} s",
        report.summary(),
        report.sightings,
        report.decode_s,
        report.detect_s,
        report.encode_s
    );

    // Ground truth: with a second's tolerance at each end of a visit.
    let mut checked = 0;
    for (t, regions) in report.frame_times.iter().zip(&report.regions) {
        if TRUTH.iter().any(|&(a, b)| *t >= a + 1.0 && *t <= b - 1.0) {
            assert!(
                regions.iter().any(|r| r.kind == Kind::Person),
                "a person is in view at {t:.1} s but nothing is blurred"
            );
            checked += 1;
        }
    }
    assert!(checked > 190, "only {checked} frames were inside the ground truth");

    // The detector, on every frame of the source.
    let rt = Runtime::load(&inst.onnxruntime).unwrap();
    let mut det = OnnxDetector::load(&rt, inst.default_spec()).unwrap();
    let source = decode_all(&input);
    assert_eq!(source.len(), report.frames);
    let mut people = 0;
    for (i, (t, pic)) in source.iter().enumerate() {
        for d in det.detect(&pic.picture()).unwrap() {
            if d.category == Some(Category::Person) && d.score >= 0.4 {
                people += 1;
                let c = coverage(&d.bbox, &report.regions[i]);
                assert!(
                    c >= 0.95,
                    "frame {i} ({t:.1} s): a person {d:?} is only {:.0}% inside the blur {:?}",
                    c * 100.0,
                    report.regions[i]
                );
            }
        }
    }
    assert!(people > 80, "the detector found people in only {people} frames");
    eprintln!("{checked} frames inside the ground truth's visits each blur a person; {people} detections all covered");

    // The output's pixels.
    let posted = decode_all(&output);
    assert_eq!(posted.len(), report.frames, "every frame is in the output");
    let (mut flat, mut kept, mut regions_seen) = (0f64, 0f64, 0);
    for (i, ((_, out), (_, src))) in posted.iter().zip(&source).enumerate() {
        assert_eq!((out.width, out.height), (src.width, src.height));
        for reg in &report.regions[i] {
            let rect = pixel_rect(reg, out.width, out.height);
            let (w, h) = (rect.2 - rect.0, rect.3 - rect.1);
            if w < 24 || h < 24 {
                continue;
            }
            let b = porchlight_detect::redact::block_size(w, h);
            let (before, after) = (texture(src, rect, Some(b)), texture(out, rect, Some(b)));
            regions_seen += 1;
            flat += after;
            kept += before;
            assert!(
                after < before * 0.5 + 1.0,
                "frame {i}: region {reg:?} still has texture {after:.2} (source {before:.2})"
            );
        }
    }
    assert!(regions_seen > 200);
    eprintln!(
        "texture inside regions: source {:.2}, output {:.2} (mean abs neighbour difference)",
        kept / f64::from(regions_seen),
        flat / f64::from(regions_seen)
    );

    // ffprobe: one video stream, no audio, all the frames.
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_type,codec_name,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&output)
        .output()
        .expect("ffprobe (make setup installs ffmpeg)");
    let text = String::from_utf8_lossy(&probe.stdout);
    assert!(probe.status.success(), "ffprobe rejected the output: {}", String::from_utf8_lossy(&probe.stderr));
    assert_eq!(text.trim(), format!("h264,video,{}", report.frames), "ffprobe: {text}");
}

#[test]
fn b_frames_and_garbage_are_refused_without_output() {
    let Some(src) = shared("one-by-one-person-detection.mp4") else { return };
    if installed().is_none() {
        return;
    }
    let mut r = Redactor::installed().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    // The original has B-frames.
    let e = r.prepare(&src, &out, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("B-frames"), "{e}");
    let junk = dir.path().join("junk.mp4");
    std::fs::write(&junk, b"not an mp4 at all").unwrap();
    let e = r.prepare(&junk, &out, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("not a usable MP4"), "{e}");
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary files left");

    // Too large for a post even at the lowest bit rate: refused, nothing written.
    let input = clip(&src, dir.path());
    let o = Options { people: false, faces: false, text: false, max_bytes: Some(20_000), ..Options::default() };
    let e = r.prepare(&input, &out, &o).unwrap_err();
    assert!(e.to_string().contains("more than the 0 MiB a post takes"), "{e}");
    assert!(!out.exists());
    // Under a real limit the bit rate adapts: 30 s in at most 1 MiB.
    let o = Options { max_bytes: Some(1 << 20), ..o };
    let report = r.prepare(&input, &out, &o).unwrap();
    assert!(report.bytes <= 1 << 20, "{} bytes", report.bytes);
}
