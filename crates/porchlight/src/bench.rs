//! `porchlight bench`: whole-system measurements (see BENCHMARKS.md for results and the
//! commands that reproduce them).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent::layout::Layout;
use agent::syncer::Syncer;
use agent::writer::{Ctx, StreamState, Writer};
use agent::{CameraSpec, StreamSpec};
use base::clock::{Clocks, RealClocks};
use base::{Error, ErrorKind, ResultExt, bail};
use bytes::Bytes;
use index::StreamKind;
use media::Frame;
use media::index::{self as frame_index, FrameInfo};
use media::source::rtsp::RtspOpener;

#[derive(clap::Subcommand)]
pub enum BenchCmd {
    /// CPU per stream while recording N concurrent RTSP streams (run the server separately,
    /// see scripts/bench.sh).
    Ingest(IngestArgs),
    /// Export speed for a long MP4 from page cache (synthesizes the footage first).
    Export {
        /// Scratch data folder; footage is synthesized there once and reused.
        #[arg(long)]
        data_dir: PathBuf,
        /// Hours of footage to export.
        #[arg(long, default_value_t = 1)]
        hours: u64,
        /// Bit rate of the synthesized footage, in bits per second.
        #[arg(long, default_value_t = 4_000_000)]
        bitrate: u64,
        /// Timed repetitions (after one warm-up export).
        #[arg(long, default_value_t = 5)]
        runs: u32,
    },
    /// Clip encryption and decryption throughput on one core (64 KiB chunks), and content-key
    /// wrapping; scripts/bench.sh runs `openssl speed` around it for comparison.
    Crypto {
        /// Seconds per throughput measurement.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
    },
    /// Decode plus motion detection throughput on one core, and motion alone per frame,
    /// over every frame of an H.264 MP4 (without B-frames).
    Detect {
        /// The clip (default: the generated 640x360 test clip).
        #[arg(long, default_value = "testdata/generated/back.mp4")]
        file: PathBuf,
        /// Passes over the clip.
        #[arg(long, default_value_t = 5)]
        runs: u32,
    },
    /// Object detector latency per frame (pre- and post-processing included) with the
    /// installed model, and the CPU one camera's whole analysis takes with motion gating;
    /// writes the model input of one frame for the ONNX Runtime Python comparison.
    Objects {
        /// The clip (H.264 without B-frames).
        #[arg(long)]
        file: PathBuf,
        /// Timed detector runs.
        #[arg(long, default_value_t = 50)]
        runs: u32,
        /// Threads for the detector (ONNX Runtime intra-op threads).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Write the model input of the timed frame here (float32, native byte order).
        #[arg(long)]
        dump_input: Option<PathBuf>,
        /// Also measure one camera's whole analysis of the clip (CPU per camera).
        #[arg(long)]
        analysis: bool,
    },
    /// Preparing a clip for posting (decode, detect people, faces and text, blur, encode)
    /// on one core, against the clip's duration.
    Redact {
        /// The clip (H.264 without B-frames; scripts/bench.sh makes 30 s of the person clip).
        #[arg(long)]
        file: PathBuf,
        /// Timed runs (after one warm-up).
        #[arg(long, default_value_t = 3)]
        runs: u32,
    },
    /// Ciphertext upload throughput into the server's local store over loopback HTTP.
    Upload(crate::bench_server::UploadArgs),
    /// Doorbell press to alert in the owner's app, through a real server and agent on
    /// loopback (p50 and p95 over the presses).
    Alerts(crate::bench_alerts::AlertsArgs),
    /// The day view: a click on a moment of the continuous recording to its first fragment,
    /// through a real server and agent on loopback.
    History(crate::bench_history::HistoryArgs),
    /// Talking through a camera: a phrase posted to its first sound on the camera's speaker
    /// (an ONVIF backchannel), through a real server and agent on loopback.
    Talk(crate::bench_talk::TalkArgs),
    /// Timeline query latency (one camera, one day) under a steady request rate, with wrk.
    Timeline(crate::bench_server::TimelineArgs),
    /// Neighbourhood feed latency with many households and posts stored.
    Feed(crate::bench_feed::FeedArgs),
    /// Matching a footage request's area against a million households' homes, and the
    /// transparency log's appends and proofs at ten million entries, with its storage.
    Agencies(crate::bench_agencies::AgenciesArgs),
    /// Start-up recovery time after a crash with many cameras' footage indexed.
    Recovery {
        /// Scratch data folder (emptied first).
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 8)]
        cameras: usize,
        /// Hours of footage per camera.
        #[arg(long, default_value_t = 24)]
        hours: u64,
        /// Timed repetitions (each re-creates the crash state).
        #[arg(long, default_value_t = 5)]
        runs: u32,
    },
}

#[derive(clap::Args)]
pub struct IngestArgs {
    /// RTSP URL every simulated camera connects to.
    #[arg(long)]
    pub url: url::Url,
    /// Number of concurrent streams.
    #[arg(long, default_value_t = 32)]
    pub streams: usize,
    /// Seconds to measure after the warm-up.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Seconds to let connections settle before measuring.
    #[arg(long, default_value_t = 10)]
    pub warmup: u64,
    /// Scratch data folder (emptied first).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The agent's flush interval (fsync + index commit), as in the config file.
    #[arg(long, default_value_t = 500)]
    pub flush_interval_ms: u64,
    /// The ingest thread's coalescing nap, as in the config file (0 disables).
    #[arg(long, default_value_t = 40)]
    pub coalesce_ms: u64,
    /// Write segments through the page cache instead of with direct I/O (for comparison).
    #[arg(long)]
    pub buffered_io: bool,
    /// Record each camera's sound too (`audio.record`); the URL must serve a sound track.
    #[arg(long)]
    pub audio: bool,
}

pub fn run(cmd: BenchCmd) -> Result<(), Error> {
    match cmd {
        BenchCmd::Ingest(args) => ingest(args),
        BenchCmd::Export { data_dir, hours, bitrate, runs } => export(&data_dir, hours, bitrate, runs),
        BenchCmd::Recovery { data_dir, cameras, hours, runs } => recovery(&data_dir, cameras, hours, runs),
        BenchCmd::Crypto { seconds } => crypto_bench(seconds),
        BenchCmd::Upload(a) => crate::bench_server::upload(a),
        BenchCmd::Alerts(a) => crate::bench_alerts::alerts(a),
        BenchCmd::History(a) => crate::bench_history::history(a),
        BenchCmd::Talk(a) => crate::bench_talk::talk(a),
        BenchCmd::Timeline(a) => crate::bench_server::timeline(a),
        BenchCmd::Feed(a) => crate::bench_feed::feed(a),
        BenchCmd::Agencies(a) => crate::bench_agencies::agencies(a),
        BenchCmd::Detect { file, runs } => detect_bench(&file, runs),
        BenchCmd::Redact { file, runs } => crate::redact::bench(&file, runs),
        BenchCmd::Objects { file, runs, threads, dump_input, analysis } => {
            objects_bench(&file, runs, threads, dump_input.as_deref(), analysis)
        }
    }
}

/// Runs `f` repeatedly for about `seconds` and returns calls per second.
fn rate(seconds: u64, mut f: impl FnMut()) -> f64 {
    let (mut n, t) = (0u64, Instant::now());
    while t.elapsed() < Duration::from_secs(seconds) {
        for _ in 0..16 {
            f();
        }
        n += 16;
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn crypto_bench(seconds: u64) -> Result<(), Error> {
    use crypto::keys::Keyring;
    use crypto::stream::{CHUNK_BYTES, ChunkSealer, ContentKey, Opener, Sealer};
    if seconds == 0 || seconds > 600 {
        bail!(InvalidArgument, "--seconds: expected 1..=600, got {seconds}");
    }
    let key = ContentKey::generate();
    let chunk = vec![0x5au8; CHUNK_BYTES];
    let mut sealer = Sealer::new(&key, [1; 7]);
    let mut out = Vec::with_capacity(CHUNK_BYTES + 16);
    let seal = rate(seconds, || {
        out.clear();
        sealer.seal_chunk(&chunk, false, &mut out).expect("inner chunk");
    }) * CHUNK_BYTES as f64;
    let mut cipher_only = ChunkSealer::new(&key, [3; 7]);
    let aead = rate(seconds, || {
        out.clear();
        cipher_only.seal_chunk(&chunk, false, &mut out).expect("inner chunk");
    }) * CHUNK_BYTES as f64;
    // Chunk 0 of a two-chunk body, to open over and over.
    let mut first = Vec::new();
    Sealer::new(&key, [2; 7]).seal_chunk(&chunk, false, &mut first).map_err(agent::sealing::from_crypto)?;
    let opener = Opener::new(&key, [2; 7], 2 * CHUNK_BYTES as u64).map_err(agent::sealing::from_crypto)?;
    let mut plain = Vec::with_capacity(CHUNK_BYTES);
    let open = rate(seconds, || {
        plain.clear();
        opener.open_chunk_into(0, &first, &mut plain).expect("authentic chunk");
    }) * CHUNK_BYTES as f64;
    println!("crypto: seal 64 KiB chunks (AES-256-GCM + SHA-256 of the ciphertext): {:.0}k bytes/s", seal / 1000.0);
    println!("crypto: seal 64 KiB chunks, cipher only (AES-256-GCM): {:.0}k bytes/s", aead / 1000.0);
    println!("crypto: open 64 KiB chunks (AES-256-GCM): {:.0}k bytes/s", open / 1000.0);
    let recipients: Vec<_> = (0..10)
        .map(|i| Keyring::generate(&format!("r{i}"), 0).map(|k| k.encryption.public()))
        .collect::<Result<_, _>>()
        .map_err(agent::sealing::from_crypto)?;
    let aad = [7u8; 48];
    for n in [1usize, 10] {
        let per = 1e6
            / rate(seconds, || {
                for r in &recipients[..n] {
                    std::hint::black_box(r.wrap(&key, &aad));
                }
            });
        println!("crypto: wrap a content key for {n} recipient(s): {per:.0} µs");
    }
    let me = Keyring::generate("me", 0).map_err(agent::sealing::from_crypto)?;
    let w = me.encryption.public().wrap(&key, &aad);
    let per = 1e6
        / rate(seconds, || {
            std::hint::black_box(me.encryption.unwrap(&w, &aad).expect("own wrap"));
        });
    println!("crypto: unwrap one content key: {per:.0} µs");
    Ok(())
}

fn detect_bench(file: &Path, runs: u32) -> Result<(), Error> {
    use detect::decode::H264Decoder;
    use detect::motion::{Luma, MotionConfig, MotionDetector};
    use std::os::unix::fs::FileExt;
    if runs == 0 || runs > 1000 {
        bail!(InvalidArgument, "--runs: expected 1..=1000, got {runs}");
    }
    let (f, track) = media::source::file::read_track(file)?;
    let mut frames = Vec::with_capacity(track.samples.len());
    for s in &track.samples {
        let mut b = vec![0u8; s.size as usize];
        f.read_exact_at(&mut b, s.offset).err_kind(ErrorKind::Internal, || format!("reading {}", file.display()))?;
        frames.push((b, s.is_key));
    }
    // Decode + motion on every frame, one thread.
    let (mut pictures, mut motion_frames, mut size) = (0u64, 0u64, (0, 0));
    let mut lumas: Vec<Vec<u8>> = Vec::new();
    let t0 = Instant::now();
    for run in 0..runs {
        let mut dec = H264Decoder::new(&track.sample_entry)?;
        let mut det = MotionDetector::new(MotionConfig::default())?;
        for (b, key) in &frames {
            if let Some(p) = dec.decode(b, *key)? {
                size = (p.width, p.height);
                motion_frames += u64::from(det.detect(p.luma())?.is_motion());
                pictures += 1;
                if run == 0 && lumas.len() < 300 {
                    lumas.push(p.to_owned().y);
                }
            }
        }
    }
    let both = t0.elapsed();
    // Motion alone on decoded pictures.
    let mut det = MotionDetector::new(MotionConfig::default())?;
    let n = lumas.len().max(1) * 20;
    let t1 = Instant::now();
    for i in 0..n {
        det.detect(Luma { width: size.0, height: size.1, stride: size.0, data: &lumas[i % lumas.len()] })?;
    }
    let motion = t1.elapsed();
    println!(
        "detect: {}x{} {}: decode + motion {:.0} frames/s on one core ({pictures} frames, {motion_frames} with motion)",
        size.0,
        size.1,
        file.display(),
        pictures as f64 / both.as_secs_f64()
    );
    println!("detect: motion alone {:.1} µs per frame", motion.as_secs_f64() * 1e6 / n as f64);
    Ok(())
}

fn objects_bench(file: &Path, runs: u32, threads: usize, dump: Option<&Path>, analysis: bool) -> Result<(), Error> {
    use detect::analyser::{Analyser, ObjectsSpec};
    use detect::decode::{H264Decoder, OwnedPicture};
    use detect::motion::MotionConfig;
    use detect::objects::ObjectDetector;
    use std::os::unix::fs::FileExt;
    if !(1..=100_000).contains(&runs) {
        bail!(InvalidArgument, "--runs: expected 1..=100000, got {runs}");
    }
    let (f, track) = media::source::file::read_track(file)?;
    let mut frames = Vec::with_capacity(track.samples.len());
    for s in &track.samples {
        let mut b = vec![0u8; s.size as usize];
        f.read_exact_at(&mut b, s.offset).err_kind(ErrorKind::Internal, || format!("reading {}", file.display()))?;
        frames.push((b, s.is_key, s.dts as f64 / f64::from(track.timescale)));
    }
    let duration = frames.last().map_or(0.0, |f| f.2) + 1.0 / 10.0;
    // A picture from the middle of the clip.
    let mut pic: Option<OwnedPicture> = None;
    let mut dec = H264Decoder::new(&track.sample_entry)?;
    for (i, (b, key, _)) in frames.iter().enumerate() {
        if let Some(p) = dec.decode(b, *key)? {
            pic = Some(p.to_owned());
            if i >= frames.len() / 2 {
                break;
            }
        }
    }
    let Some(pic) = pic else { bail!(InvalidArgument, "{}: no frame could be decoded", file.display()) };
    let mut det = crate::motion::load_detector(None, detect::objects::ModelFormat::Boxes, None, None, threads)?;
    let (w, h) = det.input_size();
    for _ in 0..3 {
        det.detect(&pic.picture())?;
    }
    let mut times = Vec::with_capacity(runs as usize);
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(det.detect(&pic.picture())?);
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "objects: detector {w}x{h}, {threads} thread(s), {}x{} picture: median {:.1} ms, mean {mean:.1} ms, p90 {:.1} ms per frame ({runs} runs, pre/post-processing included)",
        pic.width,
        pic.height,
        times[times.len() / 2],
        times[times.len() * 9 / 10],
    );
    if let Some(d) = dump {
        let bytes: Vec<u8> = det.last_input().iter().flat_map(|v| v.to_ne_bytes()).collect();
        std::fs::write(d, bytes).err_kind(ErrorKind::Internal, || format!("writing {}", d.display()))?;
    }
    drop(det);
    if !analysis {
        return Ok(());
    }
    // One camera's whole analysis, as the agent runs it: decode every frame, motion at
    // 5 fps, the detector when motion (or a track, or the heartbeat) calls for it.
    let det = crate::motion::load_detector(None, detect::objects::ModelFormat::Boxes, None, None, threads)?;
    let spec = ObjectsSpec { detector: Box::new(det), tracker: Default::default(), heartbeat: 3.0 };
    let mut a = Analyser::new(MotionConfig::default(), 5)?.with_objects(spec)?;
    a.set_sample_entry(&track.sample_entry)?;
    let (mut analysed, mut detected) = (0u32, 0u32);
    // For each object event: seconds from its first sighting to the frame that confirmed
    // it, which is when an alert goes out (plus that frame's processing time).
    let mut confirm_delays: Vec<(String, f64)> = Vec::new();
    let c0 = cpu_time();
    let t0 = Instant::now();
    for (b, key, t) in &frames {
        if let Some(an) = a.push(b, *key, *t)? {
            analysed += 1;
            detected += u32::from(an.detections.is_some());
            confirm_delays.extend(an.started.iter().map(|e| (e.kind.name().to_owned(), t - e.start)));
        }
    }
    let cpu = (cpu_time() - c0).as_secs_f64();
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "objects: {}: {duration:.0} s of video analysed in {cpu:.1} s CPU ({wall:.1} s wall): {analysed} frames at 5 fps, detector on {detected} ({:.0}%); {:.2} cores per camera, {:.1} cameras per core",
        file.display(),
        100.0 * f64::from(detected) / f64::from(analysed.max(1)),
        cpu / duration,
        duration / cpu,
    );
    if !confirm_delays.is_empty() {
        let list: Vec<String> = confirm_delays.iter().map(|(k, d)| format!("{k} {d:.1} s")).collect();
        println!("objects: first sighting to alert, per event: {}", list.join(", "));
    }
    Ok(())
}

/// User + system CPU time of this process so far.
pub(crate) fn cpu_time() -> Duration {
    let (user, system) = cpu_times();
    user + system
}

/// User and system CPU time of this process so far, apart.
fn cpu_times() -> (Duration, Duration) {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

fn fresh_dir(d: &Path) -> Result<(), Error> {
    if d.exists() {
        std::fs::remove_dir_all(d).err_kind(ErrorKind::Internal, || format!("emptying {}", d.display()))?;
    }
    std::fs::create_dir_all(d).err_kind(ErrorKind::Internal, || format!("creating {}", d.display()))
}

fn ingest(args: IngestArgs) -> Result<(), Error> {
    let IngestArgs { url, streams, seconds, warmup, data_dir, flush_interval_ms, coalesce_ms, buffered_io, audio } =
        args;
    let (data_dir, flush, coalesce) =
        (data_dir.as_path(), Duration::from_millis(flush_interval_ms), Duration::from_millis(coalesce_ms));
    if streams == 0 || streams > 1024 {
        bail!(InvalidArgument, "--streams: expected 1..=1024, got {streams}");
    }
    fresh_dir(data_dir)?;
    let cameras = (0..streams)
        .map(|i| CameraSpec {
            name: format!("cam{i:03}"),
            streams: vec![StreamSpec {
                kind: StreamKind::Main,
                opener: Arc::new(RtspOpener {
                    url: url.clone(),
                    username: None,
                    password: None,
                    stall_timeout: Duration::from_secs(10),
                    audio,
                }),
            }],
            retention: Default::default(),
            analysis: None,
            events: Default::default(),
            doorbell: false,
            placement: agent::remote::Placement::Outdoor,
            masks: Vec::new(),
            speaker: None,
            sound: None,
            record_audio: audio,
        })
        .collect();
    let opts = agent::Options {
        mqtt: None,
        http: None,
        sync: None,
        data_dir: data_dir.to_path_buf(),
        cameras,
        clocks: Arc::new(RealClocks),
        flush_interval: flush,
        ingest_coalesce: coalesce,
        direct_io: !buffered_io,
        segment_duration: Duration::from_secs(60),
        backoff: agent::streamer::Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(10) },
        overall_retention: Default::default(),
        retention_interval: Duration::from_secs(10),
        retention_segments_per_pass_max: 64,
    };
    // The same runtime `porchlight agent` uses, so the figure is the product's.
    let rt = crate::runtime()?;
    let (tx, rx) = base::shutdown::channel();
    let status = data_dir.join("status.json");
    let frames = |p: &Path| -> u64 {
        std::fs::read(p)
            .ok()
            .and_then(|b| serde_json::from_slice::<StatusFile>(&b).ok())
            .map(|v| v.streams.iter().map(|s| s.frames_recorded).sum())
            .unwrap_or(0)
    };
    let result = rt.block_on(async {
        let agent = tokio::spawn(agent::run(opts, rx));
        tokio::time::sleep(Duration::from_secs(warmup)).await;
        let (cpu0, f0, t0) = (cpu_times(), frames(&status), Instant::now());
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let (cpu1, f1, wall) = (cpu_times(), frames(&status), t0.elapsed());
        tx.shutdown();
        let summary = agent.await.map_err(|e| Error::wrap(ErrorKind::Internal, "agent task", e))??;
        Ok::<_, Error>(((cpu1.0 - cpu0.0, cpu1.1 - cpu0.1), f1.saturating_sub(f0), wall, summary))
    })?;
    let ((user, system), frames_recorded, wall, summary) = result;
    let cpu = user + system;
    let streaming = summary.streams.values().filter(|s| s.frames_recorded > 0).count();
    let per_stream_pct = cpu.as_secs_f64() / wall.as_secs_f64() / streams as f64 * 100.0;
    println!(
        "ingest: {streams} streams ({streaming} recorded), {:.1} s measured, {frames_recorded} frames ({:.0}/s), \
         CPU {:.2} s ({:.2} s user, {:.2} s system) = {:.3}% of one core per stream = {:.1} CPU-s per stream-hour",
        wall.as_secs_f64(),
        frames_recorded as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64(),
        user.as_secs_f64(),
        system.as_secs_f64(),
        per_stream_pct,
        per_stream_pct / 100.0 * 3600.0
    );
    if streaming < streams {
        bail!(Unavailable, "only {streaming} of {streams} streams recorded; is the RTSP server up and fast enough?");
    }
    if audio {
        // The sound is in the index (all of the run: status.json counts pictures only).
        let conn = index::open_read_only(&data_dir.join("index.db"))?;
        let (mut with_sound, mut samples) = (0, 0);
        for s in index::list_streams(&conn)?.into_iter().filter(|s| s.kind == "audio") {
            let n: i64 =
                index::segments_in_range(&conn, s.id, i64::MIN / 2, i64::MAX / 2)?.iter().map(|g| g.frames).sum();
            with_sound += usize::from(n > 0);
            samples += n;
        }
        println!("ingest: sound recorded beside {with_sound} streams, {samples} samples in all");
        if with_sound < streams {
            bail!(
                Unavailable,
                "only {with_sound} of {streams} streams recorded sound; does the URL serve a sound track?"
            );
        }
    }
    Ok(())
}

/// Writes `frames` synthetic frames through the real writer and syncer.
fn synthesize(ctx: &Arc<Ctx>, shared: &Arc<Mutex<StreamState>>, frames: u64, frame_bytes: usize) -> Result<(), Error> {
    let entry = Arc::new(synthetic_entry());
    let syncer = Syncer::new(ctx.clone(), vec![shared.clone()]);
    let mut w = Writer::new(ctx.clone(), shared.clone(), 0);
    let key_bytes = frame_bytes * 8;
    let mut buf = vec![0x41u8; key_bytes];
    for i in 0..frames {
        let is_key = i % 60 == 0;
        let n = if is_key { key_bytes } else { frame_bytes };
        buf[0..4].copy_from_slice(&((n - 4) as u32).to_be_bytes());
        buf[4] = if is_key { 0x65 } else { 0x41 };
        let f = Frame {
            pts_90k: i as i64 * 3000,
            is_key,
            data: Bytes::copy_from_slice(&buf[..n]),
            new_sample_entry: (i == 0).then(|| entry.clone()),
            audio: false,
        };
        w.push(f)?;
        if i % 1800 == 0 {
            syncer.flush()?;
        }
    }
    w.end_run("synthesized")?;
    syncer.flush()?;
    Ok(())
}

/// A valid 1920×1080 H.264 High sample entry (SPS/PPS of an x264 encode).
fn synthetic_entry() -> media::SampleEntry {
    let sps = [0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44];
    let pps = [0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];
    let mut avcc = vec![1, 0x64, 0x00, 0x28, 0xff, 0xe1];
    avcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(&sps);
    avcc.push(1);
    avcc.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    avcc.extend_from_slice(&pps);
    media::SampleEntry::h264(1920, 1080, &avcc).expect("synthetic sample entry is valid")
}

fn ctx_for(layout: &Layout) -> Result<Arc<Ctx>, Error> {
    let conn = index::open(&layout.db())?;
    let (s, r) = index::max_ids(&conn)?;
    Ok(Arc::new(Ctx {
        layout: layout.clone(),
        clocks: Arc::new(RealClocks),
        db: Arc::new(Mutex::new(conn)),
        next_segment_id: AtomicI64::new(s + 1),
        next_run_id: AtomicI64::new(r + 1),
        segment_duration_90k: 60 * 90_000,
        direct_io: true,
    }))
}

fn export(data_dir: &Path, hours: u64, bitrate: u64, runs: u32) -> Result<(), Error> {
    let layout = Layout::new(data_dir);
    let frames = hours * 3600 * 30;
    // Average frame size for the bit rate with a key frame 8× a P-frame every 60 frames.
    let frame_bytes = ((bitrate / 8 / 30) as f64 * 60.0 / 67.0) as usize;
    let marker = data_dir.join(format!("synth-{hours}h-{bitrate}"));
    if !marker.exists() {
        fresh_dir(data_dir)?;
        let ctx = ctx_for(&layout)?;
        let stream_id = index::ensure_stream(&ctx.db.lock().expect("db"), "bench", StreamKind::Main)?;
        std::fs::create_dir_all(layout.stream_dir(stream_id)).err_kind(ErrorKind::Internal, || "mkdir")?;
        let t = Instant::now();
        synthesize(&ctx, &Arc::new(Mutex::new(StreamState::new(stream_id))), frames, frame_bytes)?;
        eprintln!("synthesized {frames} frames in {:.1} s", t.elapsed().as_secs_f64());
        std::fs::write(&marker, b"").err_kind(ErrorKind::Internal, || "marker")?;
    }
    let conn = index::open_read_only(&layout.db())?;
    let stream_id =
        index::find_stream(&conn, "bench", StreamKind::Main)?.ok_or_else(|| base::err!(NotFound, "bench stream"))?;
    let out_path = data_dir.join("export.mp4");
    // Two destinations: a new file on the same disk (what `porchlight export -o` does) and
    // a pipe drained by another thread (as when a fast client downloads it over a socket).
    for to_file in [true, false] {
        let mut best = f64::MAX;
        let mut total = 0f64;
        let mut bytes = 0;
        for i in 0..=runs {
            let t = Instant::now();
            let ex = agent::export::export(&conn, &layout, stream_id, 0, i64::MAX / 2, false)?;
            if to_file {
                let mut f =
                    std::fs::File::create(&out_path).err_kind(ErrorKind::Internal, || "creating export file")?;
                bytes = ex.plan.write_to(&mut f).err_kind(ErrorKind::Internal, || "writing export")?;
            } else {
                let (mut w, drain) = drained_pipe()?;
                bytes = ex.plan.write_to(&mut w).err_kind(ErrorKind::Internal, || "writing export")?;
                drop(w);
                let drained = drain.join().map_err(|_| base::err!(Internal, "drain thread panicked"))?;
                if drained != bytes {
                    bail!(Internal, "pipe carried {drained} of {bytes} bytes");
                }
            }
            let s = t.elapsed().as_secs_f64();
            if to_file {
                std::fs::remove_file(&out_path).err_kind(ErrorKind::Internal, || "removing export")?;
            }
            if i > 0 {
                best = best.min(s);
                total += s;
            }
        }
        let mean = total / f64::from(runs);
        println!(
            "export to {}: {hours} h at {:.1} Mbit/s = {:.2} GB; mean {:.3} s ({:.2} GB/s), best {:.3} s ({:.2} GB/s) over {runs} runs",
            if to_file { "a new file" } else { "a pipe" },
            bitrate as f64 / 1e6,
            bytes as f64 / 1e9,
            mean,
            bytes as f64 / 1e9 / mean,
            best,
            bytes as f64 / 1e9 / best
        );
    }
    Ok(())
}

/// A pipe whose read end a thread drains; returns the write end and the byte count.
fn drained_pipe() -> Result<(std::fs::File, std::thread::JoinHandle<u64>), Error> {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills two fds that we then own exclusively.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::wrap(ErrorKind::Internal, "pipe2", std::io::Error::last_os_error()));
    }
    let (mut r, w) = unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) };
    let drain = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        while let Ok(k) = r.read(&mut buf) {
            if k == 0 {
                break;
            }
            n += k as u64;
        }
        n
    });
    Ok((w, drain))
}

fn recovery(data_dir: &Path, cameras: usize, hours: u64, runs: u32) -> Result<(), Error> {
    let layout = Layout::new(data_dir);
    fresh_dir(data_dir)?;
    let t = Instant::now();
    let conn = index::open(&layout.db())?;
    let mut conn = conn;
    let segments_per_camera = hours * 60;
    let frames_per_segment = 1800u32;
    let entry_id = index::intern_sample_entry(&conn, &synthetic_entry())?;
    let mut seg_id = 0i64;
    let start0 = RealClocks.realtime_90k() - hours as i64 * 3600 * 90_000;
    // Index rows are real (a 1-minute, 30 fps frame index each); files hold 16-byte frames so
    // that a day of eight cameras fits in a few hundred megabytes.
    let frame = FrameInfo { size_bytes: 16, duration_90k: 3000, is_key: false, pts_offset_90k: 0 };
    let mut blob = Vec::new();
    for i in 0..frames_per_segment {
        frame_index::append(&mut blob, &FrameInfo { is_key: i % 60 == 0, ..frame });
    }
    let mut file_bytes = vec![0x41u8; 16 * frames_per_segment as usize];
    for chunk in file_bytes.chunks_mut(16) {
        chunk[0..4].copy_from_slice(&12u32.to_be_bytes());
    }
    for cam in 0..cameras {
        let stream_id = index::ensure_stream(&conn, &format!("cam{cam}"), StreamKind::Main)?;
        let dir = layout.stream_dir(stream_id);
        std::fs::create_dir_all(&dir).err_kind(ErrorKind::Internal, || "mkdir")?;
        let run = index::Run { id: cam as i64 + 1, stream_id, start_90k: start0, end_90k: None, end_reason: None };
        let mut batch = index::Batch { runs: vec![run], segments: Vec::new() };
        for k in 0..segments_per_camera {
            seg_id += 1;
            std::fs::write(layout.segment(stream_id, seg_id), &file_bytes).err_kind(ErrorKind::Internal, || "write")?;
            batch.segments.push(index::Segment {
                id: seg_id,
                stream_id,
                run_id: cam as i64 + 1,
                sample_entry_id: entry_id,
                start_90k: start0 + k as i64 * 60 * 90_000,
                duration_90k: 60 * 90_000,
                frames: i64::from(frames_per_segment),
                key_frames: i64::from(frames_per_segment / 60),
                size_bytes: file_bytes.len() as i64,
                open: k + 1 == segments_per_camera,
                frame_index: blob.clone(),
            });
        }
        index::commit(&mut conn, &batch)?;
    }
    drop(conn);
    eprintln!("built {seg_id} segments for {cameras} cameras in {:.1} s", t.elapsed().as_secs_f64());
    let mut times = Vec::new();
    for _ in 0..runs {
        // The crash state: each camera's last segment open with an unindexed tail, plus an
        // orphan file created after the last commit.
        {
            let conn = index::open(&layout.db())?;
            conn.execute(
                "update segment set open = 1 where id in (select max(id) from segment group by stream_id)",
                [],
            )
            .err_kind(ErrorKind::Internal, || "reopening")?;
            conn.execute("update run set end_90k = null, end_reason = null", [])
                .err_kind(ErrorKind::Internal, || "runs")?;
            let mut st = conn
                .prepare("select stream_id, id from segment where open = 1")
                .err_kind(ErrorKind::Internal, || "q")?;
            let open: Vec<(i64, i64)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|r| r.collect())
                .err_kind(ErrorKind::Internal, || "q")?;
            for (stream_id, id) in open {
                use std::io::Write;
                let mut f = std::fs::File::options()
                    .append(true)
                    .open(layout.segment(stream_id, id))
                    .err_kind(ErrorKind::Internal, || "tail")?;
                f.write_all(&file_bytes[..4096]).err_kind(ErrorKind::Internal, || "tail")?;
                std::fs::write(layout.segment(stream_id, seg_id + 1_000_000 + id), b"orphan")
                    .err_kind(ErrorKind::Internal, || "orphan")?;
            }
        }
        // What `porchlight agent` does before it can record: lock, open, recover, read ids.
        let t = Instant::now();
        let _lock = layout.lock()?;
        let mut conn = index::open(&layout.db())?;
        let report = agent::recovery::recover(&mut conn, &layout)?;
        index::max_ids(&conn)?;
        times.push(t.elapsed().as_secs_f64());
        if report.segments_closed != cameras || report.orphans_removed != cameras {
            bail!(Internal, "recovery did not repair the crash state: {report:?}");
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "recovery: {cameras} cameras × {hours} h = {seg_id} segments, {} frames indexed; median {:.0} ms, max {:.0} ms over {runs} runs",
        seg_id * i64::from(frames_per_segment),
        times[times.len() / 2] * 1000.0,
        times[times.len() - 1] * 1000.0
    );
    Ok(())
}

/// What the ingest benchmark reads of `status.json`.
#[derive(serde::Deserialize)]
struct StatusFile {
    streams: Vec<StreamFrames>,
}

#[derive(serde::Deserialize)]
struct StreamFrames {
    frames_recorded: u64,
}
