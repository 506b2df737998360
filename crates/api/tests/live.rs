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
    let s = Server::start_local().await;
    let mut home = home(&s, "owner@example.org").await;
    let hid = home.household.clone();
    let other = home_of(&s, "other@example.org").await;

    // A webhook receiver.
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", hook.local_addr().unwrap());
    home.owner.ok(Method::PATCH, &format!("/api/households/{hid}"), Some(json!({"webhook_url": hook_url}))).await;
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
                    return String::from_utf8_lossy(&req[i + 4..]).into_owned();
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

    let body = tokio::time::timeout(Duration::from_secs(5), received).await.unwrap().unwrap();
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
