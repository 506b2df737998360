//! Live view from the agent's side: each camera's main stream is offered to live sessions as
//! it arrives (whether or not the mode records it), and a session muxes it into fragmented
//! MP4 — an init segment, then one fragment per frame so the browser shows each as soon as
//! it can — seals every segment for the browser's session key (`crypto::live`) and streams
//! them to the server, which relays them to that browser only.
//!
//! A session starts only for a request that a member of the owner's roster (or the owner)
//! signed within the last minute (`Trust::check_live`): the server, which relays requests,
//! cannot have the agent stream to a key of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base::{Error, ErrorKind, bail};
use media::frame::{Frame, SampleEntry};
use media::index::FrameInfo;
use media::mp4::mux::{self, BodyRange, Part, Piece};
use media::reorder::{Reorderer, Timed};
use tokio::sync::broadcast;

use crate::layout::Layout;
use crate::sealing;

/// The longest a session runs; the browser asks again to go on.
pub const SESSION_MAX: Duration = Duration::from_secs(600);
/// Frames buffered per session before a slow one skips ahead to the next key frame.
const QUEUE_FRAMES: usize = 256;

/// A frame and the wall time it arrived (Unix ms).
type Arrived = (Frame, i64);

/// One camera's frames, for whoever is watching.
pub struct Feed {
    /// Each frame with the wall time it arrived (Unix ms).
    tx: broadcast::Sender<Arrived>,
    entry: Mutex<Option<Arc<SampleEntry>>>,
    /// The frames since the latest key frame, so that a new session starts at once instead
    /// of waiting up to a key-frame interval for the camera's next one.
    gop: Mutex<Gop>,
}

#[derive(Default)]
struct Gop {
    frames: Vec<Arrived>,
    bytes: usize,
    /// Starts at a key frame of the current connection, and has not overflowed.
    valid: bool,
}

/// A group of pictures longer than this is not kept (sessions wait for the next key frame).
const GOP_FRAMES_MAX: usize = 300;
const GOP_BYTES_MAX: usize = 16 << 20;

impl Feed {
    fn new() -> Feed {
        Feed { tx: broadcast::channel(QUEUE_FRAMES).0, entry: Mutex::new(None), gop: Mutex::new(Gop::default()) }
    }

    /// Called by the camera's streamer for every frame it receives.
    pub fn publish(&self, f: &Frame) {
        let arrived = wall_ms();
        if let Some(e) = &f.new_sample_entry {
            *self.entry.lock().expect("live entry") = Some(e.clone());
        }
        // Under the lock, so that `subscribe` sees every frame once: cached or sent.
        let mut g = self.gop.lock().expect("live gop");
        if f.is_key {
            *g = Gop { frames: Vec::new(), bytes: 0, valid: true };
        }
        if g.valid {
            if g.frames.len() >= GOP_FRAMES_MAX || g.bytes + f.data.len() > GOP_BYTES_MAX {
                *g = Gop::default();
            } else {
                g.bytes += f.data.len();
                g.frames.push((f.clone(), arrived));
            }
        }
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send((f.clone(), arrived));
        }
    }

    /// The camera's connection ended: what is cached is no longer current.
    pub fn disconnected(&self) {
        *self.gop.lock().expect("live gop") = Gop::default();
    }

    /// The current group of pictures (from its key frame; empty when there is none) and
    /// every frame after it.
    fn subscribe(&self) -> (Vec<Arrived>, broadcast::Receiver<Arrived>) {
        let g = self.gop.lock().expect("live gop");
        (if g.valid { g.frames.clone() } else { Vec::new() }, self.tx.subscribe())
    }
}

impl Feed {
    /// The frames from the latest key frame up to the newest, with the codec parameters
    /// that decode them: the picture of this very moment, without waiting for the camera's
    /// next key frame. `None` when nothing current is cached.
    pub fn current_gop(&self) -> Option<(Arc<SampleEntry>, Vec<Frame>)> {
        let frames = {
            let g = self.gop.lock().expect("live gop");
            if !g.valid || g.frames.is_empty() {
                return None;
            }
            g.frames.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>()
        };
        let e = frames[0].new_sample_entry.clone().or_else(|| self.entry.lock().expect("live entry").clone())?;
        Some((e, frames))
    }

    /// The next key frame to arrive, with the codec parameters that decode it; `None` when
    /// none comes within `wait` (the camera is offline) or the feed ends.
    pub async fn next_key_frame(&self, wait: Duration) -> Option<(Arc<SampleEntry>, Frame)> {
        let mut rx = self.tx.subscribe();
        let next = async {
            loop {
                match rx.recv().await {
                    Ok((f, _)) if f.is_key => {
                        let e = f.new_sample_entry.clone().or_else(|| self.entry.lock().expect("live entry").clone());
                        return e.map(|e| (e, f));
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        };
        tokio::time::timeout(wait, next).await.ok().flatten()
    }
}

/// Every camera's feed, by camera name: its main stream, and its sub-stream where it has
/// one (the live grid watches those: a quarter of the pixels, several at once).
#[derive(Clone, Default)]
pub struct Hub {
    feeds: Arc<HashMap<String, Arc<Feed>>>,
    subs: Arc<HashMap<String, Arc<Feed>>>,
}

impl Hub {
    /// `cameras`: each camera's name and whether it has a sub-stream.
    pub fn new(cameras: impl IntoIterator<Item = (String, bool)>) -> Hub {
        let (mut feeds, mut subs) = (HashMap::new(), HashMap::new());
        for (c, sub) in cameras {
            if sub {
                subs.insert(c.clone(), Arc::new(Feed::new()));
            }
            feeds.insert(c, Arc::new(Feed::new()));
        }
        Hub { feeds: Arc::new(feeds), subs: Arc::new(subs) }
    }

    pub fn feed(&self, camera: &str) -> Option<Arc<Feed>> {
        self.feeds.get(camera).cloned()
    }

    /// The camera's sub-stream, or its main stream when it has none.
    pub fn sub_feed(&self, camera: &str) -> Option<Arc<Feed>> {
        self.subs.get(camera).cloned().or_else(|| self.feed(camera))
    }

    /// This hub with each camera's sub-stream (where it has one) in place of its main
    /// stream: what a live-grid session watches.
    pub fn sub_view(&self) -> Hub {
        let feeds = self.feeds.keys().filter_map(|c| self.sub_feed(c).map(|f| (c.clone(), f))).collect();
        Hub { feeds: Arc::new(feeds), subs: Arc::new(HashMap::new()) }
    }

    /// The sub-stream's own feed, for its streamer to publish to (none without one).
    pub fn sub_only(&self, camera: &str) -> Option<Arc<Feed>> {
        self.subs.get(camera).cloned()
    }
}

/// A relayed request, parsed (its signature checked), and the trust file to judge it by.
fn parse_with_trust(
    layout: &Layout,
    request: &[u8],
) -> Result<(crypto::live::LiveRequest, crypto::trust::Trust), Error> {
    let q = crypto::live::LiveRequest::parse(request).map_err(sealing::from_crypto)?;
    let Some(trust) = sealing::load_trust(layout)? else {
        bail!(FailedPrecondition, "live: not paired with an owner");
    };
    Ok((q, trust))
}

/// Checks a relayed request against the trust file: who signed it, for which household, when.
pub fn check(layout: &Layout, request: &[u8], now_ms: i64) -> Result<crypto::live::LiveRequest, Error> {
    let (q, trust) = parse_with_trust(layout, request)?;
    trust.check_live(&q, now_ms).map_err(sealing::from_crypto)?;
    Ok(q)
}

/// Checks a relayed request as [`check`] does, and returns the stretch of recorded time its
/// signer may see (`Trust::footage_window`).
pub fn footage_window(
    layout: &Layout,
    request: &[u8],
    now_ms: i64,
) -> Result<(crypto::live::LiveRequest, (i64, i64)), Error> {
    let (q, trust) = parse_with_trust(layout, request)?;
    let window = trust.footage_window(&q, now_ms).map_err(sealing::from_crypto)?;
    Ok((q, window))
}

/// Now, in Unix ms.
pub(crate) fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A `pltw` box: the wall time (Unix ms, big-endian) at which the media that follows was
/// received from the camera at its decode time 0. It goes before a live session's init
/// segment, inside the sealed stream, so that the browser can line the picture and the
/// sound (two sessions) up on one clock; the browser takes it off before the MP4 reaches
/// Media Source Extensions.
pub fn wall_box(wall_ms: i64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&16u32.to_be_bytes());
    b[4..8].copy_from_slice(b"pltw");
    b[8..].copy_from_slice(&wall_ms.to_be_bytes());
    b
}

/// A one-frame fMP4 fragment: `frame`'s data with the duration until the next frame in
/// decode order and its composition offset (B-frames).
fn fragment(frame: &Frame, duration_90k: u32, pts_offset_90k: i32, sequence: u32, decode_90k: u64) -> Vec<u8> {
    let part = Part {
        entry: 0,
        frames: vec![FrameInfo {
            size_bytes: frame.data.len() as u32,
            duration_90k,
            is_key: frame.is_key,
            pts_offset_90k,
        }],
        body: BodyRange { path: Default::default(), offset: 0, len: frame.data.len() as u64 },
    };
    let mut out = Vec::with_capacity(frame.data.len() + 128);
    for p in mux::fragment(&part, sequence, decode_90k) {
        match p {
            Piece::Bytes(b) => out.extend_from_slice(&b),
            Piece::Range(_) => out.extend_from_slice(&frame.data),
        }
    }
    out
}

/// Runs one session: sealed segments go into `out` until the browser leaves (the channel
/// closes), the camera's codec changes, or [`SESSION_MAX`] passes.
pub async fn stream(
    feed: Arc<Feed>,
    q: crypto::live::LiveRequest,
    out: tokio::sync::mpsc::Sender<Vec<u8>>,
) -> Result<(), Error> {
    // Start with the cached group of pictures: the first picture shows at once (the
    // browser catches up to the newest frame), not after the camera's next key frame.
    let (cached, mut rx) = feed.subscribe();
    let mut cached = cached.into_iter();
    let mut sealer = crypto::live::LiveSealer::new(&q.session_key);
    let closed = || Error::new(ErrorKind::Cancelled, "the viewer left");
    out.send(sealer.header()).await.map_err(|_| closed())?;
    let deadline = tokio::time::Instant::now() + SESSION_MAX;
    let mut entry: Option<Arc<SampleEntry>> = None;
    // Cameras send presentation times in decode order; with B-frames those go backwards,
    // and MSE needs decode times (see `media::reorder`).
    let mut reorder = Reorderer::default();
    let mut pending: Option<Timed<Frame>> = None;
    let (mut first_dts, mut sequence) = (None::<i64>, 0u32);
    loop {
        let next = match cached.next() {
            Some(f) => Ok(Ok(f)),
            None => tokio::select! {
                r = tokio::time::timeout_at(deadline, rx.recv()) => r,
                // The request ended (the viewer left) while the camera sent nothing.
                _ = out.closed() => return Err(closed()),
            },
        };
        let (f, arrived) = match next {
            Err(_) => return Ok(()),
            Ok(Ok(f)) => f,
            Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                // Too slow: drop what is queued and start again at a key frame.
                tracing::debug!(camera = %q.camera, skipped = n, "live session fell behind");
                if entry.is_some() {
                    bail!(Unavailable, "live: the viewer fell behind by {n} frames; reconnect");
                }
                pending = None;
                continue;
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => bail!(Unavailable, "live: the camera stopped"),
        };
        if entry.is_none() {
            // Start at a key frame whose codec parameters are known.
            let e = f.new_sample_entry.clone().or_else(|| feed.entry.lock().expect("live entry").clone());
            let (true, Some(e)) = (f.is_key, e) else { continue };
            // The key frame's arrival is the wall time of decode time 0.
            let mut init = wall_box(arrived).to_vec();
            init.extend_from_slice(&mux::fragmented_init(std::slice::from_ref(&e), 0));
            out.send(sealer.seal(&init).map_err(sealing::from_crypto)?).await.map_err(|_| closed())?;
            entry = Some(e);
        } else if f.new_sample_entry.as_ref().is_some_and(|n| Some(n) != entry.as_ref()) {
            bail!(Unavailable, "live: the camera changed its codec parameters; reconnect");
        }
        let pts = f.pts_90k;
        let timed = match reorder.push(f, pts) {
            Ok(t) => t,
            Err((_, why)) => bail!(Unavailable, "live: the camera's timing jumped ({why:?}); reconnect"),
        };
        for t in timed {
            let base = *first_dts.get_or_insert(t.dts_90k);
            if let Some(prev) = pending.take() {
                let duration = (t.dts_90k - prev.dts_90k).clamp(1, 90_000) as u32;
                let offset = (prev.pts_90k - prev.dts_90k).clamp(0, i64::from(i32::MAX)) as i32;
                sequence += 1;
                let seg = fragment(&prev.item, duration, offset, sequence, (prev.dts_90k - base).max(0) as u64);
                out.send(sealer.seal(&seg).map_err(sealing::from_crypto)?).await.map_err(|_| closed())?;
            }
            pending = Some(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(pts: i64, is_key: bool, len: usize) -> Frame {
        Frame { pts_90k: pts, is_key, data: vec![0u8; len].into(), new_sample_entry: None, audio: false }
    }

    fn pts(frames: &[Arrived]) -> Vec<i64> {
        frames.iter().map(|(f, _)| f.pts_90k).collect()
    }

    #[test]
    fn a_new_viewer_gets_the_current_group_of_pictures_then_each_later_frame_once() {
        let feed = Feed::new();
        assert!(feed.subscribe().0.is_empty(), "nothing before the first key frame");
        feed.publish(&frame(0, false, 10));
        assert!(feed.subscribe().0.is_empty(), "a group of pictures starts at a key frame");
        for (t, key) in [(1, true), (2, false), (3, false), (4, true), (5, false)] {
            feed.publish(&frame(t, key, 10));
        }
        let (cached, mut rx) = feed.subscribe();
        assert_eq!(pts(&cached), [4, 5]);
        let before = wall_ms();
        feed.publish(&frame(6, false, 10));
        let (f, arrived) = rx.try_recv().unwrap();
        assert_eq!(f.pts_90k, 6);
        // Each frame goes with the wall time it arrived: live view's clock for lining up
        // picture and sound.
        assert!((before..=wall_ms()).contains(&arrived), "{arrived}");
        assert!(cached.iter().all(|(_, t)| *t <= before));
        assert!(rx.try_recv().is_err());
        let b = wall_box(1_700_000_000_123);
        assert_eq!(
            (&b[..8], i64::from_be_bytes(b[8..].try_into().unwrap())),
            (&b"\0\0\0\x10pltw"[..], 1_700_000_000_123)
        );
    }

    #[test]
    fn an_overlong_group_or_a_lost_connection_is_not_offered() {
        let feed = Feed::new();
        feed.publish(&frame(0, true, 10));
        for t in 1..GOP_FRAMES_MAX as i64 {
            feed.publish(&frame(t, false, 10));
        }
        assert_eq!(feed.subscribe().0.len(), GOP_FRAMES_MAX);
        feed.publish(&frame(1_000, false, 10));
        assert!(feed.subscribe().0.is_empty(), "too many frames: wait for the next key frame");
        feed.publish(&frame(1_001, false, 10));
        assert!(feed.subscribe().0.is_empty(), "still not from a key frame");
        feed.publish(&frame(2_000, true, GOP_BYTES_MAX));
        assert_eq!(feed.subscribe().0.len(), 1);
        feed.publish(&frame(2_001, false, 1));
        assert!(feed.subscribe().0.is_empty(), "too many bytes");
        feed.publish(&frame(3_000, true, 10));
        feed.disconnected();
        assert!(feed.subscribe().0.is_empty(), "a stale group of pictures is not offered");
    }
}
