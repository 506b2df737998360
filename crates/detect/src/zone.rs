//! Polygons for motion zones and privacy masks, in frame-relative coordinates (0..=1 on
//! both axes, origin top left), validated once and rasterized to a pixel mask.

use base::{Error, bail};

use crate::decode::{OwnedPicture, Picture};

/// Most vertices a zone may have.
pub const POINTS_MAX: usize = 64;

#[derive(Clone, Debug, PartialEq)]
pub struct Polygon {
    points: Vec<(f32, f32)>,
}

impl Polygon {
    /// Checks a polygon: 3..=64 points, every point inside the frame, a non-zero area, and
    /// no edge crossing another (a self-intersecting outline has no clear inside). `what`
    /// names it in errors (for example `cameras[0].zones[1]`).
    pub fn new(what: &str, points: Vec<(f32, f32)>) -> Result<Polygon, Error> {
        if points.len() < 3 || points.len() > POINTS_MAX {
            bail!(InvalidArgument, "{what}: expected 3..={POINTS_MAX} points, got {}", points.len());
        }
        if let Some((i, p)) =
            points.iter().enumerate().find(|(_, p)| !(0.0..=1.0).contains(&p.0) || !(0.0..=1.0).contains(&p.1))
        {
            bail!(
                InvalidArgument,
                "{what}: point {i} ({}, {}) leaves the frame; coordinates are fractions of the width and height, 0 to 1",
                p.0,
                p.1
            );
        }
        let n = points.len();
        for i in 0..n {
            for j in i + 1..n {
                // Adjacent edges share a vertex; skip them (and the first/last pair).
                if j == i + 1 || (i == 0 && j == n - 1) {
                    continue;
                }
                let (a, b) = (points[i], points[(i + 1) % n]);
                let (c, d) = (points[j], points[(j + 1) % n]);
                if segments_cross(a, b, c, d) {
                    bail!(InvalidArgument, "{what}: edge {i} crosses edge {j}; the outline must not intersect itself");
                }
            }
        }
        let area2: f32 = (0..n).map(|i| cross(points[i], points[(i + 1) % n])).sum();
        if area2.abs() < 1e-6 {
            bail!(InvalidArgument, "{what}: the polygon has no area");
        }
        Ok(Polygon { points })
    }

    /// Parses `"x,y x,y x,y …"` (fractions of the width and height) and validates it.
    pub fn parse(what: &str, text: &str) -> Result<Polygon, Error> {
        let mut points = Vec::new();
        for (i, pair) in text.split_whitespace().enumerate() {
            let xy: Option<(f32, f32)> =
                pair.split_once(',').and_then(|(x, y)| Some((x.trim().parse().ok()?, y.trim().parse().ok()?)));
            match xy {
                Some(p) if p.0.is_finite() && p.1.is_finite() => points.push(p),
                _ => bail!(InvalidArgument, "{what}: point {i} {pair:?} is not `x,y` with numbers"),
            }
        }
        Polygon::new(what, points)
    }

    pub fn points(&self) -> &[(f32, f32)] {
        &self.points
    }

    /// Whether the point (fractions of width and height) is inside (even-odd rule).
    pub fn contains(&self, x: f32, y: f32) -> bool {
        let mut inside = false;
        let n = self.points.len();
        for i in 0..n {
            let (xi, yi) = self.points[i];
            let (xj, yj) = self.points[(i + n - 1) % n];
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                inside = !inside;
            }
        }
        inside
    }

    /// Sets `mask[y * w + x] = value` for every pixel whose centre is inside.
    pub fn rasterize(&self, w: usize, h: usize, mask: &mut [bool], value: bool) {
        debug_assert_eq!(mask.len(), w * h);
        for y in 0..h {
            let fy = (y as f32 + 0.5) / h as f32;
            for x in 0..w {
                if self.contains((x as f32 + 0.5) / w as f32, fy) {
                    mask[y * w + x] = value;
                }
            }
        }
    }
}

fn cross(a: (f32, f32), b: (f32, f32)) -> f32 {
    a.0 * b.1 - a.1 * b.0
}

fn orient(a: (f32, f32), b: (f32, f32), c: (f32, f32)) -> f32 {
    (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)
}

fn on_segment(a: (f32, f32), b: (f32, f32), p: (f32, f32)) -> bool {
    p.0 >= a.0.min(b.0) && p.0 <= a.0.max(b.0) && p.1 >= a.1.min(b.1) && p.1 <= a.1.max(b.1)
}

/// Whether segments ab and cd intersect (touching counts).
fn segments_cross(a: (f32, f32), b: (f32, f32), c: (f32, f32), d: (f32, f32)) -> bool {
    let (d1, d2, d3, d4) = (orient(c, d, a), orient(c, d, b), orient(a, b, c), orient(a, b, d));
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0)) && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0)) {
        return true;
    }
    (d1 == 0.0 && on_segment(c, d, a))
        || (d2 == 0.0 && on_segment(c, d, b))
        || (d3 == 0.0 && on_segment(a, b, c))
        || (d4 == 0.0 && on_segment(a, b, d))
}

/// Privacy masks applied to pictures: every masked pixel black (luma 16, chroma 128). This
/// is what the detectors and every snapshot see. The masks are rasterized once per
/// picture size.
pub struct Masker {
    masks: Vec<Polygon>,
    raster: Option<MaskRaster>,
}

/// The masks rasterized for one picture size: (size, luma mask, chroma mask).
type MaskRaster = ((usize, usize), Vec<bool>, Vec<bool>);

impl Masker {
    pub fn new(masks: Vec<Polygon>) -> Masker {
        Masker { masks, raster: None }
    }

    pub fn is_empty(&self) -> bool {
        self.masks.is_empty()
    }

    /// Copies `pic` into `out` with the masks black.
    pub fn apply(&mut self, pic: &Picture<'_>, out: &mut OwnedPicture) {
        let (w, h) = (pic.width, pic.height);
        if self.raster.as_ref().is_none_or(|r| r.0 != (w, h)) {
            let mut luma = vec![false; w * h];
            for m in &self.masks {
                m.rasterize(w, h, &mut luma, true);
            }
            // A chroma sample is masked when any of the luma pixels it colours is.
            let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
            let mut chroma = vec![false; cw * ch];
            for y in 0..h {
                for x in 0..w {
                    if luma[y * w + x] {
                        chroma[(y / 2) * cw + x / 2] = true;
                    }
                }
            }
            self.raster = Some(((w, h), luma, chroma));
        }
        let (_, luma, chroma) = self.raster.as_ref().expect("just set");
        pic.copy_into(out);
        for (p, &m) in out.y.iter_mut().zip(luma) {
            if m {
                *p = 16;
            }
        }
        for ((u, v), &m) in out.u.iter_mut().zip(out.v.iter_mut()).zip(chroma) {
            if m {
                *u = 128;
                *v = 128;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(points: &[(f32, f32)], want: Result<(), &str>) {
        match (Polygon::new("zone", points.to_vec()), want) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{e} lacks {w:?}"),
            (got, want) => panic!("{points:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn validation() {
        check(&[(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)], Ok(()));
        check(&[(0.1, 0.1), (0.9, 0.1)], Err("expected 3..=64 points"));
        check(&[(0.1, 0.1), (1.2, 0.1), (0.9, 0.9)], Err("point 1 (1.2, 0.1) leaves the frame"));
        check(&[(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)], Err("no area"));
        // A bow tie.
        check(&[(0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9)], Err("crosses"));
    }

    #[test]
    fn parsing() {
        let p = Polygon::parse("z", "0,0 1,0 0.5,1").unwrap();
        assert_eq!(p.points(), &[(0.0, 0.0), (1.0, 0.0), (0.5, 1.0)]);
        let e = Polygon::parse("--zone porch", "0,0 1;0 0.5,1").unwrap_err();
        assert!(e.to_string().contains("--zone porch: point 1 \"1;0\""), "{e}");
        assert!(Polygon::parse("z", "0,0 NaN,1 1,1").is_err());
    }

    #[test]
    fn contains_and_rasterize() {
        let p = Polygon::new("z", vec![(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]).unwrap();
        assert!(p.contains(0.25, 0.5) && !p.contains(0.75, 0.5));
        let mut m = vec![false; 8 * 2];
        p.rasterize(8, 2, &mut m, true);
        assert_eq!(m.iter().filter(|&&b| b).count(), 8, "the left half");
        // A triangle covers about half its bounding box.
        let t = Polygon::new("t", vec![(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]).unwrap();
        let mut m = vec![false; 100 * 100];
        t.rasterize(100, 100, &mut m, true);
        let n = m.iter().filter(|&&b| b).count();
        assert!((4900..=5100).contains(&n), "{n}");
    }
}
