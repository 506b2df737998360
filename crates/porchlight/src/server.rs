//! `porchlight serve` and `porchlight server-check`: the server's typed configuration, its
//! start-up, the retention and GC worker, and clean shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base::{Error, ErrorKind, ResultExt, bail, err};
use serde::Deserialize;

use crate::config::Bounded;

/// The server's configuration file. Every field has a default, so an empty file serves
/// on 127.0.0.1:8600 with SQLite and a blob folder under `porchlight-server/`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:8600`; put a TLS-terminating proxy in front
    /// for anything but localhost.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Folder for the SQLite database and the local blob store. Default `porchlight-server`,
    /// relative to the config file's folder.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Metadata database URL: `sqlite:PATH` or `postgres://user@host:port/db`. Default:
    /// SQLite at `<data_dir>/server.db`.
    pub database: Option<String>,
    /// Where ciphertext goes. Default: the folder `<data_dir>/blobs`.
    #[serde(default)]
    pub blobs: BlobsConfig,
    /// Sessions last this many hours (1 to 2160; default 336, two weeks).
    #[serde(default = "default_session_hours")]
    pub session_hours: Bounded<1, 2160>,
    /// Failed sign-in steps from one source (an IPv4 address or an IPv6 /64) before that
    /// source, and only that source, is locked out of the account for `lock_minutes` (3 to
    /// 100; default 5).
    #[serde(default = "default_lock_after")]
    pub lock_after: Bounded<3, 100>,
    /// 1 to 1440; default 15.
    #[serde(default = "default_lock_minutes")]
    pub lock_minutes: Bounded<1, 1440>,
    /// Sign-in, sign-up and pairing attempts per client address per minute (1 to 10000;
    /// default 30).
    #[serde(default = "default_attempts")]
    pub auth_attempts_per_minute: Bounded<1, 10000>,
    /// Retention of a new household until its owner changes it: days (0: no age limit;
    /// default 30) and bytes (0: no byte limit; default 0).
    #[serde(default = "default_retention_days")]
    pub default_retention_days: Bounded<0, 3650>,
    #[serde(default = "zero_bytes")]
    pub default_retention_bytes: Bounded<0, { u64::MAX >> 2 }>,
    /// Seconds between retention and GC passes (1 to 86400; default 60).
    #[serde(default = "default_retention_interval")]
    pub retention_interval_s: Bounded<1, 86400>,
    /// Memory for timeline pages already read, in MiB (0 to 65536; default 64; 0 turns the
    /// cache off). A page is dropped when its household's events change
    /// (design/server.md, "The timeline cache").
    #[serde(default = "default_timeline_cache_mib")]
    pub timeline_cache_mib: Bounded<0, 65536>,
    /// Mark the session cookie `Secure` (default true; browsers accept secure cookies on
    /// http://localhost). Turn off only for tests over plain HTTP on another host name.
    #[serde(default = "yes")]
    pub secure_cookies: bool,
    /// The address people open in their browser, `https://HOST[:PORT]`: the WebAuthn
    /// origin, whose host name every passkey is bound to (so it must be a name, not an IP
    /// address, and changing it orphans the passkeys). Default `http://localhost:PORT` with
    /// the port of `listen`.
    pub public_url: Option<String>,
    /// K: the fewest households whose homes a neighbourhood post's area may hold (2 to
    /// 1000; default 20). Posts show a coarser area until it holds this many.
    #[serde(default = "default_min_crowd")]
    pub min_crowd: Bounded<2, 1000>,
    /// Email addresses of the accounts that run this server (default none): they moderate
    /// neighbourhood posts (read reports, hide posts with a reason). They never see footage.
    #[serde(default)]
    pub operators: Vec<String>,
    /// A file with this server's neighbourhood posting rules (plain text, at most 8000
    /// characters), shown before each account's first post; default the built-in rules.
    pub posting_rules_file: Option<PathBuf>,
    /// A map tile URL template for the neighbourhood map's base layer, such as
    /// `https://tile.example.org/{z}/{x}/{y}.png` (default none: the map draws areas on a
    /// plain grid and needs no network). Browsers then fetch tiles from that origin, which
    /// learns roughly where the viewer looks; the page allows images from it and no other.
    pub map_tile_url: Option<String>,
    /// The reverse proxies in front of the server (addresses or ranges such as `127.0.0.1`
    /// or `10.0.0.0/8`; default none). Only a request from one of these is counted under the
    /// client address it forwards (`Forwarded` or `X-Forwarded-For`): behind the TLS proxy
    /// the README asks for, without this every user shares the proxy's one sign-in limit.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// The bearer token Prometheus presents to read `/metrics` (16 to 256 characters;
    /// default none, and then `/metrics` answers nobody). Its counts are server-wide.
    pub metrics_token: Option<String>,
    /// Let households' webhooks and browsers' push endpoints reach loopback, private and
    /// link-local addresses (default false: public addresses only, so that neither can make
    /// the server reach what only it can reach, such as a cloud's metadata service or a
    /// database on its network).
    #[serde(default)]
    pub webhook_allow_private: bool,
    /// The rules' text: from `posting_rules_file` once loaded.
    #[serde(skip, default = "default_rules")]
    pub posting_rules: String,
}

/// The origin (`scheme://host[:port]`) of a map tile URL template, which must be http(s)
/// and hold `{z}`, `{x}` and `{y}`.
pub fn tile_origin(template: &str) -> Result<String, Error> {
    let bad = |why: &str| err!(InvalidArgument, "map_tile_url: {why}, got {template:?}");
    for p in ["{z}", "{x}", "{y}"] {
        if !template.contains(p) {
            return Err(bad("expected a URL template with {z}, {x} and {y}"));
        }
    }
    let url = url::Url::parse(&template.replace(['{', '}'], "")).map_err(|_| bad("expected an http(s) URL"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() || template.contains(['\'', '"', ';', ' '])
    {
        return Err(bad("expected an http(s) URL"));
    }
    Ok(url.origin().ascii_serialization())
}

fn default_rules() -> String {
    api::DEFAULT_RULES.to_owned()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobsConfig {
    /// A local folder (default `<data_dir>/blobs`).
    pub folder: Option<PathBuf>,
    /// An S3-compatible store instead of the folder.
    pub s3: Option<S3Config>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:9000`.
    pub endpoint: String,
    pub bucket: String,
    #[serde(default = "default_region")]
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

fn default_listen() -> String {
    "127.0.0.1:8600".to_owned()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("porchlight-server")
}
fn default_session_hours() -> Bounded<1, 2160> {
    Bounded(336)
}
fn default_lock_after() -> Bounded<3, 100> {
    Bounded(5)
}
fn default_timeline_cache_mib() -> Bounded<0, 65536> {
    Bounded((db::server::TIMELINE_CACHE_BYTES >> 20) as u64)
}
fn default_lock_minutes() -> Bounded<1, 1440> {
    Bounded(15)
}
fn default_attempts() -> Bounded<1, 10000> {
    Bounded(30)
}
fn default_min_crowd() -> Bounded<2, 1000> {
    Bounded(community::K_DEFAULT as u64)
}
fn default_retention_days() -> Bounded<0, 3650> {
    Bounded(30)
}
fn default_retention_interval() -> Bounded<1, 86400> {
    Bounded(60)
}
fn zero_bytes() -> Bounded<0, { u64::MAX >> 2 }> {
    Bounded(0)
}
fn default_region() -> String {
    "us-east-1".to_owned()
}
fn yes() -> bool {
    true
}

impl ServerConfig {
    pub fn parse(text: &str) -> Result<ServerConfig, Error> {
        let c: ServerConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(l) => err!(InvalidArgument, "line {l}: {}", e.message()),
                None => err!(InvalidArgument, "{}", e.message()),
            }
        })?;
        c.listen
            .parse::<SocketAddr>()
            .map_err(|_| err!(InvalidArgument, "listen: expected HOST:PORT, got {:?}", c.listen))?;
        if let Some(d) = &c.database
            && !(d.starts_with("sqlite:") || d.starts_with("postgres://") || d.starts_with("postgresql://"))
        {
            bail!(InvalidArgument, "database: expected sqlite:PATH or postgres://…, got {d:?}");
        }
        if c.blobs.folder.is_some() && c.blobs.s3.is_some() {
            bail!(InvalidArgument, "blobs: give either folder or s3, not both");
        }
        if let Some(u) = &c.public_url {
            let url = url::Url::parse(u)
                .map_err(|e| err!(InvalidArgument, "public_url: expected https://HOST[:PORT], got {u:?}: {e}"))?;
            api::webauthn::relying_party(&url)?;
        }
        if let Some(t) = &c.map_tile_url {
            tile_origin(t)?;
        }
        for (i, p) in c.trusted_proxies.iter().enumerate() {
            api::state::Cidr::parse(p).map_err(|e| err!(InvalidArgument, "trusted_proxies[{i}]: {e}"))?;
        }
        if let Some(t) = &c.metrics_token
            && (!(16..=256).contains(&t.len()) || !t.chars().all(|c| c.is_ascii_graphic()))
        {
            bail!(InvalidArgument, "metrics_token: expected 16 to 256 printable ASCII characters without spaces");
        }
        for (i, e) in c.operators.iter().enumerate() {
            let e = e.trim();
            if e.len() > 254 || e.split('@').count() != 2 || e.starts_with('@') || e.ends_with('@') {
                bail!(InvalidArgument, "operators[{i}]: expected an email address, got {e:?}");
            }
        }
        Ok(c)
    }

    /// Reads a file; relative paths are taken from the file's folder. No file: defaults.
    pub fn load(path: Option<&Path>) -> Result<ServerConfig, Error> {
        let (mut c, base) = match path {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).err_kind(ErrorKind::NotFound, || format!("reading {}", p.display()))?;
                let c = Self::parse(&text).map_err(|e| err!(InvalidArgument, "{}: {}", p.display(), e.msg()))?;
                (c, p.parent().unwrap_or(Path::new(".")).to_owned())
            }
            None => (Self::parse("")?, PathBuf::from(".")),
        };
        c.data_dir = base.join(&c.data_dir);
        if let Some(f) = c.blobs.folder.as_mut() {
            *f = base.join(&*f);
        }
        if let Some(f) = &c.posting_rules_file {
            let f = base.join(f);
            let text = std::fs::read_to_string(&f)
                .map_err(|e| err!(InvalidArgument, "posting_rules_file: reading {}: {e}", f.display()))?;
            let n = text.trim().chars().count();
            if n == 0 || n > 8000 {
                bail!(InvalidArgument, "posting_rules_file: expected 1 to 8000 characters of text, got {n}");
            }
            c.posting_rules = text.trim().to_owned();
        }
        Ok(c)
    }

    pub fn database_url(&self) -> String {
        self.database.clone().unwrap_or_else(|| format!("sqlite:{}", self.data_dir.join("server.db").display()))
    }

    pub fn blob_location(&self) -> blob::Location {
        match &self.blobs.s3 {
            Some(s) => blob::Location::S3 {
                endpoint: s.endpoint.clone(),
                bucket: s.bucket.clone(),
                region: s.region.clone(),
                access_key_id: s.access_key_id.clone(),
                secret_access_key: s.secret_access_key.clone(),
            },
            None => blob::Location::Local(self.blobs.folder.clone().unwrap_or_else(|| self.data_dir.join("blobs"))),
        }
    }

    pub fn settings(&self) -> api::Settings {
        api::Settings {
            session_ms: self.session_hours.get() as i64 * 3_600_000,
            lock_after: self.lock_after.get() as i64,
            lock_ms: self.lock_minutes.get() as i64 * 60_000,
            auth_attempts_per_minute: self.auth_attempts_per_minute.get() as u32,
            default_retention_days: self.default_retention_days.get() as i64,
            default_retention_bytes: self.default_retention_bytes.get() as i64,
            secure_cookies: self.secure_cookies,
            public_url: self.public_url(),
            min_crowd: self.min_crowd.get() as u32,
            operators: self.operators.iter().map(|e| e.trim().to_lowercase()).collect(),
            posting_rules: self.posting_rules.clone(),
            map_tile_url: self.map_tile_url.clone(),
            log_key: api::log::LogKey::generate(),
            trusted_proxies: self
                .trusted_proxies
                .iter()
                .map(|p| api::state::Cidr::parse(p).expect("checked when the config was parsed"))
                .collect(),
            metrics_token: self.metrics_token.clone(),
            webhook_allow_private: self.webhook_allow_private,
            // `serve` loads the server's own (`totp_keys`, `vapid_key`).
            totp_keys: std::sync::Arc::new(api::totp_keys::TotpKeys::generate()),
            vapid_key: std::sync::Arc::new(api::push::KeyPair::generate()),
        }
    }

    /// `public_url`, or `http://localhost:PORT` (checked when the config was parsed).
    pub fn public_url(&self) -> url::Url {
        let text = match &self.public_url {
            Some(u) => u.clone(),
            None => {
                let port = self.listen.parse::<SocketAddr>().map(|a| a.port()).unwrap_or(8600);
                format!("http://localhost:{port}")
            }
        };
        url::Url::parse(&text).expect("public_url was checked when the config was parsed")
    }
}

/// The transparency log's signing key, in the data folder.
pub const LOG_KEY_FILE: &str = "log.key";

/// Loads the log's signing key (32 bytes), creating it, readable by this user only, on
/// the server's first start. Losing it means an `operator_key_change` entry and telling
/// every verifier; it is the one secret the server holds that matters to the public.
pub fn log_key(path: &std::path::Path) -> Result<api::log::LogKey, Error> {
    let seed: [u8; 32] = match std::fs::read(path) {
        Ok(b) => b.try_into().map_err(|b: Vec<u8>| {
            err!(InvalidArgument, "{}: expected a 32-byte log key, found {} bytes", path.display(), b.len())
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = crypto::keys::IdentitySecret::generate();
            agent::sealing::create_secret_file(path, &key.to_bytes()[..])?;
            tracing::info!(path = %path.display(), "created the transparency log's key");
            *key.to_bytes()
        }
        Err(e) => return Err(Error::wrap(ErrorKind::Internal, format!("reading {}", path.display()), e)),
    };
    Ok(api::log::LogKey(std::sync::Arc::new(crypto::keys::IdentitySecret::from_bytes(&seed))))
}

/// The VAPID key file (Web Push, RFC 8292), in the data folder.
pub const VAPID_KEY_FILE: &str = "vapid.key";

/// Loads the key this server identifies itself with to push services (a P-256 private
/// key, 32 bytes), creating it, readable by this user only, on the first start. Browsers
/// subscribe to its public half: a new key means every browser subscribes again.
pub fn vapid_key(path: &Path) -> Result<api::push::KeyPair, Error> {
    match std::fs::read(path) {
        Ok(b) => {
            let b: [u8; 32] = b.try_into().map_err(|b: Vec<u8>| {
                err!(InvalidArgument, "{}: expected a 32-byte P-256 key, found {} bytes", path.display(), b.len())
            })?;
            api::push::KeyPair::from_bytes(&b).map_err(|e| err!(InvalidArgument, "{}: {}", path.display(), e.msg()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = api::push::KeyPair::generate();
            agent::sealing::create_secret_file(path, &key.to_bytes())?;
            tracing::info!(path = %path.display(), "created the Web Push (VAPID) key");
            Ok(key)
        }
        Err(e) => Err(Error::wrap(ErrorKind::Internal, format!("reading {}", path.display()), e)),
    }
}

/// The TOTP key file, in the data folder.
pub const TOTP_KEY_FILE: &str = "totp.key";
/// An environment variable that, when set, holds the TOTP key file's bytes in hex instead
/// (for deployments that keep secrets out of the data folder).
pub const TOTP_KEYS_ENV: &str = "PORCHLIGHT_TOTP_KEYS";

/// The keys TOTP secrets are sealed with: from `PORCHLIGHT_TOTP_KEYS` when it is set, else
/// from the data folder's `totp.key`, created (readable by this user only) on the first
/// start. They are never in the database: a stolen database alone yields no second factor.
pub fn totp_keys(data_dir: &Path) -> Result<api::totp_keys::TotpKeys, Error> {
    if let Ok(hex) = std::env::var(TOTP_KEYS_ENV) {
        let b = crypto::keys::unhex(hex.trim())
            .ok_or_else(|| err!(InvalidArgument, "{TOTP_KEYS_ENV}: expected the key file's bytes in hex"))?;
        return api::totp_keys::TotpKeys::parse(&b).map_err(|e| err!(InvalidArgument, "{TOTP_KEYS_ENV}: {}", e.msg()));
    }
    let path = data_dir.join(TOTP_KEY_FILE);
    match std::fs::read(&path) {
        Ok(b) => {
            api::totp_keys::TotpKeys::parse(&b).map_err(|e| err!(InvalidArgument, "{}: {}", path.display(), e.msg()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keys = api::totp_keys::TotpKeys::generate();
            agent::sealing::create_secret_file(&path, &keys.encode())?;
            tracing::info!(path = %path.display(), "created the key TOTP secrets are sealed with");
            Ok(keys)
        }
        Err(e) => Err(Error::wrap(ErrorKind::Internal, format!("reading {}", path.display()), e)),
    }
}

/// `porchlight totp-key-rotate`: a new key seals every TOTP secret; the old key is then
/// dropped. The file first holds both, so a crash at any point leaves every secret
/// openable, and the next start (or run) finishes.
pub async fn rotate_totp_key(c: ServerConfig) -> Result<(), Error> {
    if std::env::var_os(TOTP_KEYS_ENV).is_some() {
        bail!(
            FailedPrecondition,
            "{TOTP_KEYS_ENV} is set: rotate the keys where you keep them, not in the data folder"
        );
    }
    let (db, _) = open(&c).await?;
    let path = c.data_dir.join(TOTP_KEY_FILE);
    let old = totp_keys(&c.data_dir)?;
    let both = old.rotated();
    agent::sealing::replace_file(&path, &both.encode())?;
    let n = api::totp_keys::reseal(&db, &both).await?;
    let new = both.current_only();
    agent::sealing::replace_file(&path, &new.encode())?;
    println!("TOTP key rotated: {:?} -> {:?}; {n} secrets sealed anew", old.ids(), new.ids());
    db.close().await;
    Ok(())
}

async fn open(c: &ServerConfig) -> Result<(db::server::Db, blob::BlobStore), Error> {
    std::fs::create_dir_all(&c.data_dir)
        .err_kind(ErrorKind::Internal, || format!("creating {}", c.data_dir.display()))?;
    let db =
        db::server::Db::open(&c.database_url()).await?.with_timeline_cache((c.timeline_cache_mib.0 as usize) << 20);
    let blobs = blob::BlobStore::open(&c.blob_location())?;
    Ok((db, blobs))
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn serve(c: ServerConfig) -> Result<(), Error> {
    let (_never, stop) = base::shutdown::channel();
    serve_until(c, stop).await
}

/// Runs the server until SIGINT, SIGTERM or `stop` (the demo stops its server with its
/// agent). Either way the background workers finish their passes before the database closes.
pub async fn serve_until(c: ServerConfig, mut stop: base::shutdown::Receiver) -> Result<(), Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let (db, blobs) = open(&c).await?;
    let mut settings = c.settings();
    settings.log_key = log_key(&c.data_dir.join(LOG_KEY_FILE))?;
    tracing::info!(key = %settings.log_key.0.public().fingerprint(), "transparency log key");
    let totp = totp_keys(&c.data_dir)?;
    // Secrets stored before sealing existed, or left under an older key by an interrupted
    // rotation, are sealed under the current key before anyone signs in.
    let resealed = api::totp_keys::reseal(&db, &totp).await?;
    if resealed > 0 {
        tracing::info!(accounts = resealed, "sealed TOTP secrets under the current key");
    }
    settings.totp_keys = std::sync::Arc::new(totp);
    settings.vapid_key = std::sync::Arc::new(vapid_key(&c.data_dir.join(VAPID_KEY_FILE))?);
    let st = api::AppState::new(db.clone(), blobs.clone(), settings, api::system_clock());
    let listener = tokio::net::TcpListener::bind(&c.listen)
        .await
        .err_kind(ErrorKind::Unavailable, || format!("listening on {}", c.listen))?;
    let addr = listener.local_addr().err_kind(ErrorKind::Internal, || "local address".to_owned())?;
    // Tests and scripts read this line to learn the port when `listen` ends in `:0`.
    println!("porchlight server listening on http://{addr}");
    tracing::info!(%addr, database = %c.database_url(), "server listening");
    let (stop_workers, workers_stop) = base::shutdown::channel();
    let workers = server_workers(&st, &db, &blobs, Duration::from_secs(c.retention_interval_s.get()), workers_stop);
    *st.workers.lock().expect("workers") = workers.status_handle();
    // The feed's per-area counts, loaded now rather than on the first feed request (1.4 s
    // with a million posts on SQLite); a failure here is retried by that request.
    let warm = st.clone();
    tokio::spawn(async move {
        if let Err(e) = api::preload(&warm).await {
            tracing::warn!(error = %e, "loading the neighbourhood's per-area counts");
        }
    });
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Error::wrap(ErrorKind::Internal, "SIGINT handler", e))?;
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| Error::wrap(ErrorKind::Internal, "SIGTERM handler", e))?;
    let tiles = c.map_tile_url.as_deref().map(tile_origin).transpose()?;
    let app =
        crate::ui::with_app(api::router(st), tiles.as_deref()).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = int.recv() => tracing::info!("SIGINT: stopping"),
                _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                _ = stop.wait() => tracing::info!("stopping"),
            }
        })
        .await
        .err_kind(ErrorKind::Internal, || "serving".to_owned())?;
    stop_workers.shutdown();
    workers.stop(Duration::from_secs(30)).await;
    db.close().await;
    Ok(())
}

/// The server's periodic jobs: retention (events past their household's limits, and
/// expired sessions, pairings, invitations and sign-in failures) followed by GC of the
/// chunks it doomed, the daily sweep of blobs no row names, the expiry of footage requests
/// (logged within a minute whether or not anyone lists requests), webhook delivery and
/// Web Push delivery.
fn server_workers(
    st: &api::AppState,
    db: &db::server::Db,
    blobs: &blob::BlobStore,
    every: Duration,
    stop: base::shutdown::Receiver,
) -> base::worker::Workers {
    let mut w = base::worker::Workers::new();
    w.spawn(Retention { db: db.clone(), blobs: blobs.clone(), every }, stop.clone());
    w.spawn(OrphanSweep { db: db.clone(), blobs: blobs.clone() }, stop.clone());
    w.spawn(RequestExpiry { st: st.clone() }, stop.clone());
    w.spawn(api::webhook::Sender::new(st, api::webhook::Queue::Webhooks), stop.clone());
    w.spawn(api::webhook::Sender::new(st, api::webhook::Queue::Push), stop);
    w
}

struct Retention {
    db: db::server::Db,
    blobs: blob::BlobStore,
    every: Duration,
}

impl base::worker::Worker for Retention {
    fn name(&self) -> &'static str {
        "retention"
    }
    fn interval(&self) -> Duration {
        self.every
    }
    /// Retention, then GC of what it doomed, in one pass (never at the same time).
    async fn pass(&mut self) -> Result<u64, Error> {
        let s = blob::retention_pass(&self.db, api::system_clock()()).await?;
        let chunks = blob::collect(&self.db, &self.blobs).await?;
        Ok(s.events_deleted + s.orphan_objects + s.expired_rows + chunks)
    }
}

/// How often the blob store is listed for blobs no row names.
const ORPHAN_SWEEP_EVERY: Duration = Duration::from_secs(24 * 3600);

struct OrphanSweep {
    db: db::server::Db,
    blobs: blob::BlobStore,
}

impl base::worker::Worker for OrphanSweep {
    fn name(&self) -> &'static str {
        "orphan_sweep"
    }
    fn interval(&self) -> Duration {
        ORPHAN_SWEEP_EVERY
    }
    async fn pass(&mut self) -> Result<u64, Error> {
        self.blobs.sweep_orphans(&self.db, api::system_clock()() - blob::gc::UPLOAD_GRACE_MS).await
    }
}

struct RequestExpiry {
    st: api::AppState,
}

impl base::worker::Worker for RequestExpiry {
    fn name(&self) -> &'static str {
        "request_expiry"
    }
    fn interval(&self) -> Duration {
        Duration::from_secs(60)
    }
    async fn pass(&mut self) -> Result<u64, Error> {
        api::expire_requests(&self.st).await
    }
}

/// `porchlight log-key-rotate`: appends an `operator_key_change` entry naming the old and
/// new keys, signs (and keeps) the head that first holds it with the old key, so the change
/// is attested by the key verifiers already trust, then keeps the old key file aside and
/// installs the new one.
pub async fn rotate_log_key(c: ServerConfig, reason: &str) -> Result<(), Error> {
    let reason = reason.trim();
    if reason.chars().count() < 3 || reason.len() > 500 {
        base::bail!(InvalidArgument, "--reason: expected 3 to 500 characters");
    }
    let (db, blobs) = open(&c).await?;
    let path = c.data_dir.join(LOG_KEY_FILE);
    let old = log_key(&path)?;
    let new = crypto::keys::IdentitySecret::generate();
    let entry = api::log::Record::new(
        api::log::Entry::OperatorKeyChange {
            old_key: crypto::keys::hex(&old.0.public().to_bytes()),
            new_key: crypto::keys::hex(&new.public().to_bytes()),
            reason: reason.to_owned(),
        },
        api::system_clock()(),
    );
    let index = db.log_append(&[entry.to_row()]).await?;
    let mut settings = c.settings();
    settings.log_key = old.clone();
    let st = api::AppState::new(db.clone(), blobs, settings, api::system_clock());
    let head = api::log::current_head(&st).await?;
    if head.head.size != index as u64 + 1 || head.log_key != old.0.public() {
        base::bail!(
            FailedPrecondition,
            "the log grew while rotating (is the server running?); stop it and rotate again: the change entry {index} stays logged"
        );
    }
    let aside = c.data_dir.join(format!("{LOG_KEY_FILE}.old-{}", api::system_clock()()));
    std::fs::rename(&path, &aside).err_kind(ErrorKind::Internal, || format!("moving {}", path.display()))?;
    agent::sealing::create_secret_file(&path, &new.to_bytes()[..])?;
    db.close().await;
    println!(
        "log key changed from {} to {} (entry {index}; the head of {} entries is signed by the old key); the old key is in {}; restart the server",
        old.0.public().fingerprint(),
        new.public().fingerprint(),
        index + 1,
        aside.display()
    );
    Ok(())
}

/// `porchlight server-check`: the database and the blob store agree.
pub async fn check(c: ServerConfig) -> Result<(), Error> {
    let (db, blobs) = open(&c).await?;
    let r = blob::check(&db, &blobs).await?;
    println!(
        "server check: {} chunk rows, {} blobs, {} orphan blobs (left by interrupted uploads; GC removes them), {} problems",
        r.chunks,
        r.blobs,
        r.orphan_blobs.len(),
        r.problems.len()
    );
    for p in &r.problems {
        println!("  problem: {p}");
    }
    if !r.problems.is_empty() {
        bail!(DataLoss, "server check found {} problems", r.problems.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_valid_and_says_the_defaults() {
        let text = include_str!("../../../porchlight-server.example.toml");
        let c = ServerConfig::parse(text).unwrap();
        let d = ServerConfig::parse("").unwrap();
        // The log and TOTP keys are made per server (in its data folder), so they are not
        // defaults.
        let (mut cs, ds) = (c.settings(), d.settings());
        cs.log_key = ds.log_key.clone();
        cs.totp_keys = ds.totp_keys.clone();
        cs.vapid_key = ds.vapid_key.clone();
        assert_eq!(format!("{cs:?}"), format!("{ds:?}"));
        assert_eq!((c.listen, c.data_dir), (d.listen, d.data_dir));
    }

    #[test]
    fn empty_file_means_defaults() {
        let c = ServerConfig::parse("").unwrap();
        assert_eq!(c.listen, "127.0.0.1:8600");
        assert_eq!(c.settings().lock_after, 5);
        assert!(c.secure_cookies);
        assert_eq!(c.public_url().as_str(), "http://localhost:8600/");
        let c = ServerConfig::parse("listen = \"0.0.0.0:9000\"").unwrap();
        assert_eq!(c.settings().public_url.as_str(), "http://localhost:9000/");
    }

    #[test]
    fn the_tile_origin_is_the_templates_scheme_host_and_port() {
        assert_eq!(tile_origin("https://tile.example.org/{z}/{x}/{y}.png").unwrap(), "https://tile.example.org");
        assert_eq!(tile_origin("http://127.0.0.1:8080/t/{z}/{x}/{y}").unwrap(), "http://127.0.0.1:8080");
        let c = ServerConfig::parse("map_tile_url = \"https://t.example.org/{z}/{x}/{y}.png\"").unwrap();
        assert_eq!(c.settings().map_tile_url.as_deref(), Some("https://t.example.org/{z}/{x}/{y}.png"));
    }

    #[test]
    fn bad_fields_are_named_with_their_line() {
        for (text, want) in [
            ("listen = \"nowhere\"", "listen: expected HOST:PORT"),
            ("\nlock_after = 1", "line 2: expected an integer in 3..=100"),
            ("database = \"mysql://x\"", "database: expected sqlite:PATH"),
            ("colour = 1", "unknown field `colour`"),
            ("public_url = \"https://10.0.0.2\"", "public_url: expected a host name"),
            ("public_url = \"porchlight\"", "public_url: expected https://HOST"),
            ("public_url = \"https://cam.example.org/ui\"", "with no path"),
            ("operators = [\"root\"]", "operators[0]: expected an email address"),
            ("trusted_proxies = [\"10.0.0.0/40\"]", "trusted_proxies[0]: expected a prefix length"),
            ("trusted_proxies = [\"proxy\"]", "trusted_proxies[0]: expected an IP address"),
            ("metrics_token = \"short\"", "metrics_token: expected 16 to 256"),
            (
                "map_tile_url = \"https://t.example.org/{z}/{x}.png\"",
                "map_tile_url: expected a URL template with {z}, {x} and {y}",
            ),
            ("map_tile_url = \"ftp://t.example.org/{z}/{x}/{y}.png\"", "map_tile_url: expected an http(s) URL"),
            (
                "map_tile_url = \"https://t.example.org/{z}/{x}/{y}.png; script-src *\"",
                "map_tile_url: expected an http(s) URL",
            ),
            (
                "[blobs]\nfolder = \"b\"\n[blobs.s3]\nendpoint = \"e\"\nbucket = \"b\"\naccess_key_id = \"a\"\nsecret_access_key = \"s\"",
                "either folder or s3",
            ),
        ] {
            let e = ServerConfig::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
