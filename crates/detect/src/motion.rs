//! Motion detection on decoded luma: a per-pixel background with a learning rate, made
//! robust to exposure changes by a global gain estimated every frame.
//!
//! Each frame is box-averaged down to a small working image (default 160 pixels wide).
//! Cameras change exposure, switch to night mode and drift with clouds; all of that scales
//! the whole image's brightness, so before comparing, the background is multiplied by the
//! frame's *gain*: the median, over unmasked pixels bright enough to measure, of current /
//! background. A pixel has changed when it differs from the gain-corrected background by
//! more than a threshold set by the sensitivity (plus a small fraction of its brightness,
//! for the gain's own error). Changed pixels are grouped into 8-connected regions; regions
//! smaller than the minimum area, or outside every motion zone, are ignored. A frame where
//! most of the picture changed at once is a scene change (the camera moved, the IR cut
//! filter switched): the model restarts from it and it is not reported as motion.
//!
//! Privacy masks are excluded from every step: masked pixels never count as changed and
//! never enter the gain. (What a mask guarantees for snapshots and stored video is in
//! `design/detection.md`.)

use base::{Error, bail};

use crate::zone::Polygon;

/// What the detector looks for. Every field is checked by [`MotionDetector::new`].
#[derive(Clone, Debug)]
pub struct MotionConfig {
    /// Width of the working image, in pixels (16..=640). Default 160.
    pub work_width: usize,
    /// 1..=100: higher counts smaller brightness changes as motion. Default 60.
    pub sensitivity: u8,
    /// Smallest moving region counted, as a fraction of the frame (0..=0.5). Default 0.002.
    pub min_area: f32,
    /// How fast the background follows the scene, per analysed frame (0.001..=0.5).
    /// Default 0.05 (at 5 fps a change is absorbed within several seconds).
    pub learning_rate: f32,
    /// A changed pixel that has then held still for this many analysed frames is taken
    /// into the background (1..=1000). Default 10 (2 s at 5 fps). This is what clears
    /// "ghosts" — a door left open, the spot where a parked car was — which a learning
    /// rate alone takes tens of seconds to forget; something that stops moving stops being
    /// motion (the object tracker, not motion, keeps track of what is still there).
    pub absorb_after_frames: u16,
    /// Motion counts only inside these named zones; empty means the whole frame.
    pub zones: Vec<(String, Polygon)>,
    /// Never looked at.
    pub masks: Vec<Polygon>,
}

impl Default for MotionConfig {
    fn default() -> Self {
        MotionConfig {
            work_width: 160,
            sensitivity: 60,
            min_area: 0.002,
            learning_rate: 0.05,
            absorb_after_frames: 10,
            zones: Vec::new(),
            masks: Vec::new(),
        }
    }
}

/// A decoded luma plane.
#[derive(Clone, Copy)]
pub struct Luma<'a> {
    pub width: usize,
    pub height: usize,
    /// Bytes from one row to the next (≥ width).
    pub stride: usize,
    pub data: &'a [u8],
}

/// A moving region, in fractions of the frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    /// Changed pixels as a fraction of the frame.
    pub area: f32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Motion {
    /// Regions that count (large enough, inside a zone), largest first.
    pub regions: Vec<Region>,
    /// Names of the zones those regions touch (empty when no zones are configured).
    pub zones: Vec<String>,
    /// Fraction of unmasked pixels that changed, before any filtering.
    pub changed: f32,
    /// This frame's brightness relative to the background.
    pub gain: f32,
    /// The model restarted on this frame (first frame, new size, or most of the picture
    /// changing at once).
    pub reset: bool,
}

impl std::fmt::Debug for Luma<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Luma({}x{}, stride {})", self.width, self.height, self.stride)
    }
}

impl Motion {
    pub fn is_motion(&self) -> bool {
        !self.regions.is_empty()
    }
}

/// A connected region of changed pixels; its label is its index + 1.
struct Blob {
    pixels: usize,
    /// (x0, y0, x1, y1), inclusive, in working pixels.
    bbox: (usize, usize, usize, usize),
}

/// Most motion zones per camera.
pub const ZONES_MAX: usize = 64;

/// Above this changed fraction a frame is a scene change, not motion.
const SCENE_CHANGE: f32 = 0.6;
/// Pixels darker than this (in the background) are too noisy to estimate the gain from.
const GAIN_FLOOR: f32 = 12.0;

pub struct MotionDetector {
    cfg: MotionConfig,
    threshold: f32,
    src: (usize, usize),
    w: usize,
    h: usize,
    /// Working-image x range of source columns for each working column.
    xs: Vec<(usize, usize)>,
    ys: Vec<(usize, usize)>,
    bg: Vec<f32>,
    cur: Vec<f32>,
    prev: Vec<f32>,
    /// Consecutive frames each pixel has held still (against the previous frame).
    still: Vec<u16>,
    ignore: Vec<bool>,
    zone_masks: Vec<(String, Vec<bool>)>,
    changed: Vec<bool>,
    label: Vec<u32>,
    ratios: Vec<f32>,
    stack: Vec<usize>,
}

impl MotionDetector {
    pub fn new(cfg: MotionConfig) -> Result<MotionDetector, Error> {
        if !(16..=640).contains(&cfg.work_width) {
            bail!(InvalidArgument, "motion work_width: expected 16..=640, got {}", cfg.work_width);
        }
        if !(1..=100).contains(&cfg.sensitivity) {
            bail!(InvalidArgument, "motion sensitivity: expected 1..=100, got {}", cfg.sensitivity);
        }
        if !(0.0..=0.5).contains(&cfg.min_area) {
            bail!(InvalidArgument, "motion min_area: expected a fraction in 0..=0.5, got {}", cfg.min_area);
        }
        if !(1..=1000).contains(&cfg.absorb_after_frames) {
            bail!(InvalidArgument, "motion absorb_after_frames: expected 1..=1000, got {}", cfg.absorb_after_frames);
        }
        if cfg.zones.len() > ZONES_MAX {
            bail!(InvalidArgument, "motion zones: at most {ZONES_MAX}, got {}", cfg.zones.len());
        }
        if !(0.001..=0.5).contains(&cfg.learning_rate) {
            bail!(InvalidArgument, "motion learning_rate: expected 0.001..=0.5, got {}", cfg.learning_rate);
        }
        // Sensitivity 100 → 6 grey levels; 60 → 18; 1 → 36.
        let threshold = 6.0 + (100.0 - f32::from(cfg.sensitivity)) * 0.3;
        Ok(MotionDetector {
            cfg,
            threshold,
            src: (0, 0),
            w: 0,
            h: 0,
            xs: Vec::new(),
            ys: Vec::new(),
            bg: Vec::new(),
            cur: Vec::new(),
            prev: Vec::new(),
            still: Vec::new(),
            ignore: Vec::new(),
            zone_masks: Vec::new(),
            changed: Vec::new(),
            label: Vec::new(),
            ratios: Vec::new(),
            stack: Vec::new(),
        })
    }

    /// Sizes the working image for a new source size and rasterizes zones and masks.
    fn resize(&mut self, sw: usize, sh: usize) {
        let w = self.cfg.work_width.min(sw);
        let h = ((sh * w + sw / 2) / sw).max(1);
        self.src = (sw, sh);
        (self.w, self.h) = (w, h);
        self.xs = (0..w).map(|x| (x * sw / w, ((x + 1) * sw / w).max(x * sw / w + 1))).collect();
        self.ys = (0..h).map(|y| (y * sh / h, ((y + 1) * sh / h).max(y * sh / h + 1))).collect();
        let n = w * h;
        self.bg = vec![0.0; n];
        self.cur = vec![0.0; n];
        self.prev = vec![0.0; n];
        self.still = vec![0; n];
        self.changed = vec![false; n];
        self.label = vec![0; n];
        self.ignore = vec![false; n];
        for m in &self.cfg.masks {
            m.rasterize(w, h, &mut self.ignore, true);
        }
        self.zone_masks = self
            .cfg
            .zones
            .iter()
            .map(|(name, p)| {
                let mut z = vec![false; n];
                p.rasterize(w, h, &mut z, true);
                (name.clone(), z)
            })
            .collect();
    }

    fn downscale(&mut self, f: &Luma<'_>) {
        let mut row_sum = vec![0u32; self.w];
        for (y, &(y0, y1)) in self.ys.iter().enumerate() {
            row_sum.iter_mut().for_each(|s| *s = 0);
            for sy in y0..y1 {
                let row = &f.data[sy * f.stride..sy * f.stride + f.width];
                for (x, &(x0, x1)) in self.xs.iter().enumerate() {
                    row_sum[x] += row[x0..x1].iter().map(|&p| u32::from(p)).sum::<u32>();
                }
            }
            for (x, &(x0, x1)) in self.xs.iter().enumerate() {
                self.cur[y * self.w + x] = row_sum[x] as f32 / ((x1 - x0) * (y1 - y0)) as f32;
            }
        }
    }

    /// Analyses one frame.
    pub fn detect(&mut self, f: Luma<'_>) -> Result<Motion, Error> {
        if f.width == 0 || f.height == 0 || f.stride < f.width {
            bail!(InvalidArgument, "frame: {}x{} with stride {} is not a picture", f.width, f.height, f.stride);
        }
        let need = f.stride * (f.height - 1) + f.width;
        if f.data.len() < need {
            bail!(
                InvalidArgument,
                "frame: {}x{} with stride {} needs {need} bytes, got {}",
                f.width,
                f.height,
                f.stride,
                f.data.len()
            );
        }
        let new_size = self.src != (f.width, f.height);
        if new_size {
            self.resize(f.width, f.height);
        }
        self.downscale(&f);
        if new_size {
            self.restart();
            return Ok(Motion { gain: 1.0, reset: true, ..Motion::default() });
        }

        // The frame's gain: the median ratio over measurable, unmasked pixels.
        self.ratios.clear();
        for i in 0..self.cur.len() {
            if !self.ignore[i] && self.bg[i] >= GAIN_FLOOR {
                self.ratios.push(self.cur[i] / self.bg[i]);
            }
        }
        let gain = if self.ratios.is_empty() {
            1.0
        } else {
            let mid = self.ratios.len() / 2;
            *self.ratios.select_nth_unstable_by(mid, |a, b| a.total_cmp(b)).1
        }
        .clamp(0.2, 5.0);

        let mut changed_n = 0usize;
        let mut considered = 0usize;
        let absorb = self.cfg.absorb_after_frames;
        for i in 0..self.cur.len() {
            let expected = self.bg[i] * gain;
            let tolerance = self.threshold + 0.06 * expected;
            let held = (self.cur[i] - self.prev[i] * gain).abs() <= tolerance * 0.5;
            self.still[i] = if held { self.still[i].saturating_add(1) } else { 0 };
            let mut c = !self.ignore[i] && (self.cur[i] - expected).abs() > tolerance;
            if c && self.still[i] >= absorb {
                // Changed, but has not moved for a while: a ghost or a stopped object.
                self.bg[i] = self.cur[i] / gain;
                c = false;
            }
            self.changed[i] = c;
            changed_n += usize::from(c);
            considered += usize::from(!self.ignore[i]);
        }
        let changed = if considered == 0 { 0.0 } else { changed_n as f32 / considered as f32 };
        self.prev.copy_from_slice(&self.cur);
        if changed > SCENE_CHANGE {
            self.restart();
            return Ok(Motion { changed, gain, reset: true, ..Motion::default() });
        }

        let blobs = self.regions();
        // Which zones each region touches, as a bit set, in one pass over the image.
        let mut touches = vec![0u64; blobs.len()];
        for (zi, (_, z)) in self.zone_masks.iter().enumerate() {
            for (&l, &inside) in self.label.iter().zip(z) {
                if inside && l != 0 {
                    touches[l as usize - 1] |= 1 << zi;
                }
            }
        }
        let frame_px = (self.w * self.h) as f32;
        let min_px = (self.cfg.min_area * frame_px).max(2.0);
        let mut out = Motion { changed, gain, ..Motion::default() };
        let mut zone_hit = 0u64;
        for (b, &t) in blobs.iter().zip(&touches) {
            if (b.pixels as f32) < min_px || (!self.zone_masks.is_empty() && t == 0) {
                continue;
            }
            zone_hit |= t;
            let (x0, y0, x1, y1) = b.bbox;
            out.regions.push(Region {
                x: x0 as f32 / self.w as f32,
                y: y0 as f32 / self.h as f32,
                w: (x1 + 1 - x0) as f32 / self.w as f32,
                h: (y1 + 1 - y0) as f32 / self.h as f32,
                area: b.pixels as f32 / frame_px,
            });
        }
        out.regions.sort_by(|a, b| b.area.total_cmp(&a.area));
        out.zones = self
            .zone_masks
            .iter()
            .enumerate()
            .filter(|(zi, _)| zone_hit & (1 << zi) != 0)
            .map(|(_, (n, _))| n.clone())
            .collect();

        // Learn: the exposure change at once, the scene slowly, moving pixels at half the
        // rate (so a slow walker does not dissolve into the background).
        let lr = self.cfg.learning_rate;
        for i in 0..self.bg.len() {
            let b = self.bg[i] * gain;
            let rate = if self.changed[i] { lr * 0.5 } else { lr };
            self.bg[i] = b + rate * (self.cur[i] - b);
        }
        Ok(out)
    }

    /// Copies the background model now (working image, row by row) into `out`, to
    /// compare a later frame with by [`changes_since`](Self::changes_since). Empty before
    /// the first frame.
    pub fn background_into(&self, out: &mut Vec<f32>) {
        out.clone_from(&self.bg);
    }

    /// Regions where the last frame differs from an earlier `background` (same size),
    /// after correcting for the overall brightness change between them, with the same
    /// thresholds, masks and minimum area as motion (zones are not applied). This is what
    /// is new in the scene since then, moving or not: a parcel left by a visitor, which
    /// motion stopped reporting once it held still. Clobbers the per-frame motion buffers,
    /// so call it after [`detect`](Self::detect) has been used for the frame.
    pub fn changes_since(&mut self, background: &[f32]) -> Vec<Region> {
        if background.len() != self.cur.len() || self.cur.is_empty() {
            return Vec::new();
        }
        self.ratios.clear();
        for (i, &b) in background.iter().enumerate() {
            if !self.ignore[i] && b >= GAIN_FLOOR {
                self.ratios.push(self.cur[i] / b);
            }
        }
        let gain = if self.ratios.is_empty() {
            1.0
        } else {
            let mid = self.ratios.len() / 2;
            *self.ratios.select_nth_unstable_by(mid, |a, b| a.total_cmp(b)).1
        }
        .clamp(0.2, 5.0);
        for (i, &b) in background.iter().enumerate() {
            let expected = b * gain;
            self.changed[i] = !self.ignore[i] && (self.cur[i] - expected).abs() > self.threshold + 0.06 * expected;
        }
        let frame_px = (self.w * self.h) as f32;
        let min_px = (self.cfg.min_area * frame_px).max(2.0);
        let mut out: Vec<Region> = self
            .regions()
            .into_iter()
            .filter(|b| b.pixels as f32 >= min_px)
            .map(|b| {
                let (x0, y0, x1, y1) = b.bbox;
                Region {
                    x: x0 as f32 / self.w as f32,
                    y: y0 as f32 / self.h as f32,
                    w: (x1 + 1 - x0) as f32 / self.w as f32,
                    h: (y1 + 1 - y0) as f32 / self.h as f32,
                    area: b.pixels as f32 / frame_px,
                }
            })
            .collect();
        out.sort_by(|a, b| b.area.total_cmp(&a.area));
        out
    }

    /// Starts the model over from the current frame.
    fn restart(&mut self) {
        self.bg.copy_from_slice(&self.cur);
        self.prev.copy_from_slice(&self.cur);
        self.still.iter_mut().for_each(|s| *s = 0);
    }

    /// 8-connected regions of changed pixels: (pixel count, bounding box, label).
    fn regions(&mut self) -> Vec<Blob> {
        let (w, h) = (self.w, self.h);
        self.label.iter_mut().for_each(|l| *l = 0);
        let mut out = Vec::new();
        let mut next = 0u32;
        for start in 0..w * h {
            if !self.changed[start] || self.label[start] != 0 {
                continue;
            }
            next += 1;
            self.label[start] = next;
            self.stack.clear();
            self.stack.push(start);
            let (mut n, mut bb) = (0usize, (usize::MAX, usize::MAX, 0usize, 0usize));
            while let Some(i) = self.stack.pop() {
                let (x, y) = (i % w, i / w);
                n += 1;
                bb = (bb.0.min(x), bb.1.min(y), bb.2.max(x), bb.3.max(y));
                for dy in [-1isize, 0, 1] {
                    for dx in [-1isize, 0, 1] {
                        let (nx, ny) = (x as isize + dx, y as isize + dy);
                        if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                            continue;
                        }
                        let j = ny as usize * w + nx as usize;
                        if self.changed[j] && self.label[j] == 0 {
                            self.label[j] = next;
                            self.stack.push(j);
                        }
                    }
                }
            }
            out.push(Blob { pixels: n, bbox: bb });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 640;
    const H: usize = 360;

    /// A textured scene (so the gain has something to measure), optionally with a bright
    /// square at (sx, sy) of side s, all scaled by `light`, plus deterministic noise.
    fn scene(light: f32, square: Option<(usize, usize, usize)>, seed: u32) -> Vec<u8> {
        let mut v = vec![0u8; W * H];
        let mut r = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        for y in 0..H {
            for x in 0..W {
                r ^= r << 13;
                r ^= r >> 17;
                r ^= r << 5;
                let noise = (r % 7) as f32 - 3.0;
                let mut base = 60.0 + 50.0 * (((x / 40) + (y / 30)) % 3) as f32 + (x % 17) as f32;
                if let Some((sx, sy, s)) = square
                    && (sx..sx + s).contains(&x)
                    && (sy..sy + s).contains(&y)
                {
                    base = 235.0;
                }
                v[y * W + x] = (base * light + noise).clamp(0.0, 255.0) as u8;
            }
        }
        v
    }

    fn luma(v: &[u8]) -> Luma<'_> {
        Luma { width: W, height: H, stride: W, data: v }
    }

    fn run(d: &mut MotionDetector, frames: &[Vec<u8>]) -> Vec<Motion> {
        frames.iter().map(|f| d.detect(luma(f)).unwrap()).collect()
    }

    #[test]
    fn still_scene_with_noise_is_quiet() {
        let mut d = MotionDetector::new(MotionConfig::default()).unwrap();
        let frames: Vec<_> = (0..20).map(|i| scene(1.0, None, i)).collect();
        let m = run(&mut d, &frames);
        assert!(m[0].reset);
        assert!(m[1..].iter().all(|m| !m.is_motion()), "{:?}", m.iter().find(|m| m.is_motion()));
    }

    #[test]
    fn exposure_changes_are_not_motion() {
        let mut d = MotionDetector::new(MotionConfig::default()).unwrap();
        // Steady, then a sudden 40% darkening, then a slow brightening.
        let mut frames: Vec<_> = (0..5).map(|i| scene(1.0, None, i)).collect();
        frames.extend((5..10).map(|i| scene(0.6, None, i)));
        frames.extend((10..30).map(|i| scene(0.6 + 0.02 * (i - 10) as f32, None, i)));
        let m = run(&mut d, &frames);
        for (i, m) in m.iter().enumerate().skip(1) {
            assert!(!m.is_motion(), "frame {i}: {m:?}");
        }
        assert!((m[5].gain - 0.6).abs() < 0.05, "gain {}", m[5].gain);
    }

    #[test]
    fn a_moving_object_is_motion_where_it_is() {
        let mut d = MotionDetector::new(MotionConfig::default()).unwrap();
        let mut frames: Vec<_> = (0..5).map(|i| scene(1.0, None, i)).collect();
        frames.extend((0..5).map(|i| scene(1.0, Some((100 + 40 * i, 200, 48)), 10 + i as u32)));
        let m = run(&mut d, &frames);
        assert!(!m[4].is_motion());
        let r = &m[5].regions[0];
        assert!(
            m[5].is_motion() && (r.x - 100.0 / W as f32).abs() < 0.02 && (r.y - 200.0 / H as f32).abs() < 0.03,
            "{m:?}"
        );
        assert!(m[5..].iter().all(|m| m.is_motion()));
    }

    #[test]
    fn masks_zones_and_min_area() {
        let moving: Vec<Vec<u8>> = (0..5)
            .map(|i| scene(1.0, None, i))
            .chain((0..4).map(|i| scene(1.0, Some((100 + 30 * i, 200, 48)), 10 + i as u32)))
            .collect();
        // The object moves through the bottom-left quarter.
        let bottom_left = Polygon::new("mask", vec![(0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (0.0, 1.0)]).unwrap();
        let top = Polygon::new("zone", vec![(0.0, 0.0), (1.0, 0.0), (1.0, 0.4), (0.0, 0.4)]).unwrap();

        let cfg = MotionConfig { masks: vec![bottom_left.clone()], ..MotionConfig::default() };
        let m = run(&mut MotionDetector::new(cfg).unwrap(), &moving);
        assert!(m.iter().all(|m| !m.is_motion()), "masked motion was reported");

        let cfg = MotionConfig { zones: vec![("porch".into(), top)], ..MotionConfig::default() };
        let m = run(&mut MotionDetector::new(cfg).unwrap(), &moving);
        assert!(m.iter().all(|m| !m.is_motion()), "motion outside every zone was reported");

        let cfg = MotionConfig { zones: vec![("path".into(), bottom_left)], ..MotionConfig::default() };
        let m = run(&mut MotionDetector::new(cfg).unwrap(), &moving);
        assert_eq!(m[6].zones, vec!["path".to_string()]);

        let cfg = MotionConfig { min_area: 0.05, ..MotionConfig::default() };
        let m = run(&mut MotionDetector::new(cfg).unwrap(), &moving);
        assert!(m.iter().all(|m| !m.is_motion()), "a region under min_area was reported");
    }

    #[test]
    fn scene_changes_and_bad_frames() {
        let mut d = MotionDetector::new(MotionConfig::default()).unwrap();
        let a = scene(1.0, None, 1);
        d.detect(luma(&a)).unwrap();
        // A different picture altogether (the camera turned): a reset, not motion.
        let b: Vec<u8> = a.iter().enumerate().map(|(i, &p)| if (i / 7) % 2 == 0 { 255 - p } else { p / 3 }).collect();
        let m = d.detect(luma(&b)).unwrap();
        assert!(m.reset && !m.is_motion(), "{m:?}");
        // Short data, zero size, a new resolution.
        assert!(d.detect(Luma { width: W, height: H, stride: W, data: &a[..100] }).is_err());
        assert!(d.detect(Luma { width: 0, height: H, stride: W, data: &a }).is_err());
        let small = vec![100u8; 320 * 180];
        assert!(d.detect(Luma { width: 320, height: 180, stride: 320, data: &small }).unwrap().reset);
        assert!(MotionDetector::new(MotionConfig { sensitivity: 0, ..MotionConfig::default() }).is_err());
        assert!(MotionDetector::new(MotionConfig { learning_rate: 0.9, ..MotionConfig::default() }).is_err());
    }
}
