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
    let chain = community::home_chain(cell).map(|c| u64::from(c) as i64);
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

    posts(s, &mut mine, here).await;
}

/// Posts: checked, shown as their area only, in the feeds of households within the radius
/// and no others, editable and deletable by their author alone.
async fn posts(s: &Server, mine: &mut Home, here: h3o::CellIndex) {
    let hid = mine.household.clone();
    let new_post = format!("/api/households/{hid}/posts");
    for (body, words) in [
        (json!({"category": "gossip", "body": "hi"}), "category: expected one of crime, safety"),
        (json!({"category": "crime", "body": "   "}), "body: expected 1 to 4000 characters"),
        (json!({"category": "crime", "body": "x".repeat(4001)}), "body: expected 1 to 4000 characters"),
        (json!({"category": "crime", "body": "bell\u{7}"}), "body: control characters"),
        (json!({"category": "crime"}), "body"),
    ] {
        let (st, e) = mine.owner.call(Method::POST, &new_post, Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
        assert!(e["message"].as_str().unwrap().contains(words), "{words}: {e}");
    }
    let p = mine
        .owner
        .ok(Method::POST, &new_post, Some(json!({"category": "lost_pet", "body": "Grey cat, answers to Miso"})))
        .await;
    assert_eq!(p["area"]["cell"], here.to_string(), "the area is the home cell, which holds 20 households: {p}");
    assert_eq!(p["mine"], true);
    assert_eq!(p["area"]["households"], 20, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();

    // A household 1.5 km away sees it with a 3 km radius, not with 500 m; one 30 km away
    // never does. Neither learns who posted.
    let mut near = home(s, "near@example.org").await;
    let mut far = home(s, "far@example.org").await;
    for (h, c) in [(&mut near, cell_at(1_500.0, 0.0)), (&mut far, cell_at(0.0, 30_000.0))] {
        let path = format!("/api/households/{}/home", h.household);
        h.owner
            .ok(Method::PUT, &path, Some(json!({"home_cell": c.to_string(), "sealed_point": "cd".repeat(40)})))
            .await;
    }
    let feed = |h: &Home, r: u32| format!("/api/households/{}/feed?radius_m={r}", h.household);
    let seen = near.owner.ok(Method::GET, &feed(&near, 3_000), None).await;
    assert_eq!(seen.as_array().unwrap().len(), 1, "{seen}");
    assert_eq!(seen[0]["id"], id.as_str());
    assert_eq!(seen[0]["mine"], false);
    assert!(seen[0]["area"]["households"].is_null(), "the feed does not count: {seen}");
    assert!(seen[0].get("household_id").is_none() && seen[0].get("author_id").is_none(), "{seen}");
    assert_eq!(near.owner.ok(Method::GET, &feed(&near, 500), None).await, json!([]));
    assert_eq!(far.owner.ok(Method::GET, &feed(&far, 8_000), None).await, json!([]));
    let (st, e) =
        near.owner.call(Method::GET, &format!("/api/households/{}/feed?radius_m=9000", near.household), None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    // A household without a home is told to set one.
    let mut homeless = home(s, "homeless@example.org").await;
    let (st, e) = homeless.owner.call(Method::GET, &feed(&homeless, 2_000), None).await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert!(e["message"].as_str().unwrap().starts_with("home: set your home location first"), "{e}");

    // Only the author edits and deletes; deleting removes it from every feed.
    let post_path = format!("/api/posts/{id}");
    let edit = json!({"category": "found_pet", "body": "Found: grey cat"});
    let (st, _) = near.owner.call(Method::PUT, &post_path, Some(edit.clone())).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = near.owner.call(Method::DELETE, &post_path, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let edited = mine.owner.ok(Method::PUT, &post_path, Some(edit)).await;
    assert_eq!((edited["category"].as_str(), edited["edited_ms"].is_i64()), (Some("found_pet"), true));
    let seen = near.owner.ok(Method::GET, &feed(&near, 3_000), None).await;
    assert_eq!(seen[0]["body"], "Found: grey cat");
    mine.owner.ok(Method::DELETE, &post_path, None).await;
    assert_eq!(near.owner.ok(Method::GET, &feed(&near, 3_000), None).await, json!([]));
    let (st, _) = mine.owner.call(Method::DELETE, &post_path, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
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
