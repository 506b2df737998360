//! Events and the timeline.

use base::{Error, bail, err};
use bytes::Bytes;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::timeline_cache::PageKey;
use super::*;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub household_id: String,
    pub device_id: String,
    pub camera: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub meta_object: String,
    pub snapshot_object: Option<String>,
    pub clip_object: Option<String>,
    pub size_bytes: i64,
    pub created_ms: i64,
    /// Its start, while it goes on: the finished event replaces it ([`Db::write_event`]).
    pub in_progress: bool,
}

/// What [`Db::write_event`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventWrite {
    /// A new event (a start or a finished one): the one to alert.
    Created,
    /// An event in progress, replaced by a newer start or its finished self: no new alert.
    /// The objects it no longer names were deleted.
    Updated,
    /// Already stored as sent (a retry), or a start arriving after its finished event.
    Unchanged(Box<Event>),
}

pub(super) const EVENT_COLS: &str = "id, household_id, device_id, camera, start_ms, end_ms, meta_object, snapshot_object, clip_object, size_bytes, created_ms, in_progress";

pub(super) fn event(r: &AnyRow) -> Event {
    Event {
        id: r.get(0),
        household_id: r.get(1),
        device_id: r.get(2),
        camera: r.get(3),
        start_ms: r.get(4),
        end_ms: r.get(5),
        meta_object: r.get(6),
        snapshot_object: r.get(7),
        clip_object: r.get(8),
        size_bytes: r.get(9),
        created_ms: r.get(10),
        in_progress: r.get::<i64, _>(11) != 0,
    }
}

/// Rows of `EVENT_COLS` from PostgreSQL as the timeline's JSON array. Ids are 32 hex digits
/// (checked before they are stored), so only the camera needs escaping.
pub(super) fn events_json(rows: &[sqlx::postgres::PgRow]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(2 + rows.len() * 320);
    out.push('[');
    for (i, r) in rows.iter().enumerate() {
        let opt = |v: Option<&str>| v.map(|s| format!("\"{s}\"")).unwrap_or_else(|| "null".to_owned());
        let camera: &str = r.get(3);
        let _ = write!(
            out,
            "{}{{\"id\":\"{}\",\"camera\":{},\"device_id\":\"{}\",\"start_ms\":{},\"end_ms\":{},\"meta_object\":\"{}\",\
             \"snapshot_object\":{},\"clip_object\":{},\"size_bytes\":{},\"in_progress\":{}}}",
            if i == 0 { "" } else { "," },
            r.get::<&str, _>(0),
            serde_json::Value::from(camera),
            r.get::<&str, _>(2),
            r.get::<i64, _>(4),
            r.get::<i64, _>(5),
            r.get::<&str, _>(6),
            opt(r.get(7)),
            opt(r.get(8)),
            r.get::<i64, _>(9),
            r.get::<i64, _>(11) != 0,
        );
    }
    out.push(']');
    out
}

/// What a timeline query may return: a camera (or all), a start-time range, and the
/// member's visibility window.
#[derive(Clone, Debug, Default)]
pub struct TimelineQuery<'a> {
    pub camera: Option<&'a str>,
    pub from_ms: i64,
    pub until_ms: i64,
    /// Only events starting at or after this (a guest's invitation time, a limited window).
    pub visible_from_ms: Option<i64>,
    pub visible_until_ms: Option<i64>,
    /// Newest first when true.
    pub descending: bool,
    pub limit: i64,
}

impl<'a> TimelineQuery<'a> {
    /// The page's rows as SQL (parameters bound by [`Self::bind_page`]) and its order.
    fn page_sql(&self) -> (String, &'static str) {
        let order = if self.descending { "DESC" } else { "ASC" };
        let camera_clause = if self.camera.is_some() { "AND camera = $4" } else { "AND $4 = $4" };
        let sql = format!(
            "SELECT {EVENT_COLS} FROM event WHERE household_id = $1 AND start_ms >= $2 AND start_ms < $3 {camera_clause} \
             ORDER BY start_ms {order}, id {order} LIMIT $5"
        );
        (sql, order)
    }

    /// Binds `$1`..`$5` of [`Self::page_sql`]: the household, the start range narrowed to
    /// the member's window, the camera and the limit (on the Any pool or the native
    /// PostgreSQL one).
    fn bind_page<'q, DB: sqlx::Database>(
        &self,
        query: sqlx::query::Query<'q, DB, DB::Arguments>,
        household_id: &'q str,
    ) -> sqlx::query::Query<'q, DB, DB::Arguments>
    where
        'a: 'q,
        &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        let (from, until, camera, limit) = self.bounds();
        query.bind(household_id).bind(from).bind(until).bind(camera).bind(limit)
    }

    /// `$2`..`$5`: the start range narrowed to the member's window, the camera, the limit.
    fn bounds(&self) -> (i64, i64, &'a str, i64) {
        (
            self.from_ms.max(self.visible_from_ms.unwrap_or(i64::MIN)),
            self.until_ms.min(self.visible_until_ms.unwrap_or(i64::MAX)),
            self.camera.unwrap_or(""),
            self.limit,
        )
    }
}

impl Db {
    /// Inserts an event; idempotent like [`Db::insert_object`]. Every object it names must
    /// exist, belong to the same device and camera.
    pub async fn insert_event(&self, e: &Event) -> Result<bool, Error> {
        let same = |existing: Event| -> Result<bool, Error> {
            if (Event { created_ms: e.created_ms, ..existing }) != *e {
                bail!(FailedPrecondition, "event id {}: a different event with this id exists", e.id);
            }
            Ok(false)
        };
        if let Some(existing) = self.event(&e.id).await? {
            return same(existing);
        }
        // Two tries of one event at once: the second inserts nothing and compares.
        let n = sqlx::query(safe(format!(
            "INSERT INTO event ({EVENT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (id) DO NOTHING"
        )))
        .bind(&e.id)
        .bind(&e.household_id)
        .bind(&e.device_id)
        .bind(&e.camera)
        .bind(e.start_ms)
        .bind(e.end_ms)
        .bind(&e.meta_object)
        .bind(e.snapshot_object.clone())
        .bind(e.clip_object.clone())
        .bind(e.size_bytes)
        .bind(e.created_ms)
        .bind(i64::from(e.in_progress))
        .execute(&self.pool)
        .await
        .map_err(db_err("inserting an event"))?
        .rows_affected();
        if n == 0 {
            let existing =
                self.event(&e.id).await?.ok_or_else(|| err!(Internal, "event {}: conflicted, then gone", e.id))?;
            return same(existing);
        }
        self.timeline_cache.invalidate(&e.household_id);
        Ok(true)
    }

    /// Stores an event from its device: a new one is inserted ([`Db::insert_event`]); one
    /// in progress is replaced by a newer start or by the finished event (the objects it no
    /// longer names are deleted, in the same transaction); a finished event stays as it is
    /// (a start arriving after it changes nothing; anything else under its id must be the
    /// same event).
    pub async fn write_event(&self, e: &Event, now_ms: i64) -> Result<EventWrite, Error> {
        let Some(old) = self.event(&e.id).await? else {
            return Ok(if self.insert_event(e).await? {
                EventWrite::Created
            } else {
                EventWrite::Unchanged(Box::new(e.clone()))
            });
        };
        if old.device_id != e.device_id || old.household_id != e.household_id || old.camera != e.camera {
            bail!(FailedPrecondition, "event id {}: a different event with this id exists", e.id);
        }
        if !old.in_progress {
            if e.in_progress {
                return Ok(EventWrite::Unchanged(Box::new(old)));
            }
            self.insert_event(e).await?;
            return Ok(EventWrite::Unchanged(Box::new(old)));
        }
        let same = Event { created_ms: old.created_ms, ..e.clone() };
        if same == old {
            return Ok(EventWrite::Unchanged(Box::new(old)));
        }
        let mut tx = self.write_tx().await?;
        let n = sqlx::query(
            "UPDATE event SET start_ms = $2, end_ms = $3, meta_object = $4, snapshot_object = $5, clip_object = $6, \
             size_bytes = $7, in_progress = $8 WHERE id = $1 AND in_progress = 1",
        )
        .bind(&e.id)
        .bind(e.start_ms)
        .bind(e.end_ms)
        .bind(&e.meta_object)
        .bind(e.snapshot_object.clone())
        .bind(e.clip_object.clone())
        .bind(e.size_bytes)
        .bind(i64::from(e.in_progress))
        .execute(&mut *tx)
        .await
        .map_err(db_err("updating an event in progress"))?
        .rows_affected();
        if n == 0 {
            // Finished by a concurrent write of the same event: that one stands.
            drop(tx);
            let now = self.event(&e.id).await?.ok_or_else(|| err!(Internal, "event {}: updated, then gone", e.id))?;
            return Ok(EventWrite::Unchanged(Box::new(now)));
        }
        let kept = [Some(&e.meta_object), e.snapshot_object.as_ref(), e.clip_object.as_ref()];
        for o in [Some(&old.meta_object), old.snapshot_object.as_ref(), old.clip_object.as_ref()].into_iter().flatten()
        {
            if !kept.contains(&Some(o)) {
                super::storage::delete_object_in(&mut tx, o, now_ms).await?;
            }
        }
        tx.commit().await.map_err(db_err("committing an event's update"))?;
        self.timeline_cache.invalidate(&e.household_id);
        Ok(EventWrite::Updated)
    }

    pub async fn event(&self, id: &str) -> Result<Option<Event>, Error> {
        let r = sqlx::query(safe(format!("SELECT {EVENT_COLS} FROM event WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading an event"))?;
        Ok(r.as_ref().map(event))
    }

    /// The event naming an object, if any (for authorizing downloads by window).
    pub async fn event_of_object(&self, object_id: &str) -> Result<Option<Event>, Error> {
        let r = sqlx::query(safe(format!(
            "SELECT {EVENT_COLS} FROM event WHERE meta_object = $1 OR snapshot_object = $1 OR clip_object = $1"
        )))
        .bind(object_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading an object's event"))?;
        Ok(r.as_ref().map(event))
    }

    /// The timeline as rows (the API serves [`Db::timeline_json`]): for tests that compare the
    /// two.
    #[cfg(any(test, feature = "testing"))]
    pub async fn timeline(&self, household_id: &str, q: &TimelineQuery<'_>) -> Result<Vec<Event>, Error> {
        let (page, _) = q.page_sql();
        let rows = q
            .bind_page(sqlx::query(safe(page)), household_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("reading the timeline"))?;
        Ok(rows.iter().map(event).collect())
    }

    /// The page of events `q` asks for, as the JSON array the API returns; from the
    /// timeline cache when this household's events have not changed since the same page
    /// was read (`timeline_cache.rs`).
    pub async fn timeline_json(&self, household_id: &str, q: &TimelineQuery<'_>) -> Result<Bytes, Error> {
        let cache = &self.timeline_cache;
        if !cache.enabled() {
            return Ok(Bytes::from(self.read_timeline_json(household_id, q).await?));
        }
        let (from_ms, until_ms, _, limit) = q.bounds();
        let key = PageKey { camera: q.camera.map(str::to_owned), from_ms, until_ms, descending: q.descending, limit };
        if let Some(page) = cache.get(household_id, &key) {
            return Ok(page);
        }
        let ticket = cache.ticket();
        let page = Bytes::from(self.read_timeline_json(household_id, q).await?);
        cache.put(household_id, key, ticket, page.clone());
        Ok(page)
    }

    /// Reads the page: the same events as [`Db::timeline`], as a JSON array with the keys of
    /// `api::types::EventJson`, built the cheapest way each database allows: by SQLite
    /// itself (`json_group_array`, read through the read-only connections), and on
    /// PostgreSQL here, from rows decoded by sqlx's native driver (PostgreSQL's own JSON
    /// and text functions cost it more CPU than the query; the `storage` tests compare
    /// both outputs with the typed rows).
    async fn read_timeline_json(&self, household_id: &str, q: &TimelineQuery<'_>) -> Result<String, Error> {
        let (page, order) = q.page_sql();
        if let Some(pg) = &self.pg {
            let rows = q
                .bind_page(sqlx::query(safe(page)), household_id)
                .fetch_all(pg)
                .await
                .map_err(db_err("reading the timeline"))?;
            return Ok(events_json(&rows));
        }
        let fields = "'id', id, 'camera', camera, 'device_id', device_id, 'start_ms', start_ms, 'end_ms', end_ms, \
                      'meta_object', meta_object, 'snapshot_object', snapshot_object, 'clip_object', clip_object, \
                      'size_bytes', size_bytes, 'in_progress', json(CASE WHEN in_progress <> 0 THEN 'true' ELSE 'false' END)";
        let sql = format!(
            "SELECT COALESCE(json_group_array(json_object({fields}) ORDER BY start_ms {order}, id {order}), '[]') \
             FROM ({page}) page"
        );
        if let Some(readers) = &self.readers {
            let (from, until, camera, limit) = q.bounds();
            return readers
                .with(|c| {
                    c.prepare_cached(&sql)?.query_row(
                        rusqlite::named_params! {"$1": household_id, "$2": from, "$3": until, "$4": camera, "$5": limit},
                        |r| r.get(0),
                    )
                })
                .map_err(|e| Error::wrap(base::ErrorKind::Internal, "reading the timeline", e));
        }
        // An in-memory SQLite database, which only the pool's connections can see.
        let r = q
            .bind_page(sqlx::query(safe(sql)), household_id)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("reading the timeline"))?;
        Ok(r.get(0))
    }
}
