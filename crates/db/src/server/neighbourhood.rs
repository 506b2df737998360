//! The neighbourhood's rows (design/neighbourhood.md): homes as cells, posts by area,
//! comments under aliases, reports, the contact relay, and which posting rules each account
//! accepted.

use base::Error;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, db_err};

#[derive(Clone, Debug, PartialEq)]
pub struct Post {
    pub id: String,
    pub household_id: String,
    pub author_id: String,
    pub category: String,
    pub body: String,
    /// The H3 cell the post shows, as a signed integer (H3 leaves the top bit clear).
    pub area_cell: i64,
    pub created_ms: i64,
    pub edited_ms: Option<i64>,
    /// Why the operator hid the post, shown to its author; hidden posts leave every other feed.
    pub hidden_reason: Option<String>,
    pub hidden_ms: Option<i64>,
}

const POST_COLUMNS: &str =
    "id, household_id, author_id, category, body, area_cell, created_ms, edited_ms, hidden_reason, hidden_ms";

/// A [`Post`] from the first ten columns (in `POST_COLUMNS` order) of a row of any of the
/// drivers: `$get` is the row's getter, `$($q)?` a `?` where it returns a `Result`.
macro_rules! post_of {
    ($r:expr, $get:ident $($q:tt)?) => {
        Post {
            id: $r.$get(0)$($q)?,
            household_id: $r.$get(1)$($q)?,
            author_id: $r.$get(2)$($q)?,
            category: $r.$get(3)$($q)?,
            body: $r.$get(4)$($q)?,
            area_cell: $r.$get(5)$($q)?,
            created_ms: $r.$get(6)$($q)?,
            edited_ms: $r.$get(7)$($q)?,
            hidden_reason: $r.$get(8)$($q)?,
            hidden_ms: $r.$get(9)$($q)?,
        }
    };
}

fn post(r: &AnyRow) -> Post {
    post_of!(r, get)
}

/// A photo or clip on a post (or uploaded and waiting for one: `post_id` is `None`).
#[derive(Clone, Debug, PartialEq)]
pub struct PostMedia {
    pub id: String,
    pub household_id: String,
    pub account_id: String,
    pub post_id: Option<String>,
    pub position: i64,
    /// "photo" (JPEG) or "clip" (MP4).
    pub kind: String,
    /// SHA-256 of the bytes: the blob store's chunk.
    pub hash: String,
    pub size_bytes: i64,
    pub created_ms: i64,
}

const MEDIA_COLUMNS: &str = "id, household_id, account_id, post_id, position, kind, hash, size_bytes, created_ms";

fn media_row(r: &AnyRow) -> PostMedia {
    PostMedia {
        id: r.get(0),
        household_id: r.get(1),
        account_id: r.get(2),
        post_id: r.get(3),
        position: r.get(4),
        kind: r.get(5),
        hash: r.get(6),
        size_bytes: r.get(7),
        created_ms: r.get(8),
    }
}

/// Which of `hashes` are now doomed (in `tx`).
async fn doomed_among(tx: &mut sqlx::Transaction<'_, sqlx::Any>, hashes: &[String]) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for h in hashes {
        let r = sqlx::query("SELECT 1 FROM doomed_chunk WHERE hash = $1")
            .bind(h)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err("checking a doomed chunk"))?;
        if r.is_some() && !out.contains(h) {
            out.push(h.clone());
        }
    }
    Ok(out)
}

/// Rows of a scan through posts by time that cost about as much as one seek into an area
/// (measured with `porchlight bench feed`): the feed's planner weighs the two plans by it.
const SEEK_ROWS: f64 = 8.0;

/// A post in a feed, with its number of comments.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedItem {
    pub post: Post,
    pub comments: i64,
}

/// The feed query's per-area statement: the area's posts in a (time, id) window, newest
/// first, without hidden posts except the viewer's own. `?4` is a floor: once a page is
/// full, no older post can enter it.
const FEED_SQL: &str = "SELECT id, household_id, author_id, category, body, area_cell, created_ms, edited_ms, \
     hidden_reason, hidden_ms, (SELECT COUNT(*) FROM post_comment c WHERE c.post_id = post.id) \
     FROM post WHERE area_cell = $1 AND (created_ms, id) < ($2, $3) AND created_ms >= $4 \
     AND (hidden_ms IS NULL OR author_id = $5) ORDER BY created_ms DESC, id DESC LIMIT $6";

/// Areas the first pass of a PostgreSQL feed reads to find its floor.
const FLOOR_AREAS: usize = 4;

/// The newest `limit` of the items seen so far (newest first), and the floor they set.
struct Page {
    items: Vec<FeedItem>,
    limit: usize,
}

impl Page {
    fn key(i: &FeedItem) -> (i64, &str) {
        (i.post.created_ms, i.post.id.as_str())
    }

    fn add(&mut self, got: Vec<FeedItem>) {
        self.items.extend(got);
        self.items.sort_by(|a, b| Page::key(b).cmp(&Page::key(a)));
        self.items.truncate(self.limit);
    }

    /// The oldest time a post may have and still enter the page.
    fn floor(&self) -> i64 {
        if self.items.len() < self.limit { i64::MIN } else { self.items.last().map_or(i64::MIN, |i| i.post.created_ms) }
    }
}

/// A comment as stored; readers see `alias`, never `author_id`.
#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    pub id: String,
    pub post_id: String,
    pub author_id: String,
    /// 0 for the post's author, then 1, 2, … for other commenters on the post in the order
    /// of their first comment.
    pub alias: i64,
    pub body: String,
    pub created_ms: i64,
}

fn comment(r: &AnyRow) -> Comment {
    Comment {
        id: r.get(0),
        post_id: r.get(1),
        author_id: r.get(2),
        alias: r.get(3),
        body: r.get(4),
        created_ms: r.get(5),
    }
}

/// A reported post in the operator's queue, with every report's reason and time.
#[derive(Clone, Debug, PartialEq)]
pub struct Reported {
    pub post: Post,
    pub reports: Vec<(String, i64)>,
}

/// A relay thread between a post's author and one neighbour.
#[derive(Clone, Debug, PartialEq)]
pub struct RelayThread {
    pub id: String,
    pub post_id: String,
    pub post_category: String,
    pub author_id: String,
    pub asker_id: String,
    pub created_ms: i64,
    pub last_ms: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RelayMessage {
    pub id: String,
    pub from_author: bool,
    pub body: String,
    /// Contact details the sender chose to share with this message.
    pub reveal: Option<String>,
    pub created_ms: i64,
}

/// What [`Db::set_home`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HomeSet {
    /// The household's first home.
    First,
    /// Moved to another cell.
    Moved,
    /// The same cell, saved again.
    Same,
    /// Refused: the household moved too often lately; nothing changed.
    TooManyMoves,
}

impl Db {
    /// Sets the household's home: its cells at resolutions 8, 7, 6 and 5 (`cells`, finest
    /// first) and the exact point sealed for the household's own keys. Each move to another
    /// cell is a row of `home_move`; a move is refused (and nothing changes) when the
    /// household moved `moves_max` times in the `window_ms` before `now_ms`. Setting it the
    /// first time, or saving the same cell again (a new sealed point), is not a move.
    pub async fn set_home(
        &self,
        household_id: &str,
        cells: [i64; 4],
        sealed_point: &[u8],
        now_ms: i64,
        moves_max: i64,
        window_ms: i64,
    ) -> Result<HomeSet, Error> {
        let mut tx = self.write_tx().await?;
        let old: Option<i64> = sqlx::query("SELECT cell8 FROM home WHERE household_id = $1")
            .bind(household_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err("reading a home"))?
            .map(|r| r.get(0));
        if old.is_some() && old != Some(cells[0]) {
            let moves: i64 = sqlx::query("SELECT COUNT(*) FROM home_move WHERE household_id = $1 AND moved_ms > $2")
                .bind(household_id)
                .bind(now_ms - window_ms)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err("counting a home's moves"))?
                .get(0);
            if moves >= moves_max {
                tx.rollback().await.map_err(db_err("rolling back"))?;
                return Ok(HomeSet::TooManyMoves);
            }
        }
        if old.is_some() && old != Some(cells[0]) {
            sqlx::query("INSERT INTO home_move (household_id, moved_ms) VALUES ($1, $2)")
                .bind(household_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err(db_err("counting a home's move"))?;
        }
        sqlx::query(
            "INSERT INTO home (household_id, cell8, cell7, cell6, cell5, sealed_point, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (household_id) DO UPDATE SET cell8 = excluded.cell8, \
             cell7 = excluded.cell7, cell6 = excluded.cell6, cell5 = excluded.cell5, \
             sealed_point = excluded.sealed_point, updated_ms = excluded.updated_ms",
        )
        .bind(household_id)
        .bind(cells[0])
        .bind(cells[1])
        .bind(cells[2])
        .bind(cells[3])
        .bind(sealed_point)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err("storing a home"))?;
        if old != Some(cells[0]) {
            if let Some(o) = old {
                sqlx::query("UPDATE home_count SET n = n - 1 WHERE cell8 = $1")
                    .bind(o)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err("counting homes"))?;
            }
            sqlx::query(
                "INSERT INTO home_count (cell8, n) VALUES ($1, 1) ON CONFLICT (cell8) DO UPDATE SET n = home_count.n + 1",
            )
            .bind(cells[0])
            .execute(&mut *tx)
            .await
            .map_err(db_err("counting homes"))?;
        }
        tx.commit().await.map_err(db_err("committing a home"))?;
        Ok(if old.is_none() {
            HomeSet::First
        } else if old != Some(cells[0]) {
            HomeSet::Moved
        } else {
            HomeSet::Same
        })
    }

    pub async fn home(&self, household_id: &str) -> Result<Option<(i64, Vec<u8>)>, Error> {
        let row = sqlx::query("SELECT cell8, sealed_point FROM home WHERE household_id = $1")
            .bind(household_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a home"))?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// How many households have their home in each of `cells` (resolutions 8, 7, 6 and 5,
    /// finest first).
    pub async fn census(&self, cells: [i64; 4]) -> Result<[i64; 4], Error> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM home WHERE cell8 = $1), (SELECT COUNT(*) FROM home WHERE cell7 = $2), \
             (SELECT COUNT(*) FROM home WHERE cell6 = $3), (SELECT COUNT(*) FROM home WHERE cell5 = $4)",
        )
        .bind(cells[0])
        .bind(cells[1])
        .bind(cells[2])
        .bind(cells[3])
        .fetch_one(&self.pool)
        .await
        .map_err(db_err("counting homes"))?;
        Ok([r.get(0), r.get(1), r.get(2), r.get(3)])
    }

    pub async fn post(&self, id: &str) -> Result<Option<Post>, Error> {
        let r = sqlx::query(super::safe(format!("SELECT {POST_COLUMNS} FROM post WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a post"))?;
        Ok(r.as_ref().map(post))
    }

    /// Replaces a post's text; false if there is no such post.
    pub async fn edit_post(&self, id: &str, category: &str, body: &str, now_ms: i64) -> Result<bool, Error> {
        let n = sqlx::query("UPDATE post SET category = $1, body = $2, edited_ms = $3 WHERE id = $4")
            .bind(category)
            .bind(body)
            .bind(now_ms)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_err("editing a post"))?
            .rows_affected();
        Ok(n == 1)
    }

    /// Deletes a post with its comments, reports and relay threads (cascades).
    /// Deletes a post with its comments, reports, relay threads and media. Returns whether
    /// it existed, and the chunks this doomed (the caller may delete their blobs at once;
    /// the collector does otherwise).
    pub async fn delete_post(&self, id: &str, now_ms: i64) -> Result<(bool, Vec<String>), Error> {
        let mut tx = self.write_tx().await?;
        let hashes: Vec<String> = sqlx::query("DELETE FROM post_media WHERE post_id = $1 RETURNING hash")
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err("deleting a post's media"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let n = sqlx::query("DELETE FROM post WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("deleting a post"))?
            .rows_affected();
        for h in &hashes {
            super::storage::doom_if_unreferenced(&mut tx, h, now_ms).await?;
        }
        let doomed = doomed_among(&mut tx, &hashes).await?;
        tx.commit().await.map_err(db_err("committing a post's deletion"))?;
        Ok((n == 1, doomed))
    }

    /// Stores an uploaded photo or clip, not yet attached to a post.
    pub async fn insert_post_media(&self, m: &PostMedia) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO post_media (id, household_id, account_id, post_id, position, kind, hash, size_bytes, \
             created_ms) VALUES ($1, $2, $3, NULL, 0, $4, $5, $6, $7)",
        )
        .bind(&m.id)
        .bind(&m.household_id)
        .bind(&m.account_id)
        .bind(&m.kind)
        .bind(&m.hash)
        .bind(m.size_bytes)
        .bind(m.created_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("storing a post's media"))?;
        Ok(())
    }

    /// Stores a post and attaches the author's waiting uploads `media` to it, in that order,
    /// all or nothing. Returns the index of the first upload that is not the author's, not
    /// from this household, or already attached (and stores nothing).
    pub async fn insert_post_with_media(&self, p: &Post, media: &[String]) -> Result<Result<(), usize>, Error> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO post (id, household_id, author_id, category, body, area_cell, created_ms, edited_ms, \
             hidden_reason, hidden_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&p.id)
        .bind(&p.household_id)
        .bind(&p.author_id)
        .bind(&p.category)
        .bind(&p.body)
        .bind(p.area_cell)
        .bind(p.created_ms)
        .bind(p.edited_ms)
        .bind(&p.hidden_reason)
        .bind(p.hidden_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err("storing a post"))?;
        for (i, m) in media.iter().enumerate() {
            let n = sqlx::query(
                "UPDATE post_media SET post_id = $1, position = $2 WHERE id = $3 AND account_id = $4 \
                 AND household_id = $5 AND post_id IS NULL",
            )
            .bind(&p.id)
            .bind(i as i64)
            .bind(m)
            .bind(&p.author_id)
            .bind(&p.household_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("attaching media to a post"))?
            .rows_affected();
            if n != 1 {
                return Ok(Err(i)); // Dropping the transaction rolls it back.
            }
        }
        tx.commit().await.map_err(db_err("committing a post"))?;
        Ok(Ok(()))
    }

    pub async fn post_media(&self, id: &str) -> Result<Option<PostMedia>, Error> {
        let r = sqlx::query(super::safe(format!("SELECT {MEDIA_COLUMNS} FROM post_media WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a post's media"))?;
        Ok(r.as_ref().map(media_row))
    }

    /// The media of each of `post_ids`, in order.
    pub async fn media_of_posts(&self, post_ids: &[&str]) -> Result<Vec<PostMedia>, Error> {
        if post_ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=post_ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {MEDIA_COLUMNS} FROM post_media WHERE post_id IN ({}) ORDER BY post_id, position",
            marks.join(", ")
        );
        let mut q = sqlx::query(super::safe(sql));
        for id in post_ids {
            q = q.bind(*id);
        }
        let rows = q.fetch_all(&self.pool).await.map_err(db_err("reading posts' media"))?;
        Ok(rows.iter().map(media_row).collect())
    }

    /// Uploads never attached to a post, made before `before_ms`, are deleted and their
    /// chunks doomed. Returns how many.
    pub async fn expire_pending_media(&self, before_ms: i64, now_ms: i64) -> Result<u64, Error> {
        let mut tx = self.write_tx().await?;
        let hashes: Vec<String> =
            sqlx::query("DELETE FROM post_media WHERE post_id IS NULL AND created_ms < $1 RETURNING hash")
                .bind(before_ms)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err("expiring waiting uploads"))?
                .iter()
                .map(|r| r.get(0))
                .collect();
        for h in &hashes {
            super::storage::doom_if_unreferenced(&mut tx, h, now_ms).await?;
        }
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(hashes.len() as u64)
    }

    /// Uploads by `account` since `since_ms` (attached or not), and their bytes: the
    /// upload rate limit.
    pub async fn recent_media(&self, account: &str, since_ms: i64) -> Result<(i64, i64), Error> {
        let r = sqlx::query(
            "SELECT COUNT(*), CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM post_media WHERE account_id = $1 AND created_ms >= $2",
        )
        .bind(account)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err("counting uploads"))?;
        Ok((r.get(0), r.get(1)))
    }

    /// How many posts each area holds: the feed's planner hint.
    pub async fn area_post_counts(&self) -> Result<std::collections::HashMap<i64, i64>, Error> {
        let rows = sqlx::query("SELECT area_cell, COUNT(*) FROM post GROUP BY area_cell")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("counting posts by area"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// One page of the feed over `areas` (each with how many posts it holds, the fullest
    /// first) out of `total` posts in all: the planner. Reading each area's range costs
    /// about a seek per area; reading all posts by time costs about the rows skipped before
    /// a page fills, `limit × total / inside`; whichever is smaller is read.
    pub async fn feed(
        &self,
        areas: &[(i64, i64)],
        total: i64,
        before: (i64, &str),
        limit: i64,
        viewer: &str,
    ) -> Result<Vec<FeedItem>, Error> {
        let inside: i64 = areas.iter().map(|(_, n)| n).sum();
        if areas.is_empty() || inside <= 0 {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = areas.iter().map(|(a, _)| *a).collect();
        if (limit as f64) * (total as f64) / (inside as f64) <= SEEK_ROWS * ids.len() as f64 {
            self.feed_by_time(&ids, before, limit, viewer).await
        } else {
            self.feed_by_area(&ids, before, limit, viewer).await
        }
    }

    /// One page of a feed, like [`Db::feed_by_area`], read through all posts newest first
    /// (`post_time`), keeping those whose area is one of `areas`: the cheaper way when
    /// those areas hold most posts.
    pub async fn feed_by_time(
        &self,
        areas: &[i64],
        before: (i64, &str),
        limit: i64,
        viewer: &str,
    ) -> Result<Vec<FeedItem>, Error> {
        if let Some(pg) = &self.pg {
            let rows = sqlx::query(
                "SELECT id, household_id, author_id, category, body, area_cell, created_ms, edited_ms, \
                 hidden_reason, hidden_ms, (SELECT COUNT(*) FROM post_comment c WHERE c.post_id = post.id) \
                 FROM post WHERE (created_ms, id) < ($1, $2) AND area_cell = ANY($3) \
                 AND (hidden_ms IS NULL OR author_id = $4) ORDER BY created_ms DESC, id DESC LIMIT $5",
            )
            .bind(before.0)
            .bind(before.1)
            .bind(areas)
            .bind(viewer)
            .bind(limit)
            .fetch_all(pg)
            .await
            .map_err(db_err("reading the feed"))?;
            return Ok(rows.iter().map(pg_feed_item).collect());
        }
        let list = serde_json::to_string(areas).map_err(|e| Error::wrap(base::ErrorKind::Internal, "areas", e))?;
        let sql = "SELECT id, household_id, author_id, category, body, area_cell, created_ms, edited_ms, \
             hidden_reason, hidden_ms, (SELECT COUNT(*) FROM post_comment c WHERE c.post_id = post.id) \
             FROM post INDEXED BY post_time WHERE (created_ms, id) < ($1, $2) \
             AND area_cell IN (SELECT value FROM json_each($3)) \
             AND (hidden_ms IS NULL OR author_id = $4) ORDER BY created_ms DESC, id DESC LIMIT $5";
        if let Some(readers) = &self.readers {
            let sql = sql.replace('$', "?");
            return readers
                .with(|c| {
                    let mut stmt = c.prepare_cached(&sql)?;
                    let rows =
                        stmt.query_map(rusqlite::params![before.0, before.1, list, viewer, limit], sqlite_feed_item)?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(|e| Error::wrap(base::ErrorKind::Internal, "reading the feed", e));
        }
        let rows = sqlx::query(sql)
            .bind(before.0)
            .bind(before.1)
            .bind(list)
            .bind(viewer)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("reading the feed"))?;
        Ok(rows.iter().map(|r| FeedItem { post: post(r), comments: r.get(10) }).collect())
    }

    /// One page of a feed: the newest `limit` posts older than `before` (created_ms, id)
    /// whose area is one of `areas`, without hidden posts except those `viewer` wrote.
    /// Each area is one index range (`post_area_time`), read newest first only down to the
    /// oldest post the page still holds, so a feed never reads a post beyond its radius and
    /// reads few that it drops: the cheaper way when the areas hold few posts. List the
    /// areas with the most posts first: the floor then comes soonest.
    pub async fn feed_by_area(
        &self,
        areas: &[i64],
        before: (i64, &str),
        limit: i64,
        viewer: &str,
    ) -> Result<Vec<FeedItem>, Error> {
        let mut page = Page { items: Vec::new(), limit: limit.max(0) as usize };
        if let Some(pg) = &self.pg {
            // One statement per pass: a round trip per area would cost more than the reads.
            // The first pass reads the few fullest areas (the caller lists them first); the
            // oldest post of that page is a floor no post of the real page is older than,
            // so the second pass reads each area only down to it.
            let sql = format!(
                "SELECT p.* FROM unnest($1::bigint[]) AS a(cell) CROSS JOIN LATERAL ({}) p \
                 ORDER BY p.created_ms DESC, p.id DESC LIMIT $6",
                FEED_SQL.replace("area_cell = $1", "area_cell = a.cell")
            );
            let pass = async |areas: &[i64], floor: i64| {
                sqlx::query(super::safe(sql.clone()))
                    .bind(areas)
                    .bind(before.0)
                    .bind(before.1)
                    .bind(floor)
                    .bind(viewer)
                    .bind(limit)
                    .fetch_all(pg)
                    .await
                    .map_err(db_err("reading the feed"))
            };
            let first = FLOOR_AREAS.min(areas.len());
            page.add(pass(&areas[..first], i64::MIN).await?.iter().map(pg_feed_item).collect());
            if first < areas.len() {
                let floor = page.floor();
                page.add(pass(&areas[first..], floor).await?.iter().map(pg_feed_item).collect());
            }
            return Ok(page.items);
        }
        if let Some(readers) = &self.readers {
            let sql = FEED_SQL.replace('$', "?");
            return readers
                .with(|c| {
                    let mut stmt = c.prepare_cached(&sql)?;
                    for area in areas {
                        let rows = stmt.query_map(
                            rusqlite::params![area, before.0, before.1, page.floor(), viewer, limit],
                            sqlite_feed_item,
                        )?;
                        let got = rows.collect::<rusqlite::Result<Vec<_>>>()?;
                        page.add(got);
                    }
                    Ok(page.items)
                })
                .map_err(|e| Error::wrap(base::ErrorKind::Internal, "reading the feed", e));
        }
        // An in-memory SQLite database, which only the pool's connections can see.
        for area in areas {
            let rows = sqlx::query(FEED_SQL)
                .bind(area)
                .bind(before.0)
                .bind(before.1)
                .bind(page.floor())
                .bind(viewer)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err("reading the feed"))?;
            page.add(rows.iter().map(|r| FeedItem { post: post(r), comments: r.get(10) }).collect());
        }
        Ok(page.items)
    }

    /// Adds a comment under the commenter's alias on that post (0 for the post's author,
    /// else the alias of their earlier comment there, else the next free one).
    pub async fn add_comment(
        &self,
        id: &str,
        post_id: &str,
        author_id: &str,
        body: &str,
        now_ms: i64,
    ) -> Result<Comment, Error> {
        let mut tx = self.write_tx().await?;
        let r = sqlx::query(
            "SELECT CASE WHEN p.author_id = $2 THEN 0 ELSE COALESCE( \
               (SELECT MIN(alias) FROM post_comment WHERE post_id = $1 AND author_id = $2), \
               (SELECT MAX(alias) + 1 FROM post_comment WHERE post_id = $1 AND alias > 0), 1) END \
             FROM post p WHERE p.id = $1",
        )
        .bind(post_id)
        .bind(author_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err("choosing a comment alias"))?;
        let Some(r) = r else { base::bail!(NotFound, "post_id: no post {post_id}") };
        let c = Comment {
            id: id.to_owned(),
            post_id: post_id.to_owned(),
            author_id: author_id.to_owned(),
            alias: r.get(0),
            body: body.to_owned(),
            created_ms: now_ms,
        };
        sqlx::query(
            "INSERT INTO post_comment (id, post_id, author_id, alias, body, created_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.id)
        .bind(&c.post_id)
        .bind(&c.author_id)
        .bind(c.alias)
        .bind(&c.body)
        .bind(c.created_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err("storing a comment"))?;
        tx.commit().await.map_err(db_err("committing a comment"))?;
        Ok(c)
    }

    /// A post's comments, oldest first, at most `limit`.
    pub async fn comments(&self, post_id: &str, limit: i64) -> Result<Vec<Comment>, Error> {
        let rows = sqlx::query(
            "SELECT id, post_id, author_id, alias, body, created_ms FROM post_comment WHERE post_id = $1 \
             ORDER BY created_ms, id LIMIT $2",
        )
        .bind(post_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading comments"))?;
        Ok(rows.iter().map(comment).collect())
    }

    pub async fn comment_count(&self, post_id: &str) -> Result<i64, Error> {
        let r = sqlx::query("SELECT COUNT(*) FROM post_comment WHERE post_id = $1")
            .bind(post_id)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("counting comments"))?;
        Ok(r.get(0))
    }

    pub async fn comment(&self, id: &str) -> Result<Option<Comment>, Error> {
        let r = sqlx::query("SELECT id, post_id, author_id, alias, body, created_ms FROM post_comment WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a comment"))?;
        Ok(r.as_ref().map(comment))
    }

    pub async fn delete_comment(&self, id: &str) -> Result<bool, Error> {
        let n = sqlx::query("DELETE FROM post_comment WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_err("deleting a comment"))?
            .rows_affected();
        Ok(n == 1)
    }

    /// Records `reporter`'s report of a post; false when they had reported it already.
    pub async fn report_post(&self, post_id: &str, reporter: &str, reason: &str, now_ms: i64) -> Result<bool, Error> {
        let n = sqlx::query(
            "INSERT INTO post_report (post_id, reporter_id, reason, created_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (post_id, reporter_id) DO NOTHING",
        )
        .bind(post_id)
        .bind(reporter)
        .bind(reason)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("storing a report"))?
        .rows_affected();
        Ok(n == 1)
    }

    /// The operator's queue: posts with reports that are not hidden, most recently reported
    /// first, at most `limit`.
    pub async fn reported_posts(&self, limit: i64) -> Result<Vec<Reported>, Error> {
        let rows = sqlx::query(super::safe(format!(
            "SELECT {POST_COLUMNS} FROM post WHERE hidden_ms IS NULL AND id IN (SELECT post_id FROM post_report) \
             ORDER BY (SELECT MAX(created_ms) FROM post_report r WHERE r.post_id = post.id) DESC, id LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading reported posts"))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let p = post(r);
            let reports =
                sqlx::query("SELECT reason, created_ms FROM post_report WHERE post_id = $1 ORDER BY created_ms")
                    .bind(&p.id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err("reading reports"))?
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect();
            out.push(Reported { post: p, reports });
        }
        Ok(out)
    }

    /// Hides a post with a reason (`Some`) or shows it again (`None`); false if there is no
    /// such post. Showing a post again also clears its reports: the operator has judged them.
    pub async fn set_hidden(&self, post_id: &str, reason: Option<&str>, now_ms: i64) -> Result<bool, Error> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("UPDATE post SET hidden_reason = $1, hidden_ms = $2 WHERE id = $3")
            .bind(reason)
            .bind(reason.map(|_| now_ms))
            .bind(post_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err("hiding a post"))?
            .rows_affected();
        if reason.is_none() {
            sqlx::query("DELETE FROM post_report WHERE post_id = $1")
                .bind(post_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err("clearing reports"))?;
        }
        tx.commit().await.map_err(db_err("committing a moderation decision"))?;
        Ok(n == 1)
    }

    /// The relay thread between `asker` and the author of `post_id`, created if new
    /// (`id` names a new one).
    pub async fn relay_thread_for(&self, id: &str, post_id: &str, asker: &str, now_ms: i64) -> Result<String, Error> {
        sqlx::query(
            "INSERT INTO relay_thread (id, post_id, asker_id, created_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (post_id, asker_id) DO NOTHING",
        )
        .bind(id)
        .bind(post_id)
        .bind(asker)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("opening a relay thread"))?;
        self.relay_thread_of(post_id, asker)
            .await?
            .ok_or_else(|| base::err!(Internal, "relay thread for post {post_id}: not there after its insert"))
    }

    /// The id of the relay thread between `asker` and the author of `post_id`, if any.
    pub async fn relay_thread_of(&self, post_id: &str, asker: &str) -> Result<Option<String>, Error> {
        let r = sqlx::query("SELECT id FROM relay_thread WHERE post_id = $1 AND asker_id = $2")
            .bind(post_id)
            .bind(asker)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a relay thread"))?;
        Ok(r.map(|r| r.get(0)))
    }

    /// Threads `account` takes part in, as the post's author or as the neighbour who wrote,
    /// most recent message first.
    pub async fn relay_threads(&self, account: &str) -> Result<Vec<RelayThread>, Error> {
        let rows = sqlx::query(
            "SELECT t.id, t.post_id, p.category, p.author_id, t.asker_id, t.created_ms, \
               COALESCE((SELECT MAX(created_ms) FROM relay_message m WHERE m.thread_id = t.id), t.created_ms) AS last \
             FROM relay_thread t JOIN post p ON p.id = t.post_id \
             WHERE t.asker_id = $1 OR p.author_id = $1 ORDER BY last DESC, t.id LIMIT 200",
        )
        .bind(account)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading relay threads"))?;
        Ok(rows.iter().map(relay_thread).collect())
    }

    pub async fn relay_thread(&self, id: &str) -> Result<Option<RelayThread>, Error> {
        let r = sqlx::query(
            "SELECT t.id, t.post_id, p.category, p.author_id, t.asker_id, t.created_ms, t.created_ms \
             FROM relay_thread t JOIN post p ON p.id = t.post_id WHERE t.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading a relay thread"))?;
        Ok(r.as_ref().map(relay_thread))
    }

    pub async fn add_relay_message(&self, thread_id: &str, m: &RelayMessage) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO relay_message (id, thread_id, from_author, body, reveal, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&m.id)
        .bind(thread_id)
        .bind(i64::from(m.from_author))
        .bind(&m.body)
        .bind(&m.reveal)
        .bind(m.created_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("storing a relay message"))?;
        Ok(())
    }

    /// A thread's messages, oldest first, at most 500.
    pub async fn relay_messages(&self, thread_id: &str) -> Result<Vec<RelayMessage>, Error> {
        let rows = sqlx::query(
            "SELECT id, from_author, body, reveal, created_ms FROM relay_message WHERE thread_id = $1 \
             ORDER BY created_ms, id LIMIT 500",
        )
        .bind(thread_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading relay messages"))?;
        Ok(rows
            .iter()
            .map(|r| RelayMessage {
                id: r.get(0),
                from_author: r.get::<i64, _>(1) != 0,
                body: r.get(2),
                reveal: r.get(3),
                created_ms: r.get(4),
            })
            .collect())
    }

    /// What `account` wrote since `since_ms`: posts, comments, reports and new relay
    /// threads, for the per-account limits.
    pub async fn recent_writes(&self, account: &str, since_ms: i64) -> Result<[i64; 4], Error> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM post WHERE author_id = $1 AND created_ms >= $2), \
             (SELECT COUNT(*) FROM post_comment WHERE author_id = $1 AND created_ms >= $2), \
             (SELECT COUNT(*) FROM post_report WHERE reporter_id = $1 AND created_ms >= $2), \
             (SELECT COUNT(*) FROM relay_thread WHERE asker_id = $1 AND created_ms >= $2)",
        )
        .bind(account)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err("counting recent writes"))?;
        Ok([r.get(0), r.get(1), r.get(2), r.get(3)])
    }

    /// The hash of the posting rules `account` accepted, if any.
    pub async fn rules_accepted(&self, account: &str) -> Result<Option<String>, Error> {
        let r = sqlx::query("SELECT rules_hash FROM rules_accepted WHERE account_id = $1")
            .bind(account)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading accepted rules"))?;
        Ok(r.map(|r| r.get(0)))
    }

    pub async fn accept_rules(&self, account: &str, rules_hash: &str, now_ms: i64) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO rules_accepted (account_id, rules_hash, accepted_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id) DO UPDATE SET rules_hash = excluded.rules_hash, accepted_ms = excluded.accepted_ms",
        )
        .bind(account)
        .bind(rules_hash)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("recording accepted rules"))?;
        Ok(())
    }
}

fn relay_thread(r: &AnyRow) -> RelayThread {
    RelayThread {
        id: r.get(0),
        post_id: r.get(1),
        post_category: r.get(2),
        author_id: r.get(3),
        asker_id: r.get(4),
        created_ms: r.get(5),
        last_ms: r.get(6),
    }
}

fn pg_feed_item(r: &sqlx::postgres::PgRow) -> FeedItem {
    FeedItem { post: post_of!(r, get), comments: r.get(10) }
}

fn sqlite_feed_item(r: &rusqlite::Row) -> rusqlite::Result<FeedItem> {
    Ok(FeedItem { post: post_of!(r, get?), comments: r.get(10)? })
}
