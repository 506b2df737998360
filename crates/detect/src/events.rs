//! Turning per-frame motion into motion events, with hysteresis: an event starts when
//! motion is seen in `start_frames` consecutive analysed frames (one noisy frame is not a
//! visit) and ends after `end_frames` analysed frames without motion (a visitor pausing is
//! still one visit).

use base::{Error, bail};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Change {
    /// Motion began; the time is that of the first frame of the run that started it.
    Started(f64),
    /// Motion ended; the time is that of the last frame with motion.
    Ended(f64),
}

pub struct MotionEvents {
    start_frames: u32,
    end_frames: u32,
    run: u32,
    run_start: f64,
    quiet: u32,
    last_motion: f64,
    active: bool,
}

impl MotionEvents {
    pub fn new(start_frames: u32, end_frames: u32) -> Result<MotionEvents, Error> {
        if !(1..=50).contains(&start_frames) {
            bail!(InvalidArgument, "motion start_frames: expected 1..=50, got {start_frames}");
        }
        if !(1..=3000).contains(&end_frames) {
            bail!(InvalidArgument, "motion end_frames: expected 1..=3000, got {end_frames}");
        }
        Ok(MotionEvents { start_frames, end_frames, run: 0, run_start: 0.0, quiet: 0, last_motion: 0.0, active: false })
    }

    /// Feeds one analysed frame at time `t` (seconds); returns a change, if any.
    pub fn push(&mut self, t: f64, motion: bool) -> Option<Change> {
        if motion {
            if self.run == 0 {
                self.run_start = t;
            }
            self.run += 1;
            self.quiet = 0;
            self.last_motion = t;
            if !self.active && self.run >= self.start_frames {
                self.active = true;
                return Some(Change::Started(self.run_start));
            }
            None
        } else {
            self.run = 0;
            self.quiet += 1;
            if self.active && self.quiet >= self.end_frames {
                self.active = false;
                return Some(Change::Ended(self.last_motion));
            }
            None
        }
    }

    /// Ends an open event at the end of the input.
    pub fn finish(&mut self) -> Option<Change> {
        self.run = 0;
        if self.active {
            self.active = false;
            return Some(Change::Ended(self.last_motion));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(start: u32, end: u32, frames: &str) -> Vec<Change> {
        let mut e = MotionEvents::new(start, end).unwrap();
        let mut out: Vec<Change> = frames.chars().enumerate().filter_map(|(i, c)| e.push(i as f64, c == '#')).collect();
        out.extend(e.finish());
        out
    }

    #[test]
    fn hysteresis() {
        use Change::*;
        assert_eq!(events(2, 3, "..#..#.."), vec![], "isolated frames are noise");
        assert_eq!(events(2, 3, "..###..#####....."), vec![Started(2.0), Ended(11.0)], "a pause is one visit");
        assert_eq!(events(2, 3, "##....##"), vec![Started(0.0), Ended(1.0), Started(6.0), Ended(7.0)]);
        assert_eq!(events(1, 1, "#.#"), vec![Started(0.0), Ended(0.0), Started(2.0), Ended(2.0)]);
        assert!(MotionEvents::new(0, 3).is_err() && MotionEvents::new(2, 0).is_err());
    }
}
