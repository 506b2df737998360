//! Decode-time reconstruction.
//!
//! RTSP carries only presentation timestamps (RTP timestamps), in decode order. With
//! B-frames those go backwards, and an MP4 needs a monotonic decode time per sample plus a
//! composition offset. The decode times of a stream are its presentation times sorted: the
//! i-th frame in decode order gets the i-th smallest presentation time. Holding back
//! [`REORDER_WINDOW_FRAMES`] frames is enough for every encoder we know (the H.264 DPB
//! allows at most 16 reordered frames; cameras use 0–2, and x264 with two B-frames and
//! b-pyramid reorders by 2). Each held frame delays durability by one frame interval. Streams without B-frames get
//! decode time = presentation time and zero offsets.
//!
//! The [`Reorderer`] also validates timing: a presentation time that jumps by more than
//! [`crate::index::FRAME_DURATION_90K_MAX`] from its predecessor, or repeats, is a
//! discontinuity that the caller must treat as the end of a run.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::index::{FRAME_DURATION_90K_MAX, PTS_OFFSET_90K_MAX};

pub const REORDER_WINDOW_FRAMES: usize = 2;

/// A frame whose decode time is known.
#[derive(Debug, PartialEq, Eq)]
pub struct Timed<T> {
    pub item: T,
    pub pts_90k: i64,
    pub dts_90k: i64,
}

pub struct Reorderer<T> {
    pending: VecDeque<(T, i64)>,
    pts_heap: BinaryHeap<Reverse<i64>>,
    last_pts_90k: Option<i64>,
    last_dts_90k: Option<i64>,
}

/// Why a frame could not continue the current run.
#[derive(Debug, PartialEq, Eq)]
pub enum Discontinuity {
    /// Presentation time moved by this much (90 kHz) from the previous frame.
    Jump { delta_90k: i64 },
}

impl<T> Default for Reorderer<T> {
    fn default() -> Self {
        Reorderer { pending: VecDeque::new(), pts_heap: BinaryHeap::new(), last_pts_90k: None, last_dts_90k: None }
    }
}

impl<T> Reorderer<T> {
    /// Accepts the next frame in decode order; returns the frames whose decode time is now
    /// known, oldest first, or a discontinuity (the frame is then not consumed: flush and
    /// start a new run with it).
    pub fn push(&mut self, item: T, pts_90k: i64) -> Result<Vec<Timed<T>>, (T, Discontinuity)> {
        if let Some(last) = self.last_pts_90k {
            let delta = pts_90k.saturating_sub(last);
            if delta.unsigned_abs() > u64::from(FRAME_DURATION_90K_MAX) || delta == 0 {
                return Err((item, Discontinuity::Jump { delta_90k: delta }));
            }
            // A frame presented before already-decoded frames cannot be placed.
            if let Some(d) = self.last_dts_90k
                && pts_90k <= d
            {
                return Err((item, Discontinuity::Jump { delta_90k: delta }));
            }
        }
        self.last_pts_90k = Some(pts_90k);
        self.pending.push_back((item, pts_90k));
        self.pts_heap.push(Reverse(pts_90k));
        let mut out = Vec::new();
        while self.pending.len() > REORDER_WINDOW_FRAMES {
            out.push(self.pop_one());
        }
        Ok(out)
    }

    /// Releases every held frame (end of run).
    pub fn flush(&mut self) -> Vec<Timed<T>> {
        let mut out = Vec::new();
        while !self.pending.is_empty() {
            out.push(self.pop_one());
        }
        self.last_pts_90k = None;
        self.last_dts_90k = None;
        out
    }

    pub fn held(&self) -> usize {
        self.pending.len()
    }

    fn pop_one(&mut self) -> Timed<T> {
        let (item, pts_90k) = self.pending.pop_front().expect("pending non-empty");
        let Reverse(mut dts) = self.pts_heap.pop().expect("heap as long as pending");
        // Keep decode times strictly increasing and offsets bounded even for a stream that
        // reorders more deeply than the window.
        if let Some(last) = self.last_dts_90k {
            dts = dts.max(last + 1);
        }
        dts = dts.max(pts_90k - i64::from(PTS_OFFSET_90K_MAX)).min(pts_90k + i64::from(PTS_OFFSET_90K_MAX));
        self.last_dts_90k = Some(dts);
        Timed { item, pts_90k, dts_90k: dts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pts: &[i64]) -> Vec<(i64, i64)> {
        let mut r = Reorderer::default();
        let mut out = Vec::new();
        for (i, &p) in pts.iter().enumerate() {
            out.extend(r.push(i, p).unwrap());
        }
        out.extend(r.flush());
        out.into_iter().map(|t| (t.pts_90k, t.dts_90k)).collect()
    }

    #[test]
    fn no_b_frames_means_dts_equals_pts() {
        let pts: Vec<i64> = (0..10).map(|i| 1000 + i * 3000).collect();
        assert!(run(&pts).iter().all(|(p, d)| p == d));
    }

    #[test]
    fn b_frames_get_sorted_decode_times() {
        // I0 P3 B1 B2 P6 B4 B5 in decode order.
        let pts: Vec<i64> = [0, 3, 1, 2, 6, 4, 5].iter().map(|x| x * 9000).collect();
        let got = run(&pts);
        let dts: Vec<i64> = got.iter().map(|x| x.1 / 9000).collect();
        assert_eq!(dts, vec![0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(got.iter().map(|x| x.0).collect::<Vec<_>>(), pts);
    }

    #[test]
    fn big_jump_is_a_discontinuity() {
        let mut r = Reorderer::default();
        r.push(0, 0).unwrap();
        let (item, d) = r.push(1, 11 * 90_000).unwrap_err();
        assert_eq!(item, 1);
        assert_eq!(d, Discontinuity::Jump { delta_90k: 11 * 90_000 });
        let (_, d) = r.push(2, 0).unwrap_err();
        assert_eq!(d, Discontinuity::Jump { delta_90k: 0 });
    }

    #[test]
    fn window_bounds_latency() {
        let mut r = Reorderer::default();
        for i in 0..REORDER_WINDOW_FRAMES as i64 {
            assert!(r.push(i, i * 3000).unwrap().is_empty());
        }
        assert_eq!(r.push(9, 100_000).unwrap().len(), 1);
        assert_eq!(r.held(), REORDER_WINDOW_FRAMES);
    }
}
