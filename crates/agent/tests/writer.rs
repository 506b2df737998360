//! The writer, syncer, recovery, retention and export, driven directly with synthetic
//! frames and a simulated wall clock (no network, no real time).

use porchlight_agent as agent;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

use agent::layout::Layout;
use agent::syncer::Syncer;
use agent::writer::{Ctx, StreamState, Writer};
use agent::{check, export, recovery, retention};
use base::clock::{Clocks, SimulatedClocks};
use bytes::Bytes;
use media::{Frame, SampleEntry};

const HOUR_90K: i64 = 3600 * 90_000;
const FRAME_90K: i64 = 3000; // 30 fps

/// A minimal but valid avc1 sample entry of the given width.
fn sample_entry(width: u16) -> Arc<SampleEntry> {
    let avcc = [1, 0x4d, 0x00, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x4d, 0x00, 0x1f, 1, 0, 2, 0x68, 0xee];
    Arc::new(SampleEntry::h264(width, 360, &avcc).unwrap())
}

fn frame(pts_90k: i64, is_key: bool, size: usize, entry: Option<Arc<SampleEntry>>) -> Frame {
    let mut data = vec![0u8; size.max(6)];
    let nal_len = (data.len() - 4) as u32;
    data[0..4].copy_from_slice(&nal_len.to_be_bytes());
    data[4] = if is_key { 0x65 } else { 0x41 };
    Frame { pts_90k, is_key, data: Bytes::from(data), new_sample_entry: entry, audio: false }
}

struct Rig {
    _dir: tempfile::TempDir,
    layout: Layout,
    clocks: SimulatedClocks,
    ctx: Arc<Ctx>,
    syncer: Syncer,
    streams: Vec<(i64, Arc<Mutex<StreamState>>)>,
}

impl Rig {
    fn new(cameras: &[&str], segment_s: i64) -> Rig {
        Rig::with_io(cameras, segment_s, true)
    }

    fn with_io(cameras: &[&str], segment_s: i64, direct_io: bool) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let conn = index::open(&layout.db()).unwrap();
        let mut streams = Vec::new();
        for c in cameras {
            let id = index::ensure_stream(&conn, c, index::StreamKind::Main).unwrap();
            std::fs::create_dir_all(layout.stream_dir(id)).unwrap();
            streams.push((id, Arc::new(Mutex::new(StreamState::new(id)))));
        }
        let clocks = SimulatedClocks::new();
        let ctx = Arc::new(Ctx {
            layout: layout.clone(),
            clocks: Arc::new(clocks.clone()),
            db: Arc::new(Mutex::new(conn)),
            next_segment_id: AtomicI64::new(1),
            next_run_id: AtomicI64::new(1),
            segment_duration_90k: segment_s * 90_000,
            direct_io,
        });
        let syncer = Syncer::new(ctx.clone(), streams.iter().map(|s| s.1.clone()).collect());
        Rig { _dir: dir, layout, clocks, ctx, syncer, streams }
    }

    fn writer(&self, i: usize) -> Writer {
        Writer::new(self.ctx.clone(), self.streams[i].1.clone(), 0)
    }

    fn segments(&self) -> Vec<index::Segment> {
        index::all_segments(&self.ctx.db.lock().unwrap()).unwrap()
    }

    fn runs(&self, i: usize) -> Vec<(index::Run, i64, i64)> {
        index::runs_in_range(&self.ctx.db.lock().unwrap(), self.streams[i].0, i64::MIN / 2, i64::MAX / 2).unwrap()
    }

    fn check(&self) -> check::CheckReport {
        let r = check::check(&self.ctx.db.lock().unwrap(), &self.layout, true).unwrap();
        assert!(r.ok(), "check problems: {:?}", r.problems);
        r
    }
}

/// Pushes `n` frames at 30 fps starting at `pts0`, a key frame every `gop`.
fn push_frames(w: &mut Writer, pts0: i64, n: i64, gop: i64, first_entry: Option<Arc<SampleEntry>>) {
    let mut entry = first_entry;
    for i in 0..n {
        w.push(frame(pts0 + i * FRAME_90K, i % gop == 0, 100 + (i as usize % 7) * 10, entry.take())).unwrap();
    }
}

fn assert_contiguous(segs: &[index::Segment]) {
    for w in segs.windows(2) {
        assert_eq!(w[1].start_90k, w[0].end_90k(), "segments {} and {} are not contiguous", w[0].id, w[1].id);
    }
}

#[test]
fn wall_clock_jump_during_a_run_keeps_footage_contiguous() {
    let rig = Rig::new(&["cam"], 1);
    let mut w = rig.writer(0);
    push_frames(&mut w, 0, 45, 15, Some(sample_entry(640)));
    rig.syncer.flush().unwrap();
    rig.clocks.jump_wall(-HOUR_90K); // NTP steps the clock back an hour
    push_frames(&mut w, 45 * FRAME_90K, 45, 15, None);
    rig.clocks.jump_wall(2 * HOUR_90K); // and then forward
    push_frames(&mut w, 90 * FRAME_90K, 45, 15, None);
    w.end_run("test over").unwrap();
    rig.syncer.flush().unwrap();
    let segs = rig.segments();
    assert!(segs.len() >= 4, "{} segments", segs.len());
    assert_contiguous(&segs);
    let total: i64 = segs.iter().map(|s| s.duration_90k).sum();
    assert_eq!(total, 135 * FRAME_90K, "durations come from the camera's clock, not the wall clock");
    assert_eq!(rig.runs(0).len(), 1);
    rig.check();
}

#[test]
fn run_after_clock_stepped_back_starts_at_the_end_of_older_footage() {
    let rig = Rig::new(&["cam"], 60);
    let mut w = rig.writer(0);
    let e = sample_entry(640);
    push_frames(&mut w, 0, 60, 30, Some(e.clone()));
    w.end_run("camera dropped").unwrap();
    rig.clocks.jump_wall(-HOUR_90K);
    push_frames(&mut w, 7_000_000, 60, 30, Some(e.clone()));
    w.end_run("camera dropped").unwrap();
    // Stepping forward makes a real gap, which is kept.
    rig.clocks.jump_wall(2 * HOUR_90K);
    push_frames(&mut w, 9_000_000, 60, 30, Some(e));
    w.end_run("test over").unwrap();
    rig.syncer.flush().unwrap();
    let runs = rig.runs(0);
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[1].1, runs[0].2, "second run must start where the first ended, not an hour earlier");
    assert!(runs[2].1 - runs[1].2 > HOUR_90K / 2, "a forward step is a gap");
    assert_eq!(runs[0].0.end_reason.as_deref(), Some("camera dropped"));
    rig.check();
}

#[test]
fn timestamp_discontinuity_ends_the_run() {
    let rig = Rig::new(&["cam"], 60);
    let mut w = rig.writer(0);
    push_frames(&mut w, 0, 30, 10, Some(sample_entry(640)));
    // The camera's clock leaps 20 s (a reboot, a bad RTP timestamp).
    push_frames(&mut w, 20 * 90_000, 30, 10, None);
    // And backwards.
    push_frames(&mut w, 5 * 90_000, 30, 10, None);
    w.end_run("test over").unwrap();
    rig.syncer.flush().unwrap();
    let runs = rig.runs(0);
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert!(runs[0].0.end_reason.as_deref().unwrap().contains("discontinuity"));
    assert_eq!(w.stats.frames_recorded, 90);
    assert_contiguous(&rig.segments());
    rig.check();
}

#[test]
fn a_camera_without_key_frames_ends_its_run() {
    let rig = Rig::new(&["cam"], 60);
    let mut w = rig.writer(0);
    // One key frame, then six minutes of P-frames at 1 fps.
    w.push(frame(0, true, 100, Some(sample_entry(640)))).unwrap();
    for i in 1..=360 {
        w.push(frame(i * 90_000, false, 100, None)).unwrap();
    }
    w.end_run("test over").unwrap();
    rig.syncer.flush().unwrap();
    let runs = rig.runs(0);
    assert_eq!(runs.len(), 1);
    assert!(runs[0].0.end_reason.as_deref().unwrap().contains("no key frame"), "{runs:?}");
    assert!(runs[0].2 - runs[0].1 <= 5 * 60 * 90_000 + 90_000);
    assert!(w.stats.frames_skipped > 0);
    rig.check();
}

#[test]
fn frames_before_the_first_key_frame_are_skipped() {
    let rig = Rig::new(&["cam"], 60);
    let mut w = rig.writer(0);
    let e = sample_entry(640);
    w.push(frame(0, false, 100, Some(e))).unwrap();
    w.push(frame(3000, false, 100, None)).unwrap();
    push_frames(&mut w, 6000, 30, 10, None);
    w.end_run("test over").unwrap();
    rig.syncer.flush().unwrap();
    assert_eq!(w.stats.frames_skipped, 2);
    assert_eq!(w.stats.frames_recorded, 30);
    rig.check();
}

#[test]
fn crash_recovery_cuts_back_to_the_index_and_removes_orphans() {
    let rig = Rig::new(&["cam"], 1);
    let mut w = rig.writer(0);
    push_frames(&mut w, 0, 40, 10, Some(sample_entry(640)));
    rig.syncer.flush().unwrap();
    // Frames pushed after the last flush (including a rotation that created a segment file
    // with no row yet): a crash now must lose exactly these. They are still in the
    // writer's buffer, so also put bytes on disk past the index, as a crash between the
    // syncer's write and its commit leaves them.
    push_frames(&mut w, 40 * FRAME_90K, 30, 10, None);
    let open = rig.segments().into_iter().find(|s| s.open).expect("an open segment");
    {
        use std::io::Write;
        let mut f = std::fs::File::options().append(true).open(rig.layout.segment(open.stream_id, open.id)).unwrap();
        f.write_all(&[0, 0, 0, 2, 0x41, 0x9a, 0, 0, 0]).unwrap();
    }
    let indexed_before: i64 = rig.segments().iter().map(|s| s.frames).sum();
    let r = rig.check();
    assert!(r.unindexed_bytes > 0 && !r.notes.is_empty(), "expected an unindexed tail");
    std::mem::forget(w); // the process "dies": no end_run, no final flush
    let report = recovery::recover(&mut rig.ctx.db.lock().unwrap(), &rig.layout).unwrap();
    assert!(report.bytes_discarded > 0 && report.orphans_removed >= 1, "{report:?}");
    assert_eq!(report.runs_closed, 1);
    let r = rig.check();
    assert_eq!(r.unindexed_bytes, 0);
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    assert_eq!(r.frames as i64, indexed_before);
    // Idempotent.
    let again = recovery::recover(&mut rig.ctx.db.lock().unwrap(), &rig.layout).unwrap();
    assert_eq!(again, recovery::RecoveryReport::default());
}

#[test]
fn retention_deletes_oldest_first_by_bytes_and_age() {
    let rig = Rig::new(&["a", "b"], 1);
    let e = sample_entry(640);
    let mut wa = rig.writer(0);
    let mut wb = rig.writer(1);
    // Interleave so that the two cameras' segments alternate in time.
    for k in 0..6 {
        push_frames(&mut wa, k * 30 * FRAME_90K, 30, 30, if k == 0 { Some(e.clone()) } else { None });
        push_frames(&mut wb, k * 30 * FRAME_90K, 30, 30, if k == 0 { Some(e.clone()) } else { None });
    }
    wa.end_run("x").unwrap();
    wb.end_run("x").unwrap();
    rig.syncer.flush().unwrap();
    let before = rig.segments();
    let a_bytes: i64 = before.iter().filter(|s| s.stream_id == rig.streams[0].0).map(|s| s.size_bytes).sum();
    let seg_bytes = before[0].size_bytes;

    // Camera "a" over its byte limit by a little more than two segments.
    let mut policy = retention::Policy {
        cameras: [(
            "a".to_string(),
            retention::Limits { max_age_90k: None, max_bytes: Some(a_bytes - 2 * seg_bytes - 1) },
        )]
        .into(),
        overall: retention::Limits::default(),
        segments_per_pass_max: 2,
    };
    let now = rig.clocks.realtime_90k();
    let rep = retention::pass(&mut rig.ctx.db.lock().unwrap(), &rig.layout, &policy, now).unwrap();
    assert_eq!((rep.segments_deleted, rep.more), (2, true), "bounded pass");
    let rep = retention::pass(&mut rig.ctx.db.lock().unwrap(), &rig.layout, &policy, now).unwrap();
    assert_eq!((rep.segments_deleted, rep.more), (1, false));
    let after = rig.segments();
    let gone: Vec<i64> = before.iter().filter(|s| !after.iter().any(|a| a.id == s.id)).map(|s| s.id).collect();
    let a_oldest: Vec<i64> = before.iter().filter(|s| s.stream_id == rig.streams[0].0).take(3).map(|s| s.id).collect();
    assert_eq!(gone, a_oldest, "camera a's three oldest segments, and nothing of b");
    for id in &gone {
        assert!(!rig.layout.segment(rig.streams[0].0, *id).exists(), "file of segment {id} remains");
    }

    // By age, over all cameras: segments that ended more than 3 s before "now" go.
    let newest_end = after.iter().map(|s| s.end_90k()).max().unwrap();
    policy.cameras.clear();
    policy.overall = retention::Limits { max_age_90k: Some(3 * 90_000), max_bytes: None };
    policy.segments_per_pass_max = 100;
    let now = newest_end + 90_000;
    let rep = retention::pass(&mut rig.ctx.db.lock().unwrap(), &rig.layout, &policy, now).unwrap();
    let left = rig.segments();
    assert!(rep.segments_deleted > 0 && !left.is_empty(), "{rep:?} {left:?}");
    assert!(left.iter().all(|s| s.end_90k() >= now - 3 * 90_000), "{left:?}");
    assert_eq!(left.len() + rep.segments_deleted, after.len());
    rig.check();
}

#[test]
fn export_round_trips_through_our_demuxer_with_b_frames_and_codec_change() {
    let rig = Rig::new(&["cam"], 1);
    let mut w = rig.writer(0);
    let e1 = sample_entry(640);
    // Decode order I0 P3 B1 B2 P6 B4 B5 ... (presentation order differs).
    let pattern = [0i64, 3, 1, 2];
    let mut n = 0;
    for g in 0..10i64 {
        for (k, p) in pattern.iter().enumerate() {
            let pts = (g * 4 + p) * FRAME_90K + 90_000;
            let is_key = k == 0 && g % 5 == 0;
            w.push(frame(pts, is_key, 200 + k, if n == 0 { Some(e1.clone()) } else { None })).unwrap();
            n += 1;
        }
    }
    // Parameters change (new resolution) at a key frame.
    let e2 = sample_entry(320);
    push_frames(&mut w, 41 * FRAME_90K + 90_000, 30, 10, Some(e2));
    w.end_run("x").unwrap();
    rig.syncer.flush().unwrap();
    let segs = rig.segments();
    let conn = rig.ctx.db.lock().unwrap();
    let start = segs[0].start_90k;
    let end = segs.last().unwrap().end_90k();
    let ex = export::export(&conn, &rig.layout, rig.streams[0].0, start, end, false).unwrap();
    assert_eq!(ex.frames, 70);
    assert_eq!(ex.entries.len(), 2);
    let mut out = Vec::new();
    ex.plan.write_to(&mut out).unwrap();
    assert_eq!(out.len() as u64, ex.plan.len());
    // The file source's demuxer reads only files with one sample description, and says so.
    let err = media::mp4::demux::parse_file(&out).unwrap_err();
    assert!(err.msg().contains("sample description 2"), "{err}");

    // A range inside the first part starts at the key frame at or before it.
    let mid = start + 22 * FRAME_90K;
    let ex = export::export(&conn, &rig.layout, rig.streams[0].0, mid, mid + 4 * FRAME_90K, false).unwrap();
    let mut out = Vec::new();
    ex.plan.write_to(&mut out).unwrap();
    let track = media::mp4::demux::parse_file(&out).unwrap();
    assert!(track.samples[0].is_key);
    assert_eq!(ex.start_90k, start + 20 * FRAME_90K, "starts at the key frame at frame 20");
    // Presentation offsets survive: B-frames come out with their original order.
    let pts: Vec<i64> = track.samples.iter().map(|s| s.dts + i64::from(s.cts_offset)).collect();
    let rel: Vec<i64> = pts.iter().map(|p| (p - pts[0]) / FRAME_90K).collect();
    assert_eq!(&rel[..4], &[0, 3, 1, 2]);
    let bad = export::export(&conn, &rig.layout, rig.streams[0].0, end + 90_000, end + 180_000, false);
    assert_eq!(bad.err().unwrap().kind(), base::ErrorKind::NotFound);
}

/// A frame whose bytes tell where they belong: one NAL unit whose body is `seed` counting up.
fn marked_frame(pts_90k: i64, is_key: bool, size: usize, seed: u8, entry: Option<Arc<SampleEntry>>) -> Frame {
    let mut f = frame(pts_90k, is_key, size, entry);
    let mut data = f.data.to_vec();
    for (j, b) in data[5..].iter_mut().enumerate() {
        *b = seed.wrapping_add(j as u8);
    }
    f.data = Bytes::from(data);
    f
}

/// Frames of sizes that never line up with the write alignment, flushed every few frames,
/// so that every flush leaves a partly filled block that the next one writes again: each
/// segment file must hold exactly its frames, back to back; an open segment's file is padded
/// to a whole block, a closed one cut to its length. Both with direct I/O and through the
/// page cache.
#[test]
fn segment_files_hold_exactly_their_frames_across_partial_block_rewrites() {
    for direct_io in [true, false] {
        let rig = Rig::with_io(&["cam"], 2, direct_io);
        let mut w = rig.writer(0);
        let mut expected: Vec<Vec<u8>> = Vec::new(); // per segment, in the order written
        let mut frames = Vec::new();
        for i in 0..200i64 {
            let size = 700 + (i as usize * 977) % 5000;
            let f = marked_frame(i * FRAME_90K, i % 15 == 0, size, i as u8, (i == 0).then(|| sample_entry(640)));
            frames.push(f.data.clone());
            w.push(f).unwrap();
            if i % 7 == 3 {
                rig.syncer.flush().unwrap();
                let segs = rig.segments();
                let open = segs.iter().find(|s| s.open).expect("an open segment");
                let len = std::fs::metadata(rig.layout.segment(open.stream_id, open.id)).unwrap().len();
                assert_eq!(len, (open.size_bytes as u64).next_multiple_of(agent::writer::WRITE_ALIGN as u64));
            }
        }
        w.end_run("done").unwrap();
        rig.syncer.flush().unwrap();
        let segs = rig.segments();
        assert!(segs.len() >= 3 && segs.iter().all(|s| !s.open), "{segs:?}");
        let mut next = 0usize;
        for s in &segs {
            let file = std::fs::read(rig.layout.segment(s.stream_id, s.id)).unwrap();
            assert_eq!(file.len() as i64, s.size_bytes, "closed segment {} is cut to its length", s.id);
            let mut want = Vec::new();
            for _ in 0..s.frames {
                want.extend_from_slice(&frames[next]);
                next += 1;
            }
            expected.push(want);
            assert!(file == *expected.last().unwrap(), "segment {} (direct_io {direct_io}) differs", s.id);
        }
        // The last frame is held for its duration until the run ends; every frame is in.
        assert_eq!(next, frames.len());
        rig.check();
    }
}

/// A disk that stops taking writes must not make the agent's memory grow without bound:
/// past the backlog limit the writer refuses frames (the streamer then ends the run) and
/// accepts them again once the syncer has caught up.
#[test]
fn a_backlog_over_the_limit_refuses_frames_until_the_syncer_catches_up() {
    let rig = Rig::new(&["cam"], 3600);
    let mut w = rig.writer(0);
    let mut refused = None;
    for i in 0..100i64 {
        match w.push(frame(i * FRAME_90K, i == 0, 1 << 20, (i == 0).then(|| sample_entry(640)))) {
            Ok(()) => {}
            Err(e) => {
                refused = Some((i, e));
                break;
            }
        }
    }
    let (i, e) = refused.expect("the writer refused a frame");
    assert_eq!(e.kind(), base::ErrorKind::ResourceExhausted, "{e}");
    assert!(e.msg().contains("disk is not keeping up"), "{e}");
    assert!((32..40).contains(&i), "refused after {i} MiB");
    rig.syncer.flush().unwrap();
    w.push(frame(i * FRAME_90K, false, 1 << 20, None)).unwrap();
    w.end_run("done").unwrap();
    rig.syncer.flush().unwrap();
    rig.check();
}

/// 20 ms of G.711 at source time `pts_90k`.
fn sound(pts_90k: i64, entry: Option<Arc<SampleEntry>>) -> Frame {
    Frame { pts_90k, is_key: true, data: Bytes::from(vec![0xffu8; 160]), new_sample_entry: entry, audio: true }
}

/// A camera's sound follows its picture's clock: samples get the wall time the picture's
/// run gives their source time, however late they arrive and wherever the wall clock has
/// gone; sound outside a picture run is not kept (but its parameters are); a new picture
/// run starts a new sound run on the new offset; `check` and an export with the sound agree.
#[test]
fn sound_follows_the_pictures_clock_and_runs() {
    let rig = Rig::new(&["cam"], 2);
    let sound_id = index::ensure_stream(&rig.ctx.db.lock().unwrap(), "cam", index::StreamKind::Audio).unwrap();
    std::fs::create_dir_all(rig.layout.stream_dir(sound_id)).unwrap();
    let sound_state = Arc::new(Mutex::new(StreamState::new(sound_id)));
    let syncer = Syncer::new(rig.ctx.clone(), vec![rig.streams[0].1.clone(), sound_state.clone()]);
    let mut video = rig.writer(0);
    let mut audio = Writer::new(rig.ctx.clone(), sound_state.clone(), 0);
    let entry = Arc::new(SampleEntry::pcm(media::Codec::Pcmu, 8000, 1).unwrap());
    let base = 5_000_000i64; // the session's source clock, 90 kHz

    // Before the picture's first frame is written: nothing kept, the parameters are.
    audio.push_following(sound(base, Some(entry.clone())), video.anchor()).unwrap();
    assert!(!audio.in_run());
    push_frames(&mut video, base, 60, 30, Some(sample_entry(640)));
    let (run1, offset1) = video.anchor().expect("the picture's clock is fixed");
    // The sound arrives late (the wall clock has moved on by 3 s): its times do not move.
    rig.clocks.jump_wall(3 * 90_000);
    for k in 0..100 {
        audio.push_following(sound(base + k * 1800, None), video.anchor()).unwrap();
    }
    // The picture's run ends; sound after it is not kept, and ends the sound's run.
    video.end_run("camera went away").unwrap();
    audio.push_following(sound(base + 100 * 1800, None), video.anchor()).unwrap();
    assert!(!audio.in_run());
    // A new picture run (new source clock, 10 s later on the wall): a new sound run on it.
    rig.clocks.jump_wall(10 * 90_000);
    let base2 = 77_000_000i64;
    push_frames(&mut video, base2, 60, 30, None);
    let (run2, offset2) = video.anchor().unwrap();
    assert_ne!(run1, run2);
    for k in 0..50 {
        audio.push_following(sound(base2 + 900 + k * 1800, None), video.anchor()).unwrap();
    }
    audio.end_run("test over").unwrap();
    video.end_run("test over").unwrap();
    syncer.flush().unwrap();

    let conn = rig.ctx.db.lock().unwrap();
    let runs = index::runs_in_range(&conn, sound_id, i64::MIN / 2, i64::MAX / 2).unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].0.start_90k, base + offset1, "first sample at its source time on the picture's clock");
    assert_eq!(runs[1].0.start_90k, base2 + 900 + offset2);
    assert_eq!(runs[0].0.end_reason.as_deref(), Some("the picture's run ended"));
    let segs: Vec<index::Segment> =
        index::all_segments(&conn).unwrap().into_iter().filter(|s| s.stream_id == sound_id).collect();
    assert_eq!(segs.iter().map(|s| s.frames).sum::<i64>(), 150);
    let e = index::get_sample_entry(&conn, segs[0].sample_entry_id).unwrap();
    assert_eq!((e.codec, e.sample_rate, e.channels), (media::Codec::Pcmu, 8000, 1));
    let r = check::check(&conn, &rig.layout, true).unwrap();
    assert!(r.ok(), "{:?}", r.problems);

    // Exported with its sound: every sample of the first run (the picture covers it all).
    let video_runs = index::runs_in_range(&conn, rig.streams[0].0, i64::MIN / 2, i64::MAX / 2).unwrap();
    let (v1, _, _) = &video_runs[0];
    assert_eq!(offset1, v1.start_90k - base, "wall = source time + the picture run's offset");
    let ex = export::export_with_sound(
        &conn,
        &rig.layout,
        rig.streams[0].0,
        v1.start_90k,
        v1.end_90k.unwrap(),
        false,
        export::Sound::AsRecorded(sound_id),
    )
    .unwrap();
    assert_eq!((ex.audio_samples, ex.audio_codec.as_deref()), (100, Some("ulaw")));
    // The day view takes only what a browser plays as it is: not G.711.
    let day = export::export_from(
        &conn,
        &rig.layout,
        rig.streams[0].0,
        v1.start_90k,
        v1.end_90k.unwrap(),
        true,
        i64::MIN,
        export::Sound::ForBrowserAsIs(sound_id),
    )
    .unwrap();
    assert_eq!((day.audio_samples, day.audio_codec), (0, None));
    let silent = export::export(&conn, &rig.layout, rig.streams[0].0, v1.start_90k, v1.end_90k.unwrap(), true).unwrap();
    assert_eq!((silent.audio_samples, silent.audio_codec), (0, None));
}
