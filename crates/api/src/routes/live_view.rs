//! Live view relay: a member's browser asks for a camera with a signed session key, the
//! household's agent (woken by its long poll) streams encrypted fMP4 segments to the
//! server, and the server copies them to that browser. It never holds a key that opens
//! them (design/web-app.md, "Live view"; `crypto::live`).

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base::err;
use futures::StreamExt;

use crate::auth::{Actor, Permission};
use crate::error::ApiResult;
use crate::extract::{Json, Path};
use crate::secrets::{hex_decode, random_hex};
use crate::state::{AppState, LiveSession};
use crate::types::*;

/// How long a request waits for its agent before it is dropped.
pub const OFFER_MS: i64 = 30_000;
/// Open or waiting sessions per household.
const SESSIONS_PER_HOUSEHOLD_MAX: usize = 8;
/// Segments buffered between the agent and a slow browser before the agent is held up.
pub const RELAY_DEPTH: usize = 64;

#[utoipa::path(post, path = "/api/households/{household_id}/live", params(("household_id" = String, Path)), request_body = LiveStartJson, responses((status = 200, body = LiveStarted), (status = 400, body = crate::error::ErrorBody)), tag = "live")]
pub async fn start_live(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Json(req): Json<LiveStartJson>,
) -> ApiResult<Json<LiveStarted>> {
    let m = actor.member(&st, &hid, Permission::View).await?;
    let now = st.now_ms();
    let (bytes, q) = parse_request(&hid, &req.request, now)?;
    let session_id = open_session(&st, LiveSession::new(&hid, &m.account_id, &q.camera, bytes, now, None))?;
    Ok(Json(LiveStarted { session_id }))
}

/// A member's signed request (hex) for household `hid`, made within 30 s of `now_ms`
/// (the agent checks the signature against its roster; the server checks the rest).
pub fn parse_request(hid: &str, hex: &str, now_ms: i64) -> Result<(Vec<u8>, crypto::live::LiveRequest), base::Error> {
    let bytes = hex_decode("request", hex, 512)?;
    let q = crypto::live::LiveRequest::parse(&bytes)
        .map_err(|e| err!(InvalidArgument, "request: not a signed live request: {}", e.message()))?;
    if crypto::keys::hex(&q.household_id) != hid {
        bail!(InvalidArgument, "request: names household {}, not {hid}", crypto::keys::hex(&q.household_id));
    }
    if (q.issued_ms - now_ms).abs() > crypto::live::REQUEST_MAX_AGE_MS / 2 {
        bail!(InvalidArgument, "request: issued_ms is more than 30 s from the server's clock");
    }
    Ok((bytes, q))
}

/// Stores a session for the household's agent to answer and wakes the agents; returns its id.
pub fn open_session(st: &AppState, mut session: LiveSession) -> Result<String, base::Error> {
    let now = session.created_ms;
    let session_id = random_hex(16);
    {
        let mut map = st.live_sessions.lock().expect("live lock");
        map.retain(|_, s| s.to_viewer.is_none() || now - s.created_ms < OFFER_MS);
        if map.values().filter(|s| s.household_id == session.household_id).count() >= SESSIONS_PER_HOUSEHOLD_MAX {
            bail!(ResourceExhausted, "live: {SESSIONS_PER_HOUSEHOLD_MAX} sessions are open; close one first");
        }
        session.seq = st.live_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        map.insert(session_id.clone(), session);
    }
    st.signal_agents();
    Ok(session_id)
}

#[utoipa::path(get, path = "/api/live/{session_id}", params(("session_id" = String, Path)), responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = crate::error::ErrorBody)), tag = "live")]
pub async fn watch_live(State(st): State<AppState>, actor: Actor, Path(sid): Path<String>) -> ApiResult<Response> {
    let account = actor.account()?;
    check_id("session_id", &sid)?;
    let rx = {
        let mut map = st.live_sessions.lock().expect("live lock");
        let s = map
            .get_mut(&sid)
            .filter(|s| s.account_id == account.id)
            .ok_or_else(|| err!(NotFound, "live session {sid}: no such session of yours"))?;
        s.from_agent.take().ok_or_else(|| err!(FailedPrecondition, "live session {sid}: already being watched"))?
    };
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<Bytes, std::convert::Infallible>(b), rx))
    });
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[utoipa::path(post, path = "/api/device/live/{session_id}", params(("session_id" = String, Path)), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 200, body = crate::types::Ok), (status = 404, body = crate::error::ErrorBody)), tag = "live")]
pub async fn feed_live(
    State(st): State<AppState>,
    actor: Actor,
    Path(sid): Path<String>,
    body: Body,
) -> ApiResult<Json<crate::types::Ok>> {
    let d = actor.device()?;
    check_id("session_id", &sid)?;
    let tx = {
        let mut map = st.live_sessions.lock().expect("live lock");
        let s = map
            .get_mut(&sid)
            .filter(|s| s.household_id == d.household_id)
            .ok_or_else(|| err!(NotFound, "live session {sid}: no such session in this household"))?;
        s.to_viewer.take().ok_or_else(|| err!(FailedPrecondition, "live session {sid}: another agent answered"))?
    };
    let mut data = body.into_data_stream();
    let mut relayed = 0u64;
    loop {
        // The browser may leave while the camera sends nothing (it stalled): end then too,
        // which ends the agent's request.
        let chunk = tokio::select! {
            c = data.next() => c,
            _ = tx.closed() => break,
        };
        let Some(Ok(chunk)) = chunk else { break };
        relayed += chunk.len() as u64;
        if tx.send(chunk).await.is_err() {
            break; // The browser left.
        }
    }
    st.live_sessions.lock().expect("live lock").remove(&sid);
    tracing::info!(session = %sid, relayed, "live session ended");
    Ok(Json(crate::types::Ok { ok: true }))
}

/// Live requests waiting for an agent of `household_id` with one of `cameras`, after `after`.
pub fn offers(st: &AppState, household_id: &str, cameras: &[String], after: u64) -> Vec<LiveOffer> {
    let now = st.now_ms();
    let map = st.live_sessions.lock().expect("live lock");
    let mut out: Vec<LiveOffer> = map
        .iter()
        .filter(|(_, s)| {
            s.household_id == household_id
                && s.to_viewer.is_some()
                && now - s.created_ms < OFFER_MS
                && s.seq > after
                && cameras.contains(&s.camera)
        })
        .map(|(id, s)| LiveOffer {
            session_id: id.clone(),
            seq: s.seq,
            request: crypto::keys::hex(&s.request),
            prepare: s.prepare.clone(),
        })
        .collect();
    out.sort_by_key(|o| o.seq);
    out
}
