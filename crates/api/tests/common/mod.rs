//! A real API server on a loopback port (in-process, with a clock the test moves), and
//! clients that sign up, sign in with TOTP and act as users or paired devices.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use porchlight_api as api;

use api::AppState;
use crypto::keys::Keyring;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const T0: i64 = 1_790_000_000_000;

pub struct Server {
    pub base: String,
    pub now: Arc<AtomicI64>,
    pub state: AppState,
    pub http: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

/// The account that runs the test server (it moderates neighbourhood posts).
pub const OPERATOR: &str = "operator@example.org";

impl Server {
    /// SQLite in a temporary folder and a local blob folder.
    pub async fn start_local() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("server.db").display());
        let loc = blob::Location::Local(dir.path().join("blobs"));
        Server::start(&url, &loc, Some(dir)).await
    }

    pub async fn start(db_url: &str, loc: &blob::Location, dir: Option<tempfile::TempDir>) -> Server {
        let db = db::server::Db::open(db_url).await.unwrap();
        let blobs = blob::BlobStore::open(loc).unwrap();
        let now = Arc::new(AtomicI64::new(T0));
        let n2 = now.clone();
        let settings = api::Settings {
            secure_cookies: false,
            auth_attempts_per_minute: 10_000,
            operators: vec![OPERATOR.to_owned()],
            ..Default::default()
        };
        let state = AppState::new(db, blobs, settings, Arc::new(move || n2.load(Ordering::SeqCst)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = api::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { base: format!("http://{addr}"), now, state, http: reqwest::Client::new(), _dir: dir }
    }

    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    /// Signs up, confirms TOTP and returns a signed-in user.
    pub async fn user(&self, email: &str) -> Client {
        let mut c = Client::anonymous(self);
        let r = c.call(Method::POST, "/api/signup", Some(json!({"email": email, "password": "a long password"}))).await;
        assert_eq!(r.0, StatusCode::OK, "signup {email}: {}", r.1);
        c.csrf = r.1["csrf"].as_str().map(str::to_owned);
        let secret = api::secrets::base32_rfc4648_decode(r.1["totp_secret"].as_str().unwrap()).unwrap();
        c.account_id = r.1["account_id"].as_str().unwrap().to_owned();
        let code = format!("{:06}", api::secrets::totp_at(&secret, self.now() / 30_000));
        let r = c.call(Method::POST, "/api/totp/confirm", Some(json!({"code": code}))).await;
        assert_eq!(r.0, StatusCode::OK, "totp confirm: {}", r.1);
        c.totp = secret;
        c
    }
}

/// A caller: a cookie session (with its CSRF value), a bearer token, or nothing.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
    pub account_id: String,
    pub totp: Vec<u8>,
}

impl Client {
    pub fn anonymous(s: &Server) -> Client {
        Client {
            base: s.base.clone(),
            http: s.http.clone(),
            cookie: None,
            csrf: None,
            bearer: None,
            account_id: String::new(),
            totp: Vec::new(),
        }
    }

    pub fn bearer(s: &Server, token: &str) -> Client {
        Client { bearer: Some(token.to_owned()), ..Client::anonymous(s) }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            rb = rb.header("cookie", c);
        }
        if let Some(c) = &self.csrf {
            rb = rb.header("x-csrf-token", c);
        }
        if let Some(b) = &self.bearer {
            rb = rb.header("authorization", format!("Bearer {b}"));
        }
        rb
    }

    /// Sends JSON (or nothing), keeps any new session cookie, returns status and JSON body
    /// (`Value::Null` when the body is not JSON).
    pub async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        if let Some(sc) = resp.headers().get("set-cookie") {
            let v = sc.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = if v.ends_with('=') { None } else { Some(v) };
        }
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn ok(&mut self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method.clone(), path, body).await;
        assert!(s.is_success(), "{method} {path}: {s} {v}");
        v
    }
}

/// The owner's keys, uploaded; a household; a paired device with its keys.
pub struct Home {
    pub owner: Client,
    pub owner_keys: Keyring,
    pub household: String,
    pub device: Client,
    pub device_id: String,
    pub device_keys: Keyring,
}

pub async fn home(s: &Server, email: &str) -> Home {
    let mut owner = s.user(email).await;
    let owner_keys = Keyring::generate(email, s.now()).unwrap();
    owner
        .ok(Method::PUT, "/api/me/keys", Some(json!({"public_keys": crypto::keys::hex(&owner_keys.public().encode())})))
        .await;
    let h = owner.ok(Method::POST, "/api/households", Some(json!({"name": "Home"}))).await;
    let household = h["id"].as_str().unwrap().to_owned();
    let (device, device_id, device_keys) = pair(s, &mut owner, &household, "porch").await;
    Home { owner, owner_keys, household, device, device_id, device_keys }
}

pub async fn pair(s: &Server, owner: &mut Client, household: &str, name: &str) -> (Client, String, Keyring) {
    let p = owner.ok(Method::POST, &format!("/api/households/{household}/pairings"), None).await;
    let token = p["token"].as_str().unwrap();
    let keys = Keyring::generate(name, s.now()).unwrap();
    let mut anon = Client::anonymous(s);
    let offer = anon.ok(Method::GET, &format!("/api/pair/{token}"), None).await;
    assert_eq!(offer["household_id"], household);
    let r = anon
        .ok(
            Method::POST,
            &format!("/api/pair/{token}"),
            Some(json!({"name": name, "identity": crypto::keys::hex(&keys.public().identity.to_bytes())})),
        )
        .await;
    let device = Client::bearer(s, r["token"].as_str().unwrap());
    (device, r["device_id"].as_str().unwrap().to_owned(), keys)
}

/// Seals `plaintext` as `kind` on `camera` for the owner and uploads it in chunks of
/// `chunk` bytes; returns the object id.
pub async fn upload(
    home: &Home,
    kind: crypto::object::Kind,
    camera: &str,
    start_ms: i64,
    end_ms: i64,
    plaintext: &[u8],
    chunk: usize,
) -> String {
    let meta = crypto::object::Meta { kind, camera: camera.to_owned(), start_ms, end_ms };
    let sealed =
        crypto::object::seal(&home.device_keys.identity, meta, &[home.owner_keys.public().encryption], plaintext)
            .unwrap();
    upload_sealed(&home.device, &sealed, chunk).await
}

pub async fn upload_sealed(device: &Client, sealed: &[u8], chunk: usize) -> String {
    let hashes: Vec<String> = sealed.chunks(chunk).map(blob::chunk_hash).collect();
    let mut d = device.clone();
    let missing = d.ok(Method::POST, "/api/chunks/missing", Some(json!({"chunks": hashes}))).await;
    let missing: Vec<&str> = missing["chunks"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for (h, c) in hashes.iter().zip(sealed.chunks(chunk)) {
        if missing.contains(&h.as_str()) {
            let r = d.request(Method::PUT, &format!("/api/chunks/{h}")).body(c.to_vec()).send().await.unwrap();
            assert!(r.status().is_success(), "put chunk: {}", r.status());
        }
    }
    let o = d.ok(Method::POST, "/api/objects", Some(json!({"chunks": hashes}))).await;
    o["id"].as_str().unwrap().to_owned()
}

/// Uploads an event: metadata, snapshot and clip objects, then the event row.
pub async fn event(home: &Home, camera: &str, start_ms: i64, end_ms: i64) -> Value {
    use crypto::object::Kind;
    let meta = upload(home, Kind::Event, camera, start_ms, end_ms, br#"{"labels":["person"]}"#, 1 << 20).await;
    let snap = upload(home, Kind::Snapshot, camera, start_ms, start_ms, b"\xff\xd8 a jpeg \xff\xd9", 1 << 20).await;
    let clip = upload(home, Kind::Clip, camera, start_ms, end_ms, &vec![7u8; 300_000], 100_000).await;
    let mut id = [0u8; 16];
    crypto::random_bytes(&mut id);
    let mut d = home.device.clone();
    d.ok(
        Method::POST,
        "/api/events",
        Some(json!({"id": crypto::keys::hex(&id), "meta_object": meta, "snapshot_object": snap, "clip_object": clip})),
    )
    .await
}
