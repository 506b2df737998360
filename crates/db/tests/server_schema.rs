//! The server schema: the same tables, columns and indexes on SQLite and PostgreSQL;
//! reopening changes nothing; a database from a newer build is refused.

use std::collections::BTreeSet;

use porchlight_db::server::{Db, SCHEMA_VERSION, schema_dump};

/// `table.column` and `index name` entries, without the types (whose names differ between
/// the two databases).
async fn shape(db: &Db) -> BTreeSet<String> {
    schema_dump(db)
        .await
        .unwrap()
        .into_iter()
        .map(|l| {
            let mut it = l.split_whitespace();
            let first = it.next().unwrap().to_lowercase();
            if first == "index" { format!("index {}", it.next().unwrap().to_lowercase()) } else { first }
        })
        .filter(|l| !l.contains("autoindex") && !l.ends_with("_pkey") && !l.ends_with("_key"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgresql_get_the_same_schema() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("s.db").display());
    let sqlite = Db::open(&url).await.unwrap();
    let lite = shape(&sqlite).await;
    assert!(lite.contains("event.start_ms") && lite.contains("index event_household_camera_start"), "{lite:?}");

    // Reopening an existing database is a no-op.
    let before = schema_dump(&sqlite).await.unwrap();
    sqlite.close().await;
    let again = Db::open(&url).await.unwrap();
    assert_eq!(schema_dump(&again).await.unwrap(), before);

    // A database from a newer build is refused, naming both versions.
    sqlx::query("UPDATE meta SET version = 99").execute(again.pool()).await.unwrap();
    again.close().await;
    let e = Db::open(&url).await.err().expect("refused");
    assert!(e.to_string().contains(&format!("schema version 99 is newer than this build's {SCHEMA_VERSION}")), "{e}");

    let Some(pg) = testkit::Postgres::start() else { return };
    let pgdb = Db::open(&pg.fresh_database("schema")).await.unwrap();
    assert_eq!(shape(&pgdb).await, lite, "PostgreSQL and SQLite schemas differ");
}

/// Builds a database at version 1 with an account in it, upgrades it, and compares it with
/// a fresh one: the same tables, columns, types, defaults and indexes, and the row kept.
async fn upgrade_and_compare(old_url: &str, fresh_url: &str) {
    let old = Db::open_at(old_url, 1).await.unwrap();
    old.insert_account("a1", "old@example.org", "phc", &[1; 20], 5).await.unwrap();
    assert!(!schema_dump(&old).await.unwrap().iter().any(|l| l.starts_with("passkey.")), "v1 has no passkeys");
    old.close().await;

    let upgraded = Db::open(old_url).await.unwrap();
    let fresh = Db::open(fresh_url).await.unwrap();
    assert_eq!(
        schema_dump(&upgraded).await.unwrap(),
        schema_dump(&fresh).await.unwrap(),
        "upgraded differs from fresh"
    );
    let (v,): (i64,) = sqlx::query_as("SELECT version FROM meta").fetch_one(upgraded.pool()).await.unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let a = upgraded.account_by_email("old@example.org").await.unwrap().expect("the account survives");
    assert_eq!(a.id, "a1");
    assert!(upgraded.passkeys("a1").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgraded_equals_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let old = format!("sqlite:{}", dir.path().join("old.db").display());
    let fresh = format!("sqlite:{}", dir.path().join("fresh.db").display());
    upgrade_and_compare(&old, &fresh).await;

    let e = Db::open_at(&fresh, SCHEMA_VERSION + 1).await.err().expect("refused");
    assert!(e.to_string().contains("schema version: expected 1 to"), "{e}");

    let Some(pg) = testkit::Postgres::start() else { return };
    upgrade_and_compare(&pg.fresh_database("upgrade_old"), &pg.fresh_database("upgrade_fresh")).await;
}
