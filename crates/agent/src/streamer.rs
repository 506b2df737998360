//! One task per camera stream: connect, record, and on failure wait and reconnect.
//!
//! A failing camera only affects its own task: every error ends up as a status and a log
//! line, followed by a bounded exponential backoff (1 s, 2 s, 4 s … up to the configured
//! maximum, reset once frames flow again).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base::Error;
use base::shutdown::Receiver;
use futures::StreamExt;
use media::source::Opener;

use crate::status::{State, StatusBoard};
use crate::writer::{Ctx, StreamState, Writer, WriterStats};

/// Bounded exponential backoff.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The delay before attempt `n` (0-based) after `n` consecutive failures.
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.saturating_sub(1).min(16)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Sound frames held while the picture's run has not fixed its clock yet (a few frames of
/// reordering: well under a second of sound).
const EARLY_SOUND_MAX: usize = 64;

pub struct Streamer {
    pub ctx: Arc<Ctx>,
    pub key: String,
    pub opener: Arc<dyn Opener>,
    pub shared: Arc<Mutex<StreamState>>,
    pub status: StatusBoard,
    pub backoff: Backoff,
    pub last_end_90k: i64,
    /// Where frames go for motion analysis, when this stream is analysed.
    pub analysis: Option<crate::analysis::FrameSink>,
    /// The camera this stream belongs to, and the owner's settings that say whether it
    /// records in the household's current mode.
    pub camera: String,
    pub remote: crate::remote::Remote,
    /// Where frames go for live view, when this is the camera's main stream.
    pub live: Option<Arc<crate::live::Feed>>,
    /// The camera's sound stream and the end of its footage, when its sound is recorded
    /// (the source then yields sound frames beside the picture's).
    pub audio: Option<(Arc<Mutex<StreamState>>, i64)>,
}

impl Streamer {
    pub async fn run(mut self, mut shutdown: Receiver) -> WriterStats {
        let mut writer = Writer::new(self.ctx.clone(), self.shared.clone(), self.last_end_90k);
        let mut sound = self.audio.as_ref().map(|(shared, end)| Writer::new(self.ctx.clone(), shared.clone(), *end));
        let mut early_sound: Vec<media::Frame> = Vec::new();
        let mut failures = 0u32;
        let now = || self.ctx.clocks.realtime_90k();
        // The mode's rule for this camera, re-read only when new settings come into force.
        let mut seen_generation = u64::MAX;
        let mut recording = true;
        // Whether its frames go to motion and object analysis (a doorbell camera records
        // in every mode, but is analysed only where the mode records it).
        let mut analysing = true;
        while !shutdown.is_shutdown() {
            self.status.set_state(&self.key, State::Connecting, now());
            self.status.update(&self.key, |s| s.attempts += 1);
            let opened = tokio::select! {
                r = self.opener.open() => r,
                _ = shutdown.wait() => break,
            };
            let outcome: Result<(), Error> = match opened {
                Err(e) => Err(e),
                Ok(mut frames) => {
                    tracing::info!(camera = %self.key, "connected to {}", self.opener.describe());
                    early_sound.clear();
                    self.status.set_state(&self.key, State::Streaming, now());
                    loop {
                        let item = tokio::select! {
                            item = frames.next() => item,
                            _ = shutdown.wait() => break Ok(()),
                        };
                        match item {
                            Some(Ok(frame)) if frame.audio => {
                                // Kept only beside a picture being recorded, on its clock.
                                let Some(w) = sound.as_mut() else { continue };
                                let anchor = if recording { writer.anchor() } else { None };
                                if anchor.is_none() && recording && writer.in_run() {
                                    // The picture's run has begun but its clock is fixed only
                                    // once its first frame is written (after the reordering
                                    // window): hold the sound until then.
                                    if early_sound.len() == EARLY_SOUND_MAX {
                                        // The oldest goes; its parameters stay with the next.
                                        let old = early_sound.remove(0);
                                        if early_sound[0].new_sample_entry.is_none() {
                                            early_sound[0].new_sample_entry = old.new_sample_entry;
                                        }
                                    }
                                    early_sound.push(frame);
                                    continue;
                                }
                                let held = std::mem::take(&mut early_sound);
                                let pushed = held
                                    .into_iter()
                                    .chain(std::iter::once(frame))
                                    .try_for_each(|f| w.push_following(f, anchor));
                                if let Err(e) = pushed {
                                    break Err(e);
                                }
                            }
                            Some(Ok(frame)) => {
                                if let Some(l) = &self.live {
                                    l.publish(&frame);
                                }
                                let generation = self.remote.generation();
                                if generation != seen_generation {
                                    seen_generation = generation;
                                    let was = recording;
                                    recording = self.remote.records(&self.camera);
                                    let analysed = analysing;
                                    analysing = recording && self.remote.analyses(&self.camera);
                                    if analysed
                                        && !analysing
                                        && let Some(a) = self.analysis.as_mut()
                                    {
                                        a.pause();
                                    }
                                    if was && !recording {
                                        tracing::info!(camera = %self.key, "the household's mode stops recording");
                                        if let Err(e) =
                                            writer.end_run("the household's mode does not record this camera")
                                        {
                                            break Err(e);
                                        }
                                    } else if !was && recording {
                                        tracing::info!(camera = %self.key, "the household's mode resumes recording");
                                    }
                                }
                                if !recording {
                                    // Connected (the state is "streaming"), nothing kept.
                                    failures = 0;
                                    continue;
                                }
                                if analysing && let Some(a) = self.analysis.as_mut() {
                                    a.offer(&frame);
                                }
                                if let Err(e) = writer.push(frame) {
                                    break Err(e);
                                }
                                if writer.in_run() {
                                    failures = 0;
                                }
                                let recorded = writer.stats.frames_recorded;
                                self.status.update(&self.key, |s| s.frames_recorded = recorded);
                            }
                            Some(Err(e)) => break Err(e),
                            None => break Err(base::err!(Unavailable, "source ended the stream")),
                        }
                    }
                }
            };
            if let Some(l) = &self.live {
                l.disconnected();
            }
            let reason = match &outcome {
                Ok(()) => "agent shut down".to_string(),
                Err(e) => e.to_string(),
            };
            if let Err(e) = writer.end_run(&reason) {
                tracing::error!(camera = %self.key, "ending run: {e}");
            }
            if let Some(w) = sound.as_mut()
                && let Err(e) = w.end_run(&reason)
            {
                tracing::error!(camera = %self.key, "ending the sound's run: {e}");
            }
            let recorded = writer.stats.frames_recorded;
            self.status.update(&self.key, |s| s.frames_recorded = recorded);
            let Err(e) = outcome else { break };
            failures += 1;
            let delay = self.backoff.delay(failures);
            tracing::warn!(camera = %self.key, kind = %e.kind(), retry_in_ms = delay.as_millis() as u64, "{e}");
            self.status.set_error(&self.key, &e, now());
            self.status.set_state(&self.key, State::Retrying, now());
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.wait() => break,
            }
        }
        self.status.set_state(&self.key, State::Stopped, now());
        if let Some(w) = &sound {
            tracing::info!(camera = %self.key, frames = w.stats.frames_recorded, runs = w.stats.runs, "sound recorded");
        }
        writer.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let b = Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(30) };
        let got: Vec<u64> = (1..=8).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(b.delay(u32::MAX).as_secs(), 30);
    }
}
