//! Row types and queries.

use base::{Error, ErrorKind, ResultExt};
use media::{Codec, SampleEntry};
use rusqlite::{Connection, OptionalExtension, params};

fn sql_err(what: &'static str) -> impl FnOnce() -> String {
    move || what.to_string()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    Main,
    Sub,
    /// The sound of the camera's main stream, on the same clock (recorded only when asked).
    Audio,
}

impl StreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Main => "main",
            StreamKind::Sub => "sub",
            StreamKind::Audio => "audio",
        }
    }
}

/// Returns the stream id for `camera`/`kind`, creating camera and stream rows as needed.
pub fn ensure_stream(conn: &Connection, camera: &str, kind: StreamKind) -> Result<i64, Error> {
    conn.execute("insert into camera (name) values (?) on conflict (name) do nothing", [camera])
        .err_kind(ErrorKind::Internal, sql_err("inserting camera"))?;
    let camera_id: i64 = conn
        .query_row("select id from camera where name = ?", [camera], |r| r.get(0))
        .err_kind(ErrorKind::Internal, sql_err("reading camera"))?;
    conn.execute(
        "insert into stream (camera_id, kind) values (?, ?) on conflict (camera_id, kind) do nothing",
        params![camera_id, kind.as_str()],
    )
    .err_kind(ErrorKind::Internal, sql_err("inserting stream"))?;
    conn.query_row("select id from stream where camera_id = ? and kind = ?", params![camera_id, kind.as_str()], |r| {
        r.get(0)
    })
    .err_kind(ErrorKind::Internal, sql_err("reading stream"))
}

/// Looks up a stream by camera name and kind.
pub fn find_stream(conn: &Connection, camera: &str, kind: StreamKind) -> Result<Option<i64>, Error> {
    conn.query_row(
        "select s.id from stream s join camera c on c.id = s.camera_id where c.name = ? and s.kind = ?",
        params![camera, kind.as_str()],
        |r| r.get(0),
    )
    .optional()
    .err_kind(ErrorKind::Internal, sql_err("finding stream"))
}

#[derive(Clone, Debug)]
pub struct StreamRow {
    pub id: i64,
    pub camera: String,
    pub kind: String,
}

pub fn list_streams(conn: &Connection) -> Result<Vec<StreamRow>, Error> {
    let mut st = conn
        .prepare(
            "select s.id, c.name, s.kind from stream s join camera c on c.id = s.camera_id order by c.name, s.kind",
        )
        .err_kind(ErrorKind::Internal, sql_err("listing streams"))?;
    st.query_map([], |r| Ok(StreamRow { id: r.get(0)?, camera: r.get(1)?, kind: r.get(2)? }))
        .and_then(|rows| rows.collect())
        .err_kind(ErrorKind::Internal, sql_err("listing streams"))
}

/// Returns the id of `entry`, inserting it if new.
pub fn intern_sample_entry(conn: &Connection, entry: &SampleEntry) -> Result<i64, Error> {
    conn.execute(
        "insert into sample_entry (codec, width, height, rfc6381_codec, data) values (?, ?, ?, ?, ?)
         on conflict (data) do nothing",
        params![entry.codec.as_str(), entry.width, entry.height, entry.rfc6381_codec, entry.data],
    )
    .err_kind(ErrorKind::Internal, sql_err("inserting sample entry"))?;
    conn.query_row("select id from sample_entry where data = ?", [&entry.data], |r| r.get(0))
        .err_kind(ErrorKind::Internal, sql_err("reading sample entry"))
}

pub fn get_sample_entry(conn: &Connection, id: i64) -> Result<SampleEntry, Error> {
    let (codec, data): (String, Vec<u8>) = conn
        .query_row("select codec, data from sample_entry where id = ?", [id], |r| Ok((r.get(0)?, r.get(1)?)))
        .err_kind(ErrorKind::DataLoss, || format!("reading sample entry {id}"))?;
    let e = SampleEntry::from_box(data)
        .map_err(|e| Error::new(ErrorKind::DataLoss, format!("sample entry {id}: {}", e.msg())))?;
    if Some(e.codec) != Codec::parse(&codec) {
        return Err(base::err!(DataLoss, "sample entry {id}: codec column {codec:?} disagrees with its box"));
    }
    Ok(e)
}

/// A run row as written by the agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub id: i64,
    pub stream_id: i64,
    pub start_90k: i64,
    pub end_90k: Option<i64>,
    pub end_reason: Option<String>,
}

/// A segment row. `frame_index` is the complete index of the frames covered so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub id: i64,
    pub stream_id: i64,
    pub run_id: i64,
    pub sample_entry_id: i64,
    pub start_90k: i64,
    pub duration_90k: i64,
    pub frames: i64,
    pub key_frames: i64,
    pub size_bytes: i64,
    pub open: bool,
    pub frame_index: Vec<u8>,
}

impl Segment {
    pub fn end_90k(&self) -> i64 {
        self.start_90k + self.duration_90k
    }
}

/// Everything one flush commits, in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    pub runs: Vec<Run>,
    pub segments: Vec<Segment>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty() && self.segments.is_empty()
    }
}

/// Commits a batch of run and segment upserts atomically.
pub fn commit(conn: &mut Connection, batch: &Batch) -> Result<(), Error> {
    let tx = conn.transaction().err_kind(ErrorKind::Internal, sql_err("begin"))?;
    {
        let mut run = tx
            .prepare_cached(
                "insert into run (id, stream_id, start_90k, end_90k, end_reason) values (?, ?, ?, ?, ?)
                 on conflict (id) do update set end_90k = excluded.end_90k, end_reason = excluded.end_reason",
            )
            .err_kind(ErrorKind::Internal, sql_err("preparing run upsert"))?;
        for r in &batch.runs {
            run.execute(params![r.id, r.stream_id, r.start_90k, r.end_90k, r.end_reason])
                .err_kind(ErrorKind::Internal, || format!("upserting run {}", r.id))?;
        }
        let mut seg = tx
            .prepare_cached(
                "insert into segment (id, stream_id, run_id, sample_entry_id, start_90k, duration_90k, frames,
                                      key_frames, size_bytes, open, frame_index)
                 values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 on conflict (id) do update set duration_90k = excluded.duration_90k, frames = excluded.frames,
                   key_frames = excluded.key_frames, size_bytes = excluded.size_bytes, open = excluded.open,
                   frame_index = excluded.frame_index",
            )
            .err_kind(ErrorKind::Internal, sql_err("preparing segment upsert"))?;
        for s in &batch.segments {
            seg.execute(params![
                s.id,
                s.stream_id,
                s.run_id,
                s.sample_entry_id,
                s.start_90k,
                s.duration_90k,
                s.frames,
                s.key_frames,
                s.size_bytes,
                s.open,
                s.frame_index
            ])
            .err_kind(ErrorKind::Internal, || format!("upserting segment {}", s.id))?;
        }
    }
    tx.commit().err_kind(ErrorKind::Internal, sql_err("committing flush"))
}

const SEGMENT_COLS: &str = "id, stream_id, run_id, sample_entry_id, start_90k, duration_90k, frames, key_frames, \
                            size_bytes, open, frame_index";

fn segment_row(r: &rusqlite::Row) -> rusqlite::Result<Segment> {
    Ok(Segment {
        id: r.get(0)?,
        stream_id: r.get(1)?,
        run_id: r.get(2)?,
        sample_entry_id: r.get(3)?,
        start_90k: r.get(4)?,
        duration_90k: r.get(5)?,
        frames: r.get(6)?,
        key_frames: r.get(7)?,
        size_bytes: r.get(8)?,
        open: r.get(9)?,
        frame_index: r.get(10)?,
    })
}

/// Segments of `stream_id` that overlap `[start_90k, end_90k)`, oldest first.
pub fn segments_in_range(
    conn: &Connection,
    stream_id: i64,
    start_90k: i64,
    end_90k: i64,
) -> Result<Vec<Segment>, Error> {
    // Segments are bounded in length (the agent caps them), so `start_90k > start − max`
    // lets the index do the work instead of scanning every older segment.
    let sql = format!(
        "select {SEGMENT_COLS} from segment where stream_id = ? and start_90k < ? and start_90k >= ? \
         and start_90k + duration_90k > ? order by start_90k, id"
    );
    let mut st = conn.prepare_cached(&sql).err_kind(ErrorKind::Internal, sql_err("preparing range query"))?;
    st.query_map(params![stream_id, end_90k, start_90k - SEGMENT_DURATION_90K_MAX, start_90k], segment_row)
        .and_then(|rows| rows.collect())
        .err_kind(ErrorKind::Internal, sql_err("querying segments"))
}

/// The longest a segment may be; the agent rotates well before this.
pub const SEGMENT_DURATION_90K_MAX: i64 = 15 * 60 * 90_000;

/// Every segment, ordered by stream then time (for `check`).
pub fn all_segments(conn: &Connection) -> Result<Vec<Segment>, Error> {
    let sql = format!("select {SEGMENT_COLS} from segment order by stream_id, start_90k, id");
    let mut st = conn.prepare(&sql).err_kind(ErrorKind::Internal, sql_err("preparing segment scan"))?;
    st.query_map([], segment_row)
        .and_then(|rows| rows.collect())
        .err_kind(ErrorKind::Internal, sql_err("scanning segments"))
}

/// Segments still marked open (interrupted by a crash, or being written).
pub fn open_segments(conn: &Connection) -> Result<Vec<Segment>, Error> {
    let sql = format!("select {SEGMENT_COLS} from segment where open = 1 order by id");
    let mut st = conn.prepare(&sql).err_kind(ErrorKind::Internal, sql_err("preparing open-segment query"))?;
    st.query_map([], segment_row)
        .and_then(|rows| rows.collect())
        .err_kind(ErrorKind::Internal, sql_err("querying open segments"))
}

pub fn all_segment_ids(conn: &Connection) -> Result<Vec<(i64, i64)>, Error> {
    let mut st = conn.prepare("select stream_id, id from segment").err_kind(ErrorKind::Internal, sql_err("ids"))?;
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .err_kind(ErrorKind::Internal, sql_err("listing segment ids"))
}

pub fn delete_segment(conn: &Connection, id: i64) -> Result<(), Error> {
    conn.execute("delete from segment where id = ?", [id])
        .err_kind(ErrorKind::Internal, || format!("deleting segment {id}"))?;
    Ok(())
}

/// Deletes run rows that no longer have segments and are finished (or interrupted).
pub fn delete_empty_runs(conn: &Connection) -> Result<usize, Error> {
    conn.execute("delete from run where not exists (select 1 from segment s where s.run_id = run.id)", [])
        .err_kind(ErrorKind::Internal, sql_err("deleting empty runs"))
}

/// Closes what a crash left open: every open segment, and every run without an end (given
/// its last segment's end and `reason`). Returns the number of runs closed.
pub fn close_interrupted(conn: &Connection, reason: &str) -> Result<usize, Error> {
    conn.execute("update segment set open = 0 where open = 1", [])
        .err_kind(ErrorKind::Internal, sql_err("closing segments"))?;
    conn.execute(
        "update run set end_90k = coalesce((select max(s.start_90k + s.duration_90k) from segment s
                                            where s.run_id = run.id), start_90k),
                        end_reason = ?
         where end_90k is null",
        [reason],
    )
    .err_kind(ErrorKind::Internal, sql_err("closing runs"))
}

/// The end of a stream's newest footage (0 if it has none).
pub fn footage_end_90k(conn: &Connection, stream_id: i64) -> Result<i64, Error> {
    conn.query_row(
        "select coalesce(max(start_90k + duration_90k), 0) from segment where stream_id = ?",
        [stream_id],
        |r| r.get(0),
    )
    .err_kind(ErrorKind::Internal, sql_err("reading the end of footage"))
}

/// Runs of a stream overlapping `[start_90k, end_90k)`, oldest first.
pub fn runs_in_range(
    conn: &Connection,
    stream_id: i64,
    start_90k: i64,
    end_90k: i64,
) -> Result<Vec<(Run, i64, i64)>, Error> {
    // Returns each run with its recorded extent (first segment start, last segment end).
    let mut st = conn
        .prepare_cached(
            "select r.id, r.stream_id, r.start_90k, r.end_90k, r.end_reason,
                    min(s.start_90k), max(s.start_90k + s.duration_90k)
             from run r join segment s on s.run_id = r.id
             where r.stream_id = ?
             group by r.id
             having min(s.start_90k) < ? and max(s.start_90k + s.duration_90k) > ?
             order by min(s.start_90k)",
        )
        .err_kind(ErrorKind::Internal, sql_err("preparing run query"))?;
    st.query_map(params![stream_id, end_90k, start_90k], |r| {
        Ok((
            Run {
                id: r.get(0)?,
                stream_id: r.get(1)?,
                start_90k: r.get(2)?,
                end_90k: r.get(3)?,
                end_reason: r.get(4)?,
            },
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .and_then(|rows| rows.collect())
    .err_kind(ErrorKind::Internal, sql_err("querying runs"))
}

pub fn max_ids(conn: &Connection) -> Result<(i64, i64), Error> {
    conn.query_row(
        "select coalesce((select max(id) from segment), 0), coalesce((select max(id) from run), 0)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .err_kind(ErrorKind::Internal, sql_err("reading max ids"))
}

/// A stream's storage use, for retention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    pub stream_id: i64,
    pub camera: String,
    pub size_bytes: i64,
}

pub fn usage(conn: &Connection) -> Result<Vec<Usage>, Error> {
    let mut st = conn
        .prepare_cached(
            "select st.id, c.name, coalesce(sum(s.size_bytes), 0)
             from stream st join camera c on c.id = st.camera_id left join segment s on s.stream_id = st.id
             group by st.id order by st.id",
        )
        .err_kind(ErrorKind::Internal, sql_err("preparing usage"))?;
    st.query_map([], |r| Ok(Usage { stream_id: r.get(0)?, camera: r.get(1)?, size_bytes: r.get(2)? }))
        .and_then(|rows| rows.collect())
        .err_kind(ErrorKind::Internal, sql_err("querying usage"))
}

/// Where a closed segment sits, without its frame index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub id: i64,
    pub stream_id: i64,
    pub size_bytes: i64,
    pub end_90k: i64,
}

/// The oldest closed segments of `stream_id`, at most `limit`.
pub fn oldest_closed(conn: &Connection, stream_id: i64, limit: usize) -> Result<Vec<Extent>, Error> {
    let mut st = conn
        .prepare_cached(
            "select id, stream_id, size_bytes, start_90k + duration_90k from segment
             where open = 0 and stream_id = ?1 order by start_90k, id limit ?2",
        )
        .err_kind(ErrorKind::Internal, sql_err("preparing oldest query"))?;
    st.query_map(params![stream_id, limit as i64], |r| {
        Ok(Extent { id: r.get(0)?, stream_id: r.get(1)?, size_bytes: r.get(2)?, end_90k: r.get(3)? })
    })
    .and_then(|rows| rows.collect())
    .err_kind(ErrorKind::Internal, sql_err("querying oldest segments"))
}

/// An event as stored (see the `event` table in `schema/v3.sql`).
#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    /// Assigned by [`insert_event`]; ignored on insert.
    pub id: i64,
    pub camera: String,
    pub kind: String,
    pub label: String,
    pub start_90k: i64,
    pub end_90k: i64,
    pub score: f64,
    pub zones: Vec<String>,
    pub clip_start_90k: i64,
    pub clip_end_90k: i64,
    pub has_snapshot: bool,
    /// The object's box, x0,y0,x1,y1 in fractions of the frame.
    pub bbox: Option<[f32; 4]>,
    pub uploaded: bool,
    /// The event goes on: stored when it began; [`finish_event`] fills in the rest.
    pub open: bool,
    /// Its start (metadata and snapshot so far) is sealed for the server, or has none to send.
    pub start_sealed: bool,
    /// The event it continues (a long visit cut at the maximum event length).
    pub continues: Option<i64>,
}

pub const EVENT_KINDS: [&str; 7] = ["person", "vehicle", "animal", "package", "motion", "doorbell", "sensor"];

/// Inserts an event for an existing camera and returns its id. Checks what the schema
/// checks first, so that a bad event is a clear error rather than a constraint failure.
pub fn insert_event(conn: &Connection, e: &EventRow) -> Result<i64, Error> {
    if !EVENT_KINDS.contains(&e.kind.as_str()) {
        base::bail!(InvalidArgument, "event kind {:?}: expected one of {}", e.kind, EVENT_KINDS.join(", "));
    }
    check_span_and_score(e)?;
    let camera_id: Option<i64> = conn
        .query_row("select id from camera where name = ?", [&e.camera], |r| r.get(0))
        .optional()
        .err_kind(ErrorKind::Internal, sql_err("reading camera"))?;
    let Some(camera_id) = camera_id else {
        base::bail!(NotFound, "no camera {:?}", e.camera);
    };
    conn.execute(
        "insert into event (camera_id, kind, label, start_90k, end_90k, score, zones, clip_start_90k, clip_end_90k, \
         has_snapshot, box, uploaded, open, start_sealed, continues) \
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            camera_id,
            e.kind,
            e.label,
            e.start_90k,
            e.end_90k,
            e.score,
            e.zones.join(","),
            e.clip_start_90k,
            e.clip_end_90k,
            e.has_snapshot,
            box_text(e.bbox),
            e.uploaded,
            e.open,
            e.start_sealed,
            e.continues
        ],
    )
    .err_kind(ErrorKind::Internal, sql_err("inserting event"))?;
    Ok(conn.last_insert_rowid())
}

/// What the schema checks of an event's times and score, as a clear error.
fn check_span_and_score(e: &EventRow) -> Result<(), Error> {
    if e.end_90k < e.start_90k || e.clip_end_90k < e.clip_start_90k {
        base::bail!(InvalidArgument, "event ends before it starts");
    }
    if !(0.0..=1.0).contains(&e.score) {
        base::bail!(InvalidArgument, "event score {}: expected 0 to 1", e.score);
    }
    Ok(())
}

fn box_text(b: Option<[f32; 4]>) -> Option<String> {
    b.map(|b| format!("{:.4},{:.4},{:.4},{:.4}", b[0], b[1], b[2], b[3]))
}

/// Closes open event `e.id` with what its end knows: end, label, score, zones, clip range,
/// snapshot and box. Checked like [`insert_event`]; an event that is not open is left as it
/// is (false).
pub fn finish_event(conn: &Connection, e: &EventRow) -> Result<bool, Error> {
    check_span_and_score(e)?;
    let n = conn
        .execute(
            "update event set label = ?2, end_90k = ?3, score = ?4, zones = ?5, clip_start_90k = ?6, \
             clip_end_90k = ?7, has_snapshot = ?8, box = ?9, open = 0 where id = ?1 and open = 1",
            params![
                e.id,
                e.label,
                e.end_90k,
                e.score,
                e.zones.join(","),
                e.clip_start_90k,
                e.clip_end_90k,
                e.has_snapshot,
                box_text(e.bbox)
            ],
        )
        .err_kind(ErrorKind::Internal, sql_err("finishing an event"))?;
    Ok(n == 1)
}

/// Closes every event left open (by a crash or a cut stream), as it stands: the agent
/// calls this at start, before recording. Returns how many.
pub fn close_open_events(conn: &Connection) -> Result<usize, Error> {
    conn.execute("update event set open = 0 where open = 1", [])
        .err_kind(ErrorKind::Internal, sql_err("closing open events"))
}

/// Ids of events whose start is still to be sealed, oldest first.
pub fn events_to_start(conn: &Connection, limit: usize) -> Result<Vec<i64>, Error> {
    event_ids(conn, "start_sealed = 0", 0, limit, "event starts")
}

/// Ids of events matching `filter` (a fixed condition) after `after_id`, oldest first.
fn event_ids(conn: &Connection, filter: &str, after_id: i64, limit: usize, what: &str) -> Result<Vec<i64>, Error> {
    let mut st = conn
        .prepare_cached(&format!("select id from event where {filter} and id > ?1 order by id limit ?2"))
        .err_kind(ErrorKind::Internal, sql_err("preparing an event list"))?;
    let rows = st
        .query_map(params![after_id, limit.min(i64::MAX as usize) as i64], |r| r.get(0))
        .err_kind(ErrorKind::Internal, || format!("listing {what}"))?;
    rows.collect::<Result<Vec<i64>, _>>().err_kind(ErrorKind::Internal, || format!("reading {what}"))
}

/// Records that event `id`'s start is sealed (or will not be sent).
pub fn mark_start_sealed(conn: &Connection, id: i64) -> Result<(), Error> {
    conn.execute("update event set start_sealed = 1 where id = ?1", params![id])
        .err_kind(ErrorKind::Internal, sql_err("marking an event's start sealed"))?;
    Ok(())
}

/// The next id [`insert_event`] will assign (for naming the snapshot before the row).
pub fn next_event_id(conn: &Connection) -> Result<i64, Error> {
    conn.query_row("select coalesce(max(id), 0) + 1 from event", [], |r| r.get(0))
        .err_kind(ErrorKind::Internal, sql_err("reading event ids"))
}

/// Events, newest first: of one camera or all, at most `limit`.
pub fn list_events(conn: &Connection, camera: Option<&str>, limit: usize) -> Result<Vec<EventRow>, Error> {
    query_events(conn, camera, None, limit)
}

fn query_events(
    conn: &Connection,
    camera: Option<&str>,
    id: Option<i64>,
    limit: usize,
) -> Result<Vec<EventRow>, Error> {
    let mut st = conn
        .prepare(
            "select e.id, c.name, e.kind, e.label, e.start_90k, e.end_90k, e.score, e.zones, e.clip_start_90k, \
             e.clip_end_90k, e.has_snapshot, e.box, e.uploaded, e.open, e.start_sealed, e.continues \
             from event e join camera c on c.id = e.camera_id \
             where (?1 is null or c.name = ?1) and (?3 is null or e.id = ?3) order by e.start_90k desc, e.id desc \
             limit ?2",
        )
        .err_kind(ErrorKind::Internal, sql_err("preparing event list"))?;
    let rows = st
        .query_map(params![camera, limit.min(i64::MAX as usize) as i64, id], |r| {
            let zones: String = r.get(7)?;
            let bbox: Option<String> = r.get(11)?;
            Ok(EventRow {
                id: r.get(0)?,
                camera: r.get(1)?,
                kind: r.get(2)?,
                label: r.get(3)?,
                start_90k: r.get(4)?,
                end_90k: r.get(5)?,
                score: r.get(6)?,
                zones: zones.split(',').filter(|z| !z.is_empty()).map(str::to_owned).collect(),
                clip_start_90k: r.get(8)?,
                clip_end_90k: r.get(9)?,
                has_snapshot: r.get(10)?,
                bbox: bbox.and_then(|b| {
                    let v: Vec<f32> = b.split(',').filter_map(|x| x.parse().ok()).collect();
                    v.try_into().ok()
                }),
                uploaded: r.get(12)?,
                open: r.get(13)?,
                start_sealed: r.get(14)?,
                continues: r.get(15)?,
            })
        })
        .err_kind(ErrorKind::Internal, sql_err("listing events"))?;
    rows.collect::<Result<Vec<_>, _>>().err_kind(ErrorKind::Internal, sql_err("reading events"))
}

/// One event by id.
pub fn get_event(conn: &Connection, id: i64) -> Result<Option<EventRow>, Error> {
    Ok(query_events(conn, None, Some(id), 1)?.pop())
}

/// Ids of events the server does not have yet, oldest first, after `after_id`.
pub fn events_to_upload(conn: &Connection, after_id: i64, limit: usize) -> Result<Vec<i64>, Error> {
    event_ids(conn, "uploaded = 0", after_id, limit, "events to upload")
}

/// Records that the server has event `id` (clip, snapshot and metadata).
pub fn mark_event_uploaded(conn: &Connection, id: i64) -> Result<(), Error> {
    conn.execute("update event set uploaded = 1 where id = ?1", params![id])
        .err_kind(ErrorKind::Internal, sql_err("marking an event uploaded"))?;
    Ok(())
}
