//! Passkeys (WebAuthn, verified by webauthn-rs) as a second factor: registered from a
//! signed-in session, or right after sign-up instead of TOTP; used after the password
//! instead of a TOTP code. The challenge of each ceremony lives in memory for the session
//! that asked for it ([`crate::webauthn::Ceremonies`]); the verified credential (public key,
//! signature counter, flags) is stored in the `passkey` table.

use std::net::IpAddr;

use axum::extract::State;
use base::err;
use webauthn_rs::Webauthn;
use webauthn_rs::prelude::{Passkey, PublicKeyCredential, RegisterPublicKeyCredential};

use crate::auth::{Actor, Via};
use crate::error::ApiResult;
use crate::extract::{Json, Path};
use crate::secrets::random_hex;
use crate::session::{ClientIp, count_failure, finish_second_factor, limit_attempts, locked_out, security, signing_in};
use crate::state::AppState;
use crate::types::*;
use crate::webauthn::{Ceremony, finish_login, finish_registration, parse, user_handle};

fn relying_party(st: &AppState) -> Result<&Webauthn, base::Error> {
    st.webauthn.as_ref().ok_or_else(|| {
        err!(FailedPrecondition, "passkey: this server's public_url is not a host name, so passkeys are off")
    })
}

fn stored(row: &db::server::PasskeyRow) -> Result<Passkey, base::Error> {
    serde_json::from_str(&row.credential)
        .map_err(|e| base::Error::wrap(base::ErrorKind::Internal, format!("passkey {}: stored credential", row.id), e))
}

fn encode(passkey: &Passkey) -> Result<String, base::Error> {
    serde_json::to_string(passkey).map_err(|e| err!(Internal, "passkey: serializing: {e}"))
}

fn options_json(options: impl serde::Serialize) -> ApiResult<Json<PasskeyOptions>> {
    let options = serde_json::to_value(options).map_err(|e| err!(Internal, "passkey options: {e}"))?;
    Ok(Json(PasskeyOptions { options }))
}

/// Who may register a passkey: a signed-in session, or a session that has the password
/// but whose account has no second factor yet (finishing sign-up with a passkey).
async fn registering(st: &AppState, actor: Actor) -> Result<(db::server::Account, String, bool), base::Error> {
    match actor {
        Actor::Account { account, via: Via::Session { id_hash, .. } } => Ok((account, id_hash, false)),
        Actor::Pending { account, id_hash } => {
            if account.totp_confirmed || !st.db.passkeys(&account.id).await?.is_empty() {
                bail!(PermissionDenied, "session: finish signing in with your second factor first");
            }
            Ok((account, id_hash, true))
        }
        Actor::Anonymous => bail!(Unauthenticated, "session: sign in first"),
        _ => bail!(PermissionDenied, "authorization: passkeys are registered from a browser session"),
    }
}

#[utoipa::path(post, path = "/api/passkeys/register/start", request_body = PasskeyName, responses((status = 200, body = PasskeyOptions), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)), tag = "passkeys")]
pub async fn register_start(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    actor: Actor,
    Json(req): Json<PasskeyName>,
) -> ApiResult<Json<PasskeyOptions>> {
    limit_attempts(&st, ip)?;
    let (account, id_hash, _) = registering(&st, actor).await?;
    check_text("name", &req.name, 1, 64)?;
    let rp = relying_party(&st)?;
    let mut exclude = Vec::new();
    for row in st.db.passkeys(&account.id).await? {
        exclude.push(stored(&row)?.cred_id().clone());
    }
    if exclude.len() >= PASSKEYS_MAX {
        bail!(FailedPrecondition, "passkey: an account holds at most {PASSKEYS_MAX}; delete one first");
    }
    let (options, state) = rp
        .start_passkey_registration(user_handle(&account.id), &account.email, &account.email, Some(exclude))
        .map_err(|e| err!(Internal, "passkey: starting a registration: {e}"))?;
    st.ceremonies.put(&id_hash, st.now_ms(), Ceremony::Register { state, name: req.name })?;
    options_json(options)
}

/// How many passkeys one account may hold.
pub const PASSKEYS_MAX: usize = 20;

#[utoipa::path(post, path = "/api/passkeys/register/finish", request_body = PasskeyCredential, responses((status = 200, body = PasskeyInfo), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)), tag = "passkeys")]
pub async fn register_finish(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    actor: Actor,
    Json(req): Json<PasskeyCredential>,
) -> ApiResult<Json<PasskeyInfo>> {
    limit_attempts(&st, ip)?;
    let (account, id_hash, enrolling) = registering(&st, actor).await?;
    let rp = relying_party(&st)?;
    let credential: RegisterPublicKeyCredential = parse(req.credential)?;
    let now = st.now_ms();
    let Some(Ceremony::Register { state, name }) = st.ceremonies.take(&id_hash, now) else {
        bail!(
            FailedPrecondition,
            "passkey: no registration in progress for this session (start one, within 5 minutes)"
        );
    };
    let passkey = finish_registration(rp, &state, &credential)?;
    let row = db::server::PasskeyRow {
        id: random_hex(16),
        account_id: account.id.clone(),
        credential_id: crypto::keys::hex(passkey.cred_id()),
        name: name.clone(),
        credential: encode(&passkey)?,
        created_ms: now,
        last_used_ms: None,
    };
    st.db.insert_passkey(&row).await?;
    security(&st, Some(&account.id), "passkey_added", ip, &name).await?;
    if enrolling {
        finish_second_factor(&st, ip, &account, &id_hash, "passkey enrolled").await?;
    }
    st.auth_cache.clear();
    Ok(Json(PasskeyInfo { id: row.id, name, created_ms: now, last_used_ms: None }))
}

#[utoipa::path(get, path = "/api/me/passkeys", responses((status = 200, body = Vec<PasskeyInfo>), (status = 401, body = crate::error::ErrorBody)), tag = "passkeys")]
pub async fn list(State(st): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<PasskeyInfo>>> {
    let a = actor.account()?;
    let rows = st.db.passkeys(&a.id).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| PasskeyInfo { id: r.id, name: r.name, created_ms: r.created_ms, last_used_ms: r.last_used_ms })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/api/me/passkeys/{passkey_id}", params(("passkey_id" = String, Path)), responses((status = 200, body = crate::types::Ok), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)), tag = "passkeys")]
pub async fn delete(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    actor: Actor,
    Path(passkey_id): Path<String>,
) -> ApiResult<Json<crate::types::Ok>> {
    let a = actor.account()?;
    if !matches!(actor, Actor::Account { via: Via::Session { .. }, .. }) {
        bail!(PermissionDenied, "authorization: passkeys are removed from a signed-in session");
    }
    check_id("passkey_id", &passkey_id)?;
    if !st.db.delete_passkey(&passkey_id, &a.id).await? {
        bail!(NotFound, "passkey_id: you have no passkey {passkey_id}");
    }
    st.auth_cache.clear();
    security(&st, Some(&a.id), "passkey_removed", ip, &passkey_id).await?;
    Ok(Json(crate::types::Ok { ok: true }))
}

#[utoipa::path(post, path = "/api/login/passkey/start", responses((status = 200, body = PasskeyOptions), (status = 401, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)), tag = "passkeys")]
pub async fn login_start(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    actor: Actor,
) -> ApiResult<Json<PasskeyOptions>> {
    let (account, id_hash) = signing_in(actor)?;
    if locked_out(&st, ip, &account).await? {
        security(&st, Some(&account.id), "passkey_locked", ip, "").await?;
        bail!(Unauthenticated, "credential: the passkey's answer does not verify");
    }
    let rp = relying_party(&st)?;
    let mut keys = Vec::new();
    for row in st.db.passkeys(&account.id).await? {
        keys.push(stored(&row)?);
    }
    if keys.is_empty() {
        bail!(FailedPrecondition, "passkey: this account has none; sign in with a TOTP code");
    }
    let (options, state) =
        rp.start_passkey_authentication(&keys).map_err(|e| err!(Internal, "passkey: starting a sign-in: {e}"))?;
    st.ceremonies.put(&id_hash, st.now_ms(), Ceremony::Login(state))?;
    options_json(options)
}

#[utoipa::path(post, path = "/api/login/passkey/finish", request_body = PasskeyCredential, responses((status = 200, body = crate::types::Ok), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)), tag = "passkeys")]
pub async fn login_finish(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    actor: Actor,
    Json(req): Json<PasskeyCredential>,
) -> ApiResult<Json<crate::types::Ok>> {
    let (account, id_hash) = signing_in(actor)?;
    if locked_out(&st, ip, &account).await? {
        security(&st, Some(&account.id), "passkey_locked", ip, "").await?;
        bail!(Unauthenticated, "credential: the passkey's answer does not verify");
    }
    let rp = relying_party(&st)?;
    let credential: PublicKeyCredential = parse(req.credential)?;
    let now = st.now_ms();
    let Some(Ceremony::Login(state)) = st.ceremonies.take(&id_hash, now) else {
        bail!(FailedPrecondition, "passkey: no sign-in in progress for this session (start one, within 5 minutes)");
    };
    let result = match finish_login(rp, &state, &credential) {
        Ok(r) => r,
        Err(e) => return Err(failed(&st, ip, &account, e).await.into()),
    };
    let rows = st.db.passkeys(&account.id).await?;
    let cred_hex = crypto::keys::hex(result.cred_id());
    let Some(row) = rows.iter().find(|r| r.credential_id == cred_hex) else {
        // Removed between start and finish.
        let e = err!(Unauthenticated, "credential: that passkey was removed");
        return Err(failed(&st, ip, &account, e).await.into());
    };
    let mut passkey = stored(row)?;
    passkey.update_credential(&result);
    st.db.passkey_used(&row.id, &encode(&passkey)?, now).await?;
    finish_second_factor(&st, ip, &account, &id_hash, "password and passkey").await?;
    Ok(Json(crate::types::Ok { ok: true }))
}

/// Counts a failed passkey answer towards the account's lock, like a wrong TOTP code, and
/// returns the error to send.
async fn failed(st: &AppState, ip: IpAddr, account: &db::server::Account, e: base::Error) -> base::Error {
    match count_failure(st, ip, account, "passkey_failed", e.msg()).await {
        Ok(()) => e,
        Err(db) => db,
    }
}
