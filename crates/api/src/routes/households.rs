//! Households, their members and invitations, pairing agents, devices and the access log.

use crate::extract::{Json, Path, Query};
use axum::extract::State;
use base::err;
use db::server::{Device, Household, Invitation, Role};

use crate::auth::{Actor, Permission, format_token};
use crate::error::ApiResult;
use crate::secrets::{hex_decode, random_hex, secret_hash};
use crate::session::{ClientIp, security};
use crate::state::AppState;
use crate::types::*;

/// How long an agent has to use a pairing token.
pub const PAIRING_MS: i64 = 10 * 60_000;
const INVITATION_S_MAX: i64 = 14 * 86_400;
/// A guest's access lasts at most this long.
const GUEST_MS_MAX: i64 = 366 * 86_400_000;
/// How far from now a member's window may start or end.
const WINDOW_MS_SPAN_MAX: i64 = 100 * 366 * 86_400_000;

/// The household as a member sees it; the webhook and its signing secret only for those
/// who may change the settings.
async fn household_json(st: &AppState, h: Household, settings: bool) -> Result<HouseholdJson, base::Error> {
    let cameras = st.db.cameras(&h.id).await?;
    Ok(HouseholdJson {
        id: h.id,
        name: h.name,
        owner_id: h.owner_id,
        retention_days: h.retention_days,
        retention_bytes: h.retention_bytes,
        webhook_url: h.webhook_url.filter(|_| settings),
        webhook_secret: h.webhook_secret.filter(|_| settings),
        cameras,
    })
}

#[utoipa::path(post, path = "/api/households", request_body = NewHousehold, responses((status = 200, body = HouseholdJson)), tag = "households")]
pub async fn create(
    State(st): State<AppState>,
    actor: Actor,
    Json(req): Json<NewHousehold>,
) -> ApiResult<Json<HouseholdJson>> {
    let a = actor.account()?;
    check_text("name", &req.name, 1, 64)?;
    crate::actor::not_an_agency(&st, &a.id).await?;
    let h = Household {
        id: random_hex(16),
        name: req.name,
        owner_id: a.id.clone(),
        retention_days: st.settings.default_retention_days,
        retention_bytes: st.settings.default_retention_bytes,
        webhook_url: None,
        created_ms: st.now_ms(),
        webhook_secret: None,
    };
    st.db.insert_household(&h).await?;
    st.auth_cache.clear();
    Ok(Json(household_json(&st, h, true).await?))
}

#[utoipa::path(get, path = "/api/households/{household_id}", params(("household_id" = String, Path)), responses((status = 200, body = HouseholdJson), (status = 403, body = crate::error::ErrorBody)), tag = "households")]
pub async fn get(State(st): State<AppState>, actor: Actor, Path(hid): Path<String>) -> ApiResult<Json<HouseholdJson>> {
    let m = actor.member(&st, &hid, Permission::View).await?;
    let h = st.db.household(&hid).await?.ok_or_else(|| err!(NotFound, "household {hid}"))?;
    let settings = crate::auth::allows(m.role, Permission::Settings);
    Ok(Json(household_json(&st, h, settings).await?))
}

#[utoipa::path(patch, path = "/api/households/{household_id}", params(("household_id" = String, Path)), request_body = PatchHousehold, responses((status = 200, body = HouseholdJson)), tag = "households")]
pub async fn patch(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Json(req): Json<PatchHousehold>,
) -> ApiResult<Json<HouseholdJson>> {
    actor.member(&st, &hid, Permission::Settings).await?;
    let mut h = st.db.household(&hid).await?.ok_or_else(|| err!(NotFound, "household {hid}"))?;
    if let Some(n) = req.name {
        check_text("name", &n, 1, 64)?;
        h.name = n;
    }
    if let Some(d) = req.retention_days {
        if !(0..=3650).contains(&d) {
            bail!(InvalidArgument, "retention_days: expected 0 to 3650, got {d}");
        }
        h.retention_days = d;
    }
    if let Some(b) = req.retention_bytes {
        if b < 0 {
            bail!(InvalidArgument, "retention_bytes: expected 0 or more, got {b}");
        }
        h.retention_bytes = b;
    }
    if let Some(w) = req.webhook_url {
        if w.is_empty() {
            h.webhook_url = None;
        } else {
            crate::webhook::check_url(&w, st.settings.webhook_allow_private)?;
            h.webhook_url = Some(w);
        }
    }
    if h.webhook_url.is_some() && (h.webhook_secret.is_none() || req.rotate_webhook_secret == Some(true)) {
        h.webhook_secret = Some(random_hex(32));
    }
    st.db.update_household(&h).await?;
    Ok(Json(household_json(&st, h, true).await?))
}

#[utoipa::path(get, path = "/api/households/{household_id}/members", params(("household_id" = String, Path)), responses((status = 200, body = Vec<MemberJson>)), tag = "households")]
pub async fn members(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
) -> ApiResult<Json<Vec<MemberJson>>> {
    actor.member(&st, &hid, Permission::ViewMembers).await?;
    let rows = st.db.members(&hid).await?;
    Ok(Json(
        rows.into_iter()
            .map(|m| MemberJson {
                account_id: m.account_id,
                email: m.email,
                role: m.role.as_str().to_owned(),
                window_from_ms: m.window_from_ms,
                window_until_ms: m.window_until_ms,
                public_keys: m.public_keys.as_deref().map(crypto::keys::hex),
            })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/api/households/{household_id}/members/{account_id}", params(("household_id" = String, Path), ("account_id" = String, Path)), responses((status = 200, body = crate::types::Ok)), tag = "households")]
pub async fn remove_member(
    State(st): State<AppState>,
    actor: Actor,
    Path((hid, aid)): Path<(String, String)>,
) -> ApiResult<Json<crate::types::Ok>> {
    actor.member(&st, &hid, Permission::ManageMembers).await?;
    check_id("account_id", &aid)?;
    if !st.db.delete_member(&hid, &aid).await? {
        bail!(NotFound, "account_id: {aid} is not a member other than the owner");
    }
    st.auth_cache.clear();
    Ok(Json(crate::types::Ok { ok: true }))
}

#[utoipa::path(post, path = "/api/households/{household_id}/invitations", params(("household_id" = String, Path)), request_body = NewInvitation, responses((status = 200, body = InvitationReply)), tag = "households")]
pub async fn invite(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Json(req): Json<NewInvitation>,
) -> ApiResult<Json<InvitationReply>> {
    actor.member(&st, &hid, Permission::ManageMembers).await?;
    let role = Role::parse(&req.role)
        .filter(|r| *r != Role::Owner)
        .ok_or_else(|| err!(InvalidArgument, "role: expected full, standard, limited or guest, got {:?}", req.role))?;
    let now = st.now_ms();
    let expires_s = req.expires_in_s.unwrap_or(7 * 86_400);
    if !(60..=INVITATION_S_MAX).contains(&expires_s) {
        bail!(InvalidArgument, "expires_in_s: expected 60 to {INVITATION_S_MAX}, got {expires_s}");
    }
    let (from, until) = match role {
        // A guest sees nothing from before the invitation, and nothing after its end.
        Role::Guest => {
            let until =
                req.window_until_ms.ok_or_else(|| err!(InvalidArgument, "window_until_ms: required for a guest"))?;
            if req.window_from_ms.is_some() {
                bail!(InvalidArgument, "window_from_ms: a guest's window starts at the invitation");
            }
            if until <= now {
                bail!(InvalidArgument, "window_until_ms: must be in the future");
            }
            if until > now.saturating_add(GUEST_MS_MAX) {
                bail!(InvalidArgument, "window_until_ms: a guest's access lasts at most a year from now");
            }
            (Some(now), Some(until))
        }
        Role::Limited => (Some(req.window_from_ms.unwrap_or(now)), req.window_until_ms),
        _ => {
            if req.window_from_ms.is_some() || req.window_until_ms.is_some() {
                bail!(InvalidArgument, "window_from_ms: only limited members and guests have a window");
            }
            (None, None)
        }
    };
    if let (Some(f), Some(u)) = (from, until)
        && u <= f
    {
        bail!(InvalidArgument, "window_until_ms: must be after window_from_ms");
    }
    // Windows are times, not sentinels: within a century of now either way.
    for (field, t) in [("window_from_ms", from), ("window_until_ms", until)] {
        if let Some(t) = t
            && t.saturating_sub(now).saturating_abs() > WINDOW_MS_SPAN_MAX
        {
            bail!(InvalidArgument, "{field}: expected a time within 100 years of now, in ms since 1970");
        }
    }
    let token = random_hex(16);
    let expires_ms = now + expires_s * 1000;
    let inv = Invitation { household_id: hid, role, window_from_ms: from, window_until_ms: until, expires_ms };
    st.db.insert_invitation(&secret_hash(&token), &inv, now).await?;
    Ok(Json(InvitationReply { token, expires_ms }))
}

#[utoipa::path(post, path = "/api/invitations/accept", request_body = AcceptInvitation, responses((status = 200, body = MemberJson), (status = 404, body = crate::error::ErrorBody)), tag = "households")]
pub async fn accept(
    State(st): State<AppState>,
    actor: Actor,
    Json(req): Json<AcceptInvitation>,
) -> ApiResult<Json<MemberJson>> {
    let a = actor.account()?;
    check_id("token", &req.token)?;
    crate::actor::not_an_agency(&st, &a.id).await?;
    let m = st.db.accept_invitation(&secret_hash(&req.token), &a.id, st.now_ms()).await?;
    st.auth_cache.clear();
    Ok(Json(MemberJson {
        account_id: m.account_id,
        email: m.email,
        role: m.role.as_str().to_owned(),
        window_from_ms: m.window_from_ms,
        window_until_ms: m.window_until_ms,
        public_keys: m.public_keys.as_deref().map(crypto::keys::hex),
    }))
}

#[utoipa::path(post, path = "/api/households/{household_id}/pairings", params(("household_id" = String, Path)), responses((status = 200, body = PairingReply), (status = 409, body = crate::error::ErrorBody)), tag = "pairing")]
pub async fn create_pairing(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    actor: Actor,
    Path(hid): Path<String>,
) -> ApiResult<Json<PairingReply>> {
    let m = actor.member(&st, &hid, Permission::Pair).await?;
    let owner = st.db.account_by_id(&m.account_id).await?.ok_or_else(|| err!(Internal, "owner vanished"))?;
    if owner.public_keys.is_none() {
        bail!(FailedPrecondition, "pairing: upload your public keys (PUT /api/me/keys) before pairing an agent");
    }
    let token = random_hex(16);
    let now = st.now_ms();
    st.db.insert_pairing(&secret_hash(&token), &hid, now, now + PAIRING_MS).await?;
    security(&st, Some(&owner.id), "pairing_offered", ip, &hid).await?;
    Ok(Json(PairingReply { token, household_id: hid, expires_ms: now + PAIRING_MS }))
}

async fn pairing_household(st: &AppState, token: &str) -> Result<Household, base::Error> {
    check_id("token", token)?;
    let hid = st
        .db
        .pairing(&secret_hash(token), st.now_ms())
        .await?
        .ok_or_else(|| err!(NotFound, "token: no such pairing, or it was used or has expired"))?;
    st.db.household(&hid).await?.ok_or_else(|| err!(NotFound, "household {hid}"))
}

#[utoipa::path(get, path = "/api/pair/{token}", params(("token" = String, Path)), responses((status = 200, body = PairingOffer), (status = 404, body = crate::error::ErrorBody)), tag = "pairing")]
pub async fn pairing_offer(State(st): State<AppState>, Path(token): Path<String>) -> ApiResult<Json<PairingOffer>> {
    let h = pairing_household(&st, &token).await?;
    let owner = st.db.account_by_id(&h.owner_id).await?.ok_or_else(|| err!(Internal, "owner vanished"))?;
    let pk = owner.public_keys.ok_or_else(|| err!(FailedPrecondition, "pairing: the owner has no public keys"))?;
    Ok(Json(PairingOffer { household_id: h.id, owner_public_keys: crypto::keys::hex(&pk) }))
}

#[utoipa::path(post, path = "/api/pair/{token}", params(("token" = String, Path)), request_body = CompletePairing, responses((status = 200, body = PairedReply), (status = 404, body = crate::error::ErrorBody)), tag = "pairing")]
pub async fn complete_pairing(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    Json(req): Json<CompletePairing>,
) -> ApiResult<Json<PairedReply>> {
    check_text("name", &req.name, 1, 64)?;
    let identity = hex_decode("identity", &req.identity, 32)?;
    let arr: [u8; 32] = identity
        .clone()
        .try_into()
        .map_err(|_| err!(InvalidArgument, "identity: expected 32 bytes (64 hex digits)"))?;
    crypto::keys::IdentityPublic::from_bytes(&arr).map_err(|e| err!(InvalidArgument, "identity: {}", e.message()))?;
    let h = pairing_household(&st, &token).await?;
    let now = st.now_ms();
    let d = Device {
        id: random_hex(16),
        household_id: h.id.clone(),
        name: req.name,
        identity,
        paired_ms: now,
        revoked_ms: None,
        public_keys: None,
    };
    let (tid, secret) = (random_hex(16), random_hex(32));
    st.db.complete_pairing(&secret_hash(&token), &d, &tid, &secret_hash(&secret), now).await?;
    security(&st, Some(&h.owner_id), "device_paired", ip, &format!("{} {}", d.id, d.name)).await?;
    Ok(Json(PairedReply { device_id: d.id, token: format_token(&tid, &secret) }))
}

fn device_json(d: Device) -> DeviceJson {
    DeviceJson {
        id: d.id,
        name: d.name,
        identity: crypto::keys::hex(&d.identity),
        paired_ms: d.paired_ms,
        revoked_ms: d.revoked_ms,
        public_keys: d.public_keys.map(|k| crypto::keys::hex(&k)),
    }
}

#[utoipa::path(get, path = "/api/households/{household_id}/devices", params(("household_id" = String, Path)), responses((status = 200, body = Vec<DeviceJson>)), tag = "pairing")]
pub async fn devices(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
) -> ApiResult<Json<Vec<DeviceJson>>> {
    actor.member(&st, &hid, Permission::Settings).await?;
    Ok(Json(st.db.devices(&hid).await?.into_iter().map(device_json).collect()))
}

#[utoipa::path(delete, path = "/api/households/{household_id}/devices/{device_id}", params(("household_id" = String, Path), ("device_id" = String, Path)), responses((status = 200, body = crate::types::Ok)), tag = "pairing")]
pub async fn revoke_device(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    actor: Actor,
    Path((hid, did)): Path<(String, String)>,
) -> ApiResult<Json<crate::types::Ok>> {
    let m = actor.member(&st, &hid, Permission::Pair).await?;
    check_id("device_id", &did)?;
    if !st.db.revoke_device(&hid, &did, st.now_ms()).await? {
        bail!(NotFound, "device_id: no active device {did} in this household");
    }
    st.auth_cache.clear();
    security(&st, Some(&m.account_id), "device_revoked", ip, &did).await?;
    Ok(Json(crate::types::Ok { ok: true }))
}

#[utoipa::path(get, path = "/api/households/{household_id}/access-log", params(("household_id" = String, Path), LimitParams), responses((status = 200, body = Vec<AccessJson>)), tag = "households")]
pub async fn access_log(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
    Query(q): Query<LimitParams>,
) -> ApiResult<Json<Vec<AccessJson>>> {
    actor.member(&st, &hid, Permission::AccessLog).await?;
    let rows = st.db.access_log(&hid, limit(q.limit)?).await?;
    Ok(Json(
        rows.into_iter()
            .map(|a| AccessJson {
                account_id: a.account_id,
                email: a.email,
                device_id: a.device_id,
                object_id: a.object_id,
                kind: a.kind,
                at_ms: a.at_ms,
            })
            .collect(),
    ))
}

#[utoipa::path(put, path = "/api/households/{household_id}/cameras/{camera}/retention", params(("household_id" = String, Path), ("camera" = String, Path)), request_body = CameraRetention, responses((status = 200, body = Vec<CameraRetentionJson>)), tag = "households")]
pub async fn set_camera_retention(
    State(st): State<AppState>,
    actor: Actor,
    Path((hid, camera)): Path<(String, String)>,
    Json(req): Json<CameraRetention>,
) -> ApiResult<Json<Vec<CameraRetentionJson>>> {
    actor.member(&st, &hid, Permission::Settings).await?;
    check_text_bytes("camera", &camera, 1, crypto::object::CAMERA_BYTES_MAX)?;
    // A camera of the household: one with stored events, or one its agents report.
    let reported = st
        .camera_status
        .lock()
        .expect("status lock")
        .values()
        .any(|r| r.household_id == hid && r.cameras.iter().any(|c| c.camera == camera));
    if !reported && !st.db.cameras(&hid).await?.contains(&camera) {
        bail!(NotFound, "camera: this household has no camera {camera:?} (none of its events or agents names it)");
    }
    let limits = match (req.retention_days, req.retention_bytes) {
        (None, None) => None,
        (d, b) => {
            let d = d.unwrap_or(0);
            let b = b.unwrap_or(0);
            if !(0..=3650).contains(&d) {
                bail!(InvalidArgument, "retention_days: expected 0 to 3650, got {d}");
            }
            if b < 0 {
                bail!(InvalidArgument, "retention_bytes: expected 0 or more, got {b}");
            }
            Some((d, b))
        }
    };
    st.db.set_camera_retention(&hid, &camera, limits).await?;
    let all = st.db.camera_retentions(&hid).await?;
    Ok(Json(
        all.into_iter()
            .map(|(camera, retention_days, retention_bytes)| CameraRetentionJson {
                camera,
                retention_days,
                retention_bytes,
            })
            .collect(),
    ))
}

const ROSTER_BYTES_MAX: usize = 64 * 1024;

#[utoipa::path(put, path = "/api/households/{household_id}/roster", params(("household_id" = String, Path)), request_body = RosterJson, responses((status = 200, body = StoredRoster), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)), tag = "households")]
pub async fn put_roster(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    actor: Actor,
    Path(hid): Path<String>,
    Json(req): Json<RosterJson>,
) -> ApiResult<Json<StoredRoster>> {
    let m = actor.member(&st, &hid, Permission::ManageMembers).await?;
    let bytes = hex_decode("roster", &req.roster, ROSTER_BYTES_MAX)?;
    let r = crypto::trust::Roster::parse(&bytes)
        .map_err(|e| err!(InvalidArgument, "roster: not a signed roster: {}", e.message()))?;
    if crypto::keys::hex(&r.household_id) != hid {
        bail!(InvalidArgument, "roster: names household {}, not {hid}", crypto::keys::hex(&r.household_id));
    }
    check_signer("roster", &st, &m.account_id, &r.signer).await?;
    let serial =
        i64::try_from(r.serial).map_err(|_| err!(InvalidArgument, "roster: serial {} is over 2^63-1", r.serial))?;
    if !st.db.set_roster(&hid, serial, &bytes, st.now_ms()).await? {
        let cur = st.db.roster(&hid).await?.map(|c| c.0).unwrap_or(0);
        bail!(FailedPrecondition, "roster: serial {serial} is not newer than the stored serial {cur}");
    }
    // The agents' long polls answer now: a removed member stops getting new footage at
    // once, not at the next poll.
    st.signal_agents();
    security(
        &st,
        Some(&m.account_id),
        "roster_signed",
        ip,
        &format!("{hid} serial {serial}, {} members", r.members.len()),
    )
    .await?;
    Ok(Json(StoredRoster { serial, roster: req.roster }))
}

#[utoipa::path(get, path = "/api/households/{household_id}/roster", params(("household_id" = String, Path)), responses((status = 200, body = StoredRoster), (status = 404, body = crate::error::ErrorBody)), tag = "households")]
pub async fn get_roster(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
) -> ApiResult<Json<StoredRoster>> {
    actor.member(&st, &hid, Permission::ManageMembers).await?;
    let (serial, bytes) = st.db.roster(&hid).await?.ok_or_else(|| err!(NotFound, "roster: none signed yet"))?;
    Ok(Json(StoredRoster { serial, roster: crypto::keys::hex(&bytes) }))
}

/// Checks that a signed document's signer is the owner's identity key as uploaded to the
/// server (agents check it themselves too; this only refuses what they would refuse).
async fn check_signer(
    what: &str,
    st: &AppState,
    owner_id: &str,
    signer: &crypto::keys::IdentityPublic,
) -> ApiResult<()> {
    let owner = st.db.account_by_id(owner_id).await?.ok_or_else(|| err!(Internal, "owner vanished"))?;
    let pk = owner
        .public_keys
        .ok_or_else(|| err!(FailedPrecondition, "{what}: upload your public keys (PUT /api/me/keys) before signing"))?;
    let owner_keys = crypto::keys::PublicKeys::parse(&pk)
        .map_err(|e| err!(Internal, "the owner's stored keys do not parse: {}", e.message()))?;
    if *signer != owner_keys.identity {
        bail!(
            InvalidArgument,
            "{what}: signed by {}, not by the owner's key {}",
            signer.fingerprint(),
            owner_keys.identity.fingerprint()
        );
    }
    Ok(())
}

const SETTINGS_BYTES_MAX: usize = 64 * 129 + crypto::settings::BODY_BYTES_MAX + 256;

#[utoipa::path(put, path = "/api/households/{household_id}/settings", params(("household_id" = String, Path)), request_body = SettingsJson, responses((status = 200, body = StoredSettings), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)), tag = "households")]
pub async fn put_settings(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    actor: Actor,
    Path(hid): Path<String>,
    Json(req): Json<SettingsJson>,
) -> ApiResult<Json<StoredSettings>> {
    let m = actor.member(&st, &hid, Permission::SignSettings).await?;
    let bytes = hex_decode("settings", &req.settings, SETTINGS_BYTES_MAX)?;
    let s = crypto::settings::Settings::parse(&bytes)
        .map_err(|e| err!(InvalidArgument, "settings: not signed settings: {}", e.message()))?;
    if crypto::keys::hex(&s.household_id) != hid {
        bail!(InvalidArgument, "settings: name household {}, not {hid}", crypto::keys::hex(&s.household_id));
    }
    check_signer("settings", &st, &m.account_id, &s.signer).await?;
    let serial =
        i64::try_from(s.serial).map_err(|_| err!(InvalidArgument, "settings: serial {} is over 2^63-1", s.serial))?;
    if !st.db.set_settings(&hid, serial, &bytes, st.now_ms()).await? {
        let cur = st.db.settings(&hid).await?.map(|c| c.0).unwrap_or(0);
        bail!(FailedPrecondition, "settings: serial {serial} is not newer than the stored serial {cur}");
    }
    st.signal_agents();
    security(&st, Some(&m.account_id), "settings_signed", ip, &format!("{hid} serial {serial}")).await?;
    Ok(Json(StoredSettings { serial, settings: req.settings }))
}

#[utoipa::path(get, path = "/api/households/{household_id}/settings", params(("household_id" = String, Path)), responses((status = 200, body = StoredSettings), (status = 404, body = crate::error::ErrorBody)), tag = "households")]
pub async fn get_settings(
    State(st): State<AppState>,
    actor: Actor,
    Path(hid): Path<String>,
) -> ApiResult<Json<StoredSettings>> {
    actor.member(&st, &hid, Permission::View).await?;
    let (serial, bytes) = st.db.settings(&hid).await?.ok_or_else(|| err!(NotFound, "settings: none sealed yet"))?;
    Ok(Json(StoredSettings { serial, settings: crypto::keys::hex(&bytes) }))
}
