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
        webhook_secret: None,
    };
    s.state.db.insert_household(&h).await.unwrap();
    let chain = community::home_chain(cell).map(|c| u64::from(c) as i64);
    s.state.db.set_home(&id, chain, &[1; 32], s.now(), 2, 30 * 86_400_000).await.unwrap();
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
        let before = s.snapshot().await;
        let (st, e) = mine.owner.call(Method::PUT, &path, Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
        assert!(e["message"].as_str().unwrap().contains(words), "{words}: {e}");
        assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new(), "{words}: refused, but changed");
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
        (
            json!({"category": "gossip", "body": "hi"}),
            "category: unknown variant `gossip`, expected one of `crime`, `safety`",
        ),
        (json!({"category": "crime", "body": "   "}), "body: expected 1 to 4000 characters"),
        (json!({"category": "crime", "body": "x".repeat(4001)}), "body: expected 1 to 4000 characters"),
        (json!({"category": "crime", "body": "bell\u{7}"}), "body: control characters"),
        (json!({"category": "crime"}), "body"),
    ] {
        let before = s.snapshot().await;
        let (st, e) = mine.owner.call(Method::POST, &new_post, Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
        assert!(e["message"].as_str().unwrap().contains(words), "{words}: {e}");
        assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new(), "{words}: refused, but changed");
    }
    // The posting rules come first, accepted by their hash.
    let first = json!({"category": "lost_pet", "body": "Grey cat, answers to Miso"});
    let (st, e) = mine.owner.call(Method::POST, &new_post, Some(first.clone())).await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert!(e["message"].as_str().unwrap().starts_with("rules: read and accept"), "{e}");
    accept_rules(&mut mine.owner).await;
    let p = mine.owner.ok(Method::POST, &new_post, Some(first)).await;
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

    paging(s, mine, &mut near).await;
    let operator = talk(s, mine, &mut near, &mut far).await;
    media(s, mine, &mut near, &mut far, operator).await;
}

/// The smallest byte string `check_jpeg` accepts, with the given segments after SOI.
fn jpeg(segments: &[(u8, &[u8])]) -> Vec<u8> {
    let mut b = vec![0xff, 0xd8];
    for (m, body) in segments {
        b.extend_from_slice(&[0xff, *m]);
        b.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        b.extend_from_slice(body);
    }
    b.extend_from_slice(&[0xff, 0xda, 0, 2, 0x55, 0xaa, 0x13, 0xff, 0xd9]);
    b
}

async fn upload(c: &mut Client, hid: &str, kind: &str, bytes: Vec<u8>) -> (StatusCode, serde_json::Value) {
    let r = c
        .request(Method::POST, &format!("/api/households/{hid}/post-media?kind={kind}"))
        .body(bytes)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

/// Photos and clips: a photo only without metadata, a clip only as the household's agent
/// prepared it; attached once, served to the feeds within reach and no others, with byte
/// ranges; deleted, blobs and all, with the post.
async fn media(s: &Server, mine: &mut Home, near: &mut Home, far: &mut Home, operator: Client) {
    let (hid, nid, fid) = (mine.household.clone(), near.household.clone(), far.household.clone());
    let jfif: &[u8] = b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0";
    let photo = jpeg(&[(0xe0, jfif), (0xdb, &[7; 65])]);
    let clip = b"....ftypisom the prepared clip's bytes".to_vec();
    for (kind, bytes, words) in [
        (
            "photo",
            jpeg(&[(0xe0, jfif), (0xe1, b"Exif\0\0 GPS 52.2 0.12")]),
            "photo: it carries metadata (segment FF E1",
        ),
        ("photo", b"\x89PNG\r\n\x1a\n".to_vec(), "photo: not a JPEG"),
        ("video", photo.clone(), "kind: expected photo or clip"),
        ("clip", clip.clone(), "was not prepared by your household's agent"),
        ("photo", Vec::new(), "body: empty"),
    ] {
        let before = s.snapshot().await;
        let (st, e) = upload(&mut mine.owner, &hid, kind, bytes).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
        assert!(e["message"].as_str().unwrap().contains(words), "{words}: {e}");
        assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new(), "{words}: refused, but changed");
    }
    assert_eq!(s.state.db.recent_media(&mine.owner.account_id, 0).await.unwrap().0, 0, "nothing was stored");

    // The agent prepares the clip for a session the owner opened, and declares its hash;
    // another household's agent cannot declare one for this session.
    let session = crypto::keys::EncryptionSecret::generate();
    let hh: [u8; 16] = crypto::keys::unhex(&hid).unwrap().try_into().unwrap();
    let q = crypto::live::LiveRequest::create(&mine.owner_keys, hh, "door", session.public(), s.now()).unwrap();
    let prep = json!({"request": crypto::keys::hex(&q.encode()), "prepare": {"start_ms": s.now() - 10_000, "end_ms": s.now()}});
    let prepare_path = format!("/api/households/{hid}/clips/prepare");
    let (st, e) = mine
        .owner
        .call(
            Method::POST,
            &prepare_path,
            Some(json!({"request": prep["request"], "prepare": {"start_ms": 0, "end_ms": 200_000}})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(e["message"].as_str().unwrap().contains("at most 120 s"), "{e}");
    let sid = mine.owner.ok(Method::POST, &prepare_path, Some(prep)).await["session_id"].as_str().unwrap().to_owned();
    // Offered to the agent that reports the camera.
    let status = json!({"cameras": [{"camera": "door", "state": "streaming", "since_ms": 0}]});
    mine.device.ok(Method::PUT, "/api/device/status", Some(status)).await;
    let offers = mine.device.ok(Method::GET, "/api/device/wait?wait_ms=0", None).await;
    assert_eq!(offers["live"][0]["offer"]["prepare_clip"]["end_ms"], json!(s.now()), "{offers}");
    let declare = json!({"sha256": blob::chunk_hash(&clip)});
    let (st, _) = far.device.call(Method::PUT, &format!("/api/device/prepared/{sid}"), Some(declare.clone())).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    mine.device.ok(Method::PUT, &format!("/api/device/prepared/{sid}"), Some(declare)).await;
    let (st, clip_m) = upload(&mut mine.owner, &hid, "clip", clip.clone()).await;
    assert_eq!(st, StatusCode::OK, "{clip_m}");
    assert_eq!(clip_m["sha256"], blob::chunk_hash(&clip));
    let (st, photo_m) = upload(&mut mine.owner, &hid, "photo", photo.clone()).await;
    assert_eq!(st, StatusCode::OK, "{photo_m}");
    let (clip_id, photo_id) = (clip_m["id"].as_str().unwrap().to_owned(), photo_m["id"].as_str().unwrap().to_owned());

    // Attached to one post, in order; never to a second, nor by anyone else.
    accept_rules(&mut near.owner).await;
    let new_post = format!("/api/households/{hid}/posts");
    // (Another account's post cannot take them: checked on the store, since the near
    // household's area is too small to post from here.)
    let theirs = db::server::Post {
        id: "e".repeat(32),
        household_id: nid.clone(),
        author_id: near.owner.account_id.clone(),
        category: "general".into(),
        body: "mine now".into(),
        area_cell: 0,
        created_ms: s.now(),
        edited_ms: None,
        hidden_reason: None,
        hidden_ms: None,
    };
    assert_eq!(s.state.db.insert_post_with_media(&theirs, std::slice::from_ref(&clip_id)).await.unwrap(), Err(0));
    assert!(s.state.db.post(&theirs.id).await.unwrap().is_none(), "nothing was stored");
    let (st, e) = mine
        .owner
        .call(Method::POST, &new_post, Some(json!({"category": "crime", "body": "x", "media": [clip_id, clip_id]})))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(e["message"].as_str().unwrap().contains("listed twice"), "{e}");
    let p = mine
        .owner
        .ok(
            Method::POST,
            &new_post,
            Some(json!({"category": "crime", "body": "On camera", "media": [clip_id, photo_id]})),
        )
        .await;
    let pid = p["id"].as_str().unwrap().to_owned();
    assert_eq!(p["media"][0]["id"], clip_id.as_str());
    assert_eq!(p["media"][1]["kind"], "photo");
    let (st, e) = mine
        .owner
        .call(Method::POST, &new_post, Some(json!({"category": "crime", "body": "again", "media": [photo_id]})))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let feed = near.owner.ok(Method::GET, &format!("/api/households/{nid}/feed?radius_m=3000"), None).await;
    let seen = feed.as_array().unwrap().iter().find(|x| x["id"] == pid.as_str()).expect("the near feed has the post");
    assert_eq!(seen["media"].as_array().unwrap().len(), 2);

    // Served to the near household (whole, or a range), not to the far one.
    let get = |c: &Client, h: &str, m: &str| c.request(Method::GET, &format!("/api/households/{h}/post-media/{m}"));
    let r = get(&near.owner, &nid, &clip_id).send().await.unwrap();
    assert_eq!((r.status(), r.headers()["content-type"].to_str().unwrap()), (StatusCode::OK, "video/mp4"));
    assert_eq!(r.bytes().await.unwrap().to_vec(), clip);
    let r = get(&near.owner, &nid, &clip_id).header("range", "bytes=4-7").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().to_vec(), b"ftyp");
    assert_eq!(get(&far.owner, &fid, &clip_id).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    // The operator sees it to moderate it; nobody else through that door.
    let r = operator.request(Method::GET, &format!("/api/moderation/media/{photo_id}")).send().await.unwrap();
    assert_eq!((r.status(), r.headers()["content-type"].to_str().unwrap()), (StatusCode::OK, "image/jpeg"));
    let (st, _) = near.owner.call(Method::GET, &format!("/api/moderation/media/{photo_id}"), None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // An upload left without a post expires; deleting the post removes its media now.
    let (_, lone) = upload(&mut mine.owner, &hid, "photo", jpeg(&[(0xe0, jfif), (0xdb, &[9; 65])])).await;
    let lone_id = lone["id"].as_str().unwrap().to_owned();
    assert_eq!(
        get(&near.owner, &nid, &lone_id).send().await.unwrap().status(),
        StatusCode::NOT_FOUND,
        "not posted yet"
    );
    mine.owner.ok(Method::DELETE, &format!("/api/posts/{pid}"), None).await;
    for (id, bytes) in [(&clip_id, &clip), (&photo_id, &photo)] {
        assert_eq!(get(&near.owner, &nid, id).send().await.unwrap().status(), StatusCode::NOT_FOUND);
        assert!(s.state.db.post_media(id).await.unwrap().is_none());
        let e = s.state.blobs.get_chunk(&blob::chunk_hash(bytes)).await.unwrap_err();
        assert_eq!(e.kind(), base::ErrorKind::NotFound, "the blob is gone: {e}");
    }
    s.advance(blob::gc::UPLOAD_GRACE_MS + 1);
    blob::retention_pass(&s.state.db, s.now()).await.unwrap();
    blob::collect(&s.state.db, &s.state.blobs).await.unwrap();
    assert!(s.state.db.post_media(&lone_id).await.unwrap().is_none(), "the abandoned upload expired");
    assert!(blob::check(&s.state.db, &s.state.blobs).await.unwrap().problems.is_empty());

    // A chunk stored again after it was doomed keeps its blob, even when a deletion that
    // listed it before runs after: the deletion re-checks under the chunk's lock.
    let again = jpeg(&[(0xe0, jfif), (0xdb, &[5; 65])]);
    let h = blob::chunk_hash(&again);
    s.state.blobs.store(&s.state.db, &h, &hid, again.clone().into(), s.now()).await.unwrap();
    s.state.db.doom_unreferenced_chunks(s.now() + 1, s.now()).await.unwrap();
    let stale = s.state.db.doomed_chunks(100).await.unwrap();
    assert!(stale.contains(&h));
    s.state.blobs.store(&s.state.db, &h, &hid, again.into(), s.now()).await.unwrap();
    let gone = s.state.blobs.delete_doomed(&s.state.db, &stale).await.unwrap();
    assert!(!gone.contains(&h), "a rescued chunk is not deleted");
    s.state.blobs.get_chunk(&h).await.unwrap();
    assert!(blob::check(&s.state.db, &s.state.blobs).await.unwrap().problems.is_empty());
}

/// The next `post` signal on a feed's live stream.
async fn next_signal(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
) -> serde_json::Value {
    use futures::StreamExt;
    let mut buf = String::new();
    loop {
        if let Some(i) = buf.find("\n\n") {
            let block: String = buf.drain(..i + 2).collect();
            if block.lines().any(|l| l == "event: post")
                && let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:"))
            {
                return serde_json::from_str(data.trim()).unwrap();
            }
            continue;
        }
        let chunk = stream.next().await.expect("stream ended").unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn accept_rules(c: &mut Client) {
    let rules = c.ok(Method::GET, "/api/neighbourhood/rules", None).await;
    assert!(rules["text"].as_str().unwrap().contains("Posting rules"), "{rules}");
    if rules["accepted"] == true {
        return;
    }
    let (st, e) = c.call(Method::POST, "/api/neighbourhood/rules", Some(json!({"hash": "00"}))).await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    assert!(e["message"].as_str().unwrap().starts_with("hash: the posting rules have changed"), "{e}");
    let hash = rules["hash"].as_str().unwrap().to_owned();
    let r: wire::RulesJson = c.post("/api/neighbourhood/rules", &wire::AcceptRulesJson { hash }).await.unwrap();
    assert!(r.accepted);
    assert!(c.get::<wire::RulesJson>("/api/neighbourhood/rules").await.unwrap().accepted);
}

/// Pages of a feed follow each other without a gap or a repeat, also among posts made in
/// the same millisecond.
async fn paging(s: &Server, mine: &mut Home, near: &mut Home) {
    let new_post = format!("/api/households/{}/posts", mine.household);
    let mut made = Vec::new();
    for i in 0..7 {
        let p =
            mine.owner.ok(Method::POST, &new_post, Some(json!({"category": "general", "body": format!("n{i}")}))).await;
        made.push(p["id"].as_str().unwrap().to_owned());
        if i % 3 == 2 {
            s.advance(1_000);
        }
    }
    let mut seen = Vec::new();
    let mut next = format!("/api/households/{}/feed?radius_m=3000&limit=2", near.household);
    loop {
        let page = near.owner.ok(Method::GET, &next, None).await;
        let page = page.as_array().unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|p| p["id"].as_str().unwrap().to_owned()));
        let last = page.last().unwrap();
        next = format!(
            "/api/households/{}/feed?radius_m=3000&limit=2&before_ms={}&before_id={}",
            near.household,
            last["created_ms"],
            last["id"].as_str().unwrap()
        );
    }
    let mut want = made.clone();
    want.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, want, "every post once");
    for id in made {
        mine.owner.ok(Method::DELETE, &format!("/api/posts/{id}"), None).await;
    }
}

/// Comments under aliases, reports and the operator's decision, and the contact relay.
async fn talk(s: &Server, mine: &mut Home, near: &mut Home, far: &mut Home) -> Client {
    let (hid, nid, fid) = (mine.household.clone(), near.household.clone(), far.household.clone());
    // New posts are pushed to the feeds within reach, and only to them.
    let open = |c: &Client, h: &str| c.request(Method::GET, &format!("/api/households/{h}/feed/live")).send();
    let near_live = open(&near.owner, &nid).await.unwrap();
    assert_eq!(near_live.headers()["content-type"], "text/event-stream");
    let mut near_live = near_live.bytes_stream();
    let mut far_live = open(&far.owner, &fid).await.unwrap().bytes_stream();
    let t = std::time::Instant::now();
    let p = mine
        .owner
        .ok(Method::POST, &format!("/api/households/{hid}/posts"), Some(json!({"category": "crime", "body": "Van"})))
        .await;
    let pid = p["id"].as_str().unwrap().to_owned();
    let signal = tokio::time::timeout(std::time::Duration::from_secs(1), next_signal(&mut near_live))
        .await
        .expect("the near household hears of the post within a second");
    assert_eq!(signal, json!({"area": p["area"]["cell"]}));
    eprintln!("a new post reached a neighbour's open feed {:?} after it was sent", t.elapsed());
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(500), next_signal(&mut far_live)).await.is_err(),
        "the far household hears nothing"
    );
    let comments = |h: &str| format!("/api/households/{h}/posts/{pid}/comments");

    // Comments: the poster is "Poster", others numbered per post; nobody far away can
    // read or write them.
    s.advance(1);
    let c1 = near.owner.ok(Method::POST, &comments(&nid), Some(json!({"body": "Saw it too"}))).await;
    assert_eq!((c1["by"].as_str(), c1["mine"].as_bool()), (Some("Neighbour 1"), Some(true)), "{c1}");
    s.advance(1);
    let c2 = mine.owner.ok(Method::POST, &comments(&hid), Some(json!({"body": "Thanks"}))).await;
    assert_eq!(c2["by"], "Poster");
    let mut third = home(s, "third@example.org").await;
    third
        .owner
        .ok(
            Method::PUT,
            &format!("/api/households/{}/home", third.household),
            Some(json!({"home_cell": cell_at(-1_000.0, 0.0).to_string(), "sealed_point": "cd".repeat(40)})),
        )
        .await;
    s.advance(1);
    let c3 = third.owner.ok(Method::POST, &comments(&third.household), Some(json!({"body": "Where?"}))).await;
    assert_eq!(c3["by"], "Neighbour 2");
    s.advance(1);
    let c4 = near.owner.ok(Method::POST, &comments(&nid), Some(json!({"body": "By the shop"}))).await;
    assert_eq!(c4["by"], "Neighbour 1", "an alias is kept on the post");
    let all = mine.owner.ok(Method::GET, &comments(&hid), None).await;
    let by: Vec<&str> = all.as_array().unwrap().iter().map(|c| c["by"].as_str().unwrap()).collect();
    assert_eq!(by, ["Neighbour 1", "Poster", "Neighbour 2", "Neighbour 1"]);
    assert!(all[0].get("author_id").is_none(), "{all}");
    let feed = near.owner.ok(Method::GET, &format!("/api/households/{nid}/feed?radius_m=3000"), None).await;
    assert_eq!(feed[0]["comments"], 4, "{feed}");
    for (st_want, body) in
        [(StatusCode::BAD_REQUEST, json!({"body": ""})), (StatusCode::NOT_FOUND, json!({"body": "hi"}))]
    {
        let (st, e) = far.owner.call(Method::POST, &comments(&fid), Some(body)).await;
        assert_eq!(st, st_want, "{e}");
    }
    let (st, _) = far.owner.call(Method::GET, &comments(&fid), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "beyond 8 km the post does not exist");
    let (st, _) = mine.owner.call(Method::DELETE, &format!("/api/comments/{}", c1["id"].as_str().unwrap()), None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "only a comment's author deletes it");
    near.owner.ok(Method::DELETE, &format!("/api/comments/{}", c4["id"].as_str().unwrap()), None).await;
    assert_eq!(mine.owner.ok(Method::GET, &comments(&hid), None).await.as_array().unwrap().len(), 3);

    // Reports reach the operator, who hides the post with a reason: it leaves the others'
    // feeds, and its author sees why.
    let report = format!("/api/households/{nid}/posts/{pid}/report");
    let (st, e) = near.owner.call(Method::POST, &report, Some(json!({"reason": ""}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let r = near.owner.ok(Method::POST, &report, Some(json!({"reason": "Names a person"}))).await;
    assert_eq!(r, json!({"reported": true, "new": true}));
    let r = near.owner.ok(Method::POST, &report, Some(json!({"reason": "again"}))).await;
    assert_eq!(r["new"], false);
    let (st, _) = mine
        .owner
        .call(Method::POST, &format!("/api/households/{hid}/posts/{pid}/report"), Some(json!({"reason": "x"})))
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "nobody reports their own post");
    let (st, _) = near.owner.call(Method::GET, "/api/moderation/reports", None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "only operators moderate");
    let mut op = s.user(OPERATOR).await;
    assert_eq!(op.ok(Method::GET, "/api/session", None).await["operator"], true);
    assert_eq!(near.owner.ok(Method::GET, "/api/session", None).await["operator"], false);
    let queue = op.ok(Method::GET, "/api/moderation/reports", None).await;
    assert_eq!(queue.as_array().unwrap().len(), 1, "{queue}");
    assert_eq!(queue[0]["post"]["id"], pid.as_str());
    assert_eq!(queue[0]["reports"][0]["reason"], "Names a person");
    let moderate = format!("/api/moderation/posts/{pid}");
    for (body, words) in [
        (json!({"action": "hide"}), "reason: hiding a post needs a reason"),
        (json!({"action": "burn", "reason": "x"}), "action: expected hide or keep"),
    ] {
        let before = s.snapshot().await;
        let (st, e) = op.call(Method::POST, &moderate, Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
        assert!(e["message"].as_str().unwrap().contains(words), "{e}");
        assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new(), "{words}: refused, but changed");
    }
    op.ok(Method::POST, &moderate, Some(json!({"action": "hide", "reason": "Rule 3: names a private person"}))).await;
    let feed_of = |h: &str| format!("/api/households/{h}/feed?radius_m=3000");
    assert_eq!(near.owner.ok(Method::GET, &feed_of(&nid), None).await, json!([]));
    let (st, _) = near.owner.call(Method::GET, &comments(&nid), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let own = mine.owner.ok(Method::GET, &feed_of(&hid), None).await;
    assert_eq!(own[0]["hidden_reason"], "Rule 3: names a private person", "{own}");
    assert_eq!(op.ok(Method::GET, "/api/moderation/reports", None).await, json!([]));
    op.ok(Method::POST, &moderate, Some(json!({"action": "keep"}))).await;
    let back = near.owner.ok(Method::GET, &feed_of(&nid), None).await;
    assert_eq!((back[0]["id"].as_str(), back[0]["hidden_reason"].is_null()), (Some(pid.as_str()), true));

    // The relay: the neighbour writes without revealing anything; the poster answers and
    // chooses to share contact details; nobody else can read the conversation.
    let contact = |h: &str| format!("/api/households/{h}/posts/{pid}/contact");
    let (st, _) = mine.owner.call(Method::POST, &contact(&hid), Some(json!({"body": "me"}))).await;
    assert_eq!(st, StatusCode::CONFLICT, "not to oneself");
    let (st, _) = far.owner.call(Method::POST, &contact(&fid), Some(json!({"body": "hi"}))).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, e) =
        near.owner.call(Method::POST, &contact(&nid), Some(json!({"body": "hi", "reveal": "x".repeat(201)}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(e["message"].as_str().unwrap().starts_with("reveal: expected 1 to 200"), "{e}");
    let conv = near.owner.ok(Method::POST, &contact(&nid), Some(json!({"body": "I have footage of the van"}))).await;
    let tid = conv["thread"]["id"].as_str().unwrap().to_owned();
    assert_eq!(conv["thread"]["role"], "neighbour");
    assert!(conv["messages"][0]["reveal"].is_null());
    let threads = mine.owner.ok(Method::GET, "/api/relay", None).await;
    assert_eq!(threads.as_array().unwrap().len(), 1, "{threads}");
    assert_eq!((threads[0]["id"].as_str(), threads[0]["role"].as_str()), (Some(tid.as_str()), Some("poster")));
    let text = serde_json::to_string(&threads).unwrap() + &serde_json::to_string(&conv).unwrap();
    for secret in [&near.owner.account_id, &mine.owner.account_id, &nid, &hid] {
        assert!(!text.contains(secret.as_str()), "the relay shows no account or household");
    }
    s.advance(1);
    let conv = mine
        .owner
        .ok(
            Method::POST,
            &format!("/api/relay/{tid}"),
            Some(json!({"body": "Thank you, please call", "reveal": "Sam, 01234 567890"})),
        )
        .await;
    assert_eq!(conv["messages"].as_array().unwrap().len(), 2);
    let seen = near.owner.ok(Method::GET, &format!("/api/relay/{tid}"), None).await;
    assert_eq!(seen["messages"][0]["from_me"], true);
    assert_eq!(seen["messages"][1]["from_me"], false);
    assert_eq!(seen["messages"][1]["reveal"], "Sam, 01234 567890");
    let (st, _) = third.owner.call(Method::GET, &format!("/api/relay/{tid}"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let again = near.owner.ok(Method::POST, &contact(&nid), Some(json!({"body": "Sent"}))).await;
    assert_eq!(again["thread"]["id"], tid.as_str(), "one thread per neighbour and post");

    // Deleting the post removes its comments and conversations.
    mine.owner.ok(Method::DELETE, &format!("/api/posts/{pid}"), None).await;
    assert_eq!(near.owner.ok(Method::GET, "/api/relay", None).await, json!([]));
    assert!(s.state.db.comments(&pid, 10).await.unwrap().is_empty());

    // A flood is refused: 10 posts an hour per account.
    let new_post = format!("/api/households/{hid}/posts");
    for i in 0..10 {
        mine.owner.ok(Method::POST, &new_post, Some(json!({"category": "general", "body": format!("p{i}")}))).await;
    }
    let (st, e) =
        mine.owner.call(Method::POST, &new_post, Some(json!({"category": "general", "body": "one more"}))).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{e}");
    assert!(e["message"].as_str().unwrap().starts_with("rate: at most 10 posts an hour"), "{e}");
    s.advance(3_600_001);
    mine.owner.ok(Method::POST, &new_post, Some(json!({"category": "general", "body": "an hour on"}))).await;
    op
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
