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
use retina::client::{Credentials, PlayOptions, SessionOptions, SetupOptions, TcpTransportOptions, Transport};
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

/// SETUP of stream `i` over TCP, then PLAY, demuxed.
async fn play(
    mut session: retina::client::Session<retina::client::Described>,
    i: usize,
    setup: SetupOptions,
) -> Result<retina::client::Demuxed, Error> {
    session
        .setup(i, setup.transport(Transport::Tcp(TcpTransportOptions::default())))
        .await
        .map_err(|e| classify(e, "SETUP failed"))?;
    session
        .play(PlayOptions::default())
        .await
        .map_err(|e| classify(e, "PLAY failed"))?
        .demuxed()
        .map_err(|e| classify(e, "demuxing"))
}

impl RtspOpener {
    async fn open_async(&self) -> Result<FrameStream, Error> {
        let session =
            describe(&self.url, self.username.as_deref(), self.password.as_deref(), self.stall_timeout).await?;
        let found: Vec<String> =
            session.streams().iter().map(|s| format!("{}/{}", s.media(), s.encoding_name())).collect();
        let Some(i) =
            session.streams().iter().position(|s| s.media() == "video" && matches!(s.encoding_name(), "h264" | "h265"))
        else {
            bail!(InvalidArgument, "camera offers no H.264 or H.265 video stream (found: {})", found.join(", "));
        };
        let playing = play(session, i, SetupOptions::default().frame_format(FrameFormat::MP4)).await?;
        let stall = self.stall_timeout;
        let state = (playing, true, None::<Arc<SampleEntry>>);
        let s = futures::stream::unfold(state, move |(mut session, mut first, mut entry)| async move {
            // The deadline runs from the last video frame: RTCP sender reports keep coming
            // from a server whose video has stopped, and must not keep the stream alive.
            let deadline = tokio::time::Instant::now() + stall;
            loop {
                let item = match tokio::time::timeout_at(deadline, session.next()).await {
                    Err(_) => {
                        let e = base::err!(Unavailable, "camera sent no video for {stall:?}");
                        return Some((Err(e), (session, first, entry)));
                    }
                    Ok(None) => return None,
                    Ok(Some(Err(e))) => return Some((Err(classify(e, "stream failed")), (session, first, entry))),
                    Ok(Some(Ok(item))) => item,
                };
                let CodecItem::VideoFrame(f) = item else { continue };
                if f.stream_id() != i {
                    continue;
                }
                let mut new_entry = None;
                if first || f.has_new_parameters() {
                    match session.streams()[i].parameters() {
                        Some(ParametersRef::Video(p)) => {
                            let built = p
                                .mp4_sample_entry()
                                .build()
                                .map_err(|e| Error::wrap(ErrorKind::DataLoss, "building sample entry", e))
                                .and_then(SampleEntry::from_box);
                            match built {
                                Ok(e) => {
                                    let e = Arc::new(e);
                                    if entry.as_deref() != Some(&*e) {
                                        new_entry = Some(e.clone());
                                    }
                                    entry = Some(e);
                                }
                                Err(e) => return Some((Err(e), (session, first, entry))),
                            }
                        }
                        _ => {
                            let e = base::err!(DataLoss, "video frame arrived without codec parameters");
                            return Some((Err(e), (session, first, entry)));
                        }
                    }
                    first = false;
                }
                if f.loss() > 0 {
                    tracing::debug!(lost_packets = f.loss(), "RTP loss before frame");
                }
                let is_key = f.is_random_access_point();
                let pts_90k = f.timestamp().timestamp();
                let data = Bytes::from(f.into_data());
                if let Err(e) = nal::check_length_prefixed(&data) {
                    return Some((Err(e), (session, first, entry)));
                }
                let frame = Frame { pts_90k, is_key, data, new_sample_entry: new_entry };
                return Some((Ok(frame), (session, first, entry)));
            }
        });
        Ok(Box::pin(s))
    }
}

/// A camera's sound as G.711 bytes at 8 kHz, read from its own RTSP session (the audio track
/// only, beside the recording's video session), for live view.
pub type SoundStream = Pin<Box<dyn futures::Stream<Item = Result<Vec<u8>, Error>> + Send>>;

/// Opens the camera's G.711 audio track (PCMU or PCMA at 8 kHz); returns its law and its
/// frames as they arrive. A camera whose audio is another codec is refused, naming it.
pub async fn open_sound(
    url: &Url,
    username: Option<&str>,
    password: Option<&str>,
    timeout: Duration,
) -> Result<(crate::g711::Law, SoundStream), Error> {
    let session = describe(url, username, password, timeout).await?;
    let audio: Vec<(usize, String, u32)> = session
        .streams()
        .iter()
        .enumerate()
        .filter(|(_, s)| s.media() == "audio")
        .map(|(i, s)| (i, s.encoding_name().to_owned(), s.clock_rate_hz()))
        .collect();
    let Some((i, law)) = audio.iter().find_map(|(i, enc, rate)| match (enc.as_str(), rate) {
        ("pcmu", 8000) => Some((*i, crate::g711::Law::Mu)),
        ("pcma", 8000) => Some((*i, crate::g711::Law::A)),
        _ => None,
    }) else {
        if audio.is_empty() {
            bail!(FailedPrecondition, "the camera sends no sound");
        }
        let found: Vec<String> = audio.iter().map(|(_, e, r)| format!("{e}/{r}")).collect();
        bail!(
            FailedPrecondition,
            "the camera's sound is {}; live sound takes G.711 (PCMU or PCMA) for now",
            found.join(", ")
        );
    };
    let playing = play(session, i, SetupOptions::default()).await?;
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
                return Some((Ok(f.data().to_vec()), session));
            }
        }
    });
    Ok((law, Box::pin(s)))
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
            let (mut buf, mut got) = (vec![0u8; 4096], Vec::new());
            loop {
                let n = c.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                got.extend_from_slice(&buf[..n]);
                while let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    let req = String::from_utf8_lossy(&got[..end]).into_owned();
                    got.drain(..end + 4);
                    let cseq = req.lines().find_map(|l| l.strip_prefix("CSeq:")).unwrap_or("1").trim().to_owned();
                    let head = format!(
                        "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\n\
                         Content-Base: rtsp://127.0.0.1:{port}/cam/\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = c.write_all(&[head.as_bytes(), body].concat()).await;
                }
            }
        });
        port
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
