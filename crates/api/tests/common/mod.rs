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

use serde_json::Value;

pub const T0: i64 = 1_790_000_000_000;

pub struct Server {
    pub base: String,
    pub now: Arc<AtomicI64>,
    pub state: AppState,
    pub http: reqwest::Client,
    pub db_url: String,
    /// The server's webhook and push workers (the others are the binary's, tested there);
    /// stopped when the server is dropped.
    _workers: (base::shutdown::Sender, base::worker::Workers),
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
        let (stop, stopped) = base::shutdown::channel();
        let mut workers = base::worker::Workers::new();
        workers.spawn(api::webhook::Sender::new(&state, api::webhook::Queue::Webhooks), stopped.clone());
        workers.spawn(api::webhook::Sender::new(&state, api::webhook::Queue::Push), stopped);
        *state.workers.lock().unwrap() = workers.status_handle();
        Server {
            base: format!("http://{addr}"),
            now,
            state,
            http: reqwest::Client::new(),
            db_url: db_url.to_owned(),
            _workers: (stop, workers),
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
        let r = c.signup(email, "a long password").await.unwrap_or_else(|e| panic!("signup {email}: {e}"));
        let secret = api::secrets::base32_rfc4648_decode(&r.totp_secret).unwrap();
        c.account_id = r.account_id;
        let code = format!("{:06}", api::secrets::totp_at(&secret, self.now() / 30_000));
        c.totp_confirm(&code).await.unwrap();
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

/// A caller: the typed client (a cookie session with its CSRF value, a bearer token, or
/// nothing), which every request goes through, and what the test knows of the account.
/// Typed calls are the typed client's own (through `Deref`); [`Client::call`] and
/// [`Client::ok`] send any JSON and return the status and JSON as they came, for tests of
/// refusals and of the exact wire format.
pub struct Client {
    pub api: wire::client::Client,
    pub account_id: String,
    pub totp: Vec<u8>,
}

/// A clone is the same caller with its own copy of the session as it is now: a new
/// session cookie one clone is handed (a sign-in, a sign-out) is not the other's.
impl Clone for Client {
    fn clone(&self) -> Client {
        let (cookie, csrf) = self.session();
        Client {
            api: self.api.with_session(cookie, csrf),
            account_id: self.account_id.clone(),
            totp: self.totp.clone(),
        }
    }
}

impl std::ops::Deref for Client {
    type Target = wire::client::Client;
    fn deref(&self) -> &wire::client::Client {
        &self.api
    }
}

impl Client {
    pub fn anonymous(s: &Server) -> Client {
        Client { api: wire::client::Client::new(&s.base), account_id: String::new(), totp: Vec::new() }
    }

    pub fn bearer(s: &Server, token: &str) -> Client {
        Client { api: wire::client::Client::new(&s.base).with_token(token), ..Client::anonymous(s) }
    }

    /// This caller's session with `csrf` instead of its own CSRF value (a forged or missing
    /// one), not shared with this client.
    pub fn with_csrf(&self, csrf: Option<String>) -> Client {
        Client {
            api: self.api.with_session(self.session().0, csrf),
            account_id: self.account_id.clone(),
            totp: self.totp.clone(),
        }
    }

    /// Sends JSON (or nothing) and returns status and JSON body (`Value::Null` when the
    /// body is not JSON), whatever the status.
    pub async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let (status, bytes) = self.send_raw(rb).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Uploads `keys`' public bundle with the proof of possession the server asks for:
    /// the identity key's signature over this account's current challenge.
    pub async fn set_keys(&self, keys: &Keyring) -> Result<wire::Ok, base::Error> {
        let c = self.keys_challenge().await?;
        let challenge: [u8; 32] = crypto::keys::unhex(&c.challenge).unwrap().try_into().unwrap();
        let proof = crypto::keys::prove_possession(&keys.identity, &challenge);
        self.api
            .set_keys(&wire::SetKeys {
                public_keys: crypto::keys::hex(&keys.public().encode()),
                proof: crypto::keys::hex(&proof),
                key_backup: None,
            })
            .await
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
    owner.set_keys(&owner_keys).await.unwrap();
    let h: wire::HouseholdJson =
        owner.post("/api/households", &wire::NewHousehold { name: "Home".into() }).await.unwrap();
    let (device, device_id, device_keys) = pair(s, &mut owner, &h.id, "porch").await;
    Home { owner, owner_keys, household: h.id, device, device_id, device_keys }
}

pub async fn pair(s: &Server, owner: &mut Client, household: &str, name: &str) -> (Client, String, Keyring) {
    let p: wire::PairingReply =
        owner.send(owner.request(Method::POST, &format!("/api/households/{household}/pairings"))).await.unwrap();
    let keys = Keyring::generate(name, s.now()).unwrap();
    let anon = Client::anonymous(s);
    let offer = anon.pairing_offer(&p.token).await.unwrap();
    assert_eq!(offer.household_id, household);
    let r = anon
        .complete_pairing(
            &p.token,
            &wire::CompletePairing {
                name: name.to_owned(),
                identity: crypto::keys::hex(&keys.public().identity.to_bytes()),
            },
        )
        .await
        .unwrap();
    (Client::bearer(s, &r.token), r.device_id, keys)
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
    let missing = device.missing_chunks(hashes.clone()).await.unwrap().chunks;
    for (h, c) in hashes.iter().zip(sealed.chunks(chunk)) {
        if missing.contains(h) {
            device.put_chunk(h, c.to_vec()).await.unwrap();
        }
    }
    device.commit_object(hashes).await.unwrap().id
}

/// Uploads an event: metadata, snapshot and clip objects, then the event row.
pub async fn event(home: &Home, camera: &str, start_ms: i64, end_ms: i64) -> wire::EventJson {
    use crypto::object::Kind;
    let meta = upload(home, Kind::Event, camera, start_ms, end_ms, br#"{"labels":["person"]}"#, 1 << 20).await;
    let snap = upload(home, Kind::Snapshot, camera, start_ms, start_ms, b"\xff\xd8 a jpeg \xff\xd9", 1 << 20).await;
    let clip = upload(home, Kind::Clip, camera, start_ms, end_ms, &vec![7u8; 300_000], 100_000).await;
    let mut id = [0u8; 16];
    crypto::random_bytes(&mut id);
    home.device
        .commit_event(&wire::NewEvent {
            id: crypto::keys::hex(&id),
            meta_object: meta,
            snapshot_object: Some(snap),
            clip_object: Some(clip),
            notify: None,
            in_progress: None,
        })
        .await
        .unwrap()
}
