//! Per-stream status: what each camera is doing and why, for logs, `status.json` and later
//! the web UI.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base::Error;
use base::clock::format_90k;
use serde::Serialize;

/// What a camera's recorder is doing (the same states the server is told).
pub use wire::CameraState as State;

#[derive(Clone, Debug, Serialize)]
pub struct LastError {
    pub kind: String,
    pub message: String,
    pub at: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct StreamStatus {
    pub camera: String,
    pub stream: String,
    pub source: String,
    pub state: State,
    pub since: String,
    /// `since` as a 90 kHz wall-clock time (what the agent reports to its server).
    #[serde(skip)]
    pub since_90k: i64,
    pub attempts: u32,
    pub frames_recorded: u64,
    pub last_error: Option<LastError>,
    /// Present when motion detection analyses this stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub motion: Option<MotionStatus>,
}

/// Motion detection on a stream, as `status.json` shows it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MotionStatus {
    /// Motion is going on now.
    pub active: bool,
    /// Motion events since the agent started.
    pub events: u64,
    pub last_start: Option<String>,
    pub last_end: Option<String>,
    /// The latest decoding or detection problem (recording is unaffected).
    pub last_error: Option<String>,
}

/// Shared table of stream statuses keyed by `camera/stream`, and what is known of each
/// camera's speaker.
#[derive(Clone, Default)]
pub struct StatusBoard(Arc<Mutex<BTreeMap<String, StreamStatus>>>, Arc<Mutex<BTreeMap<String, bool>>>);

impl StatusBoard {
    pub fn update(&self, key: &str, f: impl FnOnce(&mut StreamStatus)) {
        if let Some(s) = self.0.lock().expect("status").get_mut(key) {
            f(s);
        }
    }

    pub fn insert(&self, key: String, s: StreamStatus) {
        self.0.lock().expect("status").insert(key, s);
    }

    pub fn set_state(&self, key: &str, state: State, now_90k: i64) {
        self.update(key, |s| {
            if s.state != state {
                s.state = state;
                s.since = format_90k(now_90k);
                s.since_90k = now_90k;
            }
        });
    }

    pub fn set_error(&self, key: &str, e: &Error, now_90k: i64) {
        self.update(key, |s| {
            s.last_error =
                Some(LastError { kind: e.kind().to_string(), message: e.to_string(), at: format_90k(now_90k) });
        });
    }

    /// Records whether the agent can play sound through `camera`'s speaker.
    pub fn set_speaker(&self, camera: &str, has: bool) {
        self.1.lock().expect("status").insert(camera.to_owned(), has);
    }

    /// Whether the agent can play sound through `camera`: `None` until it is known (a
    /// camera not yet asked, or that could not be).
    pub fn speaker(&self, camera: &str) -> Option<bool> {
        self.1.lock().expect("status").get(camera).copied()
    }

    pub fn snapshot(&self) -> Vec<StreamStatus> {
        self.0.lock().expect("status").values().cloned().collect()
    }

    /// Each camera's state as its server sees it: the main stream's, else the sub-stream's.
    pub fn cameras(&self) -> Vec<(String, State, i64)> {
        let mut out: BTreeMap<String, (bool, State, i64)> = BTreeMap::new();
        for s in self.0.lock().expect("status").values() {
            let main = s.stream == "main";
            let e = out.entry(s.camera.clone()).or_insert((main, s.state, s.since_90k));
            if main && !e.0 {
                *e = (true, s.state, s.since_90k);
            }
        }
        out.into_iter().map(|(c, (_, st, since))| (c, st, since)).collect()
    }

    /// Writes the board and the background workers' state as JSON to `path` atomically
    /// (`layout::write_atomic`, not synced: it is rewritten every second).
    pub fn write(&self, path: &std::path::Path, workers: &[base::worker::WorkerStatus]) -> Result<(), base::Error> {
        let doc = AgentStatus { streams: self.snapshot(), workers: workers.iter().map(WorkerJson::from).collect() };
        let json = serde_json::to_vec_pretty(&doc).expect("the status serializes");
        crate::layout::write_atomic(path, &json, crate::layout::Durability::Replaced)
    }
}

/// `status.json`: every stream's state and every background worker's.
#[derive(Serialize)]
pub struct AgentStatus {
    pub streams: Vec<StreamStatus>,
    pub workers: Vec<WorkerJson>,
}

/// A background worker as `status.json` shows it.
#[derive(Serialize)]
pub struct WorkerJson {
    pub name: &'static str,
    pub passes: u64,
    pub failures: u64,
    pub done: u64,
    /// When the last pass that succeeded ended (RFC 3339).
    pub last_success: Option<String>,
    /// The last failure since the last success.
    pub last_error: Option<String>,
    pub last_pass_ms: u64,
}

impl From<&base::worker::WorkerStatus> for WorkerJson {
    fn from(w: &base::worker::WorkerStatus) -> WorkerJson {
        WorkerJson {
            name: w.name,
            passes: w.passes,
            failures: w.failures,
            done: w.done,
            last_success: w.last_success_ms.map(|ms| format_90k(ms * 90)),
            last_error: w.last_error.as_ref().map(|(ms, e)| format!("{}: {e}", format_90k(ms * 90))),
            last_pass_ms: w.last_pass_ms,
        }
    }
}

/// Writes `status.json` every second (a background worker).
pub struct Writer {
    pub board: StatusBoard,
    pub path: std::path::PathBuf,
    pub workers: base::worker::StatusHandle,
}

impl base::worker::Worker for Writer {
    fn name(&self) -> &'static str {
        "status"
    }

    fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }

    async fn pass(&mut self) -> Result<u64, Error> {
        self.board.write(&self.path, &self.workers.status())?;
        Ok(0)
    }
}
