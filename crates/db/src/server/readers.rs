//! Read-only rusqlite connections to the server's SQLite file, for the timeline, the one
//! query on the hot path of every app that is open (and for the transparency log's proofs,
//! a handful of primary-key lookups each). sqlx runs each SQLite connection on a
//! worker thread of its own and converts rows through its Any driver; a timeline page then
//! costs two thread hand-offs and wake-ups for about 100 µs of SQLite work, and on a
//! 2-core machine those hand-offs were a third of the server's CPU (BENCHMARKS.md). Here
//! the query runs on the calling thread instead. It is short and bounded (an indexed range
//! of at most 1,000 rows (the API's page limit), aggregated into one JSON text), WAL readers never wait for
//! the writer, and the connections are read-only, so nothing written goes around sqlx.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use base::{Error, ErrorKind};
use rusqlite::{Connection, OpenFlags};

/// How much of the database file each reader maps (address space, not memory).
const MMAP_BYTES: i64 = 1 << 30;

pub(super) struct Readers {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

/// The file of a `sqlite:` URL (`sqlite:PATH`, `sqlite://PATH`, with or without
/// `?options`); `None` for in-memory databases, which other connections cannot share.
pub(super) fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

impl Readers {
    pub(super) fn open(path: &Path, n: usize) -> Result<Readers, Error> {
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            let c = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| Error::wrap(ErrorKind::Unavailable, format!("opening {} to read", path.display()), e))?;
            c.busy_timeout(std::time::Duration::from_secs(10))
                .map_err(|e| Error::wrap(ErrorKind::Internal, "setting busy_timeout", e))?;
            // Pages come straight from the mapped file: no copy into a page cache, and no
            // allocation (each one took a lock in malloc shared by the reading threads).
            c.pragma_update(None, "mmap_size", MMAP_BYTES)
                .map_err(|e| Error::wrap(ErrorKind::Internal, "setting mmap_size", e))?;
            conns.push(Mutex::new(c));
        }
        Ok(Readers { conns, next: AtomicUsize::new(0) })
    }

    /// Runs `f` on a free connection (or waits for one, which only happens when more
    /// threads read at once than there are connections).
    pub(super) fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let n = self.conns.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(c) = self.conns[(start + i) % n].try_lock() {
                return f(&c);
            }
        }
        let c = self.conns[start % n].lock().unwrap_or_else(|p| p.into_inner());
        f(&c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_file() {
        assert_eq!(sqlite_path("sqlite:/d/s.db?mode=rwc"), Some(PathBuf::from("/d/s.db")));
        assert_eq!(sqlite_path("sqlite:///d/s.db"), Some(PathBuf::from("/d/s.db")));
        assert_eq!(sqlite_path("sqlite:rel.db"), Some(PathBuf::from("rel.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }
}
