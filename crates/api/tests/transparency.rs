//! The transparency log over the API, on SQLite and PostgreSQL: heads, entries and proofs
//! that a client checks with nothing but `crypto::tlog` and the last head it kept.

mod common;

use porchlight_api as api;

use api::log::{Entry, Record};
use common::*;
use crypto::keys::unhex;
use crypto::tlog::{self, Hash, SignedTreeHead};
use reqwest::{Method, StatusCode};
use serde_json::Value;

fn hash(v: &Value) -> Hash {
    unhex(v.as_str().unwrap()).unwrap().try_into().unwrap()
}

fn hashes(v: &Value) -> Vec<Hash> {
    v["hashes"].as_array().unwrap().iter().map(hash).collect()
}

async fn head(c: &mut Client) -> SignedTreeHead {
    let h = c.ok(Method::GET, "/api/log/head", None).await;
    let signed = unhex(h["signed"].as_str().unwrap()).unwrap();
    let head = SignedTreeHead::parse(&signed).unwrap();
    assert_eq!(head.head.size, h["size"].as_u64().unwrap());
    assert_eq!(head.head.root, hash(&h["root"]));
    head
}

fn demand(i: usize, now: i64) -> db::server::NewLogEntry {
    Record::new(
        Entry::LegalDemand {
            authority: format!("Court {i}"),
            reference: format!("case {i}"),
            demanded: "subscriber records".into(),
            produced: "account creation time".into(),
        },
        now,
    )
    .to_row()
}

async fn log_suite(s: &Server) {
    let mut c = Client::anonymous(s);
    let empty = head(&mut c).await;
    assert_eq!(empty.head.size, 0);
    assert_eq!(empty.head.root, tlog::empty_root());
    assert_eq!(empty.log_key, s.state.settings.log_key.0.public());

    // 37 entries, appended in batches of different sizes, as concurrent requests would.
    let mut bodies = Vec::new();
    for batch in [1usize, 2, 7, 1, 26] {
        let rows: Vec<_> = (0..batch).map(|i| demand(bodies.len() + i, s.now())).collect();
        let first = s.state.db.log_append(&rows).await.unwrap();
        assert_eq!(first as usize, bodies.len());
        bodies.extend(rows.into_iter().map(|r| r.body));
        if bodies.len() == 10 {
            let h10 = head(&mut c).await;
            assert_eq!(h10.head.size, 10);
        }
    }
    let leaves: Vec<Hash> = bodies.iter().map(|b| tlog::leaf_hash(b.as_bytes())).collect();
    let h = head(&mut c).await;
    assert_eq!(h.head.size, 37);
    assert_eq!(h.head.root, tlog::root(&leaves));
    // The same size gives the same signed head, time and all.
    assert_eq!(head(&mut c).await, h);
    let kept = c.ok(Method::GET, "/api/log/heads/10", None).await;
    let h10 = SignedTreeHead::parse(&unhex(kept["signed"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(h10.head.root, tlog::root(&leaves[..10]));
    assert_eq!(c.call(Method::GET, "/api/log/heads/11", None).await.0, StatusCode::NOT_FOUND);

    // Entries come back byte for byte, and parse.
    let e = c.ok(Method::GET, "/api/log/entries?start=0&end=37", None).await;
    let got: Vec<&str> = e["entries"].as_array().unwrap().iter().map(|e| e["body"].as_str().unwrap()).collect();
    assert_eq!(got, bodies.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(matches!(Record::parse(got[3]).unwrap().entry, Entry::LegalDemand { .. }));

    // Every inclusion proof at two sizes, and consistency from every older size.
    for size in [10u64, 37] {
        let root = tlog::root(&leaves[..size as usize]);
        for i in 0..size {
            let p = c.ok(Method::GET, &format!("/api/log/proof/inclusion?index={i}&size={size}"), None).await;
            tlog::verify_inclusion(&leaves[i as usize], i, size, &hashes(&p), &root).unwrap();
        }
    }
    for from in 0..=37u64 {
        let p = c.ok(Method::GET, &format!("/api/log/proof/consistency?from={from}&to=37"), None).await;
        let old = tlog::root(&leaves[..from as usize]);
        tlog::verify_consistency(from, 37, &old, &h.head.root, &hashes(&p)).unwrap();
    }

    // Bad requests name their field and change nothing.
    for (path, field) in [
        ("/api/log/entries?start=0&end=38", "end"),
        ("/api/log/entries?start=5&end=4", "end"),
        ("/api/log/entries?start=-1&end=4", "start"),
        ("/api/log/entries?start=0", "query"),
        ("/api/log/proof/inclusion?index=37&size=37", "inclusion proof"),
        ("/api/log/proof/inclusion?index=0&size=38", "size"),
        ("/api/log/proof/consistency?from=5&to=4", "consistency proof"),
        ("/api/log/proof/consistency?from=1&to=38", "size"),
        ("/api/log/proof/consistency?from=x&to=3", "query"),
    ] {
        let (st, v) = c.call(Method::GET, path, None).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert!(v["message"].as_str().unwrap().starts_with(field), "{path}: {v}");
    }
    assert_eq!(head(&mut c).await, h);

    // The server remembers the largest size it has seen; a log that grew past it still
    // proves at its new size, and refuses one beyond that.
    let row = demand(37, s.now());
    s.state.db.log_append(std::slice::from_ref(&row)).await.unwrap();
    let mut leaves = leaves;
    leaves.push(tlog::leaf_hash(row.body.as_bytes()));
    let p = c.ok(Method::GET, "/api/log/proof/inclusion?index=37&size=38", None).await;
    tlog::verify_inclusion(&leaves[37], 37, 38, &hashes(&p), &tlog::root(&leaves)).unwrap();
    let (st, v) = c.call(Method::GET, "/api/log/proof/consistency?from=1&to=39", None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_over_the_api_on_sqlite() {
    log_suite(&Server::start_local().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_over_the_api_on_postgresql() {
    let Some(pg) = testkit::Postgres::start() else { return };
    let url = pg.fresh_database("transparency");
    let s = Server::start(&url, &blob::Location::Local(tempfile::tempdir().unwrap().keep()), None).await;
    log_suite(&s).await;
}
