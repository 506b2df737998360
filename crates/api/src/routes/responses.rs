//! Answering footage requests, and what an agency then reads (design/agencies.md).
//!
//! The owner's device picks clips from the request's window, redacted by the agent unless
//! the owner turns that off, and makes a grant for each: the clip's content key wrapped for
//! the agency's logged encryption key, signed by the owner. The server checks each grant
//! against the clip it names, the owner and the agency's logged key, stores it, and logs
//! the response as counts (clips, total duration), never who. An agency reads a clip only
//! through a grant made to it; every download and export is recorded as its chain of
//! custody, which goes into the evidence export.

use axum::extract::State;
use base::err;
use crypto::grant::Grant;
use crypto::keys::{PublicKeys, hex};
use db::server::{Agency, AgencyAccess, FootageGrant, FootageRequest, FootageResponse};

use crate::auth::{Actor, Permission};
use crate::error::ApiResult;
use crate::extract::{Json, Path};
use crate::log::{Entry, Record};
use crate::requests::expire_due;
use crate::requests::request_json;
use crate::secrets::{hex_decode, random_hex};
use crate::state::AppState;
use crate::types::*;
use crate::types::{check_id, check_text};

/// Clips in one response.
pub const CLIPS_MAX: usize = 20;

/// What a grant for a request must give as its purpose: it binds the grant to the request.
pub fn grant_purpose(request_id: &str) -> String {
    format!("footage request {request_id}")
}

async fn own_request(st: &AppState, actor: &Actor, rid: &str) -> ApiResult<(Agency, FootageRequest)> {
    let agency = actor.verified_agency(st).await?;
    check_id("request_id", rid)?;
    let r = st.db.footage_request(rid).await?.filter(|r| r.agency_id == agency.id);
    let r = r.ok_or_else(|| err!(NotFound, "request_id: your agency has no request {rid}"))?;
    Ok((agency, r))
}

#[utoipa::path(post, path = "/api/households/{household_id}/footage-requests/{request_id}/responses",
    params(("household_id" = String, Path), ("request_id" = String, Path)), request_body = RespondJson,
    responses((status = 200, body = RespondedJson), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    tag = "agencies")]
pub async fn respond(
    State(st): State<AppState>,
    actor: Actor,
    Path((hid, rid)): Path<(String, String)>,
    Json(req): Json<RespondJson>,
) -> ApiResult<Json<RespondedJson>> {
    let m = actor.member(&st, &hid, Permission::RespondToRequests).await?;
    check_id("request_id", &rid)?;
    expire_due(&st).await?;
    let now = st.now_ms();
    let r = st
        .db
        .requests_for_household(&hid, now)
        .await?
        .into_iter()
        .find(|r| r.id == rid)
        .ok_or_else(|| err!(NotFound, "request_id: no open request {rid} for this household"))?;
    let agency = st.db.agency(&r.agency_id).await?.ok_or_else(|| err!(Internal, "a request's agency"))?;
    let agency_keys = agency
        .public_keys
        .as_deref()
        .and_then(|k| PublicKeys::parse(k).ok())
        .ok_or_else(|| err!(Internal, "a verified agency's logged keys"))?;
    let owner = actor.account()?;
    let owner_keys = owner
        .public_keys
        .as_deref()
        .and_then(|k| PublicKeys::parse(k).ok())
        .ok_or_else(|| err!(FailedPrecondition, "public_keys: your account has no keys"))?;
    if req.clips.is_empty() || req.clips.len() > CLIPS_MAX {
        bail!(InvalidArgument, "clips: expected 1 to {CLIPS_MAX} clips, got {}", req.clips.len());
    }
    let contact = req.contact.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if let Some(c) = contact {
        check_text("contact", c, 3, 200)?;
    }
    let want_key = agency_keys.encryption.key_id();
    let purpose = grant_purpose(&rid);
    let mut grants = Vec::new();
    let mut total_ms = 0i64;
    for (i, c) in req.clips.iter().enumerate() {
        let field = format!("clips[{i}]");
        check_id(&format!("{field}.object_id"), &c.object_id)?;
        if req.clips[..i].iter().any(|o| o.object_id == c.object_id) {
            bail!(InvalidArgument, "{field}.object_id: {} is listed twice", c.object_id);
        }
        let o = st.db.object(&c.object_id).await?.filter(|o| o.household_id == m.household_id);
        let o =
            o.ok_or_else(|| err!(InvalidArgument, "{field}.object_id: no clip {} of this household", c.object_id))?;
        if o.kind != "clip" {
            bail!(InvalidArgument, "{field}.object_id: {} is a {}, not a clip", c.object_id, o.kind);
        }
        if o.end_ms <= r.window_from_ms || o.start_ms >= r.window_until_ms {
            bail!(InvalidArgument, "{field}.object_id: the clip is outside the request's window");
        }
        let header = crate::objects::read_header(&st, &st.db.object_chunks(&o.id).await?).await?;
        let g_bytes = hex_decode(&format!("{field}.grant"), &c.grant, 4096)?;
        let g = Grant::parse(&g_bytes).map_err(|e| err!(InvalidArgument, "{field}.grant: {}", e.message()))?;
        if !g.is_for(&header) {
            bail!(InvalidArgument, "{field}.grant: it is for another object");
        }
        if g.granter != owner_keys.identity {
            bail!(InvalidArgument, "{field}.grant: it is not signed by your identity key");
        }
        if g.wrapped.key_id != want_key {
            bail!(InvalidArgument, "{field}.grant: it is not for the agency's logged key");
        }
        if g.purpose != purpose {
            bail!(InvalidArgument, "{field}.grant: its purpose must be {purpose:?}");
        }
        let duration_ms = o.end_ms.saturating_sub(o.start_ms);
        total_ms = total_ms.saturating_add(duration_ms);
        grants.push(FootageGrant {
            response_id: String::new(),
            object_id: o.id,
            agency_id: agency.id.clone(),
            grant_bytes: g_bytes,
            duration_ms,
        });
    }
    let resp = FootageResponse {
        id: random_hex(16),
        request_id: rid.clone(),
        household_id: hid.clone(),
        resident_no: 0,
        contact: contact.map(str::to_owned),
        created_ms: now,
        log_index: 0,
    };
    let entry = Record::new(
        Entry::GrantMade {
            request_id: rid.clone(),
            agency_id: agency.id.clone(),
            clips: grants.len() as i64,
            duration_ms: total_ms,
        },
        now,
    );
    let (log_index, resident) = st.db.insert_response(&resp, &grants, &entry.to_row()).await?;
    tracing::info!(request = %rid, log_index, clips = grants.len(), "footage request answered");
    Ok(Json(RespondedJson { resident, log_index }))
}

async fn responses_json(st: &AppState, rid: &str) -> ApiResult<Vec<ResponseJson>> {
    let mut out = Vec::new();
    for (r, grants) in st.db.responses_of_request(rid).await? {
        let mut clips = Vec::new();
        for g in grants {
            // A clip its household's retention deleted since is no longer there to read.
            let Some(o) = st.db.object(&g.object_id).await? else { continue };
            clips.push(GrantedClipJson {
                object_id: o.id,
                camera: o.camera,
                start_ms: o.start_ms,
                end_ms: o.end_ms,
                size_bytes: o.size_bytes,
                grant: hex(&g.grant_bytes),
            });
        }
        out.push(ResponseJson {
            resident: r.resident_no,
            contact: r.contact,
            created_ms: r.created_ms,
            log_index: r.log_index,
            clips,
        });
    }
    Ok(out)
}

#[utoipa::path(get, path = "/api/agency/requests/{request_id}/responses", params(("request_id" = String, Path)),
    responses((status = 200, body = Vec<ResponseJson>), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    tag = "agencies")]
pub async fn responses(
    State(st): State<AppState>,
    actor: Actor,
    Path(rid): Path<String>,
) -> ApiResult<Json<Vec<ResponseJson>>> {
    own_request(&st, &actor, &rid).await?;
    Ok(Json(responses_json(&st, &rid).await?))
}

async fn proved(st: &AppState, index: i64, size: u64) -> ApiResult<ProvedEntryJson> {
    let e = st.db.log_entries(index, index + 1).await?.pop().ok_or_else(|| err!(Internal, "log entry {index}"))?;
    let proof = crate::log::inclusion(st, index as u64, size).await?;
    Ok(ProvedEntryJson { index, body: e.body, proof: proof.iter().map(|h| hex(h)).collect() })
}

/// Records an evidence export in the request's chain of custody and returns what the
/// export holds besides the clips: the request, its answers, the custody record, and the
/// log entries of the agency's verification, the request and each answer, with inclusion
/// proofs in one signed head.
#[utoipa::path(post, path = "/api/agency/requests/{request_id}/exports", params(("request_id" = String, Path)),
    responses((status = 200, body = EvidenceJson), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    tag = "agencies")]
pub async fn export(
    State(st): State<AppState>,
    actor: Actor,
    Path(rid): Path<String>,
) -> ApiResult<Json<EvidenceJson>> {
    let (agency, r) = own_request(&st, &actor, &rid).await?;
    let account = actor.account()?;
    st.db
        .insert_agency_access(&AgencyAccess {
            id: random_hex(16),
            agency_id: agency.id.clone(),
            account_id: account.id.clone(),
            request_id: rid.clone(),
            object_id: None,
            action: "export".into(),
            created_ms: st.now_ms(),
        })
        .await?;
    let head = crate::log::current_head(&st).await?;
    let size = head.head.size;
    let responses = responses_json(&st, &rid).await?;
    let mut grant_entries = Vec::new();
    for resp in &responses {
        grant_entries.push(proved(&st, resp.log_index, size).await?);
    }
    let agency_index = agency.verified_log_index.ok_or_else(|| err!(Internal, "a verified agency's log entry"))?;
    let custody = st
        .db
        .agency_accesses(&rid)
        .await?
        .into_iter()
        .map(|a| CustodyJson {
            action: a.action,
            object_id: a.object_id,
            account_id: a.account_id,
            created_ms: a.created_ms,
        })
        .collect();
    Ok(Json(EvidenceJson {
        request_entry: proved(&st, r.log_index, size).await?,
        agency_entry: proved(&st, agency_index, size).await?,
        request: request_json(r, &agency.name)?,
        responses,
        custody,
        head: hex(&head.encode()),
        log_key: hex(&head.log_key.to_bytes()),
        grant_entries,
    }))
}
