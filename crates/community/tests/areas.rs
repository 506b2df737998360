//! The location rules: a post's area always holds K households, the areas of one
//! household's posts never combine into anything finer, and the feed looks posts up by
//! exactly the areas the distance rule accepts.

use porchlight_community as community;

use community::town;
use community::{COARSEST_RES, Census, Counts, HOME_RES, K_DEFAULT, Point, feed_cells, home_cell, in_feed, post_area};
use h3o::{CellIndex, Resolution};
use proptest::prelude::*;
use std::collections::HashSet;

fn centre() -> Point {
    Point::new(52.2053, 0.1218).unwrap()
}

/// Is `a` `b` or one of its ancestors?
fn ancestor_or_self(a: CellIndex, b: CellIndex) -> bool {
    a.resolution() <= b.resolution() && b.parent(a.resolution()) == Some(a)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The area holds at least K households, contains the home, and is the finest that does.
    #[test]
    fn a_post_area_is_the_finest_ancestor_with_k_households(
        seed in any::<u64>(),
        n in 50usize..3_000,
        k in 1u32..60,
        who in any::<prop::sample::Index>(),
    ) {
        let homes = town::generate(centre(), n, seed).unwrap();
        let mut counts = Counts::default();
        let cells: Vec<CellIndex> = homes.iter().map(|p| home_cell(*p)).collect();
        cells.iter().for_each(|c| counts.add(*c));
        let home = cells[who.index(cells.len())];
        match post_area(home, &counts, k) {
            Ok(area) => {
                prop_assert!(ancestor_or_self(area, home));
                prop_assert!(counts.households_in(area) >= u64::from(k));
                if area.resolution() < HOME_RES {
                    let finer = home.parent(area.resolution().succ().unwrap()).unwrap();
                    prop_assert!(counts.households_in(finer) < u64::from(k), "a finer area would do");
                }
            }
            Err(e) => {
                let coarsest = home.parent(COARSEST_RES).unwrap();
                prop_assert!(counts.households_in(coarsest) < u64::from(k), "{e}");
                prop_assert!(e.msg().starts_with("location:"), "{e}");
            }
        }
    }

    /// One household posts many times while neighbours come and go: every area it ever
    /// shows is on its home cell's chain of ancestors, so what all of them say together is
    /// exactly the finest one, which held K households when it was used.
    #[test]
    fn combining_a_households_posts_narrows_nothing(
        seed in any::<u64>(),
        n in 100usize..2_000,
        steps in prop::collection::vec((any::<bool>(), 0usize..4_000, any::<bool>()), 1..60),
    ) {
        let homes = town::generate(centre(), n + 4_000, seed).unwrap();
        let cells: Vec<CellIndex> = homes.iter().map(|p| home_cell(*p)).collect();
        let poster = cells[0];
        let mut present: Vec<bool> = (0..cells.len()).map(|i| i <= n).collect();
        let mut counts = Counts::default();
        cells.iter().zip(&present).filter(|(_, p)| **p).for_each(|(c, _)| counts.add(*c));
        // (area, households in it when posted)
        let mut shown: Vec<(CellIndex, u64)> = Vec::new();
        for (join, other, post) in steps {
            let i = 1 + other % (cells.len() - 1);
            if join && !present[i] {
                present[i] = true;
                counts.add(cells[i]);
            } else if !join && present[i] {
                present[i] = false;
                counts.remove(cells[i]);
            }
            if post && let Ok(area) = post_area(poster, &counts, K_DEFAULT) {
                shown.push((area, counts.households_in(area)));
            }
        }
        for (a, _) in &shown {
            prop_assert!(ancestor_or_self(*a, poster));
            for (b, _) in &shown {
                prop_assert!(ancestor_or_self(*a, *b) || ancestor_or_self(*b, *a), "areas of one household nest");
            }
        }
        if let Some((finest, crowd)) = shown.iter().max_by_key(|(a, _)| a.resolution()) {
            prop_assert!(*crowd >= u64::from(K_DEFAULT), "{finest}: {crowd} households");
        }
    }

    /// The feed query looks posts up by the areas `feed_cells` names: exactly the areas
    /// the distance rule accepts, so it misses no post and reads none beyond the radius.
    #[test]
    fn the_feed_cells_are_exactly_the_accepted_areas(
        home_n in -20_000.0f64..20_000.0,
        home_e in -20_000.0f64..20_000.0,
        radius in 200.0f64..8_000.0,
        posts in prop::collection::vec((-30_000.0f64..30_000.0, -30_000.0f64..30_000.0, 5u8..=8), 1..80),
    ) {
        let home = home_cell(centre().offset(home_n, home_e).unwrap());
        let cells: HashSet<CellIndex> = feed_cells(home, radius).into_iter().collect();
        for res in 5..=8 {
            prop_assert!(cells.contains(&home.parent(Resolution::try_from(res).unwrap()).unwrap()));
        }
        for c in &cells {
            prop_assert!(in_feed(home, radius, *c), "{c} listed but the rule rejects it");
        }
        for (n, e, res) in posts {
            let area = home_cell(centre().offset(n, e).unwrap()).parent(Resolution::try_from(res).unwrap()).unwrap();
            prop_assert_eq!(in_feed(home, radius, area), cells.contains(&area), "{}", area);
        }
    }
}

/// Near the radius, on every side, each candidate area at each resolution is listed
/// exactly when the rule accepts it (the property test samples; this sweeps a dense grid).
#[test]
fn feed_cells_sweep_the_edge() {
    let home = home_cell(centre());
    for radius in [200.0, 1_000.0, 8_000.0] {
        let cells: HashSet<CellIndex> = feed_cells(home, radius).into_iter().collect();
        let reach = radius + 12_000.0;
        let step = 250.0;
        let mut n = -reach;
        while n <= reach {
            let mut e = -reach;
            while e <= reach {
                let h = home_cell(centre().offset(n, e).unwrap());
                for res in 5..=8 {
                    let area = h.parent(Resolution::try_from(res).unwrap()).unwrap();
                    assert_eq!(in_feed(home, radius, area), cells.contains(&area), "{area} at radius {radius}");
                }
                e += step;
            }
            n += step;
        }
        if radius == 8_000.0 {
            assert!((300..600).contains(&cells.len()), "{} cells for 8 km", cells.len());
        }
    }
}

#[test]
fn own_area_is_in_the_feed_and_far_areas_are_not() {
    let home = home_cell(centre());
    assert!(in_feed(home, 200.0, home));
    assert!(in_feed(home, 200.0, home.parent(COARSEST_RES).unwrap()));
    let far = home_cell(centre().offset(0.0, 20_000.0).unwrap());
    assert!(!in_feed(home, 8_000.0, far));
    let near = home_cell(centre().offset(0.0, 3_000.0).unwrap());
    assert!(in_feed(home, 3_000.0, near));
    assert!(!in_feed(home, 1_000.0, near));
}

#[test]
fn bad_cells_and_radii_name_the_field() {
    let e = community::parse_home_cell("home_cell", "nope").unwrap_err();
    assert!(e.msg().starts_with("home_cell: expected an H3 cell"), "{e}");
    let coarse = home_cell(centre()).parent(Resolution::Seven).unwrap().to_string();
    let e = community::parse_home_cell("home_cell", &coarse).unwrap_err();
    assert!(e.msg().contains("resolution 8, got resolution 7"), "{e}");
    let ok = home_cell(centre()).to_string();
    assert_eq!(community::parse_home_cell("home_cell", &ok).unwrap(), home_cell(centre()));
    let e = community::check_radius("radius_m", 9_000.0).unwrap_err();
    assert!(e.msg().starts_with("radius_m: expected 200 to 8000 metres"), "{e}");
}

/// What the server and neighbours learn of where households live, for a simulated town
/// of 20,000 households (`design/neighbourhood.md` records these figures).
#[test]
fn a_simulated_town() {
    let homes = town::generate(centre(), 20_000, 7).unwrap();
    let x = town::exposure(&homes, K_DEFAULT);
    eprintln!("{x:#?}");
    assert!(x.crowd[0] >= u64::from(K_DEFAULT), "every post's area holds K households: {x:?}");
    assert!(x.server_error_m[1] > 150.0, "the server's knowledge is coarse: {x:?}");
    assert!(x.post_error_m[0] >= x.server_error_m[0], "posts say no more than the server knows: {x:?}");
}
