//! Footage request areas: the size limits, polygons that cross themselves, the exact home
//! test, and that the cells offered the request hold every home inside the area.

use porchlight_community::Point;
use porchlight_community::area::{AREA_M2_MAX, AREA_M2_MIN, Area, M2_PER_SQ_MILE};
use proptest::prelude::*;

const LAT: f64 = 51.5007;
const LON: f64 = -0.1246;

/// A square of `side_m` metres with its south-west corner at (LAT, LON), as [lat, lon].
fn square(side_m: f64) -> Vec<[f64; 2]> {
    let o = Point::new(LAT, LON).unwrap();
    [(0.0, 0.0), (0.0, side_m), (side_m, side_m), (side_m, 0.0)]
        .iter()
        .map(|&(n, e)| {
            let p = o.offset(n, e).unwrap();
            [p.lat(), p.lon()]
        })
        .collect()
}

#[test]
fn sizes_are_between_a_fortieth_and_half_a_square_mile() {
    assert!((AREA_M2_MIN - 64_749.7).abs() < 1.0 && (AREA_M2_MAX - 1_294_994.1).abs() < 1.0);
    // Circles: 143.6 m to 642.0 m of radius.
    for (r, ok) in [(100.0, false), (143.0, false), (144.0, true), (400.0, true), (642.0, true), (643.0, false)] {
        let got = Area::circle(LAT, LON, r);
        assert_eq!(got.is_ok(), ok, "radius {r}: {got:?}");
        if let Err(e) = got {
            assert!(e.msg().starts_with("area: expected 0.025 to 0.5 square miles"), "{e}");
        }
    }
    // A 400 m square: 160,000 m², 0.062 square miles, to within half a percent.
    let a = Area::polygon(&square(400.0)).unwrap();
    assert!((a.area_m2() - 160_000.0).abs() < 800.0, "{}", a.area_m2());
    assert!(Area::polygon(&square(250.0)).is_err(), "0.024 square miles");
    assert!(Area::polygon(&square(1_150.0)).is_err(), "0.51 square miles");
    assert!((a.area_m2() / M2_PER_SQ_MILE - 0.0618).abs() < 0.001);
}

#[test]
fn bad_areas_name_the_field() {
    let mut bow = square(400.0);
    bow.swap(2, 3);
    let mut far = square(400.0);
    far[2] = [LAT + 0.1, LON];
    let mut dup = square(400.0);
    dup[2] = dup[1];
    let mut nan = square(400.0);
    nan[1][0] = f64::NAN;
    let many: Vec<[f64; 2]> = (0..33)
        .map(|i| {
            let t = i as f64 / 33.0 * std::f64::consts::TAU;
            let p = Point::new(LAT, LON).unwrap().offset(300.0 * t.sin(), 300.0 * t.cos()).unwrap();
            [p.lat(), p.lon()]
        })
        .collect();
    for (pts, want) in [
        (bow, "area.points: edges"),
        (far, "area.points: every corner"),
        (dup, "area.points[2]: repeats"),
        (nan, "area.points[1]: lat"),
        (many, "area.points: expected 3 to 32"),
        (square(400.0)[..2].to_vec(), "area.points: expected 3 to 32"),
    ] {
        let e = Area::polygon(&pts).unwrap_err();
        assert!(e.msg().starts_with(want), "{e}");
    }
    for (lat, lon, r, want) in [
        (91.0, 0.0, 300.0, "area.lat"),
        (0.0, 200.0, 300.0, "area.lon"),
        (0.0, 0.0, -1.0, "area.radius_m"),
        (0.0, 0.0, f64::INFINITY, "area.radius_m"),
    ] {
        let e = Area::circle(lat, lon, r).unwrap_err();
        assert!(e.msg().starts_with(want), "{e}");
    }
}

#[test]
fn the_exact_test_is_exact_to_metres() {
    let o = Point::new(LAT, LON).unwrap();
    let c = Area::circle(LAT, LON, 300.0).unwrap();
    assert!(c.contains(o.offset(0.0, 295.0).unwrap()));
    assert!(!c.contains(o.offset(0.0, 305.0).unwrap()));
    assert!(c.contains(o.offset(-210.0, -210.0).unwrap()));
    assert!(!c.contains(o.offset(-215.0, -215.0).unwrap()));
    let sq = Area::polygon(&square(400.0)).unwrap();
    assert!(sq.contains(o.offset(5.0, 5.0).unwrap()));
    assert!(sq.contains(o.offset(395.0, 200.0).unwrap()));
    assert!(!sq.contains(o.offset(-5.0, 200.0).unwrap()));
    assert!(!sq.contains(o.offset(200.0, 405.0).unwrap()));
    // Homes in the same home cell, one just inside and one just outside: the cell cannot
    // tell them apart; the exact test does.
    let inside = o.offset(5.0, 5.0).unwrap();
    let outside = o.offset(-5.0, -5.0).unwrap();
    assert_eq!(porchlight_community::home_cell(inside), porchlight_community::home_cell(outside));
    assert!(sq.contains(inside) && !sq.contains(outside));
}

proptest! {
    /// No home inside an area is left out of the cells offered the request, and every cell
    /// offered is near the area.
    #[test]
    fn the_offered_cells_cover_the_area(
        lat in -60.0f64..60.0, lon in -179.0f64..179.0, r in 150.0f64..640.0,
        corners in 3usize..9, seed in any::<u64>(), circle in any::<bool>(),
    ) {
        let o = Point::new(lat, lon).unwrap();
        let area = if circle {
            Area::circle(lat, lon, r).unwrap()
        } else {
            // A star-shaped polygon: corners at increasing angles, radii from the seed.
            let pts: Vec<[f64; 2]> = (0..corners).map(|i| {
                let t = i as f64 / corners as f64 * std::f64::consts::TAU;
                let k = 0.6 + 0.4 * ((seed >> (i * 7)) & 0x7f) as f64 / 127.0;
                let p = o.offset(r * k * t.sin(), r * k * t.cos()).unwrap();
                [p.lat(), p.lon()]
            }).collect();
            match Area::polygon(&pts) { Ok(a) => a, Err(_) => return Ok(()) }
        };
        let cells = area.home_cells();
        prop_assert!(!cells.is_empty() && cells.len() < 40, "{} cells", cells.len());
        let mut s = seed | 1;
        for _ in 0..300 {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            let (n, e) = (((s & 0xffff) as f64 / 65535.0 - 0.5) * 2.2 * r, (((s >> 16) & 0xffff) as f64 / 65535.0 - 0.5) * 2.2 * r);
            let p = o.offset(n, e).unwrap();
            if area.contains(p) {
                prop_assert!(cells.contains(&porchlight_community::home_cell(p)), "a home inside at ({n:.0}, {e:.0}) m is not offered");
            }
        }
        for c in &cells {
            let d = h3o::LatLng::from(*c).distance_m(o.latlng());
            prop_assert!(d < r + 1_000.0, "cell {c} is {d:.0} m away");
        }
    }
}
