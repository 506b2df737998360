//! `porchlight verify-log` against the real server: it accepts a log that only grows, and
//! fails loudly on an entry changed in the database, on a history rewritten with every hash
//! recomputed, and on a fork (two servers with the same key showing different histories),
//! which two verifiers comparing their heads catch.

mod common;

use std::path::{Path, PathBuf};

use api::log::{Entry, Record};
use common::web::ServerProc;
use common::*;

fn demand(i: usize, who: &str) -> db::server::NewLogEntry {
    Record::new(
        Entry::LegalDemand {
            authority: format!("{who} court {i}"),
            reference: format!("case {i}"),
            demanded: "subscriber records".into(),
            produced: "account creation time".into(),
        },
        1_790_000_000_000 + i as i64,
    )
    .to_row()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn db_url(data: &Path) -> String {
    format!("sqlite:{}", data.join("server.db").display())
}

/// Appends to a server's log straight into its database (as its own code would).
fn append(data: &Path, entries: &[db::server::NewLogEntry]) {
    rt().block_on(async {
        let db = db::server::Db::open(&db_url(data)).await.unwrap();
        db.log_append(entries).await.unwrap();
        db.close().await;
    });
}

fn sql(data: &Path, statements: &[&str]) {
    rt().block_on(async {
        let db = db::server::Db::open(&db_url(data)).await.unwrap();
        for s in statements {
            sqlx::query(sqlx::AssertSqlSafe(s.to_string())).execute(db.pool()).await.unwrap();
        }
        db.close().await;
    });
}

fn verify(url: &str, state: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["verify-log", url, "--state", state.to_str().unwrap()];
    args.extend_from_slice(extra);
    porchlight(&args)
}

fn last_line(s: &str) -> String {
    s.lines().last().unwrap_or_default().trim().to_owned()
}

fn evidence(state: &Path) -> Vec<PathBuf> {
    let dir = state.parent().unwrap();
    let stem = state.file_stem().unwrap().to_str().unwrap().to_owned();
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&format!("{stem}.conflict-")))
        .collect()
}

#[test]
fn verify_log_catches_tampering_rewrites_and_forks() {
    let dir = tempfile::tempdir().unwrap();
    let d1 = dir.path().join("one");
    // First start: the server makes its log key.
    let mut s1 = ServerProc::start(&d1);
    s1.kill9();
    let data1 = s1.data_dir.clone();
    assert_eq!(std::fs::read(data1.join("log.key")).unwrap().len(), 32);
    append(&data1, &(0..5).map(|i| demand(i, "shared")).collect::<Vec<_>>());

    // A fork: the same key and the same first five entries, then different sixth ones.
    let d2 = dir.path().join("two");
    let data2 = d2.join("data");
    std::fs::create_dir_all(&data2).unwrap();
    for f in ["server.db", "log.key"] {
        std::fs::copy(data1.join(f), data2.join(f)).unwrap();
    }
    append(&data1, &[demand(5, "first")]);
    append(&data2, &[demand(5, "second")]);
    let s1 = ServerProc::start(&d1);
    let s2 = ServerProc::start(&d2);

    // A first run trusts what it sees and checks that the entries hash to the head.
    let a = dir.path().join("a.json");
    let (ok, out) = verify(&s1.url, &a, &["--print-head"]);
    assert!(ok, "{out}");
    assert!(out.contains("6 entries") && out.contains("6 new entries checked"), "{out}");
    let head_a = last_line(&out);
    // The log grows: the next run checks consistency and only the new entries.
    append(&data1, &[demand(6, "first"), demand(7, "first")]);
    let (ok, out) = verify(&s1.url, &a, &["--entry", "3", "--print-head"]);
    assert!(ok, "{out}");
    assert!(out.contains("consistent with the 6 seen before") && out.contains("2 new entries checked"), "{out}");
    assert!(out.contains("entry 3 (proved in the tree of 8 entries)") && out.contains("shared court 3"), "{out}");
    let head_a8 = last_line(&out);
    let (ok, out) = verify(&s1.url, &a, &[]);
    assert!(ok && out.contains("0 new entries checked"), "{out}");

    // The fork: B sees six entries too, with another sixth; comparing heads catches it,
    // whatever the sizes.
    let b = dir.path().join("b.json");
    let (ok, out) = verify(&s2.url, &b, &[]);
    assert!(ok, "on its own, a fork looks like a log: {out}");
    for peer in [&head_a, &head_a8] {
        let (ok, out) = verify(&s2.url, &b, &["--peer-head", peer]);
        assert!(!ok && out.contains("FORK"), "{out}");
    }
    let (ok, out) = verify(&s1.url, &a, &["--peer-head", &head_a]);
    assert!(ok && out.contains("one history"), "an older head of the same log is no fork: {out}");

    // One entry's text changed in the database: its inclusion proof fails, and a new
    // verifier finds that the entries do not hash to the head.
    sql(&data1, &["UPDATE log_entry SET body = replace(body, 'shared court 2', 'shared court 9') WHERE idx = 2"]);
    let (ok, out) = verify(&s1.url, &a, &["--entry", "2"]);
    assert!(!ok && out.contains("ENTRY 2 IS NOT IN THE SIGNED LOG"), "{out}");
    let (ok, out) = verify(&s1.url, &dir.path().join("c.json"), &[]);
    assert!(!ok && out.contains("DOES NOT MATCH ITS HEAD"), "{out}");

    // The whole history rewritten with every hash recomputed (and the kept heads deleted):
    // a consistent tree on its own, but not an extension of what A saw.
    let mut rewritten: Vec<_> = (0..5).map(|i| demand(i, "shared")).collect();
    rewritten[2] = demand(2, "rewritten");
    rewritten.extend([demand(5, "first"), demand(6, "first"), demand(7, "first"), demand(8, "first")]);
    sql(
        &data1,
        &["DELETE FROM log_entry", "DELETE FROM log_node", "DELETE FROM log_head", "UPDATE log_state SET size = 0"],
    );
    append(&data1, &rewritten);
    assert!(evidence(&a).is_empty());
    let (ok, out) = verify(&s1.url, &a, &[]);
    assert!(!ok && out.contains("THE LOG'S HISTORY WAS REWRITTEN"), "{out}");
    let kept = evidence(&a);
    assert_eq!(kept.len(), 1, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&kept[0]).unwrap()).unwrap();
    assert_eq!(doc["kept_head"].as_str().unwrap(), head_a8, "the evidence holds the head A had accepted");
    // A kept head stays what it was: the next run fails again.
    let (ok, _) = verify(&s1.url, &a, &[]);
    assert!(!ok);
    // Bad arguments are named.
    let (ok, out) = verify("ftp://x", &a, &[]);
    assert!(!ok && out.contains("url: expected http"), "{out}");
    let (ok, out) = verify(&s2.url, &b, &["--peer-head", "zz"]);
    assert!(!ok && out.contains("--peer-head 1: expected hex"), "{out}");
}

/// A logged key change is followed (the old key signs the head that holds it); a key
/// swapped in without one is refused.
#[test]
fn verify_log_follows_a_logged_key_change_and_refuses_a_silent_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("s");
    let mut s = ServerProc::start(&d);
    s.kill9();
    let data = s.data_dir.clone();
    append(&data, &(0..4).map(|i| demand(i, "before")).collect::<Vec<_>>());
    let mut s = ServerProc::start(&d);
    let a = dir.path().join("a.json");
    let (ok, out) = verify(&s.url, &a, &[]);
    assert!(ok, "{out}");
    s.kill9();

    let (ok, out) = porchlight(&["log-key-rotate", "--config", s.config.to_str().unwrap(), "--reason", "x"]);
    assert!(!ok && out.contains("--reason"), "{out}");
    let (ok, out) =
        porchlight(&["log-key-rotate", "--config", s.config.to_str().unwrap(), "--reason", "yearly rotation"]);
    assert!(ok, "{out}");
    assert!(out.contains("log key changed"), "{out}");
    append(&data, &[demand(4, "after")]);
    let mut s = ServerProc::start(&d);
    let (ok, out) = verify(&s.url, &a, &["--entry", "4"]);
    assert!(ok, "{out}");
    assert!(out.contains("the log key changed") && out.contains("consistent with the 4 seen before"), "{out}");
    // A fresh verifier checks the change from the start too.
    let (ok, out) = verify(&s.url, &dir.path().join("fresh.json"), &[]);
    assert!(ok && out.contains("the log key changed"), "{out}");
    s.kill9();

    // Another key swapped in without an entry: refused, and the evidence kept.
    std::fs::remove_file(data.join("log.key")).unwrap();
    std::fs::write(data.join("log.key"), [7u8; 32]).unwrap();
    append(&data, &[demand(5, "silent")]);
    let s = ServerProc::start(&d);
    let (ok, out) = verify(&s.url, &a, &[]);
    assert!(!ok && out.contains("no logged key change leads to it"), "{out}");
    assert_eq!(evidence(&a).len(), 1);
}
