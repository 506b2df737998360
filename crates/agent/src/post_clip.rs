//! Clips for neighbourhood posts, prepared here because only the agent holds footage.
//!
//! A member's browser asks through the server (a signed live-view request with a time range
//! and what to blur). The agent exports the range without re-encoding, redacts it with
//! `detect::redact` (people, faces and text pixelated, the privacy masks in force black, no
//! audio), declares the result's SHA-256 to the server (which then accepts exactly those
//! bytes as a post's clip), and streams the clip sealed for the browser's session key. The
//! owner previews it and decides whether to post it.
//!
//! The main stream is used when it decodes (no B-frames); otherwise the sub-stream, which
//! always shows the same scene.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use base::{Error, ErrorKind, bail};
use detect::redact::plan::Kind;
use detect::redact::{Options, Redactor};
use detect::zone::Polygon;
use index::{Connection, StreamKind};
use sha2::{Digest, Sha256};

use crate::layout::Layout;

/// The largest clip a post takes (the server's `blob::CHUNK_BYTES_MAX`).
pub const POST_BYTES_MAX: u64 = 8 << 20;

/// What was prepared, sent to the browser (sealed) ahead of the clip's bytes.
pub type Made = wire::PreparedClip;

/// What preparing needs from the rest of the agent.
pub struct Posting {
    pub layout: Layout,
    pub conn: Arc<Mutex<Connection>>,
    pub remote: crate::remote::Remote,
    /// Each camera's privacy masks from the configuration file (the owner's settings
    /// replace them when they name some).
    pub config_masks: HashMap<String, Vec<Polygon>>,
    /// Loaded at the first clip (most agents never prepare one); one clip at a time, which
    /// also keeps preparing to one core beside the recording.
    redactor: Mutex<Option<Redactor>>,
}

impl Posting {
    pub fn new(
        layout: Layout,
        conn: Arc<Mutex<Connection>>,
        remote: crate::remote::Remote,
        config_masks: HashMap<String, Vec<Polygon>>,
    ) -> Posting {
        Posting { layout, conn, remote, config_masks, redactor: Mutex::new(None) }
    }

    /// The privacy masks in force for `camera`: the owner's, else the configuration file's.
    pub fn masks(&self, camera: &str) -> Vec<Polygon> {
        let base = detect::motion::MotionConfig {
            masks: self.config_masks.get(camera).cloned().unwrap_or_default(),
            ..Default::default()
        };
        match self.remote.current() {
            Some(a) => a.motion(camera, &base).masks,
            None => base.masks,
        }
    }

    /// Prepares the clip (blocking: seconds to a minute); returns its description and bytes.
    pub fn prepare(&self, camera: &str, ask: &wire::PrepareJson) -> Result<(Made, Vec<u8>), Error> {
        let started = std::time::Instant::now();
        if ask.end_ms <= ask.start_ms || ask.end_ms - ask.start_ms > 120_000 {
            bail!(InvalidArgument, "prepare: the range must be 0 to 120 s long");
        }
        let streams = {
            let conn = self.conn.lock().expect("agent db");
            [StreamKind::Main, StreamKind::Sub]
                .into_iter()
                .filter_map(|k| index::find_stream(&conn, camera, k).transpose().map(|r| r.map(|id| (k, id))))
                .collect::<Result<Vec<_>, Error>>()?
        };
        if streams.is_empty() {
            bail!(NotFound, "prepare: this agent records no camera {camera:?}");
        }
        let masks = self.masks(camera);
        let opts = Options {
            people: ask.people,
            faces: ask.faces,
            text: ask.text,
            masks: masks.clone(),
            // The export starts at the key frame at or before the range.
            max_seconds: 120.0 + 10.0,
            max_bytes: Some(POST_BYTES_MAX),
            ..Options::default()
        };
        let mut guard = self.redactor.lock().expect("redactor");
        if guard.is_none() {
            *guard = Some(Redactor::installed()?);
        }
        let redactor = guard.as_mut().expect("just loaded");
        let n = std::process::id();
        let tmp = |what: &str| -> PathBuf { self.layout.post_clip_work(n, what) };
        let (src, out) = (tmp("source"), tmp("redacted"));
        let mut last_err = None;
        for (kind, stream_id) in streams {
            let r = (|| -> Result<(Made, Vec<u8>), Error> {
                let ex = {
                    let conn = self.conn.lock().expect("agent db");
                    // The sound is placed by wall time, so it goes with either stream; kept
                    // (as a browser plays it) only when asked, else looked at only to say it
                    // was left out.
                    let sound = match index::find_stream(&conn, camera, StreamKind::Audio)? {
                        Some(a) if ask.keep_audio => crate::export::Sound::ForBrowser(a),
                        Some(a) => crate::export::Sound::AsRecorded(a),
                        None => crate::export::Sound::None,
                    };
                    crate::export::export_with_sound(
                        &conn,
                        &self.layout,
                        stream_id,
                        ask.start_ms * 90,
                        ask.end_ms * 90,
                        false,
                        sound,
                    )?
                };
                let audio_recorded = ex.audio_samples > 0;
                let mut opts = opts.clone();
                opts.audio = ex.audio.clone().filter(|_| ask.keep_audio);
                let audio = opts.audio.is_some();
                let mut f =
                    std::fs::File::create(&src).map_err(|e| base::err!(Internal, "creating {}: {e}", src.display()))?;
                ex.plan.write_to(&mut f).map_err(|e| base::err!(Internal, "writing {}: {e}", src.display()))?;
                drop(f);
                let report = redactor.prepare(&src, &out, &opts)?;
                let bytes = std::fs::read(&out).map_err(|e| base::err!(Internal, "reading {}: {e}", out.display()))?;
                let sha256 = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect::<String>();
                Ok((
                    Made {
                        sha256,
                        size_bytes: bytes.len() as u64,
                        camera: camera.to_owned(),
                        stream: kind.as_str().to_owned(),
                        start_ms: ask.start_ms,
                        end_ms: ask.end_ms,
                        frames: report.frames,
                        width: report.width,
                        height: report.height,
                        duration_s: report.duration,
                        people: ask.people,
                        faces: ask.faces,
                        text: ask.text,
                        frames_with_people: report.frames_with(Kind::Person),
                        frames_with_faces: report.frames_with(Kind::Face),
                        frames_with_text: report.frames_with(Kind::Text),
                        masks: masks.len(),
                        audio,
                        audio_recorded,
                        seconds_taken: started.elapsed().as_secs_f64(),
                        object_id: None,
                    },
                    bytes,
                ))
            })();
            let _ = std::fs::remove_file(&src);
            let _ = std::fs::remove_file(&out);
            match r {
                Ok(done) => return Ok(done),
                // A main stream with B-frames: the sub-stream shows the same scene.
                Err(e) if e.kind() == ErrorKind::InvalidArgument && kind == StreamKind::Main => {
                    tracing::info!(camera, "preparing a clip from the sub-stream: {e}");
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| base::err!(NotFound, "prepare: no stream to prepare from")))
    }
}
