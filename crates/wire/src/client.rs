//! The typed client: the one way the agent, the CLI and tests talk to a server.
//!
//! Every call sends a typed request and reads a typed reply. A failed request's
//! [`ErrorBody`] comes back as a `base::Error` of the same kind, its message prefixed
//! with the status; a reply that is not the promised type is `DataLoss`; an unreachable
//! server is `Unavailable`. [`retryable`] says which of these a caller should try again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base::{Error, ErrorKind};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{
    ChunkList, CompletePairing, DeviceKeysJson, DeviceSelf, DeviceStatus, ErrorBody, EventJson, KeysChallenge,
    LogEntriesJson, LogHeadJson, NewEvent, NewObject, ObjectJson, PairedReply, PairingOffer, PreparedJson, ProofJson,
    SetKeys, SignIn, SignInReply, SignUp, SignUpReply, StoredRoster, StoredSettings, TotpCode, WaitParams, WaitReply,
};

/// A server's base URL and the caller's credentials: a bearer token (a device's or an API
/// token), or a session this client signed up or in with (its cookie, and the CSRF value
/// every unsafe request then carries). Clones share the session.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    session: Arc<Mutex<Session>>,
}

#[derive(Default)]
struct Session {
    /// `name=value` of the session cookie the server last set.
    cookie: Option<String>,
    csrf: Option<String>,
}

/// Whether a failure may pass if the same request is made again later: the server or the
/// network failed, the server was busy, or the credentials are (for now) not accepted.
pub fn retryable(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Unavailable
            | ErrorKind::Internal
            | ErrorKind::DataLoss
            | ErrorKind::ResourceExhausted
            | ErrorKind::Unauthenticated
            | ErrorKind::Cancelled
    )
}

impl Client {
    /// A client for the server at `base` (`https://host[:port]`), with a 120 s limit on each
    /// whole request and 10 s on connecting.
    pub fn new(base: &str) -> Client {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("building an HTTP client");
        Client { http, base: base.trim_end_matches('/').to_owned(), token: None, session: Arc::default() }
    }

    /// The same server, calling with a bearer token (a device's or an API token).
    pub fn with_token(mut self, token: &str) -> Client {
        self.token = Some(token.to_owned());
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path` with this client's credentials, for the few calls whose body or
    /// reply is a stream (the live relay); [`Client::send`] reads its reply.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let safe = matches!(method, reqwest::Method::GET | reqwest::Method::HEAD);
        let mut rb = self.http.request(method, self.url(path));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        let s = self.session.lock().expect("session");
        if let Some(c) = &s.cookie {
            rb = rb.header(reqwest::header::COOKIE, c);
        }
        if let (Some(c), false) = (&s.csrf, safe) {
            rb = rb.header("x-csrf-token", c);
        }
        rb
    }

    /// Sends `rb` and reads a `T` from a success, or the server's error.
    pub async fn send<T: DeserializeOwned>(&self, rb: reqwest::RequestBuilder) -> Result<T, Error> {
        let (status, bytes) = self.send_raw(rb).await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                Error::new(ErrorKind::DataLoss, format!("the server's reply is not what the API promises: {e}"))
            });
        }
        Err(reply_error(status.as_u16(), &bytes))
    }

    /// Sends `rb` and returns the status and body as they came (keeping any session cookie
    /// the server set or cleared): the escape hatch for tests that must see exactly what a
    /// refused or malformed request is answered. Only an unreachable server is an error.
    pub async fn send_raw(&self, rb: reqwest::RequestBuilder) -> Result<(reqwest::StatusCode, Vec<u8>), Error> {
        let r = rb.send().await.map_err(|e| Error::wrap(ErrorKind::Unavailable, "reaching the server", e))?;
        let status = r.status();
        if let Some(c) = r.headers().get(reqwest::header::SET_COOKIE).and_then(|v| v.to_str().ok()) {
            // `name=` (with an expiry in the past) is the server ending the session.
            let pair = c.split(';').next().unwrap_or("").trim();
            self.session.lock().expect("session").cookie =
                (!pair.is_empty() && !pair.ends_with('=')).then(|| pair.to_owned());
        }
        let bytes =
            r.bytes().await.map_err(|e| Error::wrap(ErrorKind::Unavailable, "reading the server's reply", e))?;
        Ok((status, bytes.to_vec()))
    }

    /// The session's cookie (`name=value`) and CSRF value, if any.
    pub fn session(&self) -> (Option<String>, Option<String>) {
        let s = self.session.lock().expect("session");
        (s.cookie.clone(), s.csrf.clone())
    }

    /// A client of the same server with its own copy of a session (`cookie` as `name=value`,
    /// `csrf`), no longer shared with this one: a session carried to another address, or a
    /// request made deliberately without (or with the wrong) CSRF value.
    pub fn with_session(&self, cookie: Option<String>, csrf: Option<String>) -> Client {
        Client { session: Arc::new(Mutex::new(Session { cookie, csrf })), ..self.clone() }
    }

    /// Adopts the CSRF value a reply this client did not read itself handed out (a sign-in
    /// step sent through [`Client::send_raw`]).
    pub fn set_csrf(&self, csrf: Option<String>) {
        self.session.lock().expect("session").csrf = csrf;
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, Error> {
        self.send(self.request(reqwest::Method::POST, path).json(body)).await
    }

    pub async fn put<B: Serialize + ?Sized, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, Error> {
        self.send(self.request(reqwest::Method::PUT, path).json(body)).await
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }

    // An account's calls (a session).

    /// Signs up; the reply's session (password given, TOTP to enrol) is this client's.
    pub async fn signup(&self, email: &str, password: &str) -> Result<SignUpReply, Error> {
        let r: SignUpReply =
            self.post("/api/signup", &SignUp { email: email.to_owned(), password: password.to_owned() }).await?;
        self.set_csrf(Some(r.csrf.clone()));
        Ok(r)
    }

    /// Signs in with a password; the reply says the next step (a TOTP code, or enrolment),
    /// whose session is this client's.
    pub async fn login(&self, email: &str, password: &str) -> Result<SignInReply, Error> {
        let r: SignInReply =
            self.post("/api/login", &SignIn { email: email.to_owned(), password: password.to_owned() }).await?;
        self.set_csrf(Some(r.csrf.clone()));
        Ok(r)
    }

    /// The second step of signing in: a current TOTP code.
    pub async fn login_totp(&self, code: &str) -> Result<crate::Ok, Error> {
        self.post("/api/login/totp", &TotpCode { code: code.to_owned() }).await
    }

    /// Enrols the TOTP secret the sign-up gave with a current code: the session becomes a
    /// full one.
    pub async fn totp_confirm(&self, code: &str) -> Result<crate::Ok, Error> {
        self.post("/api/totp/confirm", &TotpCode { code: code.to_owned() }).await
    }

    pub async fn keys_challenge(&self) -> Result<KeysChallenge, Error> {
        self.get("/api/me/keys/challenge").await
    }

    pub async fn set_keys(&self, k: &SetKeys) -> Result<crate::Ok, Error> {
        self.put("/api/me/keys", k).await
    }

    // Pairing an agent (the single-use token is the credential).

    /// What a pairing token offers: the household and its owner's signed keys.
    pub async fn pairing_offer(&self, token: &str) -> Result<PairingOffer, Error> {
        self.get(&format!("/api/pair/{token}")).await
    }

    pub async fn complete_pairing(&self, token: &str, c: &CompletePairing) -> Result<PairedReply, Error> {
        self.post(&format!("/api/pair/{token}"), c).await
    }

    // The device's calls (a device token).

    pub async fn device_self(&self) -> Result<DeviceSelf, Error> {
        self.get("/api/device").await
    }

    /// Which of `chunks` (hex SHA-256) the server lacks.
    pub async fn missing_chunks(&self, chunks: Vec<String>) -> Result<ChunkList, Error> {
        self.post("/api/chunks/missing", &ChunkList { chunks }).await
    }

    pub async fn put_chunk(&self, sha256: &str, bytes: impl Into<reqwest::Body>) -> Result<crate::Ok, Error> {
        self.send(self.request(reqwest::Method::PUT, &format!("/api/chunks/{sha256}")).body(bytes)).await
    }

    pub async fn commit_object(&self, chunks: Vec<String>) -> Result<ObjectJson, Error> {
        self.post("/api/objects", &NewObject { chunks }).await
    }

    pub async fn commit_event(&self, e: &NewEvent) -> Result<EventJson, Error> {
        self.post("/api/events", e).await
    }

    pub async fn device_status(&self, s: &DeviceStatus) -> Result<crate::Ok, Error> {
        self.put("/api/device/status", s).await
    }

    pub async fn publish_device_keys(&self, k: &DeviceKeysJson) -> Result<crate::Ok, Error> {
        self.put("/api/device/keys", k).await
    }

    /// The household's roster; `None` until the owner has signed one.
    pub async fn device_roster(&self) -> Result<Option<StoredRoster>, Error> {
        absent_is_none(self.get("/api/device/roster").await)
    }

    /// The household's sealed settings; `None` until the owner has sealed any.
    pub async fn device_settings(&self) -> Result<Option<StoredSettings>, Error> {
        absent_is_none(self.get("/api/device/settings").await)
    }

    /// The long poll: returns once the roster or settings serial differs from `q`'s, a live
    /// request is waiting, or the server's wait is over.
    pub async fn device_wait(&self, q: &WaitParams) -> Result<WaitReply, Error> {
        let rb = self.request(reqwest::Method::GET, "/api/device/wait").query(q).timeout(Duration::from_secs(40));
        self.send(rb).await
    }

    /// Declares the clip prepared for session `session_id`.
    pub async fn device_prepared(&self, session_id: &str, p: &PreparedJson) -> Result<crate::Ok, Error> {
        self.put(&format!("/api/device/prepared/{session_id}"), p).await
    }

    // The transparency log (no credentials).

    pub async fn log_head(&self) -> Result<LogHeadJson, Error> {
        self.get("/api/log/head").await
    }

    /// The head the server signed at `size`; `None` when it signed none there.
    pub async fn log_head_at(&self, size: u64) -> Result<Option<LogHeadJson>, Error> {
        absent_is_none(self.get(&format!("/api/log/heads/{size}")).await)
    }

    pub async fn log_entries(&self, start: u64, end: u64) -> Result<LogEntriesJson, Error> {
        self.get(&format!("/api/log/entries?start={start}&end={end}")).await
    }

    pub async fn log_inclusion(&self, index: u64, size: u64) -> Result<ProofJson, Error> {
        self.get(&format!("/api/log/proof/inclusion?index={index}&size={size}")).await
    }

    pub async fn log_consistency(&self, from: u64, to: u64) -> Result<ProofJson, Error> {
        self.get(&format!("/api/log/proof/consistency?from={from}&to={to}")).await
    }
}

fn absent_is_none<T>(r: Result<T, Error>) -> Result<Option<T>, Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The error a failed reply (status `status`, body `body`: untrusted bytes) carries: the
/// kind the server named, else one from the status. Never panics.
pub fn reply_error(status: u16, body: &[u8]) -> Error {
    let status = reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => Error::new(b.error.into(), format!("the server said {status}: {}", b.message)),
        Err(_) => {
            let kind = match status.as_u16() {
                400 | 413 | 415 | 422 => ErrorKind::InvalidArgument,
                401 => ErrorKind::Unauthenticated,
                403 => ErrorKind::PermissionDenied,
                404 => ErrorKind::NotFound,
                409 => ErrorKind::FailedPrecondition,
                416 => ErrorKind::OutOfRange,
                429 => ErrorKind::ResourceExhausted,
                502..=504 => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            };
            Error::new(kind, format!("the server said {status} without an error body"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_error_keeps_its_kind_and_message() {
        let e = reply_error(409, br#"{"error":"failed_precondition","message":"home: set your home location first"}"#);
        assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
        assert!(e.msg().contains("home: set your home location first"), "{e}");
        assert!(!retryable(&e));
        let e = reply_error(429, br#"{"error":"resource_exhausted","message":"x"}"#);
        assert!(retryable(&e));
    }

    #[test]
    fn an_unknown_code_or_a_bare_status_still_has_a_kind() {
        let e = reply_error(418, br#"{"error":"from_the_future","message":"x"}"#);
        assert_eq!(e.kind(), ErrorKind::Internal);
        let e = reply_error(502, b"<html>proxy</html>");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(retryable(&e));
        let e = reply_error(404, b"");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        // Not even a status: a server error.
        assert_eq!(reply_error(7, b"").kind(), ErrorKind::Internal);
    }

    proptest::proptest! {
        /// Whatever a server answers, reading it never panics, and a failure's message
        /// always says the server said it.
        #[test]
        fn any_reply_is_read_without_panic(status in 0u16..1000, body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let e = reply_error(status, &body);
            proptest::prop_assert!(e.msg().starts_with("the server said "), "{e}");
            let _ = serde_json::from_slice::<crate::WaitReply>(&body);
            let _ = serde_json::from_slice::<crate::LiveOffer>(&body);
        }
    }
}
