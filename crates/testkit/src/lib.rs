//! Real servers for integration tests, started by the test that needs them on private ports
//! and stopped when the handle drops: PostgreSQL from Debian's packages and an
//! S3-compatible server (moto from PyPI, installed by `make setup` into the tools venv).
//!
//! Only ever a dev-dependency. When a server's programs are missing the helper returns
//! `None` and says why on stderr, unless `PORCHLIGHT_REQUIRE_SERVERS=1` (set by `make test`),
//! in which case it panics: CI must never skip these silently.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn required() -> bool {
    std::env::var_os("PORCHLIGHT_REQUIRE_SERVERS").is_some_and(|v| v == "1")
}

fn unavailable(what: &str, why: &str) -> Option<std::convert::Infallible> {
    if required() {
        panic!("{what} is required (PORCHLIGHT_REQUIRE_SERVERS=1) but unavailable: {why}");
    }
    eprintln!("SKIPPING the {what} part of this test: {why} (run `make setup`)");
    None
}

/// A free loopback TCP port (bound and released; good enough for a test's own servers).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("binding a loopback port").local_addr().expect("local addr").port()
}

/// A private PostgreSQL cluster in a temporary folder.
pub struct Postgres {
    child: Child,
    _dir: tempfile::TempDir,
    pub port: u16,
}

fn pg_bin() -> Option<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    versions.sort();
    versions.into_iter().rev().map(|v| v.join("bin")).find(|b| b.join("initdb").exists() && b.join("postgres").exists())
}

/// PostgreSQL refuses to run as root; as root the cluster runs as the `postgres` user the
/// Debian package creates.
fn as_pg_user(cmd: &Path) -> Command {
    // SAFETY: geteuid has no preconditions; declared here to avoid a libc dependency.
    unsafe extern "C" {
        fn geteuid() -> u32;
    }
    if unsafe { geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(cmd);
        c
    } else {
        Command::new(cmd)
    }
}

impl Postgres {
    /// Starts a cluster and creates database `porchlight`; `None` (after saying why) when
    /// PostgreSQL is not installed.
    pub fn start() -> Option<Postgres> {
        let Some(bin) = pg_bin() else {
            unavailable("PostgreSQL", "no /usr/lib/postgresql/*/bin/initdb")?;
            unreachable!()
        };
        let dir = tempfile::Builder::new().prefix("porchlight-pg").tempdir().expect("temp dir");
        let data = dir.path().join("data");
        // The postgres user must reach the folder.
        Command::new("chmod").arg("0777").arg(dir.path()).status().expect("chmod");
        let st = as_pg_user(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .expect("running initdb");
        assert!(st.success(), "initdb failed");
        let port = free_port();
        let child = as_pg_user(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting postgres");
        let pg = Postgres { child, _dir: dir, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = Command::new(bin.join("psql"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-U",
                    "postgres",
                    "-c",
                    "CREATE DATABASE porchlight",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Some(pg);
            }
            assert!(Instant::now() < deadline, "PostgreSQL did not start within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A URL for a new, empty database on this cluster.
    pub fn fresh_database(&self, name: &str) -> String {
        let bin = pg_bin().expect("checked at start");
        let st = Command::new(bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-c"])
            .arg(format!("CREATE DATABASE {name}"))
            .stdout(Stdio::null())
            .status()
            .expect("psql");
        assert!(st.success(), "creating database {name}");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGTERM via kill(1): runuser forwards it to postgres (a "smart" shutdown would
        // wait for clients; fast shutdown is SIGINT).
        let _ = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python tools venv `scripts/setup-tools.sh` made (moto, schemathesis).
pub fn tools_venv() -> Option<PathBuf> {
    let cache = std::env::var_os("PORCHLIGHT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/porchlight")))?;
    let v = cache.join("current/tools-venv");
    v.join("bin/python").exists().then_some(v)
}

/// An S3-compatible server (moto) on a loopback port, with bucket `porchlight`.
pub struct S3 {
    child: Child,
    pub endpoint: String,
}

impl S3 {
    pub fn start() -> Option<S3> {
        let Some(venv) = tools_venv() else {
            unavailable("the S3-compatible server (moto)", "no tools venv under ~/.cache/porchlight/current")?;
            unreachable!()
        };
        let port = free_port();
        let child = Command::new(venv.join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let s3 = S3 { child, endpoint };
        let deadline = Instant::now() + Duration::from_secs(30);
        // Create the bucket with a plain HTTP PUT (moto accepts unsigned requests).
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                use std::io::{Read, Write};
                let req = format!(
                    "PUT /porchlight HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                if s.write_all(req.as_bytes()).is_ok() {
                    let mut resp = String::new();
                    let _ = s.read_to_string(&mut resp);
                    if resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200") {
                        return Some(s3);
                    }
                }
            }
            assert!(Instant::now() < deadline, "moto did not start within 30 s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
