//! `porchlight bench talk`: mouth to the camera's speaker. A real server and a real agent on
//! loopback (`bench_alerts::System`), the agent's camera a real ONVIF camera (the test RTSP
//! server's backchannel, which appends what it plays to a file). The owner's side does what
//! the web app does with the microphone's Opus packets: seals each (`crypto::talk`) and
//! posts it as soon as it is made, every 20 ms in real time, silence between phrases. Each
//! phrase is 300 ms of a 1 kHz tone; the figure runs from posting a phrase's first packet to
//! the camera writing its first loud sample. The browser's capture and encoding (one 20 ms
//! frame plus WebCodecs) are not in it; the camera's own buffering is.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base::{Error, ErrorKind, bail, err};

use crate::bench_alerts::{Camera, System, percentile};

#[derive(clap::Args)]
pub struct TalkArgs {
    /// Scratch folder for the server's and the agent's data (emptied first).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The ONVIF camera: an RTSP URL whose backchannel plays into `--speaker`.
    #[arg(long)]
    pub camera: url::Url,
    /// The file the camera appends what its speaker plays to (16-bit LE, 8 kHz, mono).
    #[arg(long)]
    pub speaker: PathBuf,
    /// Phrases, one a second.
    #[arg(long, default_value_t = 20)]
    pub phrases: u32,
}

const FRAME: usize = 960; // 20 ms at 48 kHz
const PHRASE_FRAMES: usize = 15; // 300 ms
const PERIOD_FRAMES: usize = 50; // one a second

/// Watches the camera's speaker file grow (from sample `from`) until `stop` is set, and
/// returns when each onset of sound after at least 100 ms of quiet was seen.
fn watch_onsets(path: PathBuf, from: usize, stop: Arc<AtomicBool>) -> Vec<Instant> {
    use std::io::{Read, Seek, SeekFrom};
    let mut seen = Vec::new();
    let (mut offset, mut quiet, mut loud) = ((from * 2) as u64, 800usize, false);
    let mut carry: Option<u8> = None;
    while !stop.load(Ordering::Relaxed) {
        let mut buf = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&path)
            && f.seek(SeekFrom::Start(offset)).is_ok()
        {
            let _ = f.read_to_end(&mut buf);
        }
        let now = Instant::now();
        offset += buf.len() as u64;
        let mut bytes = carry.take().into_iter().chain(buf).collect::<Vec<u8>>();
        if bytes.len() % 2 == 1 {
            carry = bytes.pop();
        }
        for c in bytes.chunks_exact(2) {
            let x = i16::from_le_bytes([c[0], c[1]]).unsigned_abs();
            if x > 2000 {
                if !loud && quiet >= 800 {
                    seen.push(now);
                }
                loud = true;
                quiet = 0;
            } else if x < 500 {
                quiet += 1;
                if quiet >= 800 {
                    loud = false;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    seen
}

pub fn talk(a: TalkArgs) -> Result<(), Error> {
    if !(1..=1000).contains(&a.phrases) {
        bail!(InvalidArgument, "--phrases: expected 1 to 1000, got {}", a.phrases);
    }
    if a.camera.scheme() != "rtsp" {
        bail!(InvalidArgument, "--camera: expected an rtsp:// URL, got scheme {:?}", a.camera.scheme());
    }
    crate::runtime()?.block_on(async {
        let sys = System::start(&a.data_dir, Camera::Speaker(&a.camera), None).await?;
        let up = Instant::now();
        while sys.frames() < 30 {
            if up.elapsed() > Duration::from_secs(60) {
                bail!(
                    Unavailable,
                    "the agent did not record within 60 s (see {})",
                    sys.dir.join("agent.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let info: wire::TalkJson = sys.owner.get(&format!("/api/households/{}/talk", sys.household)).await?;
        let agents = info
            .agent_keys
            .iter()
            .map(|k| {
                crypto::keys::unhex(k)
                    .ok_or_else(|| err!(DataLoss, "an agent key that is not hex"))
                    .and_then(|b| crypto::keys::PublicKeys::parse(&b).map_err(agent::sealing::from_crypto))
                    .map(|p| p.encryption)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let hh: [u8; 16] = crypto::keys::unhex(&sys.household)
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| err!(Internal, "household id"))?;
        let (q, mut sealer) = crypto::talk::TalkRequest::create(&sys.keys, hh, "door", &agents, api::system_clock()())
            .map_err(agent::sealing::from_crypto)?;
        let started: wire::LiveStarted = sys
            .owner
            .post(
                &format!("/api/households/{}/talk", sys.household),
                &wire::TalkStartJson { request: crypto::keys::hex(&q.encode()) },
            )
            .await?;
        let sid = started.session_id;
        let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip)
            .map_err(|e| Error::wrap(ErrorKind::Internal, "an Opus encoder", e))?;
        let heard_from = std::fs::metadata(&a.speaker).map(|m| m.len() as usize / 2).unwrap_or(0);
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (path, stop) = (a.speaker.clone(), stop.clone());
            std::thread::spawn(move || watch_onsets(path, heard_from, stop))
        };
        // Half a second of silence first (the agent reaches the speaker), then the phrases.
        let lead = 25usize;
        let frames = lead + a.phrases as usize * PERIOD_FRAMES;
        let start = tokio::time::Instant::now();
        let mut sent_at: Vec<Instant> = Vec::new();
        for k in 0..frames {
            let in_phrase = k >= lead && (k - lead) % PERIOD_FRAMES < PHRASE_FRAMES;
            let pcm: Vec<i16> = (0..FRAME)
                .map(|i| {
                    if in_phrase {
                        ((((k * FRAME + i) as f64) * 2.0 * std::f64::consts::PI * 1000.0 / 48_000.0).sin() * 12_000.0)
                            as i16
                    } else {
                        0
                    }
                })
                .collect();
            let packet =
                enc.encode_vec(&pcm, 1275).map_err(|e| Error::wrap(ErrorKind::Internal, "encoding Opus", e))?;
            let sealed = sealer.seal(&packet).map_err(agent::sealing::from_crypto)?;
            let body = [&(sealed.len() as u32).to_be_bytes()[..], &sealed].concat();
            if in_phrase && (k - lead).is_multiple_of(PERIOD_FRAMES) {
                sent_at.push(Instant::now());
            }
            let rb = sys.owner.request(reqwest::Method::POST, &format!("/api/talk/{sid}")).body(body);
            let (status, reply) = sys.owner.send_raw(rb).await?;
            if !status.is_success() {
                bail!(Unavailable, "posting sound: {status} {}", String::from_utf8_lossy(&reply));
            }
            let state: wire::TalkState =
                serde_json::from_slice(&reply).map_err(|e| err!(DataLoss, "the talk state: {e}"))?;
            if state.stage == wire::TalkStage::Ended {
                bail!(Unavailable, "the talk session ended: {:?}", state.error);
            }
            tokio::time::sleep_until(start + Duration::from_millis(20 * (k as u64 + 1))).await;
        }
        let _ = sys.owner.send_raw(sys.owner.request(reqwest::Method::DELETE, &format!("/api/talk/{sid}"))).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.store(true, Ordering::Relaxed);
        let onsets = watcher.join().map_err(|_| err!(Internal, "the speaker watcher panicked"))?;
        // Each phrase with the first onset seen after it was sent (and before the next one).
        let mut times = Vec::new();
        for (i, sent) in sent_at.iter().enumerate() {
            let next = sent_at.get(i + 1).copied();
            let heard = onsets.iter().find(|o| **o > *sent && next.is_none_or(|n| **o < n));
            match heard {
                Some(h) => {
                    let ms = (*h - *sent).as_secs_f64() * 1000.0;
                    println!("phrase {i:>2}: on the camera's speaker {ms:>6.1} ms after its first packet was posted");
                    times.push(ms);
                }
                None => println!("phrase {i:>2}: not heard"),
            }
        }
        if times.is_empty() {
            bail!(Unavailable, "no phrase reached the speaker (see {})", sys.dir.join("agent.log").display());
        }
        times.sort_by(f64::total_cmp);
        println!(
            "mouth to camera speaker over {} of {} phrases: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
            times.len(),
            sent_at.len(),
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            times.last().copied().unwrap_or(0.0)
        );
        Ok(())
    })
}
