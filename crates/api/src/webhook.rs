//! Webhook deliveries: one POST per new event to the household's URL, signed, through a
//! bounded queue with a few workers and bounded retries.
//!
//! A webhook is a request the server makes on a user's behalf to an address the user
//! chose, so it is also a way to make the server reach what only it can reach. Unless the
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

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::state::{AppState, Metrics};

/// Deliveries waiting at most; more are dropped (and counted) rather than held.
pub const QUEUE_MAX: usize = 1024;
/// Deliveries in flight at once.
const WORKERS: usize = 4;
/// Tries per delivery, and the wait before the second (doubling).
const TRIES: u32 = 3;
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// The whole request, connection included.
const TIMEOUT: Duration = Duration::from_secs(5);

pub struct Delivery {
    pub url: String,
    pub secret: String,
    pub body: Vec<u8>,
}

/// The queue: made on first use, inside the server's runtime.
#[derive(Default)]
pub struct Webhooks {
    tx: std::sync::OnceLock<mpsc::Sender<Delivery>>,
}

impl Webhooks {
    /// Queues a delivery; false (counted as failed) when the queue is full.
    pub fn enqueue(&self, st: &AppState, d: Delivery) -> bool {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Delivery>(QUEUE_MAX);
            let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
            for _ in 0..WORKERS {
                let (st, rx) = (st.clone(), rx.clone());
                tokio::spawn(async move {
                    loop {
                        let Some(d) = rx.lock().await.recv().await else { return };
                        deliver(&st, d).await;
                    }
                });
            }
            tx
        });
        if tx.try_send(d).is_err() {
            Metrics::add(&st.metrics.webhooks_failed, 1);
            tracing::warn!("webhook queue full: a delivery was dropped");
            return false;
        }
        true
    }
}

async fn deliver(st: &AppState, d: Delivery) {
    let mut wait = FIRST_RETRY;
    for attempt in 1..=TRIES {
        match send(st, &d).await {
            Ok(()) => {
                Metrics::add(&st.metrics.webhooks_delivered, 1);
                return;
            }
            Err(e) => tracing::warn!(url = %d.url, attempt, "webhook: {e}"),
        }
        if attempt < TRIES {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    Metrics::add(&st.metrics.webhooks_failed, 1);
}

/// The signature header's value for `body` sent at `t_ms`.
pub fn signature(secret: &str, t_ms: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t_ms},v1={}", crypto::keys::hex(&mac.finalize().into_bytes()))
}

async fn send(st: &AppState, d: &Delivery) -> Result<(), String> {
    let url = url::Url::parse(&d.url).map_err(|e| e.to_string())?;
    let host = url.host_str().ok_or("no host")?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = url.port_or_known_default().ok_or("no port")?;
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((host.as_str(), port)).await.map_err(|e| format!("resolving {host}: {e}"))?.collect();
    let allow = st.settings.webhook_allow_private;
    let addr = *addrs.first().ok_or_else(|| format!("{host} has no address"))?;
    if let Some(bad) = addrs.iter().find(|a| !allow && !is_public(a.ip())) {
        return Err(format!("{host} resolves to {}, a private address (webhook_allow_private is off)", bad.ip()));
    }
    // One client per delivery, pinned to the address just checked.
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, addr)
        .build()
        .map_err(|e| e.to_string())?;
    let t = st.now_ms();
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-porchlight-signature", signature(&d.secret, t, &d.body))
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("answered {}", r.status()));
    }
    Ok(())
}

/// Checks a webhook URL when it is set: http(s), at most 2048 bytes, and, unless private
/// addresses are allowed, not a name or literal address that is plainly private (the
/// delivery checks what the name resolves to as well).
pub fn check_url(u: &str, allow_private: bool) -> Result<(), base::Error> {
    let parsed = url::Url::parse(u).map_err(|e| base::err!(InvalidArgument, "webhook_url: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || u.len() > 2048 {
        base::bail!(InvalidArgument, "webhook_url: expected an http or https URL of at most 2048 bytes");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        base::bail!(InvalidArgument, "webhook_url: credentials in the URL are not accepted; the delivery is signed");
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
            "webhook_url: {} is a private or local address; this server delivers only to public addresses",
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
