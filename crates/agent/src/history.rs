//! The day view from the agent's side: a member asks (through the server, with a signed
//! live-view request) for the runs a camera recorded over a stretch and, optionally, for
//! the footage from a moment. The agent answers only inside what the signer may see
//! (`Trust::footage_window`: everything for the owner, the roster window for a member),
//! whatever the relayed ask says: the server cannot widen a guest's view.
//!
//! The answer is sealed for the request's session key like live view (`crypto::live`): a
//! first message, [`wire::HistoryReply`] as JSON, then the footage as a fragmented MP4 in
//! pieces of at most [`PIECE_BYTES`], exported from the recording without re-encoding. The
//! footage starts at the key frame at or before the moment (so its first picture decodes
//! at once) and ends at the end of that run, of the member's window, or [`PLAY_MAX`] later;
//! the app asks again from there. After the first [`LEAD`] of footage it is sent at
//! [`PACE`] times real time, so that a long answer neither floods the browser's buffer
//! nor holds the disk.

use std::io::Write;
use std::time::{Duration, Instant};

use base::{Error, ErrorKind, bail};
use index::{Connection, StreamKind};
use wire::{HistoryAsk, HistoryPlay, HistoryReply, RecordedRun};

use crate::layout::Layout;

/// The longest stretch of footage one answer carries.
pub const PLAY_MAX: Duration = Duration::from_secs(600);
/// Footage sent at once, before pacing starts.
pub const LEAD: Duration = Duration::from_secs(10);
/// How much faster than real time the rest is sent.
pub const PACE: f64 = 2.0;
/// The plaintext size of each sealed piece of footage.
pub const PIECE_BYTES: usize = 256 << 10;

/// The runs recorded on `camera`'s main stream that overlap `[from_ms, until_ms)`,
/// clipped to it.
pub fn runs(conn: &Connection, camera: &str, from_ms: i64, until_ms: i64) -> Result<Vec<RecordedRun>, Error> {
    let Some(stream) = index::find_stream(conn, camera, StreamKind::Main)? else {
        bail!(NotFound, "history: this agent records no camera {camera:?}");
    };
    let (from, until) = (from_ms.saturating_mul(90), until_ms.saturating_mul(90));
    Ok(index::runs_in_range(conn, stream, from, until)?
        .into_iter()
        .map(|(_, start, end)| RecordedRun { start_ms: start.max(from) / 90, end_ms: (end.min(until) + 89) / 90 })
        .filter(|r| r.end_ms > r.start_ms)
        .collect())
}

/// What to send for `ask` on `camera` to a signer who may see `[window.0, window.1)`.
pub struct Answer {
    pub reply: HistoryReply,
    pub footage: Option<Footage>,
}

/// The footage's bytes, to be written out (pieces of files, read as they are written).
pub struct Footage {
    pub plan: media::mp4::mux::Plan,
    pub seconds: f64,
}

/// Decides the answer: the runs inside the window and, when a moment is asked for and the
/// window covers it, the footage from there. A moment outside the window is refused (in
/// the reply's `error`), not moved.
pub fn answer(
    conn: &Connection,
    layout: &Layout,
    camera: &str,
    ask: &HistoryAsk,
    window: (i64, i64),
) -> Result<Answer, Error> {
    ask.check()?;
    let (from, until) = (ask.from_ms.max(window.0), ask.until_ms.min(window.1));
    let runs = if from < until { runs(conn, camera, from, until)? } else { Vec::new() };
    let mut reply = HistoryReply { camera: camera.to_owned(), runs, play: None, error: None };
    let Some(at) = ask.play_ms else { return Ok(Answer { reply, footage: None }) };
    if !(window.0..window.1).contains(&at) {
        reply.error = Some("that moment is outside the footage your role may see".into());
        return Ok(Answer { reply, footage: None });
    }
    let Some(run) = reply.runs.iter().find(|r| r.end_ms > at).copied() else {
        reply.error = Some("nothing was recorded at or after that moment".into());
        return Ok(Answer { reply, footage: None });
    };
    // The run holding the moment, or the next one when it falls in a gap.
    let start = at.max(run.start_ms);
    let play_max_ms = PLAY_MAX.as_millis() as i64;
    let end = run.end_ms.min(window.1).min(start.saturating_add(play_max_ms));
    let Some(stream) = index::find_stream(conn, camera, StreamKind::Main)? else {
        bail!(NotFound, "history: this agent records no camera {camera:?}");
    };
    let floor = window.0.saturating_mul(90).max(run.start_ms.saturating_mul(90));
    // The camera's recorded sound plays along where it is AAC (G.711 would need converting
    // ten minutes before the first byte could go).
    let sound = match index::find_stream(conn, camera, StreamKind::Audio)? {
        Some(a) => crate::export::Sound::ForBrowserAsIs(a),
        None => crate::export::Sound::None,
    };
    let e = match crate::export::export_from(conn, layout, stream, start * 90, end * 90, true, floor, sound) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            reply.error = Some("nothing was recorded at or after that moment".into());
            return Ok(Answer { reply, footage: None });
        }
        Err(e) => return Err(e),
    };
    let seconds = (e.end_90k - e.start_90k) as f64 / 90_000.0;
    reply.play = Some(HistoryPlay {
        asked_ms: at,
        start_ms: e.start_90k / 90,
        end_ms: (e.end_90k + 89) / 90,
        bytes: e.plan.len(),
    });
    Ok(Answer { reply, footage: Some(Footage { plan: e.plan, seconds }) })
}

/// Writes `footage` into sealed pieces sent on `out` (blocking: call on a blocking thread),
/// paced as the module says. Ends early, without error, when the receiver is gone.
pub fn send(
    footage: &Footage,
    sealer: &mut crypto::live::LiveSealer,
    out: &tokio::sync::mpsc::Sender<Vec<u8>>,
) -> Result<(), Error> {
    let total = footage.plan.len().max(1) as f64;
    let bytes_per_s = total / footage.seconds.max(0.1);
    let mut w =
        Pieces { buf: Vec::with_capacity(PIECE_BYTES), sealer, out, sent: 0, started: Instant::now(), bytes_per_s };
    match footage.plan.write_to(&mut w).and_then(|_| w.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::wrap(ErrorKind::Internal, "history: reading the recording", e)),
    }
}

struct Pieces<'a> {
    buf: Vec<u8>,
    sealer: &'a mut crypto::live::LiveSealer,
    out: &'a tokio::sync::mpsc::Sender<Vec<u8>>,
    sent: u64,
    started: Instant,
    bytes_per_s: f64,
}

impl Pieces<'_> {
    fn ship(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        // Pace: LEAD seconds' worth at once, then PACE times real time.
        let allowed = |elapsed: f64| self.bytes_per_s * (LEAD.as_secs_f64() + PACE * elapsed);
        let ahead = self.sent as f64 - allowed(self.started.elapsed().as_secs_f64());
        if ahead > 0.0 {
            std::thread::sleep(Duration::from_secs_f64((ahead / (self.bytes_per_s * PACE)).min(5.0)));
        }
        let sealed = self.sealer.seal(&self.buf).map_err(|e| std::io::Error::other(e.to_string()))?;
        self.sent += self.buf.len() as u64;
        self.buf.clear();
        self.out.blocking_send(sealed).map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
}

impl Write for Pieces<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = b.len().min(PIECE_BYTES - self.buf.len());
        self.buf.extend_from_slice(&b[..n]);
        if self.buf.len() == PIECE_BYTES {
            self.ship()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.ship()
    }
}
