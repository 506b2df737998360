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
    pub db_url: String,
    _dir: Option<tempfile::TempDir>,
}

/// The account that runs the test server (it moderates neighbourhood posts).
pub const OPERATOR: &str = "operator@example.org";

/// What the test server's Prometheus scraper presents.
pub const METRICS_TOKEN: &str = "a-metrics-token-for-the-tests";

impl Server {
    /// SQLite in a temporary folder and a local blob folder.
    pub async fn start_local() -> Server {
        Server::start_local_with(|_| {}).await
    }

    /// Like `start_local`, with `change` applied to the test settings first.
    pub async fn start_local_with(change: impl FnOnce(&mut api::Settings)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("server.db").display());
        let loc = blob::Location::Local(dir.path().join("blobs"));
        Server::start_with(&url, &loc, Some(dir), change).await
    }

    pub async fn start(db_url: &str, loc: &blob::Location, dir: Option<tempfile::TempDir>) -> Server {
        Server::start_with(db_url, loc, dir, |_| {}).await
    }

    pub async fn start_with(
        db_url: &str,
        loc: &blob::Location,
        dir: Option<tempfile::TempDir>,
        change: impl FnOnce(&mut api::Settings),
    ) -> Server {
        let db = db::server::Db::open(db_url).await.unwrap();
        let blobs = blob::BlobStore::open(loc).unwrap();
        let now = Arc::new(AtomicI64::new(T0));
        let n2 = now.clone();
        let mut settings = api::Settings {
            secure_cookies: false,
            auth_attempts_per_minute: 10_000,
            operators: vec![OPERATOR.to_owned()],
            metrics_token: Some(METRICS_TOKEN.to_owned()),
            ..Default::default()
        };
        change(&mut settings);
        let state = AppState::new(db, blobs, settings, Arc::new(move || n2.load(Ordering::SeqCst)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = api::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server {
            base: format!("http://{addr}"),
            now,
            state,
            http: reqwest::Client::new(),
            db_url: db_url.to_owned(),
            _dir: dir,
        }
    }

    /// Everything the server stores: every table's rows, sorted (read with SQLite's own
    /// library, not through the server, or as PostgreSQL's text of each row), and every
    /// blob's name and size (a blob's name is its SHA-256). Two equal snapshots mean nothing
    /// was written, deleted or changed in between.
    pub async fn snapshot(&self) -> Snapshot {
        let mut tables = std::collections::BTreeMap::new();
        if let Some(path) = self.db_url.strip_prefix("sqlite:") {
            let conn = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .unwrap();
            let names: Vec<String> = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for t in names {
                let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
                let n = stmt.column_count();
                let mut rows: Vec<String> = stmt
                    .query_map([], |r| {
                        Ok((0..n).map(|i| format!("{:?}", r.get_ref(i).unwrap())).collect::<Vec<_>>().join(" | "))
                    })
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                rows.sort();
                tables.insert(t, rows);
            }
        } else {
            use sqlx::Row;
            let pool = self.state.db.pool();
            let names: Vec<String> = sqlx::query(
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema()",
            )
            .fetch_all(pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
            for t in names {
                let mut rows: Vec<String> =
                    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT CAST(t AS TEXT) FROM \"{t}\" AS t")))
                        .fetch_all(pool)
                        .await
                        .unwrap()
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                rows.sort();
                tables.insert(t, rows);
            }
        }
        let blobs =
            self.state.blobs.list_chunks().await.unwrap().into_iter().map(|(h, n)| (h, n.to_string())).collect();
        Snapshot { tables, blobs }
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

/// What [`Server::snapshot`] read.
#[derive(PartialEq, Eq)]
pub struct Snapshot {
    pub tables: std::collections::BTreeMap<String, Vec<String>>,
    pub blobs: std::collections::BTreeMap<String, String>,
}

impl Snapshot {
    /// The tables (and "blobs") that differ from `after`, each with the rows only one side
    /// has; empty when nothing changed.
    pub fn changes(&self, after: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        let names: std::collections::BTreeSet<&String> = self.tables.keys().chain(after.tables.keys()).collect();
        let empty = Vec::new();
        for t in names {
            let (a, b) = (self.tables.get(t).unwrap_or(&empty), after.tables.get(t).unwrap_or(&empty));
            if a != b {
                let gone: Vec<&String> = a.iter().filter(|r| !b.contains(r)).collect();
                let new: Vec<&String> = b.iter().filter(|r| !a.contains(r)).collect();
                out.push(format!("table {t}: removed {gone:?}, added {new:?}"));
            }
        }
        if self.blobs != after.blobs {
            out.push(format!("blobs: {} before, {} after", self.blobs.len(), after.blobs.len()));
        }
        out
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

    /// Uploads `keys`' public bundle with the proof of possession the server asks for:
    /// the identity key's signature over this account's current challenge.
    pub async fn set_keys(&mut self, keys: &Keyring) -> (StatusCode, Value) {
        let c = self.ok(Method::GET, "/api/me/keys/challenge", None).await;
        let challenge: [u8; 32] = crypto::keys::unhex(c["challenge"].as_str().unwrap()).unwrap().try_into().unwrap();
        let proof = crypto::keys::prove_possession(&keys.identity, &challenge);
        let body =
            json!({"public_keys": crypto::keys::hex(&keys.public().encode()), "proof": crypto::keys::hex(&proof)});
        self.call(Method::PUT, "/api/me/keys", Some(body)).await
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
    let (st, v) = owner.set_keys(&owner_keys).await;
    assert_eq!(st, StatusCode::OK, "keys: {v}");
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
