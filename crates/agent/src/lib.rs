//! The home agent: it records the cameras (streamers, the crash-safe segment writer and
//! syncer, startup recovery, `check`, retention, export), analyses them (`analysis`,
//! doorbells and sensors through `inputs`, `http` and `mqtt`), seals what it finds for
//! the household (`sealing`), and talks to its paired server (`uploader`: the outbox and
//! the long poll, through `wire::client`; `live` and `post_clip` answer members' requests).
//!
//! Owns: everything that pairs segment files with index rows, and the agent's data folder
//! (`layout`). Deliberately does not own: parsing camera bytes (`media`), SQL (`index`),
//! what the server's JSON looks like (`wire`), configuration files (the binary). It links
//! no server database code. The procedure that keeps recordings crash-safe is in
//! `design/recording.md`.

pub mod analysis;
pub mod check;
pub mod export;
pub mod history;
pub mod http;
pub mod ingest;
pub mod inputs;
pub mod layout;
pub mod live;
pub mod live_audio;
pub mod mqtt;
pub mod post_clip;
pub mod recovery;
pub mod remote;
pub mod retention;
pub mod sealing;
pub mod status;
pub mod streamer;
pub mod syncer;
pub mod talk;
pub mod uploader;
pub mod writer;

use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base::clock::Clocks;
use base::shutdown::Receiver;
use base::{Error, ErrorKind, ResultExt};
use index::StreamKind;
use media::source::Opener;

use crate::layout::{Layout, sync_dir};
use crate::status::{State, StatusBoard, StreamStatus};
use crate::streamer::{Backoff, Streamer};
use crate::writer::{Ctx, StreamState, WriterStats};

/// One stream of a camera and where it comes from.
pub struct StreamSpec {
    pub kind: StreamKind,
    pub opener: Arc<dyn Opener>,
}

pub struct CameraSpec {
    pub name: String,
    pub streams: Vec<StreamSpec>,
    pub retention: retention::Limits,
    /// Analysis of the camera's last stream (the sub-stream when there is one).
    pub analysis: Option<analysis::AnalysisSpec>,
    /// Pre- and post-roll and snapshot quality of the camera's events.
    pub events: analysis::EventsConfig,
    /// The camera has a doorbell button (presses arrive by MQTT or HTTP).
    pub doorbell: bool,
    /// Indoor or outdoor: what the modes do to it unless the owner's settings say.
    pub placement: remote::Placement,
    /// Privacy masks from the configuration file, for snapshots whether or not motion
    /// analysis runs (the owner's settings replace them).
    pub masks: Vec<detect::zone::Polygon>,
    /// Where members' voices go when they talk through the camera (none: nobody can).
    pub speaker: Option<talk::Speaker>,
    /// Where live view's sound comes from (none: the camera is a file).
    pub sound: Option<live_audio::Sound>,
    /// Record the camera's sound beside its first stream (`audio.record`; its opener must
    /// yield sound frames). Off unless the owner turns it on.
    pub record_audio: bool,
}

pub struct Options {
    pub data_dir: std::path::PathBuf,
    pub cameras: Vec<CameraSpec>,
    pub clocks: Arc<dyn Clocks>,
    pub flush_interval: Duration,
    /// How long the ingest thread naps before parking (see [`ingest`]); zero disables it.
    pub ingest_coalesce: Duration,
    /// Write segment files with direct I/O where the file system takes it (see
    /// [`writer::Ctx::direct_io`]); false writes through the page cache (benchmarks compare).
    pub direct_io: bool,
    pub segment_duration: Duration,
    pub backoff: Backoff,
    pub overall_retention: retention::Limits,
    pub retention_interval: Duration,
    pub retention_segments_per_pass_max: usize,
    /// Publish to (and take presses and sensors from) an MQTT broker. Its camera list is
    /// filled in from `cameras`.
    pub mqtt: Option<mqtt::MqttSpec>,
    /// Listen for doorbell presses and sensors over HTTP here, with this token.
    pub http: Option<(std::net::SocketAddr, Option<String>)>,
    /// Seal finished events and upload them to the paired server.
    pub sync: Option<uploader::SyncSpec>,
}

/// What a finished agent run did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    pub streams: HashMap<String, WriterStats>,
}

/// Runs the agent until `shutdown` fires, then stops every stream, commits everything
/// written, and returns.
/// Notices waiting for the MQTT broker; beyond this the newest are dropped and logged.
const NOTICES_QUEUE: usize = 1024;
/// Doorbell presses and sensor changes waiting to be handled.
const INPUTS_QUEUE: usize = 256;

pub async fn run(opts: Options, external_shutdown: Receiver) -> Result<Summary, Error> {
    let layout = Layout::new(&opts.data_dir);
    let _lock = layout.lock()?;
    let mut conn = index::open(&layout.db())?;
    let report = recovery::recover(&mut conn, &layout)?;
    if report != recovery::RecoveryReport::default() {
        tracing::info!(
            segments_closed = report.segments_closed,
            bytes_discarded = report.bytes_discarded,
            orphans_removed = report.orphans_removed,
            runs_closed = report.runs_closed,
            events_closed = report.events_closed,
            "recovered from an unclean stop"
        );
    }
    let (max_segment, max_run) = index::max_ids(&conn)?;
    std::fs::create_dir_all(layout.streams()).err_kind(ErrorKind::Internal, || "creating streams folder")?;
    let mut planned = Vec::new();
    for cam in &opts.cameras {
        for s in &cam.streams {
            let stream_id = index::ensure_stream(&conn, &cam.name, s.kind)?;
            let dir = layout.stream_dir(stream_id);
            std::fs::create_dir_all(&dir).err_kind(ErrorKind::Internal, || format!("creating {}", dir.display()))?;
            let last_end = index::footage_end_90k(&conn, stream_id)?;
            let analysed = cam.analysis.clone().filter(|_| std::ptr::eq(s, cam.streams.last().expect("a stream")));
            // The sound is recorded beside the camera's first stream, from the same session.
            let audio = if cam.record_audio && std::ptr::eq(s, &cam.streams[0]) {
                let id = index::ensure_stream(&conn, &cam.name, StreamKind::Audio)?;
                let dir = layout.stream_dir(id);
                std::fs::create_dir_all(&dir)
                    .err_kind(ErrorKind::Internal, || format!("creating {}", dir.display()))?;
                Some((id, index::footage_end_90k(&conn, id)?))
            } else {
                None
            };
            planned.push((cam.name.clone(), s.kind, stream_id, s.opener.clone(), last_end, analysed, audio));
        }
    }
    sync_dir(&layout.streams())?;
    sync_dir(&layout.root)?;

    let ctx = Arc::new(Ctx {
        layout: layout.clone(),
        clocks: opts.clocks.clone(),
        db: Arc::new(Mutex::new(conn)),
        next_segment_id: AtomicI64::new(max_segment + 1),
        next_run_id: AtomicI64::new(max_run + 1),
        segment_duration_90k: base::clock::duration_to_90k(opts.segment_duration),
        direct_io: opts.direct_io,
    });
    let board = StatusBoard::default();
    let roles = opts
        .cameras
        .iter()
        .map(|c| {
            let role =
                remote::CameraRole { placement: c.placement, doorbell: c.doorbell, records_sound: c.record_audio };
            (c.name.clone(), role)
        })
        .collect();
    let remote = remote::Remote::load(&layout, roles);
    let hub = live::Hub::new(
        opts.cameras.iter().map(|c| (c.name.clone(), c.streams.iter().any(|s| s.kind == StreamKind::Sub))),
    );
    // Rung by whatever stores an event, so the upload worker sends its start at once.
    let upload_bell = Arc::new(tokio::sync::Notify::new());
    let now = opts.clocks.realtime_90k();
    // Notices (for MQTT) and inputs (doorbells, sensors) flow through two channels.
    let (notices_tx, notices_rx) = match &opts.mqtt {
        Some(_) => {
            let (tx, rx) = tokio::sync::mpsc::channel(NOTICES_QUEUE);
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let (inputs_tx, inputs_rx) = tokio::sync::mpsc::channel(INPUTS_QUEUE);
    let http_listener = match &opts.http {
        Some((addr, _)) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| base::err!(FailedPrecondition, "http listen {addr}: {e}"))?,
        ),
        None => None,
    };
    let mut shared_states = Vec::new();
    let mut streamers = Vec::new();
    let mut analysis_threads = Vec::new();
    for (camera, kind, stream_id, opener, last_end, analysed, audio) in planned {
        let key = format!("{camera}/{}", kind.as_str());
        let camera_name = camera.clone();
        let shared = Arc::new(Mutex::new(StreamState::new(stream_id)));
        shared_states.push(shared.clone());
        let audio = audio.map(|(id, end)| {
            let st = Arc::new(Mutex::new(StreamState::sound(id)));
            shared_states.push(st.clone());
            (st, end)
        });
        board.insert(
            key.clone(),
            StreamStatus {
                camera,
                stream: kind.as_str().to_string(),
                source: opener.describe(),
                state: State::Connecting,
                since: base::clock::format_90k(now),
                since_90k: now,
                attempts: 0,
                frames_recorded: 0,
                last_error: None,
                motion: None,
            },
        );
        let analysis = match analysed {
            Some(spec) => {
                let events = opts.cameras.iter().find(|c| c.name == camera_name).map(|c| c.events.clone());
                let store = analysis::Store {
                    camera: camera_name.clone(),
                    layout: layout.clone(),
                    db: ctx.db.clone(),
                    notices: notices_tx.clone(),
                    events: events.unwrap_or_default(),
                    upload_bell: upload_bell.clone(),
                };
                let (sink, thread) =
                    analysis::start(key.clone(), spec, board.clone(), opts.clocks.clone(), store, remote.clone())?;
                analysis_threads.push(thread);
                Some(sink)
            }
            None => None,
        };
        streamers.push(Streamer {
            ctx: ctx.clone(),
            key,
            opener,
            shared,
            status: board.clone(),
            backoff: opts.backoff,
            last_end_90k: last_end,
            analysis,
            // Live view watches the camera's first (main) stream; the live grid its sub-stream.
            live: if kind == opts.cameras.iter().find(|c| c.name == camera_name).map_or(kind, |c| c.streams[0].kind) {
                hub.feed(&camera_name)
            } else if kind == StreamKind::Sub {
                hub.sub_only(&camera_name)
            } else {
                None
            },
            camera: camera_name,
            remote: remote.clone(),
            audio,
        });
    }

    // Cameras are received on their own thread (see `ingest` for why); everything else
    // stays on the caller's runtime.
    let ingest = ingest::Ingest::start(opts.ingest_coalesce)?;

    // Shutdown comes from outside (a signal) or from inside: if the syncer cannot make
    // footage durable (disk full, I/O error) recording must stop rather than pretend.
    let (internal_tx, shutdown) = base::shutdown::channel();
    let internal_tx = Arc::new(internal_tx);
    {
        let tx = internal_tx.clone();
        let mut ext = external_shutdown;
        tokio::spawn(async move {
            ext.wait().await;
            tx.shutdown();
        });
    }

    // The syncer runs on its own thread: fsync blocks, and must not stall the streamers.
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    let syncer = syncer::Syncer::new(ctx.clone(), shared_states);
    let flush_interval = opts.flush_interval;
    let syncer_thread = {
        let tx = internal_tx.clone();
        std::thread::Builder::new()
            .name("syncer".into())
            .spawn(move || {
                let r = syncer.run(flush_interval, stop_rx);
                if let Err(e) = &r {
                    tracing::error!("cannot make footage durable, stopping: {e}");
                    tx.shutdown();
                }
                r
            })
            .err_kind(ErrorKind::Internal, || "starting syncer thread")?
    };

    let mut side_tasks = Vec::new();
    let cameras = opts
        .cameras
        .iter()
        .map(|c| {
            let motion = detect::motion::MotionConfig { masks: c.masks.clone(), ..Default::default() };
            (c.name.clone(), inputs::InputCamera { doorbell: c.doorbell, events: c.events.clone(), motion })
        })
        .collect();
    side_tasks.push(tokio::spawn(inputs::run(
        inputs::InputCameras {
            cameras,
            hub: hub.clone(),
            remote: remote.clone(),
            layout: layout.clone(),
            upload_bell: upload_bell.clone(),
        },
        ctx.db.clone(),
        opts.clocks.clone(),
        notices_tx.clone(),
        inputs_rx,
        shutdown.clone(),
    )));
    if let (Some(mut spec), Some(rx)) = (opts.mqtt.clone(), notices_rx) {
        spec.cameras = opts.cameras.iter().map(|c| (c.name.clone(), c.doorbell)).collect();
        let (layout, inputs_tx, rx_shutdown) = (layout.clone(), inputs_tx.clone(), shutdown.clone());
        side_tasks.push(tokio::spawn(async move {
            if let Err(e) = mqtt::run(spec, layout, rx, inputs_tx, rx_shutdown).await {
                tracing::error!("MQTT: {e}");
            }
        }));
    }
    if let (Some(listener), Some((_, token))) = (http_listener, opts.http.clone()) {
        let spec =
            http::HttpSpec { token, cameras: opts.cameras.iter().map(|c| (c.name.clone(), c.doorbell)).collect() };
        side_tasks.push(tokio::spawn(http::serve(spec, listener, inputs_tx.clone(), shutdown.clone())));
    }
    // The background workers (retention, the status file, the control loop, uploads); all but
    // the control loop stop after the streams.
    let (stop_workers, workers_stop) = base::shutdown::channel();
    let mut workers = base::worker::Workers::new();
    if let Some(spec) = opts.sync.clone() {
        let talk = talk::Talk::new(
            opts.cameras.iter().filter_map(|c| Some((c.name.clone(), c.speaker.clone()?))).collect(),
            board.clone(),
        );
        // Which cameras have a speaker, for the app (asking a camera takes a connection:
        // once, at start).
        side_tasks.push(tokio::spawn(
            talk.clone().learn(opts.cameras.iter().map(|c| c.name.clone()).collect(), shutdown.clone()),
        ));
        let (uploads, control) = uploader::start(
            spec,
            uploader::Local {
                board: board.clone(),
                layout: layout.clone(),
                conn: ctx.db.clone(),
                clocks: opts.clocks.clone(),
                upload_bell: upload_bell.clone(),
            },
            uploader::FromOwner {
                remote: remote.clone(),
                hub: hub.clone(),
                posting: Some(Arc::new(post_clip::Posting::new(
                    layout.clone(),
                    ctx.db.clone(),
                    remote.clone(),
                    opts.cameras.iter().map(|c| (c.name.clone(), c.masks.clone())).collect(),
                ))),
                talk: talk.clone(),
                sounds: Arc::new(
                    opts.cameras.iter().filter_map(|c| Some((c.name.clone(), c.sound.clone()?))).collect(),
                ),
            },
            shutdown.clone(),
        );
        // The long poll stops with the agent (its live sessions end with the streams).
        workers.spawn(control, shutdown.clone());
        workers.spawn(uploads, workers_stop.clone());
    }
    drop(notices_tx);
    drop(inputs_tx);

    let mut tasks = Vec::new();
    for s in streamers {
        let key = s.key.clone();
        let rx = shutdown.clone();
        tasks.push((key, ingest.spawn(s.run(rx))));
    }

    // Status file and retention share a slow tick.
    let policy = retention::Policy {
        cameras: opts.cameras.iter().map(|c| (c.name.clone(), c.retention)).collect(),
        overall: opts.overall_retention,
        segments_per_pass_max: opts.retention_segments_per_pass_max,
    };
    workers.spawn(
        retention::Worker { ctx: ctx.clone(), policy, every: opts.retention_interval, more: false },
        workers_stop.clone(),
    );
    workers.spawn(
        status::Writer { board: board.clone(), path: layout.status(), workers: workers.status_handle() },
        workers_stop,
    );
    let workers_status = workers.status_handle();

    let mut summary = Summary::default();
    for (key, t) in tasks {
        match t.await {
            Ok(stats) => {
                tracing::info!(
                    camera = %key,
                    received = stats.frames_received,
                    recorded = stats.frames_recorded,
                    skipped = stats.frames_skipped,
                    runs = stats.runs,
                    "stream stopped"
                );
                summary.streams.insert(key, stats);
            }
            Err(e) => tracing::error!(camera = %key, "stream task failed: {e}"),
        }
    }
    drop(ingest);
    // The streamers (and with them the analysis queues) are gone: the threads finish.
    for t in analysis_threads {
        let _ = t.join();
    }
    stop_workers.shutdown();
    workers.stop(Duration::from_secs(30)).await;
    for t in side_tasks {
        let _ = t.await;
    }
    let _ = stop_tx.send(());
    let synced = syncer_thread.join().map_err(|_| base::err!(Internal, "syncer thread panicked"))?;
    let _ = board.write(&layout.status(), &workers_status.status());
    synced?;
    Ok(summary)
}
