//! Talk relay: a member's browser sends sound for a camera's speaker, sealed per packet for
//! the household's agents under a key the member signed (`crypto::talk`); the server
//! copies the packets to the agent that answers and can open none of them. It is the live
//! view relay run the other way (`relay`, `LiveSession` with `talk`): the browser posts
//! into the session's channel and the agent reads it. One talker per camera at a time.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base::err;

use crate::auth::{Actor, Permission};
use crate::error::ApiResult;
use crate::extract::{Json, Path};
use crate::relay::open_session;
use crate::secrets::hex_decode;
use crate::state::{AppState, LiveSession, TalkInfo};
use crate::types::*;

/// Largest body of sound packets one POST carries (a browser sends every 20 to 100 ms).
pub const TALK_BODY_BYTES_MAX: usize = 64 * 1024;

/// A member's signed talk request (hex) for household `hid`, made within 30 s of `now_ms`.
fn parse_talk_request(hid: &str, hex: &str, now_ms: i64) -> Result<(Vec<u8>, crypto::talk::TalkRequest), base::Error> {
    let bytes = hex_decode("request", hex, 4096)?;
    let q = crypto::talk::TalkRequest::parse(&bytes)
        .map_err(|e| err!(InvalidArgument, "request: not a signed talk request: {}", e.message()))?;
    crate::relay::check_signed(hid, &q.household_id, q.issued_ms, now_ms)?;
    Ok((bytes, q))
}

/// Starts talking through a camera: the household's agent is offered the session and reads
/// the packets the browser then posts to `POST /api/talk/{session_id}`.
#[utoipa::path(post, path = "/api/households/{household_id}/talk", params(("household_id" = String, Path)), request_body = TalkStartJson, responses((status = 200, body = LiveStarted), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)), tag = "live")]
pub async fn start_talk(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Json(req): Json<TalkStartJson>,
) -> ApiResult<Json<LiveStarted>> {
    let m = actor.member(&st, &hid, Permission::Talk).await?;
    let email = actor.account()?.email.clone();
    let now = st.now_ms();
    let (bytes, q) = parse_talk_request(&hid, &req.request, now)?;
    {
        let map = st.live_sessions.lock().expect("live lock");
        let busy = map.values().find(|s| s.household_id == hid && s.camera == q.camera && s.talking(now));
        if let Some(s) = busy {
            let who = s.talk.as_ref().map(|t| t.email.as_str()).unwrap_or_default();
            bail!(FailedPrecondition, "{who} is talking through {} now; one person talks at a time", q.camera);
        }
    }
    let mut session = LiveSession::new(&hid, &m.account_id, &q.camera, bytes, now, Offer::Talk);
    session.talk =
        Some(TalkInfo { email, state: TalkState { stage: TalkStage::Connecting, error: None }, active_ms: now });
    let session_id = open_session(&st, session)?;
    tracing::info!(session = %session_id, camera = %q.camera, "talk session opened");
    Ok(Json(LiveStarted { session_id }))
}

/// Who is talking through the household's cameras now, and the agents' keys a talk
/// session's key is wrapped for (any member who may talk needs them, not only those who
/// may list devices).
#[utoipa::path(get, path = "/api/households/{household_id}/talk", params(("household_id" = String, Path)), responses((status = 200, body = TalkJson), (status = 403, body = crate::error::ErrorBody)), tag = "live")]
pub async fn talkers(State(st): State<AppState>, actor: Actor, Path(hid): Path<String>) -> ApiResult<Json<TalkJson>> {
    actor.member(&st, &hid, Permission::View).await?;
    let agent_keys = st
        .db
        .devices(&hid)
        .await?
        .into_iter()
        .filter(|d| d.revoked_ms.is_none())
        .filter_map(|d| d.public_keys.map(|k| crypto::keys::hex(&k)))
        .collect();
    let now = st.now_ms();
    let map = st.live_sessions.lock().expect("live lock");
    let mut talking: Vec<TalkerJson> = map
        .values()
        .filter(|s| s.household_id == hid && s.talking(now))
        .filter_map(|s| {
            let t = s.talk.as_ref()?;
            Some(TalkerJson {
                camera: s.camera.clone(),
                account_id: s.account_id.clone(),
                email: t.email.clone(),
                since_ms: s.created_ms,
            })
        })
        .collect();
    talking.sort_by(|a, b| a.camera.cmp(&b.camera));
    Ok(Json(TalkJson { talking, agent_keys }))
}

/// Checks that `body` is a whole sequence of framed talk packets (u32 length, big-endian,
/// then the sealed packet), each of a size a packet can have; returns how many.
fn check_packets(body: &[u8]) -> Result<usize, base::Error> {
    let (mut at, mut n) = (0usize, 0usize);
    while at < body.len() {
        if body.len() - at < 4 {
            bail!(InvalidArgument, "body: packet {n} has a cut length prefix");
        }
        let len = u32::from_be_bytes(body[at..at + 4].try_into().expect("4 bytes")) as usize;
        if !(8 + 1 + 16..=crypto::talk::PACKET_BYTES_MAX).contains(&len) {
            bail!(
                InvalidArgument,
                "body: packet {n} is {len} bytes; a sealed talk packet is {} to {}",
                8 + 1 + 16,
                crypto::talk::PACKET_BYTES_MAX
            );
        }
        if body.len() - at - 4 < len {
            bail!(InvalidArgument, "body: packet {n} is cut short");
        }
        at += 4 + len;
        n += 1;
    }
    if n == 0 {
        bail!(InvalidArgument, "body: expected at least one framed talk packet");
    }
    Ok(n)
}

/// The browser's sound: framed sealed packets, passed on to the agent. Answers where the
/// session stands (the agent reached the speaker, or why not). Packets the agent cannot
/// take at once are dropped, not queued: late sound is worse than a gap.
#[utoipa::path(post, path = "/api/talk/{session_id}", params(("session_id" = String, Path)), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 200, body = TalkState), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), tag = "live")]
pub async fn send_talk(
    State(st): State<AppState>,
    actor: Actor,
    Path(sid): Path<String>,
    body: Bytes,
) -> ApiResult<Json<TalkState>> {
    let account = actor.account()?;
    check_id("session_id", &sid)?;
    let packets = check_packets(&body)?;
    let now = st.now_ms();
    let (tx, state) = {
        let mut map = st.live_sessions.lock().expect("live lock");
        let s = map
            .get_mut(&sid)
            .filter(|s| s.account_id == account.id && s.talk.is_some())
            .ok_or_else(|| err!(NotFound, "talk session {sid}: no such session of yours"))?;
        let talking = s.talking(now);
        let t = s.talk.as_mut().expect("a talk session");
        if !talking {
            let state = TalkState { stage: TalkStage::Ended, error: t.state.error.clone() };
            map.remove(&sid);
            return Ok(Json(state));
        }
        t.active_ms = now;
        (s.to_viewer.clone(), t.state.clone())
    };
    if let Some(tx) = tx {
        let mut dropped = 0;
        let mut at = 0;
        while at < body.len() {
            let len = u32::from_be_bytes(body[at..at + 4].try_into().expect("4 bytes")) as usize;
            if tx.try_send(body.slice(at..at + 4 + len)).is_err() {
                dropped += 1;
            }
            at += 4 + len;
        }
        if dropped > 0 {
            tracing::debug!(session = %sid, dropped, packets, "talk packets the agent could not take");
        }
    }
    Ok(Json(state))
}

/// Stops talking: the session ends and the agent's stream with it.
#[utoipa::path(delete, path = "/api/talk/{session_id}", params(("session_id" = String, Path)), responses((status = 200, body = TalkState), (status = 404, body = crate::error::ErrorBody)), tag = "live")]
pub async fn stop_talk(
    State(st): State<AppState>,
    actor: Actor,
    Path(sid): Path<String>,
) -> ApiResult<Json<TalkState>> {
    let account = actor.account()?;
    check_id("session_id", &sid)?;
    let mut map = st.live_sessions.lock().expect("live lock");
    match map.get(&sid) {
        Some(s) if s.account_id == account.id && s.talk.is_some() => {}
        _ => bail!(NotFound, "talk session {sid}: no such session of yours"),
    }
    let s = map.remove(&sid).expect("found above");
    let error = s.talk.and_then(|t| t.state.error);
    tracing::info!(session = %sid, "talk session stopped by its member");
    Ok(Json(TalkState { stage: TalkStage::Ended, error }))
}

/// The agent's end: the member's framed sealed packets as they arrive, until the member
/// stops or goes quiet.
#[utoipa::path(get, path = "/api/device/talk/{session_id}", params(("session_id" = String, Path)), responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 404, body = crate::error::ErrorBody)), tag = "live", operation_id = "device_talk_stream")]
pub async fn take_talk(State(st): State<AppState>, actor: Actor, Path(sid): Path<String>) -> ApiResult<Response> {
    let d = actor.device()?;
    check_id("session_id", &sid)?;
    let rx = {
        let mut map = st.live_sessions.lock().expect("live lock");
        let s = map
            .get_mut(&sid)
            .filter(|s| s.household_id == d.household_id && s.talk.is_some())
            .ok_or_else(|| err!(NotFound, "talk session {sid}: no such session in this household"))?;
        s.from_agent.take().ok_or_else(|| err!(FailedPrecondition, "talk session {sid}: another agent answered"))?
    };
    // The stream ends when the session is gone (stopped, or swept when idle) and with it
    // the sender; an idle session is also ended here, so a browser that vanished does not
    // hold the camera's speaker.
    let state = st.clone();
    let stream = futures::stream::unfold((rx, state, sid), |(mut rx, st, sid)| async move {
        loop {
            match tokio::time::timeout(std::time::Duration::from_millis(crate::relay::TALK_IDLE_MS as u64), rx.recv())
                .await
            {
                Ok(Some(b)) => return Some((Ok::<Bytes, std::convert::Infallible>(b), (rx, st, sid))),
                Ok(None) => return None,
                Err(_) => {
                    let now = st.now_ms();
                    let talking = st.live_sessions.lock().expect("live lock").get(&sid).is_some_and(|s| s.talking(now));
                    if !talking {
                        st.live_sessions.lock().expect("live lock").remove(&sid);
                        return None;
                    }
                }
            }
        }
    });
    let mut resp = Body::from_stream(stream).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The agent says where the session stands: talking (it reached the camera's speaker), or
/// ended and why.
#[utoipa::path(post, path = "/api/device/talk/{session_id}/state", params(("session_id" = String, Path)), request_body = TalkState, responses((status = 200, body = crate::types::Ok), (status = 404, body = crate::error::ErrorBody)), tag = "live")]
pub async fn talk_state(
    State(st): State<AppState>,
    actor: Actor,
    Path(sid): Path<String>,
    Json(state): Json<TalkState>,
) -> ApiResult<Json<crate::types::Ok>> {
    let d = actor.device()?;
    check_id("session_id", &sid)?;
    if let Some(e) = &state.error {
        check_text("error", e, 1, 500)?;
    }
    let mut map = st.live_sessions.lock().expect("live lock");
    let s = map
        .get_mut(&sid)
        .filter(|s| s.household_id == d.household_id)
        .and_then(|s| s.talk.as_mut())
        .ok_or_else(|| err!(NotFound, "talk session {sid}: no such session in this household"))?;
    if state.stage == TalkStage::Ended {
        tracing::info!(session = %sid, error = state.error.as_deref().unwrap_or(""), "talk session ended by the agent");
    }
    s.state = state;
    Ok(Json(crate::types::Ok { ok: true }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_bodies_are_whole_frames_of_packet_sizes() {
        let frame = |n: usize| [&(n as u32).to_be_bytes()[..], &vec![0u8; n]].concat();
        assert_eq!(check_packets(&[frame(40), frame(100)].concat()).unwrap(), 2);
        assert!(check_packets(&[]).is_err(), "empty");
        assert!(check_packets(&frame(10)).is_err(), "too short to be sealed");
        assert!(check_packets(&frame(crypto::talk::PACKET_BYTES_MAX + 1)).is_err(), "too long");
        assert!(check_packets(&frame(40)[..30]).is_err(), "cut");
        assert!(check_packets(&[frame(40), vec![0, 0]].concat()).is_err(), "cut prefix");
    }
}
