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
    // It is busy the first time (503), so the delivery is tried again: the same body.
    let received = tokio::spawn(async move {
        let mut bodies = Vec::new();
        loop {
            let (mut sock, _) = hook.accept().await.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            let (sig, body) = loop {
                let n = sock.read(&mut buf).await.unwrap();
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req);
                if let Some(i) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if req.len() >= i + 4 + len {
                        let sig = text
                            .lines()
                            .find_map(|l| {
                                l.to_lowercase().strip_prefix("x-porchlight-signature:").map(|v| v.trim().to_owned())
                            })
                            .unwrap_or_default();
                        break (sig, String::from_utf8_lossy(&req[i + 4..]).into_owned());
                    }
                }
            };
            bodies.push(body.clone());
            if bodies.len() == 1 {
                sock.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n").await.unwrap();
                continue;
            }
            sock.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await.unwrap();
            return (sig, body, bodies);
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
    assert_eq!(got["id"], e.id.as_str());
    eprintln!("upload took {committed:?}; the event arrived {:?} after the upload started", t.elapsed());

    let (sig, body, bodies) = tokio::time::timeout(Duration::from_secs(5), received).await.unwrap().unwrap();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0], bodies[1], "a retry sends the same delivery");
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
    let hook: wire::WebhookEvent = serde_json::from_str(&body).unwrap();
    assert_eq!(hook.event.id, e.id);
    assert_eq!(hook.household_id, hid);
    // Counted once, as delivered, and nothing waits any more.
    let m = s.http.get(format!("{}/metrics", s.base)).bearer_auth(METRICS_TOKEN).send().await.unwrap();
    let m = m.text().await.unwrap();
    for line in [
        "porchlight_webhooks_delivered_total 1\n",
        "porchlight_webhooks_failed_total 0\n",
        "porchlight_webhooks_queued 0\n",
    ] {
        assert!(m.contains(line), "{line}: {m}");
    }
    assert!(m.contains("porchlight_worker_done_total{worker=\"webhooks\"} 1\n"), "{m}");

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
    assert_eq!(got["id"], loud.id.as_str(), "the quiet event was pushed");
    // Both are on the timeline.
    let mut owner = home.owner.clone();
    let list = owner.ok(Method::GET, &format!("/api/households/{hid}/events"), None).await;
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&quiet["id"].as_str().unwrap()) && ids.contains(&loud.id.as_str()), "{ids:?}");
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
    let m = s.http.get(format!("{}/metrics", s.base)).bearer_auth(METRICS_TOKEN).send().await.unwrap();
    assert!(m.text().await.unwrap().contains("porchlight_webhooks_queued 0\n"), "given up, not held");
    let accepted = tokio::time::timeout(Duration::from_millis(1), hook.accept()).await;
    assert!(accepted.is_err(), "the server connected to a loopback webhook");
}

/// An event's start is alerted the moment it arrives (the open app's stream, the webhook);
/// the finished event under the same id replaces it: the stream hears the update, the
/// webhook nothing more, the start's metadata object is deleted, and a start arriving
/// after the finished event changes nothing. A start with a clip is refused and changes
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_start_alerts_once_and_its_end_replaces_it() {
    use crypto::object::Kind;
    let s = Server::start_local_with(|st| st.webhook_allow_private = true).await;
    let mut home = home(&s, "owner@example.org").await;
    let hid = home.household.clone();
    // A webhook receiver that answers every delivery and counts them.
    let hook = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", hook.local_addr().unwrap());
    home.owner.ok(Method::PATCH, &format!("/api/households/{hid}"), Some(json!({"webhook_url": hook_url}))).await;
    let heard = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h2 = heard.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = hook.accept().await.unwrap();
            let mut buf = [0u8; 8192];
            let _ = sock.read(&mut buf).await;
            h2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = sock.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await;
        }
    });
    let live = home.owner.request(Method::GET, &format!("/api/households/{hid}/events/live")).send().await.unwrap();
    let mut live = live.bytes_stream();
    let mut buf = String::new();

    let t = s.now();
    let id = "5".repeat(32);
    let start_meta = upload(&home, Kind::Event, "porch", t, t, br#"{"in_progress":true}"#, 1 << 20).await;
    let snap = upload(&home, Kind::Snapshot, "porch", t, t, b"\xff\xd8 so far \xff\xd9", 1 << 20).await;
    let clip = upload(&home, Kind::Clip, "porch", t - 5000, t + 20_000, &[9u8; 5000], 4096).await;

    // A start with a clip is a client mistake, and changes nothing.
    let before = s.snapshot().await;
    let (st, v) = home
        .device
        .call(
            Method::POST,
            "/api/events",
            Some(json!({"id": id, "meta_object": start_meta, "clip_object": clip, "in_progress": true})),
        )
        .await;
    assert_eq!(st.as_u16(), 400, "{v}");
    assert!(v["message"].as_str().unwrap().starts_with("clip_object:"), "{v}");
    assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new());

    let new = |meta: &str, snapshot: Option<&str>, clip: Option<&str>, in_progress: bool| wire::NewEvent {
        id: id.clone(),
        meta_object: meta.to_owned(),
        snapshot_object: snapshot.map(str::to_owned),
        clip_object: clip.map(str::to_owned),
        notify: None,
        in_progress: Some(in_progress),
    };
    let started = home.device.commit_event(&new(&start_meta, Some(&snap), None, true)).await.unwrap();
    assert!(started.in_progress && started.clip_object.is_none());
    let got = tokio::time::timeout(Duration::from_secs(1), next_event(&mut live, &mut buf)).await.unwrap();
    assert_eq!((got["id"].as_str(), got["in_progress"].as_bool()), (Some(started.id.as_str()), Some(true)));
    // A newer start (a better snapshot so far) updates it without a second alert.
    let again = home.device.commit_event(&new(&start_meta, Some(&snap), None, true)).await.unwrap();
    assert_eq!(again.id, started.id, "a retry of the start is the same event");

    // The finished event: new metadata, the clip.
    let final_meta = upload(&home, Kind::Event, "porch", t, t + 15_000, br#"{"in_progress":false}"#, 1 << 20).await;
    let done = home.device.commit_event(&new(&final_meta, Some(&snap), Some(&clip), false)).await.unwrap();
    assert_eq!(done.id, started.id);
    assert!(!done.in_progress && done.clip_object.as_deref() == Some(clip.as_str()) && done.end_ms == t + 15_000);
    let got = tokio::time::timeout(Duration::from_secs(1), next_event(&mut live, &mut buf)).await.unwrap();
    assert_eq!((got["id"].as_str(), got["in_progress"].as_bool()), (Some(done.id.as_str()), Some(false)));
    assert_eq!(got["clip_object"], clip.as_str());
    // One event on the timeline, finished; the start's metadata object is gone.
    let mut owner = home.owner.clone();
    let list = owner.ok(Method::GET, &format!("/api/households/{hid}/events"), None).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        (list[0]["in_progress"].as_bool(), list[0]["meta_object"].as_str()),
        (Some(false), Some(final_meta.as_str()))
    );
    assert_eq!(owner.call(Method::GET, &format!("/api/objects/{start_meta}"), None).await.0.as_u16(), 404);
    assert!(s.state.db.object(&start_meta).await.unwrap().is_none(), "the replaced metadata is deleted");

    // A start arriving late (after its finished event), and a retry of the finished event,
    // change nothing.
    let before = s.snapshot().await;
    let stale = home.device.commit_event(&new(&final_meta, Some(&snap), None, true)).await.unwrap();
    assert!(!stale.in_progress && stale.clip_object.as_deref() == Some(clip.as_str()));
    home.device.commit_event(&new(&final_meta, Some(&snap), Some(&clip), false)).await.unwrap();
    assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new());
    // A different finished event under the id is refused.
    let other = upload(&home, Kind::Event, "porch", t, t + 1, b"{}", 1 << 20).await;
    let e = home.device.commit_event(&new(&other, None, None, false)).await.unwrap_err();
    assert_eq!(e.kind(), base::ErrorKind::FailedPrecondition, "{e}");

    // The webhook heard the start only.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(heard.load(std::sync::atomic::Ordering::SeqCst), 1, "one alert per event");
}
