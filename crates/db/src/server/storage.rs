//! Storage: chunks, objects, the deletion procedure (doomed chunks) and retention's candidates.

use base::{Error, bail};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::*;

/// A stored ciphertext object's row: what the timeline and retention need, nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub id: String,
    pub household_id: String,
    pub device_id: String,
    pub camera: String,
    pub kind: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub size_bytes: i64,
    pub created_ms: i64,
}

pub(super) fn object(r: &AnyRow) -> Object {
    Object {
        id: r.get(0),
        household_id: r.get(1),
        device_id: r.get(2),
        camera: r.get(3),
        kind: r.get(4),
        start_ms: r.get(5),
        end_ms: r.get(6),
        size_bytes: r.get(7),
        created_ms: r.get(8),
    }
}

/// What a retention pass would delete: events (with their objects) oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Doomed {
    pub events: Vec<String>,
    pub bytes: i64,
}

pub(super) async fn delete_object_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    now_ms: i64,
) -> Result<(), Error> {
    let hashes: Vec<String> = sqlx::query("SELECT hash FROM object_chunk WHERE object_id = $1")
        .bind(id)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err("listing an object's chunks"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    sqlx::query("DELETE FROM object_chunk WHERE object_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db_err("deleting an object's chunks"))?;
    sqlx::query("DELETE FROM object WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db_err("deleting an object"))?;
    for h in hashes {
        doom_if_unreferenced(tx, &h, now_ms).await?;
    }
    Ok(())
}

/// Dooms a chunk that no object and no post's photo or clip names any more; returns whether it did. The chunk's row is
/// locked before its references are read, and `insert_object` locks the same row before it
/// adds a reference: on PostgreSQL (read committed) a deletion that read "no references"
/// while an upload was adding one would otherwise doom a chunk the new object names, and
/// the collector would delete a blob in use. Whichever locks first wins; the other then
/// sees its effect (the reference, or the chunk gone, which the upload is told to send
/// again).
pub(super) async fn doom_if_unreferenced(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    hash: &str,
    now_ms: i64,
) -> Result<bool, Error> {
    let exists = sqlx::query("UPDATE chunk SET size_bytes = size_bytes WHERE hash = $1 RETURNING size_bytes")
        .bind(hash)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err("locking a chunk"))?;
    if exists.is_none() {
        return Ok(false);
    }
    let still = sqlx::query(
        "SELECT 1 FROM object_chunk WHERE hash = $1 UNION ALL SELECT 1 FROM post_media WHERE hash = $1 LIMIT 1",
    )
    .bind(hash)
    .fetch_optional(&mut **tx)
    .await
    .map_err(db_err("checking a chunk's references"))?;
    if still.is_some() {
        return Ok(false);
    }
    doom_chunk_in(tx, hash, now_ms).await?;
    Ok(true)
}

pub(super) async fn doom_chunk_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    hash: &str,
    now_ms: i64,
) -> Result<(), Error> {
    sqlx::query("DELETE FROM chunk WHERE hash = $1")
        .bind(hash)
        .execute(&mut **tx)
        .await
        .map_err(db_err("deleting a chunk row"))?;
    sqlx::query("INSERT INTO doomed_chunk (hash, since_ms) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING")
        .bind(hash)
        .bind(now_ms)
        .execute(&mut **tx)
        .await
        .map_err(db_err("dooming a chunk"))?;
    Ok(())
}

impl Db {
    /// Of `hashes`, those the household has not stored. Scoped to the household, so that
    /// nobody learns whether another household holds a given chunk.
    pub async fn missing_chunks(&self, household_id: &str, hashes: &[String]) -> Result<Vec<String>, Error> {
        let mut missing = Vec::new();
        for h in hashes {
            let r = sqlx::query("SELECT 1 FROM chunk WHERE hash = $1 AND household_id = $2")
                .bind(h)
                .bind(household_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err("reading a chunk"))?;
            if r.is_none() {
                missing.push(h.clone());
            }
        }
        Ok(missing)
    }

    /// Records a chunk whose blob is already durable in the store (the blob is written
    /// first, so a row never names a missing blob). A chunk doomed for deletion is
    /// rescued: its re-upload wins.
    pub async fn insert_chunk(
        &self,
        hash: &str,
        household_id: &str,
        size_bytes: i64,
        now_ms: i64,
    ) -> Result<(), Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO chunk (hash, household_id, size_bytes, created_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING",
        )
        .bind(hash)
        .bind(household_id)
        .bind(size_bytes)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err("inserting a chunk"))?;
        sqlx::query("DELETE FROM doomed_chunk WHERE hash = $1")
            .bind(hash)
            .execute(&mut *tx)
            .await
            .map_err(db_err("rescuing a chunk"))?;
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(())
    }

    pub async fn chunk_size(&self, hash: &str) -> Result<Option<i64>, Error> {
        let r = sqlx::query("SELECT size_bytes FROM chunk WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a chunk"))?;
        Ok(r.map(|r| r.get(0)))
    }

    /// Inserts an object with its chunk list. Idempotent: the same object again is
    /// accepted; a different one under the same id is a conflict.
    pub async fn insert_object(&self, o: &Object, chunks: &[String]) -> Result<bool, Error> {
        if let Some(existing) = self.object(&o.id).await? {
            let same = Object { created_ms: o.created_ms, ..existing.clone() } == *o
                && self.object_chunks(&o.id).await? == chunks;
            if !same {
                bail!(FailedPrecondition, "object id {}: a different object with this id exists", o.id);
            }
            return Ok(false);
        }
        let mut tx = self.write_tx().await?;
        let mut total = 0i64;
        for h in chunks {
            // An update that changes nothing, for its row lock (PostgreSQL; SQLite's write
            // transactions are serial anyway): a deletion that would doom this chunk now
            // waits for this transaction, and then sees the new reference (see
            // `doom_if_unreferenced`).
            let r = sqlx::query(
                "UPDATE chunk SET size_bytes = size_bytes WHERE hash = $1 AND household_id = $2 RETURNING size_bytes",
            )
            .bind(h)
            .bind(&o.household_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err("reading a chunk"))?;
            let Some(r) = r else { bail!(FailedPrecondition, "chunks: chunk {h} has not been uploaded") };
            total += r.get::<i64, _>(0);
        }
        if total != o.size_bytes {
            bail!(InvalidArgument, "size_bytes: the chunks hold {total} bytes, not {}", o.size_bytes);
        }
        sqlx::query(
            "INSERT INTO object (id, household_id, device_id, camera, kind, start_ms, end_ms, size_bytes, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&o.id)
        .bind(&o.household_id)
        .bind(&o.device_id)
        .bind(&o.camera)
        .bind(&o.kind)
        .bind(o.start_ms)
        .bind(o.end_ms)
        .bind(o.size_bytes)
        .bind(o.created_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err("inserting an object"))?;
        for (i, h) in chunks.iter().enumerate() {
            sqlx::query("INSERT INTO object_chunk (object_id, seq, hash) VALUES ($1, $2, $3)")
                .bind(&o.id)
                .bind(i as i64)
                .bind(h)
                .execute(&mut *tx)
                .await
                .map_err(db_err("inserting an object's chunk"))?;
        }
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(true)
    }

    pub async fn object(&self, id: &str) -> Result<Option<Object>, Error> {
        let r = sqlx::query(
            "SELECT id, household_id, device_id, camera, kind, start_ms, end_ms, size_bytes, created_ms FROM object WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading an object"))?;
        Ok(r.as_ref().map(object))
    }

    pub async fn object_chunks(&self, id: &str) -> Result<Vec<String>, Error> {
        let rows = sqlx::query("SELECT hash FROM object_chunk WHERE object_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("listing an object's chunks"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// An object's chunks in order, with their sizes: for serving a byte range.
    pub async fn object_chunk_sizes(&self, id: &str) -> Result<Vec<(String, i64)>, Error> {
        let rows = sqlx::query(
            "SELECT oc.hash, c.size_bytes FROM object_chunk oc JOIN chunk c ON c.hash = oc.hash \
             WHERE oc.object_id = $1 ORDER BY oc.seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing an object's chunks"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Every object's (id, size) in a household, for checks.
    pub async fn objects(&self, household_id: &str) -> Result<Vec<Object>, Error> {
        let rows = sqlx::query(
            "SELECT id, household_id, device_id, camera, kind, start_ms, end_ms, size_bytes, created_ms FROM object \
             WHERE household_id = $1 ORDER BY start_ms, id",
        )
        .bind(household_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing objects"))?;
        Ok(rows.iter().map(object).collect())
    }

    /// Deletes events and every object they name in one transaction; chunks no longer
    /// referenced move to `doomed_chunk`, from which the blob layer deletes them and then
    /// forgets them ([`Db::forget_doomed`]). A crash between the two steps leaves only
    /// doomed rows, which the next pass finishes.
    pub async fn delete_events(&self, ids: &[String], now_ms: i64) -> Result<(), Error> {
        let mut tx = self.write_tx().await?;
        let mut households = std::collections::BTreeSet::new();
        for id in ids {
            let r = sqlx::query(
                "DELETE FROM event WHERE id = $1 RETURNING meta_object, snapshot_object, clip_object, household_id",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err("deleting an event"))?;
            let Some(r) = r else { continue };
            households.insert(r.get::<String, _>(3));
            let objs: Vec<Option<String>> = vec![Some(r.get(0)), r.get(1), r.get(2)];
            for o in objs.into_iter().flatten() {
                delete_object_in(&mut tx, &o, now_ms).await?;
            }
        }
        tx.commit().await.map_err(db_err("committing a deletion"))?;
        for h in households {
            self.timeline_cache.invalidate(&h);
        }
        Ok(())
    }

    /// Deletes objects that no event names (uploads whose event never arrived, clips an
    /// agent sealed for an answer that was never sent) and no grant to an agency names,
    /// created before `before_ms`.
    pub async fn delete_orphan_objects(&self, before_ms: i64, now_ms: i64) -> Result<u64, Error> {
        let rows = sqlx::query(
            "SELECT id FROM object o WHERE created_ms < $1 AND NOT EXISTS (SELECT 1 FROM event e WHERE \
             e.meta_object = o.id OR e.snapshot_object = o.id OR e.clip_object = o.id) \
             AND NOT EXISTS (SELECT 1 FROM footage_grant g WHERE g.object_id = o.id)",
        )
        .bind(before_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("finding orphan objects"))?;
        let mut tx = self.write_tx().await?;
        for r in &rows {
            delete_object_in(&mut tx, &r.get::<String, _>(0), now_ms).await?;
        }
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(rows.len() as u64)
    }

    /// Chunks with no object, uploaded before `before_ms` (an upload abandoned half-way),
    /// are doomed too.
    pub async fn doom_unreferenced_chunks(&self, before_ms: i64, now_ms: i64) -> Result<u64, Error> {
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(
            "SELECT hash FROM chunk c WHERE created_ms < $1 AND NOT EXISTS (SELECT 1 FROM object_chunk oc WHERE oc.hash = c.hash) \
             AND NOT EXISTS (SELECT 1 FROM post_media pm WHERE pm.hash = c.hash)",
        )
        .bind(before_ms)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err("finding unreferenced chunks"))?;
        let mut n = 0;
        for r in &rows {
            n += u64::from(doom_if_unreferenced(&mut tx, &r.get::<String, _>(0), now_ms).await?);
        }
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(n)
    }

    pub async fn is_doomed(&self, hash: &str) -> Result<bool, Error> {
        let r = sqlx::query("SELECT 1 FROM doomed_chunk WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("checking a doomed chunk"))?;
        Ok(r.is_some())
    }

    pub async fn doomed_chunks(&self, limit: i64) -> Result<Vec<String>, Error> {
        let rows = sqlx::query("SELECT hash FROM doomed_chunk ORDER BY since_ms, hash LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("listing doomed chunks"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Forgets doomed chunks whose blobs are gone.
    pub async fn forget_doomed(&self, hashes: &[String]) -> Result<(), Error> {
        let mut tx = self.write_tx().await?;
        for h in hashes {
            sqlx::query("DELETE FROM doomed_chunk WHERE hash = $1")
                .bind(h)
                .execute(&mut *tx)
                .await
                .map_err(db_err("forgetting a doomed chunk"))?;
        }
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(())
    }

    /// Every chunk row's hash, for `check`.
    pub async fn all_chunks(&self) -> Result<Vec<(String, i64)>, Error> {
        let rows = sqlx::query("SELECT hash, size_bytes FROM chunk ORDER BY hash")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("listing chunks"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Object-chunk and post-media references whose chunk row is missing (must be none).
    pub async fn dangling_references(&self) -> Result<Vec<(String, String)>, Error> {
        let rows = sqlx::query(
            "SELECT oc.object_id, oc.hash FROM object_chunk oc WHERE NOT EXISTS (SELECT 1 FROM chunk c WHERE c.hash = oc.hash) \
             UNION ALL SELECT e.id, e.meta_object FROM event e WHERE NOT EXISTS (SELECT 1 FROM object o WHERE o.id = e.meta_object) \
             UNION ALL SELECT m.id, m.hash FROM post_media m WHERE NOT EXISTS (SELECT 1 FROM chunk c WHERE c.hash = m.hash)",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("checking references"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The events a retention pass deletes: those starting before `cutoff_ms`, then the
    /// oldest until the rest fit in `bytes_max`. `camera` narrows it to one camera.
    pub async fn retention_candidates(
        &self,
        household_id: &str,
        camera: Option<&str>,
        cutoff_ms: i64,
        bytes_max: i64,
        limit: i64,
    ) -> Result<Doomed, Error> {
        let cam = if camera.is_some() { "AND camera = $2" } else { "AND $2 = $2" };
        let total: i64 = sqlx::query(safe(format!(
            "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM event WHERE household_id = $1 {cam}"
        )))
        .bind(household_id)
        .bind(camera.unwrap_or(""))
        .fetch_one(&self.pool)
        .await
        .map_err(db_err("summing event sizes"))?
        .get::<i64, _>(0);
        let rows = sqlx::query(safe(format!(
            "SELECT id, start_ms, size_bytes FROM event WHERE household_id = $1 {cam} ORDER BY start_ms, id LIMIT $3"
        )))
        .bind(household_id)
        .bind(camera.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing old events"))?;
        let mut out = Doomed { events: Vec::new(), bytes: 0 };
        let mut left = total;
        for r in &rows {
            let (id, start, size): (String, i64, i64) = (r.get(0), r.get(1), r.get(2));
            if start >= cutoff_ms && left <= bytes_max {
                break;
            }
            out.events.push(id);
            out.bytes += size;
            left -= size;
        }
        Ok(out)
    }

    /// One camera's own retention, tighter or looser than its household's; `None` removes
    /// it (the household's applies).
    pub async fn set_camera_retention(
        &self,
        household_id: &str,
        camera: &str,
        limits: Option<(i64, i64)>,
    ) -> Result<(), Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM camera_retention WHERE household_id = $1 AND camera = $2")
            .bind(household_id)
            .bind(camera)
            .execute(&mut *tx)
            .await
            .map_err(db_err("clearing a camera's retention"))?;
        if let Some((days, bytes)) = limits {
            sqlx::query("INSERT INTO camera_retention (household_id, camera, retention_days, retention_bytes) VALUES ($1, $2, $3, $4)")
                .bind(household_id)
                .bind(camera)
                .bind(days)
                .bind(bytes)
                .execute(&mut *tx)
                .await
                .map_err(db_err("setting a camera's retention"))?;
        }
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(())
    }

    /// Each camera with its own retention: (camera, days, bytes).
    pub async fn camera_retentions(&self, household_id: &str) -> Result<Vec<(String, i64, i64)>, Error> {
        let rows = sqlx::query(
            "SELECT camera, retention_days, retention_bytes FROM camera_retention WHERE household_id = $1 ORDER BY camera",
        )
        .bind(household_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading camera retention"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    /// The distinct cameras with events in a household.
    pub async fn cameras(&self, household_id: &str) -> Result<Vec<String>, Error> {
        let rows = sqlx::query("SELECT DISTINCT camera FROM event WHERE household_id = $1 ORDER BY camera")
            .bind(household_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("listing cameras"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}
