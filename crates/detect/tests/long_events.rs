//! A scene that never stops moving: with a maximum event length, the motion is a chain of
//! consecutive events (each continuing the one before, nothing between them), not one
//! event that never ends and so is never reported.

mod common;

use porchlight_detect::analyser::{Analyser, EventKind};
use porchlight_detect::motion::MotionConfig;

#[test]
fn endless_motion_becomes_consecutive_linked_events() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("endless.mp4");
    // A box swinging back and forth over the bars for the whole 45 s.
    let st = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "smptebars=size=640x360:rate=10:duration=45",
        ])
        .args(["-f", "lavfi", "-i", "color=c=0x202020:size=80x120:rate=10:duration=45"])
        .args(["-filter_complex", "[0][1]overlay=x='280+200*sin(t*2)':y=120", "-t", "45"])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline", "-bf", "0", "-g", "20"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&clip)
        .status()
        .expect("ffmpeg (make setup installs it)");
    assert!(st.success());

    // Without a maximum: one event, known only when the clip ends.
    let one = common::events_of(Analyser::new(MotionConfig::default(), 5).unwrap(), &clip);
    assert_eq!(one.len(), 1, "{one:#?}");

    let a = Analyser::new(MotionConfig::default(), 5).unwrap().with_max_event(10.0).unwrap();
    let evs = common::events_of(a, &clip);
    assert!(evs.iter().all(|e| e.kind == EventKind::Motion), "{evs:#?}");
    assert_eq!(evs.len(), 5, "10 s parts of 45 s: {:?}", evs.iter().map(|e| (e.start, e.end)).collect::<Vec<_>>());
    for w in evs.windows(2) {
        assert_eq!(w[1].continues, Some(w[0].key), "each part names the one before");
        assert!((w[1].start - w[0].end).abs() < 1e-9, "no gap, no overlap: {} then {}", w[0].end, w[1].start);
        assert!(w[0].end - w[0].start <= 10.0 + 0.21, "at most the maximum (one analysed frame's slack)");
        assert!(w[0].snapshot.is_some(), "every part has its snapshot");
    }
    assert_eq!(evs[0].continues, None);
    let keys: std::collections::BTreeSet<u64> = evs.iter().map(|e| e.key).collect();
    assert_eq!(keys.len(), evs.len(), "distinct keys");
    // Out-of-range maxima are refused with the field's name.
    for bad in [0.0, 9.9, 3601.0, f64::NAN] {
        let e = Analyser::new(MotionConfig::default(), 5).unwrap().with_max_event(bad).err().unwrap();
        assert!(e.to_string().contains("max_event_s"), "{e}");
    }
}
