//! A camera's sound in live view: its G.711 audio track, read from a session of its own
//! beside the recording's video session (`media::source::rtsp::open_sound`), decoded,
//! encoded to Opus (what browsers' Media Source Extensions play; G.711 they do not), muxed
//! as fragmented MP4 (`media::mp4::audio`) and sealed for the viewer's session key exactly
//! as the picture is (`crypto::live`). Nothing is recorded: this is listening, live.

use std::time::Duration;

use base::{Error, ErrorKind};
use futures::StreamExt;
use url::Url;

/// Where a camera's sound comes from: its main stream's RTSP URL and credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sound {
    pub url: Url,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Opus packets per fragment: 100 ms, a browser's buffer ahead without much delay.
const PACKETS_PER_FRAGMENT: usize = 5;
/// 20 ms at 8 kHz.
const FRAME: usize = 160;
/// The longest listening session, as live view's.
const SESSION_MAX: Duration = Duration::from_secs(600);

/// Streams the camera's sound to `tx`, sealed for `q`'s session key, until the viewer
/// leaves (the channel closes), the camera stops, or the session's time is up.
pub async fn stream(
    sound: &Sound,
    q: crypto::live::LiveRequest,
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
) -> Result<(), Error> {
    let (law, mut frames) = media::source::rtsp::open_sound(
        &sound.url,
        sound.username.as_deref(),
        sound.password.as_deref(),
        Duration::from_secs(10),
    )
    .await?;
    let opus = |e: opus::Error| Error::wrap(ErrorKind::Internal, "Opus", e);
    let mut enc = opus::Encoder::new(8000, opus::Channels::Mono, opus::Application::Audio).map_err(opus)?;
    enc.set_bitrate(opus::Bitrate::Bits(24_000)).map_err(opus)?;
    let pre_skip = (enc.get_lookahead().map_err(opus)? * 6) as u16; // 8 kHz samples → 48 kHz
    let mut sealer = crypto::live::LiveSealer::new(&q.session_key);
    let gone = || Error::new(ErrorKind::Cancelled, "the viewer left");
    tx.send(sealer.header()).await.map_err(|_| gone())?;
    // dOps names 48 kHz, the entry's own rate: Chromium refuses an init whose two disagree.
    let init = media::mp4::audio::opus_init(1, pre_skip, 48_000);
    tx.send(sealer.seal(&init).map_err(crate::sealing::from_crypto)?).await.map_err(|_| gone())?;
    let (mut pcm, mut packets) = (Vec::<i16>::new(), Vec::new());
    let (mut sequence, mut decode) = (1u32, 0u64);
    let deadline = tokio::time::Instant::now() + SESSION_MAX;
    loop {
        let f = tokio::select! {
            f = frames.next() => f,
            _ = tx.closed() => return Ok(()),
            _ = tokio::time::sleep_until(deadline) => return Ok(()),
        };
        let Some(f) = f else { return Ok(()) };
        pcm.extend(f?.iter().map(|&b| law.decode(b)));
        while pcm.len() >= FRAME {
            let frame: Vec<i16> = pcm.drain(..FRAME).collect();
            packets.push((enc.encode_vec(&frame, 1275).map_err(opus)?, 960u32));
        }
        if packets.len() >= PACKETS_PER_FRAGMENT {
            let fragment = media::mp4::audio::opus_fragment(sequence, decode, &packets);
            decode += packets.iter().map(|(_, d)| u64::from(*d)).sum::<u64>();
            sequence += 1;
            packets.clear();
            tx.send(sealer.seal(&fragment).map_err(crate::sealing::from_crypto)?).await.map_err(|_| gone())?;
        }
    }
}
