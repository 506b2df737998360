//! Outbound deliveries to addresses users chose: webhooks (one POST per new event to the
//! household's URL, signed) and Web Push messages (one per subscribed browser, encrypted
//! for it, `crate::push`), each through a bounded queue that a worker ([`Sender`]: `webhooks`,
//! `push`) drains, a few at a time, with bounded retries.
//!
//! A webhook (and a push endpoint) is a request the server makes on a user's behalf to an
//! address the user chose, so it is also a way to make the server reach what only it can reach. Unless the
//! operator allows private addresses (`webhook_allow_private`), a URL whose host is, or
//! resolves to, a loopback, private, link-local, shared, documentation, multicast or
//! unspecified address is refused: when it is set and again at each delivery. The delivery
//! connects to the very address it checked (no second lookup an attacker's DNS could
//! answer differently), follows no redirect, gives up after `TIMEOUT`, and never reads the
//! answer's body.
//!
//! Each delivery carries `X-Porchlight-Signature: t=<unix ms>,v1=<hex>`, where `<hex>` is
//! HMAC-SHA256 with the household's webhook secret over `<t>.<body>`; the owner sees the
//! secret in the household's settings and can rotate it.
//!
//! The queue is in memory: deliveries waiting when the process stops are dropped (a
//! webhook is a notification, not a record; the event itself is stored).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::state::{AppState, Metrics};

/// Deliveries waiting at most (retries included); more are dropped (and counted) rather
/// than held.
pub const QUEUE_MAX: usize = 1024;
/// Deliveries in flight at once.
const AT_ONCE: usize = 4;
/// Deliveries one pass takes on at most, so the worker's status moves.
const PER_PASS: usize = 64;
/// Tries per delivery, and the wait before the second (doubling).
const TRIES: u32 = 3;
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// The whole request, connection included.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The worker's wait when nothing is queued (a new delivery rings it at once).
const IDLE: Duration = Duration::from_secs(60);

pub struct Delivery {
    pub url: String,
    /// The webhook's JSON, or the push message's plaintext (encrypted at each try).
    pub body: Vec<u8>,
    pub target: Target,
}

/// What a delivery is, which decides how it is sent.
pub enum Target {
    /// Signed with the household's webhook secret.
    Webhook { secret: String },
    /// Encrypted for a browser's subscription (RFC 8291) and identified by VAPID
    /// (RFC 8292); a push service that answers 404 or 410 has dropped the subscription,
    /// which is then deleted.
    Push { subscription_id: String, keys: crate::push::SubscriptionKeys },
}

/// Which queue a [`Sender`] drains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    Webhooks,
    Push,
}

struct Queued {
    d: Delivery,
    /// Tries made so far.
    tries: u32,
    due: Instant,
}

/// A queue, shared by the routes that fill it and the worker that drains it.
#[derive(Clone, Default)]
pub struct Outbound {
    queue: Arc<Mutex<VecDeque<Queued>>>,
    bell: Arc<Notify>,
}

impl Outbound {
    /// Queues a delivery; false (counted as failed) when the queue is full.
    pub fn enqueue(&self, st: &AppState, d: Delivery) -> bool {
        {
            let mut q = self.queue.lock().expect("webhook queue");
            if q.len() >= QUEUE_MAX {
                drop(q);
                Metrics::add(failed_counter(st, &d.target), 1);
                tracing::warn!("outbound queue full: a delivery was dropped");
                return false;
            }
            q.push_back(Queued { d, tries: 0, due: Instant::now() });
        }
        self.bell.notify_one();
        true
    }

    /// Deliveries waiting, retries included.
    pub fn queued(&self) -> usize {
        self.queue.lock().expect("webhook queue").len()
    }

    /// Takes up to `n` deliveries that are due now, oldest first.
    fn take_due(&self, n: usize) -> Vec<Queued> {
        let now = Instant::now();
        let mut q = self.queue.lock().expect("webhook queue");
        let mut due = Vec::new();
        let mut i = 0;
        while i < q.len() && due.len() < n {
            if q[i].due <= now {
                due.extend(q.remove(i));
            } else {
                i += 1;
            }
        }
        due
    }

    /// The wait until the earliest queued delivery is due.
    fn next_due(&self) -> Duration {
        let now = Instant::now();
        let q = self.queue.lock().expect("webhook queue");
        q.iter().map(|d| d.due.saturating_duration_since(now)).min().unwrap_or(IDLE)
    }

    fn requeue(&self, mut d: Queued) {
        d.due = Instant::now() + FIRST_RETRY * 2u32.pow(d.tries - 1);
        self.queue.lock().expect("webhook queue").push_back(d);
    }
}

fn failed_counter<'a>(st: &'a AppState, t: &Target) -> &'a std::sync::atomic::AtomicU64 {
    match t {
        Target::Webhook { .. } => &st.metrics.webhooks_failed,
        Target::Push { .. } => &st.metrics.push_failed,
    }
}

fn delivered_counter<'a>(st: &'a AppState, t: &Target) -> &'a std::sync::atomic::AtomicU64 {
    match t {
        Target::Webhook { .. } => &st.metrics.webhooks_delivered,
        Target::Push { .. } => &st.metrics.push_delivered,
    }
}

/// A queue's worker (`webhooks`, `push`): each pass sends what is due, `AT_ONCE` at a time,
/// and puts a failed delivery back with a doubling wait until it has had `TRIES` tries.
pub struct Sender {
    st: AppState,
    queue: Queue,
}

impl Sender {
    pub fn new(st: &AppState, queue: Queue) -> Sender {
        Sender { st: st.clone(), queue }
    }

    fn outbound(&self) -> &Outbound {
        match self.queue {
            Queue::Webhooks => &self.st.webhooks,
            Queue::Push => &self.st.pushes,
        }
    }
}

impl base::worker::Worker for Sender {
    fn name(&self) -> &'static str {
        match self.queue {
            Queue::Webhooks => "webhooks",
            Queue::Push => "push",
        }
    }

    fn interval(&self) -> Duration {
        self.outbound().next_due()
    }

    fn wake(&self) -> Option<Arc<Notify>> {
        Some(self.outbound().bell.clone())
    }

    async fn pass(&mut self) -> Result<u64, base::Error> {
        let hooks = self.outbound().clone();
        let mut delivered = 0;
        let mut taken = 0;
        while taken < PER_PASS {
            let batch = hooks.take_due(AT_ONCE.min(PER_PASS - taken));
            if batch.is_empty() {
                break;
            }
            taken += batch.len();
            let sent = futures::future::join_all(batch.into_iter().map(|mut q| {
                let st = self.st.clone();
                async move {
                    q.tries += 1;
                    let r = send(&st, &q.d).await;
                    (q, r)
                }
            }))
            .await;
            for (q, r) in sent {
                match r {
                    Ok(()) => {
                        Metrics::add(delivered_counter(&self.st, &q.d.target), 1);
                        delivered += 1;
                    }
                    Err(Failed::Gone) => {
                        if let Target::Push { subscription_id, .. } = &q.d.target {
                            tracing::info!(subscription = %subscription_id, "the push service dropped a subscription: deleted");
                            self.st.db.delete_push_subscription(subscription_id, None).await?;
                        }
                        Metrics::add(failed_counter(&self.st, &q.d.target), 1);
                    }
                    Err(Failed::Retry(e)) => {
                        tracing::warn!(url = %q.d.url, attempt = q.tries, "{}: {e}", self.name());
                        if q.tries < TRIES {
                            hooks.requeue(q);
                        } else {
                            Metrics::add(failed_counter(&self.st, &q.d.target), 1);
                        }
                    }
                }
            }
        }
        Ok(delivered)
    }
}

/// The signature header's value for `body` sent at `t_ms`.
pub fn signature(secret: &str, t_ms: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t_ms},v1={}", crypto::keys::hex(&mac.finalize().into_bytes()))
}

/// Why a delivery failed.
enum Failed {
    /// Worth another try (unreachable, slow, 5xx, 429, any other refusal).
    Retry(String),
    /// The push service no longer has the subscription (404, 410).
    Gone,
}

impl From<String> for Failed {
    fn from(e: String) -> Failed {
        Failed::Retry(e)
    }
}

impl From<&str> for Failed {
    fn from(e: &str) -> Failed {
        Failed::Retry(e.to_owned())
    }
}

/// How long a push service keeps an alert for a browser that is offline: after that it is
/// stale (the timeline has it).
const PUSH_TTL_S: u32 = 600;
/// How long a VAPID token is valid (at most 24 h, RFC 8292).
const VAPID_VALID_S: i64 = 12 * 3600;

async fn send(st: &AppState, d: &Delivery) -> Result<(), Failed> {
    let url = url::Url::parse(&d.url).map_err(|e| e.to_string())?;
    let host = url.host_str().ok_or("no host")?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = url.port_or_known_default().ok_or("no port")?;
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((host.as_str(), port)).await.map_err(|e| format!("resolving {host}: {e}"))?.collect();
    let allow = st.settings.webhook_allow_private;
    let addr = *addrs.first().ok_or_else(|| format!("{host} has no address"))?;
    if let Some(bad) = addrs.iter().find(|a| !allow && !is_public(a.ip())) {
        return Err(format!("{host} resolves to {}, a private address (webhook_allow_private is off)", bad.ip()).into());
    }
    // One client per delivery, pinned to the address just checked.
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, addr)
        .build()
        .map_err(|e| e.to_string())?;
    let t = st.now_ms();
    let rb = match &d.target {
        Target::Webhook { secret } => client
            .post(url)
            .header("content-type", "application/json")
            .header("x-porchlight-signature", signature(secret, t, &d.body))
            .body(d.body.clone()),
        Target::Push { keys, .. } => {
            let body = crate::push::encrypt(keys, &d.body).map_err(|e| e.to_string())?;
            let vapid = st.settings.vapid_key.vapid(&url, st.settings.public_url.as_str(), t / 1000, VAPID_VALID_S);
            client
                .post(url)
                .header("content-type", "application/octet-stream")
                .header("content-encoding", "aes128gcm")
                .header("ttl", PUSH_TTL_S.to_string())
                .header("urgency", "high")
                .header("authorization", vapid)
                .body(body)
        }
    };
    let r = rb.send().await.map_err(|e| e.to_string())?;
    if matches!(d.target, Target::Push { .. }) && matches!(r.status().as_u16(), 404 | 410) {
        return Err(Failed::Gone);
    }
    if !r.status().is_success() {
        return Err(format!("answered {}", r.status()).into());
    }
    Ok(())
}

/// Checks a webhook URL when it is set: http(s), at most 2048 bytes, and, unless private
/// addresses are allowed, not a name or literal address that is plainly private (the
/// delivery checks what the name resolves to as well).
pub fn check_url(u: &str, allow_private: bool) -> Result<(), base::Error> {
    check_outbound_url("webhook_url", u, allow_private)
}

/// [`check_url`] for any address the server will send to on a user's behalf, errors naming
/// `field` (a webhook's URL, a push subscription's endpoint).
pub fn check_outbound_url(field: &str, u: &str, allow_private: bool) -> Result<(), base::Error> {
    let parsed = url::Url::parse(u).map_err(|e| base::err!(InvalidArgument, "{field}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || u.len() > 2048 {
        base::bail!(InvalidArgument, "{field}: expected an http or https URL of at most 2048 bytes");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        base::bail!(InvalidArgument, "{field}: credentials in the URL are not accepted");
    }
    if allow_private {
        return Ok(());
    }
    let private = match parsed.host() {
        Some(url::Host::Ipv4(a)) => !is_public(IpAddr::V4(a)),
        Some(url::Host::Ipv6(a)) => !is_public(IpAddr::V6(a)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost") || d.ends_with(".local") || d.ends_with(".internal")
        }
        None => true,
    };
    if private {
        base::bail!(
            InvalidArgument,
            "{field}: {} is a private or local address; this server delivers only to public addresses",
            parsed.host_str().unwrap_or_default()
        );
    }
    Ok(())
}

/// Whether an address is on the public internet: not loopback, private (RFC 1918, unique
/// local), link-local, shared (CGNAT), benchmarking, documentation, multicast, broadcast or
/// unspecified; IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(a) => {
            let o = a.octets();
            !(a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x0064 && s[1] == 0xff9b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "ff02::1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a}");
        }
        for a in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn urls_are_checked_when_set() {
        for (u, want) in [
            ("ftp://example.org/", "http or https"),
            ("http://127.0.0.1:8080/hook", "private or local"),
            ("http://[::1]/hook", "private or local"),
            ("http://169.254.169.254/latest/meta-data", "private or local"),
            ("http://localhost/hook", "private or local"),
            ("http://printer.local/", "private or local"),
            ("https://user:pw@example.org/", "credentials"),
        ] {
            let e = check_url(u, false).unwrap_err();
            assert!(e.to_string().contains(want), "{u}: {e}");
        }
        assert!(check_url("https://hooks.example.org/porchlight", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook", true).is_ok());
    }

    #[test]
    fn signatures_cover_time_and_body() {
        let s = signature("secret", 1_700_000_000_000, b"{}");
        assert!(s.starts_with("t=1700000000000,v1="));
        assert_ne!(s, signature("secret", 1_700_000_000_001, b"{}"));
        assert_ne!(s, signature("secret", 1_700_000_000_000, b"{ }"));
        assert_ne!(s, signature("other", 1_700_000_000_000, b"{}"));
    }
}
