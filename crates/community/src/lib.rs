//! The neighbourhood's geometry: where the server may think a household is, where a post
//! says it comes from, and which posts a member's feed covers.
//!
//! The rules (`design/neighbourhood.md`):
//!
//! - A household's exact home point never reaches the server. The server keeps its H3 cell
//!   at [`HOME_RES`] (about 0.74 km²), computed in the browser from the point.
//! - A post's location is an area: the finest ancestor of the poster's home cell that holds
//!   at least K households ([`post_area`]), never finer than the home cell and never coarser
//!   than [`COARSEST_RES`]. Every area a household can post from is an ancestor of one
//!   cell, so the areas of its posts are nested and their intersection is the finest of
//!   them, which held K households when it was used.
//! - A feed covers the posts whose area comes within the member's radius of the member's
//!   home cell ([`in_feed`]), looked up by the exact set of areas
//!   it accepts ([`feed_cells`]).

pub mod area;
pub mod geo;
pub mod town;

pub use geo::Point;

use base::{Error, bail};
use h3o::{CellIndex, LatLng, Resolution};

/// The resolution of the home cell the server keeps: about 0.74 km², 460 m edges.
pub const HOME_RES: Resolution = Resolution::Eight;
/// The coarsest area a post may have: about 250 km², 8.5 km edges. A household with fewer
/// than K households in it cannot post (it would be findable).
pub const COARSEST_RES: Resolution = Resolution::Five;
/// The default minimum crowd of a post's area.
pub const K_DEFAULT: u32 = 20;
/// The widest feed, in metres.
pub const RADIUS_MAX_M: f64 = 8_000.0;
/// The narrowest feed, in metres.
pub const RADIUS_MIN_M: f64 = 200.0;

/// The home cell the server keeps for `p`.
pub fn home_cell(p: Point) -> CellIndex {
    p.latlng().to_cell(HOME_RES)
}

/// A home cell and its ancestors up to [`COARSEST_RES`], finest first: the cells whose
/// household counts decide a post's area, as the server stores them for each home.
pub fn home_chain(home: CellIndex) -> [CellIndex; 4] {
    [Resolution::Eight, Resolution::Seven, Resolution::Six, Resolution::Five]
        .map(|r| home.parent(r).expect("a home cell is finer than its ancestors"))
}

/// Parses a home cell as a client sends it (hex, as H3 writes it), checking its resolution.
pub fn parse_home_cell(field: &str, s: &str) -> Result<CellIndex, Error> {
    let cell: CellIndex =
        s.parse().map_err(|_| base::err!(InvalidArgument, "{field}: expected an H3 cell index in hex, got {s:?}"))?;
    if cell.resolution() != HOME_RES {
        bail!(
            InvalidArgument,
            "{field}: expected a cell of resolution {}, got resolution {}",
            u8::from(HOME_RES),
            u8::from(cell.resolution())
        );
    }
    Ok(cell)
}

/// How many households' home cells lie in a cell (of any resolution from
/// [`COARSEST_RES`] to [`HOME_RES`]).
pub trait Census {
    fn households_in(&self, cell: CellIndex) -> u64;
}

/// The area a post from `home` shows: the finest of `home` and its ancestors up to
/// [`COARSEST_RES`] that holds at least `k` households. An error when none does.
pub fn post_area(home: CellIndex, census: &impl Census, k: u32) -> Result<CellIndex, Error> {
    if home.resolution() != HOME_RES {
        bail!(InvalidArgument, "home cell: expected resolution {}", u8::from(HOME_RES));
    }
    if k == 0 {
        bail!(InvalidArgument, "k: expected at least 1");
    }
    for res in Resolution::range(COARSEST_RES, HOME_RES).rev() {
        let cell = home.parent(res).expect("a coarser resolution");
        if census.households_in(cell) >= u64::from(k) {
            return Ok(cell);
        }
    }
    bail!(
        FailedPrecondition,
        "location: fewer than {k} households within about {:.0} km of yours use Porchlight; a post would point at your home",
        COARSEST_RES.edge_length_km()
    )
}

/// The largest distance from a cell's centre to its boundary, in metres.
pub fn cell_radius_m(cell: CellIndex) -> f64 {
    let c = LatLng::from(cell);
    cell.boundary().iter().map(|v| c.distance_m(*v)).fold(0.0, f64::max)
}

/// Checks a feed radius.
pub fn check_radius(field: &str, radius_m: f64) -> Result<(), Error> {
    if !(RADIUS_MIN_M..=RADIUS_MAX_M).contains(&radius_m) {
        bail!(InvalidArgument, "{field}: expected {RADIUS_MIN_M} to {RADIUS_MAX_M} metres, got {radius_m}");
    }
    Ok(())
}

/// Whether a post with `area` belongs in the feed of a member whose home cell is `home`
/// with `radius_m`: some point of the area lies within `radius_m` of some point of the home
/// cell (both are all the server knows). Measured between centres, less both cells' radii.
pub fn in_feed(home: CellIndex, radius_m: f64, area: CellIndex) -> bool {
    let d = LatLng::from(home).distance_m(LatLng::from(area));
    d - cell_radius_m(home) - cell_radius_m(area) <= radius_m
}

/// Every cell a post's area can be (resolutions [`HOME_RES`] to [`COARSEST_RES`]) that
/// [`in_feed`] accepts for `home` and `radius_m`, finest first: the feed query looks posts
/// up by exactly these areas, so it never reads a post beyond the radius. About 420 cells
/// for 8 km.
pub fn feed_cells(home: CellIndex, radius_m: f64) -> Vec<CellIndex> {
    let home_ll = LatLng::from(home);
    let home_radius = cell_radius_m(home);
    let mut out: Vec<CellIndex> = Vec::new();
    for res in (u8::from(COARSEST_RES)..=u8::from(HOME_RES)).rev() {
        let res = Resolution::try_from(res).expect("5..=8 are resolutions");
        let slack = home_radius + 2.0 * res.edge_length_m();
        let centre = home.parent(res).expect("home is the finest");
        // Rings of cells outward until two rings in a row hold none the rule accepts
        // (distance along the grid and on the ground agree to within a ring).
        let mut empty = 0;
        for k in 0u32.. {
            let ring = ring(centre, k);
            let before = out.len();
            out.extend(ring.into_iter().filter(|c| {
                // Only cells near the edge need the exact rule (a cell's boundary costs more
                // than the rest): within the radius centre to centre is surely in; beyond it
                // by more than both cells' radii (at most twice the mean edge, as H3 cells
                // vary in size by less than 2×) is surely out.
                let d = home_ll.distance_m(LatLng::from(*c));
                if d <= radius_m {
                    return true;
                }
                if d - slack > radius_m {
                    return false;
                }
                d - home_radius - cell_radius_m(*c) <= radius_m
            }));
            empty = if out.len() == before { empty + 1 } else { 0 };
            if empty == 2 {
                break;
            }
        }
    }
    out
}

/// The cells at grid distance exactly `k` from `centre`.
fn ring(centre: CellIndex, k: u32) -> Vec<CellIndex> {
    let fast: Vec<CellIndex> = centre.grid_ring_fast(k).flatten().collect();
    if k == 0 || fast.len() == 6 * k as usize {
        return if k == 0 { vec![centre] } else { fast };
    }
    // Near a pentagon the fast ring fails; take the difference of two disks.
    let inner: std::collections::HashSet<CellIndex> = centre.grid_disk::<Vec<_>>(k - 1).into_iter().collect();
    centre.grid_disk::<Vec<_>>(k).into_iter().filter(|c| !inner.contains(c)).collect()
}

/// An in-memory census: every home cell's count, with every ancestor's, up to
/// [`COARSEST_RES`].
#[derive(Default)]
pub struct Counts(std::collections::HashMap<CellIndex, u64>);

impl Counts {
    pub fn add(&mut self, home: CellIndex) {
        for c in home_chain(home) {
            *self.0.entry(c).or_default() += 1;
        }
    }

    pub fn remove(&mut self, home: CellIndex) {
        for c in home_chain(home) {
            if let Some(n) = self.0.get_mut(&c) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

impl Census for Counts {
    fn households_in(&self, cell: CellIndex) -> u64 {
        self.0.get(&cell).copied().unwrap_or(0)
    }
}
