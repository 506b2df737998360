//! The ONVIF RTSP backchannel: sound from Porchlight to a camera's speaker.
//!
//! ONVIF Streaming (Profile T, section 5.3) adds a track to the camera's session that the
//! client sends rather than receives: the client asks with `Require:
//! www.onvif.org/ver20/backchannel` on DESCRIBE, SETUP and PLAY, the camera's SDP marks
//! that track `a=sendonly` (from the client's side), and once playing the client sends RTP
//! on it. `retina` reads cameras but sends nothing, so this is a small client of its own:
//! one TCP connection, RTP interleaved on it (RFC 2326 section 10.12), Basic or Digest
//! authentication through `http-auth` (as `retina` does), its own reading of the SDP's media
//! sections, and only what a backchannel needs. Every byte from the camera goes through [`parse_response`] and
//! [`backchannel_track`], which are fuzzed (`fuzz/fuzz_targets/rtsp_backchannel.rs`).
//!
//! Codecs: G.711 µ-law and A-law at 8 kHz, what cameras' speakers take; a camera whose
//! backchannel offers neither is refused with the codecs it offers.

use std::time::Duration;

use base::{Error, ErrorKind, bail, err};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use crate::g711::Law;

/// The ONVIF feature tag a client names to be offered the backchannel.
pub const REQUIRE: &str = "www.onvif.org/ver20/backchannel";
/// Largest response head (status line and headers) accepted from a camera.
pub const HEAD_BYTES_MAX: usize = 16 * 1024;
/// Largest response body (an SDP) accepted from a camera.
pub const BODY_BYTES_MAX: usize = 64 * 1024;
/// Samples per RTP packet: 20 ms at 8 kHz, as cameras expect.
pub const PACKET_SAMPLES: usize = 160;

/// An RTSP response, as far as a backchannel needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Header names lower-cased, in order (a name may repeat).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// What [`parse_response`] found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// An interleaved binary frame (RTCP from the camera, say) of this many bytes in all,
    /// to skip.
    Interleaved(usize),
    /// A whole response, and how many bytes it took.
    Response(Response, usize),
}

/// Parses the start of `buf` as an RTSP response or an interleaved frame.
pub fn parse_response(buf: &[u8]) -> Result<Parsed, Error> {
    if buf.is_empty() {
        return Ok(Parsed::Incomplete);
    }
    if buf[0] == b'$' {
        if buf.len() < 4 {
            return Ok(Parsed::Incomplete);
        }
        let n = 4 + usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        return Ok(if buf.len() < n { Parsed::Incomplete } else { Parsed::Interleaved(n) });
    }
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > HEAD_BYTES_MAX {
            bail!(DataLoss, "camera's RTSP response head is over {HEAD_BYTES_MAX} bytes");
        }
        return Ok(Parsed::Incomplete);
    };
    if end > HEAD_BYTES_MAX {
        bail!(DataLoss, "camera's RTSP response head is over {HEAD_BYTES_MAX} bytes");
    }
    let head =
        std::str::from_utf8(&buf[..end]).map_err(|_| err!(DataLoss, "camera's RTSP response head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code, reason) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
    if version != Some("RTSP/1.0") {
        bail!(
            DataLoss,
            "camera answered {:?}, not an RTSP/1.0 status line",
            status_line.chars().take(40).collect::<String>()
        );
    }
    let status: u16 = code
        .filter(|c| c.len() == 3)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| err!(DataLoss, "camera's RTSP status code {code:?} is not three digits"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) =
            line.split_once(':').ok_or_else(|| err!(DataLoss, "camera's RTSP header line has no colon"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let len = match headers.iter().find(|(n, _)| n == "content-length") {
        None => 0,
        Some((_, v)) => {
            v.parse::<usize>().map_err(|_| err!(DataLoss, "camera's Content-Length {v:?} is not a number"))?
        }
    };
    if len > BODY_BYTES_MAX {
        bail!(DataLoss, "camera's RTSP body is {len} bytes, over {BODY_BYTES_MAX}");
    }
    let total = end + 4 + len;
    if buf.len() < total {
        return Ok(Parsed::Incomplete);
    }
    let body = buf[end + 4..total].to_vec();
    Ok(Parsed::Response(Response { status, reason: reason.to_owned(), headers, body }, total))
}

/// The camera's backchannel track, from its SDP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Track {
    /// Where to SETUP the track (absolute).
    pub control: String,
    pub payload_type: u8,
    pub law: Law,
}

/// One media section of an SDP (RFC 8866): what a backchannel needs of it.
struct MediaSection<'a> {
    media: &'a str,
    formats: Vec<&'a str>,
    /// `a=` lines: name and value (`None` for a flag such as `sendonly`).
    attributes: Vec<(&'a str, Option<&'a str>)>,
}

/// Splits an SDP into its media sections (the session part before the first `m=` is not
/// needed). Our own reading, line by line, of only what is used: a camera's bytes must
/// never panic the agent, and a general SDP parser did on fuzzed input.
fn media_sections(sdp: &[u8]) -> Result<Vec<MediaSection<'_>>, Error> {
    let text = std::str::from_utf8(sdp).map_err(|_| err!(DataLoss, "camera's SDP is not UTF-8"))?;
    let mut out: Vec<MediaSection> = Vec::new();
    for line in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        if let Some(m) = line.strip_prefix("m=") {
            // m=<media> <port> <proto> <fmt> ...
            let mut parts = m.split(' ').filter(|p| !p.is_empty());
            let media = parts.next().ok_or_else(|| err!(DataLoss, "camera's SDP has an empty m= line"))?;
            let formats: Vec<&str> = parts.skip(2).collect();
            out.push(MediaSection { media, formats, attributes: Vec::new() });
        } else if let Some(a) = line.strip_prefix("a=")
            && let Some(section) = out.last_mut()
        {
            let (name, value) = match a.split_once(':') {
                Some((n, v)) => (n, Some(v)),
                None => (a, None),
            };
            section.attributes.push((name, value));
        }
    }
    Ok(out)
}

/// Finds the backchannel (an audio track marked `a=sendonly`) in `sdp` and a G.711 format
/// it takes; `base` resolves a relative control URL.
pub fn backchannel_track(base: &Url, sdp: &[u8]) -> Result<Track, Error> {
    let mut offered = Vec::new();
    for m in media_sections(sdp)?.iter().filter(|m| m.media == "audio") {
        if !m.attributes.iter().any(|(n, _)| *n == "sendonly") {
            continue;
        }
        let control = m
            .attributes
            .iter()
            .find_map(|(n, v)| (*n == "control").then_some(*v).flatten())
            .ok_or_else(|| err!(DataLoss, "camera's backchannel track has no a=control"))?;
        // Formats in the order the camera prefers them; static types need no rtpmap.
        for fmt in &m.formats {
            let Ok(pt) = fmt.parse::<u8>() else { continue };
            let rtpmap = m.attributes.iter().find_map(|(n, v)| {
                let v = v.filter(|_| *n == "rtpmap")?;
                let (n, enc) = v.split_once(' ')?;
                (n.parse::<u8>().ok()? == pt).then(|| enc.trim().to_ascii_uppercase())
            });
            let enc = rtpmap.unwrap_or_else(|| match pt {
                0 => "PCMU/8000".into(),
                8 => "PCMA/8000".into(),
                _ => format!("payload type {pt}"),
            });
            let law = match enc.as_str() {
                "PCMU/8000" | "PCMU/8000/1" => Some(Law::Mu),
                "PCMA/8000" | "PCMA/8000/1" => Some(Law::A),
                _ => None,
            };
            match law {
                Some(law) => {
                    let control = resolve(base, control)?;
                    return Ok(Track { control, payload_type: pt, law });
                }
                None => offered.push(enc),
            }
        }
    }
    if offered.is_empty() {
        bail!(FailedPrecondition, "the camera offers no backchannel (no audio track marked sendonly)");
    }
    bail!(
        FailedPrecondition,
        "the camera's backchannel takes {}; Porchlight sends G.711 (PCMU or PCMA at 8 kHz)",
        offered.join(", ")
    )
}

fn resolve(base: &Url, control: &str) -> Result<String, Error> {
    if control.starts_with("rtsp://") || control.starts_with("rtsps://") {
        return Ok(control.to_owned());
    }
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let p = format!("{}/", base.path());
        base.set_path(&p);
    }
    let url = base.join(control).map_err(|e| err!(DataLoss, "camera's control URL {control:?}: {e}"))?;
    if !matches!(url.scheme(), "rtsp" | "rtsps") {
        bail!(DataLoss, "camera's control URL {control:?} is not an RTSP URL");
    }
    Ok(url.to_string())
}

/// The RTP header for one packet (RFC 3550 section 5.1: version 2, no padding, extension
/// or CSRC).
fn rtp_header(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[0] = 0x80;
    h[1] = pt | if marker { 0x80 } else { 0 };
    h[2..4].copy_from_slice(&seq.to_be_bytes());
    h[4..8].copy_from_slice(&ts.to_be_bytes());
    h[8..12].copy_from_slice(&ssrc.to_be_bytes());
    h
}

/// A playing backchannel session to one camera.
pub struct Backchannel {
    conn: TcpStream,
    url: Url,
    creds: Option<(String, String)>,
    auth: Option<http_auth::PasswordClient>,
    cseq: u32,
    session: String,
    keepalive: Duration,
    last_request: tokio::time::Instant,
    track: Track,
    channel: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    first: bool,
    pending: Vec<i16>,
    inbox: Vec<u8>,
}

impl std::fmt::Debug for Backchannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backchannel").field("track", &self.track).finish_non_exhaustive()
    }
}

impl Backchannel {
    /// Connects to the camera at `url` (credentials apart, as in the agent's config) and
    /// plays its backchannel: DESCRIBE, SETUP of the backchannel track over TCP, PLAY, each
    /// requiring the ONVIF backchannel. Every step is bounded by `timeout`.
    pub async fn connect(
        url: &Url,
        username: Option<&str>,
        password: Option<&str>,
        timeout: Duration,
    ) -> Result<Backchannel, Error> {
        tokio::time::timeout(timeout, Self::connect_inner(url, username, password))
            .await
            .map_err(|_| err!(Unavailable, "the camera's backchannel did not answer within {timeout:?}"))?
    }

    /// Whether the camera at `url` has a speaker Porchlight can reach: its DESCRIBE, with
    /// the ONVIF backchannel required, offers a sendonly audio track in G.711. `Ok(false)`
    /// when the camera says it has none (551, or no such track, or another codec); an
    /// error when it could not be asked (unreachable, credentials refused, bytes that are
    /// not RTSP). Nothing is set up.
    pub async fn offered(
        url: &Url,
        username: Option<&str>,
        password: Option<&str>,
        timeout: Duration,
    ) -> Result<bool, Error> {
        let asked = tokio::time::timeout(timeout, async {
            let mut b = Self::open(url, username, password).await?;
            b.describe().await
        })
        .await
        .map_err(|_| err!(Unavailable, "the camera did not describe its backchannel within {timeout:?}"))?;
        match asked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::FailedPrecondition => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn connect_inner(url: &Url, username: Option<&str>, password: Option<&str>) -> Result<Backchannel, Error> {
        let mut b = Self::open(url, username, password).await?;
        b.describe().await?;
        let transport = format!("RTP/AVP/TCP;unicast;interleaved={}-{}", b.channel, b.channel + 1);
        let control = b.track.control.clone();
        let r = b.request("SETUP", &control, &[("Transport", &transport)]).await?;
        if r.status != 200 {
            bail!(FailedPrecondition, "the camera refused the backchannel's SETUP: {} {}", r.status, r.reason);
        }
        let session = r.header("session").ok_or_else(|| err!(DataLoss, "the camera's SETUP answer has no Session"))?;
        let (id, rest) = session.split_once(';').unwrap_or((session, ""));
        b.session = id.trim().to_owned();
        if let Some(t) = rest.split(';').find_map(|p| p.trim().strip_prefix("timeout=")) {
            let secs: u64 = t.trim().parse().unwrap_or(60);
            b.keepalive = Duration::from_secs((secs / 2).clamp(5, 60));
        }
        if let Some(t) = r.header("transport")
            && let Some(ch) = t.split(';').find_map(|p| p.trim().strip_prefix("interleaved="))
        {
            b.channel = ch.split('-').next().and_then(|c| c.parse().ok()).unwrap_or(b.channel);
        }
        let url = b.url.clone();
        let r = b.request("PLAY", url.as_str(), &[("Range", "npt=0.000-")]).await?;
        if r.status != 200 {
            bail!(FailedPrecondition, "the camera refused the backchannel's PLAY: {} {}", r.status, r.reason);
        }
        Ok(b)
    }

    /// The camera's TCP connection, nothing asked yet.
    async fn open(url: &Url, username: Option<&str>, password: Option<&str>) -> Result<Backchannel, Error> {
        let host = url.host_str().ok_or_else(|| err!(InvalidArgument, "camera URL has no host"))?;
        let port = url.port().unwrap_or(554);
        let conn = TcpStream::connect((host, port)).await.map_err(|e| {
            Error::wrap(ErrorKind::Unavailable, format!("connecting to {host}:{port} for the backchannel"), e)
        })?;
        let _ = conn.set_nodelay(true);
        let mut url = url.clone();
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok(Backchannel {
            conn,
            url: url.clone(),
            creds: username.map(|u| (u.to_owned(), password.unwrap_or_default().to_owned())),
            auth: None,
            cseq: 0,
            session: String::new(),
            keepalive: Duration::from_secs(30),
            last_request: tokio::time::Instant::now(),
            track: Track { control: String::new(), payload_type: 0, law: Law::Mu },
            channel: 0,
            seq: rand_u16(),
            ts: rand_u32(),
            ssrc: rand_u32(),
            first: true,
            pending: Vec::new(),
            inbox: Vec::new(),
        })
    }

    /// DESCRIBE with the backchannel required; finds its track.
    async fn describe(&mut self) -> Result<(), Error> {
        let url = self.url.clone();
        let r = self.request("DESCRIBE", url.as_str(), &[("Accept", "application/sdp")]).await?;
        match r.status {
            200 => {}
            551 => {
                bail!(FailedPrecondition, "the camera has no ONVIF backchannel (it answered 551 Option not supported)")
            }
            s => bail!(FailedPrecondition, "the camera refused the backchannel's DESCRIBE: {s} {}", r.reason),
        }
        let base = r.header("content-base").and_then(|v| Url::parse(v).ok()).unwrap_or(url);
        self.track = backchannel_track(&base, &r.body)?;
        Ok(())
    }

    /// The law the camera takes.
    pub fn law(&self) -> Law {
        self.track.law
    }

    /// Sends 8 kHz mono samples: whole 20 ms packets now, the rest with the next call.
    pub async fn send(&mut self, pcm: &[i16]) -> Result<(), Error> {
        self.pending.extend_from_slice(pcm);
        let whole = self.pending.len() / PACKET_SAMPLES * PACKET_SAMPLES;
        if whole == 0 {
            return self.housekeeping().await;
        }
        let mut out = Vec::with_capacity(whole / PACKET_SAMPLES * (4 + 12 + PACKET_SAMPLES));
        for chunk in self.pending[..whole].chunks(PACKET_SAMPLES) {
            out.push(b'$');
            out.push(self.channel);
            out.extend_from_slice(&((12 + chunk.len()) as u16).to_be_bytes());
            out.extend_from_slice(&rtp_header(self.track.payload_type, self.first, self.seq, self.ts, self.ssrc));
            out.extend(chunk.iter().map(|&s| self.track.law.encode(s)));
            self.first = false;
            self.seq = self.seq.wrapping_add(1);
            self.ts = self.ts.wrapping_add(chunk.len() as u32);
        }
        self.pending.drain(..whole);
        self.conn
            .write_all(&out)
            .await
            .map_err(|e| Error::wrap(ErrorKind::Unavailable, "sending sound to the camera", e))?;
        self.housekeeping().await
    }

    /// Reads what the camera sent meanwhile (RTCP, answers to keep-alives) without waiting,
    /// and keeps the session alive.
    async fn housekeeping(&mut self) -> Result<(), Error> {
        let mut buf = [0u8; 4096];
        loop {
            match self.conn.try_read(&mut buf) {
                Ok(0) => bail!(Unavailable, "the camera closed the backchannel"),
                Ok(n) => self.inbox.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(Error::wrap(ErrorKind::Unavailable, "reading from the camera", e)),
            }
        }
        loop {
            match parse_response(&self.inbox)? {
                Parsed::Incomplete => break,
                Parsed::Interleaved(n) | Parsed::Response(_, n) => {
                    self.inbox.drain(..n);
                }
            }
        }
        if self.last_request.elapsed() >= self.keepalive {
            let url = self.url.to_string();
            let req = self.format("GET_PARAMETER", &url, &[])?;
            self.conn
                .write_all(req.as_bytes())
                .await
                .map_err(|e| Error::wrap(ErrorKind::Unavailable, "keeping the backchannel alive", e))?;
        }
        Ok(())
    }

    /// Ends the session (TEARDOWN), best effort.
    pub async fn close(mut self) {
        let url = self.url.to_string();
        if let Ok(req) = self.format("TEARDOWN", &url, &[]) {
            let _ = tokio::time::timeout(Duration::from_secs(1), self.conn.write_all(req.as_bytes())).await;
        }
    }

    fn format(&mut self, method: &str, uri: &str, extra: &[(&str, &str)]) -> Result<String, Error> {
        self.cseq += 1;
        self.last_request = tokio::time::Instant::now();
        let mut req = format!(
            "{method} {uri} RTSP/1.0\r\nCSeq: {}\r\nUser-Agent: Porchlight\r\nRequire: {REQUIRE}\r\n",
            self.cseq
        );
        if !self.session.is_empty() {
            req.push_str(&format!("Session: {}\r\n", self.session));
        }
        if let (Some(auth), Some((user, pass))) = (&mut self.auth, &self.creds) {
            let a = auth
                .respond(&http_auth::PasswordParams { username: user, password: pass, uri, method, body: Some(&[]) })
                .map_err(|e| err!(Unauthenticated, "answering the camera's authentication challenge: {e}"))?;
            req.push_str(&format!("Authorization: {a}\r\n"));
        }
        for (n, v) in extra {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        Ok(req)
    }

    /// Sends a request and reads its answer, authenticating once on a 401.
    async fn request(&mut self, method: &str, uri: &str, extra: &[(&str, &str)]) -> Result<Response, Error> {
        for attempt in 0..2 {
            let req = self.format(method, uri, extra)?;
            self.conn
                .write_all(req.as_bytes())
                .await
                .map_err(|e| Error::wrap(ErrorKind::Unavailable, format!("sending {method} to the camera"), e))?;
            let r = self.read_response().await?;
            if r.status == 401 && attempt == 0 && self.creds.is_some() {
                let mut builder = http_auth::PasswordClient::builder();
                for (_, v) in r.headers.iter().filter(|(n, _)| n == "www-authenticate") {
                    builder = builder.challenges(v);
                }
                self.auth = Some(
                    builder.build().map_err(|e| err!(Unauthenticated, "the camera's authentication challenge: {e}"))?,
                );
                continue;
            }
            if r.status == 401 {
                bail!(Unauthenticated, "the camera rejected the credentials for its backchannel (401)");
            }
            return Ok(r);
        }
        unreachable!("two attempts at most")
    }

    async fn read_response(&mut self) -> Result<Response, Error> {
        let mut buf = [0u8; 4096];
        loop {
            match parse_response(&self.inbox)? {
                Parsed::Incomplete => {}
                Parsed::Interleaved(n) => {
                    self.inbox.drain(..n);
                    continue;
                }
                Parsed::Response(r, n) => {
                    self.inbox.drain(..n);
                    return Ok(r);
                }
            }
            let n = self
                .conn
                .read(&mut buf)
                .await
                .map_err(|e| Error::wrap(ErrorKind::Unavailable, "reading the camera's answer", e))?;
            if n == 0 {
                bail!(Unavailable, "the camera closed the connection before answering");
            }
            self.inbox.extend_from_slice(&buf[..n]);
        }
    }
}

fn rand_u32() -> u32 {
    // Fresh per session (RFC 3550 asks for random SSRCs and initial values); not secret.
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let x = t.as_nanos() as u64 ^ (u64::from(std::process::id()) << 32);
    let x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 32) as u32 ^ x as u32
}

fn rand_u16() -> u16 {
    rand_u32() as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\na=control:*\r\n\
        m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:stream=0\r\na=recvonly\r\n\
        m=audio 0 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=control:stream=1\r\na=recvonly\r\n\
        m=audio 0 RTP/AVP 97 8\r\na=rtpmap:97 MPEG4-GENERIC/16000\r\na=control:stream=2\r\na=sendonly\r\n";

    #[test]
    fn finds_the_sendonly_track_and_a_g711_format_in_it() {
        let base = Url::parse("rtsp://cam/live/").unwrap();
        let t = backchannel_track(&base, SDP.as_bytes()).unwrap();
        assert_eq!(t, Track { control: "rtsp://cam/live/stream=2".into(), payload_type: 8, law: Law::A });
        let no_g711 = SDP.replace("RTP/AVP 97 8", "RTP/AVP 97");
        let e = backchannel_track(&base, no_g711.as_bytes()).unwrap_err();
        assert!(e.msg().contains("MPEG4-GENERIC/16000"), "{}", e.msg());
        let none = SDP.replace("a=sendonly", "a=recvonly");
        let e = backchannel_track(&base, none.as_bytes()).unwrap_err();
        assert!(e.msg().contains("no backchannel"), "{}", e.msg());
        assert!(backchannel_track(&base, b"not sdp").is_err());
        // What a general SDP parser panicked on (found by fuzzing): refused, no panic.
        assert!(backchannel_track(&base, b"v=0\n\xf2\xff\n\xf6=`z").is_err());
        let elsewhere = SDP.replace("a=control:stream=2", "a=control:http://elsewhere/x");
        assert!(backchannel_track(&base, elsewhere.as_bytes()).is_err(), "a control URL that is not RTSP");
        assert!(backchannel_track(&base, "m=audio\r\na=sendonly\r\na=control\r\n".as_bytes()).is_err());
    }

    #[test]
    fn parses_responses_and_skips_interleaved_frames() {
        let r = b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: 3\r\nSession: abc;timeout=60\r\n\r\nsdpREST";
        match parse_response(r).unwrap() {
            Parsed::Response(resp, n) => {
                assert_eq!((resp.status, resp.body.as_slice(), n), (200, &b"sdp"[..], r.len() - 4));
                assert_eq!(resp.header("session"), Some("abc;timeout=60"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_response(&r[..20]).unwrap(), Parsed::Incomplete);
        assert_eq!(parse_response(b"$\x01\x00\x02ab").unwrap(), Parsed::Interleaved(6));
        assert_eq!(parse_response(b"$\x01\x00\x09ab").unwrap(), Parsed::Incomplete);
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse_response(b"RTSP/1.0 2000 OK\r\n\r\n").is_err());
        assert!(parse_response(b"RTSP/1.0 200 OK\r\nContent-Length: 99999999\r\n\r\n").is_err());
        assert!(parse_response(&vec![b'a'; HEAD_BYTES_MAX + 1]).is_err());
    }

    #[test]
    fn rtp_headers_follow_rfc_3550() {
        let h = rtp_header(0, true, 0x1234, 0xdead_beef, 7);
        assert_eq!(h, [0x80, 0x80, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 7]);
        assert_eq!(rtp_header(8, false, 1, 2, 3)[1], 8);
    }
}
