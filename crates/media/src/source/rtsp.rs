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
    Credentials, InitialTimestampPolicy, PlayOptions, SessionOptions, SetupOptions, TcpTransportOptions, Transport,
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
    /// Also set up the camera's sound (AAC, G.711 or L16) in the same session, and yield its
    /// frames (`Frame::audio`) on the video's clock. A camera without one records video only.
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
/// opaque, and a wrong password or a wrong path deserve their own status.
fn classify(e: retina::Error, what: &str) -> Error {
    let text = e.to_string();
    let kind = if text.contains("401") {
        ErrorKind::Unauthenticated
    } else if text.contains("404") {
        ErrorKind::NotFound
    } else {
        ErrorKind::Unavailable
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
/// packets' arrival does.
async fn play(
    mut session: retina::client::Session<retina::client::Described>,
    streams: Vec<(usize, SetupOptions)>,
) -> Result<retina::client::Demuxed, Error> {
    for (i, setup) in streams {
        session
            .setup(i, setup.transport(Transport::Tcp(TcpTransportOptions::default())))
            .await
            .map_err(|e| classify(e, "SETUP failed"))?;
    }
    session
        .play(PlayOptions::default().initial_timestamp(InitialTimestampPolicy::Permissive))
        .await
        .map_err(|e| classify(e, "PLAY failed"))?
        .demuxed()
        .map_err(|e| classify(e, "demuxing"))
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
        if self.audio {
            match session.streams().iter().position(recordable_audio) {
                Some(i) => match audio_entry(&session.streams()[i]) {
                    Ok(e) => {
                        let rate = session.streams()[i].clock_rate_hz();
                        audio = Some((i, Arc::new(e), rate));
                        setups.push((i, SetupOptions::default()));
                    }
                    Err(e) => tracing::warn!("{}: not recording its sound: {e}", self.describe()),
                },
                None => tracing::warn!(
                    "{}: no sound to record: recording takes AAC, G.711 (PCMU, PCMA) and L16 (found: {})",
                    self.describe(),
                    found.join(", ")
                ),
            }
        }
        let playing = match play(session, setups).await {
            Ok(p) => p,
            // A camera that refuses the sound's SETUP (or PLAY with it) still records its
            // picture: once more, without the sound.
            Err(e) if audio.is_some() && e.kind() != ErrorKind::Unauthenticated => {
                tracing::warn!("{}: recording without its sound, which it refused: {e}", self.describe());
                audio = None;
                let session =
                    describe(&self.url, self.username.as_deref(), self.password.as_deref(), self.stall_timeout).await?;
                play(session, vec![(video, SetupOptions::default().frame_format(FrameFormat::MP4))]).await?
            }
            Err(e) => return Err(e),
        };
        let stall = self.stall_timeout;
        let state = Reading { session: playing, video, audio, audio_entry_sent: false, first: true, entry: None };
        let s = futures::stream::unfold(state, move |mut r| async move {
            // The deadline runs from the last video frame: RTCP sender reports (and sound)
            // keep coming from a server whose video has stopped, and must not keep the
            // stream alive.
            let deadline = tokio::time::Instant::now() + stall;
            loop {
                let item = match tokio::time::timeout_at(deadline, r.session.next()).await {
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
                        let pts_90k = (i128::from(at) * 90_000 / i128::from(*rate)) as i64;
                        let new_sample_entry = (!r.audio_entry_sent).then(|| entry.clone());
                        r.audio_entry_sent = true;
                        let data = Bytes::copy_from_slice(a.data());
                        let frame = Frame { pts_90k, is_key: true, data, new_sample_entry, audio: true };
                        return Some((Ok(frame), r));
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
            ("opus", 48_000) => SoundFormat::Opus { channels: s.channels().map_or(2, |c| c.get()).min(2) as u8 },
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
        return Ok((format, opus_packets(session, i, timeout).await?));
    }
    let playing = play(session, vec![(i, SetupOptions::default())]).await?;
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

/// A camera's Opus sound, packet by packet. retina has no depacketizer for Opus (so no
/// demuxed session can carry it), but RFC 7587 needs none: each RTP payload is one Opus
/// packet, whose duration its first byte tells (`crate::opus`). So this session, which
/// carries the sound alone, is read as RTP packets. A packet whose duration cannot be told
/// is skipped, counted, and logged once.
async fn opus_packets(
    mut session: retina::client::Session<retina::client::Described>,
    i: usize,
    timeout: Duration,
) -> Result<SoundStream, Error> {
    session
        .setup(i, SetupOptions::default().transport(Transport::Tcp(TcpTransportOptions::default())))
        .await
        .map_err(|e| classify(e, "SETUP failed"))?;
    let playing = session
        .play(PlayOptions::default().initial_timestamp(InitialTimestampPolicy::Permissive))
        .await
        .map_err(|e| classify(e, "PLAY failed"))?;
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
            let retina::client::PacketItem::Rtp(p) = item else { continue };
            if p.stream_id() != i {
                continue;
            }
            match crate::opus::packet_samples(p.payload()) {
                Some(n) => return Some((Ok((p.payload().to_vec(), n)), (session, skipped))),
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
