//! What every handler shares: the database, the blob store, the clock, limits, the live
//! event fan-out and the metrics.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use blob::BlobStore;
use db::server::Db;
use tokio::sync::broadcast;

use crate::types::EventJson;

/// Settings the API reads (the binary's `[server]` section fills these).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Sessions last this long (ms).
    pub session_ms: i64,
    /// Failed password attempts before an account locks.
    pub lock_after: i64,
    /// How long a lock lasts (ms).
    pub lock_ms: i64,
    /// Sign-in, sign-up and pairing attempts allowed per client address per minute.
    pub auth_attempts_per_minute: u32,
    /// Retention for a new household, until its owner changes it.
    pub default_retention_days: i64,
    pub default_retention_bytes: i64,
    /// Mark cookies `Secure` (true except in tests over plain HTTP that are not on
    /// localhost; browsers treat http://localhost as secure).
    pub secure_cookies: bool,
    /// The address users open (scheme, host name, port): the WebAuthn origin, whose host
    /// name is the relying-party id every passkey is bound to.
    pub public_url: url::Url,
    /// K: the fewest households a neighbourhood post's area may hold.
    pub min_crowd: u32,
    /// The email addresses (lower case) of the accounts that run this server: they
    /// moderate neighbourhood posts. They never see footage.
    pub operators: Vec<String>,
    /// The neighbourhood's posting rules, shown before each account's first post.
    pub posting_rules: String,
    /// The neighbourhood map's tile URL template, if the operator configured one.
    pub map_tile_url: Option<String>,
    /// The key that signs the transparency log's heads (a fresh one unless the binary
    /// loads the server's own).
    pub log_key: crate::log::LogKey,
    /// The reverse proxies in front of the server: only from these peers is a forwarded
    /// client address (`Forwarded`, `X-Forwarded-For`) believed.
    pub trusted_proxies: Vec<Cidr>,
    /// The bearer token Prometheus presents to read `/metrics`; without one, `/metrics`
    /// answers nobody (its server-wide counts are the operator's, not the public's).
    pub metrics_token: Option<String>,
    /// Let webhooks and push endpoints reach loopback, private and link-local addresses (an
    /// operator whose users' receivers are on the same network). Off: they reach public
    /// addresses only (push endpoints over https only).
    pub webhook_allow_private: bool,
    /// What TOTP secrets are sealed with at rest (a fresh key unless the binary loads the
    /// server's own from outside the database).
    pub totp_keys: Arc<crate::totp_keys::TotpKeys>,
    /// The key this server identifies itself with to push services (VAPID, RFC 8292): a
    /// fresh one unless the binary loads the server's own (browsers subscribe to one key).
    pub vapid_key: Arc<crate::push::KeyPair>,
}

/// An address range, `10.0.0.0/8` or `::1/128` (a bare address is a range of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = a.trim().parse().map_err(|_| format!("expected an IP address or range, got {s:?}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("expected a prefix length of 0 to {max} after the / in {s:?}"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(b: u128, prefix: u8, bits: u8) -> u128 {
            if prefix == 0 { 0 } else { b >> (bits - prefix) }
        }
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                masked(u32::from(a).into(), self.prefix, 32) == masked(u32::from(b).into(), self.prefix, 32)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                masked(u128::from(a), self.prefix, 128) == masked(u128::from(b), self.prefix, 128)
            }
            _ => false,
        }
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            session_ms: 14 * 86_400_000,
            lock_after: 5,
            lock_ms: 15 * 60_000,
            auth_attempts_per_minute: 30,
            default_retention_days: 30,
            default_retention_bytes: 0,
            secure_cookies: true,
            public_url: url::Url::parse("http://localhost:8600").expect("a valid URL"),
            min_crowd: community::K_DEFAULT,
            operators: Vec::new(),
            posting_rules: crate::routes::neighbourhood::DEFAULT_RULES.to_owned(),
            map_tile_url: None,
            log_key: crate::log::LogKey::generate(),
            trusted_proxies: Vec::new(),
            metrics_token: None,
            webhook_allow_private: false,
            totp_keys: Arc::new(crate::totp_keys::TotpKeys::generate()),
            vapid_key: Arc::new(crate::push::KeyPair::generate()),
        }
    }
}

/// A new event for the household's open sessions (and its webhook).
#[derive(Clone, Debug)]
pub struct Live {
    pub household_id: String,
    pub event: EventJson,
}

#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub responses_4xx: AtomicU64,
    pub responses_5xx: AtomicU64,
    pub chunk_bytes_in: AtomicU64,
    pub chunks_in: AtomicU64,
    pub objects_in: AtomicU64,
    pub events_in: AtomicU64,
    pub object_bytes_out: AtomicU64,
    pub logins_failed: AtomicU64,
    pub logins_ok: AtomicU64,
    pub live_subscribers: AtomicU64,
    pub webhooks_failed: AtomicU64,
    pub webhooks_delivered: AtomicU64,
    pub push_failed: AtomicU64,
    pub push_delivered: AtomicU64,
    pub home_moves: AtomicU64,
    pub home_moves_refused: AtomicU64,
}

impl Metrics {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let rows: [(&str, &str, &str, &AtomicU64); 17] = [
            ("porchlight_http_requests_total", "counter", "HTTP requests handled", &self.requests),
            ("porchlight_http_responses_4xx_total", "counter", "client-error responses", &self.responses_4xx),
            ("porchlight_http_responses_5xx_total", "counter", "server-error responses", &self.responses_5xx),
            ("porchlight_chunk_bytes_received_total", "counter", "ciphertext bytes stored", &self.chunk_bytes_in),
            ("porchlight_chunks_received_total", "counter", "chunks stored", &self.chunks_in),
            ("porchlight_objects_committed_total", "counter", "objects committed", &self.objects_in),
            ("porchlight_events_committed_total", "counter", "events committed", &self.events_in),
            ("porchlight_object_bytes_served_total", "counter", "ciphertext bytes served", &self.object_bytes_out),
            ("porchlight_logins_failed_total", "counter", "failed sign-in steps", &self.logins_failed),
            ("porchlight_logins_total", "counter", "completed sign-ins", &self.logins_ok),
            ("porchlight_live_subscribers", "gauge", "open live event streams", &self.live_subscribers),
            ("porchlight_webhooks_failed_total", "counter", "webhook deliveries that failed", &self.webhooks_failed),
            (
                "porchlight_webhooks_delivered_total",
                "counter",
                "webhook deliveries answered 2xx",
                &self.webhooks_delivered,
            ),
            ("porchlight_push_failed_total", "counter", "Web Push messages that failed", &self.push_failed),
            (
                "porchlight_push_delivered_total",
                "counter",
                "Web Push messages a push service took",
                &self.push_delivered,
            ),
            ("porchlight_home_moves_total", "counter", "homes moved to another cell", &self.home_moves),
            (
                "porchlight_home_moves_refused_total",
                "counter",
                "home moves refused for moving too often",
                &self.home_moves_refused,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, v) in rows {
            Metrics::push(&mut out, name, kind, help, v.load(Ordering::Relaxed));
        }
        out
    }

    /// Appends one metric in the text exposition format.
    pub fn push(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
    }
}

/// A fixed-window limiter per source (an IPv4 address or an IPv6 /64), bounded in memory:
/// when the table is full it is cleared, which errs towards letting a burst through rather
/// than growing.
pub struct Limiter {
    per_minute: u32,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

const LIMITER_ENTRIES_MAX: usize = 100_000;

impl Limiter {
    pub fn new(per_minute: u32) -> Limiter {
        Limiter { per_minute, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts an attempt; false when the source is over its limit for this minute.
    pub fn allow(&self, source: &str, now_ms: i64) -> bool {
        let minute = now_ms.div_euclid(60_000);
        let mut w = self.windows.lock().expect("limiter lock");
        if w.len() >= LIMITER_ENTRIES_MAX {
            w.clear();
        }
        let e = w.entry(source.to_owned()).or_insert((minute, 0));
        if e.0 != minute {
            *e = (minute, 0);
        }
        e.1 += 1;
        e.1 <= self.per_minute
    }
}

/// A short-lived cache of who a credential is and what households they belong to, so that
/// a request does not cost three database round trips before its real work. Every write
/// that changes a credential, a session, keys or a membership clears it (`clear`), and no
/// entry lives longer than `AUTH_CACHE_MS` whatever happens.
#[derive(Default)]
pub struct AuthCache {
    map: Mutex<HashMap<String, (i64, Cached)>>,
}

#[derive(Clone)]
pub enum Cached {
    Session(Box<db::server::Session>),
    Actor(Box<crate::auth::Actor>),
    Member(Option<Box<db::server::Member>>),
}

pub const AUTH_CACHE_MS: i64 = 5_000;
const AUTH_CACHE_ENTRIES_MAX: usize = 10_000;

impl AuthCache {
    pub fn get(&self, key: &str, now_ms: i64) -> Option<Cached> {
        let m = self.map.lock().expect("auth cache");
        m.get(key).filter(|(at, _)| now_ms >= *at && now_ms - at < AUTH_CACHE_MS).map(|(_, c)| c.clone())
    }

    pub fn put(&self, key: String, now_ms: i64, c: Cached) {
        let mut m = self.map.lock().expect("auth cache");
        if m.len() >= AUTH_CACHE_ENTRIES_MAX {
            m.clear();
        }
        m.insert(key, (now_ms, c));
    }

    pub fn clear(&self) {
        self.map.lock().expect("auth cache").clear();
    }
}

pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    })
}

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub blobs: BlobStore,
    pub settings: Settings,
    pub clock: Clock,
    pub live: broadcast::Sender<Live>,
    pub metrics: Metrics,
    pub limiter: Limiter,
    pub http: reqwest::Client,
    /// Webhook deliveries waiting and in flight.
    pub webhooks: crate::webhook::Outbound,
    /// Web Push messages waiting (the `push` worker sends them).
    pub pushes: crate::webhook::Outbound,
    pub auth_cache: AuthCache,
    /// `None` when `settings.public_url` cannot be a WebAuthn origin (the binary refuses
    /// such a config; this only happens with hand-built settings): passkey requests are
    /// then refused and everything else works.
    pub webauthn: Option<webauthn_rs::Webauthn>,
    pub ceremonies: crate::webauthn::Ceremonies,
    /// What each agent last said its cameras were doing (`PUT /api/device/status`), in
    /// memory only: after a restart the home screen says "status unknown" until each agent's
    /// next report, at most `STATUS_EVERY_MS` later.
    pub camera_status: Mutex<HashMap<String, DeviceReport>>,
    /// Bumped when any household's roster or settings change; agents waiting in
    /// `GET /api/device/wait` wake and compare their household's serials.
    pub agent_signal: tokio::sync::watch::Sender<u64>,
    /// Live view sessions, waiting for or relaying an agent's stream (memory only).
    pub live_sessions: Mutex<HashMap<String, LiveSession>>,
    /// Per household, the SHA-256s of clips its agents prepared for posting, each with the
    /// time it stops being postable (memory only, like live sessions: a restart means
    /// preparing again).
    pub prepared_clips: Mutex<HashMap<String, Vec<(String, i64)>>>,
    /// The sequence number of the latest live or clip session offered to the agents.
    pub live_seq: std::sync::atomic::AtomicU64,
    /// This server process's id: agents start counting live offers afresh when it changes
    /// (a restarted server numbers its sessions from the start again).
    pub live_epoch: String,
    /// How many posts each neighbourhood area holds, loaded at the first feed and kept by
    /// this process as it stores and deletes posts (the server is one process, as for live
    /// sessions): the feed query's plan, and which areas it can skip as empty.
    pub area_posts: tokio::sync::OnceCell<Mutex<HashMap<i64, i64>>>,
    /// The area of each neighbourhood post made, deleted or hidden, for the feeds' live
    /// streams (which then fetch the feed again).
    pub new_posts: broadcast::Sender<i64>,
    /// The process's background workers (retention, GC, request expiry…), for `/metrics`.
    pub workers: Mutex<base::worker::StatusHandle>,
    /// The transparency log's tall subtree hashes, read once (they never change).
    pub log_nodes: crate::log::NodeCache,
}

/// One live view: the signed request, and the relay's two ends until each side takes its own.
pub struct LiveSession {
    pub seq: u64,
    pub household_id: String,
    pub account_id: String,
    pub camera: String,
    pub request: Vec<u8>,
    pub created_ms: i64,
    /// Live video, or a clip prepared for posting.
    pub offer: crate::types::Offer,
    /// Taken by the agent that answers.
    pub to_viewer: Option<tokio::sync::mpsc::Sender<axum::body::Bytes>>,
    /// Taken by the browser that asked.
    pub from_agent: Option<tokio::sync::mpsc::Receiver<axum::body::Bytes>>,
    /// The agent's stream ended before the browser came for it (a short answer: a still,
    /// the day's runs): what it sent waits in the channel for the browser.
    pub agent_done: bool,
    /// A talk session (`Offer::Talk`) runs the other way: the browser sends through
    /// `to_viewer` and the agent reads `from_agent`.
    pub talk: Option<TalkInfo>,
}

/// A talk session's own state: who talks, where it stands, when it last carried sound.
pub struct TalkInfo {
    pub email: String,
    pub state: crate::types::TalkState,
    pub active_ms: i64,
}

impl LiveSession {
    /// A session waiting for its agent, with the relay channel between them.
    pub fn new(
        household_id: &str,
        account_id: &str,
        camera: &str,
        request: Vec<u8>,
        created_ms: i64,
        offer: crate::types::Offer,
    ) -> LiveSession {
        let (tx, rx) = tokio::sync::mpsc::channel(crate::relay::RELAY_DEPTH);
        LiveSession {
            seq: 0,
            household_id: household_id.to_owned(),
            account_id: account_id.to_owned(),
            camera: camera.to_owned(),
            request,
            created_ms,
            offer,
            to_viewer: Some(tx),
            from_agent: Some(rx),
            agent_done: false,
            talk: None,
        }
    }

    /// Still worth keeping at `now_ms`: a talk session while it carries sound and within its
    /// longest length (one that ended stays as long, so its member can read why); any other
    /// while being relayed, and (for a while) while waiting for an agent or, with the answer
    /// in hand, for its browser.
    pub fn alive(&self, now_ms: i64) -> bool {
        match &self.talk {
            Some(t) => {
                now_ms - t.active_ms < crate::relay::TALK_IDLE_MS
                    && now_ms - self.created_ms < crate::relay::TALK_MAX_MS
            }
            None => (self.to_viewer.is_none() && !self.agent_done) || now_ms - self.created_ms < crate::relay::OFFER_MS,
        }
    }

    /// A talk session that is alive and not ended: its member holds the camera's speaker.
    pub fn talking(&self, now_ms: i64) -> bool {
        self.talk.as_ref().is_some_and(|t| t.state.stage != crate::types::TalkStage::Ended) && self.alive(now_ms)
    }

    /// Not yet taken by an agent.
    pub fn awaiting_agent(&self) -> bool {
        if self.talk.is_some() { self.from_agent.is_some() } else { self.to_viewer.is_some() }
    }
}

/// One agent's latest status report.
#[derive(Clone)]
pub struct DeviceReport {
    pub household_id: String,
    pub reported_ms: i64,
    pub cameras: Vec<crate::types::CameraReport>,
    pub settings_serial: Option<i64>,
}

impl AppState {
    /// Wakes every agent waiting for a roster or settings change.
    pub fn signal_agents(&self) {
        self.agent_signal.send_modify(|n| *n += 1);
    }

    pub fn new(db: Db, blobs: BlobStore, settings: Settings, clock: Clock) -> AppState {
        let (live, _) = broadcast::channel(1024);
        let limiter = Limiter::new(settings.auth_attempts_per_minute);
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("building an HTTP client");
        let webauthn = crate::webauthn::relying_party(&settings.public_url).ok();
        AppState(Arc::new(Inner {
            webauthn,
            ceremonies: crate::webauthn::Ceremonies::default(),
            camera_status: Mutex::new(HashMap::new()),
            agent_signal: tokio::sync::watch::channel(0).0,
            live_sessions: Mutex::new(HashMap::new()),
            prepared_clips: Mutex::new(HashMap::new()),
            area_posts: tokio::sync::OnceCell::new(),
            new_posts: broadcast::channel(256).0,
            workers: Mutex::new(base::worker::StatusHandle::default()),
            log_nodes: crate::log::NodeCache::default(),
            live_seq: std::sync::atomic::AtomicU64::new(0),
            live_epoch: crate::secrets::random_hex(8),
            db,
            blobs,
            settings,
            clock,
            live,
            metrics: Metrics::default(),
            limiter,
            http,
            webhooks: crate::webhook::Outbound::default(),
            pushes: crate::webhook::Outbound::default(),
            auth_cache: AuthCache::default(),
        }))
    }

    pub fn now_ms(&self) -> i64 {
        (self.0.clock)()
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_counts_per_minute_and_address() {
        let l = Limiter::new(3);
        let (a, b) = ("127.0.0.1", "127.0.0.2");
        assert!((0..3).all(|_| l.allow(a, 1_000)));
        assert!(!l.allow(a, 2_000));
        assert!(l.allow(b, 2_000));
        assert!(l.allow(a, 61_000));
    }

    #[test]
    fn ranges_contain_what_they_should() {
        let check = |range: &str, ip: &str, want: bool| {
            let c = Cidr::parse(range).unwrap();
            assert_eq!(c.contains(ip.parse().unwrap()), want, "{range} contains {ip}");
        };
        check("10.0.0.0/8", "10.200.3.4", true);
        check("10.0.0.0/8", "11.0.0.1", false);
        check("127.0.0.1", "127.0.0.1", true);
        check("127.0.0.1", "127.0.0.2", false);
        check("127.0.0.1", "::ffff:127.0.0.1", true);
        check("0.0.0.0/0", "203.0.113.9", true);
        check("0.0.0.0/0", "::1", false);
        check("2001:db8::/32", "2001:db8:ffff::1", true);
        check("2001:db8::/32", "2001:db9::1", false);
        check("::/0", "::1", true);
        for bad in ["", "10.0.0.0/33", "::/129", "localhost", "10.0.0.0/x"] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
    }
}
