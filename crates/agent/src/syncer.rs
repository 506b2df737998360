//! Makes written frames durable: write out the writers' buffers, fsync the files, fsync new
//! directory entries, then commit the index rows, every flush interval, for all streams in
//! one transaction.
//!
//! This order is the heart of crash safety (`design/recording.md`): an index row never
//! describes bytes that are not on stable storage, so after a crash the index is a prefix
//! of what the files hold and recovery only has to cut the files back to it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base::{Error, ErrorKind, ResultExt};

use crate::layout::sync_dir;
use crate::writer::{Ctx, StreamState};

pub struct Syncer {
    ctx: Arc<Ctx>,
    streams: Vec<Arc<Mutex<StreamState>>>,
}

impl Syncer {
    pub fn new(ctx: Arc<Ctx>, streams: Vec<Arc<Mutex<StreamState>>>) -> Self {
        Syncer { ctx, streams }
    }

    /// One flush: snapshot dirty rows, fsync, commit.
    pub fn flush(&self) -> Result<(), Error> {
        let mut batch = db::Batch::default();
        let mut files = Vec::new();
        let mut dirs = BTreeSet::<PathBuf>::new();
        for s in &self.streams {
            let mut st = s.lock().expect("stream state");
            let stream_id = st.stream_id;
            batch.runs.append(&mut st.dirty_runs);
            let closed = std::mem::take(&mut st.closed);
            for mut seg in closed {
                seg.write_out()?;
                seg.verify_written()?;
                if seg.new_file {
                    dirs.insert(self.ctx.layout.stream_dir(stream_id));
                }
                batch.segments.push(seg.row);
                files.push(seg.file);
            }
            if let Some(seg) = st.seg.as_mut().filter(|s| s.dirty) {
                seg.write_out()?;
                seg.verify_written()?;
                if seg.new_file {
                    dirs.insert(self.ctx.layout.stream_dir(stream_id));
                    seg.new_file = false;
                }
                seg.dirty = false;
                batch.segments.push(seg.row.clone());
                files.push(seg.file.clone());
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        for f in &files {
            f.sync_data().err_kind(ErrorKind::Internal, || "fsync of a segment file")?;
        }
        for d in &dirs {
            sync_dir(d)?;
        }
        db::commit(&mut self.ctx.db.lock().expect("db mutex"), &batch)
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
            self.flush()?;
            if stopping {
                return Ok(());
            }
        }
    }
}
