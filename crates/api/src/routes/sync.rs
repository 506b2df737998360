//! What agents upload (chunks, objects, events) and what members read back (the timeline,
//! objects, live events). The server checks each object's signed header against the
//! uploading device's key, and takes camera, kind and times from that header, never from
//! the request: a device cannot file footage under another device's name.

use std::convert::Infallible;
use std::time::Duration;

use crate::extract::{Json, Path, Query};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base::err;
use db::server::{Event, EventWrite, Object, TimelineQuery};
use futures::StreamExt;

use crate::auth::{Actor, Permission, in_window, window};
use crate::error::ApiResult;
use crate::objects::{mark_range, read_header_bytes, requested_range};
use crate::relay::broadcast_stream;
use crate::secrets::random_hex;
use crate::state::{AppState, Live, Metrics};
use crate::types::*;

const CHUNKS_PER_REQUEST_MAX: usize = 4096;

fn check_chunk_list(field: &str, chunks: &[String]) -> Result<(), base::Error> {
    if chunks.is_empty() || chunks.len() > CHUNKS_PER_REQUEST_MAX {
        bail!(InvalidArgument, "{field}: expected 1 to {CHUNKS_PER_REQUEST_MAX} hashes, got {}", chunks.len());
    }
    for (i, h) in chunks.iter().enumerate() {
        blob::check_hash(&format!("{field}[{i}]"), h)?;
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/device", responses((status = 200, body = DeviceSelf)), tag = "sync")]
pub async fn device_self(State(st): State<AppState>, actor: Actor) -> ApiResult<Json<DeviceSelf>> {
    let d = actor.device()?;
    let h = st.db.household(&d.household_id).await?.ok_or_else(|| err!(NotFound, "household"))?;
    let owner = st.db.account_by_id(&h.owner_id).await?;
    Ok(Json(DeviceSelf {
        device_id: d.id.clone(),
        household_id: d.household_id.clone(),
        owner_public_keys: owner.and_then(|o| o.public_keys).map(|k| crypto::keys::hex(&k)),
    }))
}

#[utoipa::path(get, path = "/api/device/roster", responses((status = 200, body = StoredRoster), (status = 404, body = crate::error::ErrorBody)), tag = "sync")]
pub async fn device_roster(State(st): State<AppState>, actor: Actor) -> ApiResult<Json<StoredRoster>> {
    let d = actor.device()?;
    let (serial, bytes) =
        st.db.roster(&d.household_id).await?.ok_or_else(|| err!(NotFound, "roster: the owner has not signed one"))?;
    Ok(Json(StoredRoster { serial, roster: crypto::keys::hex(&bytes) }))
}

#[utoipa::path(get, path = "/api/device/settings", responses((status = 200, body = StoredSettings), (status = 404, body = crate::error::ErrorBody)), tag = "sync")]
pub async fn device_settings(State(st): State<AppState>, actor: Actor) -> ApiResult<Json<StoredSettings>> {
    let d = actor.device()?;
    let (serial, bytes) =
        st.db.settings(&d.household_id).await?.ok_or_else(|| err!(NotFound, "settings: the owner has sealed none"))?;
    Ok(Json(StoredSettings { serial, settings: crypto::keys::hex(&bytes) }))
}

#[utoipa::path(put, path = "/api/device/keys", request_body = DeviceKeysJson, responses((status = 200, body = crate::types::Ok), (status = 400, body = crate::error::ErrorBody)), tag = "sync")]
pub async fn device_keys(
    State(st): State<AppState>,
    actor: Actor,
    Json(req): Json<DeviceKeysJson>,
) -> ApiResult<Json<crate::types::Ok>> {
    let d = actor.device()?;
    let bytes = crate::secrets::hex_decode("public_keys", &req.public_keys, 1024)?;
    let keys = crypto::keys::PublicKeys::parse(&bytes)
        .map_err(|e| err!(InvalidArgument, "public_keys: not a signed public key bundle: {}", e.message()))?;
    if keys.identity.to_bytes().as_slice() != d.identity.as_slice() {
        bail!(InvalidArgument, "public_keys: the bundle's identity is not this device's");
    }
    st.db.set_device_keys(&d.id, &bytes).await?;
    Ok(Json(crate::types::Ok { ok: true }))
}

/// How long `GET /api/device/wait` holds a request when nothing changes.
pub const WAIT_MS: u64 = 25_000;

/// Long poll: answers at once when the household's roster or settings serial differs from
/// the one the agent holds, otherwise when one changes, or after `wait_ms` (at most
/// [`WAIT_MS`]).
#[utoipa::path(get, path = "/api/device/wait", params(WaitParams), responses((status = 200, body = WaitReply)), tag = "sync")]
pub async fn device_wait(
    State(st): State<AppState>,
    actor: Actor,
    Query(q): Query<WaitParams>,
) -> ApiResult<Json<WaitReply>> {
    let d = actor.device()?.clone();
    let wait = q.wait_ms.unwrap_or(WAIT_MS);
    if wait > WAIT_MS {
        bail!(InvalidArgument, "wait_ms: expected 0..={WAIT_MS}, got {wait}");
    }
    let mut rx = st.agent_signal.subscribe();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(wait);
    // Live requests go to the agent whose last status report lists the camera.
    let cameras: Vec<String> = st
        .camera_status
        .lock()
        .expect("status lock")
        .get(&d.id)
        .map(|r| r.cameras.iter().map(|c| c.camera.clone()).collect())
        .unwrap_or_default();
    loop {
        rx.borrow_and_update();
        let roster = st.db.roster(&d.household_id).await?.map(|r| r.0);
        let settings = st.db.settings(&d.household_id).await?.map(|s| s.0);
        let live = crate::relay::offers(&st, &d.household_id, &cameras, q.live_after.unwrap_or(0));
        let live_epoch = st.live_epoch.clone();
        if roster != q.roster || settings != q.settings || !live.is_empty() {
            return Ok(Json(WaitReply { roster, settings, live, live_epoch }));
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => continue,
            _ => return Ok(Json(WaitReply { roster, settings, live, live_epoch })),
        }
    }
}

/// How often agents report their cameras' state; a report older than three of these
/// means the agent is offline.
pub const STATUS_EVERY_MS: i64 = 15_000;
const CAMERAS_PER_REPORT_MAX: usize = 64;

#[utoipa::path(put, path = "/api/device/status", request_body = DeviceStatus, responses((status = 200, body = crate::types::Ok), (status = 400, body = crate::error::ErrorBody)), tag = "sync")]
pub async fn device_status(
    State(st): State<AppState>,
    actor: Actor,
    Json(req): Json<DeviceStatus>,
) -> ApiResult<Json<crate::types::Ok>> {
    let d = actor.device()?;
    if req.cameras.len() > CAMERAS_PER_REPORT_MAX {
        bail!(InvalidArgument, "cameras: at most {CAMERAS_PER_REPORT_MAX}, got {}", req.cameras.len());
    }
    let now = st.now_ms();
    for (i, c) in req.cameras.iter().enumerate() {
        check_text_bytes(&format!("cameras[{i}].camera"), &c.camera, 1, crypto::object::CAMERA_BYTES_MAX)?;
        if c.since_ms < 0 || c.since_ms > now + 86_400_000 {
            bail!(InvalidArgument, "cameras[{i}].since_ms: expected a Unix time in ms, not after tomorrow");
        }
    }
    let report = crate::state::DeviceReport {
        household_id: d.household_id.clone(),
        reported_ms: now,
        cameras: req.cameras,
        settings_serial: req.settings_serial,
    };
    st.camera_status.lock().expect("status lock").insert(d.id.clone(), report);
    Ok(Json(crate::types::Ok { ok: true }))
}

#[utoipa::path(get, path = "/api/households/{household_id}/cameras", params(("household_id" = String, Path)), responses((status = 200, body = Vec<CameraStatusJson>)), tag = "timeline")]
pub async fn camera_status(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
) -> ApiResult<Json<Vec<CameraStatusJson>>> {
    actor.member(&st, &hid, Permission::View).await?;
    // Revoked agents' last words are not shown.
    let live: std::collections::HashSet<String> =
        st.db.devices(&hid).await?.into_iter().filter(|d| d.revoked_ms.is_none()).map(|d| d.id).collect();
    let now = st.now_ms();
    let map = st.camera_status.lock().expect("status lock");
    let mut out: Vec<CameraStatusJson> = map
        .iter()
        .filter(|(id, r)| r.household_id == hid && live.contains(*id))
        .flat_map(|(id, r)| {
            r.cameras.iter().map(move |c| CameraStatusJson {
                camera: c.camera.clone(),
                device_id: id.clone(),
                state: c.state,
                since_ms: c.since_ms,
                reported_ms: r.reported_ms,
                online: now - r.reported_ms <= 3 * STATUS_EVERY_MS,
                settings_serial: r.settings_serial,
                doorbell: c.doorbell,
                indoor: c.indoor,
                records_sound: c.records_sound,
                speaker: c.speaker,
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.camera, &a.device_id).cmp(&(&b.camera, &b.device_id)));
    Ok(Json(out))
}

#[utoipa::path(post, path = "/api/chunks/missing", request_body = ChunkList, responses((status = 200, body = ChunkList)), tag = "sync")]
pub async fn missing_chunks(
    State(st): State<AppState>,
    actor: Actor,
    Json(req): Json<ChunkList>,
) -> ApiResult<Json<ChunkList>> {
    let d = actor.device()?;
    check_chunk_list("chunks", &req.chunks)?;
    Ok(Json(ChunkList { chunks: st.db.missing_chunks(&d.household_id, &req.chunks).await? }))
}

#[utoipa::path(put, path = "/api/chunks/{hash}", params(("hash" = String, Path)), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 200, body = crate::types::Ok), (status = 400, body = crate::error::ErrorBody)), tag = "sync")]
pub async fn put_chunk(
    State(st): State<AppState>,
    actor: Actor,
    Path(hash): Path<String>,
    body: Bytes,
) -> ApiResult<Json<crate::types::Ok>> {
    let d = actor.device()?;
    blob::check_hash("hash", &hash)?;
    let n = body.len();
    // The blob first, then its row: a row never names a missing blob.
    st.blobs.store(&st.db, &hash, &d.household_id, body, st.now_ms()).await?;
    Metrics::add(&st.metrics.chunks_in, 1);
    Metrics::add(&st.metrics.chunk_bytes_in, n as u64);
    Ok(Json(crate::types::Ok { ok: true }))
}

#[utoipa::path(post, path = "/api/objects", request_body = NewObject, responses((status = 200, body = ObjectJson), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)), tag = "sync")]
pub async fn commit_object(
    State(st): State<AppState>,
    actor: Actor,
    Json(req): Json<NewObject>,
) -> ApiResult<Json<ObjectJson>> {
    let d = actor.device()?;
    check_chunk_list("chunks", &req.chunks)?;
    let (h, head, read) = read_header_bytes(&st, &req.chunks).await?;
    if h.device.to_bytes().as_slice() != d.identity.as_slice() {
        bail!(PermissionDenied, "object: signed by device key {}, not by this device's", h.device.fingerprint());
    }
    let size = h.len as u64 + crypto::stream::sealed_len(h.plaintext_len);
    check_body(&st, &req.chunks, read, &head, &h, size).await?;
    let o = Object {
        id: crypto::keys::hex(&h.object_id),
        household_id: d.household_id.clone(),
        device_id: d.id.clone(),
        camera: h.meta.camera.clone(),
        kind: h.meta.kind.as_str().to_owned(),
        start_ms: h.meta.start_ms,
        end_ms: h.meta.end_ms,
        size_bytes: size as i64,
        created_ms: st.now_ms(),
    };
    let created = st.db.insert_object(&o, &req.chunks).await?;
    if created {
        Metrics::add(&st.metrics.objects_in, 1);
    }
    Ok(Json(ObjectJson {
        id: o.id,
        camera: o.camera,
        kind: o.kind,
        start_ms: o.start_ms,
        end_ms: o.end_ms,
        size_bytes: o.size_bytes,
        created,
    }))
}

/// Checks that an object's chunks hold exactly its signed header and a body of the length
/// and SHA-256 the header states. The server holds every chunk by now; without this, an
/// object whose body a device (or a co-recipient re-uploading it) altered would be stored
/// and served, and fail only in each reader's hands. `head` is the bytes of the first
/// `read` chunks, already read for the header; the others are read one at a time.
async fn check_body(
    st: &AppState,
    chunks: &[String],
    read: usize,
    head: &[u8],
    h: &crypto::object::Header,
    size: u64,
) -> Result<(), base::Error> {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    if head.len() as u64 > size {
        bail!(InvalidArgument, "chunks: more than the {size} bytes the signed header gives the object");
    }
    digest.update(&head[h.len..]);
    let mut at = head.len() as u64;
    for (i, c) in chunks.iter().enumerate().skip(read) {
        let bytes =
            st.blobs.get_chunk(c).await.map_err(|e| err!(FailedPrecondition, "chunks[{i}]: chunk {c}: {}", e.msg()))?;
        let end = at + bytes.len() as u64;
        if end > size {
            bail!(InvalidArgument, "chunks: more than the {size} bytes the signed header gives the object");
        }
        let skip = (h.len as u64).saturating_sub(at).min(bytes.len() as u64) as usize;
        digest.update(&bytes[skip..]);
        at = end;
    }
    if at != size {
        bail!(InvalidArgument, "chunks: {at} bytes, not the {size} the signed header gives the object");
    }
    if <[u8; 32]>::from(digest.finalize()) != h.body_digest {
        bail!(InvalidArgument, "chunks: the body does not match the SHA-256 in its signed header (altered)");
    }
    Ok(())
}

async fn own_object(
    st: &AppState,
    d: &db::server::Device,
    field: &str,
    id: &str,
    kind: &str,
) -> Result<Object, base::Error> {
    check_id(field, id)?;
    let o = st
        .db
        .object(id)
        .await?
        .ok_or_else(|| err!(FailedPrecondition, "{field}: object {id} has not been committed"))?;
    if o.device_id != d.id {
        bail!(PermissionDenied, "{field}: object {id} belongs to another device");
    }
    if o.kind != kind {
        bail!(InvalidArgument, "{field}: object {id} is a {}, expected a {kind}", o.kind);
    }
    Ok(o)
}

#[utoipa::path(post, path = "/api/events", request_body = NewEvent, responses((status = 200, body = EventJson), (status = 409, body = crate::error::ErrorBody)), tag = "sync")]
pub async fn commit_event(
    State(st): State<AppState>,
    actor: Actor,
    Json(req): Json<NewEvent>,
) -> ApiResult<Json<EventJson>> {
    let d = actor.device()?;
    check_id("id", &req.id)?;
    let id = scoped_event_id(&d.id, &req.id);
    let meta = own_object(&st, d, "meta_object", &req.meta_object, "event").await?;
    let mut size = meta.size_bytes;
    for (field, id, kind) in
        [("snapshot_object", &req.snapshot_object, "snapshot"), ("clip_object", &req.clip_object, "clip")]
    {
        if let Some(id) = id {
            let o = own_object(&st, d, field, id, kind).await?;
            if o.camera != meta.camera {
                bail!(InvalidArgument, "{field}: camera {:?} differs from the event's {:?}", o.camera, meta.camera);
            }
            size += o.size_bytes;
        }
    }
    let in_progress = req.in_progress.unwrap_or(false);
    if in_progress && req.clip_object.is_some() {
        bail!(InvalidArgument, "clip_object: an event in progress has no clip yet; send it with the finished event");
    }
    let mut e = Event {
        id,
        household_id: d.household_id.clone(),
        device_id: d.id.clone(),
        camera: meta.camera,
        start_ms: meta.start_ms,
        end_ms: meta.end_ms,
        meta_object: meta.id,
        snapshot_object: req.snapshot_object,
        clip_object: req.clip_object,
        size_bytes: size,
        created_ms: st.now_ms(),
        in_progress,
    };
    // An event this device stored before ids were scoped keeps its id: a retry of it is
    // the same event. Another device's row under that id is not this device's concern.
    if let Some(old) = st.db.event(&req.id).await?
        && old.device_id == d.id
    {
        e.id = req.id;
    }
    // A start, then the finished event under the same id: the first to arrive is the one
    // alerted; what follows updates it (open apps' streams hear the update, nothing else).
    let (json, alert) = match st.db.write_event(&e, st.now_ms()).await? {
        EventWrite::Created => (event_json(e), true),
        EventWrite::Updated => (event_json(e), false),
        EventWrite::Unchanged(stored) => return Ok(Json(event_json(*stored))),
    };
    let notify = req.notify.unwrap_or(true);
    if alert {
        Metrics::add(&st.metrics.events_in, 1);
    }
    if notify {
        let _ = st.live.send(Live { household_id: d.household_id.clone(), event: json.clone() });
    }
    if alert && notify {
        // The event is stored; a webhook or push that cannot be queued does not undo that.
        if let Err(e) = webhook(&st, &d.household_id, &json).await {
            tracing::warn!(household = %d.household_id, "webhook: {e}");
        }
        if let Err(e) = crate::push::alert(&st, &d.household_id, &json).await {
            tracing::warn!(household = %d.household_id, "push: {e}");
        }
    }
    Ok(Json(json))
}

/// The stored id of event `id` of device `device_id`: both, hashed. The agent derives `id`
/// from its public identity key and a local counter, so anyone can compute a device's next
/// ids; scoping them to the device (whose id the server chose at random when it was paired)
/// means no other device can take one first and make the owner's event refused.
pub fn scoped_event_id(device_id: &str, id: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"porchlight/server-event-id/v1\0");
    h.update(device_id.as_bytes());
    h.update(b"\0");
    h.update(id.as_bytes());
    crypto::keys::hex(&h.finalize()[..16])
}

/// Queues the new event for the household's webhook (`crate::webhook`). The payload is
/// what the server already knows: no labels.
async fn webhook(st: &AppState, household_id: &str, e: &EventJson) -> Result<(), base::Error> {
    let Some(h) = st.db.household(household_id).await? else { return Ok(()) };
    let (Some(url), Some(secret)) = (h.webhook_url, h.webhook_secret) else { return Ok(()) };
    let event = wire::WebhookEvent { household_id: household_id.to_owned(), event: e.clone() };
    let body = serde_json::to_vec(&event).expect("events serialize");
    st.webhooks.enqueue(st, crate::webhook::Delivery { url, body, target: crate::webhook::Target::Webhook { secret } });
    Ok(())
}

#[utoipa::path(get, path = "/api/households/{household_id}/events", params(("household_id" = String, Path), TimelineParams), responses((status = 200, body = Vec<EventJson>)), tag = "timeline")]
pub async fn timeline(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Query(q): Query<TimelineParams>,
) -> ApiResult<Response> {
    let m = actor.member(&st, &hid, Permission::View).await?;
    if let Some(c) = &q.camera {
        check_text_bytes("camera", c, 1, crypto::object::CAMERA_BYTES_MAX)?;
    }
    let descending = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => bail!(InvalidArgument, "order: expected asc or desc, got {o:?}"),
    };
    let (vf, vu) = window(&m);
    let tq = TimelineQuery {
        camera: q.camera.as_deref(),
        from_ms: q.from_ms.unwrap_or(0),
        until_ms: q.until_ms.unwrap_or(i64::MAX),
        visible_from_ms: vf,
        visible_until_ms: vu,
        descending,
        limit: limit(q.limit)?,
    };
    // The database builds the JSON, or the timeline cache has it (see `Db::timeline_json`);
    // the tests compare it with the typed query's `EventJson`s.
    let json = st.db.timeline_json(&hid, &tq).await?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response())
}

#[utoipa::path(get, path = "/api/objects/{object_id}", params(("object_id" = String, Path), ("Range" = Option<String>, Header, description = "one byte range, to resume a download")), responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 206, content_type = "application/octet-stream", body = Vec<u8>), (status = 403, body = crate::error::ErrorBody), (status = 416, body = crate::error::ErrorBody)), tag = "timeline")]
pub async fn get_object(
    State(st): State<AppState>,
    actor: Actor,
    Path(oid): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    actor.account()?;
    check_id("object_id", &oid)?;
    let o = st.db.object(&oid).await?.ok_or_else(|| err!(NotFound, "object_id: no object {oid}"))?;
    // An agency reads only clips granted to it; the download is recorded inside.
    if crate::requests::agency_download(&st, &actor, &o).await?.is_none() {
        let m = actor.member(&st, &o.household_id, Permission::View).await?;
        let start = st.db.event_of_object(&oid).await?.map(|e| e.start_ms).unwrap_or(o.start_ms);
        if !in_window(&m, start) {
            bail!(PermissionDenied, "object_id: {oid} is outside the footage window your role may see");
        }
        // Recorded before a byte leaves: an access that fails half-way still counts, and so
        // does each resumed part.
        st.db
            .insert_access(&random_hex(16), &o.household_id, (Some(&m.account_id), None), &oid, &o.kind, st.now_ms())
            .await?;
    }
    let total = o.size_bytes as u64;
    let range = match requested_range(&headers, total)? {
        Ok(r) => r,
        Err(unsatisfiable) => return Ok(unsatisfiable),
    };
    let (first, last) = range.unwrap_or((0, total.saturating_sub(1)));
    // The chunks that overlap [first, last], each with the part of it to send.
    let mut parts = Vec::new();
    let mut at = 0u64;
    for (h, size) in st.db.object_chunk_sizes(&oid).await? {
        let (a, b) = (at, at + size as u64);
        at = b;
        if b > first && a <= last {
            parts.push((h, (first.max(a) - a) as usize, (last + 1).min(b) - a));
        }
    }
    let len = if total == 0 { 0 } else { last + 1 - first };
    Metrics::add(&st.metrics.object_bytes_out, len);
    let blobs = st.blobs.clone();
    let stream = futures::stream::iter(parts).then(move |(h, a, b)| {
        let blobs = blobs.clone();
        async move {
            let bytes = blobs.get_chunk(&h).await.map_err(std::io::Error::other)?;
            if (b as usize) > bytes.len() {
                return Err(std::io::Error::other(format!("chunk {h} is shorter than its recorded size")));
            }
            Ok::<_, std::io::Error>(bytes.slice(a..b as usize))
        }
    });
    let mut resp = Body::from_stream(stream).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    mark_range(&mut resp, range, total);
    Ok(resp)
}

#[utoipa::path(delete, path = "/api/events/{event_id}", params(("event_id" = String, Path)), responses((status = 200, body = crate::types::Ok)), tag = "timeline")]
pub async fn delete_event(
    State(st): State<AppState>,
    actor: Actor,
    Path(eid): Path<String>,
) -> ApiResult<Json<crate::types::Ok>> {
    actor.account()?;
    check_id("event_id", &eid)?;
    let e = st.db.event(&eid).await?.ok_or_else(|| err!(NotFound, "event_id: no event {eid}"))?;
    actor.member(&st, &e.household_id, Permission::Delete).await?;
    st.db.delete_events(std::slice::from_ref(&eid), st.now_ms()).await?;
    blob::collect(&st.db, &st.blobs).await?;
    Ok(Json(crate::types::Ok { ok: true }))
}

#[utoipa::path(get, path = "/api/households/{household_id}/events/live", params(("household_id" = String, Path)), responses((status = 200, content_type = "text/event-stream", body = EventJson)), tag = "timeline")]
pub async fn live(State(st): State<AppState>, actor: Actor, Path(hid): Path<String>) -> ApiResult<impl IntoResponse> {
    let m = actor.member(&st, &hid, Permission::View).await?;
    let rx = st.live.subscribe();
    Metrics::add(&st.metrics.live_subscribers, 1);
    let guard = SubscriberGuard(st.clone());
    let stream = broadcast_stream(rx).filter_map(move |l| {
        let _keep = &guard;
        let ok = l.household_id == m.household_id && in_window(&m, l.event.start_ms);
        let out = ok.then(|| {
            Ok::<_, Infallible>(SseEvent::default().event("event").json_data(&l.event).expect("serializable"))
        });
        futures::future::ready(out)
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

struct SubscriberGuard(AppState);

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.metrics.live_subscribers.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}
