//! Where the agent keeps things inside its data folder: every path is named here once
//! (the table is in design/recording.md, "The data folder"), and every small file the
//! agent replaces is written by [`write_atomic`].
//!
//! ```text
//! <data>/index.db                 SQLite recording index (+ -wal, -shm)
//! <data>/lock                     held with flock(2) by the one process that may write
//! <data>/status.json              camera states, rewritten every second
//! <data>/streams/<id>/<hex>       segment files: stream id, then segment id as 16 hex digits
//! <data>/snapshots/<id>.jpg       event snapshots, by event id
//! <data>/device.keys              the agent's device keys (0600)
//! <data>/trust.bin                the owner key pinned at pairing, rotations, the roster
//! <data>/settings.plcf            the owner's sealed settings in force
//! <data>/server.json              the paired server and the device credential (0600)
//! <data>/sync.json                the uploader's counters
//! <data>/outbox/<id>/             a sealed event waiting for upload (`<id>.tmp` while sealed)
//! <data>/outbox/cursor            the last event sealed
//! <data>/outbox/rejected/<id>/    events the server refused for good
//! <data>/outbox/starts/<id>/      an event's start (metadata, snapshot so far) waiting for upload
//! <data>/.post-clip-*.mp4         a clip being prepared for a post (removed when done)
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
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("lock")
    }
    /// The agent's own keys (its device identity signs everything it seals).
    pub fn device_keys(&self) -> PathBuf {
        self.root.join("device.keys")
    }
    /// The owner key pinned at pairing, rotations and the household roster.
    pub fn trust(&self) -> PathBuf {
        self.root.join("trust.bin")
    }
    /// The owner's sealed household settings the agent obeys.
    pub fn settings(&self) -> PathBuf {
        self.root.join("settings.plcf")
    }
    /// The server this agent is paired with, and its device credential.
    pub fn server_link(&self) -> PathBuf {
        self.root.join("server.json")
    }
    /// The uploader's counters.
    pub fn sync_status(&self) -> PathBuf {
        self.root.join("sync.json")
    }
    pub fn outbox(&self) -> PathBuf {
        self.root.join("outbox")
    }
    /// A sealed event waiting for upload.
    pub fn outbox_event(&self, event_id: i64) -> PathBuf {
        self.outbox().join(format!("{event_id:016}"))
    }
    /// The last event sealed (or given up on).
    pub fn outbox_cursor(&self) -> PathBuf {
        self.outbox().join("cursor")
    }
    /// Events the server refused for good.
    pub fn outbox_rejected(&self) -> PathBuf {
        self.outbox().join("rejected")
    }

    pub fn outbox_starts(&self) -> PathBuf {
        self.outbox().join("starts")
    }

    pub fn outbox_start(&self, event_id: i64) -> PathBuf {
        self.outbox_starts().join(format!("{event_id:016}"))
    }
    /// A clip prepared for a member and sealed as an object, until it is uploaded.
    pub fn outbox_prepared(&self, session_id: &str) -> PathBuf {
        self.outbox().join(format!("prepared-{session_id}.plob"))
    }
    /// A working file of clip preparation number `n`.
    pub fn post_clip_work(&self, n: u32, what: &str) -> PathBuf {
        self.root.join(format!(".post-clip-{n}-{what}.mp4"))
    }

    /// Takes the data folder's exclusive lock, creating the folder if needed. The lock is
    /// released when the returned file is dropped or the process dies (even by SIGKILL).
    pub fn lock(&self) -> Result<File, Error> {
        std::fs::create_dir_all(&self.root)
            .err_kind(ErrorKind::Internal, || format!("creating {}", self.root.display()))?;
        let p = self.lock_file();
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

/// How far a [`write_atomic`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// The new contents survive power loss once the call returns: the file and then its
    /// folder are synced; mode 0600 (several of these hold credentials). For trust,
    /// settings, the server link, counters, the outbox.
    Synced,
    /// Readers see the old file or the new one, never a mix; after power loss it may be
    /// the old one; mode 0644, for monitoring to read. For `status.json`, rewritten every
    /// second.
    Replaced,
}

/// Replaces `path` with `bytes` atomically: written under a temporary name beside it, then
/// renamed over it.
pub fn write_atomic(path: &Path, bytes: &[u8], durability: Durability) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".porchlight-tmp");
    let tmp = path.with_file_name(name);
    let r = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if durability == Durability::Synced { 0o600 } else { 0o644 })
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            if durability == Durability::Synced { f.sync_all() } else { Ok(()) }
        })
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::wrap(ErrorKind::Internal, format!("writing {}", path.display()), e));
    }
    match durability {
        Durability::Synced => sync_dir(parent(path)),
        Durability::Replaced => Ok(()),
    }
}

fn parent(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn write_atomic_replaces_whole_files_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let (secret, status) = (dir.path().join("server.json"), dir.path().join("status.json"));
        for (i, body) in [b"first".as_slice(), b"second, longer".as_slice(), b"3".as_slice()].into_iter().enumerate() {
            write_atomic(&secret, body, Durability::Synced).unwrap();
            write_atomic(&status, body, Durability::Replaced).unwrap();
            assert_eq!(std::fs::read(&secret).unwrap(), body, "write {i}");
            assert_eq!(std::fs::read(&status).unwrap(), body, "write {i}");
        }
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&secret), 0o600, "a synced file may hold a credential");
        assert_eq!(mode(&status) & 0o600, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
        // A folder that is not there: an error naming the file, nothing written.
        let missing = dir.path().join("nope/status.json");
        let e = write_atomic(&missing, b"x", Durability::Synced).unwrap_err();
        assert!(e.to_string().contains("nope/status.json"), "{e}");
    }
}
