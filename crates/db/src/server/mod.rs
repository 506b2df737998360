//! The server's metadata: accounts, households, devices, and the rows that describe the
//! ciphertext objects the blob store holds. Runs on SQLite (bundled, the default) or
//! PostgreSQL through one `sqlx::AnyPool`; every query is written once in the dialect both
//! accept (`$N` placeholders, `BIGINT`, `TEXT`). Which plaintext columns exist and why is
//! `design/server.md`; nothing here ever holds a frame, a snapshot, a label or a private key.

mod queries;
mod schema;

pub use queries::*;
pub use schema::{SCHEMA_VERSION, schema_dump};

use base::{Error, ErrorKind, ResultExt};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

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
}

impl Db {
    /// Opens (creating when absent) the database at `url` (`sqlite:PATH` or
    /// `postgres://…`) and brings its schema to [`SCHEMA_VERSION`].
    pub async fn open(url: &str) -> Result<Db, Error> {
        Db::open_at(url, SCHEMA_VERSION).await
    }

    /// Like [`Db::open`], but creates or upgrades the schema only up to `version`: for the
    /// migration tests, which build an old database and upgrade it.
    #[doc(hidden)]
    pub async fn open_at(url: &str, version: i64) -> Result<Db, Error> {
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
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .err_kind(ErrorKind::Unavailable, || "opening the server database".to_owned())?;
        let db = Db { pool, backend };
        schema::upgrade_to(&db, version).await?;
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub(crate) fn db_err(what: &str) -> impl FnOnce(sqlx::Error) -> Error + '_ {
    move |e| {
        let kind = match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => ErrorKind::Unavailable,
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
