//! A household's roster only moves forward: on SQLite and on PostgreSQL, a serial that is
//! not higher than the stored one changes nothing, even when two writers race.

use porchlight_db::server::{Db, Household};

async fn forward_only(db: &Db) {
    db.insert_account("o", "o@example.org", "phc", &[0; 20], 1).await.unwrap();
    let h = Household {
        id: "h".repeat(32),
        name: "Home".into(),
        owner_id: "o".into(),
        retention_days: 30,
        retention_bytes: 1 << 30,
        webhook_url: None,
        created_ms: 1,
        webhook_secret: None,
    };
    db.insert_household(&h).await.unwrap();
    assert_eq!(db.roster(&h.id).await.unwrap(), None);
    assert!(db.set_roster(&h.id, 1, b"one", 10).await.unwrap());
    assert!(!db.set_roster(&h.id, 1, b"again", 11).await.unwrap());
    assert!(!db.set_roster(&h.id, 0, b"older", 12).await.unwrap());
    assert_eq!(db.roster(&h.id).await.unwrap(), Some((1, b"one".to_vec())));
    for serial in 2..12 {
        let (a, b) = tokio::join!(db.set_roster(&h.id, serial, b"a", 20), db.set_roster(&h.id, serial, b"b", 20));
        assert_eq!([a.unwrap(), b.unwrap()].iter().filter(|x| **x).count(), 1, "serial {serial}: exactly one wins");
    }
    assert_eq!(db.roster(&h.id).await.unwrap().unwrap().0, 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rosters_only_move_forward() {
    let dir = tempfile::tempdir().unwrap();
    forward_only(&Db::open(&format!("sqlite:{}", dir.path().join("s.db").display())).await.unwrap()).await;
    let Some(pg) = testkit::Postgres::start() else { return };
    forward_only(&Db::open(&pg.fresh_database("roster_forward")).await.unwrap()).await;
}
