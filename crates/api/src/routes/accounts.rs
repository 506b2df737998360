//! Sign-up, sign-in with a password and a TOTP code, sessions, API tokens, the account's
//! keys and its security log.

use std::net::IpAddr;

use crate::extract::{Json, Path, Query};
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{AppendHeaders, IntoResponse};
use base::err;

use crate::auth::{Actor, Permission, SESSION_COOKIE, Via, format_token};
use crate::error::ApiResult;
use crate::secrets::{self, hex_decode, random_hex, secret_hash};
use crate::session::{ClientIp, count_failure, finish_second_factor, locked_out, security, signing_in};
use crate::state::{AppState, Metrics};
use crate::types::*;

fn normalize_email(e: &str) -> Result<String, base::Error> {
    let e = e.trim().to_lowercase();
    check_text("email", &e, 3, 254)?;
    let (local, domain) =
        e.split_once('@').ok_or_else(|| err!(InvalidArgument, "email: expected an address with @"))?;
    if local.is_empty() || domain.is_empty() || !domain.contains('.') || e.contains(char::is_whitespace) {
        bail!(InvalidArgument, "email: {e:?} is not an address");
    }
    Ok(e)
}

fn session_cookie(st: &AppState, secret: &str) -> String {
    let secure = if st.settings.secure_cookies { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        st.settings.session_ms / 1000
    )
}

/// Creates a session; returns the cookie and the CSRF value.
async fn new_session(st: &AppState, account_id: &str, mfa_done: bool) -> Result<(String, String), base::Error> {
    let secret = random_hex(32);
    let csrf = random_hex(16);
    let now = st.now_ms();
    st.db.insert_session(&secret_hash(&secret), account_id, &csrf, mfa_done, now, now + st.settings.session_ms).await?;
    Ok((session_cookie(st, &secret), csrf))
}

#[utoipa::path(post, path = "/api/signup", request_body = SignUp, responses((status = 200, body = SignUpReply), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)), tag = "accounts")]
pub async fn signup(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<SignUp>,
) -> ApiResult<impl IntoResponse> {
    let email = normalize_email(&req.email)?;
    secrets::check_password_rules(&req.password)?;
    let pw = req.password.clone();
    let hash = tokio::task::spawn_blocking(move || secrets::hash_password(&pw))
        .await
        .map_err(|e| base::Error::wrap(base::ErrorKind::Internal, "hashing task", e))??;
    let mut totp = [0u8; secrets::TOTP_SECRET_BYTES];
    crypto::random_bytes(&mut totp);
    let id = random_hex(16);
    let sealed = st.settings.totp_keys.seal(&id, &totp)?;
    st.db.insert_account(&id, &email, &hash, &sealed, st.now_ms()).await?;
    security(&st, Some(&id), "signup", ip, "").await?;
    let (cookie, csrf) = new_session(&st, &id, false).await?;
    let reply = SignUpReply {
        account_id: id,
        totp_url: secrets::otpauth_url(&email, &totp),
        totp_secret: secrets::base32_rfc4648(&totp),
        csrf,
    };
    Ok((AppendHeaders([(SET_COOKIE, cookie)]), Json(reply)))
}

#[utoipa::path(post, path = "/api/totp/confirm", request_body = TotpCode, responses((status = 200, body = crate::types::Ok), (status = 401, body = crate::error::ErrorBody)), tag = "accounts")]
pub async fn totp_confirm(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    actor: Actor,
    Json(req): Json<TotpCode>,
) -> ApiResult<Json<crate::types::Ok>> {
    let (account, id_hash) = match actor {
        Actor::Pending { account, id_hash } => (account, id_hash),
        Actor::Anonymous => bail!(Unauthenticated, "session: sign up or sign in with a password first"),
        _ => bail!(PermissionDenied, "session: already signed in; TOTP is confirmed once, right after sign-up"),
    };
    if account.totp_confirmed {
        bail!(FailedPrecondition, "session: TOTP is already confirmed; sign in with a code at /api/login/totp");
    }
    if !st.db.passkeys(&account.id).await?.is_empty() {
        bail!(FailedPrecondition, "session: this account signs in with a passkey; use /api/login/passkey/start");
    }
    second_factor(&st, ip, &account, &id_hash, &req.code, true).await?;
    Ok(Json(crate::types::Ok { ok: true }))
}

async fn second_factor(
    st: &AppState,
    ip: IpAddr,
    account: &db::server::Account,
    id_hash: &str,
    code: &str,
    confirm: bool,
) -> Result<(), base::Error> {
    let now = st.now_ms();
    let sealed = account.totp_secret.as_deref().ok_or_else(|| err!(Internal, "account has no TOTP secret"))?;
    let secret = st.settings.totp_keys.open(&account.id, sealed)?;
    let step = secrets::totp_match(&secret, code, now);
    let fresh = match step {
        Some(s) => st.db.use_totp_step(&account.id, s, confirm).await?,
        None => false,
    };
    if !fresh {
        count_failure(st, ip, account, "totp_failed", "").await?;
        bail!(Unauthenticated, "code: wrong, expired or already used");
    }
    finish_second_factor(st, ip, account, id_hash, if confirm { "TOTP enrolled" } else { "password and TOTP" }).await
}

#[utoipa::path(post, path = "/api/login", request_body = SignIn, responses((status = 200, body = SignInReply), (status = 401, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)), tag = "accounts")]
pub async fn login(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<SignIn>,
) -> ApiResult<impl IntoResponse> {
    let email = req.email.trim().to_lowercase();
    if req.password.len() > secrets::PASSWORD_BYTES_MAX {
        bail!(InvalidArgument, "password: expected at most {} bytes", secrets::PASSWORD_BYTES_MAX);
    }
    let account = st.db.account_by_email(&email).await?;
    // Hash even for unknown addresses so that timing does not tell which exist.
    let phc = account.as_ref().map(|a| a.password_hash.clone()).unwrap_or_else(|| DUMMY_HASH.clone());
    let pw = req.password.clone();
    let ok = tokio::task::spawn_blocking(move || secrets::verify_password(&pw, &phc))
        .await
        .map_err(|e| base::Error::wrap(base::ErrorKind::Internal, "hashing task", e))?;
    let Some(account) = account else {
        Metrics::add(&st.metrics.logins_failed, 1);
        security(&st, None, "login_failed", ip, "unknown address").await?;
        bail!(Unauthenticated, "email or password: wrong");
    };
    if locked_out(&st, ip, &account).await? {
        Metrics::add(&st.metrics.logins_failed, 1);
        security(&st, Some(&account.id), "login_locked", ip, "").await?;
        bail!(Unauthenticated, "email or password: wrong");
    }
    if !ok {
        count_failure(&st, ip, &account, "login_failed", "wrong password").await?;
        bail!(Unauthenticated, "email or password: wrong");
    }
    let (cookie, csrf) = new_session(&st, &account.id, false).await?;
    let mut factors = Vec::new();
    if account.totp_confirmed {
        factors.push("totp".to_owned());
    }
    if !st.db.passkeys(&account.id).await?.is_empty() {
        factors.push("passkey".to_owned());
    }
    let next = factors.first().cloned().unwrap_or_else(|| "enrol".to_owned());
    let totp_url = match (&account.totp_secret, factors.is_empty()) {
        (Some(sealed), true) => {
            Some(secrets::otpauth_url(&account.email, &st.settings.totp_keys.open(&account.id, sealed)?))
        }
        _ => None,
    };
    Ok((AppendHeaders([(SET_COOKIE, cookie)]), Json(SignInReply { next, factors, csrf, totp_url })))
}

static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| secrets::hash_password("not a real password").expect("hashing"));

#[utoipa::path(post, path = "/api/login/totp", request_body = TotpCode, responses((status = 200, body = crate::types::Ok), (status = 401, body = crate::error::ErrorBody)), tag = "accounts")]
pub async fn login_totp(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    actor: Actor,
    Json(req): Json<TotpCode>,
) -> ApiResult<Json<crate::types::Ok>> {
    let (account, id_hash) = signing_in(actor)?;
    if !account.totp_confirmed {
        bail!(
            FailedPrecondition,
            "session: this account has no TOTP; use its passkey or, at sign-up, /api/totp/confirm"
        );
    }
    if locked_out(&st, ip, &account).await? {
        security(&st, Some(&account.id), "totp_locked", ip, "").await?;
        bail!(Unauthenticated, "code: wrong, expired or already used");
    }
    second_factor(&st, ip, &account, &id_hash, &req.code, false).await?;
    Ok(Json(crate::types::Ok { ok: true }))
}

#[utoipa::path(post, path = "/api/logout", responses((status = 200, body = crate::types::Ok)), tag = "accounts")]
pub async fn logout(State(st): State<AppState>, actor: Actor) -> ApiResult<impl IntoResponse> {
    match &actor {
        Actor::Pending { id_hash, .. } | Actor::Account { via: Via::Session { id_hash, .. }, .. } => {
            st.db.delete_session(id_hash).await?;
            st.auth_cache.clear();
        }
        Actor::Anonymous => bail!(Unauthenticated, "session: not signed in"),
        _ => bail!(PermissionDenied, "session: a bearer token has no session to end (delete the token instead)"),
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok((AppendHeaders([(SET_COOKIE, clear)]), Json(crate::types::Ok { ok: true })))
}

#[utoipa::path(get, path = "/api/session", responses((status = 200, body = SessionReply), (status = 401, body = crate::error::ErrorBody)), tag = "accounts")]
pub async fn session(State(st): State<AppState>, actor: Actor) -> ApiResult<Json<SessionReply>> {
    let a = actor.account()?;
    let csrf = match &actor {
        Actor::Account { via: Via::Session { csrf, .. }, .. } => Some(csrf.clone()),
        _ => None,
    };
    let mut households = Vec::new();
    for m in st.db.memberships(&a.id).await? {
        let name = st.db.household(&m.household_id).await?.map(|h| h.name).unwrap_or_default();
        households.push(Membership {
            household_id: m.household_id,
            name,
            role: m.role,
            permissions: Permission::ALL.into_iter().filter(|p| crate::auth::allows(m.role, *p)).collect(),
            window_from_ms: m.window_from_ms,
            window_until_ms: m.window_until_ms,
        });
    }
    Ok(Json(SessionReply {
        account_id: a.id.clone(),
        email: a.email.clone(),
        csrf,
        has_keys: a.public_keys.is_some(),
        households,
        operator: crate::actor::is_operator(&st, a),
        map_tile_url: st.settings.map_tile_url.clone(),
        agency: st.db.agency_of_account(&a.id).await?.map(|g| g.status().to_owned()),
    }))
}

#[utoipa::path(put, path = "/api/me/keys", request_body = SetKeys, responses((status = 200, body = crate::types::Ok), (status = 400, body = crate::error::ErrorBody)), tag = "accounts")]
pub async fn set_keys(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    actor: Actor,
    Json(req): Json<SetKeys>,
) -> ApiResult<Json<crate::types::Ok>> {
    let a = actor.account()?;
    let pk = hex_decode("public_keys", &req.public_keys, 4096)?;
    let keys = crypto::keys::PublicKeys::parse(&pk)
        .map_err(|e| err!(InvalidArgument, "public_keys: not a signed public-key bundle: {}", e.message()))?;
    let proof: [u8; 64] = hex_decode("proof", &req.proof, 64)?
        .try_into()
        .map_err(|_| err!(InvalidArgument, "proof: expected a 64-byte Ed25519 signature (128 hex digits)"))?;
    let current = a.public_keys.as_deref();
    let challenge = crypto::keys::possession_challenge(&a.id, current);
    crypto::keys::verify_possession(&keys.identity, &challenge, &proof).map_err(|_| {
        err!(
            InvalidArgument,
            "proof: not the bundle's identity key's signature over this account's current challenge \
             (GET /api/me/keys/challenge)"
        )
    })?;
    let backup = req.key_backup.as_deref().map(|b| hex_decode("key_backup", b, 16384)).transpose()?;
    let identity = keys.identity.to_bytes();
    match st.db.set_keys(&a.id, &identity, &pk, backup.as_deref(), current, st.now_ms()).await? {
        db::server::KeysSet::Stored => {}
        db::server::KeysSet::IdentityTaken => bail!(
            FailedPrecondition,
            "public_keys: identity key {} belongs to another account; make keys of your own",
            keys.identity.fingerprint()
        ),
        db::server::KeysSet::Stale => {
            bail!(
                FailedPrecondition,
                "proof: this account's keys changed meanwhile; fetch the new challenge and sign it"
            )
        }
    }
    st.auth_cache.clear();
    security(&st, Some(&a.id), "keys_set", ip, "").await?;
    Ok(Json(crate::types::Ok { ok: true }))
}

/// What the caller must sign with a new bundle's identity key before uploading it.
#[utoipa::path(get, path = "/api/me/keys/challenge", responses((status = 200, body = KeysChallenge)), tag = "accounts")]
pub async fn keys_challenge(actor: Actor) -> ApiResult<Json<KeysChallenge>> {
    let a = actor.account()?;
    let c = crypto::keys::possession_challenge(&a.id, a.public_keys.as_deref());
    Ok(Json(KeysChallenge { challenge: crypto::keys::hex(&c) }))
}

#[utoipa::path(get, path = "/api/me/keys/backup", responses((status = 200, body = KeyBackup), (status = 404, body = crate::error::ErrorBody)), tag = "accounts")]
pub async fn key_backup(actor: Actor) -> ApiResult<Json<KeyBackup>> {
    let a = actor.account()?;
    let b = a.key_backup.as_ref().ok_or_else(|| err!(NotFound, "key backup: none stored"))?;
    Ok(Json(KeyBackup { key_backup: crypto::keys::hex(b) }))
}

#[utoipa::path(get, path = "/api/me/tokens", responses((status = 200, body = Vec<TokenInfo>)), tag = "accounts")]
pub async fn list_tokens(State(st): State<AppState>, actor: Actor) -> ApiResult<Json<Vec<TokenInfo>>> {
    let a = actor.account()?;
    let rows = st.db.account_tokens(&a.id).await?;
    Ok(Json(rows.into_iter().map(|(id, label, created_ms)| TokenInfo { id, label, created_ms }).collect()))
}

#[utoipa::path(post, path = "/api/me/tokens", request_body = NewToken, responses((status = 200, body = TokenReply)), tag = "accounts")]
pub async fn create_token(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    actor: Actor,
    Json(req): Json<NewToken>,
) -> ApiResult<Json<TokenReply>> {
    let a = actor.account()?;
    // A token cannot mint tokens: that needs a session with both factors.
    if !matches!(actor, Actor::Account { via: Via::Session { .. }, .. }) {
        bail!(PermissionDenied, "authorization: tokens are created from a signed-in session");
    }
    check_text("label", &req.label, 1, 64)?;
    let (id, secret) = (random_hex(16), random_hex(32));
    st.db.insert_account_token(&id, &secret_hash(&secret), &a.id, &req.label, st.now_ms()).await?;
    security(&st, Some(&a.id), "token_created", ip, &req.label).await?;
    Ok(Json(TokenReply { token: format_token(&id, &secret), id }))
}

#[utoipa::path(delete, path = "/api/me/tokens/{token_id}", params(("token_id" = String, Path)), responses((status = 200, body = crate::types::Ok), (status = 404, body = crate::error::ErrorBody)), tag = "accounts")]
pub async fn delete_token(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    actor: Actor,
    Path(token_id): Path<String>,
) -> ApiResult<Json<crate::types::Ok>> {
    let a = actor.account()?;
    check_id("token_id", &token_id)?;
    if !st.db.delete_account_token(&token_id, &a.id).await? {
        bail!(NotFound, "token_id: you have no token {token_id}");
    }
    st.auth_cache.clear();
    security(&st, Some(&a.id), "token_deleted", ip, &token_id).await?;
    Ok(Json(crate::types::Ok { ok: true }))
}

#[utoipa::path(get, path = "/api/me/security-events", params(LimitParams), responses((status = 200, body = Vec<SecurityEventJson>)), tag = "accounts")]
pub async fn security_events(
    State(st): State<AppState>,
    actor: Actor,
    Query(q): Query<LimitParams>,
) -> ApiResult<Json<Vec<SecurityEventJson>>> {
    let a = actor.account()?;
    let rows = st.db.security_events(&a.id, limit(q.limit)?).await?;
    Ok(Json(
        rows.into_iter()
            .map(|e| SecurityEventJson { kind: e.kind, ip: e.ip, detail: e.detail, at_ms: e.at_ms })
            .collect(),
    ))
}
