//! `porchlight bench feed`: the neighbourhood feed's latency with many households and posts
//! stored (BENCHMARKS.md), over real HTTP on loopback against the in-process server.
//!
//! A simulated town (`community::town`) gives every household a home; posts are spread
//! over a year, each from a random household with the area `community::post_area` gives
//! it. Each query is one household's feed with the widest radius, one page.

use std::time::Instant;

use base::{Error, bail, err};
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
    let ids = db::server::fixtures::households_named(db, NAME).await?;
    let posts = db::server::fixtures::count_posts(db).await?;
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
    insert_households(db, &owner, NAME, &ids, &cells, VIEWERS, now).await?;
    let mut rng = community::town::Rng::new(12);
    let year_ms = 365 * 86_400_000i64;
    // Inserted 500 at a time as they are made: a million posts are not held in memory.
    let mut posts = Vec::with_capacity(500);
    for i in 0..a.posts {
        // A household that may post (a few alone on a farm may not).
        let (h, area) = loop {
            let h = (rng.next_u64() % a.households as u64) as usize;
            if let Ok(area) = community::post_area(cells[h], &counts, community::K_DEFAULT) {
                break (h, area);
            }
        };
        posts.push(db::server::fixtures::BulkPost {
            id: format!("{i:032x}"),
            household: ids[h].clone(),
            author: owner.clone(),
            area_cell: u64::from(area) as i64,
            created_ms: now - (rng.next_u64() % year_ms as u64) as i64,
        });
        if posts.len() == 500 || i + 1 == a.posts {
            db::server::fixtures::insert_posts(db, &posts).await?;
            posts.clear();
        }
    }
    eprintln!("seeded {} households and {} posts in {:.1} s", a.households, a.posts, t.elapsed().as_secs_f64());
    Ok((owner, ids[..VIEWERS.min(ids.len())].to_vec()))
}

/// Inserts households named `name`, owned by `owner`, with homes in `cells` (and the
/// per-cell counts `set_home` keeps); `owner` is a member of the first `members` of them.
/// For benchmarks: faster than the API by far (`db::server::fixtures`).
pub(crate) async fn insert_households(
    db: &Db,
    owner: &str,
    name: &str,
    ids: &[String],
    cells: &[h3o::CellIndex],
    members: usize,
    now: i64,
) -> Result<(), Error> {
    let chains: Vec<[i64; 4]> = cells.iter().map(|c| community::home_chain(*c).map(|c| u64::from(c) as i64)).collect();
    db::server::fixtures::insert_households(db, owner, name, ids, &chains, members, now).await
}
