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

/// A frame and the wall time (Unix ms) its media time maps to (`ArrivalClock`).
type Arrived = (Frame, i64);

/// Maps a stream's media time to the agent's wall clock from when its frames arrive: the
/// wall time of media time `t` is `t` plus the least (arrival − media time) seen lately,
/// that of the frames that waited least. A single frame's arrival is late by however long
/// it sat in the socket (the ingest thread reads every camera once per coalescing nap, up
/// to 40 ms) and by its own size (a key frame is many packets); the least of many is the
/// camera's delay to the agent, near enough. Live view's picture and sound (two sessions,
/// two clocks) are lined up in the browser through it. The least is let rise slowly, so a
/// path that gets a little slower is followed; a frame more than `RESET_MS` late starts
/// again.
#[derive(Debug, Default)]
pub(crate) struct ArrivalClock {
    /// The least (arrival − media time), ms, and the media time it was last updated at.
    offset: Option<(f64, f64)>,
}

impl ArrivalClock {
    /// How fast the least may rise: 2 ms per second of media time (clocks drift by a tenth
    /// of that; a frame that waited little comes along many times a second).
    const RISE: f64 = 0.002;
    /// A frame this much later than the least starts again from it: a slower path, a clock
    /// that stepped, or one late frame (whose successors, on time, bring the least back
    /// down at once).
    const RESET_MS: f64 = 250.0;

    /// Takes a frame's media time (ms; its end, for sound) and when it arrived (Unix ms);
    /// returns the wall time its media time maps to.
    pub(crate) fn place(&mut self, media_ms: f64, arrived_ms: i64) -> i64 {
        let sample = arrived_ms as f64 - media_ms;
        let offset = match self.offset {
            Some((o, at)) if (sample - o).abs() < Self::RESET_MS => {
                (o + (media_ms - at).max(0.0) * Self::RISE).min(sample)
            }
            _ => sample,
        };
        self.offset = Some((offset, media_ms));
        (media_ms + offset).round() as i64
    }

    /// The wall time of a media time, once a frame has arrived.
    pub(crate) fn wall_of(&self, media_ms: f64) -> Option<i64> {
        self.offset.map(|(o, _)| (media_ms + o).round() as i64)
    }
}

fn ms_90k(t: i64) -> f64 {
    t as f64 / 90.0
}

/// One camera's frames, for whoever is watching.
pub struct Feed {
    /// Each frame with the wall time its media time maps to (Unix ms).
    tx: broadcast::Sender<Arrived>,
    clock: Mutex<ArrivalClock>,
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
    /// The newest frame's presentation time, whether or not it is kept.
    last_pts_90k: Option<i64>,
}

/// Whether a frame's presentation time cannot follow the one before on one timeline: a gap
/// longer than any frame lasts, or a step back further than B-frames reorder (a second).
fn discontinuous(last_90k: i64, pts_90k: i64) -> bool {
    let delta = pts_90k.saturating_sub(last_90k);
    delta > i64::from(media::index::FRAME_DURATION_90K_MAX) || delta < -90_000
}

/// A group of pictures longer than this is not kept (sessions wait for the next key frame).
const GOP_FRAMES_MAX: usize = 300;
const GOP_BYTES_MAX: usize = 16 << 20;

impl Feed {
    fn new() -> Feed {
        Feed {
            tx: broadcast::channel(QUEUE_FRAMES).0,
            clock: Mutex::new(ArrivalClock::default()),
            entry: Mutex::new(None),
            gop: Mutex::new(Gop::default()),
        }
    }

    /// Called by the camera's streamer for every frame it receives.
    pub fn publish(&self, f: &Frame) {
        if let Some(e) = &f.new_sample_entry {
            *self.entry.lock().expect("live entry") = Some(e.clone());
        }
        // Under the lock, so that `subscribe` sees every frame once: cached or sent.
        let mut g = self.gop.lock().expect("live gop");
        let jumped = g.last_pts_90k.is_some_and(|last| discontinuous(last, f.pts_90k));
        g.last_pts_90k = Some(f.pts_90k);
        if jumped {
            // The camera's timing jumped: sessions under way end (their `Reorderer` says so)
            // and the browser asks again; what is cached belongs to the old timeline, and so
            // does the clock.
            *g = Gop { last_pts_90k: Some(f.pts_90k), ..Gop::default() };
            *self.clock.lock().expect("live clock") = ArrivalClock::default();
        }
        let arrived = self.clock.lock().expect("live clock").place(ms_90k(f.pts_90k), wall_ms());
        if f.is_key {
            *g = Gop { frames: Vec::new(), bytes: 0, valid: true, last_pts_90k: Some(f.pts_90k) };
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
        // The next connection's media times start again.
        *self.clock.lock().expect("live clock") = ArrivalClock::default();
    }

    /// The wall time a media time maps to, by what has arrived up to now.
    fn wall_of(&self, pts_90k: i64) -> Option<i64> {
        self.clock.lock().expect("live clock").wall_of(ms_90k(pts_90k))
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

/// A session's wall time of decode time 0 is sent again once its clock moved it by more than
/// this (ms): well under what the browser lines up (15 ms), over the clock's own wobble.
const WALL_MOVED_MS: i64 = 5;

/// The `pltw` box to send before the next fragment, when the wall time of decode time 0 has
/// moved by more than [`WALL_MOVED_MS`] since `sent` (which then becomes `wall`).
pub(crate) fn wall_moved(sent: &mut i64, wall: i64) -> Option<[u8; 16]> {
    ((wall - *sent).abs() > WALL_MOVED_MS).then(|| {
        *sent = wall;
        wall_box(wall)
    })
}

/// Now, in Unix ms.
pub(crate) fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A `pltw` box: the wall time (Unix ms, big-endian) at which the media that follows was
/// received from the camera at its decode time 0. It goes before a live session's init
/// segment, inside the sealed stream, so that the browser can line the picture and the
/// sound (two sessions) up on one clock, and again before a fragment whenever the arrival
/// clock has moved that time by more than [`WALL_MOVED_MS`]; the browser takes it off
/// before the MP4 reaches Media Source Extensions.
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
    // The first key frame's presentation time and the wall time last sent for it.
    let mut zero: Option<(i64, i64)> = None;
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
            // The key frame's wall time is that of decode time 0: placed by every frame that
            // has arrived so far (it may be a cached one, placed when less was known).
            let wall = feed.wall_of(f.pts_90k).unwrap_or(arrived);
            zero = Some((f.pts_90k, wall));
            let mut init = wall_box(wall).to_vec();
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
                let mut seg = Vec::new();
                if let Some((pts, sent)) = &mut zero
                    && let Some(wall) = feed.wall_of(*pts)
                    && let Some(b) = wall_moved(sent, wall)
                {
                    seg.extend_from_slice(&b);
                }
                seg.extend_from_slice(&fragment(
                    &prev.item,
                    duration,
                    offset,
                    sequence,
                    (prev.dts_90k - base).max(0) as u64,
                ));
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
    fn the_arrival_clock_keeps_the_least_wait_and_follows_a_slower_path() {
        let mut c = ArrivalClock::default();
        assert_eq!(c.wall_of(0.0), None);
        // Frames every 33 ms, read once per 40 ms nap: each late by 0..40 ms.
        let mut placed = Vec::new();
        for k in 0..60 {
            let media = k as f64 * 33.3;
            let late = ((k * 37) % 40) as i64;
            placed.push(c.place(media, 1_000_000 + media.round() as i64 + 100 + late));
        }
        // Media time 0 is 100 ms after the camera's clock's origin, whatever each frame waited.
        let zero = c.wall_of(0.0).unwrap();
        assert!((1_000_100..=1_000_103).contains(&zero), "{zero}");
        assert!(
            placed[10..]
                .iter()
                .enumerate()
                .all(|(k, w)| (w - (1_000_100 + ((k + 10) as f64 * 33.3).round() as i64)).abs() <= 5)
        );
        // A path 50 ms slower from now on: followed at 2 ms per second.
        for k in 60..960 {
            let media = k as f64 * 33.3;
            c.place(media, 1_000_000 + media.round() as i64 + 150);
        }
        let now = c.wall_of(960.0 * 33.3).unwrap() - (1_000_000 + (960.0f64 * 33.3).round() as i64);
        assert!((149..=151).contains(&now), "{now}");
        // A jump of seconds (a new clock) starts again.
        assert_eq!(c.place(0.0, 5_000_000), 5_000_000);
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
        let first = cached[0].1;
        let before = wall_ms();
        feed.publish(&frame(6, false, 10));
        let (f, placed) = rx.try_recv().unwrap();
        assert_eq!(f.pts_90k, 6);
        // Each frame goes with the wall time its media time maps to (live view's clock for
        // lining up picture and sound): no later than its arrival.
        assert!((first..=wall_ms()).contains(&placed), "{placed}");
        assert!(cached.iter().all(|(_, t)| *t <= before));
        assert_eq!(feed.wall_of(6), Some(placed));
        assert!(rx.try_recv().is_err());
        let b = wall_box(1_700_000_000_123);
        assert_eq!(
            (&b[..8], i64::from_be_bytes(b[8..].try_into().unwrap())),
            (&b"\0\0\0\x10pltw"[..], 1_700_000_000_123)
        );
    }

    /// A session says its decode time 0's wall time before its init, and again before a
    /// fragment once the clock has learnt better (here: a frame that came early by 400 ms
    /// against the first ones, which had waited), so that the browser lines up by the best
    /// figure, not by the first.
    #[tokio::test]
    async fn a_session_says_its_wall_time_again_when_the_clock_moves_it() {
        let feed = Arc::new(Feed::new());
        let avcc = [1, 0x4d, 0x00, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x4d, 0x00, 0x1f, 1, 0, 2, 0x68, 0xee];
        let entry = Arc::new(SampleEntry::h264(640, 360, &avcc).unwrap());
        let key = Frame { new_sample_entry: Some(entry), ..frame(0, true, 10) };
        feed.publish(&key);
        let viewer = crypto::keys::EncryptionSecret::generate();
        let member = crypto::keys::Keyring::generate("member", 0).unwrap();
        let q = crypto::live::LiveRequest::create(&member, [1; 16], "cam", viewer.public(), 0).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let session = tokio::spawn(stream(feed.clone(), q, tx));
        let mut opener = crypto::live::LiveOpener::new(viewer);
        let mut next = async || loop {
            let m = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
            let n = u32::from_be_bytes(m[..4].try_into().unwrap()) as usize;
            if let Some(plain) = opener.open(&m[4..4 + n]).unwrap() {
                return plain;
            }
        };
        let wall = |b: &[u8]| (&b[4..8] == b"pltw").then(|| i64::from_be_bytes(b[8..16].try_into().unwrap()));
        let init = next().await;
        let first = wall(&init).expect("the init says its wall time");
        assert_eq!(&init[20..24], b"ftyp");
        // Frames on time (more than the reordering window holds): fragments as they are.
        for i in 1..=8 {
            tokio::time::sleep(Duration::from_millis(33)).await;
            feed.publish(&frame(i * 3_000, false, 10));
        }
        let f = next().await;
        assert_eq!((wall(&f), &f[4..8]), (None, &b"moof"[..]));
        // Frames 400 ms ahead of where the first ones put them: those had waited that long.
        for i in 9..=16 {
            tokio::time::sleep(Duration::from_millis(33)).await;
            feed.publish(&frame(36_000 + i * 3_000, false, 10));
        }
        let moved = loop {
            let f = next().await;
            if let Some(w) = wall(&f) {
                assert_eq!(&f[20..24], b"moof", "a fragment follows its wall time");
                break w;
            }
        };
        // 400 ms less what the paced frames overslept (a loaded machine's timers run late).
        assert!((150..=420).contains(&(first - moved)), "moved from {first} to {moved}");
        drop(rx);
        session.abort();
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

    #[test]
    fn a_timing_jump_drops_the_cached_pictures_and_the_clock() {
        let feed = Feed::new();
        for (k, t) in (0..30).map(|k| (k, 1_000_000 + k * 3_000)) {
            feed.publish(&frame(t, k % 10 == 0, 10));
        }
        assert_eq!(feed.subscribe().0.len(), 10);
        // B-frames step back a little: the same timeline.
        feed.publish(&frame(1_000_000 + 28 * 3_000, false, 10));
        assert_eq!(feed.subscribe().0.len(), 11);
        assert!(feed.wall_of(1_000_000).is_some());
        // The camera's clock steps back 2.1 s (seen from GStreamer's shared media when a
        // second client joins): the old pictures are not offered, the clock starts again.
        feed.publish(&frame(1_000_000 - 189_000, false, 10));
        assert!(feed.subscribe().0.is_empty());
        let placed = feed.wall_of(1_000_000 - 189_000).unwrap();
        assert!((placed - wall_ms()).abs() < 100, "{placed}");
        feed.publish(&frame(1_000_000 - 186_000, true, 10));
        assert_eq!(feed.subscribe().0.len(), 1);
        // So does a gap longer than any frame lasts.
        feed.publish(&frame(1_000_000 + 20 * 90_000, false, 10));
        assert!(feed.subscribe().0.is_empty());
    }
}
