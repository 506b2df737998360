//! Motion analysis of one camera stream, on its own thread.
//!
//! The streamer hands every frame of the analysed stream (the sub-stream when there is
//! one) to a bounded queue; this thread decodes them all (H.264 needs every frame), runs
//! the motion detector on `fps` of them per second, turns the result into motion events
//! with hysteresis, and reports them in `status.json` and the log. Decoding is CPU work, so
//! it never runs on the ingest runtime; when the thread falls behind, the queue is full and
//! frames are dropped for analysis only (the recording is unaffected), and decoding resumes
//! at the next key frame.
//!
//! Object detection and stored events with clips come later (issue 4); this is their
//! motion gate.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use base::clock::{Clocks, format_90k};
use base::{Error, ErrorKind, ResultExt};
use detect::analyser::Analyser;
use detect::events::Change;
use detect::motion::MotionConfig;
use media::Frame;

use crate::status::{MotionStatus, StatusBoard};

/// Frames queued for analysis before new ones are dropped (about 2 s at 30 fps).
const QUEUE_FRAMES: usize = 64;

#[derive(Clone, Debug)]
pub struct AnalysisSpec {
    pub motion: MotionConfig,
    /// Frames analysed per second (1..=30).
    pub fps: u32,
}

/// The streamer's end: hands frames over without ever blocking.
pub struct FrameSink {
    tx: Option<SyncSender<Frame>>,
    /// Set when a frame was dropped: the decoder must restart at a key frame.
    gap: bool,
}

impl FrameSink {
    pub fn offer(&mut self, f: &Frame) {
        let Some(tx) = &self.tx else { return };
        if self.gap && !f.is_key {
            return;
        }
        match tx.try_send(f.clone()) {
            Ok(()) => self.gap = false,
            Err(TrySendError::Full(_)) => self.gap = true,
            Err(TrySendError::Disconnected(_)) => self.tx = None,
        }
    }
}

/// Starts the analysis thread for stream `key`.
pub fn start(
    key: String,
    spec: AnalysisSpec,
    board: StatusBoard,
    clocks: Arc<dyn Clocks>,
) -> Result<(FrameSink, JoinHandle<()>), Error> {
    // Validate the configuration now, so a bad one fails the start, not the thread.
    Analyser::new(spec.motion.clone(), spec.fps).map_err(|e| Error::new(e.kind(), format!("{key}: {e}")))?;
    let (tx, rx) = sync_channel(QUEUE_FRAMES);
    board.update(&key, |s| s.motion = Some(MotionStatus::default()));
    let thread = std::thread::Builder::new()
        .name(format!("analysis {key}"))
        .spawn(move || run(&key, &spec, &board, clocks.as_ref(), rx))
        .err_kind(ErrorKind::Internal, || "starting an analysis thread")?;
    Ok((FrameSink { tx: Some(tx), gap: false }, thread))
}

fn run(key: &str, spec: &AnalysisSpec, board: &StatusBoard, clocks: &dyn Clocks, rx: Receiver<Frame>) {
    let mut analyser = Analyser::new(spec.motion.clone(), spec.fps).expect("validated in start");
    let mut errors = 0u64;
    let set_error =
        |msg: String| board.update(key, |s| s.motion.get_or_insert_with(Default::default).last_error = Some(msg));
    for frame in rx {
        if let Some(entry) = &frame.new_sample_entry
            && let Err(e) = analyser.set_sample_entry(entry)
        {
            tracing::warn!(camera = %key, "motion detection unavailable: {e}");
            set_error(e.to_string());
        }
        let a = match analyser.push(&frame.data, frame.is_key, frame.pts_90k as f64 / 90_000.0) {
            Ok(Some(a)) => a,
            Ok(None) => continue,
            Err(e) => {
                errors += 1;
                // The first error and then one in a hundred, so a broken stream cannot flood the log.
                if errors % 100 == 1 {
                    tracing::warn!(camera = %key, errors, "{e}");
                }
                set_error(e.to_string());
                continue;
            }
        };
        let Some(change) = a.change else { continue };
        let at = format_90k(clocks.realtime_90k());
        match change {
            Change::Started(_) => {
                tracing::info!(camera = %key, zones = ?a.motion.zones, "motion started");
                board.update(key, |s| {
                    let ms = s.motion.get_or_insert_with(Default::default);
                    ms.active = true;
                    ms.events += 1;
                    ms.last_start = Some(at);
                });
            }
            Change::Ended(_) => {
                tracing::info!(camera = %key, "motion ended");
                board.update(key, |s| {
                    let ms = s.motion.get_or_insert_with(Default::default);
                    ms.active = false;
                    ms.last_end = Some(at);
                });
            }
        }
    }
    if analyser.finish(0.0).0.is_some() {
        board.update(key, |s| {
            if let Some(ms) = s.motion.as_mut() {
                ms.active = false;
            }
        });
    }
}
