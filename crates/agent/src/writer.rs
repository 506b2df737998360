//! Turns one stream's frames into segment files and index rows.
//!
//! The [`Writer`] belongs to one streamer task. It reconstructs decode times, splits runs at
//! discontinuities, rotates segments at key frames, and appends each frame's bytes to the
//! current segment file. What it has written is described in a [`StreamState`] shared with
//! the syncer, which makes it durable (fsync, then index commit) every flush interval. The
//! procedure and its proof of crash safety are in `design/recording.md`.

use std::fs::File;
use std::io::{IoSlice, Write};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use base::clock::Clocks;
use base::{Error, ErrorKind, ResultExt};
use bytes::Bytes;
use media::Frame;
use media::index::{self, FrameInfo};
use media::reorder::{Discontinuity, Reorderer, Timed};

use crate::layout::Layout;

/// What the streamers and the syncer share.
pub struct Ctx {
    pub layout: Layout,
    pub clocks: Arc<dyn Clocks>,
    pub db: Arc<Mutex<db::Connection>>,
    pub next_segment_id: AtomicI64,
    pub next_run_id: AtomicI64,
    /// Segments are cut at the first key frame after this long.
    pub segment_duration_90k: i64,
}

/// Frames are held (by reference, not copied) and written with one `writev(2)` per flush
/// (or per this many bytes), which costs far less CPU than one write per frame.
const WRITE_BUFFER_BYTES_MAX: usize = 1 << 20;

/// A segment being written or just closed, with the state of its row.
pub(crate) struct OpenSeg {
    pub row: db::Segment,
    pub file: Arc<File>,
    /// Frames already in `row` but not yet written to `file`. Written only under the
    /// stream's lock, so writes to one file are never reordered.
    pub unwritten: Vec<Bytes>,
    /// Total length of `unwritten`.
    pub unwritten_bytes: usize,
    /// The row changed since the syncer last took it.
    pub dirty: bool,
    /// The file was created since the syncer last took it: its directory needs an fsync.
    pub new_file: bool,
}

impl OpenSeg {
    /// Writes the buffered bytes to the file (into the page cache; the syncer fsyncs).
    pub(crate) fn write_out(&mut self) -> Result<(), Error> {
        let mut slices: Vec<IoSlice<'_>> = self.unwritten.iter().map(|b| IoSlice::new(b)).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            // std caps one call at IOV_MAX slices; a short write continues where it stopped,
            // and a signal's interruption is retried, as write_all would.
            let n = match (&*self.file).write_vectored(rest) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => r.err_kind(ErrorKind::Internal, || format!("writing segment {}", self.row.id))?,
            };
            if n == 0 {
                base::bail!(Internal, "writing segment {}: the file accepted no bytes", self.row.id);
            }
            IoSlice::advance_slices(&mut rest, n);
        }
        drop(slices);
        self.unwritten.clear();
        self.unwritten_bytes = 0;
        Ok(())
    }

    /// The paired check before a row is committed: once the buffer is written out, the file
    /// holds exactly the bytes the row indexes. A mismatch is a bug, and committing would
    /// make the index lie, so the flush fails instead.
    pub(crate) fn verify_written(&self) -> Result<(), Error> {
        let len =
            self.file.metadata().err_kind(ErrorKind::Internal, || format!("stat of segment {}", self.row.id))?.len();
        if len != self.row.size_bytes as u64 || !self.unwritten.is_empty() {
            base::bail!(
                Internal,
                "segment {} file has {len} bytes but its row indexes {} (with {} unwritten)",
                self.row.id,
                self.row.size_bytes,
                self.unwritten_bytes
            );
        }
        Ok(())
    }
}

/// One stream's write state, guarded by a mutex shared with the syncer.
pub struct StreamState {
    pub stream_id: i64,
    pub(crate) seg: Option<OpenSeg>,
    /// Closed segments whose final row is not yet committed.
    pub(crate) closed: Vec<OpenSeg>,
    /// Run rows to upsert, in order.
    pub(crate) dirty_runs: Vec<db::Run>,
}

impl StreamState {
    pub fn new(stream_id: i64) -> Self {
        StreamState { stream_id, seg: None, closed: Vec::new(), dirty_runs: Vec::new() }
    }
}

struct Item {
    data: Bytes,
    is_key: bool,
    entry_id: i64,
}

struct RunCtx {
    row: db::Run,
    first_dts_90k: Option<i64>,
    last_duration_90k: u32,
}

/// Counters a streamer reports when it stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriterStats {
    pub frames_received: u64,
    pub frames_recorded: u64,
    /// Frames dropped while waiting for a key frame to start a run.
    pub frames_skipped: u64,
    pub runs: u64,
}

pub struct Writer {
    ctx: Arc<Ctx>,
    shared: Arc<Mutex<StreamState>>,
    stream_id: i64,
    reorder: Reorderer<Item>,
    pending: Option<Timed<Item>>,
    run: Option<RunCtx>,
    /// The interned id of the current codec parameters.
    entry_id: Option<i64>,
    /// End of the newest footage of this stream: new runs never start before it.
    last_end_90k: i64,
    last_key_pts_90k: i64,
    pub stats: WriterStats,
}

/// Longest accepted wait between key frames. With the longest configurable segment (600 s)
/// this keeps every segment within `db::SEGMENT_DURATION_90K_MAX` (15 minutes).
const KEY_FRAME_INTERVAL_90K_MAX: i64 = 5 * 60 * 90_000;
const _: () = assert!(600 * 90_000 + KEY_FRAME_INTERVAL_90K_MAX <= db::SEGMENT_DURATION_90K_MAX);

/// Duration given to the last frame of a run when no better estimate exists (1/30 s).
const DEFAULT_FRAME_DURATION_90K: u32 = 3000;

impl Writer {
    pub fn new(ctx: Arc<Ctx>, shared: Arc<Mutex<StreamState>>, last_end_90k: i64) -> Self {
        let stream_id = shared.lock().expect("stream state").stream_id;
        Writer {
            ctx,
            shared,
            stream_id,
            reorder: Reorderer::default(),
            pending: None,
            run: None,
            entry_id: None,
            last_end_90k,
            last_key_pts_90k: 0,
            stats: WriterStats::default(),
        }
    }

    pub fn in_run(&self) -> bool {
        self.run.is_some()
    }

    /// Accepts the next frame from the source.
    pub fn push(&mut self, frame: Frame) -> Result<(), Error> {
        self.stats.frames_received += 1;
        if let Some(e) = frame.new_sample_entry {
            let id = db::intern_sample_entry(&self.ctx.db.lock().expect("db mutex"), &e)?;
            if self.entry_id.is_some_and(|old| old != id) {
                tracing::info!(stream = self.stream_id, codec = %e.rfc6381_codec, width = e.width, height = e.height,
                    "codec parameters changed mid-stream; starting a new segment");
            }
            self.entry_id = Some(id);
        }
        let Some(entry_id) = self.entry_id else {
            return Err(base::err!(DataLoss, "frame arrived before any codec parameters"));
        };
        self.push_item(Item { data: frame.data, is_key: frame.is_key, entry_id }, frame.pts_90k)
    }

    fn push_item(&mut self, item: Item, pts_90k: i64) -> Result<(), Error> {
        if self.run.is_none() {
            if !item.is_key {
                self.stats.frames_skipped += 1;
                return Ok(());
            }
            self.start_run();
        }
        if item.is_key {
            self.last_key_pts_90k = pts_90k;
        } else if pts_90k.saturating_sub(self.last_key_pts_90k) > KEY_FRAME_INTERVAL_90K_MAX {
            // Segments end only at key frames; without them a segment would grow past what
            // the index's range queries assume (db::SEGMENT_DURATION_90K_MAX).
            tracing::warn!(stream = self.stream_id, "camera sent no key frame for 5 minutes; ending the run");
            self.end_run("camera sent no key frame for 5 minutes")?;
            self.stats.frames_skipped += 1;
            return Ok(());
        }
        match self.reorder.push(item, pts_90k) {
            Ok(timed) => {
                for t in timed {
                    self.timed(t)?;
                }
                Ok(())
            }
            Err((item, Discontinuity::Jump { delta_90k })) => {
                tracing::warn!(stream = self.stream_id, delta_90k, "timestamp discontinuity; ending the run");
                self.end_run(&format!("timestamp discontinuity of {delta_90k} (90 kHz units)"))?;
                self.push_item(item, pts_90k)
            }
        }
    }

    fn start_run(&mut self) {
        let wall = self.ctx.clocks.realtime_90k();
        let start = if wall < self.last_end_90k {
            tracing::warn!(
                stream = self.stream_id,
                behind_ms = (self.last_end_90k - wall) / 90,
                "wall clock is behind recorded footage (clock stepped back?); starting the new run at the end of \
                 the previous one so that footage stays in order"
            );
            self.last_end_90k
        } else {
            wall
        };
        let id = self.ctx.next_run_id.fetch_add(1, Ordering::Relaxed);
        let row = db::Run { id, stream_id: self.stream_id, start_90k: start, end_90k: None, end_reason: None };
        self.shared.lock().expect("stream state").dirty_runs.push(row.clone());
        self.run = Some(RunCtx { row, first_dts_90k: None, last_duration_90k: DEFAULT_FRAME_DURATION_90K });
        self.stats.runs += 1;
    }

    fn timed(&mut self, t: Timed<Item>) -> Result<(), Error> {
        if let Some(p) = self.pending.take() {
            let d = u32::try_from(t.dts_90k - p.dts_90k).expect("reorderer keeps dts increasing and bounded");
            self.write(p, d)?;
        }
        self.pending = Some(t);
        Ok(())
    }

    fn write(&mut self, t: Timed<Item>, duration_90k: u32) -> Result<(), Error> {
        let run = self.run.as_mut().expect("frames only flow inside a run");
        run.last_duration_90k = duration_90k.max(1);
        let first_dts = *run.first_dts_90k.get_or_insert(t.dts_90k);
        let wall_90k = run.row.start_90k + (t.dts_90k - first_dts);
        let run_id = run.row.id;
        let info = FrameInfo {
            size_bytes: u32::try_from(t.item.data.len()).unwrap_or(u32::MAX),
            duration_90k,
            is_key: t.item.is_key,
            pts_offset_90k: (t.pts_90k - t.dts_90k) as i32,
        };
        if let Err(e) = info.validate() {
            // Only a camera bug gets here (a multi-megabyte frame, decode times far apart
            // inside the reorder window). Dropping the frame damages the picture until the
            // next key frame but keeps the index valid.
            tracing::warn!(stream = self.stream_id, "dropping frame: {}", e.msg());
            self.stats.frames_skipped += 1;
            return Ok(());
        }
        let mut st = self.shared.lock().expect("stream state");
        let rotate = match &st.seg {
            None => true,
            Some(s) => {
                s.row.sample_entry_id != t.item.entry_id
                    || (t.item.is_key && s.row.duration_90k >= self.ctx.segment_duration_90k)
            }
        };
        if rotate {
            if !t.item.is_key {
                // Parameters changed on a non-key frame: it cannot start a segment.
                self.stats.frames_skipped += 1;
                return Ok(());
            }
            if let Some(mut old) = st.seg.take() {
                old.row.open = false;
                old.dirty = true;
                st.closed.push(old);
            }
            let id = self.ctx.next_segment_id.fetch_add(1, Ordering::Relaxed);
            let path = self.ctx.layout.segment(self.stream_id, id);
            let file = File::options()
                .create_new(true)
                .append(true)
                .open(&path)
                .err_kind(ErrorKind::Internal, || format!("creating segment file {}", path.display()))?;
            st.seg = Some(OpenSeg {
                row: db::Segment {
                    id,
                    stream_id: self.stream_id,
                    run_id,
                    sample_entry_id: t.item.entry_id,
                    start_90k: wall_90k,
                    duration_90k: 0,
                    frames: 0,
                    key_frames: 0,
                    size_bytes: 0,
                    open: true,
                    frame_index: Vec::with_capacity(4096),
                },
                file: Arc::new(file),
                unwritten: Vec::new(),
                unwritten_bytes: 0,
                dirty: true,
                new_file: true,
            });
        }
        let seg = st.seg.as_mut().expect("segment exists after rotation");
        seg.unwritten_bytes += t.item.data.len();
        seg.unwritten.push(t.item.data.clone());
        if seg.unwritten_bytes >= WRITE_BUFFER_BYTES_MAX {
            seg.write_out()?;
        }
        index::append(&mut seg.row.frame_index, &info);
        seg.row.frames += 1;
        seg.row.key_frames += i64::from(info.is_key);
        seg.row.size_bytes += i64::from(info.size_bytes);
        seg.row.duration_90k += i64::from(duration_90k);
        seg.dirty = true;
        self.last_end_90k = wall_90k + i64::from(duration_90k);
        self.stats.frames_recorded += 1;
        Ok(())
    }

    /// Ends the current run (if any): every held frame is written, the segment closed and
    /// the run row given its end and `reason`.
    pub fn end_run(&mut self, reason: &str) -> Result<(), Error> {
        if self.run.is_none() {
            return Ok(());
        }
        for t in self.reorder.flush() {
            self.timed(t)?;
        }
        if let Some(p) = self.pending.take() {
            let d = self.run.as_ref().map_or(DEFAULT_FRAME_DURATION_90K, |r| r.last_duration_90k);
            self.write(p, d)?;
        }
        let Some(mut run) = self.run.take() else { return Ok(()) };
        let mut st = self.shared.lock().expect("stream state");
        if let Some(mut old) = st.seg.take() {
            old.row.open = false;
            old.dirty = true;
            st.closed.push(old);
        }
        run.row.end_90k = Some(self.last_end_90k.max(run.row.start_90k));
        run.row.end_reason = Some(reason.to_string());
        st.dirty_runs.push(run.row);
        Ok(())
    }
}
