//! The package rule on generated footage: a "visitor" (a dark box) walks in, stands, and
//! walks away; with a parcel left on the porch that is one package event, without it none.

mod common;

use std::path::Path;

use porchlight_detect::analyser::{Analyser, Event, EventKind, PackageRule};
use porchlight_detect::motion::MotionConfig;
use porchlight_detect::objects::Category;
use porchlight_detect::zone::Polygon;

fn clip(dir: &Path, name: &str, parcel: bool) -> std::path::PathBuf {
    let out = dir.join(name);
    // The visitor: enters from the left at 2 s, stands from 8 to 10 s, leaves by 16 s.
    let mut fc = "[0][1]overlay=x='-100+60*min(t-2,6)-60*max(t-10,0)':y=100:enable='between(t,2,16)'".to_owned();
    if parcel {
        fc.push_str(",drawbox=x=330:y=290:w=50:h=35:color=0x8B4513:t=fill:enable='gte(t,7)'");
    }
    let st = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "smptebars=size=640x360:rate=10:duration=30",
        ])
        .args(["-f", "lavfi", "-i", "color=c=0x202020:size=80x200:rate=10:duration=30"])
        .args(["-filter_complex", &fc, "-t", "30"])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline", "-bf", "0", "-g", "20"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&out)
        .status()
        .expect("ffmpeg (make setup installs it)");
    assert!(st.success());
    out
}

fn events(path: &Path) -> Vec<Event> {
    let porch = Polygon::parse("porch", "0.4,0.7 0.7,0.7 0.7,1 0.4,1").unwrap();
    let cfg = MotionConfig { zones: vec![("porch".into(), porch)], ..MotionConfig::default() };
    let a = Analyser::new(cfg, 5).unwrap().with_packages(PackageRule::new(vec!["porch".into()])).unwrap();
    common::events_of(a, path)
}

#[test]
fn a_parcel_left_on_the_porch_is_one_package_event() {
    let dir = tempfile::tempdir().unwrap();
    let with = events(&clip(dir.path(), "parcel.mp4", true));
    let packages: Vec<&Event> = with.iter().filter(|e| e.kind == EventKind::Object(Category::Package)).collect();
    assert_eq!(packages.len(), 1, "{with:#?}");
    let p = packages[0];
    assert!((18.0..26.0).contains(&p.start), "reported once the visit settled: {}", p.start);
    assert_eq!(p.zones, ["porch"]);
    let b = p.snapshot.as_ref().and_then(|s| s.bbox).expect("a snapshot with the parcel's box");
    let (cx, cy) = b.center();
    assert!((cx - 355.0 / 640.0).abs() < 0.05 && (cy - 307.0 / 360.0).abs() < 0.05, "{b:?}");
    assert!(with.iter().any(|e| e.kind == EventKind::Motion), "the visit itself is a motion event");

    let without = events(&clip(dir.path(), "visit.mp4", false));
    assert!(!without.iter().any(|e| e.kind == EventKind::Object(Category::Package)), "{without:#?}");
}

#[test]
fn package_rule_needs_real_zones() {
    let a = || Analyser::new(MotionConfig::default(), 5).unwrap();
    assert!(a().with_packages(PackageRule::new(vec!["porch".into()])).is_err(), "no such motion zone");
    assert!(a().with_packages(PackageRule::new(vec![])).is_err());
}
