//! A camera's sound in live view: its audio track, read from a session of its own beside
//! the recording's video session (`media::source::rtsp::open_sound`); G.711 and L16
//! decoded and encoded to Opus (what browsers' Media Source Extensions play; G.711 they do
//! not), AAC and Opus passed through as they came; muxed as fragmented MP4
//! (`media::mp4::audio`) and sealed for the viewer's session key exactly as the picture is
//! (`crypto::live`). Nothing is recorded here: this is listening, live.

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
/// The longest listening session, as live view's.
const SESSION_MAX: Duration = Duration::from_secs(600);
/// Rates the Opus encoder takes.
const OPUS_RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];

/// How the camera's sound becomes what the browser plays.
enum Convert {
    /// Decoded to 16-bit PCM at `rate` (G.711 or L16) and encoded to Opus.
    Opus { enc: opus::Encoder, decode: Decode, rate: u32, pcm: Vec<i16> },
    /// AAC or Opus, passed through (in the entry's timescale: AAC's sample rate, Opus's
    /// 48 kHz); a fragment once it holds `fragment` samples.
    AsIs { fragment: u64 },
}

#[derive(Clone, Copy)]
enum Decode {
    G711(media::g711::Law),
    /// Big-endian, keeping the first of `channels`.
    L16 {
        channels: usize,
    },
}

/// Streams the camera's sound to `tx`, sealed for `q`'s session key, until the viewer
/// leaves (the channel closes), the camera stops, or the session's time is up. G.711 and
/// L16 are converted to Opus here; AAC goes as it came.
pub async fn stream(
    sound: &Sound,
    q: crypto::live::LiveRequest,
    tx: tokio::sync::mpsc::Sender<Vec<u8>>,
) -> Result<(), Error> {
    use media::source::rtsp::SoundFormat;
    let (format, mut frames) = media::source::rtsp::open_sound(
        &sound.url,
        sound.username.as_deref(),
        sound.password.as_deref(),
        Duration::from_secs(10),
    )
    .await?;
    let opus = |e: opus::Error| Error::wrap(ErrorKind::Internal, "Opus", e);
    let to_opus = |rate: u32, decode: Decode| -> Result<(Convert, Vec<u8>), Error> {
        if !OPUS_RATES.contains(&rate) {
            base::bail!(FailedPrecondition, "the camera's sound is at {rate} Hz, which live sound cannot convert");
        }
        let mut enc = opus::Encoder::new(rate, opus::Channels::Mono, opus::Application::Audio).map_err(opus)?;
        enc.set_bitrate(opus::Bitrate::Bits(24_000)).map_err(opus)?;
        let pre_skip = (enc.get_lookahead().map_err(opus)? as u32 * 48_000 / rate) as u16;
        // dOps names 48 kHz, the entry's own rate: Chromium refuses an init whose two disagree.
        let init = media::mp4::audio::opus_init(1, pre_skip, 48_000);
        Ok((Convert::Opus { enc, decode, rate, pcm: Vec::new() }, init))
    };
    let (rate, (mut convert, init)) = match format {
        SoundFormat::G711(law) => (8000, to_opus(8000, Decode::G711(law))?),
        SoundFormat::L16 { rate, channels } => {
            (rate, to_opus(rate, Decode::L16 { channels: usize::from(channels.max(1)) })?)
        }
        SoundFormat::Aac(entry) => (
            entry.sample_rate,
            (Convert::AsIs { fragment: 2048 }, media::mp4::audio::init(&entry.data, entry.sample_rate)),
        ),
        // The camera's encoder's pre-skip is not sent over RTP: none is named, and the
        // decoder's first few milliseconds play as they come.
        SoundFormat::Opus { channels } => {
            (48_000, (Convert::AsIs { fragment: 4_800 }, media::mp4::audio::opus_init(channels, 0, 48_000)))
        }
    };
    let mut sealer = crypto::live::LiveSealer::new(&q.session_key);
    let gone = || Error::new(ErrorKind::Cancelled, "the viewer left");
    tx.send(sealer.header()).await.map_err(|_| gone())?;
    // The init goes with the first fragment, with the wall time of the first sample, which
    // lines the sound up with the picture in the browser: placed by every frame of that
    // fragment (each frame's arrival is the wall time of its end, late by however long it
    // waited; the least late tells). The clock goes on learning from every later frame: a
    // session whose first sound came late (a camera that starts a new client with what it
    // had buffered) is placed right once its sound flows, and a fragment carries the new
    // wall time when it moved (`live::wall_moved`).
    let mut init = Some(init);
    let mut sent_wall: Option<i64> = None;
    let mut clock = crate::live::ArrivalClock::default();
    let mut received = 0u64;
    let mut packets: Vec<(Vec<u8>, u32)> = Vec::new();
    let (mut sequence, mut decode) = (1u32, 0u64);
    let deadline = tokio::time::Instant::now() + SESSION_MAX;
    loop {
        let f = tokio::select! {
            f = frames.next() => f,
            _ = tx.closed() => return Ok(()),
            _ = tokio::time::sleep_until(deadline) => return Ok(()),
        };
        let Some(f) = f else { return Ok(()) };
        let (data, samples) = f?;
        received += u64::from(samples);
        clock.place(received as f64 * 1000.0 / f64::from(rate.max(1)), crate::live::wall_ms());
        match &mut convert {
            Convert::AsIs { .. } => packets.push((data, samples)),
            Convert::Opus { enc, decode: how, rate, pcm } => {
                match *how {
                    Decode::G711(law) => pcm.extend(data.iter().map(|&b| law.decode(b))),
                    Decode::L16 { channels } => {
                        pcm.extend(data.chunks_exact(2 * channels).map(|c| i16::from_be_bytes([c[0], c[1]])))
                    }
                }
                let frame = *rate as usize / 50; // 20 ms
                while pcm.len() >= frame {
                    let chunk: Vec<i16> = pcm.drain(..frame).collect();
                    packets.push((enc.encode_vec(&chunk, 1275).map_err(opus)?, 960u32));
                }
            }
        }
        let enough = match convert {
            Convert::AsIs { fragment } => packets.iter().map(|(_, d)| u64::from(*d)).sum::<u64>() >= fragment,
            Convert::Opus { .. } => packets.len() >= PACKETS_PER_FRAGMENT,
        };
        if enough {
            let wall = clock.wall_of(0.0).unwrap_or_else(crate::live::wall_ms);
            let mut fragment = Vec::new();
            if let Some(init) = init.take() {
                let mut b = crate::live::wall_box(wall).to_vec();
                b.extend_from_slice(&init);
                tx.send(sealer.seal(&b).map_err(crate::sealing::from_crypto)?).await.map_err(|_| gone())?;
                sent_wall = Some(wall);
            } else if let Some(b) = sent_wall.as_mut().and_then(|sent| crate::live::wall_moved(sent, wall)) {
                fragment.extend_from_slice(&b);
            }
            fragment.extend_from_slice(&media::mp4::audio::fragment(sequence, decode, &packets));
            decode += packets.iter().map(|(_, d)| u64::from(*d)).sum::<u64>();
            sequence += 1;
            packets.clear();
            tx.send(sealer.seal(&fragment).map_err(crate::sealing::from_crypto)?).await.map_err(|_| gone())?;
        }
    }
}
