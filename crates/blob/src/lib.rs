//! The server's ciphertext store: content-addressed chunks in any `object_store` backend
//! (a local folder by default, any S3-compatible store when configured), and the workers
//! that keep it consistent with the metadata database: retention, garbage collection and
//! `check`.
//!
//! Owns: the chunk naming (`chunks/<2 hex>/<64 hex of SHA-256>`), verifying that a chunk's
//! bytes hash to its name before it is stored, and the deletion procedure (design/server.md,
//! "Deleting"). Deliberately does not own: what the bytes mean (they are sealed objects the
//! server cannot open), HTTP, or who may read them.

mod check;
pub mod gc;

pub use check::{CheckReport, check};
pub use gc::{GcStats, collect, retention_pass};

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base::{Error, ErrorKind, ResultExt, bail};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};

/// The largest chunk the store accepts; the agent cuts sealed objects into chunks of at
/// most this size.
pub const CHUNK_BYTES_MAX: usize = 8 << 20;

/// Where the ciphertext lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A folder on the server's disk.
    Local(PathBuf),
    /// An S3-compatible bucket.
    S3 { endpoint: String, bucket: String, region: String, access_key_id: String, secret_access_key: String },
}

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// For the local store: its folder, so that puts can be fsynced (object_store's local
    /// backend renames into place but does not sync).
    local_root: Option<PathBuf>,
    /// Storing a chunk (blob, then row) and deleting a doomed one (re-check, blob, then
    /// forget) hold the lock of the chunk's stripe, so a chunk uploaded again while it is
    /// being deleted cannot end up with a row and no blob. (The server is one process.)
    stripes: Arc<[tokio::sync::Mutex<()>; STRIPES]>,
}

const STRIPES: usize = 64;

/// The lower-case hex SHA-256 of `b`: a chunk's name.
pub fn chunk_hash(b: &[u8]) -> String {
    let d = Sha256::digest(b);
    let mut s = String::with_capacity(64);
    for x in d {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// Checks that `h` is 64 lower-case hex digits; `field` names it in the error.
pub fn check_hash(field: &str, h: &str) -> Result<(), Error> {
    if h.len() != 64 || !h.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
        bail!(InvalidArgument, "{field}: expected 64 lower-case hex digits (a SHA-256), got {h:?}");
    }
    Ok(())
}

fn chunk_path(hash: &str) -> StorePath {
    StorePath::from(format!("chunks/{}/{hash}", &hash[..2]))
}

fn store_err(what: String) -> impl FnOnce(object_store::Error) -> Error {
    move |e| {
        let kind = match &e {
            object_store::Error::NotFound { .. } => ErrorKind::NotFound,
            _ => ErrorKind::Unavailable,
        };
        Error::wrap(kind, what, e)
    }
}

impl BlobStore {
    pub fn open(loc: &Location) -> Result<BlobStore, Error> {
        match loc {
            Location::Local(dir) => {
                std::fs::create_dir_all(dir).err_kind(ErrorKind::Internal, || format!("creating {}", dir.display()))?;
                let dir =
                    dir.canonicalize().err_kind(ErrorKind::Internal, || format!("resolving {}", dir.display()))?;
                let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(store_err(format!("opening the blob folder {}", dir.display())))?;
                Ok(BlobStore {
                    store: Arc::new(fs),
                    local_root: Some(dir),
                    stripes: Arc::new(std::array::from_fn(|_| tokio::sync::Mutex::new(()))),
                })
            }
            Location::S3 { endpoint, bucket, region, access_key_id, secret_access_key } => {
                let s3 = object_store::aws::AmazonS3Builder::new()
                    .with_endpoint(endpoint)
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_access_key_id(access_key_id)
                    .with_secret_access_key(secret_access_key)
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_virtual_hosted_style_request(false)
                    .build()
                    .map_err(store_err(format!("configuring the S3 store {endpoint}/{bucket}")))?;
                Ok(BlobStore {
                    store: Arc::new(s3),
                    local_root: None,
                    stripes: Arc::new(std::array::from_fn(|_| tokio::sync::Mutex::new(()))),
                })
            }
        }
    }

    /// Stores a chunk under its hash, after checking that the bytes hash to it. Storing the
    /// same chunk again is harmless. When this returns, the chunk is durable (fsynced for
    /// the local store; acknowledged by the S3 server otherwise).
    pub async fn put_chunk(&self, hash: &str, bytes: Bytes) -> Result<(), Error> {
        check_hash("chunk hash", hash)?;
        if bytes.len() > CHUNK_BYTES_MAX {
            bail!(ResourceExhausted, "chunk: {} bytes exceeds the limit of {CHUNK_BYTES_MAX}", bytes.len());
        }
        let got = chunk_hash(&bytes);
        if got != hash {
            bail!(InvalidArgument, "chunk: the bytes hash to {got}, not to the name {hash}");
        }
        let path = chunk_path(hash);
        self.store
            .put(&path, PutPayload::from_bytes(bytes))
            .await
            .map_err(store_err(format!("storing chunk {hash}")))?;
        if let Some(root) = &self.local_root {
            let root = root.clone();
            let rel = path.to_string();
            tokio::task::spawn_blocking(move || sync_local(&root, &rel))
                .await
                .map_err(|e| Error::wrap(ErrorKind::Internal, "fsync task", e))??;
        }
        Ok(())
    }

    fn stripe(&self, hash: &str) -> &tokio::sync::Mutex<()> {
        let b = u8::from_str_radix(hash.get(..2).unwrap_or("00"), 16).unwrap_or(0);
        &self.stripes[usize::from(b) % STRIPES]
    }

    /// Stores a chunk and records it for `household_id`: the blob first (durable), then its
    /// row, which also rescues a chunk that was doomed. See [`BlobStore::delete_doomed`].
    pub async fn store(
        &self,
        db: &db::server::Db,
        hash: &str,
        household_id: &str,
        bytes: Bytes,
        now_ms: i64,
    ) -> Result<(), Error> {
        let n = bytes.len() as i64;
        let _held = self.stripe(hash).lock().await;
        self.put_chunk(hash, bytes).await?;
        db.insert_chunk(hash, household_id, n, now_ms).await
    }

    /// Deletes the blobs of `hashes` that are still doomed, and forgets them; a chunk
    /// stored again since it was doomed (rescued) keeps its blob. Returns those deleted.
    pub async fn delete_doomed(&self, db: &db::server::Db, hashes: &[String]) -> Result<Vec<String>, Error> {
        let mut gone = Vec::new();
        for h in hashes {
            let _held = self.stripe(h).lock().await;
            if !db.is_doomed(h).await? {
                continue;
            }
            self.delete_chunk(h).await?;
            db.forget_doomed(std::slice::from_ref(h)).await?;
            gone.push(h.clone());
        }
        Ok(gone)
    }

    pub async fn get_chunk(&self, hash: &str) -> Result<Bytes, Error> {
        check_hash("chunk hash", hash)?;
        let r = self.store.get(&chunk_path(hash)).await.map_err(store_err(format!("reading chunk {hash}")))?;
        r.bytes().await.map_err(store_err(format!("reading chunk {hash}")))
    }

    /// Deletes a chunk; a chunk that is already gone is not an error (deletion is retried
    /// after crashes).
    pub async fn delete_chunk(&self, hash: &str) -> Result<(), Error> {
        check_hash("chunk hash", hash)?;
        match self.store.delete(&chunk_path(hash)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_err(format!("deleting chunk {hash}"))(e)),
        }
    }

    /// Deletes blobs that no row names (neither `chunk` nor `doomed_chunk`) and that were
    /// written before `before_ms`: left by a crash between storing a chunk and recording it
    /// ([`BlobStore::store`]). Each is re-checked under the chunk's lock, so a chunk being
    /// stored again meanwhile keeps its blob. Lists the whole store: the server runs it
    /// once a day. Returns how many went.
    pub async fn sweep_orphans(&self, db: &db::server::Db, before_ms: i64) -> Result<u64, Error> {
        let prefix = StorePath::from("chunks");
        let metas: Vec<_> =
            self.store.list(Some(&prefix)).try_collect().await.map_err(store_err("listing chunks".to_owned()))?;
        let mut n = 0;
        for m in metas {
            let Some(h) = m.location.filename().filter(|f| check_hash("", f).is_ok()).map(str::to_owned) else {
                continue;
            };
            if m.last_modified.timestamp_millis() >= before_ms {
                continue;
            }
            let _held = self.stripe(&h).lock().await;
            if db.chunk_size(&h).await?.is_some() || db.is_doomed(&h).await? {
                continue;
            }
            tracing::info!(chunk = %h, "deleting a blob no row names");
            self.delete_chunk(&h).await?;
            n += 1;
        }
        Ok(n)
    }

    /// Every stored chunk with its size.
    pub async fn list_chunks(&self) -> Result<Vec<(String, u64)>, Error> {
        let prefix = StorePath::from("chunks");
        let metas: Vec<_> =
            self.store.list(Some(&prefix)).try_collect().await.map_err(store_err("listing chunks".to_owned()))?;
        let mut out: Vec<(String, u64)> = metas
            .into_iter()
            .filter_map(|m| m.location.filename().map(|f| (f.to_owned(), m.size)))
            .filter(|(f, _)| check_hash("", f).is_ok())
            .collect();
        out.sort();
        Ok(out)
    }
}

fn sync_local(root: &Path, rel: &str) -> Result<(), Error> {
    let file = root.join(rel);
    std::fs::File::open(&file)
        .and_then(|f| f.sync_all())
        .err_kind(ErrorKind::Internal, || format!("fsync {}", file.display()))?;
    let dir = file.parent().expect("chunk paths have a parent");
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .err_kind(ErrorKind::Internal, || format!("fsync {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_checked() {
        assert!(check_hash("h", &chunk_hash(b"x")).is_ok());
        for bad in ["", "ab", &"A".repeat(64), &"g".repeat(64), &"0".repeat(63)] {
            let e = check_hash("chunk hash", bad).unwrap_err();
            assert!(e.msg().starts_with("chunk hash: expected 64"), "{e}");
        }
    }
}
