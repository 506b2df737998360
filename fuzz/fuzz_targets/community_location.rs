//! What clients send about places: home cells, coordinates, feed radii. None may panic; a
//! cell that parses is a home cell whose post area, when there is one, contains it.
#![no_main]

use community::{Census, HOME_RES};
use libfuzzer_sys::fuzz_target;

struct Everyone(u64);

impl Census for Everyone {
    fn households_in(&self, cell: h3o::CellIndex) -> u64 {
        self.0 >> (2 * (15 - u8::from(cell.resolution())))
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() >= 24 {
        let f = |i: usize| f64::from_le_bytes(data[i..i + 8].try_into().unwrap());
        if let Ok(p) = community::Point::new(f(0), f(8)) {
            let home = community::home_cell(p);
            assert_eq!(home.resolution(), HOME_RES);
            let radius = f(16);
            if community::check_radius("radius_m", radius).is_ok() {
                assert!(community::feed_buckets(home, radius).contains(&community::bucket_of(home)));
            }
        }
    }
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(cell) = community::parse_home_cell("home_cell", s) {
        let n = data.iter().map(|b| u64::from(*b)).sum::<u64>() << 20;
        if let Ok(area) = community::post_area(cell, &Everyone(n), 20) {
            assert_eq!(cell.parent(area.resolution()), Some(area));
        }
    }
});
