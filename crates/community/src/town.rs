//! A simulated town, to measure what the server and the neighbours can learn of where
//! households live (`design/neighbourhood.md`): a dense centre thinning out to suburbs,
//! with a few outlying villages and lone farms, generated from a seed.

use crate::{COARSEST_RES, Counts, HOME_RES, Point, home_cell, post_area};
use base::Error;
use h3o::{CellIndex, LatLng};

/// SplitMix64: small, seeded and good enough to scatter houses.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-12), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// `n` home points around `centre`: 70 % in the town (spread 1.5 km), 20 % in five villages
/// 6 to 12 km out (spread 300 m), 10 % scattered farms up to 15 km out.
pub fn generate(centre: Point, n: usize, seed: u64) -> Result<Vec<Point>, Error> {
    let mut rng = Rng::new(seed);
    let villages: Vec<(f64, f64)> = (0..5)
        .map(|_| {
            let (r, a) = (6_000.0 + 6_000.0 * rng.unit(), std::f64::consts::TAU * rng.unit());
            (r * a.cos(), r * a.sin())
        })
        .collect();
    (0..n)
        .map(|i| {
            let pick = rng.unit();
            let (north, east) = if pick < 0.7 {
                (1_500.0 * rng.normal(), 1_500.0 * rng.normal())
            } else if pick < 0.9 {
                let (vn, ve) = villages[i % villages.len()];
                (vn + 300.0 * rng.normal(), ve + 300.0 * rng.normal())
            } else {
                let (r, a) = (15_000.0 * rng.unit().sqrt(), std::f64::consts::TAU * rng.unit());
                (r * a.cos(), r * a.sin())
            };
            centre.offset(north, east)
        })
        .collect()
}

/// Percentiles of a sample (sorted in place): p50, p90, max.
fn spread(xs: &mut [f64]) -> [f64; 3] {
    xs.sort_by(f64::total_cmp);
    let q = |p: f64| xs[((xs.len() - 1) as f64 * p).round() as usize];
    [q(0.5), q(0.9), q(1.0)]
}

/// What the server and the neighbours can infer, for one town.
#[derive(Debug)]
pub struct Exposure {
    pub households: usize,
    /// Metres from the true home to the centre of the home cell (the server's best guess):
    /// p50, p90, max.
    pub server_error_m: [f64; 3],
    /// Metres from the true home to the centre of the area its posts show: p50, p90, max.
    pub post_error_m: [f64; 3],
    /// Households in the area a post shows: min, p50.
    pub crowd: [u64; 2],
    /// Posts shown at each resolution, from the home cell's to the coarsest.
    pub by_resolution: Vec<(u8, usize)>,
    /// Households with too few neighbours to post at all.
    pub cannot_post: usize,
}

/// Measures a town of `homes` with minimum crowd `k`.
pub fn exposure(homes: &[Point], k: u32) -> Exposure {
    let cells: Vec<CellIndex> = homes.iter().map(|p| home_cell(*p)).collect();
    let mut counts = Counts::default();
    cells.iter().for_each(|c| counts.add(*c));
    let mut server = Vec::with_capacity(homes.len());
    let mut post = Vec::new();
    let mut crowd = Vec::new();
    let mut by_res = vec![0usize; usize::from(u8::from(HOME_RES) - u8::from(COARSEST_RES)) + 1];
    let mut cannot_post = 0;
    for (p, c) in homes.iter().zip(&cells) {
        let ll = p.latlng();
        server.push(ll.distance_m(LatLng::from(*c)));
        match post_area(*c, &counts, k) {
            Ok(area) => {
                post.push(ll.distance_m(LatLng::from(area)));
                crowd.push(crate::Census::households_in(&counts, area));
                by_res[usize::from(u8::from(HOME_RES) - u8::from(area.resolution()))] += 1;
            }
            Err(_) => cannot_post += 1,
        }
    }
    crowd.sort_unstable();
    Exposure {
        households: homes.len(),
        server_error_m: spread(&mut server),
        post_error_m: if post.is_empty() { [f64::NAN; 3] } else { spread(&mut post) },
        crowd: if crowd.is_empty() { [0, 0] } else { [crowd[0], crowd[crowd.len() / 2]] },
        by_resolution: by_res.into_iter().enumerate().map(|(i, n)| (u8::from(HOME_RES) - i as u8, n)).collect(),
        cannot_post,
    }
}
