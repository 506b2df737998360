//! Analysis of one camera stream, on its own thread: motion, objects, and the events they
//! make.
//!
//! The streamer hands every frame of the analysed stream (the sub-stream when there is
//! one) to a bounded queue, stamped with the wall-clock time it arrived; this thread runs
//! the [`Analyser`] over them (decoding every frame, motion at `fps`, the object detector
//! when motion or a track calls for it). Decoding and inference are CPU work, so they never
//! run on the ingest runtime; when the thread falls behind, the queue is full and frames
//! are dropped for analysis only (the recording is unaffected), and decoding resumes at the
//! next key frame.
//!
//! A finished event is stored: its snapshot (masks already black) as
//! `<data>/snapshots/<id>.jpg`, then its row, whose clip range is the event with pre- and
//! post-roll on the camera's main stream. Every event, and every start of motion or of an
//! object event, also goes to the [`Notices`] channel (MQTT publishes from it). A detector
//! that cannot be loaded or fails is logged and shown in `status.json`; motion analysis and
//! recording go on.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base::clock::{Clocks, format_90k};
use base::{Error, ErrorKind, ResultExt};
use detect::analyser::{Analyser, Event, EventKind, ObjectsSpec};
use detect::events::Change;
use detect::motion::MotionConfig;
use detect::objects::ObjectDetector;
use detect::track::TrackerConfig;
use media::Frame;

use crate::layout::Layout;
use crate::status::{MotionStatus, StatusBoard};

/// Frames queued for analysis before new ones are dropped (about 2 s at 30 fps).
const QUEUE_FRAMES: usize = 64;
/// Without a frame for this long (the camera dropped, or the household's mode paused the
/// analysis), events still open are ended at the last frame seen.
const IDLE_FINISH: Duration = Duration::from_secs(5);

/// Makes the camera's object detector (on the analysis thread, so a slow model load does
/// not hold up the start).
pub type DetectorFactory = Arc<dyn Fn() -> Result<Box<dyn ObjectDetector>, Error> + Send + Sync>;

#[derive(Clone)]
pub struct ObjectsConfig {
    pub detector: DetectorFactory,
    pub tracker: TrackerConfig,
    /// Seconds between detector runs without motion (1..=600).
    pub heartbeat: f64,
}

#[derive(Clone, Debug)]
pub struct EventsConfig {
    /// Footage kept in an event's clip before its start and after its end.
    pub pre_roll: Duration,
    pub post_roll: Duration,
    /// JPEG quality of snapshots (1..=100).
    pub snapshot_quality: u8,
    /// Longer activity is cut into consecutive events of at most this (10 s to 1 h).
    pub max_event: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            pre_roll: Duration::from_secs(5),
            post_roll: Duration::from_secs(5),
            snapshot_quality: 85,
            max_event: Duration::from_secs(120),
        }
    }
}

#[derive(Clone)]
pub struct AnalysisSpec {
    pub motion: MotionConfig,
    /// Frames analysed per second (1..=30).
    pub fps: u32,
    pub objects: Option<ObjectsConfig>,
    /// The "new stationary object near the door" rule for packages.
    pub packages: Option<detect::analyser::PackageRule>,
}

/// Something to tell the outside world (MQTT) about, as it happens.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// Motion (`kind` "motion") or an object event of `kind` began or ended on a camera.
    Active { camera: String, kind: String, active: bool, at_90k: i64 },
    /// A doorbell was pressed (its event follows).
    Doorbell { camera: String, at_90k: i64 },
    /// An event was stored.
    Event(index::EventRow),
}

/// Notices for MQTT, bounded (`NOTICES_QUEUE`): when the broker is slower than events, the
/// newest notices are dropped and logged, never queued without limit.
pub type Notices = tokio::sync::mpsc::Sender<Notice>;

/// The streamer's end: hands frames over without ever blocking.
pub struct FrameSink {
    tx: Option<SyncSender<(Frame, i64)>>,
    clocks: Arc<dyn Clocks>,
    /// Set when a frame was dropped: the decoder must restart at a key frame.
    gap: bool,
}

impl FrameSink {
    /// Frames stop for a while (the mode does not record): resume at a key frame.
    pub fn pause(&mut self) {
        self.gap = true;
    }

    pub fn offer(&mut self, f: &Frame) {
        let Some(tx) = &self.tx else { return };
        if self.gap && !f.is_key {
            return;
        }
        match tx.try_send((f.clone(), self.clocks.realtime_90k())) {
            Ok(()) => self.gap = false,
            Err(TrySendError::Full(_)) => self.gap = true,
            Err(TrySendError::Disconnected(_)) => self.tx = None,
        }
    }
}

/// Whether two motion configurations analyse alike (polygons compared point by point).
fn same_motion(a: &MotionConfig, b: &MotionConfig) -> bool {
    a.sensitivity == b.sensitivity
        && a.work_width == b.work_width
        && a.min_area == b.min_area
        && a.zones == b.zones
        && a.masks == b.masks
}

/// Where the thread stores events.
pub struct Store {
    pub camera: String,
    pub layout: Layout,
    pub db: Arc<Mutex<index::Connection>>,
    pub notices: Option<Notices>,
    pub events: EventsConfig,
    /// Rung when an event is stored or finished: the upload worker seals and sends its
    /// start (or the whole event) at once rather than at its next pass.
    pub upload_bell: Arc<tokio::sync::Notify>,
}

/// Starts the analysis thread for stream `key`.
pub fn start(
    key: String,
    spec: AnalysisSpec,
    board: StatusBoard,
    clocks: Arc<dyn Clocks>,
    store: Store,
    remote: crate::remote::Remote,
) -> Result<(FrameSink, JoinHandle<()>), Error> {
    // Validate the configuration now, so a bad one fails the start, not the thread.
    let a = Analyser::new(spec.motion.clone(), spec.fps).map_err(|e| Error::new(e.kind(), format!("{key}: {e}")))?;
    if let Some(p) = &spec.packages {
        a.with_packages(p.clone()).map_err(|e| Error::new(e.kind(), format!("{key}: {e}")))?;
    }
    if let Some(o) = &spec.objects {
        o.tracker.check().map_err(|e| Error::new(e.kind(), format!("{key}: {e}")))?;
    }
    if !(1..=100).contains(&store.events.snapshot_quality) {
        base::bail!(InvalidArgument, "{key}: snapshot quality: expected 1..=100");
    }
    let (tx, rx) = sync_channel(QUEUE_FRAMES);
    board.update(&key, |s| s.motion = Some(MotionStatus::default()));
    let sink_clocks = clocks.clone();
    let thread = std::thread::Builder::new()
        .name(format!("analysis {key}"))
        .spawn(move || {
            Worker { key: &key, spec: &spec, board: &board, clocks: clocks.as_ref(), store: &store, remote: &remote }
                .run(rx)
        })
        .err_kind(ErrorKind::Internal, || "starting an analysis thread")?;
    Ok((FrameSink { tx: Some(tx), clocks: sink_clocks, gap: false }, thread))
}

struct Worker<'a> {
    key: &'a str,
    spec: &'a AnalysisSpec,
    board: &'a StatusBoard,
    clocks: &'a dyn Clocks,
    store: &'a Store,
    remote: &'a crate::remote::Remote,
}

impl Worker<'_> {
    fn set_error(&self, msg: String) {
        self.board.update(self.key, |s| s.motion.get_or_insert_with(Default::default).last_error = Some(msg));
    }

    fn notify(&self, n: Notice) {
        if let Some(tx) = &self.store.notices
            && tx.try_send(n).is_err()
        {
            tracing::warn!("MQTT notice dropped: the queue is full or closed");
        }
    }

    fn analyser(&self) -> Analyser {
        let a = self.motion_only();
        let Some(o) = &self.spec.objects else { return a };
        let made = (o.detector)().and_then(|detector| {
            self.motion_only().with_objects(ObjectsSpec {
                detector,
                tracker: o.tracker.clone(),
                heartbeat: o.heartbeat,
            })
        });
        match made {
            Ok(a) => {
                tracing::info!(camera = %self.key, "object detection ready");
                a
            }
            Err(e) => {
                tracing::error!(camera = %self.key, "object detection unavailable, analysing motion only: {e}");
                self.set_error(format!("object detection unavailable: {e}"));
                a
            }
        }
    }

    /// The motion configuration: the file's, with what the owner's settings say for this camera.
    fn motion_config(&self) -> MotionConfig {
        match self.remote.current() {
            Some(a) => a.motion(&self.store.camera, &self.spec.motion),
            None => self.spec.motion.clone(),
        }
    }

    /// Motion (and the package rule), as validated in `start` (the owner's settings were
    /// validated when accepted; should they still fail, the file's configuration is used).
    fn motion_only(&self) -> Analyser {
        let a = Analyser::new(self.motion_config(), self.spec.fps).unwrap_or_else(|e| {
            tracing::error!(camera = %self.key, "the owner's motion settings do not apply, using the file's: {e}");
            Analyser::new(self.spec.motion.clone(), self.spec.fps).expect("validated in start")
        });
        let a = a.with_max_event(self.store.events.max_event.as_secs_f64()).expect("bounded by the configuration");
        match &self.spec.packages {
            Some(p) => a.with_packages(p.clone()).expect("validated in start"),
            None => a,
        }
    }

    fn run(&self, rx: Receiver<(Frame, i64)>) {
        let mut generation = self.remote.generation();
        let mut in_force = self.motion_config();
        let mut analyser = self.analyser();
        let mut last_entry: Option<Arc<media::frame::SampleEntry>> = None;
        let mut errors = 0u64;
        // The analyser's event keys and their rows: open ones, and recent ones that a
        // continuation may name.
        let mut rows = Rows::default();
        // The latest frame's (stream time, wall-clock arrival), to place events in time.
        let mut anchor = (0.0f64, self.clocks.realtime_90k());
        // After an idle finish, frames are skipped up to a key frame (a fresh decoder).
        let mut await_key = false;
        loop {
            let (frame, wall) = match rx.recv_timeout(IDLE_FINISH) {
                Ok(m) => m,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    // No frames (the camera dropped, or the mode paused analysis) while an
                    // event is open: end it now rather than whenever frames return, so its
                    // clip is sent and the upload queue behind it moves.
                    if !rows.open.is_empty() {
                        tracing::info!(camera = %self.key, "no frames: ending the open events");
                        self.finish(&mut analyser, anchor, &mut rows);
                        analyser = self.analyser();
                        if let Some(entry) = &last_entry
                            && let Err(e) = analyser.set_sample_entry(entry)
                        {
                            self.set_error(e.to_string());
                        }
                        await_key = true;
                    }
                    continue;
                }
            };
            if await_key {
                if !frame.is_key {
                    continue;
                }
                await_key = false;
            }
            // New owner settings that change this camera's motion configuration: finish
            // what is open and start afresh (at a key frame, where the decoder can start).
            if generation != self.remote.generation() && frame.is_key {
                generation = self.remote.generation();
                let next = self.motion_config();
                if !same_motion(&next, &in_force) {
                    tracing::info!(camera = %self.key, sensitivity = next.sensitivity, zones = next.zones.len(), masks = next.masks.len(), "motion settings changed");
                    self.finish(&mut analyser, anchor, &mut rows);
                    in_force = next;
                    analyser = self.analyser();
                    if frame.new_sample_entry.is_none()
                        && let Some(entry) = &last_entry
                        && let Err(e) = analyser.set_sample_entry(entry)
                    {
                        self.set_error(e.to_string());
                    }
                }
            }
            if let Some(entry) = &frame.new_sample_entry {
                last_entry = Some(entry.clone());
            }
            if let Some(entry) = &frame.new_sample_entry
                && let Err(e) = analyser.set_sample_entry(entry)
            {
                tracing::warn!(camera = %self.key, "analysis unavailable: {e}");
                self.set_error(e.to_string());
            }
            let t = frame.pts_90k as f64 / 90_000.0;
            anchor = (t, wall);
            let a = match analyser.push(&frame.data, frame.is_key, t) {
                Ok(Some(a)) => a,
                Ok(None) => continue,
                Err(e) => {
                    errors += 1;
                    // The first error and then one in a hundred, so a broken stream cannot flood the log.
                    if errors % 100 == 1 {
                        tracing::warn!(camera = %self.key, errors, "{e}");
                    }
                    self.set_error(e.to_string());
                    continue;
                }
            };
            if let Some(e) = &a.detector_error {
                errors += 1;
                if errors % 100 == 1 {
                    tracing::warn!(camera = %self.key, errors, "object detector: {e}");
                }
                self.set_error(format!("object detector: {e}"));
            }
            let wall_of = |s: f64| anchor.1 + ((s - anchor.0) * 90_000.0).round() as i64;
            if let Some(change) = a.change {
                self.motion_changed(
                    change,
                    wall_of(match change {
                        Change::Started(s) | Change::Ended(s) => s,
                    }),
                );
            }
            for e in a.started {
                tracing::info!(camera = %self.key, kind = e.kind.name(), "object event started");
                self.notify(Notice::Active {
                    camera: self.store.camera.clone(),
                    kind: e.kind.name().into(),
                    active: true,
                    at_90k: wall_of(e.start),
                });
                self.opened(e, &wall_of, &mut rows);
            }
            for e in a.ended {
                self.finished(e, &wall_of, &mut rows);
            }
        }
        self.finish(&mut analyser, anchor, &mut rows);
    }

    /// Ends whatever motion and events are open (at the end of the stream, or before new
    /// motion settings replace the analyser); `anchor` places stream time on the wall clock.
    fn finish(&self, analyser: &mut Analyser, anchor: (f64, i64), rows: &mut Rows) {
        let (change, ended) = analyser.finish(anchor.0);
        let wall_of = |s: f64| anchor.1 + ((s - anchor.0) * 90_000.0).round() as i64;
        if let Some(c) = change {
            self.motion_changed(c, anchor.1);
        }
        for e in ended {
            self.finished(e, &wall_of, rows);
        }
    }

    fn motion_changed(&self, change: Change, at_90k: i64) {
        let at = format_90k(at_90k);
        let active = matches!(change, Change::Started(_));
        tracing::info!(camera = %self.key, "motion {}", if active { "started" } else { "ended" });
        self.board.update(self.key, |s| {
            let ms = s.motion.get_or_insert_with(Default::default);
            ms.active = active;
            if active {
                ms.events += 1;
                ms.last_start = Some(at);
            } else {
                ms.last_end = Some(at);
            }
        });
        self.notify(Notice::Active { camera: self.store.camera.clone(), kind: "motion".into(), active, at_90k });
    }

    /// The row an event of the analyser makes, as it stands.
    fn row_of(&self, e: &Event, wall_of: &dyn Fn(f64) -> i64, rows: &Rows) -> index::EventRow {
        let (start_90k, end_90k) = (wall_of(e.start), wall_of(e.end).max(wall_of(e.start)));
        let ev = &self.store.events;
        index::EventRow {
            id: 0,
            camera: self.store.camera.clone(),
            kind: e.kind.name().into(),
            label: e.label.clone(),
            start_90k,
            end_90k,
            score: f64::from(e.score).clamp(0.0, 1.0),
            zones: e.zones.clone(),
            clip_start_90k: start_90k - base::clock::duration_to_90k(ev.pre_roll),
            clip_end_90k: end_90k + base::clock::duration_to_90k(ev.post_roll),
            has_snapshot: e.snapshot.is_some(),
            bbox: e.snapshot.as_ref().and_then(|s| s.bbox).map(|b| [b.x0, b.y0, b.x1, b.y1]),
            uploaded: false,
            open: false,
            // The upload worker seals its start, or marks it as having none to send.
            start_sealed: false,
            continues: e.continues.and_then(|k| rows.row(k)),
        }
    }

    /// An object event became worth an alert: stored open at once, with its snapshot so
    /// far, so that its start reaches the server while it goes on.
    fn opened(&self, e: Event, wall_of: &dyn Fn(f64) -> i64, rows: &mut Rows) {
        let row = index::EventRow { open: true, ..self.row_of(&e, wall_of, rows) };
        match store_event(self.store, row, &e, self.store.events.snapshot_quality) {
            Ok(row) => {
                tracing::info!(camera = %self.key, id = row.id, kind = %row.kind, "event started");
                rows.insert(e.key, row.id);
                rows.mark_open(e.key);
                self.store.upload_bell.notify_one();
            }
            Err(err) => {
                tracing::error!(camera = %self.key, "storing an event's start: {err}");
                self.set_error(format!("storing an event: {err}"));
            }
        }
    }

    fn finished(&self, e: Event, wall_of: &dyn Fn(f64) -> i64, rows: &mut Rows) {
        if let EventKind::Object(_) = e.kind {
            self.notify(Notice::Active {
                camera: self.store.camera.clone(),
                kind: e.kind.name().into(),
                active: false,
                at_90k: wall_of(e.end).max(wall_of(e.start)),
            });
        }
        let row = self.row_of(&e, wall_of, rows);
        let done = match rows.open_row(e.key) {
            Some(id) => finish_event(self.store, index::EventRow { id, ..row }, &e, self.store.events.snapshot_quality),
            None => store_event(self.store, row, &e, self.store.events.snapshot_quality),
        };
        match done {
            Ok(row) => {
                tracing::info!(
                    camera = %self.key, id = row.id, kind = %row.kind, label = %row.label,
                    seconds = (row.end_90k - row.start_90k) as f64 / 90_000.0, "event"
                );
                rows.insert(e.key, row.id);
                rows.close(e.key);
                self.store.upload_bell.notify_one();
                self.notify(Notice::Event(row));
            }
            Err(err) => {
                tracing::error!(camera = %self.key, "storing an event: {err}");
                self.set_error(format!("storing an event: {err}"));
            }
        }
    }
}

/// The analyser's event keys and their rows in the index: those open, and the most recent
/// ones (a continuation names the event it continues by key).
#[derive(Default)]
struct Rows {
    recent: std::collections::BTreeMap<u64, i64>,
    open: std::collections::BTreeSet<u64>,
}

impl Rows {
    const RECENT: usize = 64;

    /// Remembers `key`'s row; beyond `RECENT` keys the oldest closed one is forgotten (an
    /// open one never: its end must find its row).
    fn insert(&mut self, key: u64, row: i64) {
        self.recent.insert(key, row);
        while self.recent.len() > Self::RECENT {
            let Some(&old) = self.recent.keys().find(|k| !self.open.contains(k)) else { break };
            self.recent.remove(&old);
        }
    }

    fn row(&self, key: u64) -> Option<i64> {
        self.recent.get(&key).copied()
    }

    fn open_row(&self, key: u64) -> Option<i64> {
        self.open.contains(&key).then(|| self.row(key)).flatten()
    }

    fn mark_open(&mut self, key: u64) {
        self.open.insert(key);
    }

    fn close(&mut self, key: u64) {
        self.open.remove(&key);
    }
}

/// Finishes an open event's row: the final snapshot replaces the one so far (written
/// whole and synced before the row changes), then the row takes the end, label, score,
/// zones and clip range.
pub fn finish_event(store: &Store, row: index::EventRow, e: &Event, quality: u8) -> Result<index::EventRow, Error> {
    let jpeg = match &e.snapshot {
        Some(s) => Some(detect::snapshot::jpeg(&s.picture, quality)?),
        None => None,
    };
    let conn = store.db.lock().expect("db mutex");
    let mut row = row;
    // The start's snapshot stays when the end has none.
    let had = index::get_event(&conn, row.id)?.is_some_and(|r| r.has_snapshot);
    if let Some(j) = &jpeg {
        crate::sealing::replace_file(&store.layout.snapshot(row.id), j)?;
    }
    row.has_snapshot = jpeg.is_some() || had;
    if !index::finish_event(&conn, &row)? {
        base::bail!(FailedPrecondition, "event {} was not open", row.id);
    }
    Ok(index::get_event(&conn, row.id)?.unwrap_or(row))
}

/// Writes the snapshot (if any), then the row: a row never names a snapshot that is not on
/// disk. Returns the stored row.
pub fn store_event(store: &Store, row: index::EventRow, e: &Event, quality: u8) -> Result<index::EventRow, Error> {
    let jpeg = match &e.snapshot {
        Some(s) => Some(detect::snapshot::jpeg(&s.picture, quality)?),
        None => None,
    };
    store_row(&store.layout, &store.db, row, jpeg.as_deref())
}

/// Stores an event row with its snapshot JPEG, the JPEG first: written whole, fsynced,
/// renamed into place and its folder fsynced before the row commits, so that a row never
/// names a snapshot a power cut lost. Returns the row with its id.
pub fn store_row(
    layout: &Layout,
    db: &Mutex<index::Connection>,
    mut row: index::EventRow,
    jpeg: Option<&[u8]>,
) -> Result<index::EventRow, Error> {
    row.has_snapshot = jpeg.is_some();
    let conn = db.lock().expect("db mutex");
    let id = index::next_event_id(&conn)?;
    if let Some(j) = jpeg {
        let dir = layout.snapshots();
        std::fs::create_dir_all(&dir).err_kind(ErrorKind::Internal, || format!("creating {}", dir.display()))?;
        crate::sealing::replace_file(&layout.snapshot(id), j)?;
    }
    let got = index::insert_event(&conn, &row)?;
    debug_assert_eq!(got, id);
    row.id = got;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::Rows;

    /// An open event's row is never forgotten, however many events end while it goes on.
    #[test]
    fn an_open_event_keeps_its_row() {
        let mut rows = Rows::default();
        rows.insert(1, 10);
        rows.mark_open(1);
        for k in 2..500 {
            rows.insert(k, k as i64 * 10);
            rows.close(k);
        }
        assert_eq!(rows.open_row(1), Some(10));
        assert!(rows.recent.len() <= Rows::RECENT + 1);
        assert_eq!(rows.row(499), Some(4990), "the newest closed ones are kept for continuations");
        assert_eq!(rows.row(2), None);
        rows.close(1);
        assert_eq!(rows.open_row(1), None);
    }
}
