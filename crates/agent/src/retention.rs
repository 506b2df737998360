//! Retention: delete the oldest footage when a camera or the whole agent is over its limits.
//!
//! Limits are by age (a segment goes once its end is older than the limit) and by bytes (the
//! oldest segments go until usage is under the limit), per camera and overall. Each pass
//! deletes at most `segments_per_pass_max` segments, so one pass is bounded I/O; the
//! [`Worker`] runs passes back to back while a pass says more is over, then every
//! `retention_interval`. Rows are deleted (committed)
//! before files are unlinked: a crash in between leaves orphan files that recovery deletes,
//! never a row without its file.

use std::collections::{BTreeMap, HashMap};

use base::{Error, ErrorKind, ResultExt};
use index::{Connection, Extent};

use crate::layout::Layout;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_age_90k: Option<i64>,
    pub max_bytes: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Policy {
    /// Per camera name.
    pub cameras: HashMap<String, Limits>,
    pub overall: Limits,
    pub segments_per_pass_max: usize,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub segments_deleted: usize,
    pub bytes_freed: i64,
    /// More remains over the limits (the pass hit its bound).
    pub more: bool,
}

/// One bounded retention pass.
pub fn pass(conn: &mut Connection, layout: &Layout, policy: &Policy, now_90k: i64) -> Result<PassReport, Error> {
    let bound = policy.segments_per_pass_max.max(1);
    let usage = index::usage(conn)?;
    // Per-stream queues of the oldest closed segments, and per-camera byte totals.
    let mut queues: BTreeMap<i64, std::collections::VecDeque<Extent>> = BTreeMap::new();
    let mut camera_of: HashMap<i64, String> = HashMap::new();
    let mut camera_bytes: HashMap<String, i64> = HashMap::new();
    let mut total_bytes = 0i64;
    for u in &usage {
        camera_of.insert(u.stream_id, u.camera.clone());
        *camera_bytes.entry(u.camera.clone()).or_default() += u.size_bytes;
        total_bytes += u.size_bytes;
        queues.insert(u.stream_id, index::oldest_closed(conn, u.stream_id, bound + 1)?.into());
    }
    let over = |limits: &Limits, bytes: i64, c: &Extent| {
        limits.max_bytes.is_some_and(|m| bytes > m) || limits.max_age_90k.is_some_and(|a| c.end_90k < now_90k - a)
    };
    let mut doomed: Vec<Extent> = Vec::new();
    let mut more = false;
    loop {
        // The globally oldest remaining candidate that some limit wants gone.
        let mut pick: Option<(i64, i64)> = None; // (end, stream)
        for (stream_id, q) in &queues {
            let Some(c) = q.front() else { continue };
            let camera = &camera_of[stream_id];
            let cam_limits = policy.cameras.get(camera).copied().unwrap_or_default();
            let wanted = over(&cam_limits, camera_bytes[camera], c) || over(&policy.overall, total_bytes, c);
            if wanted && pick.is_none_or(|(end, _)| c.end_90k < end) {
                pick = Some((c.end_90k, *stream_id));
            }
        }
        let Some((_, stream_id)) = pick else { break };
        if doomed.len() == bound {
            more = true;
            break;
        }
        let c = queues.get_mut(&stream_id).and_then(|q| q.pop_front()).expect("picked from a non-empty queue");
        *camera_bytes.get_mut(&camera_of[&stream_id]).expect("camera") -= c.size_bytes;
        total_bytes -= c.size_bytes;
        doomed.push(c);
    }
    if doomed.is_empty() {
        return Ok(PassReport::default());
    }
    let tx = conn.transaction().err_kind(ErrorKind::Internal, || "begin retention")?;
    for c in &doomed {
        index::delete_segment(&tx, c.id)?;
    }
    index::delete_empty_runs(&tx)?;
    tx.commit().err_kind(ErrorKind::Internal, || "commit retention")?;
    for c in &doomed {
        let p = layout.segment(c.stream_id, c.id);
        if let Err(e) = std::fs::remove_file(&p)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(Error::wrap(ErrorKind::Internal, format!("removing {}", p.display()), e));
        }
    }
    Ok(PassReport { segments_deleted: doomed.len(), bytes_freed: doomed.iter().map(|c| c.size_bytes).sum(), more })
}

/// Retention as a background worker (`base::worker`): one bounded pass at a time, on the
/// blocking pool; passes follow each other at once while one says more is over the limits.
pub struct Worker {
    pub ctx: std::sync::Arc<crate::writer::Ctx>,
    pub policy: Policy,
    pub every: std::time::Duration,
    /// The last pass hit its bound.
    pub more: bool,
}

impl base::worker::Worker for Worker {
    fn name(&self) -> &'static str {
        "retention"
    }

    fn interval(&self) -> std::time::Duration {
        if self.more { std::time::Duration::ZERO } else { self.every }
    }

    async fn pass(&mut self) -> Result<u64, Error> {
        let (ctx, policy) = (self.ctx.clone(), self.policy.clone());
        let r = tokio::task::spawn_blocking(move || {
            let now = ctx.clocks.realtime_90k();
            pass(&mut ctx.db.lock().expect("db mutex"), &ctx.layout, &policy, now)
        })
        .await
        .map_err(|e| Error::wrap(ErrorKind::Internal, "retention task", e))?;
        let rep = r.inspect_err(|_| self.more = false)?;
        self.more = rep.more;
        if rep.segments_deleted > 0 {
            tracing::info!(segments = rep.segments_deleted, bytes = rep.bytes_freed, "retention deleted old footage");
        }
        Ok(rep.segments_deleted as u64)
    }
}
