//! `porchlight bench agencies` (BENCHMARKS.md): matching a footage request's area against
//! the stored homes of a million households, and the transparency log with its storage:
//! appends a second, and the time to make (and check) a signed head, an inclusion proof
//! and a consistency proof at ten million entries.

use std::time::Instant;

use api::log::{Entry, Record};
use base::{Error, bail, err};
use crypto::tlog;
use db::server::Db;

#[derive(clap::Args)]
pub struct AgenciesArgs {
    /// `sqlite:PATH` or `postgres://…`; seeded once, then reused.
    #[arg(long)]
    pub database: String,
    #[arg(long, default_value_t = 1_000_000)]
    pub households: usize,
    /// Log entries to hold before proofs are timed.
    #[arg(long, default_value_t = 10_000_000)]
    pub entries: i64,
    /// Area matches and proofs timed (each).
    #[arg(long, default_value_t = 1_000)]
    pub queries: usize,
    /// Entries per transaction while filling the log.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
}

const NAME: &str = "bench-agencies";

fn demand(i: i64) -> db::server::NewLogEntry {
    Record::new(
        Entry::LegalDemand {
            authority: "Superior Court of the County".into(),
            reference: format!("SW-{i:08}"),
            demanded: "subscriber records and stored footage of one account".into(),
            produced: "account creation time and object metadata; the server holds no footage it can open".into(),
        },
        1_790_000_000_000 + i,
    )
    .to_row()
}

fn quantiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    (q(0.5), q(0.99), q(1.0))
}

pub fn agencies(a: AgenciesArgs) -> Result<(), Error> {
    if a.households == 0 || a.entries < 2 || a.queries == 0 || a.batch == 0 {
        bail!(InvalidArgument, "--households, --queries and --batch at least 1, --entries at least 2");
    }
    crate::server_runtime(&a.database)?.block_on(async {
        let db = Db::open(&a.database).await?;
        let homes = seed_homes(&db, a.households).await?;
        let backend = if a.database.starts_with("sqlite:") { "SQLite" } else { "PostgreSQL" };

        // Matching: a circle of 150 to 640 m (the sizes a request may have) around a random
        // home: the cells it touches, then the households in them.
        let mut rng = community::town::Rng::new(7);
        let (mut times, mut offered) = (Vec::new(), 0i64);
        for i in 0..a.queries + 50 {
            let p = homes[(rng.next_u64() % homes.len() as u64) as usize];
            let r = 150.0 + rng.unit() * 490.0;
            let t = Instant::now();
            let area = community::area::Area::circle(p.lat(), p.lon(), r)?;
            let cells: Vec<i64> = area.home_cells().into_iter().map(|c| u64::from(c) as i64).collect();
            let n = db.households_in_cells(&cells).await?;
            if i >= 50 {
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                offered += n;
            }
        }
        let (p50, p99, max) = quantiles(times);
        println!(
            "area match ({backend}): {} households, circles of 150-640 m: p50 {p50:.3} ms, p99 {p99:.3} ms, max {max:.3} ms over {} requests ({:.0} households offered on average)",
            a.households,
            a.queries,
            offered as f64 / a.queries as f64
        );

        // The log: filled in transactions of --batch entries, then one entry per transaction.
        let have = db.log_size().await?;
        if have < a.entries {
            let t = Instant::now();
            let mut at = have;
            while at < a.entries {
                let k = (a.batch as i64).min(a.entries - at);
                let rows: Vec<_> = (at..at + k).map(demand).collect();
                db.log_append(&rows).await?;
                at += k;
                if at % 1_000_000 < k {
                    eprintln!("  {at} entries, {:.0} appends/s so far", (at - have) as f64 / t.elapsed().as_secs_f64());
                }
            }
            let s = t.elapsed().as_secs_f64();
            println!(
                "log append ({backend}), {} entries per transaction: {:.0} appends/s ({} entries in {s:.1} s)",
                a.batch,
                (a.entries - have) as f64 / s,
                a.entries - have
            );
        }
        let t = Instant::now();
        let mut single = 0i64;
        while t.elapsed().as_secs_f64() < 3.0 {
            db.log_append(&[demand(a.entries + single)]).await?;
            single += 1;
        }
        println!(
            "log append ({backend}), one entry per transaction (each committed durably): {:.0} appends/s",
            single as f64 / t.elapsed().as_secs_f64()
        );

        // Proofs over the stored tree, each checked as a client would.
        let scratch = std::env::temp_dir().join(format!("porchlight-bench-agencies-{}", std::process::id()));
        let blobs = blob::BlobStore::open(&blob::Location::Local(scratch.clone()))?;
        let st = api::AppState::new(db.clone(), blobs, api::Settings::default(), api::system_clock());
        let t = Instant::now();
        let head = api::log::current_head(&st).await?;
        let head_ms = t.elapsed().as_secs_f64() * 1000.0;
        let size = head.head.size;
        let (mut inc, mut con) = (Vec::new(), Vec::new());
        for _ in 0..a.queries {
            let i = rng.next_u64() % size;
            let body = db.log_entries(i as i64, i as i64 + 1).await?.pop().ok_or_else(|| err!(Internal, "entry {i}"))?.body;
            let t = Instant::now();
            let p = api::log::inclusion(&st, i, size).await?;
            inc.push(t.elapsed().as_secs_f64() * 1000.0);
            tlog::verify_inclusion(&tlog::leaf_hash(body.as_bytes()), i, size, &p, &head.head.root)
                .map_err(|e| err!(Internal, "inclusion proof of {i}: {e}"))?;
            let m = 1 + rng.next_u64() % (size - 1);
            let old = {
                let t = Instant::now();
                let p = api::log::consistency(&st, m, size).await?;
                con.push(t.elapsed().as_secs_f64() * 1000.0);
                p
            };
            let old_root = api::log::root_at(&st, m).await?;
            tlog::verify_consistency(m, size, &old_root, &head.head.root, &old)
                .map_err(|e| err!(Internal, "consistency proof from {m}: {e}"))?;
        }
        let _ = std::fs::remove_dir_all(&scratch);
        let (ip50, ip99, imax) = quantiles(inc);
        let (cp50, cp99, cmax) = quantiles(con);
        println!(
            "log proofs ({backend}) at {size} entries: signed head {head_ms:.2} ms; inclusion p50 {ip50:.3} ms, p99 {ip99:.3} ms, max {imax:.3} ms; consistency p50 {cp50:.3} ms, p99 {cp99:.3} ms, max {cmax:.3} ms (over {} each, all verified)",
            a.queries
        );
        Ok(())
    })
}

/// The bench households with homes from a simulated town, reused when present; returns the
/// homes' points.
async fn seed_homes(db: &Db, n: usize) -> Result<Vec<community::Point>, Error> {
    let centre = community::Point::new(40.7411, -73.9897)?;
    let homes = community::town::generate(centre, n, 13)?;
    let have = db::server::fixtures::households_named(db, NAME).await?.len() as i64;
    if have as usize == n {
        return Ok(homes);
    }
    if have != 0 {
        bail!(FailedPrecondition, "--database holds {have} bench households, not {n}; use a fresh database");
    }
    let t = Instant::now();
    let now = crate::bench_server::now_ms();
    let owner = api::secrets::random_hex(16);
    db.insert_account(&owner, "bench-agencies@example.org", "unused", &[0u8; 20], now).await?;
    let ids: Vec<String> = (0..n).map(|i| format!("{:032x}", 0xa9e0_0000_0000u64 + i as u64)).collect();
    let cells: Vec<h3o::CellIndex> = homes.iter().map(|p| community::home_cell(*p)).collect();
    crate::bench_feed::insert_households(db, &owner, NAME, &ids, &cells, 0, now).await?;
    eprintln!("seeded {n} households in {:.1} s", t.elapsed().as_secs_f64());
    Ok(homes)
}
