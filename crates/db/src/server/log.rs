//! The transparency log's rows (design/transparency-log.md): entries in order, the hash of
//! every complete subtree, written in the same transaction as the entry that completes it,
//! and every head the server signed. Appends run inside the caller's transaction, so an
//! entry and the change it records (a verified agency, a footage request) commit together or
//! not at all.

use std::collections::HashMap;

use base::Error;
use crypto::tlog::{Hash, leaf_hash, node_hash};
use rusqlite::OptionalExtension;
use sqlx::Row;

use super::{Db, db_err, safe};

/// One entry as stored: `body` is the JSON text whose UTF-8 bytes are the leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub index: i64,
    pub kind: String,
    pub created_ms: i64,
    pub body: String,
}

/// An entry to append.
#[derive(Clone, Debug)]
pub struct NewLogEntry {
    pub kind: String,
    pub created_ms: i64,
    pub body: String,
}

/// At most this many nodes are read in one query (bound parameters stay well under
/// SQLite's limit of 32,766).
const NODES_PER_QUERY: usize = 256;

/// Rows per multi-row INSERT: 4 or 3 bound values each, well under both databases' limits.
const ROWS_PER_INSERT: usize = 1000;

/// Appends `entries` in `tx` and returns the index of the first; nothing is visible until
/// the caller commits. The hashes are computed first (a node made in this batch is never
/// read back), then entries and nodes are written in multi-row INSERTs.
pub(crate) async fn append_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    entries: &[NewLogEntry],
) -> Result<i64, Error> {
    let n = entries.len() as i64;
    let new_size: i64 = sqlx::query("UPDATE log_state SET size = size + $1 WHERE id = 1 RETURNING size")
        .bind(n)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err("growing the log"))?
        .get(0);
    let first = new_size - n;
    let mut made: HashMap<(i64, i64), Hash> = HashMap::new();
    let mut nodes: Vec<(i64, i64, Hash)> = Vec::with_capacity(2 * entries.len());
    for (k, e) in entries.iter().enumerate() {
        let index = first + k as i64;
        let (mut level, mut x, mut h) = (0i64, index, leaf_hash(e.body.as_bytes()));
        loop {
            nodes.push((level, x, h));
            made.insert((level, x), h);
            if x & 1 == 0 {
                break;
            }
            let left = match made.get(&(level, x - 1)) {
                Some(l) => *l,
                None => node_in(tx, level, x - 1).await?,
            };
            h = node_hash(&left, &h);
            level += 1;
            x >>= 1;
        }
    }
    for (c, part) in entries.chunks(ROWS_PER_INSERT).enumerate() {
        let mut sql = String::from("INSERT INTO log_entry (idx, kind, created_ms, body) VALUES ");
        for i in 0..part.len() {
            let p = 4 * i;
            sql.push_str(&format!(
                "{}(${}, ${}, ${}, ${})",
                if i == 0 { "" } else { ", " },
                p + 1,
                p + 2,
                p + 3,
                p + 4
            ));
        }
        let mut q = sqlx::query(safe(sql));
        for (i, e) in part.iter().enumerate() {
            q = q.bind(first + (c * ROWS_PER_INSERT + i) as i64).bind(&e.kind).bind(e.created_ms).bind(&e.body);
        }
        q.execute(&mut **tx).await.map_err(db_err("storing log entries"))?;
    }
    for part in nodes.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from("INSERT INTO log_node (level, idx, hash) VALUES ");
        for i in 0..part.len() {
            let p = 3 * i;
            sql.push_str(&format!("{}(${}, ${}, ${})", if i == 0 { "" } else { ", " }, p + 1, p + 2, p + 3));
        }
        let mut q = sqlx::query(safe(sql));
        for (level, x, h) in part {
            q = q.bind(*level).bind(*x).bind(h.to_vec());
        }
        q.execute(&mut **tx).await.map_err(db_err("storing log nodes"))?;
    }
    Ok(first)
}

async fn node_in(tx: &mut sqlx::Transaction<'static, sqlx::Any>, level: i64, x: i64) -> Result<Hash, Error> {
    let row = sqlx::query("SELECT hash FROM log_node WHERE level = $1 AND idx = $2")
        .bind(level)
        .bind(x)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err("reading a log node"))?;
    let Some(row) = row else { base::bail!(Internal, "log: node ({level}, {x}) is missing") };
    to_hash(row.get(0), level, x)
}

fn to_hash(v: Vec<u8>, level: i64, x: i64) -> Result<Hash, Error> {
    v.try_into().map_err(|_| base::err!(Internal, "log: node ({level}, {x}) is not 32 bytes"))
}

impl Db {
    /// Appends entries in their own transaction; returns the index of the first.
    pub async fn log_append(&self, entries: &[NewLogEntry]) -> Result<i64, Error> {
        let mut tx = self.write_tx().await?;
        let first = append_in(&mut tx, entries).await?;
        tx.commit().await.map_err(db_err("committing log entries"))?;
        Ok(first)
    }

    /// The number of entries.
    pub async fn log_size(&self) -> Result<i64, Error> {
        let r = sqlx::query("SELECT size FROM log_state WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("reading the log's size"))?;
        Ok(r.get(0))
    }

    /// The hashes of `nodes` (level, index). An error if one is missing: the log's rows were
    /// damaged or the caller asked beyond its size.
    pub async fn log_nodes(&self, nodes: &[(u32, u64)]) -> Result<HashMap<(u32, u64), Hash>, Error> {
        let mut out = HashMap::with_capacity(nodes.len());
        if nodes.is_empty() {
            return Ok(out);
        }
        if let Some(readers) = &self.readers {
            // SQLite: one primary-key lookup per node on a read-only connection, on this
            // thread (`readers.rs`); a proof at ten million entries reads about 14.
            let rows = readers
                .with(|c| {
                    let mut st = c.prepare_cached("SELECT hash FROM log_node WHERE level = ?1 AND idx = ?2")?;
                    let mut rows = Vec::with_capacity(nodes.len());
                    for &(l, x) in nodes {
                        let h: Option<Vec<u8>> = st.query_row((i64::from(l), x as i64), |r| r.get(0)).optional()?;
                        rows.extend(h.map(|h| ((l, x), h)));
                    }
                    Ok(rows)
                })
                .map_err(|e| Error::wrap(base::ErrorKind::Internal, "reading log nodes", e))?;
            for ((l, x), h) in rows {
                out.insert((l, x), to_hash(h, i64::from(l), x as i64)?);
            }
        } else if let Some(pg) = &self.pg {
            // PostgreSQL: one prepared statement for any number of nodes, on the native
            // pool (no per-value conversion through the Any driver).
            let (levels, idxs): (Vec<i64>, Vec<i64>) = nodes.iter().map(|&(l, x)| (i64::from(l), x as i64)).unzip();
            let rows = sqlx::query(
                "SELECT n.level, n.idx, n.hash FROM log_node n \
                 JOIN UNNEST($1::BIGINT[], $2::BIGINT[]) AS k (level, idx) ON n.level = k.level AND n.idx = k.idx",
            )
            .bind(levels)
            .bind(idxs)
            .fetch_all(pg)
            .await
            .map_err(db_err("reading log nodes"))?;
            for r in rows {
                let (l, x): (i64, i64) = (r.get(0), r.get(1));
                out.insert((l as u32, x as u64), to_hash(r.get(2), l, x)?);
            }
        } else {
            // An in-memory SQLite database, which only the pool's connections can see.
            for part in nodes.chunks(NODES_PER_QUERY) {
                let mut sql = String::from("SELECT level, idx, hash FROM log_node WHERE ");
                for i in 0..part.len() {
                    if i > 0 {
                        sql.push_str(" OR ");
                    }
                    sql.push_str(&format!("(level = ${} AND idx = ${})", 2 * i + 1, 2 * i + 2));
                }
                let mut q = sqlx::query(safe(sql));
                for &(l, x) in part {
                    q = q.bind(i64::from(l)).bind(x as i64);
                }
                for r in q.fetch_all(&self.pool).await.map_err(db_err("reading log nodes"))? {
                    let (l, x): (i64, i64) = (r.get(0), r.get(1));
                    out.insert((l as u32, x as u64), to_hash(r.get(2), l, x)?);
                }
            }
        }
        if let Some((l, x)) = nodes.iter().find(|k| !out.contains_key(k)) {
            base::bail!(Internal, "log: node ({l}, {x}) is missing");
        }
        Ok(out)
    }

    /// Entries `start..end` in order.
    pub async fn log_entries(&self, start: i64, end: i64) -> Result<Vec<LogEntry>, Error> {
        let rows =
            sqlx::query("SELECT idx, kind, created_ms, body FROM log_entry WHERE idx >= $1 AND idx < $2 ORDER BY idx")
                .bind(start)
                .bind(end)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err("reading log entries"))?;
        Ok(rows
            .iter()
            .map(|r| LogEntry { index: r.get(0), kind: r.get(1), created_ms: r.get(2), body: r.get(3) })
            .collect())
    }

    /// The head signed at `size`, if one was.
    pub async fn log_head(&self, size: i64) -> Result<Option<Vec<u8>>, Error> {
        let r = sqlx::query("SELECT signed FROM log_head WHERE size = $1")
            .bind(size)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a tree head"))?;
        Ok(r.map(|r| r.get(0)))
    }

    /// Keeps the head signed at `size`, unless one is kept already; returns the kept one,
    /// so that every caller hands out the same head for a size.
    pub async fn keep_log_head(&self, size: i64, signed: &[u8], now_ms: i64) -> Result<Vec<u8>, Error> {
        sqlx::query(
            "INSERT INTO log_head (size, signed, created_ms) VALUES ($1, $2, $3) ON CONFLICT (size) DO NOTHING",
        )
        .bind(size)
        .bind(signed.to_vec())
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err("keeping a tree head"))?;
        self.log_head(size).await?.ok_or_else(|| base::err!(Internal, "log: the head of size {size} went missing"))
    }
}
