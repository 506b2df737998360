//! Removing passkeys never leaves an account without a second factor, even when two
//! removals race: on SQLite and on PostgreSQL, one of each concurrent pair is refused.

use porchlight_db::server::{Db, PasskeyRow};

fn row(id: &str, account: &str) -> PasskeyRow {
    PasskeyRow {
        id: id.to_owned(),
        account_id: account.to_owned(),
        credential_id: format!("cred-{id}"),
        name: id.to_owned(),
        credential: "{}".to_owned(),
        created_ms: 1,
        last_used_ms: None,
    }
}

async fn races(db: &Db) {
    for round in 0..20 {
        let account = format!("acct{round}");
        db.insert_account(&account, &format!("{account}@example.org"), "phc", &[0; 20], 1).await.unwrap();
        let (a, b) = (format!("{account}a"), format!("{account}b"));
        db.insert_passkey(&row(&a, &account)).await.unwrap();
        db.insert_passkey(&row(&b, &account)).await.unwrap();
        let (ra, rb) = tokio::join!(db.delete_passkey(&a, &account), db.delete_passkey(&b, &account));
        let passed = [&ra, &rb].iter().filter(|r| matches!(r, Ok(true))).count();
        let refused =
            [&ra, &rb].iter().filter(|r| matches!(r, Err(e) if e.to_string().contains("only second factor"))).count();
        assert_eq!((passed, refused), (1, 1), "round {round}: {ra:?} {rb:?}");
        assert_eq!(db.passkeys(&account).await.unwrap().len(), 1, "round {round}");
    }
    // A confirmed TOTP is a second factor too: then the last passkey may go.
    db.insert_account("t", "t@example.org", "phc", &[0; 20], 1).await.unwrap();
    db.use_totp_step("t", 5, true).await.unwrap();
    db.insert_passkey(&row("only", "t")).await.unwrap();
    assert!(db.delete_passkey("only", "t").await.unwrap());
    assert!(!db.delete_passkey("only", "t").await.unwrap(), "already gone");
    // The same credential cannot be registered twice, to any account.
    db.insert_passkey(&row("x", "t")).await.unwrap();
    let e = db.insert_passkey(&PasskeyRow { id: "y".into(), ..row("x", "acct0") }).await.unwrap_err();
    assert!(e.to_string().contains("already registered"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_removals_keep_a_second_factor() {
    let dir = tempfile::tempdir().unwrap();
    races(&Db::open(&format!("sqlite:{}", dir.path().join("s.db").display())).await.unwrap()).await;
    let Some(pg) = testkit::Postgres::start() else { return };
    races(&Db::open(&pg.fresh_database("passkey_races")).await.unwrap()).await;
}
