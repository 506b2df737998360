//! The transparency log over HTTP: public, no account (design/transparency-log.md). Heads,
//! entries and both kinds of proof; whoever keeps the last head they saw can check
//! everything here without trusting the server.

use axum::extract::State;
use crypto::keys::hex;

use crate::error::ApiResult;
use crate::extract::{Json, Path, Query};
use crate::log::{self as tlog};
use crate::state::AppState;
use crate::types::*;

/// Entries per page of `GET /api/log/entries`.
pub const ENTRIES_PAGE_MAX: i64 = 1000;

fn head_json(h: &crypto::tlog::SignedTreeHead) -> LogHeadJson {
    LogHeadJson {
        size: h.head.size,
        root: hex(&h.head.root),
        timestamp_ms: h.head.timestamp_ms,
        log_key: hex(&h.log_key.to_bytes()),
        fingerprint: h.log_key.fingerprint(),
        signed: hex(&h.encode()),
    }
}

/// The latest signed tree head.
#[utoipa::path(get, path = "/api/log/head", responses((status = 200, body = LogHeadJson)), tag = "log")]
pub async fn head(State(st): State<AppState>) -> ApiResult<Json<LogHeadJson>> {
    let h = tlog::current_head(&st).await?;
    Ok(Json(head_json(&h)))
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
    Ok(Json(head_json(&h)))
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
