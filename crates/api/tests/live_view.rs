//! The live view relay: a member's signed request reaches the household's agent through its
//! long poll, the agent's stream reaches that member's browser byte for byte, and nobody
//! else can take either end.

mod common;

use common::*;
use crypto::keys::{EncryptionSecret, hex};
use crypto::live::{LiveOpener, LiveRequest, LiveSealer};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_live_request_reaches_the_agent_and_its_stream_reaches_only_them() {
    let s = Server::start_local().await;
    let mut mine = home(&s, "owner@example.org").await;
    let hid = mine.household.clone();
    let hh: [u8; 16] = crypto::keys::unhex(&hid).unwrap().try_into().unwrap();
    // The agent reports its camera, so requests for it come to this agent.
    mine.device
        .ok(
            Method::PUT,
            "/api/device/status",
            Some(json!({"cameras": [{"camera": "door", "state": "streaming", "since_ms": 0}]})),
        )
        .await;
    let path = format!("/api/households/{hid}/live");

    // Bad requests: named, refused, nothing opened.
    let session = EncryptionSecret::generate();
    let stranger = crypto::keys::Keyring::generate("x", 0).unwrap();
    let stale = LiveRequest::create(&mine.owner_keys, hh, "door", session.public(), s.now() - 120_000).unwrap();
    let other_home = LiveRequest::create(&mine.owner_keys, [9; 16], "door", session.public(), s.now()).unwrap();
    let mut forged = LiveRequest::create(&stranger, hh, "door", session.public(), s.now()).unwrap().encode();
    let n = forged.len();
    forged[n - 1] ^= 1;
    for (req, words) in [
        (hex(&stale.encode()), "issued_ms"),
        (hex(&other_home.encode()), "names household"),
        (hex(&forged), "not a signed live request"),
        ("zz".to_owned(), "request"),
    ] {
        let (st, e) = mine.owner.call(Method::POST, &path, Some(json!({ "request": req }))).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
        assert!(e["message"].as_str().unwrap().contains(words), "{words}: {e}");
    }

    // The agent is waiting; the owner's request wakes it with the signed request.
    let mut waiting = mine.device.clone();
    let waiter = tokio::spawn(async move { waiting.ok(Method::GET, "/api/device/wait", None).await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let q = LiveRequest::create(&mine.owner_keys, hh, "door", session.public(), s.now()).unwrap();
    let started = mine.owner.ok(Method::POST, &path, Some(json!({"request": hex(&q.encode())}))).await;
    let sid = started["session_id"].as_str().unwrap().to_owned();
    let woke = tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap();
    let offer = &woke["live"][0];
    assert_eq!(offer["session_id"], sid.as_str());
    assert_eq!(offer["offer"], "live", "a live request is offered as live video: {offer}");
    let got = LiveRequest::parse(&crypto::keys::unhex(offer["request"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(got, q);
    // Seen offers are not offered again.
    let seq = offer["seq"].as_u64().unwrap();
    let again = mine.device.ok(Method::GET, &format!("/api/device/wait?wait_ms=0&live_after={seq}"), None).await;
    assert_eq!(again["live"], json!([]));

    // Another account cannot watch it; the agent's stream reaches the owner intact.
    let mut other = home(&s, "other@example.org").await;
    let (st, _) = other.owner.call(Method::GET, &format!("/api/live/{sid}"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = other.device.call(Method::POST, &format!("/api/device/live/{sid}"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let viewer = mine.owner.request(Method::GET, &format!("/api/live/{sid}")).send().await.unwrap();
    assert_eq!(viewer.status(), StatusCode::OK);
    let mut sealer = LiveSealer::new(&got.session_key);
    let mut sent = sealer.header();
    for i in 0..5u8 {
        sent.extend(sealer.seal(&vec![i; 10_000]).unwrap());
    }
    let body = sent.clone();
    let feed = mine.device.request(Method::POST, &format!("/api/device/live/{sid}")).body(body).send().await.unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    let mut stream = viewer.bytes_stream();
    let mut received = Vec::new();
    while received.len() < sent.len() {
        received.extend_from_slice(&stream.next().await.expect("stream ended early").unwrap());
    }
    assert_eq!(received, sent);
    let mut o = LiveOpener::new(session);
    let mut at = 0;
    let mut segments = 0;
    while at < received.len() {
        let len = u32::from_be_bytes(received[at..at + 4].try_into().unwrap()) as usize;
        if o.open(&received[at + 4..at + 4 + len]).unwrap().is_some() {
            segments += 1;
        }
        at += 4 + len;
    }
    assert_eq!(segments, 5);
    // The session is over; its ends are gone.
    let (st, _) = mine.owner.call(Method::GET, &format!("/api/live/{sid}"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // A viewer who leaves while the camera sends nothing (it stalled) still ends the
    // agent's request, at once rather than at the camera's next frame.
    let q = LiveRequest::create(&mine.owner_keys, hh, "door", EncryptionSecret::generate().public(), s.now()).unwrap();
    let started = mine.owner.ok(Method::POST, &path, Some(json!({"request": hex(&q.encode())}))).await;
    let sid = started["session_id"].as_str().unwrap().to_owned();
    let viewer = mine.owner.request(Method::GET, &format!("/api/live/{sid}")).send().await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tx.send(Ok(LiveSealer::new(&q.session_key).header())).await.unwrap();
    let body =
        reqwest::Body::wrap_stream(futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|b| (b, rx)) },
        ));
    let feeding = mine.device.request(Method::POST, &format!("/api/device/live/{sid}")).body(body).send();
    let feeding = tokio::spawn(feeding);
    let mut stream = viewer.bytes_stream();
    assert!(!stream.next().await.expect("the header arrives").unwrap().is_empty());
    drop(stream);
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), feeding).await;
    let ended = ended.expect("the agent's request ends when the viewer leaves").unwrap().unwrap();
    assert_eq!(ended.status(), StatusCode::OK);

    // A short answer (a still, a day's runs) that the agent sends in full before the
    // browser comes for it waits for the browser, which gets all of it, once.
    let q = LiveRequest::create(&mine.owner_keys, hh, "door", EncryptionSecret::generate().public(), s.now()).unwrap();
    let started = mine
        .owner
        .ok(Method::POST, &format!("/api/households/{hid}/still"), Some(json!({"request": hex(&q.encode())})))
        .await;
    let sid = started["session_id"].as_str().unwrap().to_owned();
    let answer = [LiveSealer::new(&q.session_key).header(), vec![7; 300]].concat();
    let fed = mine.device.request(Method::POST, &format!("/api/device/live/{sid}")).body(answer.clone()).send().await;
    assert_eq!(fed.unwrap().status(), StatusCode::OK);
    let late = mine.owner.request(Method::GET, &format!("/api/live/{sid}")).send().await.unwrap();
    assert_eq!(late.status(), StatusCode::OK);
    assert_eq!(late.bytes().await.unwrap().to_vec(), answer);
    let (st, _) = mine.owner.call(Method::GET, &format!("/api/live/{sid}"), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "taken once, then gone");

    // A guest asks the day view for a moment from before their invitation: refused at once
    // (the agent refuses it too, by the roster), and no offer reaches the agent.
    let pending = |v: &serde_json::Value| v["live"].as_array().map_or(0, |a| a.len());
    let before = mine.device.ok(Method::GET, "/api/device/wait?wait_ms=0&live_after=0", None).await;
    let last = before["live"].as_array().unwrap().iter().filter_map(|o| o["seq"].as_u64()).max().unwrap_or(0);
    let invitation = mine
        .owner
        .ok(
            Method::POST,
            &format!("/api/households/{hid}/invitations"),
            Some(json!({"role": "guest", "window_until_ms": s.now() + 86_400_000})),
        )
        .await;
    let mut guest = s.user("guest@example.org").await;
    guest.ok(Method::POST, "/api/invitations/accept", Some(json!({"token": invitation["token"]}))).await;
    let guest_keys = crypto::keys::Keyring::generate("guest", 0).unwrap();
    let q = LiveRequest::create(&guest_keys, hh, "door", EncryptionSecret::generate().public(), s.now()).unwrap();
    let ask = json!({"from_ms": s.now() - 3_600_000, "until_ms": s.now() + 60_000, "play_ms": s.now() - 1_800_000});
    let (st, e) = guest
        .call(
            Method::POST,
            &format!("/api/households/{hid}/history"),
            Some(json!({"request": hex(&q.encode()), "history": ask})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    assert!(e["message"].as_str().unwrap().contains("history.play_ms"), "{e}");
    let after = mine.device.ok(Method::GET, &format!("/api/device/wait?wait_ms=0&live_after={last}"), None).await;
    assert_eq!(pending(&after), 0, "nothing offered to the agent: {after}");
}
