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

/// A data folder with `camera`'s streams of `kinds`, a writing context over it (4 s
/// segments, a simulated clock) and a state per stream, in `kinds`' order.
fn recording(
    dir: &Path,
    camera: &str,
    kinds: [index::StreamKind; 2],
) -> (Layout, Arc<Ctx>, Vec<Arc<Mutex<StreamState>>>) {
    let layout = Layout::new(dir.join("data"));
    std::fs::create_dir_all(&layout.root).unwrap();
    let conn = index::open(&layout.db()).unwrap();
    let ids = kinds.map(|k| index::ensure_stream(&conn, camera, k).unwrap());
    for id in ids {
        std::fs::create_dir_all(layout.stream_dir(id)).unwrap();
    }
    let ctx = Arc::new(Ctx {
        layout: layout.clone(),
        clocks: Arc::new(SimulatedClocks::new()),
        db: Arc::new(Mutex::new(conn)),
        next_segment_id: AtomicI64::new(1),
        next_run_id: AtomicI64::new(1),
        segment_duration_90k: 4 * 90_000,
        direct_io: true,
    });
    let states = ids.iter().map(|&id| Arc::new(Mutex::new(StreamState::new(id)))).collect();
    (layout, ctx, states)
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

    let (layout, ctx, states) = recording(dir.path(), "front", [index::StreamKind::Main, index::StreamKind::Sub]);
    let ids: Vec<i64> = states.iter().map(|s| s.lock().unwrap().stream_id).collect();
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
        keep_audio: false,
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

/// The first sound/picture pair of a click-and-flash clip (white for 100 ms and a 10 ms
/// click of 1 kHz at every whole second), as a camera with G.711 sound delivers it: picture
/// frames from an ffmpeg-made H.264 file, sound made here as 20 ms µ-law packets on the same
/// clock, the sound following the picture's run as the streamer makes it.
fn record_click_and_flash(video: &mut Writer, sound: &mut Writer, path: &Path) {
    let (file, track) = media::source::file::read_track(path).unwrap();
    let ts = i64::from(track.timescale);
    let entry = Arc::new(track.sample_entry.clone());
    let law = media::g711::Law::Mu;
    let sound_entry = Arc::new(media::SampleEntry::pcm(media::Codec::Pcmu, 8000, 1).unwrap());
    let mut next_packet = 0i64; // 8 kHz samples
    for (i, s) in track.samples.iter().enumerate() {
        let mut data = vec![0u8; s.size as usize];
        file.read_exact_at(&mut data, s.offset).unwrap();
        let pts = (s.dts + i64::from(s.cts_offset)) * 90_000 / ts;
        let f = Frame {
            pts_90k: pts,
            is_key: s.is_key,
            data: Bytes::from(data),
            new_sample_entry: (i == 0).then(|| entry.clone()),
            audio: false,
        };
        video.push(f).unwrap();
        // Sound up to this frame's time.
        while next_packet * 90_000 / 8000 <= pts {
            let packet: Vec<u8> = (next_packet..next_packet + 160)
                .map(|n| {
                    let t = n as f64 / 8000.0;
                    let v = if t.fract() < 0.01 { 0.8 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin() } else { 0.0 };
                    law.encode((v * 32767.0) as i16)
                })
                .collect();
            let a = Frame {
                pts_90k: next_packet * 90_000 / 8000,
                is_key: true,
                data: Bytes::from(packet),
                new_sample_entry: (next_packet == 0).then(|| sound_entry.clone()),
                audio: true,
            };
            sound.push_following(a, video.anchor()).unwrap();
            next_packet += 160;
        }
    }
    sound.end_run("end of test footage").unwrap();
    video.end_run("end of test footage").unwrap();
}

fn codecs(path: &Path) -> Vec<String> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

/// A posted clip leaves the camera's recorded sound out unless its owner keeps it, and says
/// which: left out, the file has only its picture; kept, its sound is Opus (what browsers
/// play), beside the redacted picture and in time with it.
#[test]
fn a_posted_clip_is_silent_unless_the_sound_is_kept() {
    if !models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("flash.mp4");
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=black:s=320x240:r=30:d=8"])
        .args(["-vf", "drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='lt(mod(t\\,1)\\,0.1)'"])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-bf", "0", "-pix_fmt", "yuv420p"])
        .arg(&clip)
        .status()
        .expect("ffmpeg (make setup installs it)");
    assert!(st.success());
    let (layout, ctx, states) = recording(dir.path(), "door", [index::StreamKind::Main, index::StreamKind::Audio]);
    let syncer = Syncer::new(ctx.clone(), states.clone());
    record_click_and_flash(
        &mut Writer::new(ctx.clone(), states[0].clone(), 0),
        &mut Writer::new(ctx.clone(), states[1].clone(), 0),
        &clip,
    );
    syncer.flush().unwrap();
    let start_ms = index::all_segments(&ctx.db.lock().unwrap()).unwrap()[0].start_90k / 90;
    let posting = Posting::new(layout.clone(), ctx.db.clone(), agent::remote::Remote::default(), HashMap::new());
    let ask = Ask {
        start_ms,
        end_ms: start_ms + 6_000,
        people: true,
        faces: true,
        text: true,
        seal: false,
        keep_audio: false,
    };
    let (made, bytes) = posting.prepare("door", &ask).unwrap();
    assert_eq!((made.audio, made.audio_recorded), (false, true), "left out, and said so");
    let silent = dir.path().join("silent.mp4");
    std::fs::write(&silent, &bytes).unwrap();
    assert_eq!(codecs(&silent), ["h264"]);

    let (made, bytes) = posting.prepare("door", &Ask { keep_audio: true, ..ask }).unwrap();
    assert_eq!((made.audio, made.audio_recorded), (true, true));
    let kept = dir.path().join("kept.mp4");
    std::fs::write(&kept, &bytes).unwrap();
    assert_eq!(codecs(&kept), ["h264", "opus"]);
    let pcm = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&kept)
        .args(["-map", "0:a", "-af", "aresample=async=1:first_pts=0", "-ac", "1", "-ar", "8000", "-f", "s16le", "-"])
        .output()
        .unwrap();
    let loud: Vec<usize> = pcm
        .stdout
        .chunks_exact(2)
        .enumerate()
        .filter(|(_, c)| i16::from_le_bytes([c[0], c[1]]).unsigned_abs() > 8000)
        .map(|(i, _)| i)
        .collect();
    // Clicks at each whole second of the clip (its first frame is a flash), within 40 ms.
    let onsets: Vec<usize> =
        loud.iter().enumerate().filter(|(k, i)| *k == 0 || **i > loud[k - 1] + 800).map(|(_, i)| *i).collect();
    assert!(onsets.len() >= 5, "clicks heard at {onsets:?}");
    for o in &onsets {
        let off = (*o as f64 / 8000.0 - (*o as f64 / 8000.0).round()).abs();
        assert!(off <= 0.040, "a click {:.1} ms from its second: {onsets:?}", off * 1000.0);
    }
}
