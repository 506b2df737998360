//! A validated point on the Earth.

use base::{Error, bail};
use h3o::LatLng;

/// A latitude and longitude in degrees (WGS 84), both finite and in range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    lat: f64,
    lon: f64,
}

impl Point {
    /// Checks the coordinates; the error names the one at fault.
    pub fn new(lat: f64, lon: f64) -> Result<Point, Error> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            bail!(InvalidArgument, "lat: expected degrees from -90 to 90, got {lat}");
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            bail!(InvalidArgument, "lon: expected degrees from -180 to 180, got {lon}");
        }
        Ok(Point { lat, lon })
    }

    pub fn lat(self) -> f64 {
        self.lat
    }

    pub fn lon(self) -> f64 {
        self.lon
    }

    pub fn latlng(self) -> LatLng {
        LatLng::new(self.lat, self.lon).expect("checked in new")
    }

    /// Great-circle distance in metres.
    pub fn distance_m(self, other: Point) -> f64 {
        self.latlng().distance_m(other.latlng())
    }

    /// The point `north_m` metres north and `east_m` metres east (a local flat
    /// approximation, good to a few metres over a town).
    pub fn offset(self, north_m: f64, east_m: f64) -> Result<Point, Error> {
        const M_PER_DEG: f64 = 111_195.0;
        let lat = self.lat + north_m / M_PER_DEG;
        let lon = self.lon + east_m / (M_PER_DEG * self.lat.to_radians().cos().max(1e-6));
        Point::new(lat, lon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_coordinates_name_the_field() {
        for (lat, lon, field) in
            [(91.0, 0.0, "lat"), (f64::NAN, 0.0, "lat"), (0.0, -180.5, "lon"), (0.0, f64::INFINITY, "lon")]
        {
            let e = Point::new(lat, lon).unwrap_err();
            assert!(e.msg().starts_with(field), "{lat},{lon}: {e}");
        }
    }

    #[test]
    fn offsets_are_metres() {
        let p = Point::new(51.5, -0.12).unwrap();
        let q = p.offset(300.0, 400.0).unwrap();
        assert!((p.distance_m(q) - 500.0).abs() < 2.0, "{}", p.distance_m(q));
    }
}
