//! Tracking objects across frames, so that one visit is one event.
//!
//! A detector's score for the same person wanders from frame to frame (on the real person
//! clip, between 0.15 and 0.8, with frames where it finds nothing), and a wrong label can
//! score high on one frame. So no single frame decides anything:
//!
//! - Detections of a category are matched to that category's live tracks by overlap (IoU,
//!   greedily, best pair first); an unmatched detection starts a tentative track.
//! - A track is *confirmed* when it has been seen in at least `confirm_hits` frames and the
//!   median of its last scores reaches the category's threshold. A wrong label that shows
//!   up in one or two frames, or with a low median, never becomes an alert.
//! - A track must also have *moved* (its box's centre has left where it was first seen by
//!   more than `MOVED` of that box's larger side, or the box overlaps its first self by less
//!   than `MOVED_IOU`) before it can be confirmed — except a package, which by nature
//!   sits still. Something that has sat still since it was
//!   first seen — a parked car, a rock the model calls a dog (both in Debian's
//!   `vtest.avi`) — did not arrive, so it is no visit; a visitor walks in.
//! - A track is lost when it has not been seen for `lost_after` seconds, which bridges the
//!   frames in which the detector misses a person who is still there.
//! - [`ObjectEvents`] turns tracks into events per category: an event starts when a track
//!   of its category is confirmed (its start is that track's first sighting, so the event
//!   covers the whole arrival) and ends when no track of the category is left.

use std::collections::VecDeque;

use base::{Error, bail};

use crate::objects::{BBox, Category, Detection};

/// Scores kept per track for the median.
const HISTORY: usize = 7;

/// A track has moved once its centre is this far (in units of its first box's larger side)
/// from where it was first seen. Boxes of something still jitter by a tenth or so.
const MOVED: f32 = 0.3;
const MOVED_IOU: f32 = 0.6;

#[derive(Clone, Debug)]
pub struct TrackerConfig {
    /// Smallest overlap that continues a track (0.01..=0.9). Default 0.2.
    pub iou: f32,
    /// Frames a track must be seen in before it can be confirmed (1..=20). Default 3.
    pub confirm_hits: u32,
    /// Median score (of the last seven) that confirms a track, per category, in
    /// [`Category::ALL`] order (each 0.05..=0.99). Default 0.25 for each.
    pub thresholds: [f32; 4],
    /// Seconds unseen after which a track is gone (0.2..=60). Default 2.
    pub lost_after: f64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig { iou: 0.2, confirm_hits: 3, thresholds: [0.25; 4], lost_after: 2.0 }
    }
}

impl TrackerConfig {
    pub fn check(&self) -> Result<(), Error> {
        if !(0.01..=0.9).contains(&self.iou) {
            bail!(InvalidArgument, "tracking iou: expected 0.01 to 0.9, got {}", self.iou);
        }
        if !(1..=20).contains(&self.confirm_hits) {
            bail!(InvalidArgument, "tracking confirm_hits: expected 1..=20, got {}", self.confirm_hits);
        }
        for (c, t) in Category::ALL.iter().zip(self.thresholds) {
            if !(0.05..=0.99).contains(&t) {
                bail!(InvalidArgument, "threshold for {}: expected 0.05 to 0.99, got {t}", c.name());
            }
        }
        if !(0.2..=60.0).contains(&self.lost_after) {
            bail!(InvalidArgument, "tracking lost_after: expected 0.2 to 60 seconds, got {}", self.lost_after);
        }
        Ok(())
    }

    pub fn threshold(&self, c: Category) -> f32 {
        self.thresholds[c as usize]
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    pub id: u64,
    pub category: Category,
    /// The model label seen with the highest score ("car" for a vehicle).
    pub label: String,
    pub first_seen: f64,
    pub last_seen: f64,
    pub bbox: BBox,
    /// Where it was first seen.
    pub first_bbox: BBox,
    /// It has moved away from `first_bbox` at some point.
    pub moved: bool,
    pub hits: u32,
    pub confirmed: bool,
    scores: VecDeque<f32>,
    /// The best score so far and where it was seen.
    pub best: (f32, f64, BBox),
}

impl Track {
    pub fn median(&self) -> f32 {
        let mut s: Vec<f32> = self.scores.iter().copied().collect();
        s.sort_by(f32::total_cmp);
        let n = s.len();
        if n == 0 {
            0.0
        } else if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        }
    }
}

/// Moved: the centre has gone far for its size, or the box has changed shape or place
/// enough that it overlaps its first self by less than `MOVED_IOU` (someone walking towards
/// or away from the camera grows or shrinks more than they shift).
fn moved(first: &BBox, now: &BBox) -> bool {
    let ((x0, y0), (x1, y1)) = (first.center(), now.center());
    let side = (first.x1 - first.x0).max(first.y1 - first.y0).max(1e-3);
    ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt() > MOVED * side || first.iou(now) < MOVED_IOU
}

#[derive(Clone, Debug, PartialEq)]
pub enum TrackChange {
    Confirmed(u64),
    /// A confirmed track's best score improved (on this frame).
    NewBest(u64),
    Lost(Track),
}

pub struct Tracker {
    cfg: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Result<Tracker, Error> {
        cfg.check()?;
        Ok(Tracker { cfg, tracks: Vec::new(), next_id: 1 })
    }

    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    pub fn get(&self, id: u64) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Feeds the detections of the frame at `t`. Detections without a category are
    /// ignored (they are never alerts).
    pub fn update(&mut self, t: f64, dets: &[Detection]) -> Vec<TrackChange> {
        let mut out = Vec::new();
        let dets: Vec<&Detection> = dets.iter().filter(|d| d.category.is_some()).collect();
        // Candidate pairs, best overlap first.
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, tr) in self.tracks.iter().enumerate() {
            for (di, d) in dets.iter().enumerate() {
                if d.category == Some(tr.category) {
                    let iou = tr.bbox.iou(&d.bbox);
                    if iou >= self.cfg.iou {
                        pairs.push((iou, ti, di));
                    }
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut t_used, mut d_used) = (vec![false; self.tracks.len()], vec![false; dets.len()]);
        for (_, ti, di) in pairs {
            if t_used[ti] || d_used[di] {
                continue;
            }
            t_used[ti] = true;
            d_used[di] = true;
            let d = dets[di];
            let tr = &mut self.tracks[ti];
            tr.last_seen = t;
            tr.bbox = d.bbox;
            tr.moved |= moved(&tr.first_bbox, &d.bbox);
            tr.hits += 1;
            tr.scores.push_back(d.score);
            if tr.scores.len() > HISTORY {
                tr.scores.pop_front();
            }
            let improved = d.score > tr.best.0;
            if improved {
                tr.best = (d.score, t, d.bbox);
                tr.label.clone_from(&d.label);
            }
            // (A parcel never moves: that is what it is.)
            if !tr.confirmed
                && (tr.moved || tr.category == Category::Package)
                && tr.hits >= self.cfg.confirm_hits
                && tr.median() >= self.cfg.threshold(tr.category)
            {
                tr.confirmed = true;
                out.push(TrackChange::Confirmed(tr.id));
            } else if tr.confirmed && improved {
                out.push(TrackChange::NewBest(tr.id));
            }
        }
        for (di, d) in dets.iter().enumerate() {
            if d_used[di] {
                continue;
            }
            let category = d.category.expect("filtered");
            let id = self.next_id;
            self.next_id += 1;
            let tr = Track {
                id,
                category,
                label: d.label.clone(),
                first_seen: t,
                last_seen: t,
                bbox: d.bbox,
                first_bbox: d.bbox,
                moved: false,
                hits: 1,
                confirmed: false,
                scores: VecDeque::from([d.score]),
                best: (d.score, t, d.bbox),
            };
            self.tracks.push(tr);
        }
        self.expire(t, &mut out);
        out
    }

    /// Drops tracks unseen for `lost_after` at time `t` (also called on frames where the
    /// detector did not run, so that tracks end even when nothing moves).
    pub fn expire(&mut self, t: f64, out: &mut Vec<TrackChange>) {
        let lost_after = self.cfg.lost_after;
        let mut i = 0;
        while i < self.tracks.len() {
            if t - self.tracks[i].last_seen >= lost_after {
                out.push(TrackChange::Lost(self.tracks.remove(i)));
            } else {
                i += 1;
            }
        }
    }

    /// Ends every track (end of input).
    pub fn finish(&mut self) -> Vec<TrackChange> {
        self.tracks.drain(..).map(TrackChange::Lost).collect()
    }
}

/// An object event: one visit of one category.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectEvent {
    pub id: u64,
    pub category: Category,
    /// The best-scoring model label among its confirmed tracks.
    pub label: String,
    pub start: f64,
    /// The last sighting (while open: the last so far).
    pub end: f64,
    /// The best confirmed track's median score when it was confirmed or later.
    pub score: f32,
    /// Best single-frame score, its time and box: where the snapshot comes from.
    pub best: (f32, f64, BBox),
    pub tracks: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ObjectChange {
    Started(ObjectEvent),
    /// The event's best sighting is the frame just analysed: take its snapshot now.
    NewBest(u64),
    Ended(ObjectEvent),
}

/// Per-category events made from track changes.
#[derive(Default)]
pub struct ObjectEvents {
    open: Vec<ObjectEvent>,
    next_id: u64,
}

impl ObjectEvents {
    pub fn open(&self) -> &[ObjectEvent] {
        &self.open
    }

    pub fn push(&mut self, tracker: &Tracker, changes: &[TrackChange]) -> Vec<ObjectChange> {
        let mut out = Vec::new();
        for ch in changes {
            match ch {
                TrackChange::Confirmed(id) | TrackChange::NewBest(id) => {
                    let Some(tr) = tracker.get(*id) else { continue };
                    let started = matches!(ch, TrackChange::Confirmed(_));
                    let ev = match self.open.iter_mut().position(|e| e.category == tr.category) {
                        Some(i) => &mut self.open[i],
                        None => {
                            self.next_id += 1;
                            self.open.push(ObjectEvent {
                                id: self.next_id,
                                category: tr.category,
                                label: tr.label.clone(),
                                start: tr.first_seen,
                                end: tr.last_seen,
                                score: 0.0,
                                best: (0.0, tr.first_seen, tr.bbox),
                                tracks: 0,
                            });
                            let ev = self.open.last_mut().expect("just pushed");
                            out.push(ObjectChange::Started(ev.clone()));
                            ev
                        }
                    };
                    if started {
                        ev.tracks += 1;
                        ev.start = ev.start.min(tr.first_seen);
                    }
                    ev.end = ev.end.max(tr.last_seen);
                    ev.score = ev.score.max(tr.median());
                    if tr.best.0 > ev.best.0 {
                        ev.best = tr.best;
                        ev.label.clone_from(&tr.label);
                        out.push(ObjectChange::NewBest(ev.id));
                    }
                }
                TrackChange::Lost(tr) => {
                    let Some(i) = self.open.iter().position(|e| e.category == tr.category) else { continue };
                    if tr.confirmed {
                        self.open[i].end = self.open[i].end.max(tr.last_seen);
                    }
                    // The visit goes on while any track of its category, even a tentative
                    // one, is still being seen.
                    if !tracker.tracks().iter().any(|t| t.category == tr.category) {
                        out.push(ObjectChange::Ended(self.open.remove(i)));
                    }
                }
            }
        }
        // Keep open events' ends current.
        for ev in &mut self.open {
            for tr in tracker.tracks().iter().filter(|t| t.category == ev.category && t.confirmed) {
                ev.end = ev.end.max(tr.last_seen);
            }
        }
        out
    }

    /// Ends every open event that began at least `max` seconds before `t`, at `t`, and opens
    /// its continuation there (a new id, the same category, label, score and tracks; its
    /// best sighting still to come). Returns each (ended, continuation).
    pub fn split_older_than(&mut self, t: f64, max: f64) -> Vec<(ObjectEvent, ObjectEvent)> {
        let mut out = Vec::new();
        for ev in &mut self.open {
            if t - ev.start < max {
                continue;
            }
            self.next_id += 1;
            let next = ObjectEvent { id: self.next_id, start: t, end: t, best: (0.0, t, ev.best.2), ..ev.clone() };
            let mut ended = std::mem::replace(ev, next.clone());
            ended.end = t;
            out.push((ended, next));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(score: f32, x: f32) -> Detection {
        Detection {
            label: "person".into(),
            category: Some(Category::Person),
            score,
            bbox: BBox { x0: x, y0: 0.2, x1: x + 0.2, y1: 0.8 },
        }
    }

    /// Runs frames at 5 fps; `None` is a frame where the detector found nothing.
    fn run(frames: &[Option<Detection>]) -> Vec<ObjectChange> {
        let mut tr = Tracker::new(TrackerConfig::default()).unwrap();
        let mut ev = ObjectEvents::default();
        let mut out = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let dets: Vec<Detection> = f.iter().cloned().collect();
            let ch = tr.update(i as f64 * 0.2, &dets);
            out.extend(ev.push(&tr, &ch));
        }
        let ch = tr.finish();
        out.extend(ev.push(&tr, &ch));
        out.retain(|c| !matches!(c, ObjectChange::NewBest(_)));
        out
    }

    fn starts_ends(ch: &[ObjectChange]) -> Vec<(char, f64)> {
        ch.iter()
            .filter_map(|c| match c {
                ObjectChange::Started(e) => Some(('S', (e.start * 10.0).round() / 10.0)),
                ObjectChange::Ended(e) => Some(('E', (e.end * 10.0).round() / 10.0)),
                ObjectChange::NewBest(_) => None,
            })
            .collect()
    }

    #[test]
    fn one_strong_frame_is_not_an_event() {
        assert_eq!(run(&[None, Some(person(0.9, 0.1)), None, None]), vec![]);
        assert_eq!(run(&[None, Some(person(0.9, 0.1)), Some(person(0.9, 0.3)), None]), vec![], "nor two");
        // Low scores, however many frames.
        let low: Vec<_> = (0..30).map(|i| Some(person(0.18, 0.1 + i as f32 * 0.01))).collect();
        assert_eq!(run(&low), vec![]);
    }

    #[test]
    fn a_visit_with_misses_is_one_event_starting_at_the_first_sighting() {
        let mut f: Vec<Option<Detection>> = vec![None; 3];
        for i in 0..30 {
            // Walking right slowly, missed in every fourth frame.
            f.push(if i % 4 == 3 { None } else { Some(person(0.3, 0.1 + i as f32 * 0.02)) });
        }
        f.extend(vec![None; 15]);
        let ch = run(&f);
        assert_eq!(starts_ends(&ch), vec![('S', 0.6), ('E', 6.4)]);
    }

    #[test]
    fn a_long_visit_is_split_into_consecutive_events() {
        let mut tr = Tracker::new(TrackerConfig::default()).unwrap();
        let mut ev = ObjectEvents::default();
        let mut changes = Vec::new();
        let mut splits = Vec::new();
        // Someone lingering at the door for 30 s at 5 fps; events at most 10 s long.
        for i in 0..150 {
            let t = i as f64 * 0.2;
            let ch = tr.update(t, &[person(0.6, 0.1 + i as f32 * 0.003)]);
            changes.extend(ev.push(&tr, &ch));
            splits.extend(ev.split_older_than(t, 10.0));
        }
        let starts = changes.iter().filter(|c| matches!(c, ObjectChange::Started(_))).count();
        assert_eq!(starts, 1, "one visit");
        let bounds: Vec<(f64, f64, f64)> = splits
            .iter()
            .map(|(a, b)| ((a.start * 10.0).round() / 10.0, (a.end * 10.0).round() / 10.0, b.start))
            .collect();
        assert_eq!(bounds.len(), 2, "{bounds:?}");
        // Each part is 10 s, and the next begins where it ended: nothing lost, nothing doubled.
        assert_eq!((bounds[0].0, bounds[0].1), (0.0, 10.0));
        assert_eq!(bounds[0].1, (bounds[0].2 * 10.0).round() / 10.0);
        assert_eq!((bounds[1].0, bounds[1].1), (10.0, 20.0));
        assert!(splits.iter().all(|(a, b)| a.id != b.id && b.category == a.category && b.tracks == a.tracks));
        assert_eq!(ev.open().len(), 1);
        assert_eq!((ev.open()[0].start * 10.0).round() / 10.0, 20.0);
    }

    #[test]
    fn two_visits_apart_are_two_events() {
        let walk = |x0: f32| (0..10).map(move |i| Some(person(0.5, x0 + i as f32 * 0.05)));
        let mut f: Vec<Option<Detection>> = walk(0.1).collect();
        f.extend(vec![None; 15]);
        f.extend(walk(0.45));
        assert_eq!(starts_ends(&run(&f)), vec![('S', 0.0), ('E', 1.8), ('S', 5.0), ('E', 6.8)]);
    }

    #[test]
    fn what_never_moved_did_not_arrive() {
        // A parked car scored well in every frame, never moving: no event.
        let still: Vec<_> = (0..40).map(|_| Some(person(0.6, 0.3))).collect();
        assert_eq!(run(&still), vec![]);
        // The same that then walks off is a visit, dated from its first sighting.
        let mut f = still.clone();
        f.extend((1..10).map(|i| Some(person(0.6, 0.3 + i as f32 * 0.04))));
        assert_eq!(starts_ends(&run(&f))[0], ('S', 0.0));
    }

    #[test]
    fn unclassified_detections_do_not_track() {
        let mut d = person(0.9, 0.1);
        d.label = "cell phone".into();
        d.category = None;
        let f: Vec<_> = (0..10)
            .map(|i| {
                let mut d = d.clone();
                d.bbox.x0 += i as f32 * 0.02;
                d.bbox.x1 += i as f32 * 0.02;
                Some(d)
            })
            .collect();
        assert_eq!(run(&f), vec![]);
    }

    #[test]
    fn config_bounds() {
        assert!(TrackerConfig { iou: 0.0, ..Default::default() }.check().is_err());
        assert!(TrackerConfig { thresholds: [0.25, 0.25, 1.5, 0.25], ..Default::default() }.check().is_err());
        assert!(TrackerConfig { lost_after: 0.0, ..Default::default() }.check().is_err());
        assert!(TrackerConfig::default().check().is_ok());
    }
}
