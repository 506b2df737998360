//! Motion detection on the real clips in ../shared/data (skipped, loudly, when absent),
//! through the product's path: our MP4 demuxer, then the analyser the agent uses (OpenH264,
//! the detector at 5 frames a second). Ground truth is in ../shared/data/README.md.

mod common;

use std::os::unix::fs::FileExt;
use std::path::Path;

use common::shared;
use porchlight_detect::analyser::Analyser;
use porchlight_detect::motion::{Motion, MotionConfig};

const FPS: f64 = 5.0;

/// (time in seconds, motion) for every analysed frame.
fn analyse(path: &Path) -> Vec<(f64, Motion)> {
    let (file, track) = media::source::file::read_track(path).unwrap();
    let mut a = Analyser::new(MotionConfig::default(), FPS as u32).unwrap();
    a.set_sample_entry(&track.sample_entry).unwrap();
    let (mut out, mut buf) = (Vec::new(), Vec::new());
    for s in &track.samples {
        buf.resize(s.size as usize, 0);
        file.read_exact_at(&mut buf, s.offset).unwrap();
        let t = s.dts as f64 / f64::from(track.timescale);
        match a.push(&buf, s.is_key, t) {
            Ok(Some(an)) => out.push((an.t, an.motion)),
            Ok(None) => {}
            Err(e) => eprintln!("{t:.2}s: {e}"),
        }
    }
    out
}

fn report(name: &str, frames: &[(f64, Motion)]) {
    for (t, m) in frames {
        eprintln!(
            "{name} {t:5.1}s motion={} changed={:.3} gain={:.2} reset={} regions={}",
            u8::from(m.is_motion()),
            m.changed,
            m.gain,
            m.reset,
            m.regions
                .iter()
                .map(|r| format!("[{:.2},{:.2} {:.2}x{:.2} {:.3}]", r.x, r.y, r.w, r.h, r.area))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
}

fn motion_in(frames: &[(f64, Motion)], from: f64, to: f64) -> usize {
    frames.iter().filter(|(t, m)| (from..to).contains(t) && m.is_motion()).count()
}

#[test]
fn car_clip_motion_follows_the_cars_not_the_exposure() {
    let Some(p) = shared("car-detection.mp4") else { return };
    let f = analyse(&p);
    report("car", &f);
    // Each pass of a car has motion; the empty stretches (with a second's margin) have none.
    for (a, b) in [(4.5, 8.5), (14.5, 22.5), (25.5, 28.0)] {
        assert!(motion_in(&f, a, b) >= 3, "no motion while a car is in view {a}-{b}");
    }
    for (a, b) in [(0.4, 3.5), (9.5, 13.5), (23.5, 24.5)] {
        assert_eq!(motion_in(&f, a, b), 0, "motion in the empty stretch {a}-{b}");
    }
    // The exposure change at about 6 s is absorbed as gain, not reported as a frame-wide
    // change.
    let around: Vec<_> = f.iter().filter(|(t, _)| (5.5..6.6).contains(t)).collect();
    assert!(around.iter().all(|(_, m)| !m.reset && m.changed < 0.3), "exposure change looked like motion");
}

#[test]
fn person_clip_motion_during_visits() {
    let Some(p) = shared("one-by-one-person-detection.mp4") else { return };
    // This clip is Main profile with B-frames, which OpenH264 cannot decode (see
    // `decode`); cameras' sub-streams have none. Re-encode it without them, as a camera's
    // sub-stream would be.
    let dir = std::env::temp_dir().join(format!("porchlight-detect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let baseline = dir.join("person-baseline.mp4");
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&p)
        .args(["-an", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline", "-bf", "0", "-g", "20"])
        .arg(&baseline)
        .status()
        .expect("running ffmpeg (make setup installs it)");
    assert!(st.success());
    let f = analyse(&baseline);
    let _ = std::fs::remove_dir_all(&dir);
    report("person", &f);
    for (a, b) in [(6.0, 19.0), (23.0, 45.0), (50.0, 69.0), (75.0, 87.0), (92.0, 119.0), (124.0, 136.0)] {
        assert!(motion_in(&f, a, b) >= 3, "no motion during the visit {a}-{b}");
    }
    // The ground truth is ±1 s, so the stretches start a second after each departure.
    for (a, b) in [(1.0, 5.0), (21.0, 22.0), (47.0, 48.5), (71.5, 73.5), (89.0, 90.5), (121.0, 122.5)] {
        assert_eq!(motion_in(&f, a, b), 0, "motion in the empty stretch {a}-{b}");
    }
}
