//! Startup recovery after a crash: bring files back in line with the index.
//!
//! Because the syncer fsyncs files before committing rows, a crash leaves only two kinds of
//! difference, both of footage from after the last commit (at most one flush interval):
//! an open segment whose file is longer than its row says, and a segment file with no row.
//! Recovery cuts the first back to the indexed length and deletes the second, then closes
//! the interrupted runs. It is idempotent: a crash during recovery is repaired by the next.

use std::collections::HashSet;

use base::{Error, ErrorKind, ResultExt, bail};
use index::Connection;

use crate::layout::{Layout, parse_segment_file_name, sync_dir};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments_closed: usize,
    pub bytes_discarded: u64,
    pub orphans_removed: usize,
    pub runs_closed: usize,
    /// Events that were still going on.
    pub events_closed: usize,
}

pub fn recover(conn: &mut Connection, layout: &Layout) -> Result<RecoveryReport, Error> {
    let mut report = RecoveryReport::default();
    let open = index::open_segments(conn)?;
    let mut drop_rows = Vec::new();
    for s in &open {
        let path = layout.segment(s.stream_id, s.id);
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && s.size_bytes == 0 => {
                drop_rows.push(s.id);
                continue;
            }
            Err(e) => {
                return Err(Error::wrap(ErrorKind::DataLoss, format!("segment {} file {}", s.id, path.display()), e));
            }
        };
        let indexed = s.size_bytes as u64;
        if len < indexed {
            bail!(
                DataLoss,
                "segment {} file {} has {len} bytes but {indexed} are indexed: the disk lost acknowledged writes",
                s.id,
                path.display()
            );
        }
        if len > indexed {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .err_kind(ErrorKind::Internal, || format!("opening {}", path.display()))?;
            f.set_len(indexed).err_kind(ErrorKind::Internal, || format!("truncating {}", path.display()))?;
            f.sync_all().err_kind(ErrorKind::Internal, || format!("fsync of {}", path.display()))?;
            report.bytes_discarded += len - indexed;
        }
        report.segments_closed += 1;
    }
    let tx = conn.transaction().err_kind(ErrorKind::Internal, || "begin recovery")?;
    for id in &drop_rows {
        index::delete_segment(&tx, *id)?;
    }
    report.runs_closed = index::close_interrupted(&tx, "agent stopped without closing the run (crash or power loss)")?;
    // Events still going on when the agent stopped end as they stood: their clip is what
    // was recorded, and they are uploaded like any other.
    report.events_closed = index::close_open_events(&tx)?;
    index::delete_empty_runs(&tx)?;
    tx.commit().err_kind(ErrorKind::Internal, || "commit recovery")?;
    report.orphans_removed = remove_orphans(conn, layout)?;
    Ok(report)
}

/// Deletes segment files that have no row: created after the last commit before a crash,
/// or whose row retention deleted just before a crash.
fn remove_orphans(conn: &Connection, layout: &Layout) -> Result<usize, Error> {
    let known: HashSet<(i64, i64)> = index::all_segment_ids(conn)?.into_iter().collect();
    let mut removed = 0;
    for (stream_id, id, path) in segment_files(layout)? {
        if !known.contains(&(stream_id, id)) {
            std::fs::remove_file(&path)
                .err_kind(ErrorKind::Internal, || format!("removing orphan {}", path.display()))?;
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(&layout.streams())?;
    }
    Ok(removed)
}

/// Lists `(stream_id, segment_id, path)` of every segment file. Names that are not segment
/// files are logged and skipped.
pub fn segment_files(layout: &Layout) -> Result<Vec<(i64, i64, std::path::PathBuf)>, Error> {
    let mut out = Vec::new();
    let streams = layout.streams();
    let rd = match std::fs::read_dir(&streams) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::wrap(ErrorKind::Internal, format!("listing {}", streams.display()), e)),
    };
    for d in rd {
        let d = d.err_kind(ErrorKind::Internal, || format!("listing {}", streams.display()))?;
        let Some(stream_id) = d.file_name().to_str().and_then(|n| n.parse::<i64>().ok()) else {
            tracing::warn!("ignoring unexpected entry {}", d.path().display());
            continue;
        };
        for f in
            std::fs::read_dir(d.path()).err_kind(ErrorKind::Internal, || format!("listing {}", d.path().display()))?
        {
            let f = f.err_kind(ErrorKind::Internal, || format!("listing {}", d.path().display()))?;
            match f.file_name().to_str().and_then(parse_segment_file_name) {
                Some(id) => out.push((stream_id, id, f.path())),
                None => tracing::warn!("ignoring unexpected file {}", f.path().display()),
            }
        }
    }
    Ok(out)
}
