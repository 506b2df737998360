//! Signing in, shared by the password, TOTP and passkey routes: the caller's address, the
//! per-source attempt limit and lockout, the security log, and finishing the second factor.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::auth::Actor;
use crate::error::ApiError;
use crate::secrets::random_hex;
use crate::state::{AppState, Metrics};

/// The caller's address (for rate limits and the security log).
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<ClientIp, ApiError> {
        Ok(ClientIp(client_ip(st, &parts.extensions, &parts.headers)))
    }
}

/// The client's address (`crate::auth::forwarded_client` with the configured proxies).
pub(crate) fn client_ip(st: &AppState, ext: &axum::http::Extensions, headers: &axum::http::HeaderMap) -> IpAddr {
    let peer =
        ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    crate::auth::forwarded_client(peer, &st.settings.trusted_proxies, headers)
}

/// Whom sign-in failures and attempts are counted against: an IPv4 address, or an IPv6
/// address's /64 (one subscriber's allocation, which they can cycle through at will).
pub(crate) fn source(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => {
            let s = a.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

pub(crate) fn limit_attempts(st: &AppState, ip: IpAddr) -> Result<(), base::Error> {
    if !st.limiter.allow(&source(ip), st.now_ms()) {
        bail!(ResourceExhausted, "too many attempts from {ip}: wait a minute");
    }
    Ok(())
}

pub(crate) async fn security(
    st: &AppState,
    account: Option<&str>,
    kind: &str,
    ip: IpAddr,
    detail: &str,
) -> Result<(), base::Error> {
    tracing::info!(account, kind, %ip, detail, "security event");
    st.db.insert_security_event(&random_hex(16), account, kind, &ip.to_string(), detail, st.now_ms()).await
}

/// Counts a failed sign-in step (password, TOTP code or passkey answer) towards the
/// account's lock and logs it as `kind`. When this failure locks the account, the auth
/// cache is cleared: cached sessions carry the account as it was before the lock.
pub(crate) async fn count_failure(
    st: &AppState,
    ip: IpAddr,
    account: &db::server::Account,
    kind: &str,
    why: &str,
) -> Result<(), base::Error> {
    Metrics::add(&st.metrics.logins_failed, 1);
    let n = st
        .db
        .sign_in_failed(&account.id, &source(ip), st.now_ms(), st.settings.lock_after, st.settings.lock_ms)
        .await?;
    let detail = if why.is_empty() { format!("failure {n}") } else { format!("{why}, failure {n}") };
    security(st, Some(&account.id), kind, ip, &detail).await
}

/// Whether `ip`'s source is locked out of `account` after repeated failures. Only that
/// source is: whoever fails on purpose locks out nobody but themselves. The caller answers
/// a locked source exactly as it answers a wrong password or code, so the answer does not
/// tell that the account exists or that someone else is trying it.
pub(crate) async fn locked_out(st: &AppState, ip: IpAddr, account: &db::server::Account) -> Result<bool, base::Error> {
    Ok(st.db.sign_in_locked_until(&account.id, &source(ip)).await? > st.now_ms())
}

/// The account and session of a caller who gave the password and owes the second factor.
pub(crate) fn signing_in(actor: Actor) -> Result<(db::server::Account, String), base::Error> {
    match actor {
        Actor::Pending { account, id_hash } => Ok((account, id_hash)),
        Actor::Anonymous => bail!(Unauthenticated, "session: sign in with a password first"),
        _ => bail!(PermissionDenied, "session: already signed in"),
    }
}

/// The second factor (or its enrolment) succeeded: the session becomes a full one.
pub(crate) async fn finish_second_factor(
    st: &AppState,
    ip: IpAddr,
    account: &db::server::Account,
    id_hash: &str,
    detail: &str,
) -> Result<(), base::Error> {
    st.db.sign_in_succeeded(&account.id, &source(ip)).await?;
    st.db.complete_session_mfa(id_hash).await?;
    st.auth_cache.clear();
    Metrics::add(&st.metrics.logins_ok, 1);
    security(st, Some(&account.id), "signed_in", ip, detail).await
}
