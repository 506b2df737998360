//! Who is calling: the [`Actor`] extractor (session cookie or bearer token, with the CSRF
//! check for cookie-authenticated writes), and the one table of what each household role
//! may do ([`allows`]). Every handler asks [`Actor::member`] or [`Actor::device`]; none
//! compares roles itself.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use base::{Error, err};
use db::server::{Account, Device, Member, Role};

use crate::error::ApiError;
use crate::secrets::{constant_time_eq, secret_hash};
use crate::state::{AppState, Cached};

pub const SESSION_COOKIE: &str = "pl_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Clone, Debug)]
pub enum Via {
    Session { id_hash: String, csrf: String },
    Token,
}

#[derive(Clone, Debug)]
pub enum Actor {
    Anonymous,
    /// The password was right; the second factor (or, right after sign-up, its enrolment)
    /// is still to come. Can only complete it or sign out.
    Pending {
        account: Account,
        id_hash: String,
    },
    Account {
        account: Account,
        via: Via,
    },
    Device {
        device: Device,
    },
}

pub use wire::Permission;

/// The role table of ../shared/PRODUCT.md: owners do everything; full members everything
/// but membership, pairing and the access log; standard members watch; limited members and
/// guests watch within their window.
pub fn allows(role: Role, p: Permission) -> bool {
    use Permission::*;
    match role {
        Role::Owner => true,
        Role::Full => matches!(p, View | ViewMembers | Settings | Delete | Neighbourhood | Talk),
        Role::Standard => matches!(p, View | ViewMembers | Neighbourhood | Talk),
        Role::Guest => matches!(p, View | Talk),
        Role::Limited => matches!(p, View),
    }
}

/// The value of cookie `name` among the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A bearer token is `plt_<id>_<secret>`: the id finds the row, the secret is checked
/// against its hash.
pub fn format_token(id: &str, secret: &str) -> String {
    format!("plt_{id}_{secret}")
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Actor, ApiError> {
        let now = st.now_ms();
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let auth = auth.to_str().map_err(|_| err!(Unauthenticated, "authorization: not ASCII"))?;
            let Some(tok) = auth.strip_prefix("Bearer ") else {
                return Err(err!(Unauthenticated, "authorization: expected `Bearer plt_…`").into());
            };
            return Ok(token_actor(st, tok.trim()).await?);
        }
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else { return Ok(Actor::Anonymous) };
        let id_hash = secret_hash(&secret);
        let key = format!("s:{id_hash}");
        let s = match st.auth_cache.get(&key, now) {
            Some(Cached::Session(s)) => Some(*s),
            _ => {
                let s = st.db.session(&id_hash, now).await?;
                if let Some(s) = &s {
                    st.auth_cache.put(key, now, Cached::Session(Box::new(s.clone())));
                }
                s
            }
        };
        let Some(s) = s.filter(|s| s.expires_ms > now) else { return Ok(Actor::Anonymous) };
        if !is_safe(&parts.method) {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !constant_time_eq(sent.as_bytes(), s.csrf.as_bytes()) {
                return Err(err!(
                    PermissionDenied,
                    "{CSRF_HEADER}: missing or wrong (send the csrf value from the session)"
                )
                .into());
            }
        }
        if !s.mfa_done {
            return Ok(Actor::Pending { account: s.account, id_hash });
        }
        Ok(Actor::Account { account: s.account, via: Via::Session { id_hash, csrf: s.csrf } })
    }
}

/// Splits `plt_<id>_<secret>` into the id (32 hex digits) and the secret.
/// The client's address: the peer's, or, when the peer is one of the `trusted` proxies,
/// the address it forwarded: the rightmost address in `Forwarded` (RFC 7239) or else
/// `X-Forwarded-For` that is not itself a trusted proxy. From any other peer those headers
/// are ignored, so that nobody chooses the address they are counted under.
pub fn forwarded_client(
    peer: std::net::IpAddr,
    trusted: &[crate::state::Cidr],
    headers: &axum::http::HeaderMap,
) -> std::net::IpAddr {
    use std::net::IpAddr;
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = if let Some(v) = headers.get("forwarded").and_then(|v| v.to_str().ok()) {
        v.split(',')
            .flat_map(|hop| hop.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
            .filter_map(|(_, v)| forwarded_for(v.trim()))
            .collect()
    } else if let Some(v) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        v.split(',').filter_map(|a| a.trim().parse::<IpAddr>().ok()).collect()
    } else {
        Vec::new()
    };
    forwarded.iter().rev().map(|ip| ip.to_canonical()).find(|ip| !is_trusted(*ip)).unwrap_or(peer)
}

/// A `for=` value of a `Forwarded` header: `192.0.2.1`, `"192.0.2.1:8080"`,
/// `"[2001:db8::1]:443"`; `unknown` and obfuscated names are no address.
fn forwarded_for(v: &str) -> Option<std::net::IpAddr> {
    let v = v.trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split_once(']').and_then(|(a, _)| a.parse().ok());
    }
    v.parse().ok().or_else(|| v.rsplit_once(':').and_then(|(a, _)| a.parse().ok()))
}

pub fn parse_token(tok: &str) -> Option<(&str, &str)> {
    let (id, secret) = tok.strip_prefix("plt_")?.split_once('_')?;
    (id.len() == 32 && id.bytes().all(|c| c.is_ascii_hexdigit()) && !secret.is_empty()).then_some((id, secret))
}

async fn token_actor(st: &AppState, tok: &str) -> Result<Actor, Error> {
    let bad = || err!(Unauthenticated, "authorization: unknown or revoked token");
    let (id, secret) = parse_token(tok).ok_or_else(bad)?;
    let now = st.now_ms();
    // The key holds the secret's hash: a wrong secret never finds a cached actor.
    let hash = secret_hash(secret);
    let key = format!("t:{id}:{hash}");
    if let Some(Cached::Actor(a)) = st.auth_cache.get(&key, now) {
        return Ok(*a);
    }
    let row = st.db.token(id).await?.ok_or_else(bad)?;
    if !constant_time_eq(hash.as_bytes(), row.secret_hash.as_bytes()) {
        return Err(bad());
    }
    let actor = token_row_actor(st, row).await?;
    st.auth_cache.put(key, now, Cached::Actor(Box::new(actor.clone())));
    Ok(actor)
}

async fn token_row_actor(st: &AppState, row: db::server::Token) -> Result<Actor, Error> {
    let bad = || err!(Unauthenticated, "authorization: unknown or revoked token");
    if let Some(did) = row.device_id {
        let device = st.db.device(&did).await?.ok_or_else(bad)?;
        if device.revoked_ms.is_some() {
            return Err(bad());
        }
        return Ok(Actor::Device { device });
    }
    let aid = row.account_id.ok_or_else(bad)?;
    let account = st.db.account_by_id(&aid).await?.ok_or_else(bad)?;
    Ok(Actor::Account { account, via: Via::Token })
}

impl Actor {
    /// The signed-in account (both factors done).
    pub fn account(&self) -> Result<&Account, Error> {
        match self {
            Actor::Account { account, .. } => Ok(account),
            Actor::Pending { .. } => bail!(Unauthenticated, "session: the second factor is still to be given"),
            Actor::Device { .. } => bail!(PermissionDenied, "authorization: a device credential cannot do this"),
            Actor::Anonymous => bail!(Unauthenticated, "session: sign in first"),
        }
    }

    pub fn device(&self) -> Result<&Device, Error> {
        match self {
            Actor::Device { device } => Ok(device),
            Actor::Anonymous => bail!(Unauthenticated, "authorization: a device credential is required"),
            _ => bail!(PermissionDenied, "authorization: only a paired device can do this"),
        }
    }

    /// The caller's membership of `household_id` if its role allows `p` now.
    pub async fn member(&self, st: &AppState, household_id: &str, p: Permission) -> Result<Member, Error> {
        let account = self.account()?;
        crate::types::check_id("household id", household_id)?;
        let now = st.now_ms();
        let key = format!("m:{household_id}:{}", account.id);
        let m = match st.auth_cache.get(&key, now) {
            Some(Cached::Member(m)) => m.map(|m| *m),
            _ => {
                let m = st.db.member(household_id, &account.id).await?;
                st.auth_cache.put(key, now, Cached::Member(m.clone().map(Box::new)));
                m
            }
        };
        let m = m.ok_or_else(|| err!(PermissionDenied, "household {household_id}: you are not a member"))?;
        if guest_expired(&m, st.now_ms()) {
            let until = m.window_until_ms.unwrap_or(i64::MIN);
            bail!(PermissionDenied, "household {household_id}: your guest access ended at {until} ms");
        }
        if !allows(m.role, p) {
            bail!(PermissionDenied, "household {household_id}: the {} role cannot do this ({p:?})", m.role.as_str());
        }
        Ok(m)
    }
}

/// The footage window a member may see: `(from, until)`, either open.
pub fn window(m: &Member) -> (Option<i64>, Option<i64>) {
    match m.role {
        Role::Limited | Role::Guest => (m.window_from_ms, m.window_until_ms),
        _ => (None, None),
    }
}

/// A guest whose access has ended (a guest's window end is when their access ends).
pub fn guest_expired(m: &Member, now_ms: i64) -> bool {
    m.role == Role::Guest && now_ms >= m.window_until_ms.unwrap_or(i64::MIN)
}

pub fn in_window(m: &Member, start_ms: i64) -> bool {
    let (from, until) = window(m);
    from.is_none_or(|f| start_ms >= f) && until.is_none_or(|u| start_ms < u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_are_believed_from_trusted_proxies_only() {
        use axum::http::{HeaderMap, HeaderValue};
        let proxies =
            [crate::state::Cidr::parse("127.0.0.1").unwrap(), crate::state::Cidr::parse("10.0.0.0/8").unwrap()];
        let check = |peer: &str, name: &'static str, value: &str, want: &str| {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_str(value).unwrap());
            assert_eq!(
                forwarded_client(peer.parse().unwrap(), &proxies, &h),
                want.parse::<std::net::IpAddr>().unwrap(),
                "{peer} {name}: {value}"
            );
        };
        check("127.0.0.1", "x-forwarded-for", "203.0.113.7", "203.0.113.7");
        // The client may put anything first; the rightmost untrusted hop counts.
        check("127.0.0.1", "x-forwarded-for", "1.2.3.4, 203.0.113.7, 10.1.1.1", "203.0.113.7");
        check("127.0.0.1", "forwarded", "for=1.2.3.4, for=\"[2001:db8::1]:443\";proto=https", "2001:db8::1");
        check("127.0.0.1", "forwarded", "for=\"198.51.100.2:8080\"", "198.51.100.2");
        check("127.0.0.1", "forwarded", "for=unknown", "127.0.0.1");
        check("127.0.0.1", "x-forwarded-for", "garbage, 10.0.0.9", "127.0.0.1");
        // From anyone else, the headers are ignored.
        check("198.51.100.9", "x-forwarded-for", "203.0.113.7", "198.51.100.9");
        check("::ffff:127.0.0.1", "x-forwarded-for", "203.0.113.7", "203.0.113.7");
    }

    #[test]
    fn role_table() {
        use Permission::*;
        let all = [View, ViewMembers, Settings, Delete, ManageMembers, Pair, AccessLog];
        let got: Vec<(Role, Vec<Permission>)> =
            Role::ALL.iter().map(|&r| (r, all.iter().copied().filter(|&p| allows(r, p)).collect())).collect();
        assert_eq!(
            got,
            vec![
                (Role::Owner, all.to_vec()),
                (Role::Full, vec![View, ViewMembers, Settings, Delete]),
                (Role::Standard, vec![View, ViewMembers]),
                (Role::Limited, vec![View]),
                (Role::Guest, vec![View]),
            ]
        );
    }

    #[test]
    fn tokens_parse_only_in_their_format() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(parse_token(&format!("plt_{id}_s3cret")), Some((id, "s3cret")));
        for bad in ["", "plt_", "plt_abc_x", &format!("plt_{id}_"), &format!("xyz_{id}_s"), &format!("plt_{id}")] {
            assert_eq!(parse_token(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; pl_session=abc; b=2".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
