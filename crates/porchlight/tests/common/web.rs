//! The real `porchlight serve` process and a small blocking client that signs up owners
//! with TOTP, the way the web app will.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{Value, json};

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

/// A signed-in user of the server.
pub struct Web {
    pub base: String,
    pub http: reqwest::blocking::Client,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

impl Web {
    pub fn new(base: &str) -> Web {
        Web { base: base.to_owned(), http: reqwest::blocking::Client::new(), cookie: None, csrf: None }
    }

    pub fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut rb = self.http.request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            rb = rb.header("cookie", c);
        }
        if let Some(c) = &self.csrf {
            rb = rb.header("x-csrf-token", c);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().unwrap();
        if let Some(sc) = r.headers().get("set-cookie") {
            self.cookie = Some(sc.to_str().unwrap().split(';').next().unwrap().to_owned());
        }
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn ok(&mut self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method, path, body);
        assert!((200..300).contains(&s), "{method} {path}: {s} {v}");
        v
    }

    pub fn bytes(&mut self, path: &str) -> Vec<u8> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie.clone().unwrap())
            .send()
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.bytes().unwrap().to_vec()
    }

    /// Uploads `keys`' public bundle with the proof of possession the server asks for.
    pub fn set_keys(&mut self, keys: &crypto::keys::Keyring) {
        let c = self.ok("GET", "/api/me/keys/challenge", None);
        let challenge: [u8; 32] = crypto::keys::unhex(c["challenge"].as_str().unwrap()).unwrap().try_into().unwrap();
        let proof = crypto::keys::prove_possession(&keys.identity, &challenge);
        let body =
            json!({"public_keys": crypto::keys::hex(&keys.public().encode()), "proof": crypto::keys::hex(&proof)});
        self.ok("PUT", "/api/me/keys", Some(body));
    }

    /// Signs up with TOTP, uploads `keys`' public bundle, makes a household; returns its id.
    pub fn owner(base: &str, email: &str, keys: &crypto::keys::Keyring) -> (Web, String) {
        let mut w = Web::new(base);
        let r = w.ok("POST", "/api/signup", Some(json!({"email": email, "password": "a long password"})));
        w.csrf = r["csrf"].as_str().map(str::to_owned);
        let secret = api::secrets::base32_rfc4648_decode(r["totp_secret"].as_str().unwrap()).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let code = format!("{:06}", api::secrets::totp_at(&secret, now / 30_000));
        w.ok("POST", "/api/totp/confirm", Some(json!({"code": code})));
        w.set_keys(keys);
        let h = w.ok("POST", "/api/households", Some(json!({"name": "Home"})));
        (w, h["id"].as_str().unwrap().to_owned())
    }

    /// Offers a pairing and pairs the agent whose data folder is `data_dir` through the CLI.
    pub fn pair_agent(&mut self, household: &str, keys: &crypto::keys::Keyring, data_dir: &Path) {
        let p = self.ok("POST", &format!("/api/households/{household}/pairings"), None);
        let code = crypto::keys::pairing_code(&keys.public().identity);
        let (ok, out) = super::porchlight(&[
            "pair",
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--server",
            &self.base,
            "--token",
            p["token"].as_str().unwrap(),
            "--code",
            &code,
            "--name",
            "porch",
        ]);
        assert!(ok, "pair: {out}");
    }
}
