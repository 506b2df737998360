//! Talking through a camera: a member's sound, sealed in the browser (`crypto::talk`),
//! opened here and played on the camera's speaker.
//!
//! A session is checked like a live request, and more: the signer must be the owner or a
//! roster member whose role speaks for the household, inside their window
//! (`Trust::check_talk`), and the session's key must be wrapped for this agent's keys.
//! Packets open only in rising order (a replayed or reordered one is refused and logged,
//! never played). The Opus in them is decoded at 8 kHz and sent to the camera's speaker:
//! its ONVIF backchannel (`media::backchannel`, G.711 as the camera asks), or a command of
//! the owner's that reads 16-bit little-endian 8 kHz mono PCM on its standard input (a
//! speaker on the agent's own machine: `aplay -f S16_LE -r 8000 -c 1`). One talker per
//! camera at a time; a session ends when the member stops, goes quiet for 5 s, or after
//! five minutes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base::{Error, ErrorKind, bail};
use tokio::io::AsyncWriteExt;
use url::Url;

use crate::layout::Layout;
use crate::sealing;

/// The longest talk session.
pub const SESSION_MAX: Duration = Duration::from_secs(300);
/// How long reaching the camera's speaker may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Samples in the largest Opus packet (120 ms) at 8 kHz.
const FRAME_SAMPLES_MAX: usize = 960;

/// Where a camera's sound goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Speaker {
    /// The camera's ONVIF backchannel, on its RTSP URL.
    Backchannel { url: Url, username: Option<String>, password: Option<String> },
    /// A command that reads PCM (16-bit little-endian, 8 kHz, mono) on its standard input.
    Exec { argv: Vec<String> },
}

/// The cameras' speakers, and which of them someone is talking through.
#[derive(Default)]
pub struct Talk {
    speakers: HashMap<String, Speaker>,
    busy: Mutex<HashSet<String>>,
    /// Where what is learnt of each camera's speaker goes (for the app: no "Talk" for a
    /// camera without one).
    board: crate::status::StatusBoard,
}

/// How often a camera whose backchannel could not be asked about is asked again.
const ASK_AGAIN: Duration = Duration::from_secs(60);

/// A camera claimed for one talker; freed when dropped.
pub struct Claim {
    talk: Arc<Talk>,
    camera: String,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.talk.busy.lock().expect("talk lock").remove(&self.camera);
    }
}

impl Talk {
    pub fn new(speakers: HashMap<String, Speaker>, board: crate::status::StatusBoard) -> Arc<Talk> {
        Arc::new(Talk { speakers, busy: Mutex::default(), board })
    }

    /// Records whether `camera` has a speaker the agent can reach (from asking the camera,
    /// or, yes only, from a talk session that reached it).
    pub fn learned(&self, camera: &str, has: bool) {
        if self.board.speaker(camera) != Some(has) {
            tracing::info!(%camera, speaker = has, "the camera's speaker");
        }
        self.board.set_speaker(camera, has);
    }

    /// Learns which of `cameras` have a speaker: none where nothing is configured, yes
    /// for a speaker command, and for a backchannel, what the camera's description says
    /// (asked again every minute until it answers). Ends when all are known or at
    /// shutdown.
    pub async fn learn(self: Arc<Self>, cameras: Vec<String>, mut shutdown: base::shutdown::Receiver) {
        let mut unknown = Vec::new();
        for c in cameras {
            match self.speakers.get(&c) {
                None => self.learned(&c, false),
                Some(Speaker::Exec { .. }) => self.learned(&c, true),
                Some(Speaker::Backchannel { .. }) => unknown.push(c),
            }
        }
        while !unknown.is_empty() {
            let mut still = Vec::new();
            for c in unknown {
                let Some(Speaker::Backchannel { url, username, password }) = self.speakers.get(&c) else { continue };
                let asked = media::backchannel::Backchannel::offered(
                    url,
                    username.as_deref(),
                    password.as_deref(),
                    CONNECT_TIMEOUT,
                );
                let asked = tokio::select! {
                    r = asked => r,
                    _ = shutdown.wait() => return,
                };
                match asked {
                    Ok(has) => self.learned(&c, has),
                    Err(e) => {
                        tracing::debug!(camera = %c, "asking the camera about its backchannel: {e}");
                        still.push(c);
                    }
                }
            }
            unknown = still;
            if !unknown.is_empty() {
                tokio::select! {
                    _ = tokio::time::sleep(ASK_AGAIN) => {}
                    _ = shutdown.wait() => return,
                }
            }
        }
    }

    pub fn speaker(&self, camera: &str) -> Option<&Speaker> {
        self.speakers.get(camera)
    }

    /// Claims `camera` for a talker, unless someone talks through it already.
    pub fn claim(self: &Arc<Self>, camera: &str) -> Option<Claim> {
        self.busy
            .lock()
            .expect("talk lock")
            .insert(camera.to_owned())
            .then(|| Claim { talk: self.clone(), camera: camera.to_owned() })
    }
}

/// A checked talk session: the request, and the opener for its packets.
pub struct Session {
    pub request: crypto::talk::TalkRequest,
    pub opener: crypto::talk::TalkOpener,
}

/// Checks a relayed talk request against the trust file and this agent's keys.
pub fn check(layout: &Layout, request: &[u8], now_ms: i64) -> Result<Session, Error> {
    let q = crypto::talk::TalkRequest::parse(request).map_err(sealing::from_crypto)?;
    let trust = sealing::load_trust(layout)?
        .ok_or_else(|| base::err!(FailedPrecondition, "this agent is not paired: it trusts no owner yet"))?;
    trust.check_talk(&q, now_ms).map_err(sealing::from_crypto)?;
    let device = sealing::read_keyring(&layout.device_keys())?;
    let opener = q.opener(&device).map_err(sealing::from_crypto)?;
    Ok(Session { request: q, opener })
}

/// The camera's speaker, open for one session.
pub enum Sink {
    Backchannel(media::backchannel::Backchannel),
    Exec(tokio::process::Child, tokio::process::ChildStdin),
}

impl Sink {
    pub async fn open(speaker: &Speaker) -> Result<Sink, Error> {
        match speaker {
            Speaker::Backchannel { url, username, password } => Ok(Sink::Backchannel(
                media::backchannel::Backchannel::connect(
                    url,
                    username.as_deref(),
                    password.as_deref(),
                    CONNECT_TIMEOUT,
                )
                .await?,
            )),
            Speaker::Exec { argv } => {
                let (cmd, args) =
                    argv.split_first().ok_or_else(|| base::err!(InvalidArgument, "talk.exec is empty"))?;
                let mut child = tokio::process::Command::new(cmd)
                    .args(args)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| {
                        Error::wrap(ErrorKind::Unavailable, format!("starting the speaker command {cmd:?}"), e)
                    })?;
                let stdin = child.stdin.take().expect("piped");
                Ok(Sink::Exec(child, stdin))
            }
        }
    }

    /// Plays 8 kHz mono samples.
    pub async fn play(&mut self, pcm: &[i16]) -> Result<(), Error> {
        match self {
            Sink::Backchannel(b) => b.send(pcm).await,
            Sink::Exec(_, stdin) => {
                let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
                stdin
                    .write_all(&bytes)
                    .await
                    .map_err(|e| Error::wrap(ErrorKind::Unavailable, "writing to the speaker command", e))
            }
        }
    }

    pub async fn close(self) {
        match self {
            Sink::Backchannel(b) => b.close().await,
            Sink::Exec(mut child, stdin) => {
                drop(stdin);
                let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
            }
        }
    }
}

/// Counts of what a session played and refused.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Played {
    pub packets: u64,
    pub refused: u64,
    pub samples: u64,
}

/// Opens, decodes and plays framed packets (u32 length, then the sealed packet) from
/// `packets` until it ends or the session's time is up. A packet that does not open (not of
/// this session, altered, replayed, out of order) or does not decode is refused and logged,
/// and the session goes on; one that is not framed ends it.
pub async fn play<S>(mut session: Session, sink: &mut Sink, packets: S) -> Result<Played, Error>
where
    S: futures::Stream<Item = Result<bytes::Bytes, Error>> + Unpin,
{
    use futures::StreamExt;
    let mut decoder = opus::Decoder::new(8000, opus::Channels::Mono)
        .map_err(|e| Error::wrap(ErrorKind::Internal, "making an Opus decoder", e))?;
    let mut pcm = vec![0i16; FRAME_SAMPLES_MAX];
    let mut buf: Vec<u8> = Vec::new();
    let mut played = Played::default();
    let deadline = tokio::time::Instant::now() + SESSION_MAX;
    let mut packets = packets;
    loop {
        let chunk = match tokio::time::timeout_at(deadline, packets.next()).await {
            Err(_) => {
                tracing::info!("talk session reached its longest length");
                break;
            }
            Ok(None) => break,
            Ok(Some(c)) => c?,
        };
        buf.extend_from_slice(&chunk);
        while buf.len() >= 4 {
            let n = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
            if n > crypto::talk::PACKET_BYTES_MAX {
                bail!(DataLoss, "a talk packet of {n} bytes: not a framed packet stream");
            }
            if buf.len() < 4 + n {
                break;
            }
            let sealed: Vec<u8> = buf.drain(..4 + n).skip(4).collect();
            let decoded =
                session.opener.open(&sealed).map_err(|e| format!("refusing a talk packet: {e}")).and_then(|opus| {
                    decoder.decode(&opus, &mut pcm, false).map_err(|e| format!("a talk packet that is not Opus: {e}"))
                });
            let samples = match decoded {
                Ok(s) => s,
                Err(why) => {
                    played.refused += 1;
                    // The first and then one in fifty, so a flood cannot fill the log.
                    if played.refused % 50 == 1 {
                        tracing::warn!(refused = played.refused, "{why}");
                    }
                    continue;
                }
            };
            sink.play(&pcm[..samples]).await?;
            played.packets += 1;
            played.samples += samples as u64;
        }
    }
    Ok(played)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_talker_per_camera() {
        let t = Talk::new(HashMap::new(), Default::default());
        let a = t.claim("door").expect("free");
        assert!(t.claim("door").is_none(), "taken");
        assert!(t.claim("garden").is_some(), "another camera");
        drop(a);
        assert!(t.claim("door").is_some(), "free again");
    }

    /// Sealed packets through `play` into a command that writes them to a file: what opens
    /// plays, in order; a replay, a reordering, an altered packet and another session's
    /// packet are refused and nothing of them is played.
    #[tokio::test]
    async fn plays_what_opens_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("speaker.raw");
        let (member, agent) = (
            crypto::keys::Keyring::generate("member", 0).unwrap(),
            crypto::keys::Keyring::generate("agent", 0).unwrap(),
        );
        let (q, mut sealer) =
            crypto::talk::TalkRequest::create(&member, [1; 16], "door", &[agent.public().encryption], 0).unwrap();
        let (_, mut stranger) =
            crypto::talk::TalkRequest::create(&member, [1; 16], "door", &[agent.public().encryption], 0).unwrap();
        let session = Session { opener: q.opener(&agent).unwrap(), request: q };
        let mut enc = opus::Encoder::new(48000, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let frame: Vec<i16> = (0..960).map(|i| ((i as f64 * 0.2).sin() * 6000.0) as i16).collect();
        let opus_packet = enc.encode_vec(&frame, 1275).unwrap();
        let framed = |p: Vec<u8>| [&(p.len() as u32).to_be_bytes()[..], &p].concat();
        let (p1, p2, p3) = (
            sealer.seal(&opus_packet).unwrap(),
            sealer.seal(&opus_packet).unwrap(),
            sealer.seal(&opus_packet).unwrap(),
        );
        let mut altered = sealer.seal(&opus_packet).unwrap();
        altered[20] ^= 1;
        let body = [
            framed(p1.clone()),
            framed(p3),
            framed(p2),                                   // late: refused
            framed(p1),                                   // replayed: refused
            framed(altered),                              // refused
            framed(stranger.seal(&opus_packet).unwrap()), // another session's: refused
        ]
        .concat();
        // Split anywhere: framing survives chunk boundaries.
        let chunks: Vec<Result<bytes::Bytes, Error>> =
            body.chunks(7).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
        let argv = vec!["sh".into(), "-c".into(), format!("cat > {}", out.display())];
        let mut sink = Sink::open(&Speaker::Exec { argv }).await.unwrap();
        let played = play(session, &mut sink, futures::stream::iter(chunks)).await.unwrap();
        sink.close().await;
        assert_eq!(played, Played { packets: 2, refused: 4, samples: 2 * 160 });
        assert_eq!(std::fs::metadata(&out).unwrap().len(), 2 * 160 * 2);
    }
}
