//! One stream's analysis: decode every frame; on `fps` of them per second, black out the
//! privacy masks, run motion detection, run the object detector when there is motion (or
//! an object is being tracked, or the heartbeat is due), track objects, and turn it all
//! into events with a best snapshot. The agent's analysis thread, `porchlight motion` and
//! the real-footage tests drive this; only where frames come from differs.

use std::collections::HashMap;

use base::{Error, bail};
use media::SampleEntry;

use crate::decode::{H264Decoder, OwnedPicture};
use crate::events::{Change, MotionEvents};
use crate::motion::{Motion, MotionConfig, MotionDetector};
use crate::objects::{BBox, Category, Detection, ObjectDetector};
use crate::track::{ObjectChange, ObjectEvents, Tracker, TrackerConfig};
use crate::zone::Masker;

/// Object detection for an analyser.
pub struct ObjectsSpec {
    pub detector: Box<dyn ObjectDetector>,
    pub tracker: TrackerConfig,
    /// Run the detector at least this often (seconds) even without motion, so that
    /// something that arrived without tripping motion is still found (1..=600).
    pub heartbeat: f64,
}

/// The "new stationary object near the door" rule: packages, which COCO models have no
/// class for. When a visit's motion has ended and settled, the scene is compared with the
/// background from before the visit; a new region, parcel-sized, whose centre is in one of
/// `zones`, is a package (unless a person is still being tracked: then the check waits).
/// A region where an earlier package was is its removal, not a new one.
#[derive(Clone, Debug)]
pub struct PackageRule {
    /// Names of motion zones to watch (the porch, the doormat).
    pub zones: Vec<String>,
    /// Seconds after motion ends before the scene is compared (1..=120). Default 5.
    pub settle: f64,
    /// Largest package, as a fraction of the frame (0.001..=0.5). Default 0.08.
    pub max_area: f32,
}

impl PackageRule {
    pub fn new(zones: Vec<String>) -> PackageRule {
        PackageRule { zones, settle: 5.0, max_area: 0.08 }
    }
}

struct PackageWatch {
    rule: PackageRule,
    /// The background as it was before the current visit.
    quiet_bg: Option<Vec<f32>>,
    reference: Option<Vec<f32>>,
    due: Option<f64>,
    /// Packages reported and not yet taken away.
    present: Vec<BBox>,
}

/// What an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Object(Category),
    /// Motion that no object explained: an unclassified moving object.
    Motion,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Object(c) => c.name(),
            EventKind::Motion => "motion",
        }
    }
}

/// The frame an event is best shown by, privacy masks already blacked out.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub t: f64,
    /// The object, for object events.
    pub bbox: Option<BBox>,
    pub picture: OwnedPicture,
}

/// An event: finished, or (in [`Analysed::started`]) as it stands when it began.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// This analyser's name for the event, the same when it starts and when it ends.
    pub key: u64,
    /// The event this one continues: a visit longer than the analyser's maximum event
    /// length is cut into consecutive events at that length.
    pub continues: Option<u64>,
    pub kind: EventKind,
    /// The model's label for object events ("car"), "motion" otherwise.
    pub label: String,
    /// Seconds on the stream's time line.
    pub start: f64,
    pub end: f64,
    /// Object events: the best track's median score; motion events: 0.
    pub score: f32,
    /// Motion zones it touched (empty when none are configured).
    pub zones: Vec<String>,
    pub snapshot: Option<Snapshot>,
}

/// One analysed frame.
#[derive(Debug)]
pub struct Analysed {
    /// The frame's time, in seconds on the stream's own time line.
    pub t: f64,
    pub motion: Motion,
    /// A motion event started or ended with this frame.
    pub change: Option<Change>,
    /// The detector ran on this frame and found these (all labels, best first).
    pub detections: Option<Vec<Detection>>,
    /// Object events that started with this frame, confirmed: as they stand (the snapshot
    /// so far, `end` this frame), to alert at once. The same key ends in a later frame's
    /// `ended`.
    pub started: Vec<Event>,
    /// Events that ended with this frame.
    pub ended: Vec<Event>,
    /// The object detector failed on this frame (it is tried again on the next one).
    pub detector_error: Option<Error>,
}

struct Objects {
    detector: Box<dyn ObjectDetector>,
    tracker: Tracker,
    events: ObjectEvents,
    heartbeat: f64,
    last_run: Option<f64>,
    /// Per open object event: what it has gathered so far.
    open: HashMap<u64, OpenObject>,
}

/// An open object event's key, link and what it has gathered so far.
#[derive(Default)]
struct OpenObject {
    key: u64,
    continues: Option<u64>,
    snapshot: Option<Snapshot>,
    zones: Vec<String>,
}

impl Objects {
    /// The finished event, with the snapshot and zones gathered while it was open.
    fn ended(&mut self, ev: crate::track::ObjectEvent) -> Event {
        let OpenObject { key, continues, snapshot, zones } = self.open.remove(&ev.id).unwrap_or_default();
        Event {
            key,
            continues,
            kind: EventKind::Object(ev.category),
            label: ev.label,
            start: ev.start,
            end: ev.end,
            score: ev.score,
            zones,
            snapshot,
        }
    }
}

/// The motion event in progress.
struct MotionVisit {
    key: u64,
    continues: Option<u64>,
    start: f64,
    /// An object event was open at some point during it.
    explained: bool,
    zones: Vec<String>,
    /// The frame with the most moving area, and that area.
    best: Option<(f32, Snapshot)>,
}

impl MotionVisit {
    /// As an unclassified motion event ending at `end`.
    fn into_event(self, end: f64) -> Event {
        Event {
            key: self.key,
            continues: self.continues,
            kind: EventKind::Motion,
            label: "motion".into(),
            start: self.start,
            end,
            score: 0.0,
            zones: self.zones,
            snapshot: self.best.map(|b| b.1),
        }
    }
}

pub struct Analyser {
    cfg: MotionConfig,
    decoder: Option<H264Decoder>,
    detector: MotionDetector,
    events: MotionEvents,
    objects: Option<Objects>,
    step: f64,
    /// Time of the next frame to analyse; `None` until the first decoded frame.
    next: Option<f64>,
    /// The analysed picture with masks blacked out (when there are masks).
    masked: OwnedPicture,
    /// The privacy masks, rasterized for the current picture size.
    masker: Masker,
    visit: Option<MotionVisit>,
    packages: Option<PackageWatch>,
    /// Events longer than this (seconds) are cut into consecutive events.
    max_event: Option<f64>,
    /// The next event key.
    next_key: u64,
}

impl Analyser {
    pub fn new(cfg: MotionConfig, fps: u32) -> Result<Analyser, Error> {
        if !(1..=30).contains(&fps) {
            bail!(InvalidArgument, "motion fps: expected 1..=30, got {fps}");
        }
        Ok(Analyser {
            detector: MotionDetector::new(cfg.clone())?,
            masker: Masker::new(cfg.masks.clone()),
            cfg,
            decoder: None,
            // Two analysed frames with motion start an event; two seconds without end it.
            events: MotionEvents::new(2, 2 * fps)?,
            objects: None,
            step: 1.0 / f64::from(fps),
            next: None,
            masked: OwnedPicture { width: 0, height: 0, y: Vec::new(), u: Vec::new(), v: Vec::new() },
            visit: None,
            packages: None,
            max_event: None,
            next_key: 1,
        })
    }

    /// Cuts events longer than `seconds` (10 to 3600) into consecutive events, each
    /// `continues` the one before: a scene that never stops moving still makes events, and
    /// a long visit is not held back until it ends.
    pub fn with_max_event(mut self, seconds: f64) -> Result<Analyser, Error> {
        if !(10.0..=3600.0).contains(&seconds) {
            bail!(InvalidArgument, "max_event_s: expected 10 to 3600 seconds, got {seconds}");
        }
        self.max_event = Some(seconds);
        Ok(self)
    }

    /// Adds the package rule; its zones must be motion zones.
    pub fn with_packages(mut self, rule: PackageRule) -> Result<Analyser, Error> {
        for z in &rule.zones {
            if !self.cfg.zones.iter().any(|(n, _)| n == z) {
                bail!(InvalidArgument, "package zone {z:?}: no motion zone has that name");
            }
        }
        if rule.zones.is_empty() {
            bail!(InvalidArgument, "package zones: name at least one motion zone");
        }
        if !(1.0..=120.0).contains(&rule.settle) {
            bail!(InvalidArgument, "package settle: expected 1 to 120 seconds, got {}", rule.settle);
        }
        if !(0.001..=0.5).contains(&rule.max_area) {
            bail!(InvalidArgument, "package max_area: expected 0.001 to 0.5, got {}", rule.max_area);
        }
        self.packages = Some(PackageWatch { rule, quiet_bg: None, reference: None, due: None, present: Vec::new() });
        Ok(self)
    }

    /// Adds object detection.
    pub fn with_objects(mut self, spec: ObjectsSpec) -> Result<Analyser, Error> {
        if !(1.0..=600.0).contains(&spec.heartbeat) {
            bail!(InvalidArgument, "objects heartbeat: expected 1 to 600 seconds, got {}", spec.heartbeat);
        }
        self.objects = Some(Objects {
            detector: spec.detector,
            tracker: Tracker::new(spec.tracker)?,
            events: ObjectEvents::default(),
            heartbeat: spec.heartbeat,
            last_run: None,
            open: HashMap::new(),
        });
        Ok(self)
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
    /// was analysed; decoding errors are returned (the decoder skips to the next key
    /// frame), a detector error is part of the frame's analysis.
    pub fn push(&mut self, data: &[u8], is_key: bool, t: f64) -> Result<Option<Analysed>, Error> {
        let Some(dec) = self.decoder.as_mut() else { return Ok(None) };
        // A jump back in time (a new run) restarts the pacing.
        if self.next.is_some_and(|n| t < n - 10.0) {
            self.next = None;
        }
        // Every frame is decoded (H.264 needs them all); only some are analysed, and only
        // those are copied out of the decoder. (The microsecond absorbs rounding in times
        // computed from timescales.)
        if self.next.is_some_and(|n| t + 1e-6 < n) {
            dec.decode_reference(data, is_key)?;
            return Ok(None);
        }
        let Some(pic) = dec.decode(data, is_key)? else { return Ok(None) };
        self.next = Some(match self.next {
            Some(n) => (n + self.step).max(t),
            None => t + self.step,
        });
        let pic = if self.masker.is_empty() {
            pic
        } else {
            self.masker.apply(&pic, &mut self.masked);
            self.masked.picture()
        };
        if let Some(w) = self.packages.as_mut()
            && self.visit.is_none()
        {
            self.detector.background_into(w.quiet_bg.get_or_insert_with(Vec::new));
        }
        let motion = self.detector.detect(pic.luma())?;
        if motion.reset
            && let Some(w) = self.packages.as_mut()
        {
            // The camera moved or switched to night mode: the old scene says nothing now.
            w.reference = None;
            w.due = None;
        }
        let change = self.events.push(t, motion.is_motion());
        let mut out = Analysed {
            t,
            motion,
            change,
            detections: None,
            started: Vec::new(),
            ended: Vec::new(),
            detector_error: None,
        };

        match change {
            Some(Change::Started(start)) => {
                let key = new_key(&mut self.next_key);
                self.visit =
                    Some(MotionVisit { key, continues: None, start, explained: false, zones: Vec::new(), best: None });
                if let Some(w) = self.packages.as_mut() {
                    w.due = None;
                    if w.reference.is_none() {
                        w.reference = w.quiet_bg.take();
                    }
                }
            }
            Some(Change::Ended(_)) => {
                if let Some(w) = self.packages.as_mut()
                    && w.reference.is_some()
                {
                    w.due = Some(t + w.rule.settle);
                }
            }
            None => {}
        }
        if let Some(v) = self.visit.as_mut() {
            merge_zones(&mut v.zones, &out.motion.zones);
            let area: f32 = out.motion.regions.iter().map(|r| r.area).sum();
            if area > v.best.as_ref().map_or(0.0, |b| b.0) {
                v.best = Some((area, Snapshot { t, bbox: None, picture: pic.to_owned() }));
            }
        }

        let mut object_err = None;
        if let Some(o) = self.objects.as_mut() {
            let due = out.motion.is_motion()
                || !o.tracker.is_empty()
                || o.last_run.is_none_or(|r| t - r >= o.heartbeat || t < r);
            let mut changes = Vec::new();
            if due {
                o.last_run = Some(t);
                match o.detector.detect(&pic) {
                    Ok(d) => {
                        changes = o.tracker.update(t, &d);
                        out.detections = Some(d);
                    }
                    Err(e) => object_err = Some(e),
                }
            }
            if !due || object_err.is_some() {
                o.tracker.expire(t, &mut changes);
            }
            let zones = Self::zones_of(&self.cfg, o, &out.motion);
            let mut started = Vec::new();
            for ch in o.events.push(&o.tracker, &changes) {
                match ch {
                    ObjectChange::Started(ev) => {
                        let key = new_key(&mut self.next_key);
                        o.open.insert(ev.id, OpenObject { key, ..Default::default() });
                        started.push(ev.id);
                    }
                    ObjectChange::NewBest(id) => {
                        if let Some(slot) = o.open.get_mut(&id)
                            && let Some(ev) = o.events.open().iter().find(|e| e.id == id)
                        {
                            slot.snapshot = Some(Snapshot { t, bbox: Some(ev.best.2), picture: pic.to_owned() });
                        }
                    }
                    ObjectChange::Ended(ev) => out.ended.push(o.ended(ev)),
                }
            }
            // Long visits: the part so far ends here, its continuation starts here (with
            // this frame as its snapshot until a better one comes).
            if let Some(max) = self.max_event {
                for (ended, next) in o.events.split_older_than(t, max) {
                    let done = o.ended(ended);
                    let key = new_key(&mut self.next_key);
                    let snapshot =
                        Some(Snapshot { t, bbox: Some(Self::box_now(o, next.category)), picture: pic.to_owned() });
                    o.open.insert(next.id, OpenObject { key, continues: Some(done.key), snapshot, zones: Vec::new() });
                    out.ended.push(done);
                    started.push(next.id);
                }
            }
            for ev in o.events.open() {
                if let Some(slot) = o.open.get_mut(&ev.id) {
                    merge_zones(&mut slot.zones, &zones);
                }
            }
            for id in started {
                let (Some(ev), Some(slot)) = (o.events.open().iter().find(|e| e.id == id), o.open.get_mut(&id)) else {
                    continue;
                };
                let snapshot = slot
                    .snapshot
                    .get_or_insert_with(|| Snapshot { t, bbox: Some(ev.best.2), picture: pic.to_owned() })
                    .clone();
                out.started.push(Event {
                    key: slot.key,
                    continues: slot.continues,
                    kind: EventKind::Object(ev.category),
                    label: ev.label.clone(),
                    start: ev.start,
                    end: t.max(ev.start),
                    score: ev.score,
                    zones: slot.zones.clone(),
                    snapshot: Some(snapshot),
                });
            }
            if !o.events.open().is_empty()
                && let Some(v) = self.visit.as_mut()
            {
                v.explained = true;
            }
        }
        // A long motion event that no object explains: the part so far is an event, and
        // the visit goes on from here.
        if let Some(max) = self.max_event
            && self.visit.as_ref().is_some_and(|v| t - v.start >= max)
            && let Some(v) = self.visit.take()
        {
            let key = new_key(&mut self.next_key);
            let continues = (!v.explained).then_some(v.key);
            if !v.explained {
                out.ended.push(v.into_event(t));
            }
            self.visit =
                Some(MotionVisit { key, continues, start: t, explained: false, zones: Vec::new(), best: None });
        }
        if let Some(Change::Ended(end)) = change
            && let Some(v) = self.visit.take()
            && !v.explained
            && !out.ended.iter().any(|e| e.start <= end && e.end >= v.start)
        {
            out.ended.push(v.into_event(end));
        }
        let person_tracked =
            self.objects.as_ref().is_some_and(|o| o.tracker.tracks().iter().any(|tr| tr.category == Category::Person));
        if self.visit.is_none()
            && !person_tracked
            && let Some(w) = self.packages.as_mut()
            && w.due.is_some_and(|d| t >= d)
            && let Some(reference) = w.reference.take()
        {
            w.due = None;
            for r in self.detector.changes_since(&reference) {
                let b = BBox { x0: r.x, y0: r.y, x1: r.x + r.w, y1: r.y + r.h };
                let (cx, cy) = b.center();
                let in_zone = self.cfg.zones.iter().any(|(n, p)| w.rule.zones.contains(n) && p.contains(cx, cy));
                if !in_zone || r.area > w.rule.max_area {
                    continue;
                }
                if let Some(i) = w.present.iter().position(|p| p.iou(&b) > 0.3) {
                    // Where a package was: it was taken away.
                    w.present.remove(i);
                    continue;
                }
                w.present.push(b);
                let key = new_key(&mut self.next_key);
                out.ended.push(Event {
                    key,
                    continues: None,
                    kind: EventKind::Object(Category::Package),
                    label: "new object".into(),
                    start: t,
                    end: t,
                    score: 0.0,
                    zones: self
                        .cfg
                        .zones
                        .iter()
                        .filter(|(n, p)| w.rule.zones.contains(n) && p.contains(cx, cy))
                        .map(|(n, _)| n.clone())
                        .collect(),
                    snapshot: Some(Snapshot { t, bbox: Some(b), picture: pic.to_owned() }),
                });
            }
        }
        // The frame's motion analysis and events stand; the caller logs the detector's error.
        out.detector_error = object_err;
        Ok(Some(out))
    }

    /// Where the best confirmed track of `category` is now (the frame's centre if none).
    fn box_now(o: &Objects, category: Category) -> BBox {
        o.tracker
            .tracks()
            .iter()
            .filter(|t| t.confirmed && t.category == category)
            .max_by(|a, b| a.median().total_cmp(&b.median()))
            .map_or(BBox { x0: 0.25, y0: 0.25, x1: 0.75, y1: 0.75 }, |t| t.bbox)
    }

    /// The zones an object touches: those containing the bottom centre (the feet, the
    /// wheels) of any confirmed track's box, or the zones motion touched.
    fn zones_of(cfg: &MotionConfig, o: &Objects, motion: &Motion) -> Vec<String> {
        let mut z: Vec<String> = Vec::new();
        for tr in o.tracker.tracks().iter().filter(|t| t.confirmed) {
            let (cx, _) = tr.bbox.center();
            for (name, p) in &cfg.zones {
                if p.contains(cx, tr.bbox.y1.min(0.999)) && !z.contains(name) {
                    z.push(name.clone());
                }
            }
        }
        merge_zones(&mut z, &motion.zones);
        z
    }

    /// Ends open events at the end of the input (time `t`).
    pub fn finish(&mut self, t: f64) -> (Option<Change>, Vec<Event>) {
        let change = self.events.finish();
        let mut ended = Vec::new();
        if let Some(o) = self.objects.as_mut() {
            let changes = o.tracker.finish();
            for ch in o.events.push(&o.tracker, &changes) {
                if let ObjectChange::Ended(ev) = ch {
                    ended.push(o.ended(ev));
                }
            }
        }
        if let Some(v) = self.visit.take()
            && !v.explained
        {
            let end = match change {
                Some(Change::Ended(e)) => e,
                _ => t,
            };
            ended.push(v.into_event(end));
        }
        (change, ended)
    }
}

fn new_key(next: &mut u64) -> u64 {
    *next += 1;
    *next - 1
}

fn merge_zones(into: &mut Vec<String>, from: &[String]) {
    for z in from {
        if !into.contains(z) {
            into.push(z.clone());
        }
    }
}
