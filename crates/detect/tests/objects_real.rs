//! Object detection, tracking and events on the real clips in ../shared/data (skipped,
//! loudly, when absent), through the product's whole path: our MP4 demuxer, OpenH264, the
//! default model in ONNX Runtime (installed by `make setup`), the tracker and the events.
//! Ground truth is in ../shared/data/README.md. The precision and recall printed here are
//! the figures in BENCHMARKS.md:
//!   cargo test --release -p porchlight-detect --test objects_real -- --nocapture

mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use common::{installed, shared};
use porchlight_detect::analyser::{Analyser, Event, EventKind, ObjectsSpec};
use porchlight_detect::motion::MotionConfig;
use porchlight_detect::objects::{Category, Installed, OnnxDetector, Runtime};
use porchlight_detect::track::TrackerConfig;

/// The person clip without B-frames, as a camera's sub-stream carries it (made by
/// `make testdata`; made here when missing).
fn person_sub(src: &Path) -> PathBuf {
    let made = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/generated/person-sub.mp4");
    if made.exists() {
        return made;
    }
    let out = std::env::temp_dir().join(format!("porchlight-objects-{}.mp4", std::process::id()));
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(src)
        .args(["-an", "-vf", "scale=640:360", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline"])
        .args(["-g", "20", "-bf", "0"])
        .arg(&out)
        .status()
        .expect("running ffmpeg (make setup installs it)");
    assert!(st.success());
    out
}

struct Run {
    events: Vec<Event>,
    /// (time, whether a person / a vehicle event was open then) per analysed frame.
    frames: Vec<(f64, bool, bool)>,
    /// Labels the detector gave, with counts and best scores, for the report.
    labels: Vec<(String, u32, f32)>,
}

fn analyse(path: &Path, inst: &Installed) -> Run {
    let rt = Runtime::load(&inst.onnxruntime).unwrap();
    let det = OnnxDetector::load(&rt, inst.default_spec()).unwrap();
    let spec = ObjectsSpec { detector: Box::new(det), tracker: TrackerConfig::default(), heartbeat: 3.0 };
    let mut a = Analyser::new(MotionConfig::default(), 5).unwrap().with_objects(spec).unwrap();
    let (file, track) = media::source::file::read_track(path).unwrap();
    a.set_sample_entry(&track.sample_entry).unwrap();
    let mut run = Run { events: Vec::new(), frames: Vec::new(), labels: Vec::new() };
    let mut buf = Vec::new();
    let mut last = 0.0;
    for s in &track.samples {
        buf.resize(s.size as usize, 0);
        file.read_exact_at(&mut buf, s.offset).unwrap();
        let t = s.dts as f64 / f64::from(track.timescale);
        last = t;
        let an = match a.push(&buf, s.is_key, t) {
            Ok(Some(an)) => an,
            Ok(None) => continue,
            Err(e) => panic!("{t:.2}s: {e}"),
        };
        for d in an.detections.iter().flatten() {
            match run.labels.iter_mut().find(|l| l.0 == d.label) {
                Some(l) => {
                    l.1 += 1;
                    l.2 = l.2.max(d.score);
                }
                None => run.labels.push((d.label.clone(), 1, d.score)),
            }
        }
        // An event covers a frame from its start (which may be earlier than the frame that
        // confirmed it) to its end; counted after the run, from the events themselves.
        for e in &an.ended {
            eprintln!("event {:?} {} {:.1}-{:.1} score {:.2}", e.kind, e.label, e.start, e.end, e.score);
        }
        run.events.extend(an.ended);
        run.frames.push((t, false, false));
    }
    let (_, ended) = a.finish(last);
    run.events.extend(ended);
    for f in &mut run.frames {
        let during =
            |c: Category| run.events.iter().any(|e| e.kind == EventKind::Object(c) && (e.start..=e.end).contains(&f.0));
        f.1 = during(Category::Person);
        f.2 = during(Category::Vehicle);
    }
    run.labels.sort_by_key(|l| std::cmp::Reverse(l.1));
    run
}

/// Precision and recall of `kind` events against ground-truth intervals, per event (an
/// event is right when it overlaps a visit; a visit is found when an event overlaps it) and
/// per analysed frame (frames within 1 s of a visit's ends are not counted: the ground
/// truth is ±1 s).
fn score(name: &str, run: &Run, kind: EventKind, truth: &[(f64, f64)]) -> (usize, f64) {
    let evs: Vec<&Event> = run.events.iter().filter(|e| e.kind == kind).collect();
    let overlaps = |e: &Event, (a, b): (f64, f64)| e.start <= b && e.end >= a;
    let right = evs.iter().filter(|e| truth.iter().any(|&v| overlaps(e, v))).count();
    let found = truth.iter().filter(|&&v| evs.iter().any(|e| overlaps(e, v))).count();
    let (mut tp, mut fp, mut fn_) = (0u32, 0u32, 0u32);
    for &(t, person, vehicle) in &run.frames {
        if truth.iter().any(|&(a, b)| (t - a).abs() < 1.0 || (t - b).abs() < 1.0) {
            continue;
        }
        let actual = truth.iter().any(|&(a, b)| (a..=b).contains(&t));
        let said = match kind {
            EventKind::Object(Category::Person) => person,
            EventKind::Object(Category::Vehicle) => vehicle,
            _ => unreachable!(),
        };
        match (said, actual) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    let ratio = |a: f64, b: f64| if b == 0.0 { f64::NAN } else { a / b };
    eprintln!(
        "ACCURACY {name} {}: events {} (visits {}): precision {:.2} recall {:.2}; frames: precision {:.2} recall {:.2} (tp {tp} fp {fp} fn {fn_})",
        kind.name(),
        evs.len(),
        truth.len(),
        ratio(right as f64, evs.len() as f64),
        ratio(found as f64, truth.len() as f64),
        ratio(f64::from(tp), f64::from(tp + fp)),
        ratio(f64::from(tp), f64::from(tp + fn_)),
    );
    let worst_start = evs
        .iter()
        .filter_map(|e| truth.iter().find(|&&v| overlaps(e, v)).map(|&(a, _)| (e.start - a).abs()))
        .fold(0.0, f64::max);
    (evs.len(), worst_start)
}

#[test]
fn person_clip_six_person_events_no_vehicle() {
    let Some(p) = shared("one-by-one-person-detection.mp4") else { return };
    let Some(inst) = installed() else { return };
    let run = analyse(&person_sub(&p), &inst);
    eprintln!("labels (count, best score): {:?}", run.labels);
    let truth = [(6.0, 19.0), (23.0, 45.0), (50.0, 69.0), (75.0, 87.0), (92.0, 119.0), (124.0, 136.0)];
    let (n, worst_start) = score("person clip", &run, EventKind::Object(Category::Person), &truth);
    assert_eq!(n, 6, "one person event per visit: {:?}", run.events);
    assert!(worst_start <= 1.5, "a person event started {worst_start:.1} s from its visit's arrival");
    let (vehicles, _) = score("person clip", &run, EventKind::Object(Category::Vehicle), &[]);
    assert_eq!(vehicles, 0);
    let person = run.events.iter().filter(|e| e.kind == EventKind::Object(Category::Person));
    for e in person {
        let s = e.snapshot.as_ref().expect("each person event has a snapshot");
        assert!((e.start..=e.end).contains(&s.t), "the snapshot is from the event");
        assert!(s.bbox.is_some());
    }
}

#[test]
fn car_clip_motion_events_no_person() {
    let Some(p) = shared("car-detection.mp4") else { return };
    let Some(inst) = installed() else { return };
    let run = analyse(&p, &inst);
    eprintln!("labels (count, best score): {:?}", run.labels);
    let truth = [(4.5, 8.5), (14.5, 22.5), (25.5, 28.0)];
    let (people, _) = score("car clip", &run, EventKind::Object(Category::Person), &[]);
    assert_eq!(people, 0, "no person in the car park: {:?}", run.events);
    score("car clip", &run, EventKind::Object(Category::Vehicle), &truth);
    // Each car's pass is covered by an event: a vehicle event where the model recognises it
    // seen from above, else an unclassified motion event. None outside the passes, so none
    // for the exposure change at 6 s alone.
    for (a, b) in truth {
        assert!(
            run.events.iter().any(|e| e.start <= b && e.end >= a),
            "no event while a car is in view {a}-{b}: {:?}",
            run.events
        );
    }
    for e in &run.events {
        assert!(truth.iter().any(|&(a, b)| e.start <= b + 1.0 && e.end >= a - 1.0), "event outside every pass: {e:?}");
    }
}
