//! Turns one stream's frames into segment files and index rows.
//!
//! The [`Writer`] belongs to one streamer task. It reconstructs decode times, splits runs at
//! discontinuities, rotates segments at key frames, and appends each frame's bytes to the
//! current segment file. What it has written is described in a [`StreamState`] shared with
//! the syncer, which makes it durable (fsync, then index commit) every flush interval. The
//! procedure and its proof of crash safety are in `design/recording.md`.

use std::fs::File;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use base::clock::Clocks;
use base::{Error, ErrorKind, ResultExt};
use bytes::Bytes;
use media::Frame;
use media::index::{self as frame_index, FrameInfo};
use media::reorder::{Discontinuity, Reorderer, Timed};

use crate::layout::Layout;

/// What the streamers and the syncer share.
pub struct Ctx {
    pub layout: Layout,
    pub clocks: Arc<dyn Clocks>,
    pub db: Arc<Mutex<index::Connection>>,
    pub next_segment_id: AtomicI64,
    pub next_run_id: AtomicI64,
    /// Segments are cut at the first key frame after this long.
    pub segment_duration_90k: i64,
    /// Ask for direct I/O on new segment files (see [`create_segment_file`]). Always true
    /// in the product; false only to measure or test the page-cache path.
    pub direct_io: bool,
}

/// File offsets, lengths and buffer addresses of segment writes are multiples of this, as
/// direct I/O (`O_DIRECT`) requires. 4 KiB covers the logical block size of common disks and
/// the usual block size of ext4 and XFS.
pub const WRITE_ALIGN: usize = 4096;

/// Most bytes one stream may hold waiting for the syncer (about a minute of a 4 Mbit/s
/// camera). Past it the disk is not keeping up and the stream's run ends (a recorded gap)
/// rather than the agent's memory grow without bound.
const BACKLOG_BYTES_MAX: usize = 32 << 20;

/// Initial capacity of a [`SegBuf`]; it grows to what a flush interval of the camera needs.
const SEG_BUF_INITIAL: usize = 256 << 10;

/// Bytes of one segment waiting to be written, in memory aligned for direct I/O, and the
/// file offset (a multiple of [`WRITE_ALIGN`]) where they go.
///
/// Each flush writes the whole buffer padded with zeros to a multiple of `WRITE_ALIGN`; the
/// last, partly filled block stays at the start of the next buffer, and the next flush
/// writes it again with the bytes that followed. Rewriting it is safe for crash safety: its
/// indexed bytes are rewritten with the same values, so a torn write leaves them intact.
pub(crate) struct SegBuf {
    /// `WRITE_ALIGN` bytes longer than the capacity, so that an aligned region of the
    /// capacity fits whatever address the allocator returned. Never reallocated.
    mem: Vec<u8>,
    /// Offset in `mem` of the aligned start.
    start: usize,
    len: usize,
    file_off: u64,
}

impl SegBuf {
    pub(crate) fn with_capacity(capacity: usize) -> SegBuf {
        let capacity = capacity.next_multiple_of(WRITE_ALIGN).max(WRITE_ALIGN);
        let mem = vec![0u8; capacity + WRITE_ALIGN];
        let start = mem.as_ptr().align_offset(WRITE_ALIGN);
        SegBuf { mem, start, len: 0, file_off: 0 }
    }

    fn capacity(&self) -> usize {
        self.mem.len() - WRITE_ALIGN
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends bytes, growing (to the next power of two) when they do not fit.
    pub(crate) fn push(&mut self, data: &[u8]) {
        let need = self.len + data.len();
        if need > self.capacity() {
            let mut bigger = SegBuf::with_capacity(need.next_power_of_two());
            bigger.file_off = self.file_off;
            bigger.push(&self.mem[self.start..self.start + self.len]);
            *self = bigger;
        }
        self.mem[self.start + self.len..self.start + need].copy_from_slice(data);
        self.len = need;
    }

    /// The bytes padded with zeros to a multiple of `WRITE_ALIGN`, aligned in memory.
    pub(crate) fn padded(&mut self) -> &[u8] {
        let end = self.len.next_multiple_of(WRITE_ALIGN);
        self.mem[self.start + self.len..self.start + end].fill(0);
        &self.mem[self.start..self.start + end]
    }

    /// Empties `next` and makes it this buffer's continuation: it starts at the block that
    /// holds this buffer's end, holding that block's bytes.
    pub(crate) fn continue_into(&self, next: &mut SegBuf) {
        let whole = self.len / WRITE_ALIGN * WRITE_ALIGN;
        next.len = 0;
        next.file_off = self.file_off + whole as u64;
        next.push(&self.mem[self.start + whole..self.start + self.len]);
    }

    /// Empties the buffer for a new file.
    pub(crate) fn reset(&mut self) {
        self.len = 0;
        self.file_off = 0;
    }

    /// Writes the padded bytes at their offset (`pwrite`, resumed after a short write).
    pub(crate) fn write_to(&mut self, file: &File, segment_id: i64) -> Result<(), Error> {
        use std::os::unix::fs::FileExt;
        let off = self.file_off;
        let mut data = self.padded();
        let mut at = off;
        while !data.is_empty() {
            let n = match file.write_at(data, at) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => r.err_kind(ErrorKind::Internal, || {
                    format!("writing {} bytes to segment {segment_id} at offset {at}", data.len())
                })?,
            };
            if n == 0 {
                base::bail!(Internal, "writing segment {segment_id} at offset {at}: the file accepted no bytes");
            }
            data = &data[n..];
            at += n as u64;
        }
        Ok(())
    }
}

/// Creates a segment file and asks for direct I/O on it. Segment bytes go from the aligned
/// buffers straight to the disk: the kernel neither copies them into the page cache nor
/// tracks them there for writeback, which was the largest part of the agent's CPU per
/// stream (BENCHMARKS.md). File systems without direct I/O (tmpfs, some network and FUSE
/// ones) refuse the flag; their files are written through the page cache, the same way.
fn create_segment_file(path: &std::path::Path, want_direct: bool) -> Result<(File, bool), Error> {
    let file = File::options()
        .create_new(true)
        .write(true)
        .open(path)
        .err_kind(ErrorKind::Internal, || format!("creating segment file {}", path.display()))?;
    if !want_direct {
        return Ok((file, false));
    }
    let direct = match enable_direct(&file) {
        Ok(()) => true,
        Err(why) => {
            static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if !SAID.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    "{}: no direct I/O ({why}); writing segments through the page cache",
                    path.parent().unwrap_or(path).display()
                );
            }
            false
        }
    };
    Ok((file, direct))
}

/// Turns on direct I/O for `file` if its file system takes it with our alignment: asks
/// `statx` for the file's direct-I/O alignment (Linux 6.1 and later say), then sets
/// `O_DIRECT`. A file system that needs coarser alignment than [`WRITE_ALIGN`] is refused
/// here rather than failing every write.
fn enable_direct(file: &File) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: `statx` is a plain C struct, valid when all zero.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: statx writes only into `stx`; an empty path with AT_EMPTY_PATH names `fd`,
    // which is open for the life of `file`.
    let r = unsafe { libc::statx(fd, c"".as_ptr(), libc::AT_EMPTY_PATH, libc::STATX_DIOALIGN, &mut stx) };
    if r == 0 && stx.stx_mask & libc::STATX_DIOALIGN != 0 {
        let (mem, off) = (stx.stx_dio_mem_align as usize, stx.stx_dio_offset_align as usize);
        if off == 0 || mem == 0 {
            return Err("the file system does not support it".into());
        }
        if !WRITE_ALIGN.is_multiple_of(off) || !WRITE_ALIGN.is_multiple_of(mem) {
            return Err(format!(
                "it needs file offsets aligned to {off} bytes and memory to {mem}; segments are written in \
                 blocks of {WRITE_ALIGN}"
            ));
        }
    }
    // SAFETY: F_GETFL and F_SETFL only read and set the open file's status flags.
    let set = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_DIRECT) == 0
    };
    if !set {
        return Err(std::io::Error::last_os_error().to_string());
    }
    Ok(())
}

/// A segment being written or just closed, with the state of its row.
pub(crate) struct OpenSeg {
    pub row: index::Segment,
    pub file: Arc<File>,
    /// The file takes direct I/O (see [`create_segment_file`]).
    pub direct: bool,
    /// The bytes in `row` that the syncer has not yet taken, from the last block it wrote
    /// partly.
    pub buf: SegBuf,
    /// The row changed since the syncer last took it.
    pub dirty: bool,
    /// The file was created since the syncer last took it: its directory needs an fsync.
    pub new_file: bool,
}

/// The paired check after a segment's bytes are written, before its row is committed: the
/// file holds exactly the bytes the row indexes, plus (while the segment is open) the zeros
/// that pad it to a whole block. A mismatch is a bug, and committing would make the index
/// lie, so the flush fails instead.
pub(crate) fn verify_written(file: &File, id: i64, indexed: u64, open: bool) -> Result<(), Error> {
    let len = file.metadata().err_kind(ErrorKind::Internal, || format!("stat of segment {id}"))?.len();
    let expected = if open { indexed.next_multiple_of(WRITE_ALIGN as u64) } else { indexed };
    if len != expected {
        base::bail!(
            Internal,
            "segment {id} file has {len} bytes but its row indexes {indexed} (expected a file of {expected})"
        );
    }
    Ok(())
}

/// One stream's write state, guarded by a mutex shared with the syncer.
pub struct StreamState {
    pub stream_id: i64,
    pub(crate) seg: Option<OpenSeg>,
    /// Closed segments whose final row is not yet committed.
    pub(crate) closed: Vec<OpenSeg>,
    /// Run rows to upsert, in order.
    pub(crate) dirty_runs: Vec<index::Run>,
    /// Emptied buffers, reused so that a stream's writes keep to memory it recently used.
    pub(crate) spare_bufs: Vec<SegBuf>,
    /// The syncer takes this stream's bytes every this many flushes (1: every flush; a
    /// camera's sound: [`SOUND_FLUSH_EVERY`]). A clean stop takes everything.
    pub(crate) flush_every: u32,
}

/// Flushes between two of a sound stream's: its bytes are a few KiB a second, and each
/// file a flush syncs costs the same whatever its size (a device cache flush, a journal
/// commit), so syncing sound as often as pictures would nearly double the syncer's work
/// for 3% more bytes (BENCHMARKS.md). What a crash can lose of the sound is bounded by this
/// many flush intervals instead of one.
pub const SOUND_FLUSH_EVERY: u32 = 4;

impl StreamState {
    pub fn new(stream_id: i64) -> Self {
        StreamState {
            stream_id,
            seg: None,
            closed: Vec::new(),
            dirty_runs: Vec::new(),
            spare_bufs: Vec::new(),
            flush_every: 1,
        }
    }

    /// A camera's sound: flushed every [`SOUND_FLUSH_EVERY`] flushes.
    pub fn sound(stream_id: i64) -> Self {
        StreamState { flush_every: SOUND_FLUSH_EVERY, ..StreamState::new(stream_id) }
    }

    /// An empty buffer for a new file.
    pub(crate) fn take_spare(&mut self) -> SegBuf {
        match self.spare_bufs.pop() {
            Some(mut b) => {
                b.reset();
                b
            }
            None => SegBuf::with_capacity(SEG_BUF_INITIAL),
        }
    }

    /// Bytes waiting for the syncer.
    fn backlog(&self) -> usize {
        self.seg.iter().chain(&self.closed).map(|s| s.buf.len()).sum()
    }
}

struct Item {
    data: Bytes,
    is_key: bool,
    entry_id: i64,
}

struct RunCtx {
    row: index::Run,
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
    /// A sound writer's runs follow the picture's: the video run they follow, and the
    /// offset from the shared source clock to wall time that run fixed (see
    /// [`Writer::push_following`]). `None` for a picture's writer, whose runs start at the
    /// arrival of their first frame.
    following: Option<(i64, i64)>,
    pub stats: WriterStats,
}

/// Longest accepted wait between key frames. With the longest configurable segment (600 s)
/// this keeps every segment within `index::SEGMENT_DURATION_90K_MAX` (15 minutes).
const KEY_FRAME_INTERVAL_90K_MAX: i64 = 5 * 60 * 90_000;
const _: () = assert!(600 * 90_000 + KEY_FRAME_INTERVAL_90K_MAX <= index::SEGMENT_DURATION_90K_MAX);

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
            following: None,
            stats: WriterStats::default(),
        }
    }

    pub fn in_run(&self) -> bool {
        self.run.is_some()
    }

    /// The current run and the offset from source time to wall time it fixed (the wall
    /// time of source time `t` is `t + offset`), once its first frame is written. The sound
    /// of the same session follows it.
    pub fn anchor(&self) -> Option<(i64, i64)> {
        let run = self.run.as_ref()?;
        Some((run.row.id, run.row.start_90k - run.first_dts_90k?))
    }

    /// Accepts a frame of sound that belongs with the picture whose writer gave `anchor`
    /// ([`Writer::anchor`]): its wall time is its source time plus the picture's offset, so
    /// the two stay in sync however late either arrives. Sound outside a picture's run is
    /// not kept, and a new picture run starts a new sound run.
    pub fn push_following(&mut self, mut frame: Frame, anchor: Option<(i64, i64)>) -> Result<(), Error> {
        // Parameters count even on a frame that is not kept: the frames after it use them.
        if let Some(e) = frame.new_sample_entry.take() {
            self.take_entry(&e)?;
        }
        let Some((video_run, offset)) = anchor else {
            self.end_run("the picture's run ended")?;
            self.following = None;
            self.stats.frames_received += 1;
            self.stats.frames_skipped += 1;
            return Ok(());
        };
        if self.following.is_some_and(|(r, _)| r != video_run) {
            self.end_run("the picture started a new run")?;
        }
        self.following = Some((video_run, offset));
        self.push(frame)
    }

    /// Accepts the next frame from the source. Fails when the stream's backlog is over
    /// [`BACKLOG_BYTES_MAX`]; the caller ends the run.
    pub fn push(&mut self, frame: Frame) -> Result<(), Error> {
        self.stats.frames_received += 1;
        let backlog = self.shared.lock().expect("stream state").backlog();
        if backlog > BACKLOG_BYTES_MAX {
            base::bail!(
                ResourceExhausted,
                "the disk is not keeping up: {} MiB of this camera's footage wait to be written",
                backlog >> 20
            );
        }
        if let Some(e) = frame.new_sample_entry {
            self.take_entry(&e)?;
        }
        let Some(entry_id) = self.entry_id else {
            return Err(base::err!(DataLoss, "frame arrived before any codec parameters"));
        };
        self.push_item(Item { data: frame.data, is_key: frame.is_key, entry_id }, frame.pts_90k)
    }

    /// Interns new codec parameters; the frames that follow use them.
    fn take_entry(&mut self, e: &media::SampleEntry) -> Result<(), Error> {
        let id = index::intern_sample_entry(&self.ctx.db.lock().expect("db mutex"), e)?;
        if self.entry_id.is_some_and(|old| old != id) {
            tracing::info!(stream = self.stream_id, codec = %e.rfc6381_codec, width = e.width, height = e.height,
                "codec parameters changed mid-stream; starting a new segment");
        }
        self.entry_id = Some(id);
        Ok(())
    }

    fn push_item(&mut self, item: Item, pts_90k: i64) -> Result<(), Error> {
        if self.run.is_none() {
            if !item.is_key {
                self.stats.frames_skipped += 1;
                return Ok(());
            }
            self.start_run(pts_90k);
        }
        if item.is_key {
            self.last_key_pts_90k = pts_90k;
        } else if pts_90k.saturating_sub(self.last_key_pts_90k) > KEY_FRAME_INTERVAL_90K_MAX {
            // Segments end only at key frames; without them a segment would grow past what
            // the index's range queries assume (index::SEGMENT_DURATION_90K_MAX).
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

    /// Starts a run whose first frame has source time `pts_90k`: at that frame's arrival,
    /// or (sound) where the picture's clock puts it.
    fn start_run(&mut self, pts_90k: i64) {
        let wall = match self.following {
            Some((_, offset)) => pts_90k + offset,
            None => self.ctx.clocks.realtime_90k(),
        };
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
        let row = index::Run { id, stream_id: self.stream_id, start_90k: start, end_90k: None, end_reason: None };
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
            let (file, direct) = create_segment_file(&path, self.ctx.direct_io)?;
            let buf = st.take_spare();
            st.seg = Some(OpenSeg {
                row: index::Segment {
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
                direct,
                buf,
                dirty: true,
                new_file: true,
            });
        }
        let seg = st.seg.as_mut().expect("segment exists after rotation");
        seg.buf.push(&t.item.data);
        frame_index::append(&mut seg.row.frame_index, &info);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seg_buf_stays_aligned_as_it_grows_and_pads_with_zeros() {
        let mut b = SegBuf::with_capacity(10);
        assert_eq!(b.capacity(), WRITE_ALIGN);
        let data: Vec<u8> = (0..3 * WRITE_ALIGN + 5).map(|i| i as u8 | 1).collect();
        b.push(&data[..100]);
        b.push(&data[100..]);
        assert_eq!(b.len(), data.len());
        assert!(b.capacity() >= data.len());
        let padded = b.padded();
        assert_eq!(padded.as_ptr() as usize % WRITE_ALIGN, 0);
        assert_eq!(padded.len(), 4 * WRITE_ALIGN);
        assert_eq!(&padded[..data.len()], &data[..]);
        assert!(padded[data.len()..].iter().all(|&x| x == 0));
    }

    #[test]
    fn seg_buf_continues_from_its_partly_filled_block() {
        let mut b = SegBuf::with_capacity(WRITE_ALIGN);
        b.file_off = 2 * WRITE_ALIGN as u64;
        let data: Vec<u8> = (0..WRITE_ALIGN + 7).map(|i| (i % 251) as u8).collect();
        b.push(&data);
        let mut next = SegBuf::with_capacity(WRITE_ALIGN);
        next.push(b"stale");
        b.continue_into(&mut next);
        assert_eq!(next.file_off, 3 * WRITE_ALIGN as u64);
        assert_eq!(next.len(), 7);
        assert_eq!(next.padded()[..7], data[WRITE_ALIGN..]);
        // Ending on a block boundary leaves nothing to carry.
        let mut c = SegBuf::with_capacity(WRITE_ALIGN);
        c.push(&data[..WRITE_ALIGN]);
        c.continue_into(&mut next);
        assert_eq!((next.file_off, next.len()), (WRITE_ALIGN as u64, 0));
    }
}
