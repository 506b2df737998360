//! Retention and garbage collection, as one bounded pass the server's worker runs
//! periodically. The deletion procedure (design/server.md, "Deleting"):
//!
//! 1. In one transaction: delete the event and object rows and move each chunk that no
//!    object names any more from `chunk` to `doomed_chunk`.
//! 2. Delete the doomed chunks' blobs.
//! 3. Forget them (`doomed_chunk` rows).
//!
//! A crash after 1 leaves doomed rows whose blobs may or may not exist; step 2 tolerates
//! both, so the next pass finishes the job. No row ever names a deleted blob: the rows go
//! first. A chunk re-uploaded while doomed is rescued (`Db::insert_chunk`), and step 2
//! re-checks, under the chunk's lock, that it is still doomed (`BlobStore::delete_doomed`).

use base::Error;
use db::server::Db;

use crate::BlobStore;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    pub events_deleted: u64,
    pub bytes_released: i64,
    pub orphan_objects: u64,
    pub chunks_deleted: u64,
    /// Expired sessions, pairing offers, invitations and old sign-in failures deleted.
    pub expired_rows: u64,
}

/// Sign-in failures that lock nobody are forgotten after this long.
pub const SIGN_IN_FAILURES_KEPT_MS: i64 = 24 * 3600 * 1000;

/// Events deleted per household per pass; keeps one pass's I/O bounded.
const EVENTS_PER_PASS: i64 = 1000;
/// Blobs deleted per pass.
const CHUNKS_PER_PASS: i64 = 2000;
/// An upload may take this long between its first chunk and its object row, and an object
/// this long to be named by its event, before the pieces count as abandoned.
pub const UPLOAD_GRACE_MS: i64 = 24 * 3600 * 1000;

/// Applies each camera's and each household's retention (age, then bytes; zero days or
/// bytes means no limit of that kind), and abandons stale uploads.
pub async fn retention_pass(db: &Db, now_ms: i64) -> Result<GcStats, Error> {
    let mut stats = GcStats::default();
    let limits = |days: i64, bytes: i64| {
        (if days > 0 { now_ms - days * 86_400_000 } else { i64::MIN }, if bytes > 0 { bytes } else { i64::MAX })
    };
    for h in db.households().await? {
        // Each camera's own limits first, then the household's over all its cameras.
        let mut passes: Vec<(Option<String>, (i64, i64))> =
            db.camera_retentions(&h.id).await?.into_iter().map(|(camera, d, b)| (Some(camera), limits(d, b))).collect();
        passes.push((None, limits(h.retention_days, h.retention_bytes)));
        for (camera, (cutoff, bytes)) in passes {
            let doomed = db.retention_candidates(&h.id, camera.as_deref(), cutoff, bytes, EVENTS_PER_PASS).await?;
            if !doomed.events.is_empty() {
                tracing::info!(household = %h.id, camera, events = doomed.events.len(), bytes = doomed.bytes, "retention: deleting");
                db.delete_events(&doomed.events, now_ms).await?;
                stats.events_deleted += doomed.events.len() as u64;
                stats.bytes_released += doomed.bytes;
            }
        }
    }
    stats.orphan_objects = db.delete_orphan_objects(now_ms - UPLOAD_GRACE_MS, now_ms).await?;
    // Photos and clips uploaded for a post that was never made.
    stats.orphan_objects += db.expire_pending_media(now_ms - UPLOAD_GRACE_MS, now_ms).await?;
    db.doom_unreferenced_chunks(now_ms - UPLOAD_GRACE_MS, now_ms).await?;
    stats.expired_rows = db.delete_expired(now_ms, SIGN_IN_FAILURES_KEPT_MS).await?;
    Ok(stats)
}

/// Deletes doomed chunks' blobs, then forgets them. Returns how many went.
pub async fn collect(db: &Db, store: &BlobStore) -> Result<u64, Error> {
    let doomed = db.doomed_chunks(CHUNKS_PER_PASS).await?;
    Ok(store.delete_doomed(db, &doomed).await?.len() as u64)
}
