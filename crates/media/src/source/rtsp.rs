//! RTSP cameras through `retina`.
//!
//! Connects over RTSP with interleaved TCP (the transport that survives NAT and loss best
//! for recording), picks the first H.264 or H.265 video stream, and yields its frames in the
//! MP4 sample format. A camera that stays connected but stops sending is cut off after
//! `stall_timeout`, so the streamer can reconnect.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use base::{Error, ErrorKind, bail};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use retina::client::{
    Credentials, InitialSequenceNumberPolicy, InitialTimestampPolicy, PlayOptions, SessionOptions, SetupOptions,
    TcpTransportOptions, Transport,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef};
use url::Url;

use super::{FrameStream, OpenFuture, Opener};
use crate::frame::{Frame, SampleEntry};
use crate::nal;

#[derive(Clone)]
pub struct RtspOpener {
    pub url: Url,
    pub username: Option<String>,
    pub password: Option<String>,
    pub stall_timeout: Duration,
    /// Also set up the camera's sound (AAC, G.711 or L16) in the same session, or Opus in a
    /// session of its own, and yield its frames (`Frame::audio`) on the video's clock. A
    /// camera without one records video only.
    pub audio: bool,
}

impl std::fmt::Debug for RtspOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Opener for RtspOpener {
    fn open(&self) -> OpenFuture {
        let me = self.clone();
        Box::pin(async move { me.open_async().await })
    }

    fn describe(&self) -> String {
        let mut u = self.url.clone();
        let _ = u.set_password(None);
        format!("rtsp {u}")
    }
}

/// Classifies retina's errors into our kinds by what they say: retina's error type is
/// opaque, and a wrong password or a wrong path deserve their own status. Only the status
/// of an RTSP response counts (retina writes it first: "401 response to DESCRIBE …"), not a
/// 404 anywhere in a packet's description.
fn classify(e: retina::Error, what: &str) -> Error {
    let text = e.to_string();
    let status = text.split_once(" response to ").map(|(s, _)| s);
    let kind = match status {
        Some("401") => ErrorKind::Unauthenticated,
        Some("404") => ErrorKind::NotFound,
        _ => ErrorKind::Unavailable,
    };
    let msg = match kind {
        ErrorKind::Unauthenticated => format!("{what}: camera rejected the credentials (401)"),
        ErrorKind::NotFound => format!("{what}: camera has no such path (404)"),
        _ => what.to_string(),
    };
    Error::wrap(kind, msg, e)
}

/// DESCRIBE at `url` (credentials apart), bounded by `timeout`.
async fn describe(
    url: &Url,
    username: Option<&str>,
    password: Option<&str>,
    timeout: Duration,
) -> Result<retina::client::Session<retina::client::Described>, Error> {
    let creds =
        username.map(|u| Credentials { username: u.to_owned(), password: password.unwrap_or_default().to_owned() });
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    // retina's SDP parser (sdp-types) panics on some malformed descriptions; a camera's
    // bytes must end in an error for this stream (retried like any other), not a panic.
    let describe =
        std::panic::AssertUnwindSafe(retina::client::Session::describe(url, SessionOptions::default().creds(creds)))
            .catch_unwind();
    tokio::time::timeout(timeout, describe)
        .await
        .map_err(|_| base::err!(Unavailable, "DESCRIBE timed out after {timeout:?}"))?
        .map_err(|_| base::err!(DataLoss, "DESCRIBE: the camera's description crashed the RTSP parser"))?
        .map_err(|e| classify(e, "DESCRIBE failed"))
}

/// SETUP of streams `streams` over TCP, then PLAY, demuxed.
///
/// With more than one stream, each one's times start from the `rtptime` the camera's PLAY
/// response gives it (RTP-Info), which puts them all on one clock (the presentation's NPT);
/// a camera that leaves it out gets each stream's first packet as its start instead
/// (retina's permissive policy), so sound and picture line up as well as their first
/// packets' arrival does. `seq`: whether the first packet must carry the sequence number
/// the PLAY answer names.
async fn play(
    session: retina::client::Session<retina::client::Described>,
    streams: Vec<(usize, SetupOptions)>,
    seq: InitialSequenceNumberPolicy,
) -> Result<retina::client::Demuxed, Error> {
    setup_and_play(session, streams, seq).await?.demuxed().map_err(|e| classify(e, "demuxing"))
}

/// SETUP of streams `streams` over TCP, then PLAY (see [`play`]), as RTP packets.
async fn setup_and_play(
    mut session: retina::client::Session<retina::client::Described>,
    streams: Vec<(usize, SetupOptions)>,
    seq: InitialSequenceNumberPolicy,
) -> Result<retina::client::Session<retina::client::Playing>, Error> {
    for (i, setup) in streams {
        session
            .setup(i, setup.transport(Transport::Tcp(TcpTransportOptions::default())))
            .await
            .map_err(|e| classify(e, "SETUP failed"))?;
    }
    session
        .play(PlayOptions::default().initial_timestamp(InitialTimestampPolicy::Permissive).initial_seq(seq))
        .await
        .map_err(|e| classify(e, "PLAY failed"))
}

/// The sample entry of a recorded sound track: AAC as retina builds it, G.711 and L16 as
/// plain PCM entries.
fn audio_entry(s: &retina::client::Stream) -> Result<SampleEntry, Error> {
    let channels = s.channels().map_or(1, |c| c.get());
    let codec = match s.encoding_name() {
        "mpeg4-generic" => {
            let Some(ParametersRef::Audio(p)) = s.parameters() else {
                bail!(DataLoss, "the camera's AAC track has no parameters");
            };
            let built = p
                .mp4_sample_entry()
                .build()
                .map_err(|e| Error::wrap(ErrorKind::DataLoss, "building the AAC sample entry", e))?;
            return SampleEntry::from_box(built);
        }
        "pcmu" => crate::Codec::Pcmu,
        "pcma" => crate::Codec::Pcma,
        "l16" => crate::Codec::L16,
        other => bail!(InvalidArgument, "audio codec {other} is not recorded"),
    };
    SampleEntry::pcm(codec, s.clock_rate_hz(), channels)
}

/// Sound a recording takes: the encodings [`audio_entry`] stores.
fn recordable_audio(s: &retina::client::Stream) -> bool {
    s.media() == "audio" && matches!(s.encoding_name(), "mpeg4-generic" | "pcmu" | "pcma" | "l16")
}

/// What the frame stream carries between frames.
struct Reading {
    session: retina::client::Demuxed,
    video: usize,
    /// The sound track, its sample entry and clock rate, when recorded.
    audio: Option<(usize, Arc<SampleEntry>, u32)>,
    /// The sound's entry goes out with its first frame.
    audio_entry_sent: bool,
    first: bool,
    entry: Option<Arc<SampleEntry>>,
    /// A camera's Opus sound, read in a session of its own (see [`OpusSide`]).
    opus: Option<OpusSide>,
}

/// Opus held before both sessions' clocks are tied: 10 s of 20 ms packets, and at most
/// 2 MiB of them (a camera's packets are a few hundred bytes; its bytes must not make the
/// agent hold more).
const OPUS_HELD_MAX: usize = 500;
const OPUS_HELD_BYTES_MAX: usize = 2 << 20;

/// A camera's Opus sound for recording. retina depacketizes no Opus, and a demuxed session
/// refuses a track it cannot depacketize, so the sound comes in a second session of its own
/// (read as RTP packets, one Opus packet each) and is placed on the picture's clock by the
/// two sessions' RTCP sender reports ([`SoundPlacer`]).
struct OpusSide {
    items: OpusItems,
    placer: SoundPlacer,
    entry: Arc<SampleEntry>,
    entry_sent: bool,
    /// Packets (and their times at 48 kHz) that came before the clocks were tied, and their
    /// bytes.
    held: std::collections::VecDeque<(Bytes, i64)>,
    held_bytes: usize,
    dropped: u64,
    /// Frames placed and waiting to go out.
    ready: std::collections::VecDeque<Frame>,
}

impl OpusSide {
    fn new(items: OpusItems, channels: u8) -> Result<OpusSide, Error> {
        Ok(OpusSide {
            items,
            placer: SoundPlacer::new(48_000),
            entry: Arc::new(SampleEntry::opus(channels)?),
            entry_sent: false,
            held: Default::default(),
            held_bytes: 0,
            dropped: 0,
            ready: Default::default(),
        })
    }

    /// Takes one packet: placed (with those held before it) once the clocks are tied, held
    /// until then.
    fn take(&mut self, packet: Bytes, at: i64) {
        self.held_bytes += packet.len();
        self.held.push_back((packet, at));
        if self.placer.offset.is_none() {
            while self.held.len() > OPUS_HELD_MAX || self.held_bytes > OPUS_HELD_BYTES_MAX {
                let Some((old, _)) = self.held.pop_front() else { break };
                self.held_bytes -= old.len();
                self.dropped += 1;
                if self.dropped == 1 {
                    tracing::warn!(
                        "no RTCP sender reports yet from both of the camera's sessions: \
                         its Opus sound cannot be placed on the picture's clock and is not recorded until they come"
                    );
                }
            }
            return;
        }
        self.held_bytes = 0;
        while let Some((data, at)) = self.held.pop_front() {
            let Some(pts_90k) = self.placer.place(at) else { break };
            let new_sample_entry = (!self.entry_sent).then(|| self.entry.clone());
            self.entry_sent = true;
            self.ready.push_back(Frame { pts_90k, is_key: true, data, new_sample_entry, audio: true });
        }
    }
}

/// Ties a second RTSP session's sound to the picture's clock (RFC 3550 section 6.4.1): a
/// sender report of each session pairs one of its RTP times with the camera's own wall clock
/// (NTP), and the two sessions share that wall clock. A sound time `t` (at `rate`) goes where
/// the picture's clock is at the wall time the sound's reports give `t`. The offset is taken
/// from the first pair of reports and moved only when later reports disagree by more than
/// [`SoundPlacer::SHIFT_MAX_90K`] (a camera whose clocks drift apart), so that the sound's
/// times do not jitter with each report.
#[derive(Debug)]
pub(crate) struct SoundPlacer {
    rate: u32,
    /// The latest report of each: (NTP time, RTP time from the session's start).
    picture: Option<(u64, i64)>,
    sound: Option<(u64, i64)>,
    /// Picture time (90 kHz) of sound time 0.
    offset: Option<i64>,
}

impl SoundPlacer {
    /// 10 ms.
    const SHIFT_MAX_90K: i64 = 900;
    /// Reports of one camera's two sessions come seconds apart; reports whose wall times
    /// are further apart than this (a minute) are not believed, so that a camera's bytes
    /// cannot place its sound anywhere but near its picture.
    const APART_MAX_90K: i128 = 60 * 90_000;

    pub(crate) fn new(rate: u32) -> SoundPlacer {
        SoundPlacer { rate, picture: None, sound: None, offset: None }
    }

    pub(crate) fn picture_report(&mut self, ntp: u64, elapsed_90k: i64) {
        self.picture = Some((ntp, elapsed_90k));
        self.tie();
    }

    pub(crate) fn sound_report(&mut self, ntp: u64, elapsed: i64) {
        self.sound = Some((ntp, elapsed));
        self.tie();
    }

    fn to_90k(&self, t: i64) -> i64 {
        to_90k(t, self.rate)
    }

    fn tie(&mut self) {
        let (Some((pn, pt)), Some((sn, st))) = (self.picture, self.sound) else { return };
        // The sound report's wall time after the picture's, in 90 kHz units (NTP is 32.32
        // fixed point seconds; two reports of one camera are close, so the difference fits).
        let apart = (i128::from(sn.wrapping_sub(pn) as i64) * 90_000) >> 32;
        if apart.abs() > Self::APART_MAX_90K {
            tracing::warn!(
                apart_s = (apart / 90_000) as i64,
                "the camera's sender reports are too far apart to believe"
            );
            return;
        }
        let offset = pt.saturating_add(apart as i64).saturating_sub(self.to_90k(st));
        match self.offset {
            None => self.offset = Some(offset),
            Some(o) if (offset - o).abs() > Self::SHIFT_MAX_90K => {
                tracing::warn!(moved_ms = (offset - o) / 90, "the camera's sound and picture clocks moved apart");
                self.offset = Some(offset);
            }
            Some(_) => {}
        }
    }

    /// The picture's time of sound time `t`, once reports of both have come.
    pub(crate) fn place(&self, t: i64) -> Option<i64> {
        Some(self.to_90k(t).saturating_add(self.offset?))
    }
}

impl RtspOpener {
    async fn open_async(&self) -> Result<FrameStream, Error> {
        let session =
            describe(&self.url, self.username.as_deref(), self.password.as_deref(), self.stall_timeout).await?;
        let found: Vec<String> =
            session.streams().iter().map(|s| format!("{}/{}", s.media(), s.encoding_name())).collect();
        let Some(video) =
            session.streams().iter().position(|s| s.media() == "video" && matches!(s.encoding_name(), "h264" | "h265"))
        else {
            bail!(InvalidArgument, "camera offers no H.264 or H.265 video stream (found: {})", found.join(", "));
        };
        let mut setups = vec![(video, SetupOptions::default().frame_format(FrameFormat::MP4))];
        let mut audio = None;
        let mut opus_track = None;
        if self.audio {
            let opus = session.streams().iter().position(|s| s.media() == "audio" && is_opus(s));
            match session.streams().iter().position(recordable_audio) {
                None if opus.is_some() => opus_track = opus.map(|i| (i, opus_channels(&session.streams()[i]))),
                Some(i) => match audio_entry(&session.streams()[i]) {
                    Ok(e) => {
                        let rate = session.streams()[i].clock_rate_hz();
                        audio = Some((i, Arc::new(e), rate));
                        setups.push((i, SetupOptions::default()));
                    }
                    Err(e) => tracing::warn!("{}: not recording its sound: {e}", self.describe()),
                },
                None => tracing::warn!(
                    "{}: no sound to record: recording takes AAC, G.711 (PCMU, PCMA), L16 and Opus (found: {})",
                    self.describe(),
                    found.join(", ")
                ),
            }
        }
        let playing = match play(session, setups, InitialSequenceNumberPolicy::Default).await {
            Ok(p) => p,
            // A camera that refuses the sound's SETUP (or PLAY with it) still records its
            // picture: once more, without the sound.
            Err(e) if audio.is_some() && e.kind() != ErrorKind::Unauthenticated => {
                tracing::warn!("{}: recording without its sound, which it refused: {e}", self.describe());
                audio = None;
                let session =
                    describe(&self.url, self.username.as_deref(), self.password.as_deref(), self.stall_timeout).await?;
                let picture = vec![(video, SetupOptions::default().frame_format(FrameFormat::MP4))];
                play(session, picture, InitialSequenceNumberPolicy::Default).await?
            }
            Err(e) => return Err(e),
        };
        let stall = self.stall_timeout;
        let opus = match opus_track {
            None => None,
            Some((track, channels)) => match self.open_opus(track, channels).await {
                Ok(side) => Some(side),
                // The picture records all the same.
                Err(e) => {
                    tracing::warn!("{}: recording without its sound: {e}", self.describe());
                    None
                }
            },
        };
        let state = Reading { session: playing, video, audio, audio_entry_sent: false, first: true, entry: None, opus };
        let s = futures::stream::unfold(state, move |mut r| async move {
            // The deadline runs from the last video frame: RTCP sender reports (and sound)
            // keep coming from a server whose video has stopped, and must not keep the
            // stream alive.
            let deadline = tokio::time::Instant::now() + stall;
            loop {
                if let Some(f) = r.opus.as_mut().and_then(|o| o.ready.pop_front()) {
                    return Some((Ok(f), r));
                }
                let next = tokio::select! {
                    item = tokio::time::timeout_at(deadline, r.session.next()) => item,
                    sound = async {
                        match r.opus.as_mut() {
                            Some(o) => o.items.next().await,
                            None => std::future::pending().await,
                        }
                    } => {
                        let o = r.opus.as_mut().expect("read from it");
                        match sound {
                            Some(Ok(OpusItem::Packet { data, at, .. })) => o.take(data, at),
                            Some(Ok(OpusItem::Report { ntp, at })) => o.placer.sound_report(ntp, at),
                            // The sound's session failed: the picture goes on without it
                            // until the next connection.
                            Some(Err(e)) => {
                                tracing::warn!("the camera's sound session failed; recording the picture alone: {e}");
                                r.opus = None;
                            }
                            None => {
                                tracing::warn!("the camera ended its sound session; recording the picture alone");
                                r.opus = None;
                            }
                        }
                        continue;
                    }
                };
                let item = match next {
                    Err(_) => {
                        let e = base::err!(Unavailable, "camera sent no video for {stall:?}");
                        return Some((Err(e), r));
                    }
                    Ok(None) => return None,
                    Ok(Some(Err(e))) => return Some((Err(classify(e, "stream failed")), r)),
                    Ok(Some(Ok(item))) => item,
                };
                let f = match item {
                    CodecItem::VideoFrame(f) if f.stream_id() == r.video => f,
                    CodecItem::AudioFrame(a) => {
                        let Some((i, entry, rate)) = &r.audio else { continue };
                        if a.stream_id() != *i || a.data().is_empty() {
                            continue;
                        }
                        // The sound's clock in 90 kHz units from the shared start (rounded
                        // to the nearest 11 µs).
                        let at = a.timestamp().elapsed();
                        let pts_90k = to_90k(at, *rate);
                        let new_sample_entry = (!r.audio_entry_sent).then(|| entry.clone());
                        r.audio_entry_sent = true;
                        let data = Bytes::copy_from_slice(a.data());
                        let frame = Frame { pts_90k, is_key: true, data, new_sample_entry, audio: true };
                        return Some((Ok(frame), r));
                    }
                    CodecItem::Rtcp(c) if c.stream_id() == r.video => {
                        if let (Some(o), Some((ntp, at))) = (r.opus.as_mut(), sender_report(&c)) {
                            o.placer.picture_report(ntp, at);
                        }
                        continue;
                    }
                    _ => continue,
                };
                let mut new_entry = None;
                if r.first || f.has_new_parameters() {
                    match r.session.streams()[r.video].parameters() {
                        Some(ParametersRef::Video(p)) => {
                            let built = p
                                .mp4_sample_entry()
                                .build()
                                .map_err(|e| Error::wrap(ErrorKind::DataLoss, "building sample entry", e))
                                .and_then(SampleEntry::from_box);
                            match built {
                                Ok(e) => {
                                    let e = Arc::new(e);
                                    if r.entry.as_deref() != Some(&*e) {
                                        new_entry = Some(e.clone());
                                    }
                                    r.entry = Some(e);
                                }
                                Err(e) => return Some((Err(e), r)),
                            }
                        }
                        _ => {
                            let e = base::err!(DataLoss, "video frame arrived without codec parameters");
                            return Some((Err(e), r));
                        }
                    }
                    r.first = false;
                }
                if f.loss() > 0 {
                    tracing::debug!(lost_packets = f.loss(), "RTP loss before frame");
                }
                let is_key = f.is_random_access_point();
                // From the shared start, like the sound's (one clock: RTP-Info).
                let pts_90k = f.timestamp().elapsed();
                let data = Bytes::from(f.into_data());
                if let Err(e) = nal::check_length_prefixed(&data) {
                    return Some((Err(e), r));
                }
                let frame = Frame { pts_90k, is_key, data, new_sample_entry: new_entry, audio: false };
                return Some((Ok(frame), r));
            }
        });
        Ok(Box::pin(s))
    }
}

/// A camera's sound as it arrives, each frame with its length in samples, read from its
/// own RTSP session (the audio track only, beside the recording's session), for live view.
pub type SoundStream = Pin<Box<dyn futures::Stream<Item = Result<(Vec<u8>, u32), Error>> + Send>>;

/// What a camera's sound is, for live view to play it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SoundFormat {
    /// G.711 at 8 kHz.
    G711(crate::g711::Law),
    /// 16-bit big-endian PCM.
    L16 { rate: u32, channels: u16 },
    /// AAC, whose `mp4a` sample entry browsers play as it is.
    Aac(SampleEntry),
    /// Opus (at 48 kHz, RFC 7587), which browsers play as it is.
    Opus { channels: u8 },
}

/// Opens the camera's sound (G.711 at 8 kHz, L16, AAC or Opus); returns what it is and its
/// frames as they arrive. A camera whose sound is another codec is refused, naming it.
pub async fn open_sound(
    url: &Url,
    username: Option<&str>,
    password: Option<&str>,
    timeout: Duration,
) -> Result<(SoundFormat, SoundStream), Error> {
    let session = describe(url, username, password, timeout).await?;
    let audio: Vec<(usize, String, u32)> = session
        .streams()
        .iter()
        .enumerate()
        .filter(|(_, s)| s.media() == "audio")
        .map(|(i, s)| (i, s.encoding_name().to_owned(), s.clock_rate_hz()))
        .collect();
    let found = audio.iter().find_map(|(i, enc, rate)| {
        let s = &session.streams()[*i];
        let format = match (enc.as_str(), rate) {
            ("pcmu", 8000) => SoundFormat::G711(crate::g711::Law::Mu),
            ("pcma", 8000) => SoundFormat::G711(crate::g711::Law::A),
            ("l16", _) => SoundFormat::L16 { rate: *rate, channels: s.channels().map_or(1, |c| c.get()) },
            ("mpeg4-generic", _) => SoundFormat::Aac(audio_entry(s).ok()?),
            ("opus", 48_000) => SoundFormat::Opus { channels: opus_channels(s) },
            _ => return None,
        };
        Some((*i, format))
    });
    let Some((i, format)) = found else {
        if audio.is_empty() {
            bail!(FailedPrecondition, "the camera sends no sound");
        }
        let found: Vec<String> = audio.iter().map(|(_, e, r)| format!("{e}/{r}")).collect();
        bail!(
            FailedPrecondition,
            "the camera's sound is {}; live sound takes G.711 (PCMU or PCMA), L16, AAC or Opus",
            found.join(", ")
        );
    };
    if let SoundFormat::Opus { .. } = format {
        let packets = opus_items(session, i, timeout).await?.filter_map(|item| {
            std::future::ready(match item {
                Ok(OpusItem::Packet { data, samples, .. }) => Some(Ok((data.to_vec(), samples))),
                Ok(OpusItem::Report { .. }) => None,
                Err(e) => Some(Err(e)),
            })
        });
        return Ok((format, Box::pin(packets)));
    }
    // A sound-only session starts from the first packet it sees: a camera that serves this
    // client from a capture already running for others may send a few packets from before
    // the sequence number its PLAY answer names (gst-rtsp-server's shared media does), which
    // would otherwise end the session at once as "out of order".
    let playing = play(session, vec![(i, SetupOptions::default())], InitialSequenceNumberPolicy::Ignore).await?;
    let s = futures::stream::unfold(playing, move |mut session| async move {
        loop {
            let item = match tokio::time::timeout(timeout, session.next()).await {
                Err(_) => {
                    return Some((Err(base::err!(Unavailable, "the camera sent no sound for {timeout:?}")), session));
                }
                Ok(None) => return None,
                Ok(Some(Err(e))) => return Some((Err(classify(e, "sound stream failed")), session)),
                Ok(Some(Ok(item))) => item,
            };
            if let CodecItem::AudioFrame(f) = item
                && f.stream_id() == i
            {
                return Some((Ok((f.data().to_vec(), f.frame_length().get())), session));
            }
        }
    });
    Ok((format, Box::pin(s)))
}

/// A time at `rate` Hz in 90 kHz units (rounded down: within 11 µs at 8 kHz and above).
fn to_90k(t: i64, rate: u32) -> i64 {
    (i128::from(t) * 90_000 / i128::from(rate.max(1))) as i64
}

/// Whether a track is Opus as RFC 7587 sends it (always at 48 kHz).
fn is_opus(s: &retina::client::Stream) -> bool {
    s.encoding_name() == "opus" && s.clock_rate_hz() == 48_000
}

/// An Opus track's channels (RFC 7587 writes 2 in the SDP whatever is sent; the packets say).
fn opus_channels(s: &retina::client::Stream) -> u8 {
    s.channels().map_or(2, |c| c.get()).min(2) as u8
}

/// A sender report's wall time (NTP) and RTP time from the session's start.
fn sender_report(c: &retina::rtcp::ReceivedCompoundPacket) -> Option<(u64, i64)> {
    let at = c.rtp_timestamp()?.elapsed();
    let sr = c.pkts().next()?.as_sender_report().ok()??;
    Some((sr.ntp_timestamp().0, at))
}

/// What a camera's Opus session brings.
enum OpusItem {
    /// One Opus packet, its time at 48 kHz from the session's start and its length in samples.
    Packet { data: Bytes, at: i64, samples: u32 },
    /// A sender report: the camera's wall time (NTP) of RTP time `at`.
    Report { ntp: u64, at: i64 },
}

type OpusItems = Pin<Box<dyn futures::Stream<Item = Result<OpusItem, Error>> + Send>>;

impl RtspOpener {
    /// The second session, for the Opus track `track` of the camera's description.
    async fn open_opus(&self, track: usize, channels: u8) -> Result<OpusSide, Error> {
        let session =
            describe(&self.url, self.username.as_deref(), self.password.as_deref(), self.stall_timeout).await?;
        if !session.streams().get(track).is_some_and(is_opus) {
            bail!(Unavailable, "the camera described its sound differently the second time");
        }
        let items = opus_items(session, track, self.stall_timeout).await?;
        tracing::info!("{}: recording its Opus sound from a session of its own", self.describe());
        OpusSide::new(items, channels)
    }
}

/// A camera's Opus sound, packet by packet, with its sender reports. retina has no
/// depacketizer for Opus (so no demuxed session can carry it), but RFC 7587 needs none:
/// each RTP payload is one Opus packet, whose duration its first byte tells
/// (`crate::opus`). So this session, which carries the sound alone, is read as RTP packets.
/// A packet whose duration cannot be told is skipped, counted, and logged once. Like
/// `open_sound`'s, the session starts from the first packet it sees.
async fn opus_items(
    session: retina::client::Session<retina::client::Described>,
    i: usize,
    timeout: Duration,
) -> Result<OpusItems, Error> {
    let playing =
        setup_and_play(session, vec![(i, SetupOptions::default())], InitialSequenceNumberPolicy::Ignore).await?;
    let s = futures::stream::unfold((Box::pin(playing), 0u64), move |(mut session, mut skipped)| async move {
        loop {
            let item = match tokio::time::timeout(timeout, session.next()).await {
                Err(_) => {
                    let e = base::err!(Unavailable, "the camera sent no sound for {timeout:?}");
                    return Some((Err(e), (session, skipped)));
                }
                Ok(None) => return None,
                Ok(Some(Err(e))) => return Some((Err(classify(e, "sound stream failed")), (session, skipped))),
                Ok(Some(Ok(item))) => item,
            };
            let p = match item {
                retina::client::PacketItem::Rtp(p) if p.stream_id() == i => p,
                retina::client::PacketItem::Rtcp(c) if c.stream_id() == i => match sender_report(&c) {
                    Some((ntp, at)) => return Some((Ok(OpusItem::Report { ntp, at }), (session, skipped))),
                    None => continue,
                },
                _ => continue,
            };
            match crate::opus::packet_samples(p.payload()) {
                Some(samples) => {
                    let item = OpusItem::Packet {
                        data: Bytes::copy_from_slice(p.payload()),
                        at: p.timestamp().elapsed(),
                        samples,
                    };
                    return Some((Ok(item), (session, skipped)));
                }
                None => {
                    if skipped == 0 {
                        tracing::warn!(
                            bytes = p.payload().len(),
                            "skipping an Opus packet whose length cannot be told"
                        );
                    }
                    skipped += 1;
                }
            }
        }
    });
    Ok(Box::pin(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A camera that answers every request with `body` as its description.
    async fn camera(body: &'static [u8]) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut c, _) = l.accept().await.unwrap();
            let mut got = Vec::new();
            while let Some(req) = next_request(&mut c, &mut got).await {
                let cseq = req.lines().find_map(|l| l.strip_prefix("CSeq:")).unwrap_or("1").trim().to_owned();
                let head = format!(
                    "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\n\
                     Content-Base: rtsp://127.0.0.1:{port}/cam/\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(&[head.as_bytes(), body].concat()).await;
            }
        });
        port
    }

    /// The head of the next request a client sends (requests here have no body); `None`
    /// once it hangs up.
    async fn next_request(c: &mut tokio::net::TcpStream, got: &mut Vec<u8>) -> Option<String> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let req = String::from_utf8_lossy(&got[..end]).into_owned();
                got.drain(..end + 4);
                return Some(req);
            }
            let n = c.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return None;
            }
            got.extend_from_slice(&buf[..n]);
        }
    }

    /// A doorbell with H.264 and G.711 that refuses to set up its sound (461, as cameras do
    /// whose sound is switched off or taken): what it is asked, in order, is recorded.
    async fn camera_refusing_sound(asked: Arc<std::sync::Mutex<Vec<String>>>) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=door\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\na=control:*\r\n\
                   m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
                   a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LACtyWwEQAAAMABAAAAwAIPEie,aM4PLIA=\r\n\
                   a=control:video\r\nm=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=control:audio\r\n";
        tokio::spawn(async move {
            loop {
                let Ok((mut c, _)) = l.accept().await else { return };
                let asked = asked.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    while let Some(req) = next_request(&mut c, &mut got).await {
                        let first = req.lines().next().unwrap_or_default().to_owned();
                        asked.lock().unwrap().push(first.clone());
                        let cseq = req.lines().find_map(|l| l.strip_prefix("CSeq:")).unwrap_or("1").trim().to_owned();
                        let ok = format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n");
                        let reply = if first.starts_with("DESCRIBE") {
                            format!(
                                "{ok}Content-Type: application/sdp\r\nContent-Base: rtsp://127.0.0.1:{port}/door/\r\n\
                                 Content-Length: {}\r\n\r\n{sdp}",
                                sdp.len()
                            )
                        } else if first.starts_with("SETUP") && first.contains("/audio") {
                            format!("RTSP/1.0 461 Unsupported Transport\r\nCSeq: {cseq}\r\n\r\n")
                        } else if first.starts_with("SETUP") {
                            format!(
                                "{ok}Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 4711;timeout=60\r\n\r\n"
                            )
                        } else if first.starts_with("PLAY") {
                            format!(
                                "{ok}Session: 4711\r\nRange: npt=0.000-\r\n\
                                 RTP-Info: url=rtsp://127.0.0.1:{port}/door/video;seq=1;rtptime=0\r\n\r\n"
                            )
                        } else {
                            format!("{ok}Session: 4711\r\n\r\n")
                        };
                        if c.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                        if first.starts_with("PLAY") {
                            // One key frame (the IDR of a 32×32 grey picture), marker set.
                            let idr = [0x65, 0x88, 0x84, 0x04, 0xbc, 0x98, 0xa0, 0x00, 0x20, 0x2f, 0x27, 0x5d, 0x78];
                            let mut rtp = vec![0x80, 0x80 | 96, 0, 1, 0, 0, 0, 0, 0, 0, 0x12, 0x67];
                            rtp.extend_from_slice(&idr);
                            let mut framed = vec![b'$', 0];
                            framed.extend_from_slice(&(rtp.len() as u16).to_be_bytes());
                            framed.extend_from_slice(&rtp);
                            let _ = c.write_all(&framed).await;
                        }
                    }
                });
            }
        });
        port
    }

    /// A camera that refuses its sound's SETUP is recorded without it: the agent describes
    /// it again and sets up the picture alone, which arrives; it does not ask for the sound
    /// again in that session.
    #[tokio::test]
    async fn a_camera_that_refuses_its_sound_is_recorded_without_it() {
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let port = camera_refusing_sound(asked.clone()).await;
        let opener = RtspOpener {
            url: Url::parse(&format!("rtsp://127.0.0.1:{port}/door")).unwrap(),
            username: None,
            password: None,
            stall_timeout: Duration::from_secs(5),
            audio: true,
        };
        let mut frames = opener.open_async().await.expect("the picture alone is set up");
        let first = tokio::time::timeout(Duration::from_secs(5), frames.next())
            .await
            .expect("a frame within 5 s")
            .expect("the stream goes on")
            .expect("a frame, not an error");
        assert!(!first.audio && first.is_key, "{first:?}");
        assert!(first.new_sample_entry.is_some(), "the picture's parameters come with its first frame");
        let asked: Vec<String> = asked
            .lock()
            .unwrap()
            .iter()
            // The refused session's TEARDOWN (retina's, in the background) may come anywhere.
            .filter(|l| !l.starts_with("TEARDOWN"))
            .map(|l| {
                l.split(' ').next().unwrap().to_owned()
                    + if l.contains("/audio") {
                        " audio"
                    } else if l.contains("/video") {
                        " video"
                    } else {
                        ""
                    }
            })
            .collect();
        assert_eq!(
            &asked[..6],
            ["DESCRIBE", "SETUP video", "SETUP audio", "DESCRIBE", "SETUP video", "PLAY"],
            "{asked:?}"
        );
        assert!(!asked[6..].iter().any(|a| a.contains("audio")), "{asked:?}");
    }

    /// The sound is placed where its sender reports put it on the camera's wall clock,
    /// measured on the picture's clock; a later report moves it only past 10 ms.
    #[test]
    fn sound_is_placed_by_both_sessions_sender_reports() {
        let second: u64 = 1 << 32; // NTP is 32.32 fixed point
        let t = 3_900_000_000 * second; // any wall time, near the end of NTP's era
        let mut p = SoundPlacer::new(48_000);
        assert_eq!(p.place(0), None, "nothing placed before a report of each");
        p.picture_report(t, 90_000);
        assert_eq!(p.place(0), None);
        // The sound's 2 s was the camera's t + 0.5 s, when the picture was at 1.5 s.
        p.sound_report(t + second / 2, 96_000);
        assert_eq!(p.place(96_000), Some(135_000));
        assert_eq!(p.place(96_000 + 960), Some(135_000 + 1_800), "20 ms later");
        // Reports that agree within 10 ms leave it; a sound time 5 ms off does not move it.
        p.sound_report(t + second, 120_000 + 240);
        assert_eq!(p.place(96_000), Some(135_000));
        // With this picture report, 20 ms more (the camera's clocks drifted apart): 25 ms
        // off in all, placed anew by the latest reports.
        p.picture_report(t + 2 * second, 90_000 * 3 - 1_800);
        assert_eq!(p.place(96_000), Some(135_000 - 2_250));
        // Reports a minute and more apart in wall time are not believed: nothing moves.
        p.sound_report(t + 3_600 * second, 120_000);
        assert_eq!(p.place(96_000), Some(135_000 - 2_250));
        let mut far = SoundPlacer::new(48_000);
        far.picture_report(t, 0);
        far.sound_report(t.wrapping_add(u64::MAX / 2), 0);
        assert_eq!(far.place(0), None, "never tied");
        // The wall clock wraps (NTP era 1): the difference still counts.
        let mut p = SoundPlacer::new(8_000);
        p.picture_report(u64::MAX - second / 4 + 1, 0);
        p.sound_report(second / 4, 0);
        assert_eq!(p.place(8_000), Some(90_000 + 45_000));
    }

    /// Opus that comes before both sessions' reports is held, within bounds (count and
    /// bytes, the oldest dropped), and placed in order once they come.
    #[test]
    fn opus_before_the_reports_is_held_within_bounds_then_placed() {
        let mut o = OpusSide::new(Box::pin(futures::stream::empty()), 1).unwrap();
        for i in 0..600 {
            o.take(Bytes::from_static(&[0xf8, 1, 2]), i * 960);
        }
        assert_eq!((o.held.len(), o.dropped, o.ready.len()), (OPUS_HELD_MAX, 100, 0));
        // A camera's huge packets: never more than the byte bound held.
        for i in 600..610 {
            o.take(Bytes::from(vec![0xf8; 1 << 20]), i * 960);
        }
        assert!(o.held_bytes <= OPUS_HELD_BYTES_MAX && o.held.len() <= 2, "{} bytes", o.held_bytes);
        // The reports come (same wall time, picture at 1 s): what is held goes out placed,
        // in order, the first with the sample entry.
        o.placer.picture_report(1 << 40, 90_000);
        o.placer.sound_report(1 << 40, 0);
        o.take(Bytes::from_static(&[0xf8, 1, 2]), 610 * 960);
        let out: Vec<Frame> = o.ready.drain(..).collect();
        assert_eq!(out.len(), 3, "the two huge packets the bytes allowed, and the new one");
        assert!(out[0].new_sample_entry.is_some() && out[1..].iter().all(|f| f.new_sample_entry.is_none()));
        assert!(out.iter().all(|f| f.audio && f.is_key));
        assert_eq!(out.last().unwrap().pts_90k, 90_000 + 610 * 1_800);
        assert!(out.windows(2).all(|w| w[0].pts_90k < w[1].pts_90k));
        assert!(o.held.is_empty() && o.held_bytes == 0);
    }

    /// A description that makes retina's SDP parser panic (found by fuzzing the backchannel)
    /// ends in an error for this stream, which the streamer retries; nothing panics.
    #[tokio::test]
    async fn a_description_that_crashes_the_sdp_parser_is_an_error() {
        let port = camera(b"v=0\n\xf2\xff\n\xf6=`z").await;
        let url = Url::parse(&format!("rtsp://127.0.0.1:{port}/cam")).unwrap();
        let Err(e) = describe(&url, None, None, Duration::from_secs(5)).await else { panic!("described") };
        assert_eq!(e.kind(), ErrorKind::DataLoss, "{e}");
        assert!(e.msg().contains("crashed the RTSP parser"), "{e}");
    }
}
