//! The real `porchlight serve` process and a small blocking client that signs up owners
//! with TOTP, the way the web app will.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::Value;

use super::{bin, free_port, wait_until};

pub struct ServerProc {
    pub child: Child,
    pub url: String,
    pub config: PathBuf,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

impl ServerProc {
    /// Starts `porchlight serve` with SQLite and a blob folder under `dir`.
    pub fn start(dir: &Path) -> ServerProc {
        Self::start_on(dir, free_port())
    }

    pub fn start_on(dir: &Path, port: u16) -> ServerProc {
        Self::start_with(dir, port, "")
    }

    /// Starts with `extra` appended to the configuration.
    pub fn start_with(dir: &Path, port: u16, extra: &str) -> ServerProc {
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("server.toml");
        let data_dir = dir.join("data");
        std::fs::write(
            &config,
            format!("listen = \"127.0.0.1:{port}\"\ndata_dir = {data_dir:?}\nsecure_cookies = false\n{extra}"),
        )
        .unwrap();
        let log = dir.join("server.log");
        let out = std::fs::File::options().create(true).append(true).open(&log).unwrap();
        let child = Command::new(bin())
            .args(["serve", "--config"])
            .arg(&config)
            .env("PORCHLIGHT_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let health = format!("{url}/api/health");
        wait_until("the server to answer", Duration::from_secs(30), || {
            reqwest::blocking::get(&health).is_ok_and(|r| r.status().is_success())
        });
        ServerProc { child, url, config, data_dir, log }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A user of the server, through the typed client (which keeps the session cookie and
/// its CSRF value), driven from these blocking tests by a runtime of its own. Typed calls
/// go through [`Web::run`]; [`Web::call`] and [`Web::ok`] send any JSON and return the
/// status and JSON as they came.
pub struct Web {
    pub api: wire::client::Client,
    rt: std::sync::Arc<tokio::runtime::Runtime>,
}

impl Web {
    pub fn new(base: &str) -> Web {
        // A thread of its own, so that idle pooled connections see a server go away between
        // calls (a current-thread runtime would only notice while a call is under way).
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        Web { api: wire::client::Client::new(base), rt: std::sync::Arc::new(rt) }
    }

    /// The same session, sent to another address (a proxy in front of the same server).
    pub fn via(&self, base: &str) -> Web {
        let (cookie, csrf) = self.api.session();
        Web { api: wire::client::Client::new(base).with_session(cookie, csrf), rt: self.rt.clone() }
    }

    pub fn base(&self) -> &str {
        self.api.base()
    }

    /// The session cookie (`name=value`).
    pub fn cookie(&self) -> Option<String> {
        self.api.session().0
    }

    /// Runs a typed call to completion.
    pub fn run<T>(&self, call: impl std::future::Future<Output = Result<T, base::Error>>) -> T {
        self.rt_block(call).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs a typed call and returns its result, failure included.
    pub fn rt_block<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, base::Error>>,
    ) -> Result<T, base::Error> {
        self.rt.block_on(call)
    }

    pub fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self.api.request(method.parse().unwrap(), path);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let (status, bytes) = self.rt.block_on(self.api.send_raw(rb)).unwrap();
        (status.as_u16(), serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub fn ok(&mut self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method, path, body);
        assert!((200..300).contains(&s), "{method} {path}: {s} {v}");
        v
    }

    pub fn bytes(&mut self, path: &str) -> Vec<u8> {
        let rb = self.api.request(reqwest::Method::GET, path);
        let (status, bytes) = self.rt.block_on(self.api.send_raw(rb)).unwrap();
        assert!(status.is_success(), "GET {path}: {status}");
        bytes
    }

    /// Uploads `keys`' public bundle with the proof of possession the server asks for.
    pub fn set_keys(&mut self, keys: &crypto::keys::Keyring) {
        let c = self.run(self.api.keys_challenge());
        let challenge: [u8; 32] = crypto::keys::unhex(&c.challenge).unwrap().try_into().unwrap();
        let proof = crypto::keys::prove_possession(&keys.identity, &challenge);
        self.run(self.api.set_keys(&wire::SetKeys {
            public_keys: crypto::keys::hex(&keys.public().encode()),
            proof: crypto::keys::hex(&proof),
            key_backup: None,
        }));
    }

    /// Signs up with TOTP, uploads `keys`' public bundle, makes a household; returns its id.
    pub fn owner(base: &str, email: &str, keys: &crypto::keys::Keyring) -> (Web, String) {
        let w = Web::signed_up(base, email, keys);
        let h: wire::HouseholdJson = w.run(w.api.post("/api/households", &wire::NewHousehold { name: "Home".into() }));
        (w, h.id)
    }

    /// A new account: signed up, TOTP confirmed, `keys`' public bundle uploaded.
    pub fn signed_up(base: &str, email: &str, keys: &crypto::keys::Keyring) -> Web {
        let mut w = Web::new(base);
        let r = w.run(w.api.signup(email, "a long password"));
        let secret = api::secrets::base32_rfc4648_decode(&r.totp_secret).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let code = format!("{:06}", api::secrets::totp_at(&secret, now / 30_000));
        w.run(w.api.totp_confirm(&code));
        w.set_keys(keys);
        w
    }

    /// Invites `email` into `household` with `role` (this session being the owner's), signs
    /// them up with `keys` and accepts; returns their session.
    pub fn member(&mut self, household: &str, email: &str, role: wire::Role, keys: &crypto::keys::Keyring) -> Web {
        let role = serde_json::to_value(role).unwrap();
        let inv = self.ok(
            "POST",
            &format!("/api/households/{household}/invitations"),
            Some(serde_json::json!({"role": role})),
        );
        let mut w = Web::signed_up(self.base(), email, keys);
        w.ok("POST", "/api/invitations/accept", Some(serde_json::json!({"token": inv["token"]})));
        w
    }

    /// Offers a pairing and pairs the agent whose data folder is `data_dir` through the CLI.
    pub fn pair_agent(&mut self, household: &str, keys: &crypto::keys::Keyring, data_dir: &Path) {
        let p: wire::PairingReply = self.run(
            self.api.send(self.api.request(reqwest::Method::POST, &format!("/api/households/{household}/pairings"))),
        );
        let code = crypto::keys::pairing_code(&keys.public().identity);
        let (ok, out) = super::porchlight(&[
            "pair",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--server",
            self.base(),
            "--token",
            &p.token,
            "--code",
            &code,
            "--name",
            "porch",
        ]);
        assert!(ok, "pair: {out}");
    }
}
