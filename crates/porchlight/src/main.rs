//! `porchlight`: the one binary. Each subcommand is a thin layer over the library crates;
//! see ARCHITECTURE.md for where each piece lives.

/// mimalloc instead of glibc's allocator: the ingest path allocates and frees a buffer for
/// every frame of every camera (retina's access units, tens of kilobytes, past glibc's
/// per-thread cache), where glibc's bins cost about 7% of the agent's CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod bench_agencies;
mod bench_alerts;
mod bench_feed;
mod bench_history;
mod bench_server;
mod bench_talk;
mod config;
mod demo_seed;
mod evidence;
mod keys;
mod motion;
mod redact;
mod server;
mod timearg;
mod ui;
mod verify_log;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use agent::layout::Layout;
use agent::{CameraSpec, StreamSpec};
use base::clock::{RealClocks, format_90k};
use base::{Error, ErrorKind, bail};
use clap::{Parser, Subcommand};
use index::StreamKind;
use media::source::Opener;
use media::source::file::FileOpener;
use media::source::rtsp::RtspOpener;

use crate::config::{Config, StreamConfig};

#[derive(Parser)]
#[command(
    name = "porchlight",
    version,
    about = "Privacy-first neighbourhood camera platform",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Record every configured camera until SIGINT or SIGTERM.
    Agent {
        /// The configuration file (see porchlight.example.toml).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Record two simulated cameras replaying real video files, and show how to export.
    Demo {
        /// Video for the "front" camera (an MP4 with H.264 or H.265 video).
        #[arg(long)]
        front: PathBuf,
        /// A sub-stream for the "front" camera (recorded too; motion analysis decodes it,
        /// as it would a real camera's sub-stream). Must show the same scene.
        #[arg(long)]
        front_sub: Option<PathBuf>,
        /// Video for the "back" camera.
        #[arg(long)]
        back: PathBuf,
        /// Where recordings go.
        #[arg(long, default_value = "demo-data")]
        data_dir: PathBuf,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        seconds: Option<u64>,
        /// Where the demo's server listens (its data goes in DATA_DIR/server).
        #[arg(long, default_value = "127.0.0.1:8600")]
        server_listen: String,
        /// Record only, without the server.
        #[arg(long)]
        no_server: bool,
    },
    /// Write a stretch of recorded footage as an MP4, without re-encoding.
    Export(ExportArgs),
    /// User keys: create, show, back up and restore, rotate, sign a household roster.
    Keys {
        #[command(subcommand)]
        cmd: keys::KeysCmd,
    },
    /// Pin the owner's key on this agent (from a pairing code or QR payload).
    Pair {
        #[command(flatten)]
        data: DataArgs,
        /// The owner's public keys file (`keys show --public-out`), as relayed by anyone.
        #[arg(long, requires = "code")]
        owner: Option<PathBuf>,
        /// The pairing code shown on the owner's device.
        #[arg(long)]
        code: Option<String>,
        /// The QR payload shown on the owner's device (`porchlight:pair:v1:…`).
        #[arg(long, conflicts_with_all = ["owner", "code"])]
        qr: Option<String>,
        /// Pair through a Porchlight server: its URL (with --token and --code). The owner
        /// keys come from the server and are checked against --code, so the server cannot
        /// substitute its own; the agent then uploads sealed events there.
        #[arg(long, requires_all = ["token", "code"], conflicts_with_all = ["owner", "qr"])]
        server: Option<String>,
        /// The single-use pairing token the owner's device shows next to the code.
        #[arg(long, requires = "server")]
        token: Option<String>,
        /// A name for this agent on the server (default: the host name).
        #[arg(long, requires = "server")]
        name: Option<String>,
    },
    /// What this agent trusts: show it, or accept a roster or rotation from the owner.
    Trust {
        #[command(subcommand)]
        cmd: keys::TrustCmd,
    },
    /// Verify and decrypt a sealed clip with your keys.
    Decrypt {
        /// The sealed clip.
        clip: PathBuf,
        /// Your key file.
        #[arg(long)]
        keys: PathBuf,
        /// A grant that shared this clip with you (when you are not an original recipient).
        #[arg(long)]
        grant: Option<PathBuf>,
        /// Output file, or `-` for standard output.
        #[arg(long, short)]
        output: PathBuf,
        /// Fail unless the clip was signed by the device with this fingerprint (without it,
        /// the signer is named with a warning: anyone who can seal for your key, such as
        /// another recipient of the household's clips, can make a clip that opens).
        #[arg(long)]
        device: Option<String>,
        /// Rotation statements of that device, oldest first: also accept the keys they
        /// lead to.
        #[arg(long = "device-rotation", requires = "device")]
        device_rotations: Vec<PathBuf>,
        /// With `-o -`: write plaintext as it is decrypted, before the body's digest has
        /// been checked (for a player reading a pipe). Without it the clip is verified
        /// whole first, and nothing reaches standard output unless it verifies.
        #[arg(long)]
        unverified_stream: bool,
    },
    /// Share a sealed clip you can open with one more person: writes a grant that wraps the
    /// clip's key for their public keys, signed by you; the clip itself is unchanged.
    Share {
        /// The sealed clip.
        clip: PathBuf,
        /// Your key file.
        #[arg(long)]
        keys: PathBuf,
        /// The recipient's public keys file (`keys show --public-out`).
        #[arg(long)]
        to: PathBuf,
        /// Why (for an agency: the request this answers); up to 128 bytes.
        #[arg(long, default_value = "")]
        purpose: String,
        /// The grant file to write.
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Check a sealed clip's device signature and body, and print who signed what.
    Verify {
        /// The sealed clip.
        clip: PathBuf,
        /// Also check a grant for this clip and say who shared it.
        #[arg(long)]
        grant: Option<PathBuf>,
        /// Fail unless the clip was signed by the device with this fingerprint.
        #[arg(long)]
        device: Option<String>,
        /// Rotation statements of that device (`trust rotate-device`), oldest first: also
        /// accept the keys they lead to.
        #[arg(long = "device-rotation", requires = "device")]
        device_rotations: Vec<PathBuf>,
    },
    /// Run the server: accounts, households, pairing, encrypted clip storage, the timeline.
    Serve {
        /// The server's configuration file (see porchlight-server.example.toml); without
        /// one, defaults: 127.0.0.1:8600, SQLite and blobs under ./porchlight-server.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Verify that the server's database and blob store agree.
    ServerCheck {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Replace the transparency log's signing key: logs an `operator_key_change` entry and
    /// signs the head that holds it with the old key, then installs the new one (restart
    /// the server afterwards; verifiers follow the change through the log).
    LogKeyRotate {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Why, published in the log.
        #[arg(long)]
        reason: String,
    },
    /// Seal every account's TOTP secret under a new key and drop the old one (the key file
    /// `totp.key` in the server's data folder; stop the server first).
    TotpKeyRotate {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Verify that the recording index and the segment files agree.
    Check {
        #[command(flatten)]
        data: DataArgs,
        /// Also read every frame and check its NAL unit framing.
        #[arg(long)]
        deep: bool,
    },
    /// List stored events (newest first): what, when, score, zones, snapshot and clip.
    Events {
        #[command(flatten)]
        data: DataArgs,
        /// Only this camera.
        #[arg(long)]
        camera: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List recorded runs per camera, with the gaps between them and why each run ended.
    Recordings {
        #[command(flatten)]
        data: DataArgs,
        /// Only this camera.
        #[arg(long)]
        camera: Option<String>,
    },
    /// Configuration file tools.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// Run motion detection over a clip and print the motion events (to try settings).
    Motion(motion::MotionArgs),
    /// Prepare a clip for posting: people, faces and text pixelated, masks black, no audio.
    Redact(redact::RedactArgs),
    /// Audit a server's transparency log: its new signed head extends the last one this
    /// command accepted, every new entry hashes into it, and (with --entry) an entry is in it.
    VerifyLog(verify_log::VerifyLogArgs),
    /// Check an agency's evidence export offline: the agency's signature, every file's
    /// SHA-256, each clip's device signature and grant, and the log entries with their proofs.
    VerifyEvidence(evidence::VerifyEvidenceArgs),
    /// Whole-system benchmarks (see BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        cmd: bench::BenchCmd,
    },
}

#[derive(clap::Args)]
struct ExportArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Camera name.
    #[arg(long, required_unless_present = "event")]
    camera: Option<String>,
    /// Export an event's clip (its time range with pre- and post-roll, on the main stream)
    /// instead of --camera/--from/--to; `porchlight events` lists them.
    #[arg(long, conflicts_with_all = ["camera", "from"])]
    event: Option<i64>,
    /// `main` or `sub`.
    #[arg(long, default_value = "main")]
    stream: String,
    /// Start: RFC 3339 (2026-11-22T18:00:00Z), `now`, or relative like `-5m`, `-90s`, `-2h`.
    #[arg(long, allow_hyphen_values = true, required_unless_present = "event")]
    from: Option<String>,
    /// End, in the same forms.
    #[arg(long, allow_hyphen_values = true, default_value = "now")]
    to: String,
    /// Output file, or `-` for standard output.
    #[arg(long, short)]
    output: PathBuf,
    /// Write fragmented MP4 (init segment + moof/mdat fragments) for streaming.
    #[arg(long)]
    fragmented: bool,
    /// Seal the MP4 end to end for the paired owner and household (see `pair`), signed
    /// by this agent; open it with `porchlight decrypt`.
    #[arg(long)]
    seal: bool,
    /// Leave the camera's recorded sound out (it is in the export, as recorded, when the
    /// camera's `audio.record` was on).
    #[arg(long)]
    no_audio: bool,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Parse and validate a configuration file; errors name the field and line.
    Check {
        /// The file to check.
        file: PathBuf,
    },
}

#[derive(clap::Args)]
struct DataArgs {
    /// The agent's data folder.
    #[arg(long, conflicts_with = "config")]
    data_dir: Option<PathBuf>,
    /// Take the data folder from this configuration file.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

impl DataArgs {
    fn dir(&self) -> Result<PathBuf, Error> {
        match (&self.data_dir, &self.config) {
            (Some(d), _) => Ok(d.clone()),
            (None, Some(c)) => Ok(Config::load(c)?.data_dir),
            (None, None) => bail!(InvalidArgument, "give --data-dir or --config"),
        }
    }
}

fn main() -> ExitCode {
    // Before any thread exists, as sqlite3_config requires (see the function).
    db::server::disable_sqlite_memstatus();
    base::init_tracing();
    let cli = Cli::parse();
    match run(cli.cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(match e.kind() {
                ErrorKind::InvalidArgument | ErrorKind::NotFound | ErrorKind::FailedPrecondition => 2,
                _ => 1,
            })
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::wrap(ErrorKind::Internal, "starting the async runtime", e))
}

/// The server's runtime. On SQLite the timeline is read on the worker thread that handles
/// the request (`db::server`'s read-only connections), so a worker is sometimes busy in
/// SQLite while requests wait in its queue; twice as many workers as cores (at least 4)
/// lets the kernel run another meanwhile. On the 2-core benchmark machine this halved the
/// timeline's p99 at 2,000 requests/s on SQLite and made PostgreSQL's worse (its own
/// processes want the cores), so PostgreSQL keeps one worker per core.
pub(crate) fn server_runtime(database_url: &str) -> Result<tokio::runtime::Runtime, Error> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if database_url.starts_with("sqlite:") && std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        b.worker_threads((2 * cores).max(4));
    }
    b.enable_all().build().map_err(|e| Error::wrap(ErrorKind::Internal, "starting the async runtime", e))
}

fn run(cmd: Cmd) -> Result<(), Error> {
    match cmd {
        Cmd::Agent { config } => {
            let c = Config::load(&config)?;
            if c.cameras.is_empty() {
                bail!(InvalidArgument, "{}: no cameras configured", config.display());
            }
            let opts = agent_options(&c)?;
            runtime()?.block_on(run_until_signal(opts, None))
        }
        Cmd::Demo { front, front_sub, back, data_dir, seconds, server_listen, no_server } => demo(
            &front,
            front_sub.as_deref(),
            &back,
            &data_dir,
            seconds,
            (!no_server).then_some(server_listen.as_str()),
        ),
        Cmd::Export(a) => export(a),
        Cmd::Keys { cmd } => keys::run(cmd),
        // clap requires --token and --code with --server, and rules out --owner and --qr.
        Cmd::Pair { data, code, server: Some(server), token, name, .. } => runtime()?.block_on(keys::pair_server(
            &data.dir()?,
            &server,
            token.as_deref().unwrap_or_default(),
            code.as_deref().unwrap_or_default(),
            name.as_deref(),
        )),
        Cmd::Pair { data, owner, code, qr, server: None, .. } => {
            keys::pair(&data.dir()?, owner.as_deref(), code.as_deref(), qr.as_deref())
        }
        Cmd::Trust { cmd } => keys::trust(cmd),
        Cmd::Decrypt { clip, keys, grant, output, device, device_rotations, unverified_stream } => keys::decrypt(
            &clip,
            &keys,
            grant.as_deref(),
            &output,
            keys::Signer { device: device.as_deref(), rotations: &device_rotations },
            unverified_stream,
        ),
        Cmd::Share { clip, keys, to, purpose, output } => keys::share(&clip, &keys, &to, &purpose, &output),
        Cmd::Verify { clip, grant, device, device_rotations } => {
            keys::verify(&clip, grant.as_deref(), device.as_deref(), &device_rotations)
        }
        Cmd::Serve { config } => {
            let c = server::ServerConfig::load(config.as_deref())?;
            server_runtime(&c.database_url())?.block_on(server::serve(c))
        }
        Cmd::ServerCheck { config } => {
            let c = server::ServerConfig::load(config.as_deref())?;
            runtime()?.block_on(server::check(c))
        }
        Cmd::LogKeyRotate { config, reason } => {
            let c = server::ServerConfig::load(config.as_deref())?;
            runtime()?.block_on(server::rotate_log_key(c, &reason))
        }
        Cmd::TotpKeyRotate { config } => {
            let c = server::ServerConfig::load(config.as_deref())?;
            runtime()?.block_on(server::rotate_totp_key(c))
        }
        Cmd::Check { data, deep } => check(&data.dir()?, deep),
        Cmd::Recordings { data, camera } => recordings(&data.dir()?, camera.as_deref()),
        Cmd::Events { data, camera, limit, json } => events(&data.dir()?, camera.as_deref(), limit, json),
        Cmd::Config { cmd: ConfigCmd::Check { file } } => {
            println!("{}", config::check_file(&file)?);
            Ok(())
        }
        Cmd::Bench { cmd } => bench::run(cmd),
        Cmd::Motion(a) => motion::run(a),
        Cmd::Redact(a) => redact::run(a),
        Cmd::VerifyLog(a) => verify_log::run(a),
        Cmd::VerifyEvidence(a) => evidence::run(a),
    }
}

/// A stream's source; `audio`: it also yields the camera's sound, to record.
fn opener(c: &Config, s: &StreamConfig, audio: bool) -> Arc<dyn Opener> {
    match (&s.url, &s.file) {
        (Some(url), _) => Arc::new(RtspOpener {
            url: url.clone(),
            username: s.username.clone(),
            password: s.password.clone(),
            stall_timeout: Duration::from_secs(c.connection.stall_timeout_s.get()),
            audio,
        }),
        (None, Some(f)) => Arc::new(FileOpener { path: f.clone(), looping: s.r#loop, realtime: true }),
        (None, None) => unreachable!("Config::parse requires url or file"),
    }
}

fn agent_options(c: &Config) -> Result<agent::Options, Error> {
    let cameras = c
        .cameras
        .iter()
        .map(|cam| {
            let record_audio = cam.audio.record;
            let mut streams =
                vec![StreamSpec { kind: StreamKind::Main, opener: opener(c, cam.main.get_ref(), record_audio) }];
            if let Some(sub) = &cam.sub {
                streams.push(StreamSpec { kind: StreamKind::Sub, opener: opener(c, sub.get_ref(), false) });
            }
            let name = cam.name.get_ref().clone();
            let what = format!("camera {name}");
            let objects = match cam.objects.as_ref().map(|o| o.get_ref()).filter(|o| o.enabled) {
                Some(o) => {
                    let (model, format, labels) = (o.model.clone(), o.format(&what)?, o.labels.clone());
                    let (lib, threads) = (c.detection.onnxruntime.clone(), c.detection.threads.get() as usize);
                    let factory: agent::analysis::DetectorFactory = Arc::new(move || {
                        let d = motion::load_detector(
                            model.as_deref(),
                            format,
                            labels.as_deref(),
                            lib.as_deref(),
                            threads,
                        )?;
                        Ok(Box::new(d) as Box<dyn detect::objects::ObjectDetector>)
                    });
                    Some(agent::analysis::ObjectsConfig {
                        detector: factory,
                        tracker: o.tracker(&what)?,
                        heartbeat: o.heartbeat_s.get() as f64,
                    })
                }
                None => None,
            };
            let analysis = if cam.motion.enabled {
                Some(agent::analysis::AnalysisSpec {
                    motion: cam.motion.detector_config(&what)?,
                    fps: cam.motion.fps.get() as u32,
                    objects,
                    packages: (!cam.motion.package_zones.is_empty())
                        .then(|| detect::analyser::PackageRule::new(cam.motion.package_zones.clone())),
                })
            } else {
                None
            };
            Ok(CameraSpec {
                name,
                streams,
                retention: cam.retention.or(c.camera_defaults.retention).limits(),
                analysis,
                events: agent::analysis::EventsConfig {
                    pre_roll: Duration::from_secs(cam.events.pre_roll_s.get()),
                    post_roll: Duration::from_secs(cam.events.post_roll_s.get()),
                    snapshot_quality: cam.events.snapshot_quality.get() as u8,
                    max_event: Duration::from_secs(cam.events.max_event_s.get()),
                },
                doorbell: cam.doorbell,
                placement: cam.placement,
                masks: cam.motion.detector_config(&what)?.masks,
                speaker: cam.speaker()?,
                sound: cam.main.get_ref().url.as_ref().map(|url| agent::live_audio::Sound {
                    url: url.clone(),
                    username: cam.main.get_ref().username.clone(),
                    password: cam.main.get_ref().password.clone(),
                }),
                record_audio,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(agent::Options {
        data_dir: c.data_dir.clone(),
        cameras,
        clocks: Arc::new(RealClocks),
        flush_interval: c.flush_interval(),
        ingest_coalesce: c.ingest_coalesce(),
        direct_io: true,
        segment_duration: Duration::from_secs(c.recording.segment_duration_s.get()),
        backoff: agent::streamer::Backoff {
            initial: Duration::from_millis(c.connection.backoff_initial_ms.get()),
            max: Duration::from_secs(c.connection.backoff_max_s.get()),
        },
        overall_retention: c.retention.limits.limits(),
        retention_interval: Duration::from_secs(c.retention.interval_s.get()),
        retention_segments_per_pass_max: c.retention.segments_per_pass_max.get() as usize,
        mqtt: c.mqtt.as_ref().map(|m| {
            let m = m.get_ref();
            agent::mqtt::MqttSpec {
                host: m.host.clone(),
                port: m.port.get() as u16,
                username: m.username.clone(),
                password: m.password.clone(),
                client_id: m.client_id.clone(),
                prefix: m.topic_prefix.clone(),
                discovery_prefix: m.discovery.then(|| m.discovery_prefix.clone()),
                cameras: Vec::new(),
            }
        }),
        http: c.http.as_ref().map(|h| {
            let h = h.get_ref();
            (h.listen.parse().expect("checked by Config::parse"), h.token.clone())
        }),
        sync: agent::uploader::load_link(&Layout::new(&c.data_dir))?.map(|link| agent::uploader::SyncSpec {
            link,
            queue_bytes_max: c.sync.queue_mib_max.get() << 20,
            settle: Duration::from_secs(c.sync.settle_s.get()),
        }),
    })
}

/// Runs the agent until SIGINT/SIGTERM (or `limit` elapses), then shuts down cleanly.
async fn run_until_signal(opts: agent::Options, limit: Option<Duration>) -> Result<(), Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = base::shutdown::channel();
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Error::wrap(ErrorKind::Internal, "SIGINT handler", e))?;
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| Error::wrap(ErrorKind::Internal, "SIGTERM handler", e))?;
    let agent = tokio::spawn(agent::run(opts, rx));
    tokio::spawn(async move {
        let timer = async {
            match limit {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = int.recv() => tracing::info!("SIGINT: stopping cleanly"),
            _ = term.recv() => tracing::info!("SIGTERM: stopping cleanly"),
            _ = timer => tracing::info!("time limit reached: stopping cleanly"),
        }
        tx.shutdown();
        // Keep the sender alive until the process exits so shutdown stays signalled.
        std::future::pending::<()>().await;
    });
    let summary = agent.await.map_err(|e| Error::wrap(ErrorKind::Internal, "agent task", e))??;
    let json = serde_json::to_string(&summary).unwrap_or_default();
    tracing::info!(summary = %json, "agent stopped; every written frame is indexed");
    Ok(())
}

fn demo(
    front: &Path,
    front_sub: Option<&Path>,
    back: &Path,
    data_dir: &Path,
    seconds: Option<u64>,
    server_listen: Option<&str>,
) -> Result<(), Error> {
    for f in [front, back].into_iter().chain(front_sub) {
        media::source::file::read_track(f)?;
    }
    let abs = |p: &Path| std::path::absolute(p).unwrap_or(p.to_path_buf());
    let sub = front_sub.map(|p| format!("sub = {{ file = {:?} }}\n", abs(p))).unwrap_or_default();
    let text = format!(
        "data_dir = {:?}\n[[cameras]]\nname = \"front\"\nmain = {{ file = {:?} }}\n{sub}motion = {{ enabled = true }}\nobjects = {{ enabled = true }}\n[[cameras]]\nname = \"back\"\nmain = {{ file = {:?} }}\nmotion = {{ enabled = true }}\nobjects = {{ enabled = true }}\n",
        abs(data_dir),
        abs(front),
        abs(back),
    );
    let c = Config::parse(&text)?;
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "porchlight".into());
    println!("Porchlight demo: recording two simulated cameras");
    println!("  front  <- {}", front.display());
    if let Some(s) = front_sub {
        println!("           (sub-stream, analysed for motion: {})", s.display());
    }
    println!("  back   <- {}", back.display());
    println!("Recordings go to {}/ (index.db + streams/<id>/<segment>), status in status.json", data_dir.display());
    println!("While it runs, or after Ctrl-C, in another terminal:");
    println!("  {exe} export --data-dir {} --camera front --from -30s --to now -o clip.mp4", data_dir.display());
    println!("  {exe} recordings --data-dir {}", data_dir.display());
    println!("  {exe} events --data-dir {}        (then: export --event ID -o event.mp4)", data_dir.display());
    println!("  {exe} check --data-dir {} --deep", data_dir.display());
    println!("To seal clips end to end (only your keys open them):");
    println!("  {exe} keys new --keys me.keys --label Me   # prints your pairing code");
    println!("  {exe} keys show --keys me.keys --public-out me.pub");
    println!("  {exe} pair --data-dir {} --owner me.pub --code <your pairing code>", data_dir.display());
    println!(
        "  {exe} export --data-dir {} --camera front --from -30s --seal -o clip.plc && {exe} decrypt clip.plc --keys me.keys -o clip.mp4",
        data_dir.display()
    );
    println!("Press Ctrl-C to stop (a clean stop indexes every byte written).");
    let Some(listen) = server_listen else {
        return runtime()?.block_on(run_until_signal(agent_options(&c)?, seconds.map(Duration::from_secs)));
    };
    let server_dir = abs(data_dir).join("server");
    // The demo owner also runs the demo server: it moderates the neighbourhood.
    let sc = server::ServerConfig::parse(&format!(
        "listen = {listen:?}\ndata_dir = {server_dir:?}\noperators = [{:?}]\n",
        demo_seed::EMAIL
    ))?;
    runtime()?.block_on(async move {
        let (stop_server, server_stop) = base::shutdown::channel();
        let server = tokio::spawn(server::serve_until(sc, server_stop));
        let url = format!("http://{listen}");
        let started_ms = base::clock::Clocks::realtime_90k(&base::clock::RealClocks) / 90;
        let later = demo_seed::seed(&url, &abs(data_dir)).await?;
        // Stops with the demo if the demo stops first.
        let (stop_asking, mut asking_stop) = base::shutdown::channel();
        let asking = later.map(|l| {
            tokio::spawn(async move {
                tokio::select! {
                    _ = l.request_recorded_window(started_ms) => {}
                    _ = asking_stop.wait() => {}
                }
            })
        });
        let r = run_until_signal(agent_options(&c)?, seconds.map(Duration::from_secs)).await;
        stop_asking.shutdown();
        if let Some(a) = asking {
            let _ = a.await;
        }
        stop_server.shutdown();
        match server.await {
            Ok(Err(e)) => tracing::warn!("the demo server: {e}"),
            Err(e) => tracing::warn!("the demo server's task: {e}"),
            Ok(Ok(())) => {}
        }
        r
    })
}

fn parse_stream(s: &str) -> Result<StreamKind, Error> {
    match s {
        "main" => Ok(StreamKind::Main),
        "sub" => Ok(StreamKind::Sub),
        "audio" => bail!(InvalidArgument, "--stream: the sound goes with the main stream's picture; export `main`"),
        other => bail!(InvalidArgument, "--stream: expected main or sub, got {other:?}"),
    }
}

fn export(args: ExportArgs) -> Result<(), Error> {
    let ExportArgs { data, camera, event, stream, from, to, output, fragmented, seal, no_audio } = args;
    let (dir, stream, output) = (data.dir()?, stream.as_str(), output.as_path());
    let kind = parse_stream(stream)?;
    if seal && output == Path::new("-") {
        bail!(InvalidArgument, "--output: --seal needs a file (its signed header is written last), not `-`");
    }
    let layout = Layout::new(dir);
    let conn = index::open_read_only(&layout.db())?;
    let (camera, from_90k, to_90k) = match (event, camera, from) {
        (Some(id), _, _) => {
            let Some(e) = index::get_event(&conn, id)? else {
                bail!(NotFound, "--event: no event {id} (`porchlight events` lists them)");
            };
            (e.camera, e.clip_start_90k, e.clip_end_90k)
        }
        (None, Some(camera), Some(from)) => {
            let now = base::clock::Clocks::realtime_90k(&RealClocks);
            let from_90k = timearg::parse(&from, now).map_err(|m| base::err!(InvalidArgument, "--from: {m}"))?;
            let to_90k = timearg::parse(&to, now).map_err(|m| base::err!(InvalidArgument, "--to: {m}"))?;
            (camera, from_90k, to_90k)
        }
        _ => bail!(InvalidArgument, "--camera and --from, or --event, are required"),
    };
    let camera = camera.as_str();
    let Some(stream_id) = index::find_stream(&conn, camera, kind)? else {
        let names: Vec<String> =
            index::list_streams(&conn)?.into_iter().map(|s| format!("{}/{}", s.camera, s.kind)).collect();
        bail!(NotFound, "--camera: no stream {camera}/{stream} (recorded: {})", names.join(", "));
    };
    let sealing = if seal {
        let Some(t) = agent::sealing::load_trust(&layout)? else {
            bail!(FailedPrecondition, "--seal: this agent is not paired with an owner; run `porchlight pair` first");
        };
        Some((t, agent::sealing::read_keyring(&layout.device_keys())?))
    } else {
        None
    };
    // The sound goes with the main stream's picture (it is on that stream's clock).
    let sound = match index::find_stream(&conn, camera, StreamKind::Audio)? {
        Some(a) if kind == StreamKind::Main && !no_audio => agent::export::Sound::AsRecorded(a),
        _ => agent::export::Sound::None,
    };
    let ex = agent::export::export_with_sound(&conn, &layout, stream_id, from_90k, to_90k, fragmented, sound)?;
    let written = if output == Path::new("-") {
        ex.plan.write_to(&mut std::io::stdout().lock())
    } else {
        // Write to a temporary name and rename, so a failed export leaves no partial file.
        let tmp = output.with_extension("mp4.partial");
        let r = std::fs::File::create(&tmp).and_then(|mut f| match &sealing {
            None => {
                let n = ex.plan.write_to(&mut f)?;
                f.sync_all()?;
                Ok(n)
            }
            Some((trust, device)) => {
                let meta = crypto::object::Meta {
                    kind: crypto::object::Kind::Clip,
                    camera: camera.to_owned(),
                    start_ms: ex.start_90k / 90,
                    end_ms: ex.end_90k / 90,
                };
                let recipients = trust.recipients(meta.start_ms);
                let io = |e: Error| std::io::Error::other(e.to_string());
                let mut w = agent::sealing::SealWriter::new(f, meta, &recipients, ex.plan.len()).map_err(io)?;
                ex.plan.write_to(&mut w)?;
                w.finish(device).map_err(io)
            }
        });
        match r {
            Ok(n) => std::fs::rename(&tmp, output).map(|_| n),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
    .map_err(|e| Error::wrap(ErrorKind::Internal, format!("writing {}", output.display()), e))?;
    eprintln!(
        "exported {} frames, {} to {} ({:.1} s, {written} bytes, codec {})",
        ex.frames,
        format_90k(ex.start_90k),
        format_90k(ex.end_90k),
        (ex.end_90k - ex.start_90k) as f64 / 90_000.0,
        ex.entries.iter().map(|e| e.rfc6381_codec.as_str()).collect::<Vec<_>>().join(",")
    );
    if let Some(c) = &ex.audio_codec {
        eprintln!("with sound: {} samples ({c})", ex.audio_samples);
    }
    for (a, b) in &ex.gaps {
        eprintln!("note: no footage from {} to {} (played back to back)", format_90k(*a), format_90k(*b));
    }
    Ok(())
}

fn check(dir: &Path, deep: bool) -> Result<(), Error> {
    let layout = Layout::new(dir);
    let conn = index::open_read_only(&layout.db())?;
    let r = agent::check::check(&conn, &layout, deep)?;
    for n in &r.notes {
        println!("note: {n}");
    }
    for p in &r.problems {
        println!("PROBLEM: {p}");
    }
    println!(
        "{}: {} segments, {} frames, {} bytes indexed; {} bytes unindexed (recoverable); {} problems",
        dir.display(),
        r.segments,
        r.frames,
        r.bytes,
        r.unindexed_bytes,
        r.problems.len()
    );
    if !r.ok() {
        bail!(DataLoss, "check found {} problems", r.problems.len());
    }
    Ok(())
}

fn events(dir: &Path, camera: Option<&str>, limit: usize, json: bool) -> Result<(), Error> {
    let layout = Layout::new(dir);
    let conn = index::open_read_only(&layout.db())?;
    if let Some(c) = camera
        && !index::list_streams(&conn)?.iter().any(|s| s.camera == c)
    {
        bail!(NotFound, "--camera: no camera named {c:?}");
    }
    for e in index::list_events(&conn, camera, limit)? {
        let snapshot = e.has_snapshot.then(|| layout.snapshot(e.id));
        if json {
            let v = serde_json::json!({
                "id": e.id, "camera": e.camera, "kind": e.kind, "label": e.label,
                "start": format_90k(e.start_90k), "end": format_90k(e.end_90k), "score": e.score,
                "zones": e.zones, "box": e.bbox, "snapshot": snapshot,
                "clip_start": format_90k(e.clip_start_90k), "clip_end": format_90k(e.clip_end_90k),
                "uploaded": e.uploaded,
            });
            println!("{v}");
        } else {
            println!(
                "{:>5}  {:<8} {:<9} {:<12} {}  {:5.1} s  score {:.2}{}{}",
                e.id,
                e.camera,
                e.kind,
                e.label,
                format_90k(e.start_90k),
                (e.end_90k - e.start_90k) as f64 / 90_000.0,
                e.score,
                if e.zones.is_empty() { String::new() } else { format!("  zones {}", e.zones.join(",")) },
                snapshot.map(|p| format!("  {}", p.display())).unwrap_or_default(),
            );
        }
    }
    Ok(())
}

fn recordings(dir: &Path, camera: Option<&str>) -> Result<(), Error> {
    let layout = Layout::new(dir);
    let conn = index::open_read_only(&layout.db())?;
    let streams = index::list_streams(&conn)?;
    if let Some(c) = camera
        && !streams.iter().any(|s| s.camera == c)
    {
        bail!(NotFound, "--camera: no camera named {c:?}");
    }
    for s in streams.iter().filter(|s| camera.is_none_or(|c| c == s.camera)) {
        println!("{}/{}:", s.camera, s.kind);
        let mut prev_end: Option<i64> = None;
        for (run, start, end) in index::runs_in_range(&conn, s.id, i64::MIN / 2, i64::MAX / 2)? {
            if let Some(p) = prev_end
                && start > p
            {
                println!("  gap    {:.1} s", (start - p) as f64 / 90_000.0);
            }
            println!(
                "  run {:>4}  {} .. {}  ({:.1} s){}",
                run.id,
                format_90k(start),
                format_90k(end),
                (end - start) as f64 / 90_000.0,
                run.end_reason.map(|r| format!("  ended: {r}")).unwrap_or_else(|| "  (recording)".into())
            );
            prev_end = Some(end);
        }
    }
    Ok(())
}
