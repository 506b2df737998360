//! The same storage tests on SQLite with a local blob folder and on PostgreSQL with an
//! S3-compatible store (both started by the test): upload, timeline, download and decrypt,
//! idempotent retries, retention with GC, deletion, and `check`.

mod common;

use porchlight_api as api;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn storage_suite(s: &Server) {
    let mut home = home(s, "owner@example.org").await;
    let hid = home.household.clone();
    let t = s.now();

    // Three events on two cameras, a day apart.
    let e1 = event(&home, "porch", t - 2 * 86_400_000, t - 2 * 86_400_000 + 10_000).await;
    let e2 = event(&home, "porch", t - 86_400_000, t - 86_400_000 + 10_000).await;
    let e3 = event(&home, "garden", t - 1000, t).await;

    // The timeline: one camera, one day; and everything newest first.
    let tl = home
        .owner
        .ok(
            Method::GET,
            &format!("/api/households/{hid}/events?camera=porch&from_ms={}&until_ms={}", t - 86_400_000 - 1, t),
            None,
        )
        .await;
    assert_eq!(tl.as_array().unwrap().len(), 1);
    assert_eq!(tl[0]["id"], e2.id.as_str());
    let all = home.owner.ok(Method::GET, &format!("/api/households/{hid}/events?order=desc"), None).await;
    let ids: Vec<_> = all.as_array().unwrap().iter().map(|e| e["id"].clone()).collect();
    assert_eq!(ids, vec![e3.id.clone(), e2.id.clone(), e1.id.clone()]);
    // The JSON the database builds is exactly the typed rows' JSON.
    let q = db::server::TimelineQuery {
        from_ms: 0,
        until_ms: i64::MAX,
        descending: true,
        limit: 200,
        ..Default::default()
    };
    let typed: Vec<api::types::EventJson> =
        s.state.db.timeline(&hid, &q).await.unwrap().into_iter().map(porchlight_api::types::event_json).collect();
    assert_eq!(serde_json::to_value(typed).unwrap(), all);

    // Download the clip: it verifies and decrypts with the owner's keys, not with others'.
    let clip_id = e3.clip_object.as_deref().unwrap();
    let r = home.owner.request(Method::GET, &format!("/api/objects/{clip_id}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sealed = r.bytes().await.unwrap();
    let (h, plain) = crypto::object::open(&home.owner_keys, &sealed).unwrap();
    assert_eq!(plain, vec![7u8; 300_000]);
    assert_eq!(h.meta.camera, "garden");
    let stranger = crypto::keys::Keyring::generate("stranger", t).unwrap();
    assert!(crypto::object::open(&stranger, &sealed).is_err());

    // The access is in the owner's log.
    let log = home.owner.ok(Method::GET, &format!("/api/households/{hid}/access-log"), None).await;
    assert_eq!(log[0]["object_id"], clip_id);
    assert_eq!(log[0]["email"], "owner@example.org");

    // Resuming a download: one byte range, across the object's chunk boundaries, is
    // exactly that slice; each part counts as an access.
    let total = sealed.len();
    let ranges = [
        ("bytes=0-".to_owned(), 0, total),
        ("bytes=99990-200009".to_owned(), 99_990, 200_010),
        ("bytes=250000-".to_owned(), 250_000, total),
        ("bytes=-10".to_owned(), total - 10, total),
        (format!("bytes=100-{}", total + 50), 100, total),
        (format!("bytes={}-{}", total - 1, total - 1), total - 1, total),
    ];
    for (range, a, b) in &ranges {
        let r = home.owner.request(Method::GET, &format!("/api/objects/{clip_id}")).header("range", range).send().await;
        let r = r.unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        let cr = r.headers()["content-range"].to_str().unwrap().to_owned();
        assert_eq!(cr, format!("bytes {a}-{}/{total}", b - 1), "{range}");
        assert_eq!(&r.bytes().await.unwrap()[..], &sealed[*a..*b], "{range}");
    }
    let log = home.owner.ok(Method::GET, &format!("/api/households/{hid}/access-log"), None).await;
    let opened = log.as_array().unwrap().iter().filter(|l| l["object_id"] == clip_id).count();
    assert_eq!(opened, 1 + ranges.len());
    let r =
        home.owner.request(Method::GET, &format!("/api/objects/{clip_id}")).header("range", format!("bytes={total}-"));
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()["content-range"], format!("bytes */{total}").as_str());
    for bad in ["items=0-1", "bytes=5-2", "bytes=a-", "bytes=-", "bytes=0-1,5-6"] {
        let r = home.owner.request(Method::GET, &format!("/api/objects/{clip_id}")).header("range", bad);
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().starts_with("Range:"), "{bad}: {body}");
    }

    // Retrying an upload changes nothing: same object id, no new chunks.
    let meta =
        crypto::object::Meta { kind: crypto::object::Kind::Clip, camera: "porch".into(), start_ms: t, end_ms: t + 1 };
    let sealed =
        crypto::object::seal(&home.device_keys.identity, meta, &[home.owner_keys.public().encryption], b"x").unwrap();
    let a = upload_sealed(&home.device, &sealed, 64).await;
    let b = upload_sealed(&home.device, &sealed, 64).await;
    assert_eq!(a, b);
    // A different chunking of the same object id is a conflict.
    let hashes: Vec<String> = sealed.chunks(32).map(blob::chunk_hash).collect();
    for (hsh, c) in hashes.iter().zip(sealed.chunks(32)) {
        home.device.request(Method::PUT, &format!("/api/chunks/{hsh}")).body(c.to_vec()).send().await.unwrap();
    }
    let (st, body) = home.device.call(Method::POST, "/api/objects", Some(json!({"chunks": hashes}))).await;
    assert_eq!(st, StatusCode::CONFLICT, "{body}");

    // A chunk whose bytes do not match its name is refused and not stored.
    let r = home
        .device
        .request(Method::PUT, &format!("/api/chunks/{}", blob::chunk_hash(b"a")))
        .body("b")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // An object signed by another device's key is refused.
    let other = crypto::keys::Keyring::generate("other", t).unwrap();
    let meta =
        crypto::object::Meta { kind: crypto::object::Kind::Clip, camera: "porch".into(), start_ms: t, end_ms: t };
    let forged = crypto::object::seal(&other.identity, meta, &[home.owner_keys.public().encryption], b"y").unwrap();
    let h = blob::chunk_hash(&forged);
    home.device.request(Method::PUT, &format!("/api/chunks/{h}")).body(forged.clone()).send().await.unwrap();
    let (st, body) = home.device.call(Method::POST, "/api/objects", Some(json!({"chunks": [h]}))).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body}");

    let report = blob::check(&s.state.db, &s.state.blobs).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    // A camera's own retention: the garden camera keeps nothing older than a minute; the
    // household's (30 days) still covers the porch.
    home.owner
        .ok(
            Method::PUT,
            &format!("/api/households/{hid}/cameras/garden/retention"),
            Some(json!({"retention_days": 0, "retention_bytes": 1})),
        )
        .await;
    let stats = blob::retention_pass(&s.state.db, s.now()).await.unwrap();
    assert_eq!(stats.events_deleted, 1, "only the garden event goes");
    let left = home.owner.ok(Method::GET, &format!("/api/households/{hid}/events"), None).await;
    assert_eq!(left.as_array().unwrap().len(), 2);
    let e3 = event(&home, "garden", t - 1000, t).await;
    home.owner.ok(Method::PUT, &format!("/api/households/{hid}/cameras/garden/retention"), Some(json!({}))).await;

    // Retention by days: one day removes the two-day-old event (the one exactly a day old
    // stays); its blobs go, the others stay.
    home.owner.ok(Method::PATCH, &format!("/api/households/{hid}"), Some(json!({"retention_days": 1}))).await;
    let stats = blob::retention_pass(&s.state.db, s.now()).await.unwrap();
    assert_eq!(stats.events_deleted, 1);
    // A crash here (rows gone, blobs not yet) is a consistent state: the doomed blobs are
    // neither problems nor orphans, and the next collection finishes the job.
    let mid = blob::check(&s.state.db, &s.state.blobs).await.unwrap();
    assert!(mid.problems.is_empty() && mid.orphan_blobs.is_empty(), "{mid:?}");
    assert!(mid.blobs > mid.chunks, "the doomed blobs are still there");
    assert!(blob::collect(&s.state.db, &s.state.blobs).await.unwrap() > 0);
    let after = blob::check(&s.state.db, &s.state.blobs).await.unwrap();
    assert_eq!(after.blobs, after.chunks);
    let all = home.owner.ok(Method::GET, &format!("/api/households/{hid}/events"), None).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let gone = e1.clip_object.as_deref().unwrap();
    let (st, _) = home.owner.call(Method::GET, &format!("/api/objects/{gone}"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Retention by bytes: a limit of one and a half events keeps the newest only; then a
    // limit below one event's size removes that too.
    let keep = e3.size_bytes * 3 / 2;
    home.owner
        .ok(
            Method::PATCH,
            &format!("/api/households/{hid}"),
            Some(json!({"retention_days": 0, "retention_bytes": keep})),
        )
        .await;
    let stats = blob::retention_pass(&s.state.db, s.now()).await.unwrap();
    assert_eq!(stats.events_deleted, 1);
    let all = home.owner.ok(Method::GET, &format!("/api/households/{hid}/events"), None).await;
    assert_eq!(all[0]["id"], e3.id.as_str());
    home.owner.ok(Method::PATCH, &format!("/api/households/{hid}"), Some(json!({"retention_bytes": 1000}))).await;
    let stats = blob::retention_pass(&s.state.db, s.now()).await.unwrap();
    assert_eq!(stats.events_deleted, 1);
    blob::collect(&s.state.db, &s.state.blobs).await.unwrap();

    // Abandoned pieces (the retried clip above, never named by an event; the forged
    // object's chunk) go after the upload grace period.
    s.advance(blob::gc::UPLOAD_GRACE_MS + 1);
    let stats = blob::retention_pass(&s.state.db, s.now()).await.unwrap();
    assert!(stats.orphan_objects >= 1, "{stats:?}");
    blob::collect(&s.state.db, &s.state.blobs).await.unwrap();
    let report = blob::check(&s.state.db, &s.state.blobs).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.chunks, 0, "every chunk row went with its footage");
    assert_eq!(report.blobs, 0, "every blob went with its row: {:?}", report.orphan_blobs);

    // An event deleted by the owner takes its blobs with it.
    let e4 = event(&home, "porch", s.now(), s.now() + 1000).await;
    let before = blob::check(&s.state.db, &s.state.blobs).await.unwrap();
    assert!(before.blobs > 0);
    home.owner.ok(Method::DELETE, &format!("/api/events/{}", e4.id.as_str()), None).await;
    let after = blob::check(&s.state.db, &s.state.blobs).await.unwrap();
    assert_eq!((after.chunks, after.blobs), (0, 0));
}

/// The timeline's JSON is built by each database's own SQL: a camera name that needs
/// escaping and an event without snapshot or clip come out as serde would write them.
async fn timeline_json_suite(s: &Server) {
    let home = home(s, "json@example.org").await;
    let t = s.now();
    let odd = "odd \"cam\" \\ é / ✓";
    let full = event(&home, odd, t - 2_000, t - 1_000).await;
    let meta = upload(&home, crypto::object::Kind::Event, "bare", t - 500, t, b"{}", 1 << 20).await;
    let mut d = home.device.clone();
    d.ok(Method::POST, "/api/events", Some(json!({"id": "ab".repeat(16), "meta_object": meta}))).await;
    let mut owner = home.owner.clone();
    let all = owner.ok(Method::GET, &format!("/api/households/{}/events", home.household), None).await;
    assert_eq!(all[0]["camera"], odd);
    assert_eq!(all[0]["id"], full.id.as_str());
    assert!(all[1]["clip_object"].is_null() && all[1]["snapshot_object"].is_null(), "{all}");
    let q = db::server::TimelineQuery { from_ms: 0, until_ms: i64::MAX, limit: 200, ..Default::default() };
    let typed: Vec<api::types::EventJson> = s
        .state
        .db
        .timeline(&home.household, &q)
        .await
        .unwrap()
        .into_iter()
        .map(porchlight_api::types::event_json)
        .collect();
    assert_eq!(serde_json::to_value(typed).unwrap(), all);
    let (st, v) =
        owner.call(Method::GET, &format!("/api/households/{}/events?camera=nowhere", home.household), None).await;
    assert_eq!((st, v), (StatusCode::OK, json!([])));
}

/// An agent back-filling after an outage uploads many events at once: every one is stored
/// (SQLite once answered "database is locked" to writers racing on a deferred transaction).
async fn concurrent_uploads_suite(s: &Server) {
    let home = home(s, "busy@example.org").await;
    let t = s.now();
    let uploads = (0..24).map(|i| event(&home, "busy", t - 60_000 * (i + 1), t - 60_000 * i - 1_000));
    let stored = futures::future::join_all(uploads).await;
    assert_eq!(stored.len(), 24);
    let mut owner = home.owner.clone();
    let all = owner.ok(Method::GET, &format!("/api/households/{}/events?camera=busy", home.household), None).await;
    assert_eq!(all.as_array().unwrap().len(), 24, "{all}");
}

/// An event with only its metadata object (cheaper to upload than [`event`]).
async fn bare_event(home: &Home, camera: &str, start_ms: i64) -> wire::EventJson {
    let meta = upload(home, crypto::object::Kind::Event, camera, start_ms, start_ms + 5_000, b"{}", 1 << 20).await;
    let mut id = [0u8; 16];
    crypto::random_bytes(&mut id);
    let e = wire::NewEvent {
        id: crypto::keys::hex(&id),
        meta_object: meta,
        snapshot_object: None,
        clip_object: None,
        notify: None,
        in_progress: None,
    };
    home.device.commit_event(&e).await.unwrap()
}

fn ids(page: &serde_json::Value) -> Vec<String> {
    page.as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
}

/// The timeline cache never serves a page older than the household's last change: a page
/// read again is a hit, and an upload or a deletion is in the very next read, also while
/// other members read the same page at the same time.
async fn timeline_cache_suite(s: &Server) {
    let home = home(s, "cache@example.org").await;
    let other = common::home(s, "cache-other@example.org").await;
    let hid = home.household.clone();
    let t = s.now();
    let day = format!("/api/households/{hid}/events?camera=door&from_ms={}&until_ms={}", t - 86_400_000, t + 60_000);
    let mut owner = home.owner.clone();
    let e1 = bare_event(&home, "door", t - 3_600_000).await;
    assert_eq!(ids(&owner.ok(Method::GET, &day, None).await), vec![e1.id.as_str()]);
    let before = s.state.db.timeline_cache_stats();
    assert_eq!(ids(&owner.ok(Method::GET, &day, None).await), vec![e1.id.as_str()]);
    let after = s.state.db.timeline_cache_stats();
    assert_eq!((after.hits - before.hits, after.misses - before.misses), (1, 0), "the second read is a hit");

    // Another household's upload keeps this page; this household's own drops it.
    bare_event(&other, "door", t - 60_000).await;
    owner.ok(Method::GET, &day, None).await;
    assert_eq!(s.state.db.timeline_cache_stats().hits - after.hits, 1);
    let e2 = bare_event(&home, "door", t - 1_800_000).await;
    let page = owner.ok(Method::GET, &day, None).await;
    assert_eq!(ids(&page), vec![e1.id.as_str(), e2.id.as_str()]);
    // A deletion, by the owner here (retention goes through the same call).
    owner.ok(Method::DELETE, &format!("/api/events/{}", e1.id.as_str()), None).await;
    assert_eq!(ids(&owner.ok(Method::GET, &day, None).await), vec![e2.id.as_str()]);

    // Readers hammer the page while events arrive one by one; after each upload returns,
    // the next read has it.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (mut c, day, stop) = (home.owner.clone(), day.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    c.ok(Method::GET, &day, None).await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut want = vec![e2.id.clone()];
    for i in 0..12 {
        let e = bare_event(&home, "door", t - 1_700_000 + i * 60_000).await;
        want.push(e.id.clone());
        assert_eq!(ids(&owner.ok(Method::GET, &day, None).await), want, "after upload {i}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }
    let q = db::server::TimelineQuery {
        camera: Some("door"),
        from_ms: t - 86_400_000,
        until_ms: t + 60_000,
        limit: 100,
        ..Default::default()
    };
    let typed: Vec<api::types::EventJson> =
        s.state.db.timeline(&hid, &q).await.unwrap().into_iter().map(porchlight_api::types::event_json).collect();
    assert_eq!(serde_json::to_value(typed).unwrap(), owner.ok(Method::GET, &day, None).await);
}

/// An object whose chunks do not hold the body its signed header describes (a byte
/// changed, a byte missing, a byte extra) is refused when committed, and nothing changes.
async fn altered_bodies_suite(s: &Server) {
    let home = home(s, "altered@example.org").await;
    let meta = crypto::object::Meta {
        kind: crypto::object::Kind::Clip,
        camera: "porch".into(),
        start_ms: s.now(),
        end_ms: s.now() + 1000,
    };
    let sealed =
        crypto::object::seal(&home.device_keys.identity, meta, &[home.owner_keys.public().encryption], &[9u8; 200_000])
            .unwrap();
    let header_len = crypto::object::Header::parse(&sealed).unwrap().len;
    let mut flipped = sealed.clone();
    flipped[header_len + 150_000] ^= 1;
    let short = sealed[..sealed.len() - 1].to_vec();
    let mut long = sealed.clone();
    long.push(0);
    for (what, bytes, want) in [
        ("a body byte changed", flipped, "does not match the SHA-256"),
        ("a byte short", short, "bytes, not the"),
        ("a byte extra", long, "more than the"),
    ] {
        let hashes: Vec<String> = bytes.chunks(64 * 1024).map(blob::chunk_hash).collect();
        let mut d = home.device.clone();
        for (h, c) in hashes.iter().zip(bytes.chunks(64 * 1024)) {
            let r = d.request(Method::PUT, &format!("/api/chunks/{h}")).body(c.to_vec()).send().await.unwrap();
            assert!(r.status().is_success());
        }
        let before = s.snapshot().await;
        let (st, v) = d.call(Method::POST, "/api/objects", Some(json!({"chunks": hashes}))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{what}: {v}");
        assert!(v["message"].as_str().unwrap().contains(want), "{what}: {v}");
        assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new(), "{what}: the refusal changed something");
    }
    // The object as sealed is taken.
    upload_sealed(&home.device, &sealed, 64 * 1024).await;
}

/// A blob no row names (a crash between storing a chunk and recording it) goes at the
/// sweep once it is old enough, and `check` stops listing it; blobs with rows stay.
/// Expired sessions, pairing offers and invitations go at the retention pass.
async fn sweeps_suite(s: &Server) {
    let mut home = home(s, "sweeps@example.org").await;
    let kept = upload(&home, crypto::object::Kind::Snapshot, "porch", s.now(), s.now(), b"kept", 1 << 20).await;
    let orphan = bytes::Bytes::from_static(b"a blob whose row was never written");
    let orphan_hash = blob::chunk_hash(&orphan);
    s.state.blobs.put_chunk(&orphan_hash, orphan).await.unwrap();
    let report = blob::check(&s.state.db, &s.state.blobs).await.unwrap();
    assert_eq!(report.orphan_blobs, vec![orphan_hash.clone()]);
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    // Too new: kept (it may be a chunk whose row is being written).
    assert_eq!(s.state.blobs.sweep_orphans(&s.state.db, wall - 60_000).await.unwrap(), 0);
    assert_eq!(s.state.blobs.sweep_orphans(&s.state.db, wall + 60_000).await.unwrap(), 1);
    let report = blob::check(&s.state.db, &s.state.blobs).await.unwrap();
    assert!(report.orphan_blobs.is_empty() && report.problems.is_empty(), "{report:?}");
    assert!(s.state.db.object(&kept).await.unwrap().is_some());

    // Expired credentials.
    let hid = home.household.clone();
    home.owner.ok(Method::POST, &format!("/api/households/{hid}/pairings"), None).await;
    home.owner.ok(Method::POST, &format!("/api/households/{hid}/invitations"), Some(json!({"role": "standard"}))).await;
    s.advance(15 * 86_400_000);
    let stats = blob::retention_pass(&s.state.db, s.now()).await.unwrap();
    assert!(stats.expired_rows >= 3, "the session, the pairing and the invitation: {stats:?}");
    let snap = s.snapshot().await;
    for t in ["pairing", "invitation", "session"] {
        assert!(snap.tables[t].is_empty(), "{t}: {:?}", snap.tables[t]);
    }
}

/// PostgreSQL runs transactions side by side (read committed): a deletion that found no
/// other reference to a chunk while an upload was adding one must not doom it, or the
/// collector would delete a blob the new object names. The upload's transaction is played
/// by hand here: it locks the chunk's row as `insert_object` does, the deletion runs
/// meanwhile, then the upload adds its reference and commits.
async fn doom_race_suite(s: &Server) {
    use sqlx::Row;
    let mut home = home(s, "race@example.org").await;
    let e = event(&home, "porch", s.now(), s.now() + 1000).await;
    let clip = e.clip_object.as_deref().unwrap().to_owned();
    let pool = s.state.db.pool();
    let hash: String = sqlx::query("SELECT hash FROM object_chunk WHERE object_id = $1 ORDER BY seq LIMIT 1")
        .bind(&clip)
        .fetch_one(pool)
        .await
        .unwrap()
        .get(0);
    let mut upload = pool.begin().await.unwrap();
    sqlx::query("UPDATE chunk SET size_bytes = size_bytes WHERE hash = $1")
        .bind(&hash)
        .execute(&mut *upload)
        .await
        .unwrap();
    let path = format!("/api/events/{}", e.id.as_str());
    let deletion = tokio::spawn(async move { home.owner.call(Method::DELETE, &path, None).await });
    // Give the deletion time to reach the chunk (were it quicker than this, it would see
    // the reference and the test could not fail either way).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let other = "f".repeat(32);
    sqlx::query(
        "INSERT INTO object (id, household_id, device_id, camera, kind, start_ms, end_ms, size_bytes, created_ms) \
         SELECT $1, household_id, device_id, camera, kind, start_ms, end_ms, size_bytes, created_ms FROM object WHERE id = $2",
    )
    .bind(&other)
    .bind(&clip)
    .execute(&mut *upload)
    .await
    .unwrap();
    sqlx::query("INSERT INTO object_chunk (object_id, seq, hash) VALUES ($1, 0, $2)")
        .bind(&other)
        .bind(&hash)
        .execute(&mut *upload)
        .await
        .unwrap();
    upload.commit().await.unwrap();
    let (st, v) = deletion.await.unwrap();
    assert!(st.is_success(), "{v}");
    let doomed =
        sqlx::query("SELECT 1 FROM doomed_chunk WHERE hash = $1").bind(&hash).fetch_optional(pool).await.unwrap();
    assert!(doomed.is_none(), "a chunk the new object names was doomed");
    assert!(s.state.db.chunk_size(&hash).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_on_sqlite_and_a_local_folder() {
    let s = Server::start_local().await;
    sweeps_suite(&s).await;
    altered_bodies_suite(&s).await;
    storage_suite(&s).await;
    timeline_json_suite(&s).await;
    concurrent_uploads_suite(&s).await;
    timeline_cache_suite(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_on_postgresql_and_s3() {
    let Some(pg) = testkit::Postgres::start() else { return };
    let Some(s3) = testkit::S3::start() else { return };
    let url = pg.fresh_database("storage");
    let loc = blob::Location::S3 {
        endpoint: s3.endpoint.clone(),
        bucket: "porchlight".into(),
        region: "us-east-1".into(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
    };
    let s = Server::start(&url, &loc, None).await;
    doom_race_suite(&s).await;
    sweeps_suite(&s).await;
    altered_bodies_suite(&s).await;
    storage_suite(&s).await;
    timeline_json_suite(&s).await;
    concurrent_uploads_suite(&s).await;
    timeline_cache_suite(&s).await;
}
