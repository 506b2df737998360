//! Web Push subscriptions: the server's VAPID key for browsers to subscribe with, and each
//! member's subscribed browsers per household (what `crate::push` sends to).

use axum::extract::State;
use db::server::PushSubscription;

use crate::auth::{Actor, Permission};
use crate::error::ApiResult;
use crate::extract::{Json, Path};
use crate::secrets::random_hex;
use crate::state::AppState;
use crate::types::*;

/// Cameras one subscription may name.
const CAMERAS_MAX: usize = 64;
/// Subscriptions one account may hold in one household (its browsers).
const PER_ACCOUNT_MAX: usize = 20;

fn json(s: PushSubscription) -> PushSubscriptionJson {
    PushSubscriptionJson { id: s.id, endpoint: s.endpoint, cameras: s.cameras, created_ms: s.created_ms }
}

/// The key browsers subscribe with (public: it identifies this server to push services).
#[utoipa::path(get, path = "/api/push/key", responses((status = 200, body = PushKey)), tag = "push")]
pub async fn push_key(State(st): State<AppState>) -> ApiResult<Json<PushKey>> {
    Ok(Json(PushKey { vapid_public_key: st.settings.vapid_key.public_b64() }))
}

/// This account's subscribed browsers for the household.
#[utoipa::path(get, path = "/api/households/{household_id}/push", params(("household_id" = String, Path)), responses((status = 200, body = Vec<PushSubscriptionJson>), (status = 403, body = crate::error::ErrorBody)), tag = "push")]
pub async fn push_subscriptions(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
) -> ApiResult<Json<Vec<PushSubscriptionJson>>> {
    let m = actor.member(&st, &hid, Permission::View).await?;
    Ok(Json(st.db.push_subscriptions(&hid, Some(&m.account_id)).await?.into_iter().map(json).collect()))
}

/// Subscribes this browser to the household's alerts (again: its keys and cameras are
/// replaced). Only members who may view footage; what each push names is only what the
/// server knows (`wire::PushMessage`).
#[utoipa::path(put, path = "/api/households/{household_id}/push", params(("household_id" = String, Path)), request_body = NewPushSubscription,
    responses((status = 200, body = PushSubscriptionJson), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)), tag = "push")]
pub async fn push_subscribe(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Json(req): Json<NewPushSubscription>,
) -> ApiResult<Json<PushSubscriptionJson>> {
    let m = actor.member(&st, &hid, Permission::View).await?;
    crate::webhook::check_outbound_url("endpoint", &req.endpoint, st.settings.webhook_allow_private)?;
    if !st.settings.webhook_allow_private && !req.endpoint.starts_with("https://") {
        bail!(InvalidArgument, "endpoint: expected an https URL (push services are reached over TLS)");
    }
    crate::push::SubscriptionKeys::parse(&req.p256dh, &req.auth)?;
    if req.cameras.len() > CAMERAS_MAX {
        bail!(InvalidArgument, "cameras: at most {CAMERAS_MAX}, got {}", req.cameras.len());
    }
    for (i, c) in req.cameras.iter().enumerate() {
        check_text_bytes(&format!("cameras[{i}]"), c, 1, crypto::object::CAMERA_BYTES_MAX)?;
    }
    let mine = st.db.push_subscriptions(&hid, Some(&m.account_id)).await?;
    if mine.len() >= PER_ACCOUNT_MAX && !mine.iter().any(|s| s.endpoint == req.endpoint) {
        bail!(
            FailedPrecondition,
            "endpoint: at most {PER_ACCOUNT_MAX} subscribed browsers per account; remove one first"
        );
    }
    let mut cameras = req.cameras;
    cameras.sort();
    cameras.dedup();
    let s = PushSubscription {
        id: random_hex(16),
        account_id: m.account_id,
        household_id: hid,
        endpoint: req.endpoint,
        p256dh: req.p256dh,
        auth: req.auth,
        cameras,
        created_ms: st.now_ms(),
    };
    Ok(Json(json(st.db.put_push_subscription(&s).await?)))
}

/// Unsubscribes one of this account's browsers.
#[utoipa::path(delete, path = "/api/households/{household_id}/push/{subscription_id}", params(("household_id" = String, Path), ("subscription_id" = String, Path)),
    responses((status = 200, body = crate::types::Ok), (status = 404, body = crate::error::ErrorBody)), tag = "push")]
pub async fn push_unsubscribe(
    State(st): State<AppState>,
    actor: Actor,
    Path((hid, id)): Path<(String, String)>,
) -> ApiResult<Json<crate::types::Ok>> {
    let m = actor.member(&st, &hid, Permission::View).await?;
    check_id("subscription_id", &id)?;
    let mine = st.db.push_subscriptions(&hid, Some(&m.account_id)).await?;
    if !mine.iter().any(|s| s.id == id) || !st.db.delete_push_subscription(&id, Some(&m.account_id)).await? {
        bail!(NotFound, "subscription_id: you have no subscription {id} in this household");
    }
    Ok(Json(crate::types::Ok { ok: true }))
}
