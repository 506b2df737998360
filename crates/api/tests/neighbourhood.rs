//! A household's home as the server may know it: a resolution 8 cell and a sealed point,
//! set by the owner or a full member, and the area its posts will show (the finest with
//! at least K households), on SQLite and PostgreSQL.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn cell_at(north_m: f64, east_m: f64) -> h3o::CellIndex {
    community::home_cell(community::Point::new(52.2053, 0.1218).unwrap().offset(north_m, east_m).unwrap())
}

/// Another household with its home in `cell`, stored directly (the census is what matters).
async fn neighbour(s: &Server, i: u32, cell: h3o::CellIndex) {
    let id = format!("{:032x}", 0xfeed_0000u64 + u64::from(i));
    let owner_id = s.state.db.account_by_email("owner@example.org").await.unwrap().unwrap().id;
    let h = db::server::Household {
        id: id.clone(),
        name: "n".into(),
        owner_id,
        retention_days: 30,
        retention_bytes: 0,
        webhook_url: None,
        created_ms: s.now(),
    };
    s.state.db.insert_household(&h).await.unwrap();
    let chain = [8, 7, 6, 5].map(|r| u64::from(cell.parent(h3o::Resolution::try_from(r).unwrap()).unwrap()) as i64);
    s.state.db.set_home(&id, chain, &[1; 32], s.now()).await.unwrap();
}

async fn suite(s: &Server) {
    let mut mine = home(s, "owner@example.org").await;
    let hid = mine.household.clone();
    let path = format!("/api/households/{hid}/home");
    let (st, _) = mine.owner.call(Method::GET, &path, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Bad input names the field and stores nothing.
    let here = cell_at(0.0, 0.0);
    let sealed = "ab".repeat(64);
    let coarse = here.parent(h3o::Resolution::Seven).unwrap().to_string();
    for (body, words) in [
        (json!({"home_cell": "nowhere", "sealed_point": sealed}), "home_cell: expected an H3 cell"),
        (json!({"home_cell": coarse, "sealed_point": sealed}), "home_cell: expected a cell of resolution 8"),
        (json!({"home_cell": here.to_string(), "sealed_point": "zz"}), "sealed_point"),
        (json!({"home_cell": here.to_string(), "sealed_point": "abcd"}), "sealed_point: expected the sealed point"),
        (json!({"home_cell": here.to_string()}), "sealed_point"),
    ] {
        let (st, e) = mine.owner.call(Method::PUT, &path, Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
        assert!(e["message"].as_str().unwrap().contains(words), "{words}: {e}");
    }
    let (st, _) = mine.owner.call(Method::GET, &path, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "nothing was stored");

    // Alone in the town: it may not post, and says why.
    let h =
        mine.owner.ok(Method::PUT, &path, Some(json!({"home_cell": here.to_string(), "sealed_point": sealed}))).await;
    assert_eq!(h["home_cell"], here.to_string());
    assert_eq!(h["sealed_point"], sealed);
    assert_eq!(h["min_crowd"], 20);
    assert!(h["post_area"].is_null(), "{h}");
    assert!(h["cannot_post"].as_str().unwrap().starts_with("location: fewer than 20 households"), "{h}");

    // Neighbours arrive: 12 in the same cell and 10 a few kilometres away. 13 in the cell
    // are too few, so the area is the finest ancestor that holds 20 of them.
    for i in 0..22 {
        let c = if i < 12 { here } else { cell_at(4_000.0, 1_000.0 * f64::from(i - 12)) };
        neighbour(s, i, c).await;
    }
    let h = mine.owner.ok(Method::GET, &path, None).await;
    let area: h3o::CellIndex = h["post_area"]["cell"].as_str().unwrap().parse().unwrap();
    assert!(area.resolution() < h3o::Resolution::Eight, "{h}");
    assert_eq!(here.parent(area.resolution()), Some(area), "the area contains the home");
    assert!(h["post_area"]["households"].as_u64().unwrap() >= 20, "{h}");
    assert!(h["cannot_post"].is_null());
    // Seven more in the cell: now the home cell itself holds 20.
    for i in 22..29 {
        neighbour(s, i, here).await;
    }
    let h = mine.owner.ok(Method::GET, &path, None).await;
    assert_eq!(h["post_area"]["cell"], here.to_string(), "{h}");
    assert_eq!(h["post_area"]["households"], 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_households_home_and_its_post_area_on_sqlite() {
    suite(&Server::start_local().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_households_home_and_its_post_area_on_postgresql() {
    let Some(pg) = testkit::Postgres::start() else { return };
    let url = pg.fresh_database("neighbourhood");
    let s = Server::start(&url, &blob::Location::Local(tempfile::tempdir().unwrap().keep()), None).await;
    suite(&s).await;
}
