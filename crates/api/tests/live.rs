//! New events reach the household's open sessions within a second (server-sent events),
//! and its webhook; not other households' sessions, nor a guest's for footage outside
//! their window.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads server-sent events until one with `data:`; returns its JSON.
async fn next_event(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
) -> serde_json::Value {
    loop {
        if let Some(i) = buf.find("\n\n") {
            let block: String = buf.drain(..i + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) {
                return serde_json::from_str(data.trim()).unwrap();
            }
            continue;
        }
        let chunk = stream.next().await.expect("stream ended").unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_open_sessions_within_a_second_and_the_webhook() {
    // The receiver is on loopback, which only an operator's setting lets webhooks reach.
    let s = Server::start_local_with(|st| st.webhook_allow_private = true).await;
    let mut home = home(&s, "owner@example.org").await;
    let hid = home.household.clone();
    let other = home_of(&s, "other@example.org").await;

    // A webhook receiver.
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", hook.local_addr().unwrap());
    let patched =
        home.owner.ok(Method::PATCH, &format!("/api/households/{hid}"), Some(json!({"webhook_url": hook_url}))).await;
    let secret = patched["webhook_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 64);
    let received = tokio::spawn(async move {
        let (mut sock, _) = hook.accept().await.unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = sock.read(&mut buf).await.unwrap();
            req.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&req);
            if let Some(i) = text.find("\r\n\r\n") {
                let len: usize = text
                    .lines()
                    .find_map(|l| l.to_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                    .unwrap_or(0);
                if req.len() >= i + 4 + len {
                    sock.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await.unwrap();
                    let sig = text
                        .lines()
                        .find_map(|l| {
                            l.to_lowercase().strip_prefix("x-porchlight-signature:").map(|v| v.trim().to_owned())
                        })
                        .unwrap_or_default();
                    return (sig, String::from_utf8_lossy(&req[i + 4..]).into_owned());
                }
            }
        }
    });

    let open = |c: &Client, h: &str| c.request(Method::GET, &format!("/api/households/{h}/events/live")).send();
    let mine = open(&home.owner, &hid).await.unwrap();
    assert_eq!(mine.status().as_u16(), 200);
    assert_eq!(mine.headers()["content-type"], "text/event-stream");
    let theirs = open(&other.owner, &other.household).await.unwrap();
    let mut mine = mine.bytes_stream();
    let mut theirs = theirs.bytes_stream();

    let t = Instant::now();
    let e = event(&home, "porch", s.now(), s.now() + 5000).await;
    let committed = t.elapsed();
    let mut buf = String::new();
    let got = tokio::time::timeout(Duration::from_secs(1), next_event(&mut mine, &mut buf))
        .await
        .expect("no event within a second");
    assert_eq!(got["id"], e["id"]);
    eprintln!("upload took {committed:?}; the event arrived {:?} after the upload started", t.elapsed());

    let (sig, body) = tokio::time::timeout(Duration::from_secs(5), received).await.unwrap().unwrap();
    // Signed with the household's secret over the time and the body.
    let t: i64 = sig.strip_prefix("t=").unwrap().split(',').next().unwrap().parse().unwrap();
    assert_eq!(sig, porchlight_api::webhook::signature(&secret, t, body.as_bytes()));
    // Members who may not change the settings see neither the URL nor the secret.
    let token = home
        .owner
        .ok(Method::POST, &format!("/api/households/{hid}/invitations"), Some(json!({"role": "standard"})))
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut member = s.user("member@example.org").await;
    member.ok(Method::POST, "/api/invitations/accept", Some(json!({"token": token}))).await;
    let seen = member.ok(Method::GET, &format!("/api/households/{hid}"), None).await;
    assert!(seen["webhook_url"].is_null() && seen["webhook_secret"].is_null(), "{seen}");
    let hook: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(hook["event"]["id"], e["id"]);
    assert_eq!(hook["household_id"], hid.as_str());

    // The other household hears nothing.
    let mut buf2 = String::new();
    assert!(tokio::time::timeout(Duration::from_millis(500), next_event(&mut theirs, &mut buf2)).await.is_err());
}

async fn home_of(s: &Server, email: &str) -> Home {
    home(s, email).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_mode_keeps_quiet_is_listed_but_not_pushed() {
    use crypto::object::Kind;
    let s = Server::start_local().await;
    let home = home(&s, "owner@example.org").await;
    let hid = home.household.clone();
    let live = home.owner.request(Method::GET, &format!("/api/households/{hid}/events/live")).send().await.unwrap();
    let mut live = live.bytes_stream();
    let quiet_meta = upload(&home, Kind::Event, "porch", s.now(), s.now() + 1000, b"{}", 1 << 20).await;
    let mut d = home.device.clone();
    let quiet = d
        .ok(
            Method::POST,
            "/api/events",
            Some(json!({"id": "1".repeat(32), "meta_object": quiet_meta, "notify": false})),
        )
        .await;
    // A normal event after it is the first thing the session hears.
    let loud = event(&home, "porch", s.now(), s.now() + 1000).await;
    let mut buf = String::new();
    let got = tokio::time::timeout(Duration::from_secs(2), next_event(&mut live, &mut buf)).await.unwrap();
    assert_eq!(got["id"], loud["id"], "the quiet event was pushed");
    // Both are on the timeline.
    let mut owner = home.owner.clone();
    let list = owner.ok(Method::GET, &format!("/api/households/{hid}/events"), None).await;
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&quiet["id"].as_str().unwrap()) && ids.contains(&loud["id"].as_str().unwrap()), "{ids:?}");
}

/// Unless the operator allows it, a webhook never reaches a loopback or private address:
/// refused when set (nothing changes), and refused at delivery when the stored URL leads
/// there (as a name whose DNS answer changed would): the receiver never hears a thing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_never_reach_private_addresses() {
    let s = Server::start_local().await;
    let mut home = home(&s, "owner@example.org").await;
    let hid = home.household.clone();
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", hook.local_addr().unwrap());
    let before = s.snapshot().await;
    let (st, v) =
        home.owner.call(Method::PATCH, &format!("/api/households/{hid}"), Some(json!({"webhook_url": url}))).await;
    assert_eq!(st.as_u16(), 400, "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("webhook_url:"), "{v}");
    assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new());

    let mut h = s.state.db.household(&hid).await.unwrap().unwrap();
    h.webhook_url = Some(url);
    h.webhook_secret = Some("0".repeat(64));
    s.state.db.update_household(&h).await.unwrap();
    event(&home, "porch", s.now(), s.now() + 1000).await;
    let failed = || async {
        let m = s.http.get(format!("{}/metrics", s.base)).bearer_auth(METRICS_TOKEN).send().await.unwrap();
        m.text().await.unwrap().contains("porchlight_webhooks_failed_total 1\n")
    };
    // Three tries, 0.5 s and 1 s apart: the failure is counted within seconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !failed().await {
        assert!(std::time::Instant::now() < deadline, "the delivery was never given up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let accepted = tokio::time::timeout(Duration::from_millis(1), hook.accept()).await;
    assert!(accepted.is_err(), "the server connected to a loopback webhook");
}
