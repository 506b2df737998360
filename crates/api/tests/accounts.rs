//! Sign-in security: both factors required, TOTP codes cannot be replayed, password
//! guessing locks the account, writes with a session cookie need the CSRF value, per-address
//! rate limits, bad input is a 4xx naming the field, and security events are logged.

mod common;

use porchlight_api as api;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn login(s: &Server, email: &str, pw: &str) -> (Client, StatusCode, serde_json::Value) {
    let mut c = Client::anonymous(s);
    let (st, v) = c.call(Method::POST, "/api/login", Some(json!({"email": email, "password": pw}))).await;
    c.set_csrf(v["csrf"].as_str().map(str::to_owned));
    (c, st, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_factors_are_required_and_codes_are_single_use() {
    let s = Server::start_local().await;
    let u = s.user("a@example.org").await;
    s.advance(30_000);
    let (mut c, st, v) = login(&s, "a@example.org", "a long password").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["next"], "totp");
    assert!(v["totp_url"].is_null(), "an enrolled secret is never shown again");
    // The password alone opens nothing.
    let (st, _) = c.call(Method::GET, "/api/session", None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let code = format!("{:06}", api::secrets::totp_at(&u.totp, s.now() / 30_000));
    let (st, v) = c.call(Method::POST, "/api/login/totp", Some(json!({"code": code.clone()}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(c.call(Method::GET, "/api/session", None).await.0, StatusCode::OK);
    // The same code again, in another session, is refused.
    let (mut c2, _, _) = login(&s, "a@example.org", "a long password").await;
    let (st, v) = c2.call(Method::POST, "/api/login/totp", Some(json!({"code": code}))).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    assert!(v["message"].as_str().unwrap().contains("already used"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_sign_up_can_be_finished_and_opens_nothing_before() {
    let s = Server::start_local().await;
    let mut c = Client::anonymous(&s);
    let r = c
        .call(Method::POST, "/api/signup", Some(json!({"email": "e@example.org", "password": "a long password"})))
        .await;
    assert_eq!(r.0, StatusCode::OK);
    // Nothing opens before the second factor.
    c.set_csrf(r.1["csrf"].as_str().map(str::to_owned));
    assert_eq!(c.call(Method::POST, "/api/households", Some(json!({"name": "x"}))).await.0, StatusCode::UNAUTHORIZED);
    // Signing in again shows the secret once more, and confirming it finishes sign-up.
    let (mut c2, st, v) = login(&s, "e@example.org", "a long password").await;
    assert_eq!((st, v["next"].as_str()), (StatusCode::OK, Some("enrol")));
    let url = v["totp_url"].as_str().unwrap();
    let secret = url.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    let secret = api::secrets::base32_rfc4648_decode(secret).unwrap();
    let code = format!("{:06}", api::secrets::totp_at(&secret, s.now() / 30_000));
    let (st, v) = c2.call(Method::POST, "/api/totp/confirm", Some(json!({"code": code}))).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(c2.call(Method::POST, "/api/households", Some(json!({"name": "x"}))).await.0, StatusCode::OK);
}

/// Signs in through the test's trusted proxy, as a client at `from`.
async fn login_from(s: &Server, from: &str, email: &str, pw: &str) -> (StatusCode, serde_json::Value) {
    let r = s
        .http
        .post(format!("{}/api/login", s.base))
        .header("x-forwarded-for", format!("192.0.2.99, {from}"))
        .json(&json!({"email": email, "password": pw}))
        .send()
        .await
        .unwrap();
    let st = r.status();
    (st, r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_locks_out_only_the_guesser() {
    // Behind a proxy on loopback, as the README sets the server up.
    let s =
        Server::start_local_with(|st| st.trusted_proxies = vec![api::state::Cidr::parse("127.0.0.1").unwrap()]).await;
    let u = s.user("b@example.org").await;
    let (guesser, owner) = ("203.0.113.7", "198.51.100.2");
    let (_, wrong) = login_from(&s, guesser, "b@example.org", "wrong password!").await;
    for _ in 1..5 {
        let (st, _) = login_from(&s, guesser, "b@example.org", "wrong password!").await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
    }
    // The guesser is locked out: even the right password gets exactly a wrong password's
    // answer, which tells nothing about the account or the lock.
    let (st, v) = login_from(&s, guesser, "b@example.org", "a long password").await;
    assert_eq!((st, &v), (StatusCode::UNAUTHORIZED, &wrong), "{v}");
    // Another IPv6 address in the guesser's /64 is the same source.
    let (st, _) = login_from(&s, "2001:db8:1:2::5", "b@example.org", "wrong password!").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // The owner, elsewhere, signs in; so does anyone the proxy did not vouch for: a
    // forwarded address from a peer that is not a trusted proxy is not believed.
    let (st, v) = login_from(&s, owner, "b@example.org", "a long password").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    s.advance(15 * 60_000 + 1);
    let (st, _) = login_from(&s, guesser, "b@example.org", "a long password").await;
    assert_eq!(st, StatusCode::OK);
    // The owner sees what happened.
    let mut owner = u.clone();
    let evs = owner.ok(Method::GET, "/api/me/security-events", None).await;
    let kinds: Vec<&str> = evs.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"login_failed") && kinds.contains(&"login_locked"), "{kinds:?}");
    // Unknown addresses get the same answer as wrong passwords.
    let (_, st, v) = login(&s, "nobody@example.org", "whatever it is").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(v["message"], "email or password: wrong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_writes_need_the_csrf_value() {
    let s = Server::start_local().await;
    let u = s.user("c@example.org").await;
    let mut no_csrf = u.with_csrf(None);
    let (st, v) = no_csrf.call(Method::POST, "/api/households", Some(json!({"name": "x"}))).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(v["message"].as_str().unwrap().starts_with("x-csrf-token"), "{v}");
    let mut wrong = u.with_csrf(Some("0".repeat(32)));
    assert_eq!(wrong.call(Method::POST, "/api/households", Some(json!({"name": "x"}))).await.0, StatusCode::FORBIDDEN);
    // Reads need none; a bearer token needs none.
    assert_eq!(no_csrf.call(Method::GET, "/api/session", None).await.0, StatusCode::OK);
    let mut ok = u.clone();
    let t = ok.ok(Method::POST, "/api/me/tokens", Some(json!({"label": "script"}))).await;
    let mut bearer = Client::bearer(&s, t["token"].as_str().unwrap());
    assert_eq!(bearer.call(Method::POST, "/api/households", Some(json!({"name": "x"}))).await.0, StatusCode::OK);
    // A token cannot mint tokens; a deleted token stops working.
    assert_eq!(bearer.call(Method::POST, "/api/me/tokens", Some(json!({"label": "y"}))).await.0, StatusCode::FORBIDDEN);
    ok.ok(Method::DELETE, &format!("/api/me/tokens/{}", t["id"].as_str().unwrap()), None).await;
    assert_eq!(bearer.call(Method::GET, "/api/session", None).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_4xx_naming_the_field_and_changes_nothing() {
    let s = Server::start_local().await;
    let mut u = s.user("d@example.org").await;
    let cases: Vec<(Method, String, Option<serde_json::Value>, StatusCode, &str)> = vec![
        (
            Method::POST,
            "/api/signup".into(),
            Some(json!({"email": "nope", "password": "a long password"})),
            StatusCode::BAD_REQUEST,
            "email:",
        ),
        (
            Method::POST,
            "/api/signup".into(),
            Some(json!({"email": "e@example.org", "password": "short"})),
            StatusCode::BAD_REQUEST,
            "password:",
        ),
        (
            Method::POST,
            "/api/signup".into(),
            Some(json!({"email": "d@example.org", "password": "a long password"})),
            StatusCode::CONFLICT,
            "email:",
        ),
        (Method::POST, "/api/households".into(), Some(json!({"name": ""})), StatusCode::BAD_REQUEST, "name:"),
        (
            Method::POST,
            "/api/households".into(),
            Some(json!({"name": "x", "colour": 1})),
            StatusCode::BAD_REQUEST,
            "unknown field `colour`",
        ),
        (Method::GET, "/api/households/xyz".into(), None, StatusCode::BAD_REQUEST, "household id:"),
        (
            Method::PUT,
            "/api/me/keys".into(),
            Some(json!({"public_keys": "zz", "proof": "00"})),
            StatusCode::BAD_REQUEST,
            "public_keys:",
        ),
        (
            Method::PUT,
            "/api/me/keys".into(),
            Some(json!({"public_keys": "00", "proof": "00"})),
            StatusCode::BAD_REQUEST,
            "public_keys:",
        ),
        (Method::GET, "/api/nowhere".into(), None, StatusCode::NOT_FOUND, "no such endpoint"),
    ];
    for (m, path, body, want, field) in cases {
        let before = s.snapshot().await;
        let (st, v) = u.call(m.clone(), &path, body).await;
        assert_eq!(st, want, "{m} {path}: {v}");
        assert!(v["message"].as_str().unwrap_or("").contains(field), "{m} {path}: {v} lacks {field:?}");
        assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new(), "{m} {path} was refused but changed");
    }
    let h = u.ok(Method::POST, "/api/households", Some(json!({"name": "Home"}))).await;
    let hid = h["id"].as_str().unwrap();
    for (body, field) in [
        (json!({"retention_days": -1}), "retention_days:"),
        (json!({"retention_days": 99999}), "retention_days:"),
        (json!({"webhook_url": "ftp://x"}), "webhook_url:"),
        (json!({"name": "ok", "retention_bytes": -5}), "retention_bytes:"),
    ] {
        let before = s.snapshot().await;
        let (st, v) = u.call(Method::PATCH, &format!("/api/households/{hid}"), Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["message"].as_str().unwrap().contains(field), "{v}");
        assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new(), "a refused PATCH changed something");
    }
    // Names count characters, and refuse the controls that make text read otherwise.
    let (st, v) = u.call(Method::PATCH, &format!("/api/households/{hid}"), Some(json!({"name": "é".repeat(64)}))).await;
    assert_eq!(st, StatusCode::OK, "64 characters of two bytes each: {v}");
    for (name, want) in [
        ("é".repeat(65), "name: expected 1 to 64 characters, got 65"),
        ("photo\u{202E}gpj.exe".to_owned(), "name: bidirectional control characters"),
        ("a\u{2066}b".to_owned(), "name: bidirectional control characters"),
    ] {
        let before = s.snapshot().await;
        let (st, v) = u.call(Method::PATCH, &format!("/api/households/{hid}"), Some(json!({"name": name}))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["message"].as_str().unwrap().starts_with(want), "{v}");
        assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new());
    }
    u.ok(Method::PATCH, &format!("/api/households/{hid}"), Some(json!({"name": "Home"}))).await;
    // Retention is for the household's cameras only.
    let before = s.snapshot().await;
    let (st, v) = u
        .call(
            Method::PUT,
            &format!("/api/households/{hid}/cameras/nosuch/retention"),
            Some(json!({"retention_days": 7})),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("camera:"), "{v}");
    assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new());
    // Nothing changed: the name from the failed request that also had a good field stays.
    let h = u.ok(Method::GET, &format!("/api/households/{hid}"), None).await;
    assert_eq!((h["name"].as_str(), h["retention_days"].as_i64()), (Some("Home"), Some(30)));
    for (body, field) in [
        (json!({"role": "owner"}), "role:"),
        (json!({"role": "guest"}), "window_until_ms: required"),
        (json!({"role": "guest", "window_until_ms": 1}), "window_until_ms: must be in the future"),
        (json!({"role": "full", "window_until_ms": 1}), "window_from_ms:"),
        (json!({"role": "standard", "expires_in_s": 5}), "expires_in_s:"),
        (json!({"role": "guest", "window_until_ms": i64::MAX}), "window_until_ms: a guest's access lasts at most"),
        (json!({"role": "limited", "window_from_ms": i64::MIN}), "window_from_ms: expected a time within 100 years"),
        (json!({"role": "limited", "window_until_ms": i64::MAX}), "window_until_ms: expected a time within 100 years"),
    ] {
        let before = s.snapshot().await;
        let (st, v) = u.call(Method::POST, &format!("/api/households/{hid}/invitations"), Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["message"].as_str().unwrap().contains(field), "{v}");
        assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new(), "a refused invitation changed something");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_rate_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let db = db::server::Db::open(&format!("sqlite:{}", dir.path().join("s.db").display())).await.unwrap();
    let blobs = blob::BlobStore::open(&blob::Location::Local(dir.path().join("b"))).unwrap();
    // A forwarded address from a peer that is not a trusted proxy is not believed: the
    // attempts all count against the peer.
    let settings = api::Settings { auth_attempts_per_minute: 3, secure_cookies: false, ..Default::default() };
    let state = api::AppState::new(db, blobs, settings, std::sync::Arc::new(|| T0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, api::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
            .await
            .unwrap()
    });
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = http
            .post(format!("http://{addr}/api/login"))
            .header("x-forwarded-for", format!("203.0.113.{}", statuses.len()))
            .json(&json!({"email": "x@example.org", "password": "whatever it is"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![401, 401, 401, 429]);
}

/// Sends only a request's head, declaring `len` bytes of body that never come, and returns
/// the answer: a limit checked before the body is read answers at once.
async fn head_only(s: &Server, path: &str, len: usize, c: Option<&Client>) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.base.strip_prefix("http://").unwrap();
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head =
        format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n");
    if let Some(c) = c {
        head.push_str(&format!("cookie: {}\r\nx-csrf-token: {}\r\n", c.session().0.unwrap(), c.session().1.unwrap()));
    }
    head.push_str("\r\n");
    sock.write_all(head.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let answer = loop {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), sock.read(&mut buf))
            .await
            .expect("no answer before the body: the server waited for it")
            .unwrap();
        assert!(n > 0, "closed without an answer");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(i) = text.find("\r\n\r\n") {
            let clen: usize = text
                .lines()
                .find_map(|l| l.to_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap_or(0);
            if got.len() >= i + 4 + clen {
                break text;
            }
        }
    };
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_bodies_are_refused_before_they_are_read() {
    let s = Server::start_local().await;
    // A sign-in takes 16 KiB at most, and is refused on its declared length alone.
    let (st, v) = head_only(&s, "/api/login", 8 << 20, None).await;
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("body: "), "{v}");
    // Sent without a length: cut off at the sign-in limit while it is read. (Just over the
    // limit, so the client has sent everything before the server answers and closes.)
    let over = format!("{{\"email\": \"x@example.org\", \"password\": \"{}\"}}", "p".repeat(20 * 1024));
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = over.as_bytes().chunks(4096).map(|c| Ok(c.to_vec())).collect();
    let r = s
        .http
        .post(format!("{}/api/login", s.base))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    // A JSON route takes a megabyte at most.
    let u = s.user("big@example.org").await;
    let (st, v) = head_only(&s, "/api/households", (1 << 20) + 1, Some(&u)).await;
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("body: "), "{v}");
    // Anonymous attempts are counted before their bodies are read: with the limit spent,
    // the next one is refused as soon as its head arrives.
    let tight = Server::start_local_with(|st| st.auth_attempts_per_minute = 2).await;
    for _ in 0..2 {
        assert_eq!(head_only(&tight, "/api/login", 8 << 20, None).await.0, 400);
    }
    let (st, v) = head_only(&tight, "/api/login", 100, None).await;
    assert_eq!(st, 429, "{v}");
    // Every API answer, errors included, forbids sniffing and framing.
    for path in ["/api/health", "/api/nowhere", "/api/session"] {
        let r = s.http.get(format!("{}{path}", s.base)).send().await.unwrap();
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert!(h["content-security-policy"].to_str().unwrap().contains("default-src 'none'"), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_operators_token() {
    let s = Server::start_local().await;
    let url = format!("{}/metrics", s.base);
    assert_eq!(s.http.get(&url).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.http.get(&url).bearer_auth("a-wrong-token-of-some-length").send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let mut owner = s.user("m@example.org").await;
    assert_eq!(owner.call(Method::GET, "/metrics", None).await.0, StatusCode::UNAUTHORIZED);
    let r = s.http.get(&url).bearer_auth(METRICS_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("porchlight_logins_total 1\n"));
    // Without a token configured, nobody reads them.
    let closed = Server::start_local_with(|st| st.metrics_token = None).await;
    let r = closed.http.get(format!("{}/metrics", closed.base)).bearer_auth(METRICS_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

/// The database never holds a TOTP secret in the clear: it holds it sealed with the
/// server's TOTP key, bound to the account, and sign-in opens it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_secrets_are_sealed_at_rest() {
    let s = Server::start_local().await;
    let u = s.user("sealed@example.org").await;
    let stored = s.state.db.account_by_email("sealed@example.org").await.unwrap().unwrap().totp_secret.unwrap();
    assert!(api::totp_keys::is_sealed(&stored), "stored in the clear");
    assert!(!stored.windows(u.totp.len()).any(|w| w == u.totp.as_slice()), "the secret is in the row");
    let snap = s.snapshot().await;
    let hex = crypto::keys::hex(&u.totp).to_uppercase();
    assert!(!snap.tables["account"].iter().any(|r| r.to_uppercase().contains(&hex)));
    assert_eq!(&s.state.settings.totp_keys.open(&u.account_id, &stored).unwrap()[..], u.totp.as_slice());
    // A secret from before sealing existed is sealed by the pass the server runs at start.
    s.state.db.replace_totp_secret(&u.account_id, &stored, &u.totp).await.unwrap();
    assert_eq!(api::totp_keys::reseal(&s.state.db, &s.state.settings.totp_keys).await.unwrap(), 1);
    let again = s.state.db.account_by_email("sealed@example.org").await.unwrap().unwrap().totp_secret.unwrap();
    assert!(api::totp_keys::is_sealed(&again));
    // And signing in with a code still works.
    s.advance(30_000);
    let (mut c, st, _) = login(&s, "sealed@example.org", "a long password").await;
    assert_eq!(st, StatusCode::OK);
    let code = format!("{:06}", api::secrets::totp_at(&u.totp, s.now() / 30_000));
    c.ok(Method::POST, "/api/login/totp", Some(json!({"code": code}))).await;
}
