//! Preparing a clip to post from what the agent recorded: the real person clip (Main
//! profile, with B-frames, which OpenH264 cannot decode) as the main stream and the same
//! scene without B-frames as the sub-stream. The clip comes from the sub-stream, with the
//! camera's privacy mask black, people blurred, and its hash matching its bytes. Skipped,
//! loudly, without ../shared/data or the models `make setup` installs.

use porchlight_agent as agent;
use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

use agent::layout::Layout;
use agent::post_clip::Posting;
use agent::syncer::Syncer;
use agent::writer::{Ctx, StreamState, Writer};
use base::clock::SimulatedClocks;
use bytes::Bytes;
use media::Frame;
use sha2::{Digest, Sha256};
use wire::PrepareJson as Ask;

fn shared(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(name);
    if p.exists() {
        return Some(p);
    }
    eprintln!("SKIPPING: {} is absent (real third-party footage is not in a fresh clone)", p.display());
    None
}

fn models() -> bool {
    let ok = detect::objects::Installed::find().is_ok() && detect::redact::models::RedactionFiles::find().is_ok();
    if !ok {
        assert!(std::env::var_os("PORCHLIGHT_REQUIRE_MODELS").is_none(), "the models are missing: run make setup");
        eprintln!("SKIPPING: the detection models are not installed (make setup)");
    }
    ok
}

/// Feeds the first `seconds` of an MP4 to a writer as a camera would deliver them.
fn record(w: &mut Writer, path: &Path, seconds: f64) {
    let (file, track) = media::source::file::read_track(path).unwrap();
    let ts = i64::from(track.timescale);
    let entry = Arc::new(track.sample_entry.clone());
    for (i, s) in track.samples.iter().enumerate() {
        if s.dts as f64 / ts as f64 > seconds {
            break;
        }
        let mut data = vec![0u8; s.size as usize];
        file.read_exact_at(&mut data, s.offset).unwrap();
        let pts = (s.dts + i64::from(s.cts_offset)) * 90_000 / ts;
        let f = Frame {
            pts_90k: pts + 90_000,
            is_key: s.is_key,
            data: Bytes::from(data),
            new_sample_entry: (i == 0).then(|| entry.clone()),
            audio: false,
        };
        w.push(f).unwrap();
    }
    w.end_run("end of test footage").unwrap();
}

#[test]
fn a_clip_with_b_frames_is_prepared_from_the_sub_stream_masked_and_blurred() {
    let Some(main) = shared("one-by-one-person-detection.mp4") else { return };
    if !models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub.mp4");
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-t", "16", "-i"])
        .arg(&main)
        .args(["-an", "-vf", "scale=640:360", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline"])
        .args(["-g", "20", "-bf", "0"])
        .arg(&sub)
        .status()
        .expect("ffmpeg (make setup installs it)");
    assert!(st.success());

    let layout = Layout::new(dir.path().join("data"));
    std::fs::create_dir_all(&layout.root).unwrap();
    let conn = index::open(&layout.db()).unwrap();
    let ids =
        [index::StreamKind::Main, index::StreamKind::Sub].map(|k| index::ensure_stream(&conn, "front", k).unwrap());
    for id in ids {
        std::fs::create_dir_all(layout.stream_dir(id)).unwrap();
    }
    let clocks = SimulatedClocks::new();
    let ctx = Arc::new(Ctx {
        layout: layout.clone(),
        clocks: Arc::new(clocks),
        db: Arc::new(Mutex::new(conn)),
        next_segment_id: AtomicI64::new(1),
        next_run_id: AtomicI64::new(1),
        segment_duration_90k: 4 * 90_000,
        direct_io: true,
    });
    let states: Vec<_> = ids.iter().map(|&id| Arc::new(Mutex::new(StreamState::new(id)))).collect();
    let syncer = Syncer::new(ctx.clone(), states.clone());
    record(&mut Writer::new(ctx.clone(), states[0].clone(), 0), &main, 16.0);
    record(&mut Writer::new(ctx.clone(), states[1].clone(), 0), &sub, 16.0);
    syncer.flush().unwrap();
    let start_ms = {
        let segs = index::all_segments(&ctx.db.lock().unwrap()).unwrap();
        segs.iter().filter(|s| s.stream_id == ids[1]).map(|s| s.start_90k).min().unwrap() / 90
    };

    // A mask over the top-left corner, as the configuration file would give it.
    let mask = detect::zone::Polygon::new("mask", vec![(0.0, 0.0), (0.25, 0.0), (0.25, 0.25), (0.0, 0.25)]).unwrap();
    let posting = Posting::new(
        layout.clone(),
        ctx.db.clone(),
        agent::remote::Remote::default(),
        HashMap::from([("front".to_owned(), vec![mask])]),
    );
    // 8 s from the recording's sixth second: a person walks in at about 6 s.
    let ask = Ask {
        start_ms: start_ms + 6_000,
        end_ms: start_ms + 14_000,
        people: true,
        faces: true,
        text: true,
        seal: false,
    };
    let (made, bytes) = posting.prepare("front", &ask).unwrap();
    eprintln!("{made:?}");
    assert_eq!(made.stream, "sub", "the main stream has B-frames");
    assert_eq!((made.width, made.height, made.masks, made.audio), (640, 360, 1, false));
    assert!(made.frames >= 75, "{made:?}");
    assert!(made.frames_with_people > made.frames / 2, "someone is in view for most of it: {made:?}");
    let hash: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(made.sha256, hash);
    assert_eq!(made.size_bytes, bytes.len() as u64);
    let leftovers: Vec<_> = std::fs::read_dir(&layout.root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with(".post-clip"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // The mask is black in the clip's first picture.
    let out = dir.path().join("posted.mp4");
    std::fs::write(&out, &bytes).unwrap();
    let (file, track) = media::source::file::read_track(&out).unwrap();
    let mut dec = detect::decode::H264Decoder::new(&track.sample_entry).unwrap();
    let s = track.samples[0];
    let mut buf = vec![0u8; s.size as usize];
    file.read_exact_at(&mut buf, s.offset).unwrap();
    let pic = dec.decode(&buf, s.is_key).unwrap().unwrap().to_owned();
    let inside: Vec<u8> =
        (10..70).flat_map(|y| (10..140).map(move |x| (x, y))).map(|(x, y)| pic.y[y * 640 + x]).collect();
    assert!(inside.iter().all(|&v| v <= 24), "the masked corner is black: max {:?}", inside.iter().max());

    // No footage, no camera: clear errors.
    let e = posting.prepare("front", &Ask { start_ms: start_ms - 100_000, end_ms: start_ms - 90_000, ..ask.clone() });
    assert_eq!(e.unwrap_err().kind(), base::ErrorKind::NotFound);
    let e = posting.prepare("garage", &ask).unwrap_err();
    assert!(e.to_string().contains("no camera \"garage\""), "{e}");
}
