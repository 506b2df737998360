//! Which regions of which frame to blur, from detections on a sample of the frames.
//!
//! The detectors run on one frame in every few (they cost far more than decoding), and any
//! of them can miss a person for a frame or several. The plan errs towards blurring more:
//! detections are joined into tracks, and between two sightings of a track every frame
//! blurs the hull of both boxes (wherever the object went in between, it was inside that
//! hull unless it moved faster than its own width per gap and back); before a track's first
//! sighting and after its last, its box stays blurred for `hold` seconds, so someone who
//! walked in between two samples, or whom the detector lost as they left, stays covered.
//! The whole plan is computed before the first frame is encoded (the clip is prepared
//! offline), so a frame can be covered by a sighting that comes after it.

use crate::objects::BBox;

/// What a region hides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Person,
    Face,
    Text,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::Face => "face",
            Kind::Text => "text",
        }
    }
}

/// One detection on a sampled frame, in fractions of the frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sighting {
    pub kind: Kind,
    pub bbox: BBox,
}

#[derive(Clone, Copy, Debug)]
pub struct PlanConfig {
    /// Seconds a track stays blurred before its first and after its last sighting.
    pub hold: f64,
    /// Two sightings further apart than this are separate tracks (seconds).
    pub max_gap: f64,
    /// Margin added on every side of a blurred box, as a fraction of its width and height.
    pub margin: f32,
}

impl Default for PlanConfig {
    fn default() -> PlanConfig {
        PlanConfig { hold: 1.0, max_gap: 4.0, margin: 0.1 }
    }
}

/// A region to blur in one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Region {
    pub kind: Kind,
    pub bbox: BBox,
}

struct Track {
    kind: Kind,
    /// (time, box), in time order.
    seen: Vec<(f64, BBox)>,
}

fn hull(a: &BBox, b: &BBox) -> BBox {
    BBox { x0: a.x0.min(b.x0), y0: a.y0.min(b.y0), x1: a.x1.max(b.x1), y1: a.y1.max(b.y1) }
}

fn grown(b: &BBox, k: f32) -> BBox {
    let (dx, dy) = ((b.x1 - b.x0) * k, (b.y1 - b.y0) * k);
    BBox { x0: (b.x0 - dx).max(0.0), y0: (b.y0 - dy).max(0.0), x1: (b.x1 + dx).min(1.0), y1: (b.y1 + dy).min(1.0) }
}

/// Joins sightings into tracks: each sampled frame's sightings go to the live track of the
/// same kind whose last box they overlap most (boxes grown by half their size first, so a
/// fast walker still matches), best pairs first; the rest start tracks.
fn tracks(samples: &[(f64, Vec<Sighting>)], cfg: &PlanConfig) -> Vec<Track> {
    let mut all: Vec<Track> = Vec::new();
    for (t, sightings) in samples {
        let live: Vec<usize> =
            (0..all.len()).filter(|&i| t - all[i].seen.last().expect("never empty").0 <= cfg.max_gap).collect();
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (si, s) in sightings.iter().enumerate() {
            for &ti in &live {
                let tr = &all[ti];
                if tr.kind != s.kind {
                    continue;
                }
                let iou = grown(&tr.seen.last().expect("never empty").1, 0.5).iou(&grown(&s.bbox, 0.5));
                if iou > 0.0 {
                    pairs.push((iou, si, ti));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut used_s, mut used_t) = (vec![false; sightings.len()], vec![false; all.len()]);
        for (_, si, ti) in pairs {
            if used_s[si] || used_t[ti] {
                continue;
            }
            used_s[si] = true;
            used_t[ti] = true;
            all[ti].seen.push((*t, sightings[si].bbox));
        }
        for (si, s) in sightings.iter().enumerate() {
            if !used_s[si] {
                all.push(Track { kind: s.kind, seen: vec![(*t, s.bbox)] });
            }
        }
    }
    all
}

/// A track's box at `t`, before its first sighting (`after_last` false) or after its last:
/// the end box, swept along the track's own motion at that end (someone leaving keeps
/// walking after the detector loses them) and grown as the guess gets older, by up to half
/// its size at the end of the hold.
fn extrapolated(seen: &[(f64, BBox)], after_last: bool, t: f64, hold: f64) -> BBox {
    let (end, other) = if after_last {
        (seen[seen.len() - 1], seen.len().checked_sub(2).map(|i| seen[i]))
    } else {
        (seen[0], seen.get(1).copied())
    };
    let dt = (t - end.0).abs();
    let mut b = end.1;
    if let Some(o) = other {
        let span = (end.0 - o.0).abs().max(1e-3);
        let ((ex, ey), (ox, oy)) = (end.1.center(), o.1.center());
        // Velocity away from the other sighting, per second, applied for dt.
        let k = (dt / span) as f32;
        let (dx, dy) = ((ex - ox) * k, (ey - oy) * k);
        let moved = BBox { x0: b.x0 + dx, y0: b.y0 + dy, x1: b.x1 + dx, y1: b.y1 + dy };
        b = hull(&b, &moved);
    }
    grown(&b, if hold > 0.0 { (0.5 * dt / hold) as f32 } else { 0.0 })
}

/// The regions to blur in each frame (`frame_times` in seconds, increasing), from the
/// sightings on sampled frames (`samples`: time and sightings, in time order).
pub fn plan(samples: &[(f64, Vec<Sighting>)], frame_times: &[f64], cfg: &PlanConfig) -> Vec<Vec<Region>> {
    let tracks = tracks(samples, cfg);
    frame_times
        .iter()
        .map(|&t| {
            let mut out = Vec::new();
            for tr in &tracks {
                let after = tr.seen.partition_point(|(ts, _)| *ts <= t);
                let before = after.checked_sub(1).map(|i| &tr.seen[i]);
                let next = tr.seen.get(after);
                let b = match (before, next) {
                    (Some(a), _) if a.0 == t => Some(a.1),
                    (Some(a), Some(b)) => Some(hull(&a.1, &b.1)),
                    (None, Some(b)) if b.0 - t <= cfg.hold => Some(extrapolated(&tr.seen, false, t, cfg.hold)),
                    (Some(a), None) if t - a.0 <= cfg.hold => Some(extrapolated(&tr.seen, true, t, cfg.hold)),
                    _ => None,
                };
                if let Some(b) = b {
                    out.push(Region { kind: tr.kind, bbox: grown(&b, cfg.margin) });
                }
            }
            out
        })
        .collect()
}

/// How much of `b` the union of `regions` covers (0 to 1), measured on a 64×64 grid over
/// `b`. For tests and the redaction report.
pub fn coverage(b: &BBox, regions: &[Region]) -> f32 {
    const N: usize = 64;
    let (w, h) = (b.x1 - b.x0, b.y1 - b.y0);
    if w <= 0.0 || h <= 0.0 {
        return 1.0;
    }
    let mut covered = 0;
    for j in 0..N {
        let y = b.y0 + h * (j as f32 + 0.5) / N as f32;
        for i in 0..N {
            let x = b.x0 + w * (i as f32 + 0.5) / N as f32;
            if regions.iter().any(|r| r.bbox.x0 <= x && x <= r.bbox.x1 && r.bbox.y0 <= y && y <= r.bbox.y1) {
                covered += 1;
            }
        }
    }
    covered as f32 / (N * N) as f32
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn bx(x0: f32, y0: f32, x1: f32, y1: f32) -> BBox {
        BBox { x0, y0, x1, y1 }
    }

    fn person(b: BBox) -> Sighting {
        Sighting { kind: Kind::Person, bbox: b }
    }

    #[test]
    fn dropouts_are_bridged_and_ends_held() {
        let cfg = PlanConfig { hold: 0.5, max_gap: 3.0, margin: 0.0 };
        // Seen at 1 s on the left, missed at 1.3–2.2 s, seen at 2.5 s further right.
        let samples = vec![
            (1.0, vec![person(bx(0.1, 0.2, 0.3, 0.8))]),
            (1.3, vec![]),
            (1.9, vec![]),
            (2.5, vec![person(bx(0.2, 0.2, 0.4, 0.8))]),
        ];
        let times: Vec<f64> = (0..40).map(|i| f64::from(i) * 0.1).collect();
        let p = plan(&samples, &times, &cfg);
        for (t, regions) in times.iter().zip(&p) {
            let want = (0.5 - 1e-9..=3.0 + 1e-9).contains(t);
            assert_eq!(!regions.is_empty(), want, "at {t}: {regions:?}");
        }
        // In the gap, the hull of both sightings.
        assert_eq!(p[18][0].bbox, bx(0.1, 0.2, 0.4, 0.8));
        // After the last sighting the box follows the walker (0.1 to the right per 1.5 s)
        // and grows: at 2.8 s it reaches past where they were last seen.
        let after = p[28][0].bbox;
        assert!(after.x1 > 0.4 + 0.02 && after.x0 < 0.2, "{after:?}");
    }

    #[test]
    fn far_apart_sightings_are_separate_tracks() {
        let cfg = PlanConfig { hold: 0.2, max_gap: 1.0, margin: 0.0 };
        let samples = vec![(0.0, vec![person(bx(0.0, 0.0, 0.1, 0.1))]), (5.0, vec![person(bx(0.0, 0.0, 0.1, 0.1))])];
        let p = plan(&samples, &[2.5], &cfg);
        assert!(p[0].is_empty(), "nothing was seen for 5 s: {:?}", p[0]);
    }

    fn arb_box() -> impl Strategy<Value = BBox> {
        (0.0f32..0.9, 0.0f32..0.9, 0.02f32..0.3, 0.02f32..0.3)
            .prop_map(|(x, y, w, h)| bx(x, y, (x + w).min(1.0), (y + h).min(1.0)))
    }

    proptest! {
        /// Every sighting is fully covered in its own frame, and in every frame within the
        /// hold before and after it.
        #[test]
        fn every_sighting_is_covered(
            seen in prop::collection::vec(prop::collection::vec(arb_box(), 0..4), 1..12),
            margin in 0.0f32..0.3,
        ) {
            let cfg = PlanConfig { hold: 0.6, max_gap: 2.0, margin };
            let samples: Vec<(f64, Vec<Sighting>)> =
                seen.iter().enumerate().map(|(i, b)| (i as f64 * 0.5, b.iter().map(|&b| person(b)).collect())).collect();
            let times: Vec<f64> = (0..70).map(|i| f64::from(i) * 0.1).collect();
            let p = plan(&samples, &times, &cfg);
            for (ts, sightings) in &samples {
                for s in sightings {
                    for (t, regions) in times.iter().zip(&p) {
                        if (t - ts).abs() <= 0.3 {
                            prop_assert!(coverage(&s.bbox, regions) >= 0.999, "{s:?} at {ts} uncovered at {t}: {regions:?}");
                        }
                    }
                }
            }
        }
    }
}
