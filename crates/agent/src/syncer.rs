//! Makes written frames durable: write the writers' buffered bytes, fsync the files, fsync
//! new directory entries, then commit the index rows, every flush interval, for all streams
//! in one transaction.
//!
//! This order is the heart of crash safety (`design/recording.md`): an index row never
//! describes bytes that are not on stable storage, so after a crash the index is a prefix
//! of what the files hold and recovery only has to cut the files back to it.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base::{Error, ErrorKind, ResultExt};

use crate::layout::sync_dir;
use crate::writer::{Ctx, SegBuf, StreamState, verify_written};

/// Emptied buffers kept per stream: the one being filled and the one being written
/// alternate, plus one for the next segment.
const SPARE_BUFS_MAX: usize = 2;

/// Drops a just-synced file's pages from the page cache, for files written through it (on
/// file systems without direct I/O). Footage is written once and read rarely, so keeping it
/// cached only pushes out what the machine does use; and freed pages are reused by the next
/// writes, where fresh ones cost a first touch (several times the copy on a virtual machine
/// whose host backs memory lazily; BENCHMARKS.md). Advice only: a failure changes nothing
/// but the cache.
///
/// Drops the whole pages before byte `end` (or all pages if `end` is 0); the kernel keeps a
/// page that `end` falls inside, so the next write to it need not read it back.
fn drop_cached_pages(f: &File, end: i64) {
    use std::os::fd::AsRawFd;
    // SAFETY: `posix_fadvise` only reads its integer arguments; the descriptor is open for
    // the life of `f`.
    let _ = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, end, libc::POSIX_FADV_DONTNEED) };
}

/// One segment's share of a flush: its bytes, taken from the writer under the stream's lock
/// and written after the lock is released.
struct Job {
    stream: usize,
    file: Arc<File>,
    direct: bool,
    buf: SegBuf,
    /// From the segment's row as committed by this flush.
    id: i64,
    size_bytes: u64,
    open: bool,
}

impl Job {
    fn new(stream: usize, row: &index::Segment, file: Arc<File>, direct: bool, buf: SegBuf) -> Job {
        Job { stream, file, direct, buf, id: row.id, size_bytes: row.size_bytes as u64, open: row.open }
    }

    /// Writes the bytes; a closed segment is then cut to its exact length (the padding of
    /// its last block goes). Then fsync.
    fn write_and_sync(&mut self) -> Result<(), Error> {
        let id = self.id;
        if !self.buf.is_empty() {
            self.buf.write_to(&self.file, id)?;
        }
        if !self.open {
            self.file
                .set_len(self.size_bytes)
                .err_kind(ErrorKind::Internal, || format!("cutting segment {id} to its length"))?;
        }
        verify_written(&self.file, id, self.size_bytes, self.open)?;
        self.file.sync_data().err_kind(ErrorKind::Internal, || format!("fsync of segment {id}"))?;
        if !self.direct {
            drop_cached_pages(&self.file, if self.open { self.size_bytes as i64 } else { 0 });
        }
        Ok(())
    }
}

pub struct Syncer {
    ctx: Arc<Ctx>,
    streams: Vec<Arc<Mutex<StreamState>>>,
    /// Periodic flushes so far (for streams flushed every so many).
    rounds: std::sync::atomic::AtomicU64,
}

impl Syncer {
    pub fn new(ctx: Arc<Ctx>, streams: Vec<Arc<Mutex<StreamState>>>) -> Self {
        Syncer { ctx, streams, rounds: Default::default() }
    }

    /// One flush of every stream: take dirty rows and their bytes, write and fsync, commit.
    ///
    /// The writes happen outside the streams' locks, so a slow disk never stalls the
    /// ingest thread; the syncer is the only thread that writes segment files, so writes to
    /// a file keep their order.
    pub fn flush(&self) -> Result<(), Error> {
        self.flush_streams(true)
    }

    /// A periodic flush: the streams due this round (every stream but those flushed every
    /// few rounds, whose turn comes in theirs).
    pub fn flush_due(&self) -> Result<(), Error> {
        self.flush_streams(false)
    }

    fn flush_streams(&self, all: bool) -> Result<(), Error> {
        let round = self.rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut batch = index::Batch::default();
        let mut jobs = Vec::new();
        let mut dirs = BTreeSet::<PathBuf>::new();
        for (i, s) in self.streams.iter().enumerate() {
            let mut st = s.lock().expect("stream state");
            // A stream skipped this round keeps its rows and bytes (in order) for its turn.
            if !all && !round.is_multiple_of(u64::from(st.flush_every.max(1))) {
                continue;
            }
            let stream_id = st.stream_id;
            batch.runs.append(&mut st.dirty_runs);
            for seg in std::mem::take(&mut st.closed) {
                if seg.new_file {
                    dirs.insert(self.ctx.layout.stream_dir(stream_id));
                }
                jobs.push(Job::new(i, &seg.row, seg.file, seg.direct, seg.buf));
                batch.segments.push(seg.row);
            }
            if st.seg.as_ref().is_some_and(|s| s.dirty) {
                let mut next = st.take_spare();
                let seg = st.seg.as_mut().expect("checked above");
                seg.buf.continue_into(&mut next);
                let buf = std::mem::replace(&mut seg.buf, next);
                if seg.new_file {
                    dirs.insert(self.ctx.layout.stream_dir(stream_id));
                    seg.new_file = false;
                }
                seg.dirty = false;
                jobs.push(Job::new(i, &seg.row, seg.file.clone(), seg.direct, buf));
                batch.segments.push(seg.row.clone());
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        for j in &mut jobs {
            j.write_and_sync()?;
        }
        for d in &dirs {
            sync_dir(d)?;
        }
        index::commit(&mut self.ctx.db.lock().expect("db mutex"), &batch)?;
        for j in jobs {
            let mut st = self.streams[j.stream].lock().expect("stream state");
            if st.spare_bufs.len() < SPARE_BUFS_MAX {
                st.spare_bufs.push(j.buf);
            }
        }
        Ok(())
    }

    /// Flushes every `interval` until `stop` says so, then flushes once more. Flushes are at
    /// a fixed rate (not a fixed pause after each), so the time a flush takes does not add
    /// to the footage a crash can lose.
    pub fn run(self, interval: Duration, stop: std::sync::mpsc::Receiver<()>) -> Result<(), Error> {
        let mut next = std::time::Instant::now() + interval;
        loop {
            let wait = next.saturating_duration_since(std::time::Instant::now());
            let stopping = !matches!(stop.recv_timeout(wait), Err(std::sync::mpsc::RecvTimeoutError::Timeout));
            next = (next + interval).max(std::time::Instant::now());
            if stopping {
                self.flush()?;
            } else {
                self.flush_due()?;
            }
            if stopping {
                return Ok(());
            }
        }
    }
}
