//! The server's metadata: accounts, households, devices, and the rows that describe the
//! ciphertext objects the blob store holds. Runs on SQLite (bundled, the default) or
//! PostgreSQL through one `sqlx::AnyPool`; every query is written once in the dialect both
//! accept (`$N` placeholders, `BIGINT`, `TEXT`). Which plaintext columns exist and why is
//! `design/server.md`; nothing here ever holds a frame, a snapshot, a label or a private key.

mod accounts;
mod agencies;
mod audit;
mod events;
pub mod fixtures;
mod households;
mod log;
mod neighbourhood;
mod push;
mod readers;
mod schema;
mod storage;
mod timeline_cache;

pub use accounts::*;
pub use agencies::*;
pub use audit::*;
pub use events::*;
pub use households::*;
pub use log::{LogEntry, NewLogEntry};
pub use neighbourhood::*;
pub use push::PushSubscription;
pub use schema::{SCHEMA_VERSION, schema_dump};
pub use storage::*;
pub use timeline_cache::TimelineCacheStats;
pub use wire::Role;

use base::{Error, ErrorKind, ResultExt};
use std::sync::Arc;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

/// Read-only SQLite connections for the timeline: enough for every tokio worker thread of
/// a small server to read at once.
const READERS: usize = 8;

/// Connections of the PostgreSQL timeline pool. Few: each is a PostgreSQL process, and a
/// request waiting for a connection costs less than processes contending for the cores.
const PG_READERS: u32 = 4;

/// Plan each prepared statement once. Every query here is a key or an indexed range, whose
/// best plan does not depend on the values; re-planning the timeline for each request
/// (what PostgreSQL's default does when a custom plan looks no costlier) was a tenth of
/// its CPU in the benchmark.
const GENERIC_PLANS: &str = "SET plan_cache_mode = force_generic_plan";

/// The timeline cache's default size: 64 MiB, about 2,700 pages of 100 events.
pub const TIMELINE_CACHE_BYTES: usize = 64 << 20;

/// Which database the pool talks to; the SQL is the same, the schema text differs in types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The server's metadata database.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite files only: read-only connections for the timeline and the log's proof nodes
    /// (`readers.rs`).
    readers: Option<Arc<readers::Readers>>,
    /// PostgreSQL only: a pool on sqlx's own PostgreSQL driver for the timeline, whose
    /// rows it decodes without the Any driver's per-value conversion, so that the page's
    /// JSON can be written here rather than by PostgreSQL (see `Db::timeline_json`); and
    /// for the log's proof nodes (`Db::log_nodes`).
    pg: Option<sqlx::PgPool>,
    /// Timeline pages already read (`timeline_cache.rs`).
    timeline_cache: Arc<timeline_cache::TimelineCache>,
}

impl Db {
    /// Opens (creating when absent) the database at `url` (`sqlite:PATH` or
    /// `postgres://…`) and brings its schema to [`SCHEMA_VERSION`].
    pub async fn open(url: &str) -> Result<Db, Error> {
        Db::open_up_to(url, SCHEMA_VERSION).await
    }

    /// Like [`Db::open`], but creates or upgrades the schema only up to `version`: for the
    /// migration tests, which build an old database and upgrade it.
    #[cfg(any(test, feature = "testing"))]
    pub async fn open_at(url: &str, version: i64) -> Result<Db, Error> {
        Db::open_up_to(url, version).await
    }

    async fn open_up_to(url: &str, version: i64) -> Result<Db, Error> {
        disable_sqlite_memstatus();
        if !(1..=SCHEMA_VERSION).contains(&version) {
            base::bail!(InvalidArgument, "schema version: expected 1 to {SCHEMA_VERSION}, got {version}");
        }
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            base::bail!(InvalidArgument, "database url: expected sqlite:PATH or postgres://…, got {url:?}");
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        let max = match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL and synchronous=FULL: a committed row survives power loss, and
                        // readers do not block the writer.
                        use sqlx::Executor;
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                             PRAGMA busy_timeout = 10000",
                        )
                        .await?;
                    } else {
                        use sqlx::Executor;
                        conn.execute(GENERIC_PLANS).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .err_kind(ErrorKind::Unavailable, || "opening the server database".to_owned())?;
        let mut db = Db {
            pool,
            backend,
            readers: None,
            pg: None,
            timeline_cache: Arc::new(timeline_cache::TimelineCache::new(TIMELINE_CACHE_BYTES)),
        };
        schema::upgrade_to(&db, version).await?;
        // After the schema exists: a read-only connection cannot create it.
        if let Some(path) = readers::sqlite_path(&url) {
            db.readers = Some(Arc::new(readers::Readers::open(&path, READERS)?));
        }
        if backend == Backend::Postgres {
            let pg = sqlx::postgres::PgPoolOptions::new()
                .max_connections(PG_READERS)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        use sqlx::Executor;
                        conn.execute(GENERIC_PLANS).await?;
                        Ok(())
                    })
                })
                .connect(&url)
                .await
                .err_kind(ErrorKind::Unavailable, || "opening the server database for reading".to_owned())?;
            db.pg = Some(pg);
        }
        Ok(db)
    }

    /// The same database with a timeline cache of `bytes` (0: none) instead of the default
    /// [`TIMELINE_CACHE_BYTES`]; for a new `Db`, before its clones serve requests.
    pub fn with_timeline_cache(mut self, bytes: usize) -> Db {
        self.timeline_cache = Arc::new(timeline_cache::TimelineCache::new(bytes));
        self
    }

    /// Timeline cache hits, misses and size since the `Db` was opened.
    pub fn timeline_cache_stats(&self) -> TimelineCacheStats {
        self.timeline_cache.stats()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        if let Some(pg) = &self.pg {
            pg.close().await;
        }
        self.pool.close().await;
    }
}

/// Turns off SQLite's memory statistics, process-wide, before the library initializes.
/// With statistics on (its default), every allocation SQLite makes takes one global mutex;
/// with two threads reading timelines at once, the futex waits on that mutex were a fifth
/// of the server's CPU (BENCHMARKS.md). Nothing here reads the statistics.
///
/// SQLite requires that no other thread use SQLite while this runs. The binary calls it
/// first thing in `main`, before any thread exists; `Db::open` calls it too (then a no-op,
/// or the first SQLite call of a process that only uses `Db`, such as the API tests, where
/// concurrent openers wait on the `Once`). When SQLite was already initialized, the call is
/// refused, changes nothing, and the default stays, which is only slower.
pub fn disable_sqlite_memstatus() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config takes one int argument for SQLITE_CONFIG_MEMSTATUS, and
        // returns SQLITE_MISUSE without effect after sqlite3_initialize; the callers above
        // make sure no other thread is inside SQLite meanwhile.
        let rc = unsafe { rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int) };
        if rc != rusqlite::ffi::SQLITE_OK {
            tracing::debug!(rc, "SQLite was initialized already; its memory statistics stay on");
        }
    });
}

impl Db {
    /// A transaction that writes. On SQLite it takes the write lock at `BEGIN IMMEDIATE`:
    /// a deferred transaction that read first would fail with "database is locked" (without
    /// waiting) when another connection wrote in between, so concurrent uploads would see
    /// errors instead of queueing behind each other for up to the busy timeout.
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, Error> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        tx.map_err(db_err("beginning a transaction"))
    }
}

pub(crate) fn db_err(what: &str) -> impl FnOnce(sqlx::Error) -> Error + '_ {
    move |e| {
        let kind = match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => ErrorKind::Unavailable,
            // SQLite's busy timeout ran out (SQLITE_BUSY and its extended codes): overload,
            // not a fault; the client may retry.
            sqlx::Error::Database(d) if d.code().is_some_and(|c| c.parse::<i32>().is_ok_and(|n| n & 0xff == 5)) => {
                ErrorKind::Unavailable
            }
            sqlx::Error::Database(d) if d.is_unique_violation() => ErrorKind::FailedPrecondition,
            _ => ErrorKind::Internal,
        };
        Error::wrap(kind, what.to_owned(), e)
    }
}

/// Marks SQL assembled from this module's own constant fragments (never from input; values
/// are always bound) as safe for `sqlx::query`.
pub(crate) fn safe(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}
