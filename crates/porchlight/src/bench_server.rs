//! `porchlight bench upload` and `porchlight bench timeline`: the server's figures, measured
//! over real HTTP on loopback against an in-process server (the same router `serve` runs).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base::{Error, ErrorKind, ResultExt, bail, err};
use db::server::{Db, Device, Household};

#[derive(clap::Args)]
pub struct UploadArgs {
    /// Scratch folder for the database and blobs (emptied first).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// MiB of ciphertext to upload.
    #[arg(long, default_value_t = 2048)]
    pub mib: u64,
    /// Chunk size in MiB (the agent uses 4).
    #[arg(long, default_value_t = 4)]
    pub chunk_mib: u64,
    /// Uploads in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
}

#[derive(clap::Args)]
pub struct TimelineArgs {
    /// `sqlite:PATH` or `postgres://…`; seeded once with `events` events, then reused.
    #[arg(long)]
    pub database: String,
    #[arg(long, default_value_t = 1_000_000)]
    pub events: i64,
    /// Total request rate wrk aims at (requests per second, spread over the connections).
    #[arg(long, default_value_t = 2000)]
    pub rate: u64,
    #[arg(long, default_value_t = 16)]
    pub connections: u64,
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Events a request returns at most (one page of the timeline).
    #[arg(long, default_value_t = 100)]
    pub limit: u64,
    /// The server's timeline cache in MiB (0: off, every request reads the database).
    #[arg(long, default_value_t = 64)]
    pub cache_mib: u64,
    /// New events the household's cameras record per minute while wrk runs, each through
    /// `Db::insert_event`, which drops the household's cached pages. The default is the
    /// seeded rate (1,000,000 events a year over 4 cameras: 1.9 a minute).
    #[arg(long, default_value_t = 1.9)]
    pub new_events_per_minute: f64,
}

pub(crate) fn now_ms() -> i64 {
    api::system_clock()()
}

/// An account, a household and a paired device written straight into the database;
/// returns (household id, account token, device token).
async fn seed_people(db: &Db) -> Result<(String, String, String), Error> {
    let now = now_ms();
    let aid = api::secrets::random_hex(16);
    let hash = api::secrets::hash_password("bench password")?;
    db.insert_account(&aid, &format!("bench-{aid}@example.org"), &hash, &[0u8; 20], now).await?;
    let h = Household {
        id: api::secrets::random_hex(16),
        name: "bench".into(),
        owner_id: aid.clone(),
        retention_days: 0,
        retention_bytes: 0,
        webhook_url: None,
        created_ms: now,
        webhook_secret: None,
    };
    db.insert_household(&h).await?;
    let (tid, secret) = (api::secrets::random_hex(16), api::secrets::random_hex(32));
    db.insert_account_token(&tid, &api::secrets::secret_hash(&secret), &aid, "bench", now).await?;
    let pairing = api::secrets::random_hex(16);
    db.insert_pairing(&api::secrets::secret_hash(&pairing), &h.id, now, now + 60_000).await?;
    let keys = crypto::keys::Keyring::generate("bench", now).map_err(agent::sealing::from_crypto)?;
    let d = Device {
        id: api::secrets::random_hex(16),
        household_id: h.id.clone(),
        name: "bench".into(),
        identity: keys.public().identity.to_bytes().to_vec(),
        paired_ms: now,
        revoked_ms: None,
        public_keys: None,
    };
    let (did, dsecret) = (api::secrets::random_hex(16), api::secrets::random_hex(32));
    db.complete_pairing(&api::secrets::secret_hash(&pairing), &d, &did, &api::secrets::secret_hash(&dsecret), now)
        .await?;
    Ok((h.id, api::auth::format_token(&tid, &secret), api::auth::format_token(&did, &dsecret)))
}

pub(crate) async fn start_server(db: Db, blobs: blob::BlobStore) -> Result<SocketAddr, Error> {
    let settings = api::Settings { auth_attempts_per_minute: 1_000_000, ..Default::default() };
    let st = api::AppState::new(db, blobs, settings, api::system_clock());
    let listener =
        tokio::net::TcpListener::bind("127.0.0.1:0").await.err_kind(ErrorKind::Internal, || "binding".to_owned())?;
    let addr = listener.local_addr().err_kind(ErrorKind::Internal, || "address".to_owned())?;
    let app = api::router(st).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

fn fresh_dir(d: &Path) -> Result<(), Error> {
    if d.exists() {
        std::fs::remove_dir_all(d).err_kind(ErrorKind::Internal, || format!("emptying {}", d.display()))?;
    }
    std::fs::create_dir_all(d).err_kind(ErrorKind::Internal, || format!("creating {}", d.display()))
}

pub fn upload(a: UploadArgs) -> Result<(), Error> {
    if a.chunk_mib == 0 || a.chunk_mib > 8 || a.concurrency == 0 || a.mib < a.chunk_mib {
        bail!(InvalidArgument, "--chunk-mib: 1 to 8, --concurrency at least 1, --mib at least one chunk");
    }
    fresh_dir(&a.data_dir)?;
    crate::runtime()?.block_on(async {
        let db = Db::open(&format!("sqlite:{}", a.data_dir.join("server.db").display())).await?;
        let blobs = blob::BlobStore::open(&blob::Location::Local(a.data_dir.join("blobs")))?;
        let (_, _, device) = seed_people(&db).await?;
        let addr = start_server(db, blobs).await?;
        let chunk = (a.chunk_mib << 20) as usize;
        let n = (a.mib / a.chunk_mib) as usize;
        // Ciphertext is indistinguishable from random bytes; each chunk differs so that
        // nothing deduplicates. The agent hashes its chunks on its own machine, so chunks and
        // their names are made before the clock starts; what is timed is the server's work
        // (receiving, checking the hash, writing and syncing) plus the client's sending.
        let mut base = vec![0u8; chunk];
        crypto::random_bytes(&mut base);
        let chunks: Arc<Vec<(String, bytes::Bytes)>> = Arc::new(
            (0..n)
                .map(|i| {
                    base[..8].copy_from_slice(&(i as u64).to_le_bytes());
                    (blob::chunk_hash(&base), bytes::Bytes::copy_from_slice(&base))
                })
                .collect(),
        );
        let client = wire::client::Client::new(&format!("http://{addr}")).with_token(&device);
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let cpu0 = crate::bench::cpu_time().as_secs_f64();
        let t = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..a.concurrency {
            let (client, next, chunks) = (client.clone(), next.clone(), chunks.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((hash, body)) = chunks.get(i) else { return Ok::<(), Error>(()) };
                    client.put_chunk(hash, body.clone()).await?;
                }
            }));
        }
        for t in tasks {
            t.await.map_err(|e| Error::wrap(ErrorKind::Internal, "upload task", e))??;
        }
        let secs = t.elapsed().as_secs_f64();
        let cpu = crate::bench::cpu_time().as_secs_f64() - cpu0;
        let mb = (n * chunk) as f64 / 1e6;
        println!(
            "upload: {n} chunks of {} MiB, {} in flight: {:.0} MB/s ({mb:.0} MB in {secs:.2} s; {:.2} CPU-seconds, client and server together)",
            a.chunk_mib,
            a.concurrency,
            mb / secs,
            cpu
        );
        Ok(())
    })
}

/// Seeds `events` events over 4 cameras and a year (with their metadata objects), in
/// batches, unless the database already holds them.
async fn seed_events(db: &Db, household: &str, device: &str, events: i64) -> Result<(i64, i64), Error> {
    let have = db::server::fixtures::count_events(db, household).await?;
    let year_ms = 365 * 86_400_000i64;
    let start = 1_750_000_000_000i64;
    if have >= events {
        return Ok((start, year_ms));
    }
    let t = Instant::now();
    db::server::fixtures::insert_events(db, household, device, start, year_ms / events, have, events - have).await?;
    eprintln!("seeded {events} events in {:.1} s", t.elapsed().as_secs_f64());
    Ok((start, year_ms))
}

pub fn timeline(a: TimelineArgs) -> Result<(), Error> {
    if !(1..=1000).contains(&a.limit) || a.connections == 0 || a.rate == 0 {
        bail!(InvalidArgument, "--limit: 1 to 1000; --connections and --rate at least 1");
    }
    if !(0.0..=60_000.0).contains(&a.new_events_per_minute) || a.cache_mib > 65_536 {
        bail!(InvalidArgument, "--new-events-per-minute: 0 to 60000; --cache-mib: 0 to 65536");
    }
    // The same runtime as `porchlight serve` for this database.
    crate::server_runtime(&a.database)?.block_on(async {
        let db = Db::open(&a.database).await?.with_timeline_cache((a.cache_mib as usize) << 20);
        let scratch = std::env::temp_dir().join(format!("porchlight-bench-blobs-{}", std::process::id()));
        let blobs = blob::BlobStore::open(&blob::Location::Local(scratch.clone()))?;
        // The seeded household is the one named "bench-timeline"; reuse it when present.
        let (household, token) = bench_household(&db).await?;
        let device = db.devices(&household).await?.into_iter().next().ok_or_else(|| err!(Internal, "no device"))?;
        let (start, span) = seed_events(&db, &household, &device.id, a.events).await?;
        let addr = start_server(db.clone(), blobs).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let recorder = tokio::spawn(record_events(
            db.clone(),
            household.clone(),
            device.id.clone(),
            start + span,
            a.new_events_per_minute,
            stopped,
        ));
        // Each request asks for one camera's day, the day chosen at random per request.
        // wrk runs one thread (one core is all it needs here, and the server and the
        // database share the other), pacing its connections to a schedule of `rate`
        // requests per second (see `run_wrk`), after a 5 s warm-up at the same rate.
        let days = span / 86_400_000 - 1;
        run_wrk(&scratch, addr, &household, &token, days, start, a.limit, a.connections, 5, a.rate).await?;
        let before = db.timeline_cache_stats();
        let text = run_wrk(&scratch, addr, &household, &token, days, start, a.limit, a.connections, a.seconds, a.rate)
            .await?;
        println!("{text}");
        let after = db.timeline_cache_stats();
        let _ = stop.send(());
        let recorded = recorder.await.map_err(|e| Error::wrap(ErrorKind::Internal, "recorder task", e))??;
        // The new events lie after the seeded year, outside every day wrk asks for; they
        // go again so that the next run starts from the same database.
        db.delete_events(&recorded, now_ms()).await?;
        let (hits, misses) = (after.hits - before.hits, after.misses - before.misses);
        println!(
            "timeline cache ({} MiB): {hits} hits, {misses} misses ({:.1}% hits); new events recorded meanwhile: {}",
            a.cache_mib,
            100.0 * hits as f64 / (hits + misses).max(1) as f64,
            recorded.len()
        );
        let _ = std::fs::remove_dir_all(&scratch);
        let rps_target = a.rate;
        let pct = |p: &str| text.lines().find(|l| l.trim_start().starts_with(p)).map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned());
        let rps = text.lines().find(|l| l.starts_with("Requests/sec:")).map(|l| l.trim_start_matches("Requests/sec:").trim().to_owned());
        println!(
            "timeline ({}): {} requests/s (aiming at {rps_target}), p50 {}, p99 {} ({} events, one camera-day per request, limit {})",
            if a.database.starts_with("sqlite:") { "SQLite" } else { "PostgreSQL" },
            rps.unwrap_or_default(),
            pct("50%").unwrap_or_default(),
            pct("99%").unwrap_or_default(),
            a.events,
            a.limit
        );
        if text.contains("Non-2xx") {
            bail!(Internal, "some requests failed: {text}");
        }
        Ok(())
    })
}

/// Records `per_minute` new events (each with its metadata object) until `stop`, as the
/// household's cameras would, starting at `from_ms`; returns their ids.
async fn record_events(
    db: Db,
    household: String,
    device: String,
    from_ms: i64,
    per_minute: f64,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<Vec<String>, Error> {
    let mut ids = Vec::new();
    if per_minute <= 0.0 {
        return Ok(ids);
    }
    let mut tick = tokio::time::interval(Duration::from_secs_f64(60.0 / per_minute));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => break,
        }
        let n = ids.len() as i64;
        let t0 = from_ms + n * 60_000;
        let camera = format!("cam{}", n % 4);
        let object = db::server::Object {
            id: api::secrets::random_hex(16),
            household_id: household.clone(),
            device_id: device.clone(),
            camera: camera.clone(),
            kind: "event".into(),
            start_ms: t0,
            end_ms: t0 + 10_000,
            size_bytes: 0,
            created_ms: now_ms(),
        };
        db.insert_object(&object, &[]).await?;
        let event = db::server::Event {
            id: api::secrets::random_hex(16),
            household_id: household.clone(),
            device_id: device.clone(),
            camera,
            start_ms: t0,
            end_ms: t0 + 10_000,
            meta_object: object.id,
            snapshot_object: None,
            clip_object: None,
            size_bytes: 0,
            created_ms: now_ms(),
            in_progress: false,
        };
        db.insert_event(&event).await?;
        ids.push(event.id);
    }
    Ok(ids)
}

async fn bench_household(db: &Db) -> Result<(String, String), Error> {
    for h in db.households().await? {
        if h.name == "bench" {
            // A fresh token for the existing owner.
            let (tid, secret) = (api::secrets::random_hex(16), api::secrets::random_hex(32));
            db.insert_account_token(&tid, &api::secrets::secret_hash(&secret), &h.owner_id, "bench", now_ms()).await?;
            return Ok((h.id, api::auth::format_token(&tid, &secret)));
        }
    }
    let (h, token, _) = seed_people(db).await?;
    Ok((h, token))
}

#[allow(clippy::too_many_arguments)]
async fn run_wrk(
    scratch: &Path,
    addr: SocketAddr,
    household: &str,
    token: &str,
    days: i64,
    start: i64,
    limit: u64,
    connections: u64,
    seconds: u64,
    rate: u64,
) -> Result<String, Error> {
    // A fixed schedule: request slots `1 / rate` seconds apart, each
    // connection's next request waiting for the next free slot (wrk's `delay`, in whole
    // milliseconds, measured with LuaJIT's FFI and CLOCK_MONOTONIC). When the server
    // falls behind, requests go out at once; a backlog older than a second is forgiven
    // rather than sent as a burst. Latency is wrk's, from send to response.
    let period_ms = 1000.0 / rate.max(1) as f64;
    let lua = format!(
        "math.randomseed(os.time())\n\
         local ffi = require('ffi')\n\
         ffi.cdef[[ typedef struct {{ long tv_sec; long tv_nsec; }} pl_timespec; int clock_gettime(int, pl_timespec *); ]]\n\
         local ts = ffi.new('pl_timespec')\n\
         local function now_ms() ffi.C.clock_gettime(1, ts); return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6 end\n\
         local next_at = nil\n\
         request = function()\n  local day = math.random(0, {days})\n  local from = {start} + day * 86400000\n  \
         local path = string.format('/api/households/{household}/events?camera=cam%d&from_ms=%d&until_ms=%d&limit={limit}', math.random(0, 3), from, from + 86400000)\n  \
         return wrk.format('GET', path, {{['Authorization'] = 'Bearer {token}'}})\nend\n\
         delay = function()\n  local now = now_ms()\n  \
         if next_at == nil or next_at < now - 1000 then next_at = now end\n  \
         next_at = next_at + {period_ms:.4}\n  \
         local d = next_at - now\n  if d < 0 then return 0 end\n  return d\nend\n"
    );
    std::fs::create_dir_all(scratch).err_kind(ErrorKind::Internal, || "creating the scratch folder".to_owned())?;
    let script = scratch.join("timeline.lua");
    std::fs::write(&script, lua).err_kind(ErrorKind::Internal, || "writing the wrk script".to_owned())?;
    let args = vec![
        "-t1".to_owned(),
        format!("-c{connections}"),
        format!("-d{seconds}s"),
        "--latency".to_owned(),
        "-s".to_owned(),
        script.display().to_string(),
        format!("http://{addr}"),
    ];
    let out = tokio::task::spawn_blocking(move || std::process::Command::new("wrk").args(&args).output())
        .await
        .map_err(|e| Error::wrap(ErrorKind::Internal, "wrk task", e))?
        .map_err(|e| Error::wrap(ErrorKind::FailedPrecondition, "running wrk (make setup installs it)", e))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
