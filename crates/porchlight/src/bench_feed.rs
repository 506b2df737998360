//! `porchlight bench feed`: the neighbourhood feed's latency with many households and posts
//! stored (BENCHMARKS.md), over real HTTP on loopback against the in-process server.
//!
//! A simulated town (`community::town`) gives every household a home; posts are spread
//! over a year, each from a random household with the area `community::post_area` gives
//! it. Each query is one household's feed with the widest radius, one page.

use std::time::Instant;

use base::{Error, ErrorKind, bail, err};
use db::server::Db;

#[derive(clap::Args)]
pub struct FeedArgs {
    /// `sqlite:PATH` or `postgres://…`; seeded once, then reused.
    #[arg(long)]
    pub database: String,
    #[arg(long, default_value_t = 200_000)]
    pub households: usize,
    #[arg(long, default_value_t = 1_000_000)]
    pub posts: usize,
    /// Feed requests, one after another.
    #[arg(long, default_value_t = 2_000)]
    pub queries: usize,
    #[arg(long, default_value_t = 8_000.0)]
    pub radius_m: f64,
}

const NAME: &str = "bench-feed";
/// The households whose feeds are read: the bench account is a member of these only (an
/// account in 200,000 households is not what is measured). Their homes are spread over
/// the town like everyone's: households are generated in random order.
const VIEWERS: usize = 1_000;

pub fn feed(a: FeedArgs) -> Result<(), Error> {
    community::check_radius("--radius-m", a.radius_m)?;
    if a.households < 2 || a.posts == 0 || a.queries == 0 {
        bail!(InvalidArgument, "--households at least 2, --posts and --queries at least 1");
    }
    crate::server_runtime(&a.database)?.block_on(async {
        let db = Db::open(&a.database).await?;
        let (owner, households) = seed(&db, &a).await?;
        let scratch = std::env::temp_dir().join(format!("porchlight-bench-feed-{}", std::process::id()));
        let blobs = blob::BlobStore::open(&blob::Location::Local(scratch.clone()))?;
        let (tid, secret) = (api::secrets::random_hex(16), api::secrets::random_hex(32));
        db.insert_account_token(&tid, &api::secrets::secret_hash(&secret), &owner, "bench", crate::bench_server::now_ms())
            .await?;
        let token = api::auth::format_token(&tid, &secret);
        let addr = crate::bench_server::start_server(db, blobs).await?;
        let http = reqwest::Client::new();
        let mut rng = community::town::Rng::new(42);
        let mut times = Vec::with_capacity(a.queries);
        let mut returned = 0usize;
        // A warm-up of 100 requests, then the measured ones.
        for i in 0..a.queries + 100 {
            let h = &households[(rng.next_u64() % households.len() as u64) as usize];
            let url = format!("http://{addr}/api/households/{h}/feed?radius_m={}&limit=50", a.radius_m);
            let t = Instant::now();
            let r = http.get(&url).bearer_auth(&token).send().await.map_err(|e| err!(Internal, "feed request: {e}"))?;
            if !r.status().is_success() {
                bail!(Internal, "feed request: {} {}", r.status(), r.text().await.unwrap_or_default());
            }
            let body: Vec<serde_json::Value> = r.json().await.map_err(|e| err!(Internal, "feed reply: {e}"))?;
            if i >= 100 {
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                returned += body.len();
            }
        }
        let _ = std::fs::remove_dir_all(&scratch);
        times.sort_by(f64::total_cmp);
        let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        println!(
            "feed ({}): {} households, {} posts, radius {} m: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} requests ({:.1} posts a page)",
            if a.database.starts_with("sqlite:") { "SQLite" } else { "PostgreSQL" },
            a.households,
            a.posts,
            a.radius_m,
            q(0.5),
            q(0.99),
            q(1.0),
            times.len(),
            returned as f64 / times.len() as f64
        );
        Ok(())
    })
}

/// The bench households (all owned by one account) with homes, and the posts; reused when
/// already there. Returns (owner account id, household ids).
async fn seed(db: &Db, a: &FeedArgs) -> Result<(String, Vec<String>), Error> {
    use sqlx::Row;
    let pool = db.pool();
    let ids: Vec<String> = sqlx::query("SELECT id FROM household WHERE name = $1 ORDER BY id")
        .bind(NAME)
        .fetch_all(pool)
        .await
        .map_err(|e| Error::wrap(ErrorKind::Internal, "listing households", e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let posts: i64 = sqlx::query("SELECT COUNT(*) FROM post")
        .fetch_one(pool)
        .await
        .map_err(|e| Error::wrap(ErrorKind::Internal, "counting posts", e))?
        .get(0);
    if ids.len() == a.households && posts as usize >= a.posts {
        let owner = db.households().await?.into_iter().find(|h| h.name == NAME).map(|h| h.owner_id);
        return Ok((owner.ok_or_else(|| err!(Internal, "no bench owner"))?, ids[..VIEWERS.min(ids.len())].to_vec()));
    }
    if !ids.is_empty() || posts > 0 {
        bail!(FailedPrecondition, "--database holds another bench's data; use a fresh database");
    }
    let t = Instant::now();
    let now = crate::bench_server::now_ms();
    let owner = api::secrets::random_hex(16);
    db.insert_account(&owner, "bench-feed@example.org", "unused", &[0u8; 20], now).await?;
    let centre = community::Point::new(52.2053, 0.1218)?;
    let homes = community::town::generate(centre, a.households, 11)?;
    let cells: Vec<h3o::CellIndex> = homes.iter().map(|p| community::home_cell(*p)).collect();
    let mut counts = community::Counts::default();
    cells.iter().for_each(|c| counts.add(*c));
    let ids: Vec<String> = (0..a.households).map(|i| format!("{:032x}", 0xfeed_0000_0000u64 + i as u64)).collect();
    let sql = |e| Error::wrap(ErrorKind::Internal, "seeding", e);
    insert_households(db, &owner, NAME, &ids, &cells, VIEWERS, now).await?;
    let mut rng = community::town::Rng::new(12);
    let year_ms = 365 * 86_400_000i64;
    let mut i = 0usize;
    while i < a.posts {
        let k = 500.min(a.posts - i);
        let mut ps = String::from(
            "INSERT INTO post (id, household_id, author_id, category, body, area_cell, created_ms, edited_ms) VALUES ",
        );
        for j in 0..k {
            // A household that may post (a few alone on a farm may not).
            let (h, area) = loop {
                let h = (rng.next_u64() % a.households as u64) as usize;
                if let Ok(area) = community::post_area(cells[h], &counts, community::K_DEFAULT) {
                    break (h, area);
                }
            };
            let sep = if ps.ends_with("VALUES ") { "" } else { "," };
            ps.push_str(&format!(
                "{sep}('{:032x}', '{}', '{owner}', 'general', 'Seen near the park', {}, {}, NULL)",
                i + j,
                ids[h],
                u64::from(area) as i64,
                now - (rng.next_u64() % year_ms as u64) as i64
            ));
        }
        if !ps.ends_with("VALUES ") {
            sqlx::query(sqlx::AssertSqlSafe(ps)).execute(pool).await.map_err(sql)?;
        }
        i += k;
    }
    eprintln!("seeded {} households and {} posts in {:.1} s", a.households, a.posts, t.elapsed().as_secs_f64());
    Ok((owner, ids[..VIEWERS.min(ids.len())].to_vec()))
}

/// Inserts households named `name`, owned by `owner`, with homes in `cells` (and the
/// per-cell counts `set_home` keeps), in transactions of 500; `owner` is a member of the
/// first `members` of them. For benchmarks: faster than the API by far.
pub(crate) async fn insert_households(
    db: &Db,
    owner: &str,
    name: &str,
    ids: &[String],
    cells: &[h3o::CellIndex],
    members: usize,
    now: i64,
) -> Result<(), Error> {
    let pool = db.pool();
    let sql = |e| Error::wrap(ErrorKind::Internal, "seeding", e);
    let point = if db.backend() == db::server::Backend::Postgres { "'\\x00'::bytea" } else { "x'00'" };
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
            let [c8, c7, c6, c5] = community::home_chain(cells[i]).map(|c| u64::from(c) as i64);
            hs.push_str(&format!("{sep}('{}', '{name}', '{owner}', 30, 0, NULL, {now})", ids[i]));
            if i < members {
                let sep = if ms.ends_with("VALUES ") { "" } else { "," };
                ms.push_str(&format!("{sep}('{}', '{owner}', 'owner', NULL, NULL, {now})", ids[i]));
            }
            ho.push_str(&format!("{sep}('{}', {c8}, {c7}, {c6}, {c5}, {point}, {now})", ids[i]));
        }
        let mut tx = pool.begin().await.map_err(sql)?;
        // Built from numbers and ids generated here, never from input.
        sqlx::query(sqlx::AssertSqlSafe(hs)).execute(&mut *tx).await.map_err(sql)?;
        if !ms.ends_with("VALUES ") {
            sqlx::query(sqlx::AssertSqlSafe(ms)).execute(&mut *tx).await.map_err(sql)?;
        }
        sqlx::query(sqlx::AssertSqlSafe(ho)).execute(&mut *tx).await.map_err(sql)?;
        tx.commit().await.map_err(sql)?;
    }
    // As `set_home` keeps it for homes set one by one.
    sqlx::query("INSERT INTO home_count (cell8, n) SELECT cell8, COUNT(*) FROM home GROUP BY cell8")
        .execute(pool)
        .await
        .map_err(sql)?;
    Ok(())
}
