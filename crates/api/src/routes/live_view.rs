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
use crate::relay::{open_session, parse_request};
use crate::state::{AppState, LiveSession};
use crate::types::*;

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
    let offer = match (req.sub, req.audio) {
        (true, true) => {
            return Err(err!(InvalidArgument, "sub, audio: ask for a sub-stream or for sound, not both").into());
        }
        (true, false) => Offer::LiveSub,
        (false, true) => Offer::LiveAudio,
        (false, false) => Offer::Live,
    };
    let session_id = open_session(&st, LiveSession::new(&hid, &m.account_id, &q.camera, bytes, now, offer))?;
    Ok(Json(LiveStarted { session_id }))
}

/// The camera's picture now (the home screen's stills): one JPEG from the agent, sealed for
/// the browser's session key, read with `GET /api/live/{session_id}`.
#[utoipa::path(post, path = "/api/households/{household_id}/still", params(("household_id" = String, Path)), request_body = StillStartJson, responses((status = 200, body = LiveStarted), (status = 400, body = crate::error::ErrorBody)), tag = "live")]
pub async fn start_still(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Json(req): Json<StillStartJson>,
) -> ApiResult<Json<LiveStarted>> {
    let m = actor.member(&st, &hid, Permission::View).await?;
    let now = st.now_ms();
    let (bytes, q) = parse_request(&hid, &req.request, now)?;
    let session_id = open_session(&st, LiveSession::new(&hid, &m.account_id, &q.camera, bytes, now, Offer::Still))?;
    Ok(Json(LiveStarted { session_id }))
}

/// The day view: a camera's recorded runs over a stretch and, optionally, footage from a
/// moment, from the agent (which answers only inside the signer's footage window, sealed
/// for the browser; `agent::history`). Read with `GET /api/live/{session_id}`.
#[utoipa::path(post, path = "/api/households/{household_id}/history", params(("household_id" = String, Path)), request_body = HistoryStartJson, responses((status = 200, body = LiveStarted), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)), tag = "live")]
pub async fn start_history(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Json(req): Json<HistoryStartJson>,
) -> ApiResult<Json<LiveStarted>> {
    let m = actor.member(&st, &hid, Permission::View).await?;
    req.history.check()?;
    // The agent checks the window too (the roster's); this refuses early what it would.
    if let Some(p) = req.history.play_ms
        && !crate::auth::in_window(&m, p)
    {
        return Err(err!(PermissionDenied, "history.play_ms: outside the footage window your role may see").into());
    }
    let now = st.now_ms();
    let (bytes, q) = parse_request(&hid, &req.request, now)?;
    let offer = Offer::History(req.history);
    let session_id = open_session(&st, LiveSession::new(&hid, &m.account_id, &q.camera, bytes, now, offer))?;
    Ok(Json(LiveStarted { session_id }))
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
        let rx =
            s.from_agent.take().ok_or_else(|| err!(FailedPrecondition, "live session {sid}: already being watched"))?;
        // The agent answered in full before this browser came: the answer is in `rx`.
        if s.agent_done {
            map.remove(&sid);
        }
        rx
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

#[utoipa::path(post, path = "/api/device/live/{session_id}", params(("session_id" = String, Path)), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 200, body = crate::types::Ok), (status = 404, body = crate::error::ErrorBody)), tag = "live", operation_id = "device_live_stream")]
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
    {
        let mut map = st.live_sessions.lock().expect("live lock");
        // A browser that has not come for the answer yet still finds it (until the session
        // expires unclaimed); otherwise the session is over.
        match map.get_mut(&sid) {
            Some(s) if s.from_agent.is_some() => s.agent_done = true,
            _ => {
                map.remove(&sid);
            }
        }
    }
    tracing::info!(session = %sid, relayed, "live session ended");
    Ok(Json(crate::types::Ok { ok: true }))
}
