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

/// An upgrade and the version it reaches commit together: when recording the version fails
/// (as a crash right after the script would leave it), the script's tables are not there
/// either, and the next start upgrades cleanly instead of refusing to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_moves_the_version_in_its_own_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("s.db").display());
    let old = Db::open_at(&url, SCHEMA_VERSION - 1).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER crash BEFORE UPDATE ON meta BEGIN SELECT RAISE(ABORT, 'crashed before the version moved'); END",
    )
    .execute(old.pool())
    .await
    .unwrap();
    let before = schema_dump(&old).await.unwrap();
    old.close().await;

    let e = Db::open(&url).await.err().expect("the version could not be recorded");
    assert!(e.to_string().contains("crashed before the version moved"), "{e}");
    let again = Db::open_at(&url, SCHEMA_VERSION - 1).await.unwrap();
    assert_eq!(schema_dump(&again).await.unwrap(), before, "the script's changes were kept without the version");
    sqlx::query("DROP TRIGGER crash").execute(again.pool()).await.unwrap();
    again.close().await;

    let upgraded = Db::open(&url).await.unwrap();
    let (v,): (i64,) = sqlx::query_as("SELECT version FROM meta").fetch_one(upgraded.pool()).await.unwrap();
    assert_eq!(v, SCHEMA_VERSION);
}
