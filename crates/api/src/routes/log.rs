//! The transparency log over HTTP: public, no account (design/transparency-log.md). Heads,
//! entries and both kinds of proof; whoever keeps the last head they saw can check
//! everything here without trusting the server.

use axum::extract::State;
use crypto::keys::hex;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiResult;
use crate::extract::{Json, Path, Query};
use crate::log::{self as tlog};
use crate::state::AppState;

/// Entries per page of `GET /api/log/entries`.
pub const ENTRIES_PAGE_MAX: i64 = 1000;

#[derive(Serialize, ToSchema)]
pub struct LogHeadJson {
    pub size: u64,
    /// The tree's head hash, hex.
    pub root: String,
    pub timestamp_ms: i64,
    /// The log's Ed25519 key, hex, and its fingerprint.
    pub log_key: String,
    pub fingerprint: String,
    /// The signed head (`"PLTH"` format), hex: what a verifier keeps.
    pub signed: String,
}

impl From<&crypto::tlog::SignedTreeHead> for LogHeadJson {
    fn from(h: &crypto::tlog::SignedTreeHead) -> LogHeadJson {
        LogHeadJson {
            size: h.head.size,
            root: hex(&h.head.root),
            timestamp_ms: h.head.timestamp_ms,
            log_key: hex(&h.log_key.to_bytes()),
            fingerprint: h.log_key.fingerprint(),
            signed: hex(&h.encode()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LogEntryJson {
    pub index: i64,
    pub kind: String,
    pub created_ms: i64,
    /// The entry's JSON text: its UTF-8 bytes are the leaf.
    pub body: String,
}

#[derive(Serialize, ToSchema)]
pub struct LogEntriesJson {
    pub entries: Vec<LogEntryJson>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EntriesParams {
    /// The first index.
    pub start: i64,
    /// One past the last index; at most `start + 1000`, and at most the log's size.
    pub end: i64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InclusionParams {
    pub index: u64,
    /// The size of the tree the proof is for (a head's size).
    pub size: u64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyParams {
    pub from: u64,
    pub to: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ProofJson {
    /// The proof's hashes, hex, in the order RFC 9162 gives them.
    pub hashes: Vec<String>,
}

/// The latest signed tree head.
#[utoipa::path(get, path = "/api/log/head", responses((status = 200, body = LogHeadJson)), tag = "log")]
pub async fn head(State(st): State<AppState>) -> ApiResult<Json<LogHeadJson>> {
    let h = tlog::current_head(&st).await?;
    Ok(Json(LogHeadJson::from(&h)))
}

/// The head the server signed at `size`, if it signed one (for comparing what two
/// verifiers were shown).
#[utoipa::path(get, path = "/api/log/heads/{size}", params(("size" = u64, Path)),
    responses((status = 200, body = LogHeadJson), (status = 404, body = crate::error::ErrorBody)), tag = "log")]
pub async fn head_at(State(st): State<AppState>, Path(size): Path<u64>) -> ApiResult<Json<LogHeadJson>> {
    let Some(b) = st.db.log_head(i64::try_from(size).unwrap_or(i64::MAX)).await? else {
        bail!(NotFound, "size: no head was signed at {size} entries");
    };
    let h = crypto::tlog::SignedTreeHead::parse(&b).map_err(|e| base::err!(Internal, "a kept tree head: {e}"))?;
    Ok(Json(LogHeadJson::from(&h)))
}

/// Entries `start..end`, in order.
#[utoipa::path(get, path = "/api/log/entries", params(EntriesParams),
    responses((status = 200, body = LogEntriesJson), (status = 400, body = crate::error::ErrorBody)), tag = "log")]
pub async fn entries(State(st): State<AppState>, Query(q): Query<EntriesParams>) -> ApiResult<Json<LogEntriesJson>> {
    let size = st.db.log_size().await?;
    if q.start < 0 || q.start > size {
        bail!(InvalidArgument, "start: expected 0 to {size}, got {}", q.start);
    }
    if q.end < q.start || q.end > size || q.end - q.start > ENTRIES_PAGE_MAX {
        bail!(InvalidArgument, "end: expected {} to {}, got {}", q.start, size.min(q.start + ENTRIES_PAGE_MAX), q.end);
    }
    let rows = st.db.log_entries(q.start, q.end).await?;
    Ok(Json(LogEntriesJson {
        entries: rows
            .into_iter()
            .map(|e| LogEntryJson { index: e.index, kind: e.kind, created_ms: e.created_ms, body: e.body })
            .collect(),
    }))
}

/// The audit path of entry `index` in the tree of `size` entries.
#[utoipa::path(get, path = "/api/log/proof/inclusion", params(InclusionParams),
    responses((status = 200, body = ProofJson), (status = 400, body = crate::error::ErrorBody)), tag = "log")]
pub async fn inclusion(State(st): State<AppState>, Query(q): Query<InclusionParams>) -> ApiResult<Json<ProofJson>> {
    let p = tlog::inclusion(&st, q.index, q.size).await?;
    Ok(Json(ProofJson { hashes: p.iter().map(|h| hex(h)).collect() }))
}

/// The proof that the tree of `to` entries extends the tree of `from`.
#[utoipa::path(get, path = "/api/log/proof/consistency", params(ConsistencyParams),
    responses((status = 200, body = ProofJson), (status = 400, body = crate::error::ErrorBody)), tag = "log")]
pub async fn consistency(State(st): State<AppState>, Query(q): Query<ConsistencyParams>) -> ApiResult<Json<ProofJson>> {
    let p = tlog::consistency(&st, q.from, q.to).await?;
    Ok(Json(ProofJson { hashes: p.iter().map(|h| hex(h)).collect() }))
}
