//! The transparency log as the API keeps it (design/transparency-log.md): what each entry
//! says, the server's log key, signed heads and proofs over the stored tree.
//!
//! An entry is a JSON object whose exact UTF-8 bytes are the leaf; nobody ever re-encodes
//! one, so its field order does not matter to anyone checking it. Every entry names its
//! version, kind and time; the rest depends on the kind ([`Entry`]).

use std::collections::HashMap;
use std::sync::Arc;
pub use wire::Area;

use base::{Error, err};
use crypto::keys::IdentitySecret;
use crypto::tlog::{self, Hash, Nodes, NodesNeeded, SignedTreeHead, TreeHead};
use db::server::NewLogEntry;
use serde::{Deserialize, Serialize};

use crate::state::AppState;

/// The server's log signing key. Its `Debug` shows only the public half.
#[derive(Clone)]
pub struct LogKey(pub Arc<IdentitySecret>);

impl LogKey {
    pub fn generate() -> LogKey {
        LogKey(Arc::new(IdentitySecret::generate()))
    }
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogKey({})", self.0.public().fingerprint())
    }
}

/// What an entry records. Each is public in full; none names a household, a resident or a
/// clip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Entry {
    /// The operator checked an agency out of band; from now on agents and browsers may use
    /// these keys, and no others of the agency's.
    AgencyVerified {
        agency_id: String,
        name: String,
        jurisdiction: String,
        website: String,
        phone: String,
        /// The agency's public key bundle (`crypto::keys::PublicKeys`), hex.
        public_keys: String,
        /// Its identity key's fingerprint, as people compare it.
        fingerprint: String,
        /// How the operator checked, in the operator's words.
        statement: String,
    },
    /// An agency asked the households of an area for footage of a time window.
    RequestMade {
        request_id: String,
        agency_id: String,
        agency: String,
        category: String,
        area: Area,
        area_m2: i64,
        window_from_ms: i64,
        window_until_ms: i64,
        expires_ms: i64,
        /// Households whose home cell touches the area (a count; the server knows no more).
        households_offered: i64,
    },
    /// A request stopped being offered.
    RequestExpired { request_id: String, agency_id: String },
    /// A resident shared footage in answer to a request: counts only, never who.
    GrantMade { request_id: String, agency_id: String, clips: i64, duration_ms: i64 },
    /// A legal demand on the operator, and what the operator could produce: ciphertext and
    /// metadata, never footage.
    LegalDemand { authority: String, reference: String, demanded: String, produced: String },
    /// The log's signing key changed; signed heads from now on are by `new_key`.
    OperatorKeyChange { old_key: String, new_key: String, reason: String },
}

impl Entry {
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::AgencyVerified { .. } => "agency_verified",
            Entry::RequestMade { .. } => "request_made",
            Entry::RequestExpired { .. } => "request_expired",
            Entry::GrantMade { .. } => "grant_made",
            Entry::LegalDemand { .. } => "legal_demand",
            Entry::OperatorKeyChange { .. } => "operator_key_change",
        }
    }
}

/// An entry with its version and time, as the leaf holds it. (Unknown fields are refused
/// by [`Entry`]: serde cannot refuse them on a struct that flattens another.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub v: u32,
    pub time_ms: i64,
    #[serde(flatten)]
    pub entry: Entry,
}

impl Record {
    pub fn new(entry: Entry, time_ms: i64) -> Record {
        Record { v: 1, time_ms, entry }
    }

    /// The row to append.
    pub fn to_row(&self) -> NewLogEntry {
        NewLogEntry {
            kind: self.entry.kind().to_owned(),
            created_ms: self.time_ms,
            body: serde_json::to_string(self).expect("log records serialize"),
        }
    }

    /// Reads an entry's text, refusing versions this build does not know.
    pub fn parse(body: &str) -> Result<Record, Error> {
        let r: Record = serde_json::from_str(body).map_err(|e| err!(InvalidArgument, "log entry: {e}"))?;
        if r.v != 1 {
            base::bail!(InvalidArgument, "log entry: version {} is not known to this build (expected 1)", r.v);
        }
        Ok(r)
    }
}

/// Nodes fetched from the database for one computation.
struct Fetched {
    size: u64,
    nodes: HashMap<(u32, u64), Hash>,
}

impl Nodes for Fetched {
    fn size(&self) -> u64 {
        self.size
    }

    fn node(&self, level: u32, index: u64) -> Hash {
        // `with_nodes` fetched every node `f` reads; a miss would be a bug in it.
        self.nodes.get(&(level, index)).copied().unwrap_or([0; 32])
    }
}

/// Subtrees this tall and taller are kept in memory once read: a complete subtree's hash
/// never changes, every proof at a large size passes through the same few of them (about
/// n / 1024), and each saved lookup is a random read in a table of 2n rows.
pub const CACHED_LEVEL_MIN: u32 = 10;
/// At most this many cached nodes (64 bytes each with the key): 100 million entries' worth.
const CACHED_NODES_MAX: usize = 100_000;

/// What proofs keep of the log between requests: its tall subtree hashes, read once
/// (`CACHED_LEVEL_MIN`), and the largest size seen. The log only grows, so a proof at a
/// size no larger than that needs no query to know the size exists.
#[derive(Default)]
pub struct NodeCache {
    nodes: std::sync::Mutex<HashMap<(u32, u64), Hash>>,
    size_seen: std::sync::atomic::AtomicU64,
}

/// Runs `f` over the stored tree of `size` leaves: once over placeholders to learn which
/// nodes it reads, then over exactly those: the tall ones from memory, the rest fetched in
/// one query.
async fn with_nodes<T>(
    st: &AppState,
    size: u64,
    f: impl Fn(&dyn Nodes) -> Result<T, crypto::Error>,
) -> Result<T, Error> {
    let need = NodesNeeded::new(size);
    f(&need).map_err(crypto_err)?;
    let mut nodes = HashMap::new();
    let mut fetch = Vec::new();
    {
        let cache = st.log_nodes.nodes.lock().expect("node cache");
        for k in need.into_nodes() {
            match cache.get(&k) {
                Some(h) => {
                    nodes.insert(k, *h);
                }
                None => fetch.push(k),
            }
        }
    }
    let fetched = st.db.log_nodes(&fetch).await?;
    {
        let mut cache = st.log_nodes.nodes.lock().expect("node cache");
        for (k, h) in &fetched {
            if k.0 >= CACHED_LEVEL_MIN && cache.len() < CACHED_NODES_MAX {
                cache.insert(*k, *h);
            }
        }
    }
    nodes.extend(fetched);
    f(&Fetched { size, nodes }).map_err(crypto_err)
}

fn crypto_err(e: crypto::Error) -> Error {
    match e.kind() {
        crypto::ErrorKind::InvalidArgument => err!(InvalidArgument, "{e}"),
        _ => err!(Internal, "{e}"),
    }
}

/// The head at the log's current size, signed once per size and kept.
pub async fn current_head(st: &AppState) -> Result<SignedTreeHead, Error> {
    let size = st.db.log_size().await?;
    if let Some(b) = st.db.log_head(size).await? {
        return SignedTreeHead::parse(&b).map_err(|e| err!(Internal, "a kept tree head: {e}"));
    }
    let root = with_nodes(st, size as u64, |t| tlog::root_at(t, size as u64)).await?;
    let head =
        SignedTreeHead::sign(&st.settings.log_key.0, TreeHead { size: size as u64, root, timestamp_ms: st.now_ms() });
    let kept = st.db.keep_log_head(size, &head.encode(), st.now_ms()).await?;
    SignedTreeHead::parse(&kept).map_err(|e| err!(Internal, "a kept tree head: {e}"))
}

/// The head of the stored tree's first `size` entries.
pub async fn root_at(st: &AppState, size: u64) -> Result<Hash, Error> {
    check_size(st, size).await?;
    with_nodes(st, size, |t| tlog::root_at(t, size)).await
}

/// The audit path of entry `index` in the tree of `size` entries.
pub async fn inclusion(st: &AppState, index: u64, size: u64) -> Result<Vec<Hash>, Error> {
    check_size(st, size).await?;
    with_nodes(st, size, |t| tlog::inclusion_proof_at(t, index, size)).await
}

/// The proof that the tree of `to` entries extends the tree of `from`.
pub async fn consistency(st: &AppState, from: u64, to: u64) -> Result<Vec<Hash>, Error> {
    check_size(st, to).await?;
    with_nodes(st, to, |t| tlog::consistency_proof_at(t, from, to)).await
}

async fn check_size(st: &AppState, size: u64) -> Result<(), Error> {
    use std::sync::atomic::Ordering::Relaxed;
    if size <= st.log_nodes.size_seen.load(Relaxed) {
        return Ok(());
    }
    let have = st.db.log_size().await? as u64;
    st.log_nodes.size_seen.fetch_max(have, Relaxed);
    if size > have {
        base::bail!(InvalidArgument, "size: the log has {have} entries, not {size}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_name_their_kind() {
        let r = Record::new(
            Entry::GrantMade { request_id: "r".into(), agency_id: "a".into(), clips: 2, duration_ms: 9 },
            5,
        );
        let row = r.to_row();
        assert_eq!(row.kind, "grant_made");
        assert_eq!(
            row.body,
            r#"{"v":1,"time_ms":5,"kind":"grant_made","request_id":"r","agency_id":"a","clips":2,"duration_ms":9}"#
        );
        assert_eq!(Record::parse(&row.body).unwrap(), r);
        assert!(Record::parse(&row.body.replace("\"v\":1", "\"v\":2")).is_err());
        assert!(Record::parse(&row.body.replace("clips", "clipz")).is_err());
    }
}
