//! Footage request areas (design/agencies.md): a circle or a simple polygon, its size, the
//! exact "is this home inside" test that a household's own device runs, and the home cells
//! that touch it, which decide which households are offered the request.
//!
//! Distances are on a local flat projection around the area (equirectangular, metres): for
//! areas of a few hundred metres across, it differs from the sphere by far less than a GPS
//! fix does.

use base::{Error, bail};
use h3o::{CellIndex, LatLng};

use crate::{HOME_RES, Point};

/// Square metres in a square mile.
pub const M2_PER_SQ_MILE: f64 = 2_589_988.110336;
/// The smallest and largest area a request may cover: 0.025 and 0.5 square miles.
pub const AREA_M2_MIN: f64 = 0.025 * M2_PER_SQ_MILE;
pub const AREA_M2_MAX: f64 = 0.5 * M2_PER_SQ_MILE;
/// Polygon corners.
pub const POINTS_MIN: usize = 3;
pub const POINTS_MAX: usize = 32;

const EARTH_M: f64 = 6_371_008.8;

/// A checked request area.
#[derive(Clone, Debug, PartialEq)]
pub enum Area {
    Circle {
        centre: Point,
        radius_m: f64,
    },
    /// Corners in order, the last joined to the first; never self-intersecting.
    Polygon {
        points: Vec<Point>,
    },
}

/// A point in metres east and north of a reference point.
#[derive(Clone, Copy, Debug)]
struct Xy(f64, f64);

fn project(origin: Point, p: Point) -> Xy {
    let mut dlon = p.lon() - origin.lon();
    if dlon > 180.0 {
        dlon -= 360.0;
    } else if dlon < -180.0 {
        dlon += 360.0;
    }
    Xy(EARTH_M * dlon.to_radians() * origin.lat().to_radians().cos(), EARTH_M * (p.lat() - origin.lat()).to_radians())
}

fn cross(o: Xy, a: Xy, b: Xy) -> f64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// Whether segments ab and cd share a point.
fn segments_meet(a: Xy, b: Xy, c: Xy, d: Xy) -> bool {
    let (d1, d2, d3, d4) = (cross(c, d, a), cross(c, d, b), cross(a, b, c), cross(a, b, d));
    if ((d1 > 0.0) != (d2 > 0.0)) && ((d3 > 0.0) != (d4 > 0.0)) && d1 != 0.0 && d2 != 0.0 && d3 != 0.0 && d4 != 0.0 {
        return true;
    }
    let on = |p: Xy, q: Xy, r: Xy| {
        cross(p, q, r) == 0.0
            && r.0 >= p.0.min(q.0)
            && r.0 <= p.0.max(q.0)
            && r.1 >= p.1.min(q.1)
            && r.1 <= p.1.max(q.1)
    };
    on(c, d, a) || on(c, d, b) || on(a, b, c) || on(a, b, d)
}

/// Even-odd rule.
fn inside(poly: &[Xy], p: Xy) -> bool {
    let mut c = false;
    let n = poly.len();
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        if (a.1 > p.1) != (b.1 > p.1) && p.0 < (b.0 - a.0) * (p.1 - a.1) / (b.1 - a.1) + a.0 {
            c = !c;
        }
    }
    c
}

fn distance_to_segment(p: Xy, a: Xy, b: Xy) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 { 0.0 } else { (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0) };
    let (x, y) = (a.0 + t * dx - p.0, a.1 + t * dy - p.1);
    (x * x + y * y).sqrt()
}

impl Area {
    /// A circle; the error names the field.
    pub fn circle(lat: f64, lon: f64, radius_m: f64) -> Result<Area, Error> {
        let centre = Point::new(lat, lon).map_err(|e| base::err!(InvalidArgument, "area.{}", e.msg()))?;
        if !radius_m.is_finite() || radius_m <= 0.0 {
            bail!(InvalidArgument, "area.radius_m: expected a positive number of metres, got {radius_m}");
        }
        Area::Circle { centre, radius_m }.sized()
    }

    /// A polygon of `[lat, lon]` corners; the error names the field.
    pub fn polygon(points: &[[f64; 2]]) -> Result<Area, Error> {
        if !(POINTS_MIN..=POINTS_MAX).contains(&points.len()) {
            bail!(InvalidArgument, "area.points: expected {POINTS_MIN} to {POINTS_MAX} corners, got {}", points.len());
        }
        let pts = points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Point::new(p[0], p[1]).map_err(|e| base::err!(InvalidArgument, "area.points[{i}]: {}", e.msg()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let xy: Vec<Xy> = pts.iter().map(|p| project(pts[0], *p)).collect();
        if xy.iter().any(|p| p.0.hypot(p.1) > 5_000.0) {
            bail!(InvalidArgument, "area.points: every corner must be within 5 km of the first");
        }
        let n = xy.len();
        for i in 0..n {
            let (a, b) = (xy[i], xy[(i + 1) % n]);
            if a.0 == b.0 && a.1 == b.1 {
                bail!(InvalidArgument, "area.points[{}]: repeats the corner before it", (i + 1) % n);
            }
        }
        for i in 0..n {
            let (a, b) = (xy[i], xy[(i + 1) % n]);
            for j in i + 1..n {
                // Neighbouring edges share a corner; any other contact is a crossing.
                if j == i + 1 || (i == 0 && j == n - 1) {
                    continue;
                }
                if segments_meet(a, b, xy[j], xy[(j + 1) % n]) {
                    bail!(InvalidArgument, "area.points: edges {i} and {j} cross (the polygon must not cross itself)");
                }
            }
        }
        Area::Polygon { points: pts }.sized()
    }

    fn sized(self) -> Result<Area, Error> {
        let m2 = self.area_m2();
        if !(AREA_M2_MIN..=AREA_M2_MAX).contains(&m2) {
            bail!(
                InvalidArgument,
                "area: expected 0.025 to 0.5 square miles, got {:.3} ({:.0} m²)",
                m2 / M2_PER_SQ_MILE,
                m2
            );
        }
        Ok(self)
    }

    fn origin(&self) -> Point {
        match self {
            Area::Circle { centre, .. } => *centre,
            Area::Polygon { points } => points[0],
        }
    }

    /// Square metres.
    pub fn area_m2(&self) -> f64 {
        match self {
            Area::Circle { radius_m, .. } => std::f64::consts::PI * radius_m * radius_m,
            Area::Polygon { points } => {
                let xy: Vec<Xy> = points.iter().map(|p| project(points[0], *p)).collect();
                let n = xy.len();
                let twice: f64 = (0..n).map(|i| xy[i].0 * xy[(i + 1) % n].1 - xy[(i + 1) % n].0 * xy[i].1).sum();
                twice.abs() / 2.0
            }
        }
    }

    /// Whether `p` is inside (or on the edge): the test a household's device runs on its
    /// exact home point.
    pub fn contains(&self, p: Point) -> bool {
        let o = self.origin();
        match self {
            Area::Circle { radius_m, .. } => {
                let q = project(o, p);
                q.0.hypot(q.1) <= *radius_m
            }
            Area::Polygon { points } => {
                let xy: Vec<Xy> = points.iter().map(|x| project(o, *x)).collect();
                let q = project(o, p);
                let n = xy.len();
                inside(&xy, q) || (0..n).any(|i| distance_to_segment(q, xy[i], xy[(i + 1) % n]) < 1e-6)
            }
        }
    }

    /// Whether the area and the hexagon `cell` share any point.
    fn touches(&self, cell: CellIndex) -> bool {
        let o = self.origin();
        let hex: Vec<Xy> = cell
            .boundary()
            .iter()
            .map(|v| project(o, Point::new(v.lat(), v.lng()).expect("H3 gives valid coordinates")))
            .collect();
        let n = hex.len();
        match self {
            Area::Circle { radius_m, .. } => {
                let c = Xy(0.0, 0.0);
                inside(&hex, c) || (0..n).any(|i| distance_to_segment(c, hex[i], hex[(i + 1) % n]) <= *radius_m)
            }
            Area::Polygon { points } => {
                let poly: Vec<Xy> = points.iter().map(|x| project(o, *x)).collect();
                let m = poly.len();
                poly.iter().any(|p| inside(&hex, *p))
                    || hex.iter().any(|h| inside(&poly, *h))
                    || (0..m)
                        .any(|i| (0..n).any(|j| segments_meet(poly[i], poly[(i + 1) % m], hex[j], hex[(j + 1) % n])))
            }
        }
    }

    /// Every home cell ([`HOME_RES`]) that touches the area: the households offered the
    /// request. Found outward from the cell of the area's first point through touching
    /// neighbours (the cells touching a connected area are connected).
    pub fn home_cells(&self) -> Vec<CellIndex> {
        let start = match self {
            Area::Circle { centre, .. } => centre.latlng().to_cell(HOME_RES),
            Area::Polygon { points } => points[0].latlng().to_cell(HOME_RES),
        };
        let mut seen = std::collections::HashSet::from([start]);
        let mut todo = vec![start];
        let mut out = Vec::new();
        while let Some(c) = todo.pop() {
            if !self.touches(c) {
                continue;
            }
            out.push(c);
            for nb in c.grid_disk::<Vec<_>>(1) {
                if seen.insert(nb) {
                    todo.push(nb);
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// The centre of a circle, or the mean of a polygon's corners: where a map centres it.
    pub fn centre(&self) -> LatLng {
        match self {
            Area::Circle { centre, .. } => centre.latlng(),
            Area::Polygon { points } => {
                let n = points.len() as f64;
                let (la, lo) = points.iter().fold((0.0, 0.0), |(a, b), p| (a + p.lat(), b + p.lon()));
                LatLng::new(la / n, lo / n).expect("the mean of valid points is valid")
            }
        }
    }
}
