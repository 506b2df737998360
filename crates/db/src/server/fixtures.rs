//! Bulk rows for benchmarks: millions of events or posts, inserted many to a statement in
//! transactions of 500, far faster than the API. The statements are built from the
//! numbers and ids given here, which the benchmarks generate; never from input.

use base::{Error, ErrorKind};

use super::{Backend, Db};

fn sql(e: sqlx::Error) -> Error {
    Error::wrap(ErrorKind::Internal, "seeding", e)
}

/// The strings these statements quote: letters, digits, spaces, `-`, `_`, `.` and `@`
/// only, so nothing can end a quoted literal.
fn plain(field: &str, s: &str) -> Result<(), Error> {
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || " -_.@".contains(c)) {
        base::bail!(InvalidArgument, "{field}: {s:?} has characters a fixture does not quote");
    }
    Ok(())
}

/// Events `first..first + count` of a benchmark household: event `n` starts at
/// `start_ms + n * step_ms`, lasts 10 s, is on camera `cam{n % 4}` and has one 400-byte
/// `event` object. Ids are `n * 2` (the object) and `n * 2 + 1` (the event), in hex.
pub async fn insert_events(
    db: &Db,
    household: &str,
    device: &str,
    start_ms: i64,
    step_ms: i64,
    first: i64,
    count: i64,
) -> Result<(), Error> {
    plain("household", household)?;
    plain("device", device)?;
    let mut i = first;
    let end = first + count;
    while i < end {
        let k = 500.min(end - i);
        let mut objs = String::from(
            "INSERT INTO object (id, household_id, device_id, camera, kind, start_ms, end_ms, size_bytes, created_ms) VALUES ",
        );
        let mut evs = String::from(
            "INSERT INTO event (id, household_id, device_id, camera, start_ms, end_ms, meta_object, snapshot_object, clip_object, size_bytes, created_ms) VALUES ",
        );
        for j in 0..k {
            let n = i + j;
            let t0 = start_ms + n * step_ms;
            let cam = format!("cam{}", n % 4);
            let (oid, eid) = (format!("{:032x}", n * 2), format!("{:032x}", n * 2 + 1));
            let sep = if j == 0 { "" } else { "," };
            objs.push_str(&format!(
                "{sep}('{oid}', '{household}', '{device}', '{cam}', 'event', {t0}, {}, 400, {t0})",
                t0 + 10_000
            ));
            evs.push_str(&format!(
                "{sep}('{eid}', '{household}', '{device}', '{cam}', {t0}, {}, '{oid}', NULL, NULL, 400, {t0})",
                t0 + 10_000
            ));
        }
        let mut tx = db.pool().begin().await.map_err(sql)?;
        sqlx::query(sqlx::AssertSqlSafe(objs)).execute(&mut *tx).await.map_err(sql)?;
        sqlx::query(sqlx::AssertSqlSafe(evs)).execute(&mut *tx).await.map_err(sql)?;
        tx.commit().await.map_err(sql)?;
        i += k;
    }
    Ok(())
}

/// Households `ids`, named `name` and owned by `owner`, with homes whose cell chains
/// (resolutions 8, 7, 6, 5, as `community::home_chain` gives them) are `chains`, and the
/// per-cell counts `set_home` keeps; `owner` is a member of the first `members` of them.
pub async fn insert_households(
    db: &Db,
    owner: &str,
    name: &str,
    ids: &[String],
    chains: &[[i64; 4]],
    members: usize,
    now: i64,
) -> Result<(), Error> {
    plain("owner", owner)?;
    plain("name", name)?;
    ids.iter().try_for_each(|id| plain("ids", id))?;
    if chains.len() != ids.len() {
        base::bail!(InvalidArgument, "chains: expected one per id ({}), got {}", ids.len(), chains.len());
    }
    let point = if db.backend() == Backend::Postgres { "'\\x00'::bytea" } else { "x'00'" };
    for chunk in (0..ids.len()).collect::<Vec<_>>().chunks(500) {
        let mut hs = String::from(
            "INSERT INTO household (id, name, owner_id, retention_days, retention_bytes, webhook_url, created_ms) VALUES ",
        );
        let mut ms = String::from(
            "INSERT INTO member (household_id, account_id, role, window_from_ms, window_until_ms, created_ms) VALUES ",
        );
        let mut ho = String::from(
            "INSERT INTO home (household_id, cell8, cell7, cell6, cell5, sealed_point, updated_ms) VALUES ",
        );
        for (j, &i) in chunk.iter().enumerate() {
            let sep = if j == 0 { "" } else { "," };
            let [c8, c7, c6, c5] = chains[i];
            hs.push_str(&format!("{sep}('{}', '{name}', '{owner}', 30, 0, NULL, {now})", ids[i]));
            if i < members {
                let sep = if ms.ends_with("VALUES ") { "" } else { "," };
                ms.push_str(&format!("{sep}('{}', '{owner}', 'owner', NULL, NULL, {now})", ids[i]));
            }
            ho.push_str(&format!("{sep}('{}', {c8}, {c7}, {c6}, {c5}, {point}, {now})", ids[i]));
        }
        let mut tx = db.pool().begin().await.map_err(sql)?;
        sqlx::query(sqlx::AssertSqlSafe(hs)).execute(&mut *tx).await.map_err(sql)?;
        if !ms.ends_with("VALUES ") {
            sqlx::query(sqlx::AssertSqlSafe(ms)).execute(&mut *tx).await.map_err(sql)?;
        }
        sqlx::query(sqlx::AssertSqlSafe(ho)).execute(&mut *tx).await.map_err(sql)?;
        tx.commit().await.map_err(sql)?;
    }
    sqlx::query("INSERT INTO home_count (cell8, n) SELECT cell8, COUNT(*) FROM home GROUP BY cell8")
        .execute(db.pool())
        .await
        .map_err(sql)?;
    Ok(())
}

/// A post for [`insert_posts`].
pub struct BulkPost {
    pub id: String,
    pub household: String,
    pub author: String,
    pub area_cell: i64,
    pub created_ms: i64,
}

/// Posts (category `general`, one short body), 500 to a statement.
pub async fn insert_posts(db: &Db, posts: &[BulkPost]) -> Result<(), Error> {
    for p in posts {
        plain("id", &p.id)?;
        plain("household", &p.household)?;
        plain("author", &p.author)?;
    }
    for chunk in posts.chunks(500) {
        let mut ps = String::from(
            "INSERT INTO post (id, household_id, author_id, category, body, area_cell, created_ms, edited_ms) VALUES ",
        );
        for (j, p) in chunk.iter().enumerate() {
            let sep = if j == 0 { "" } else { "," };
            ps.push_str(&format!(
                "{sep}('{}', '{}', '{}', 'general', 'Seen near the park', {}, {}, NULL)",
                p.id, p.household, p.author, p.area_cell, p.created_ms
            ));
        }
        sqlx::query(sqlx::AssertSqlSafe(ps)).execute(db.pool()).await.map_err(sql)?;
    }
    Ok(())
}

/// How many events household `household` has (a benchmark's seed resumes from there).
pub async fn count_events(db: &Db, household: &str) -> Result<i64, Error> {
    use sqlx::Row;
    let r = sqlx::query("SELECT COUNT(*) FROM event WHERE household_id = $1")
        .bind(household)
        .fetch_one(db.pool())
        .await
        .map_err(sql)?;
    Ok(r.get(0))
}

/// How many posts there are, over all households.
pub async fn count_posts(db: &Db) -> Result<i64, Error> {
    use sqlx::Row;
    Ok(sqlx::query("SELECT COUNT(*) FROM post").fetch_one(db.pool()).await.map_err(sql)?.get(0))
}

/// The ids of the households named `name`, in order.
pub async fn households_named(db: &Db, name: &str) -> Result<Vec<String>, Error> {
    use sqlx::Row;
    let rows = sqlx::query("SELECT id FROM household WHERE name = $1 ORDER BY id")
        .bind(name)
        .fetch_all(db.pool())
        .await
        .map_err(sql)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
