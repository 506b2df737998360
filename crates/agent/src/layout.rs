//! Where the agent keeps things inside its data folder.
//!
//! ```text
//! <data>/index.db            SQLite recording index (+ -wal, -shm)
//! <data>/lock                held with flock(2) by the one process that may write
//! <data>/status.json         camera states, rewritten every second
//! <data>/streams/<id>/<hex>  segment files: stream id, then segment id as 16 hex digits
//! <data>/snapshots/<id>.jpg  event snapshots, by event id
//! ```

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use base::{Error, ErrorKind, ResultExt, bail};

#[derive(Clone, Debug)]
pub struct Layout {
    pub root: PathBuf,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }
    pub fn db(&self) -> PathBuf {
        self.root.join("index.db")
    }
    pub fn status(&self) -> PathBuf {
        self.root.join("status.json")
    }
    pub fn streams(&self) -> PathBuf {
        self.root.join("streams")
    }
    pub fn stream_dir(&self, stream_id: i64) -> PathBuf {
        self.streams().join(stream_id.to_string())
    }
    pub fn snapshots(&self) -> PathBuf {
        self.root.join("snapshots")
    }
    pub fn snapshot(&self, event_id: i64) -> PathBuf {
        self.snapshots().join(format!("{event_id}.jpg"))
    }
    pub fn segment(&self, stream_id: i64, segment_id: i64) -> PathBuf {
        self.stream_dir(stream_id).join(segment_file_name(segment_id))
    }

    /// Takes the data folder's exclusive lock, creating the folder if needed. The lock is
    /// released when the returned file is dropped or the process dies (even by SIGKILL).
    pub fn lock(&self) -> Result<File, Error> {
        std::fs::create_dir_all(&self.root)
            .err_kind(ErrorKind::Internal, || format!("creating {}", self.root.display()))?;
        let p = self.root.join("lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .err_kind(ErrorKind::Internal, || format!("opening {}", p.display()))?;
        // SAFETY: flock on a valid, open file descriptor has no memory-safety preconditions.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            bail!(
                FailedPrecondition,
                "{} is in use by another porchlight process (an agent is running); stop it first",
                self.root.display()
            );
        }
        Ok(f)
    }
}

pub fn segment_file_name(id: i64) -> String {
    format!("{id:016x}")
}

pub fn parse_segment_file_name(name: &str) -> Option<i64> {
    if name.len() != 16 {
        return None;
    }
    i64::from_str_radix(name, 16).ok()
}

/// fsyncs a directory so that entries created in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .err_kind(ErrorKind::Internal, || format!("fsync of directory {}", dir.display()))
}
