//! `porchlight check` for the server: the metadata database and the blob store agree.

use std::collections::{BTreeMap, BTreeSet};

use base::Error;
use db::server::Db;

use crate::BlobStore;

/// What `check` found. `problems` must be empty; `orphan_blobs` (blobs with no row, left by
/// a crash between storing a chunk and recording it) are harmless, and the server's daily
/// sweep removes them once they are a day old (`BlobStore::sweep_orphans`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub chunks: usize,
    pub blobs: usize,
    pub orphan_blobs: Vec<String>,
    pub problems: Vec<String>,
}

pub async fn check(db: &Db, store: &BlobStore) -> Result<CheckReport, Error> {
    let rows: BTreeMap<String, i64> = db.all_chunks().await?.into_iter().collect();
    let blobs: BTreeMap<String, u64> = store.list_chunks().await?.into_iter().collect();
    let doomed: BTreeSet<String> = db.doomed_chunks(i64::MAX).await?.into_iter().collect();
    let mut r = CheckReport { chunks: rows.len(), blobs: blobs.len(), ..Default::default() };
    for (h, size) in &rows {
        match blobs.get(h) {
            None => r.problems.push(format!("chunk {h}: row without a blob")),
            Some(&b) if b as i64 != *size => r.problems.push(format!("chunk {h}: row says {size} bytes, blob has {b}")),
            Some(_) => {}
        }
    }
    for h in blobs.keys() {
        if !rows.contains_key(h) && !doomed.contains(h) {
            r.orphan_blobs.push(h.clone());
        }
    }
    for (owner, missing) in db.dangling_references().await? {
        r.problems.push(format!("{owner}: names {missing}, which has no row"));
    }
    Ok(r)
}
