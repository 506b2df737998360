//! Web Push: a member's browser subscribes to a household's alerts, and a new event reaches
//! its push endpoint encrypted for it (RFC 8291) with the server's VAPID identification
//! (RFC 8292), carrying only what the server knows; cameras the browser did not choose, and
//! members who may not see the event, get nothing; an endpoint the push service dropped is
//! deleted; refusals change nothing.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::*;
use porchlight_api as api;
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A push service on loopback: answers every message with `status` and keeps each
/// request's path, headers (lower-cased) and body.
async fn push_service(status: u16) -> (String, Arc<Mutex<Vec<(String, Vec<(String, String)>, Vec<u8>)>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = l.accept().await.unwrap();
            let g = g.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    let n = sock.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    req.extend_from_slice(&buf[..n]);
                    let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    let head = String::from_utf8_lossy(&req[..i]).into_owned();
                    let headers: Vec<(String, String)> = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned())))
                        .collect();
                    let len: usize =
                        headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
                    if req.len() < i + 4 + len {
                        continue;
                    }
                    let path = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
                    g.lock().unwrap().push((path, headers, req[i + 4..i + 4 + len].to_vec()));
                    let _ =
                        sock.write_all(format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n").as_bytes()).await;
                    return;
                }
            });
        }
    });
    (base, got)
}

/// A browser's subscription keys.
fn browser() -> (api::push::KeyPair, String, String) {
    let ua = api::push::KeyPair::generate();
    let mut auth = [0u8; 16];
    crypto::random_bytes(&mut auth);
    let p256dh = ua.public_b64();
    (ua, p256dh, B64.encode(auth))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_subscribed_browsers_encrypted_and_only_them() {
    let s = Server::start_local_with(|st| st.webhook_allow_private = true).await;
    let mut home = home(&s, "owner@example.org").await;
    let hid = home.household.clone();
    let (service, got) = push_service(201).await;
    let (gone_service, gone_got) = push_service(410).await;

    // The owner's browser, for the porch; a member's, for the garden only; a stale browser
    // of the owner's that the push service has dropped.
    let (ua, p256dh, auth) = browser();
    let sub: wire::PushSubscriptionJson = home
        .owner
        .put(
            &format!("/api/households/{hid}/push"),
            &json!({"endpoint": format!("{service}/owner"), "p256dh": p256dh, "auth": auth, "cameras": ["porch"]}),
        )
        .await
        .unwrap();
    assert_eq!(sub.cameras, ["porch"]);
    let (_, p2, a2) = browser();
    let stale: wire::PushSubscriptionJson = home
        .owner
        .put(
            &format!("/api/households/{hid}/push"),
            &json!({"endpoint": format!("{gone_service}/old"), "p256dh": p2, "auth": a2}),
        )
        .await
        .unwrap();
    let token = home
        .owner
        .ok(Method::POST, &format!("/api/households/{hid}/invitations"), Some(json!({"role": "standard"})))
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut member = s.user("member@example.org").await;
    member.ok(Method::POST, "/api/invitations/accept", Some(json!({"token": token}))).await;
    let (_, p3, a3) = browser();
    member
        .ok(
            Method::PUT,
            &format!("/api/households/{hid}/push"),
            Some(json!({"endpoint": format!("{service}/member"), "p256dh": p3, "auth": a3, "cameras": ["garden"]})),
        )
        .await;
    // Each sees only their own browsers.
    let mine: Vec<wire::PushSubscriptionJson> = home.owner.get(&format!("/api/households/{hid}/push")).await.unwrap();
    assert_eq!(mine.len(), 2);
    let theirs: Vec<wire::PushSubscriptionJson> = member.get(&format!("/api/households/{hid}/push")).await.unwrap();
    assert_eq!(theirs.len(), 1);

    let e = event(&home, "porch", s.now(), s.now() + 1000).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().is_empty() || gone_got.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no push within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pushes = got.lock().unwrap().clone();
    assert_eq!(
        pushes.len(),
        1,
        "the member chose the garden only: {:?}",
        pushes.iter().map(|p| &p.0).collect::<Vec<_>>()
    );
    let (path, headers, body) = &pushes[0];
    assert_eq!(path, "/owner");
    let h = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    assert_eq!((h("content-encoding").as_str(), h("urgency").as_str()), ("aes128gcm", "high"));
    assert!(h("ttl").parse::<u32>().unwrap() > 0);
    // VAPID: a JWT for the push service's origin, signed by the key browsers subscribe with.
    let key: wire::PushKey = home.owner.get("/api/push/key").await.unwrap();
    let vapid = h("authorization");
    let (t, k) = vapid.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
    assert_eq!(k, key.vapid_public_key);
    let parts: Vec<&str> = t.split('.').collect();
    let claims: serde_json::Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["aud"], service.as_str());
    {
        use p256::ecdsa::signature::Verifier;
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&B64.decode(k).unwrap()).unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&B64.decode(parts[2]).unwrap()).unwrap();
        vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).expect("the VAPID token verifies");
    }
    // The body opens only with the browser's keys, and says only what the server knows.
    let keys = api::push::SubscriptionKeys::parse(&p256dh, &auth).unwrap();
    let plain = api::push::decrypt(&ua, &keys, body).unwrap();
    let msg: wire::PushMessage = serde_json::from_slice(&plain).unwrap();
    assert_eq!(
        msg,
        wire::PushMessage {
            household_id: hid.clone(),
            event_id: e.id.clone(),
            camera: "porch".into(),
            start_ms: e.start_ms,
            in_progress: false,
            meta_object: e.meta_object.clone(),
            snapshot_object: e.snapshot_object.clone(),
        }
    );
    assert!(!body.windows(e.id.len()).any(|w| w == e.id.as_bytes()), "the event id is not in the clear");
    // The dropped subscription is gone; the others stay.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = s.state.db.push_subscriptions(&hid, None).await.unwrap();
        if !left.iter().any(|x| x.id == stale.id) {
            assert_eq!(left.len(), 2);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the 410 endpoint was kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Unsubscribing another account's browser is a 404 and changes nothing; one's own goes.
    let before = s.snapshot().await;
    let (st, v) = member.call(Method::DELETE, &format!("/api/households/{hid}/push/{}", sub.id), None).await;
    assert_eq!(st.as_u16(), 404, "{v}");
    assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new());
    home.owner.ok(Method::DELETE, &format!("/api/households/{hid}/push/{}", sub.id), None).await;
    assert!(s.state.db.push_subscriptions(&hid, Some(&home.owner.account_id)).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_subscriptions_are_refused_and_change_nothing() {
    // The default: push endpoints on public addresses, over https.
    let s = Server::start_local().await;
    let mut home = home(&s, "owner@example.org").await;
    let hid = home.household.clone();
    let stranger = common::home(&s, "stranger@example.org").await;
    let (_, p256dh, auth) = browser();
    let good = json!({"endpoint": "https://push.example.net/w/1", "p256dh": p256dh, "auth": auth});
    let before = s.snapshot().await;
    let with = |k: &str, v: serde_json::Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    for (body, field) in [
        (with("endpoint", json!("http://push.example.net/w/1")), "endpoint: expected an https URL"),
        (with("endpoint", json!("https://127.0.0.1/w/1")), "endpoint: 127.0.0.1 is a private"),
        (with("endpoint", json!("https://push.internal/w")), "endpoint: push.internal is a private"),
        (with("endpoint", json!("not a url")), "endpoint:"),
        (with("p256dh", json!("AAAA")), "p256dh:"),
        (with("auth", json!("AAAA")), "auth:"),
        (with("cameras", json!([""])), "cameras[0]:"),
        (with("extra", json!(1)), "extra: unknown field"),
    ] {
        let (st, v) = home.owner.call(Method::PUT, &format!("/api/households/{hid}/push"), Some(body.clone())).await;
        assert_eq!(st.as_u16(), 400, "{body}: {v}");
        assert!(v["message"].as_str().unwrap().starts_with(field), "{body}: {v}");
    }
    // Another household's owner cannot subscribe to this one.
    let mut other = stranger.owner.clone();
    let (st, _) = other.call(Method::PUT, &format!("/api/households/{hid}/push"), Some(good.clone())).await;
    assert_eq!(st.as_u16(), 403);
    assert_eq!(before.changes(&s.snapshot().await), Vec::<String>::new());
    // The good one is taken.
    home.owner.ok(Method::PUT, &format!("/api/households/{hid}/push"), Some(good)).await;
}
