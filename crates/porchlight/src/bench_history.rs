//! `porchlight bench history`: how long the day view takes from a click on a moment to
//! the footage that shows its first frame, through the whole system on loopback: a real
//! server and a real agent (`bench_alerts::System`) recording a looped clip, and the
//! owner's side doing what the web app does: a signed history request for a moment, the
//! relay's sealed answer opened as it arrives, until the init segment and the first whole
//! fragment (`moof` + `mdat`, the moment's group of pictures) are in hand. Decoding and
//! drawing that frame in the browser are not in the figure.
//!
//! With `--backfill-hours`, the agent is stopped after recording and the hours before its
//! recording are filled with copies of what it recorded (its segments' index rows shifted
//! back in time, and their bytes copied, not linked, so that reads come from disk as on a
//! real recorder), then the agent starts again and the moments are spread over all of it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base::{Error, ErrorKind, ResultExt, bail, err};
use futures::StreamExt;

use crate::bench_alerts::System;

#[derive(clap::Args)]
pub struct HistoryArgs {
    /// Scratch folder for the server's and the agent's data (emptied first).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The camera's footage, looped (H.264 MP4; a 1080p one for the figure).
    #[arg(long, default_value = "testdata/generated/front-loop.mp4")]
    pub clip: PathBuf,
    /// Minutes of recording to make before measuring.
    #[arg(long, default_value_t = 5)]
    pub minutes: u64,
    /// Moments asked for, spread at random over what was recorded.
    #[arg(long, default_value_t = 20)]
    pub moments: u32,
    /// Hours before the recording to fill with copies of it (0: none).
    #[arg(long, default_value_t = 0)]
    pub backfill_hours: u64,
}

/// Fills the `hours` before the agent's recording of camera `door` with copies of its
/// closed segments: rows shifted back by whole recording spans, files copied byte for byte,
/// as one closed run ending a minute before the recording began. Returns (segments, bytes).
fn backfill(agent_data: &Path, hours: u64) -> Result<(usize, u64), Error> {
    let layout = agent::layout::Layout::new(agent_data);
    let mut conn = index::open(&layout.db())?;
    let stream_id = index::find_stream(&conn, "door", index::StreamKind::Main)?
        .ok_or_else(|| err!(NotFound, "the agent recorded no main stream for camera door"))?;
    let segs: Vec<index::Segment> =
        index::all_segments(&conn)?.into_iter().filter(|s| s.stream_id == stream_id && !s.open).collect();
    let (Some(first), Some(last)) = (segs.first(), segs.last()) else {
        bail!(Unavailable, "the agent closed no segment to copy");
    };
    let span = last.end_90k() - first.start_90k;
    let gap = 60 * 90_000;
    let copies = ((hours as i64 * 3600 * 90_000 - gap + span - 1) / span).max(1);
    let (mut seg_id, run_id) = index::max_ids(&conn)?;
    let run_id = run_id + 1;
    let end = first.start_90k - gap;
    let run = index::Run {
        id: run_id,
        stream_id,
        start_90k: end - copies * span,
        end_90k: Some(end),
        end_reason: Some("copied by porchlight bench history".into()),
    };
    let mut batch = index::Batch { runs: vec![run], segments: Vec::new() };
    let (mut n, mut bytes) = (0usize, 0u64);
    for k in (1..=copies).rev() {
        for s in &segs {
            seg_id += 1;
            let to = layout.segment(stream_id, seg_id);
            bytes += std::fs::copy(layout.segment(stream_id, s.id), &to)
                .err_kind(ErrorKind::Internal, || format!("copying segment {} to {}", s.id, to.display()))?;
            batch.segments.push(index::Segment {
                id: seg_id,
                run_id,
                start_90k: s.start_90k - gap - k * span,
                ..s.clone()
            });
            n += 1;
        }
        if batch.segments.len() >= 2_000 || k == 1 {
            index::commit(&mut conn, &batch)?;
            batch = index::Batch::default();
        }
    }
    agent::layout::sync_dir(&layout.stream_dir(stream_id))?;
    Ok((n, bytes))
}

/// The end of the first whole `moof` + `mdat` after the init segment in `b`, if it is in.
fn first_fragment_end(b: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    let mut seen_moof = false;
    while at + 8 <= b.len() {
        let size = u32::from_be_bytes(b[at..at + 4].try_into().ok()?) as usize;
        let kind = &b[at + 4..at + 8];
        if size < 8 || at + size > b.len() {
            return None;
        }
        if kind == b"moof" {
            seen_moof = true;
        } else if kind == b"mdat" && seen_moof {
            return Some(at + size);
        }
        at += size;
    }
    None
}

/// One history session for `ask`; returns (the agent's reply, the time to the first
/// whole fragment, or `None` when the answer carried no footage).
async fn ask(sys: &System, ask: &wire::HistoryAsk) -> Result<(wire::HistoryReply, Option<Duration>), Error> {
    let t = Instant::now();
    let session = crypto::keys::EncryptionSecret::generate();
    let hh: [u8; 16] = crypto::keys::unhex(&sys.household)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| err!(Internal, "household id"))?;
    let q = crypto::live::LiveRequest::create(&sys.keys, hh, "door", session.public(), api::system_clock()())
        .map_err(agent::sealing::from_crypto)?;
    let body = wire::HistoryStartJson { request: crypto::keys::hex(&q.encode()), history: ask.clone() };
    let started: wire::LiveStarted =
        sys.owner.post(&format!("/api/households/{}/history", sys.household), &body).await?;
    let r = sys
        .owner
        .request(reqwest::Method::GET, &format!("/api/live/{}", started.session_id))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .map_err(|e| Error::wrap(ErrorKind::Unavailable, "reading the history session", e))?;
    if !r.status().is_success() {
        bail!(Unavailable, "the history session answered {}", r.status());
    }
    let mut stream = r.bytes_stream();
    let mut opener = crypto::live::LiveOpener::new(session);
    let (mut raw, mut footage) = (Vec::new(), Vec::new());
    let mut reply: Option<wire::HistoryReply> = None;
    while let Some(chunk) = stream.next().await {
        raw.extend_from_slice(&chunk.map_err(|e| Error::wrap(ErrorKind::Unavailable, "the history stream", e))?);
        while raw.len() >= 4 {
            let n = u32::from_be_bytes(raw[..4].try_into().expect("4 bytes")) as usize;
            if raw.len() < 4 + n {
                break;
            }
            let m: Vec<u8> = raw.drain(..4 + n).skip(4).collect();
            let Some(plain) = opener.open(&m).map_err(agent::sealing::from_crypto)? else { continue };
            match &reply {
                None => {
                    let r: wire::HistoryReply =
                        serde_json::from_slice(&plain).map_err(|e| err!(DataLoss, "the agent's reply: {e}"))?;
                    if r.play.is_none() {
                        return Ok((r, None));
                    }
                    reply = Some(r);
                }
                Some(_) => footage.extend_from_slice(&plain),
            }
            if first_fragment_end(&footage).is_some() {
                return Ok((reply.expect("the reply came first"), Some(t.elapsed())));
            }
        }
    }
    reply.map(|r| (r, None)).ok_or_else(|| err!(Unavailable, "the agent did not answer"))
}

pub fn history(a: HistoryArgs) -> Result<(), Error> {
    if !(1..=1000).contains(&a.moments) {
        bail!(InvalidArgument, "--moments: expected 1 to 1000, got {}", a.moments);
    }
    if !(1..=1440).contains(&a.minutes) {
        bail!(InvalidArgument, "--minutes: expected 1 to 1440, got {}", a.minutes);
    }
    if a.backfill_hours > 24 * 30 {
        bail!(InvalidArgument, "--backfill-hours: expected 0 to 720, got {}", a.backfill_hours);
    }
    crate::runtime()?.block_on(async {
        let mut sys = System::start(&a.data_dir, crate::bench_alerts::Camera::Clip(&a.clip), None).await?;
        let began = Instant::now();
        let up = Instant::now();
        while sys.frames() < 30 {
            if up.elapsed() > Duration::from_secs(60) {
                bail!(Unavailable, "the agent did not record within 60 s (see {})", sys.dir.join("agent.log").display());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!("recording {} min of {} before asking…", a.minutes, a.clip.display());
        tokio::time::sleep(Duration::from_secs(a.minutes * 60).saturating_sub(began.elapsed())).await;
        if a.backfill_hours > 0 {
            sys.stop_agent();
            let t = Instant::now();
            let (n, bytes) = backfill(&sys.agent_data, a.backfill_hours)?;
            println!(
                "copied {n} segments ({:.1} GB) to fill {} h before the recording in {:.0} s",
                bytes as f64 / 1e9,
                a.backfill_hours,
                t.elapsed().as_secs_f64()
            );
            let _ = std::fs::remove_file(sys.agent_data.join("status.json"));
            sys.start_agent()?;
            let up = Instant::now();
            while sys.frames() < 30 {
                if up.elapsed() > Duration::from_secs(120) {
                    bail!(Unavailable, "the agent did not record again within 120 s");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let now = api::system_clock()();
        let day = wire::HistoryAsk { from_ms: now - 86_400_000 + 60_000, until_ms: now + 60_000, play_ms: None };
        // The agent may still be connecting (after a backfill's restart).
        let up = Instant::now();
        let runs = loop {
            match ask(&sys, &day).await {
                Ok((runs, _)) if runs.error.is_none() => break runs,
                Ok((runs, _)) if up.elapsed() > Duration::from_secs(60) => {
                    bail!(Unavailable, "the agent's list of runs: {:?}", runs.error)
                }
                Err(e) if up.elapsed() > Duration::from_secs(60) => return Err(e),
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        };
        let total: i64 = runs.runs.iter().map(|r| r.end_ms - r.start_ms).sum();
        if total < 10_000 {
            bail!(Unavailable, "the agent lists {} ms of recording: too little to ask about", total);
        }
        // Moments spread over what was recorded (a fixed-seed generator: runs compare).
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut times = Vec::new();
        for i in 0..a.moments {
            let mut off = (rand() % (total as u64 - 5_000)) as i64;
            let at = runs
                .runs
                .iter()
                .find_map(|r| {
                    let len = r.end_ms - r.start_ms;
                    if off < len {
                        Some(r.start_ms + off)
                    } else {
                        off -= len;
                        None
                    }
                })
                .ok_or_else(|| err!(Internal, "a moment outside the runs"))?;
            let (reply, first) = ask(&sys, &wire::HistoryAsk { play_ms: Some(at), ..day.clone() }).await?;
            let Some(first) = first else {
                bail!(Internal, "moment {i}: no footage ({:?})", reply.error);
            };
            let play = reply.play.ok_or_else(|| err!(Internal, "moment {i}: no play"))?;
            let ms = first.as_secs_f64() * 1000.0;
            println!(
                "moment {i:>2}: {:>6.1} ms to the first fragment (asked {} ms after the key frame it starts at)",
                ms,
                at - play.start_ms
            );
            times.push(ms);
        }
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| crate::bench_alerts::percentile(&times, p);
        println!(
            "click on a moment to its first fragment over {} moments of {:.1} min recorded: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
            times.len(),
            total as f64 / 60_000.0,
            pct(0.5),
            pct(0.95),
            times.last().copied().unwrap_or(0.0)
        );
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_fragment_ends_with_its_mdat() {
        let bx = |kind: &[u8; 4], body: usize| [&((8 + body) as u32).to_be_bytes()[..], kind, &vec![0; body]].concat();
        let file = [bx(b"ftyp", 8), bx(b"moov", 20), bx(b"moof", 16), bx(b"mdat", 100)].concat();
        assert_eq!(first_fragment_end(&file), Some(file.len()));
        assert_eq!(first_fragment_end(&file[..file.len() - 1]), None, "not whole yet");
        assert_eq!(first_fragment_end(&[bx(b"ftyp", 8), bx(b"mdat", 4)].concat()), None, "no moof before it");
    }
}
