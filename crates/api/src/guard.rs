//! What every request meets before its handler: a body limit for its route, checked against
//! `Content-Length` before a byte of the body is read and enforced while it is read; the
//! per-source limit on credential attempts, also before the body is read; and the security
//! headers on every response.
//!
//! Both checks used to run inside the handlers, after their extractors had read the body
//! under one 8 MiB limit for every route: sixteen anonymous 8 MiB sign-ins took the server
//! from 85 to 595 MiB.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::session::{client_ip, limit_attempts};
use crate::state::AppState;

/// A credential attempt: sign-up, sign-in and its factors, pairing. Small JSON.
pub const CREDENTIAL_BODY_BYTES_MAX: usize = 16 * 1024;
/// Every other JSON request. The largest is a household's sealed settings (about 540 KB of
/// hex at their own limit).
pub const JSON_BODY_BYTES_MAX: usize = 1 << 20;
/// Chunk uploads and posted photos and clips.
pub const BLOB_BODY_BYTES_MAX: usize = blob::CHUNK_BYTES_MAX;

/// How a route's body is bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLimit {
    Bytes(usize),
    /// A live view relay: the agent streams segments for as long as the viewer watches,
    /// relayed as they come and never held.
    Stream,
}

/// The body limit of a route, and whether it is a credential attempt (rate limited per
/// source before its body is read).
pub fn route_class(method: &Method, path: &str) -> (BodyLimit, bool) {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let sign_in = *method == Method::POST
        && matches!(
            path,
            "/api/signup"
                | "/api/login"
                | "/api/login/totp"
                | "/api/totp/confirm"
                | "/api/login/passkey/start"
                | "/api/login/passkey/finish"
        );
    let pairing = parts.len() == 4 && parts[..3] == ["", "api", "pair"];
    let credential = sign_in || pairing;
    let limit = match (method, parts.as_slice()) {
        (&Method::PUT, ["", "api", "chunks", _]) => BodyLimit::Bytes(BLOB_BODY_BYTES_MAX),
        (&Method::POST, ["", "api", "households", _, "post-media"]) => BodyLimit::Bytes(BLOB_BODY_BYTES_MAX),
        (&Method::POST, ["", "api", "device", "live", _]) => BodyLimit::Stream,
        (&Method::POST, ["", "api", "talk", _]) => BodyLimit::Bytes(crate::routes::talk::TALK_BODY_BYTES_MAX),
        _ if credential => BodyLimit::Bytes(CREDENTIAL_BODY_BYTES_MAX),
        _ => BodyLimit::Bytes(JSON_BODY_BYTES_MAX),
    };
    (limit, credential)
}

pub async fn guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let (limit, credential) = route_class(req.method(), req.uri().path());
    let mut resp = match check(&st, req, limit, credential) {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    if (resp.status().is_client_error() || resp.status().is_server_error()) && !is_json(&resp) {
        resp = json_error(resp);
    }
    security_headers(&mut resp);
    resp
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// An error that something other than a handler made (the router's "method not allowed",
/// a body that failed to read) gets the one error body too, so every error a client sees
/// is JSON with a kind and a message.
fn json_error(resp: Response) -> Response {
    use wire::ErrorCode;
    let status = resp.status();
    let (kind, message) = match status.as_u16() {
        405 => (ErrorCode::InvalidArgument, "method: this path does not take that method".to_owned()),
        413 => (ErrorCode::InvalidArgument, "body: too large for this endpoint".to_owned()),
        415 => (ErrorCode::InvalidArgument, "content-type: expected application/json".to_owned()),
        s if s >= 500 => (ErrorCode::Internal, "the server failed; the failure is in its log".to_owned()),
        _ => (ErrorCode::InvalidArgument, format!("request: {}", status.canonical_reason().unwrap_or("refused"))),
    };
    let mut out = (status, axum::Json(crate::error::ErrorBody { error: kind, message })).into_response();
    for (k, v) in resp.headers() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

fn check(st: &AppState, req: Request, limit: BodyLimit, credential: bool) -> Result<Request, ApiError> {
    if credential {
        limit_attempts(st, client_ip(st, req.extensions(), req.headers()))?;
    }
    let BodyLimit::Bytes(max) = limit else { return Ok(req) };
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    if let Some(n) = declared.filter(|&n: &u64| n > max as u64) {
        return Err(base::err!(InvalidArgument, "body: {n} bytes; this endpoint takes at most {max}").into());
    }
    // A body without a length (chunked) is cut off at the limit while it is read.
    Ok(req.map(|b| Body::new(http_body_util::Limited::new(b, max))))
}

/// What every API response carries: no content sniffing (a photo is only ever an image), no
/// framing, no referrer, and no caching of private answers unless the handler chose a policy.
fn security_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_get_their_limits() {
        let check = |m: Method, p: &str, want: (BodyLimit, bool)| assert_eq!(route_class(&m, p), want, "{m} {p}");
        check(Method::POST, "/api/login", (BodyLimit::Bytes(CREDENTIAL_BODY_BYTES_MAX), true));
        check(Method::POST, "/api/signup", (BodyLimit::Bytes(CREDENTIAL_BODY_BYTES_MAX), true));
        check(Method::GET, "/api/pair/abc", (BodyLimit::Bytes(CREDENTIAL_BODY_BYTES_MAX), true));
        check(Method::POST, "/api/pair/abc", (BodyLimit::Bytes(CREDENTIAL_BODY_BYTES_MAX), true));
        check(Method::PUT, "/api/chunks/ab", (BodyLimit::Bytes(BLOB_BODY_BYTES_MAX), false));
        check(Method::POST, "/api/households/h/post-media", (BodyLimit::Bytes(BLOB_BODY_BYTES_MAX), false));
        check(Method::POST, "/api/device/live/s", (BodyLimit::Stream, false));
        check(Method::POST, "/api/talk/s", (BodyLimit::Bytes(crate::routes::talk::TALK_BODY_BYTES_MAX), false));
        check(Method::PUT, "/api/households/h/settings", (BodyLimit::Bytes(JSON_BODY_BYTES_MAX), false));
        check(Method::GET, "/api/login", (BodyLimit::Bytes(JSON_BODY_BYTES_MAX), false));
        check(Method::POST, "/api/pair/abc/extra", (BodyLimit::Bytes(JSON_BODY_BYTES_MAX), false));
    }
}
