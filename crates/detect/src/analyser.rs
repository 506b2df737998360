//! One stream's analysis: decode every frame, run motion detection on `fps` of them per
//! second, and turn the results into motion events. The agent's analysis thread and
//! `porchlight motion` both drive this; only where frames come from differs.

use base::{Error, bail};
use media::SampleEntry;

use crate::decode::H264Decoder;
use crate::events::{Change, MotionEvents};
use crate::motion::{Motion, MotionConfig, MotionDetector};

/// One analysed frame.
#[derive(Debug)]
pub struct Analysed {
    /// The frame's time, in seconds on the stream's own time line.
    pub t: f64,
    pub motion: Motion,
    /// A motion event started or ended with this frame.
    pub change: Option<Change>,
}

pub struct Analyser {
    cfg: MotionConfig,
    decoder: Option<H264Decoder>,
    detector: MotionDetector,
    events: MotionEvents,
    step: f64,
    /// Time of the next frame to analyse; `None` until the first decoded frame.
    next: Option<f64>,
}

impl Analyser {
    pub fn new(cfg: MotionConfig, fps: u32) -> Result<Analyser, Error> {
        if !(1..=30).contains(&fps) {
            bail!(InvalidArgument, "motion fps: expected 1..=30, got {fps}");
        }
        Ok(Analyser {
            detector: MotionDetector::new(cfg.clone())?,
            cfg,
            decoder: None,
            // Two analysed frames with motion start an event; two seconds without end it.
            events: MotionEvents::new(2, 2 * fps)?,
            step: 1.0 / f64::from(fps),
            next: None,
        })
    }

    /// New codec parameters: decoding and the motion model start over. On error (not
    /// H.264, bad parameter sets) frames are ignored until the next sample entry.
    pub fn set_sample_entry(&mut self, entry: &SampleEntry) -> Result<(), Error> {
        self.decoder = None;
        self.detector = MotionDetector::new(self.cfg.clone())?;
        self.next = None;
        self.decoder = Some(H264Decoder::new(entry)?);
        Ok(())
    }

    /// Feeds one stored frame at time `t` (seconds). Returns the analysis when this frame
    /// was analysed; decoding errors are returned (the decoder skips to the next key frame).
    pub fn push(&mut self, data: &[u8], is_key: bool, t: f64) -> Result<Option<Analysed>, Error> {
        let Some(dec) = self.decoder.as_mut() else { return Ok(None) };
        // A jump back in time (a new run) restarts the pacing.
        if self.next.is_some_and(|n| t < n - 10.0) {
            self.next = None;
        }
        // Every frame is decoded (H.264 needs them all); only some are analysed.
        let Some(luma) = dec.decode(data, is_key)? else { return Ok(None) };
        // (The microsecond absorbs rounding in times computed from timescales.)
        if self.next.is_some_and(|n| t + 1e-6 < n) {
            return Ok(None);
        }
        self.next = Some(match self.next {
            Some(n) => (n + self.step).max(t),
            None => t + self.step,
        });
        let motion = self.detector.detect(luma)?;
        let change = self.events.push(t, motion.is_motion());
        Ok(Some(Analysed { t, motion, change }))
    }

    /// Ends an open motion event at the end of the input.
    pub fn finish(&mut self) -> Option<Change> {
        self.events.finish()
    }
}
