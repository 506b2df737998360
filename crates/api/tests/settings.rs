//! The settings relay: the owner's device seals household settings to the members and the
//! agents and signs them; the server checks signer, household and a rising serial, stores
//! the bytes it cannot read, and wakes the household's agents waiting on the long poll.

mod common;

use common::*;
use crypto::keys::{Keyring, hex};
use crypto::settings::Settings;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn sealed(signer: &Keyring, household: &str, serial: u64, to: &[&Keyring], body: &str) -> String {
    let hh: [u8; 16] = crypto::keys::unhex(household).unwrap().try_into().unwrap();
    let recipients: Vec<_> = to.iter().map(|k| k.public().encryption).collect();
    hex(&Settings::seal(signer, hh, serial, 1, &recipients, body.as_bytes()).unwrap().encode())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_seals_settings_and_waiting_agents_wake() {
    let s = Server::start_local().await;
    let mut mine = home(&s, "owner@example.org").await;
    let hid = mine.household.clone();
    let other = home(&s, "other@example.org").await;
    let path = format!("/api/households/{hid}/settings");

    // The agent publishes its bundle; only its own identity's bundle is accepted.
    let (st, e) = mine
        .device
        .call(Method::PUT, "/api/device/keys", Some(json!({"public_keys": hex(&other.device_keys.public().encode())})))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(e["message"].as_str().unwrap().contains("not this device's"), "{e}");
    let (st, e) = mine.device.call(Method::PUT, "/api/device/keys", Some(json!({"public_keys": "0011"}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(e["message"].as_str().unwrap().contains("public_keys"), "{e}");
    let agent_bundle = hex(&mine.device_keys.public().encode());
    mine.device.ok(Method::PUT, "/api/device/keys", Some(json!({"public_keys": agent_bundle}))).await;
    let devices = mine.owner.ok(Method::GET, &format!("/api/households/{hid}/devices"), None).await;
    let d = devices.as_array().unwrap().iter().find(|d| d["id"] == mine.device_id.as_str()).unwrap();
    assert_eq!(d["public_keys"], agent_bundle.as_str());

    // Nothing yet: the wait answers at once with no serials when the agent says it holds one.
    let (st, _) = mine.device.call(Method::GET, "/api/device/settings", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let w = mine.device.ok(Method::GET, "/api/device/wait?settings=3&wait_ms=0", None).await;
    assert_eq!((&w["roster"], &w["settings"], &w["live"]), (&json!(null), &json!(null), &json!([])), "{w}");
    assert_eq!(w["live_epoch"].as_str().unwrap().len(), 16, "{w}");
    let (st, e) = mine.device.call(Method::GET, "/api/device/wait?wait_ms=26000", None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(e["message"].as_str().unwrap().contains("wait_ms"), "{e}");

    // Refused, naming the problem, and nothing stored.
    let stranger = Keyring::generate("stranger", 0).unwrap();
    let body = r#"{"mode":"away","cameras":{}}"#;
    let good = sealed(&mine.owner_keys, &hid, 1, &[&mine.owner_keys, &mine.device_keys], body);
    let mut flipped = crypto::keys::unhex(&good).unwrap();
    flipped[40] ^= 1;
    for (body, words) in [
        (json!({"settings": "zz"}), "settings"),
        (json!({"settings": hex(&flipped)}), "settings: not signed settings"),
        (json!({"settings": sealed(&stranger, &hid, 1, &[&stranger], body)}), "not by the owner's key"),
        (json!({"settings": sealed(&mine.owner_keys, &other.household, 1, &[&mine.owner_keys], body)}), "household"),
        (json!({"settings": sealed(&mine.owner_keys, &hid, u64::MAX, &[&mine.owner_keys], body)}), "serial"),
    ] {
        let (st, e) = mine.owner.call(Method::PUT, &path, Some(body)).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
        assert!(e["message"].as_str().unwrap().contains(words), "{words}: {e}");
    }
    let (st, _) = mine.owner.call(Method::GET, &path, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // An agent waiting with nothing new is woken by the owner's upload.
    let mut waiting = mine.device.clone();
    let waiter = tokio::spawn(async move { waiting.ok(Method::GET, "/api/device/wait", None).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiter.is_finished(), "the wait answered before anything changed");
    let r = mine.owner.ok(Method::PUT, &path, Some(json!({"settings": good}))).await;
    assert_eq!(r["serial"], 1);
    let woke = tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap();
    assert_eq!((&woke["roster"], &woke["settings"], &woke["live"]), (&json!(null), &json!(1), &json!([])), "{woke}");

    // Stored as sent; the agent opens it, the server has nothing to open it with.
    let (st, e) = mine.owner.call(Method::PUT, &path, Some(json!({"settings": good}))).await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    let fetched = mine.device.ok(Method::GET, "/api/device/settings", None).await;
    assert_eq!(fetched["settings"], good.as_str());
    let doc = Settings::parse(&crypto::keys::unhex(&good).unwrap()).unwrap();
    assert_eq!(doc.open(&mine.device_keys).unwrap(), body.as_bytes());
    // Members read them (the home screen shows the mode); the other household's agent does not.
    assert_eq!(mine.owner.ok(Method::GET, &path, None).await["serial"], 1);
    let mut theirs = other.device.clone();
    let (st, _) = theirs.call(Method::GET, "/api/device/settings", None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // The agent reports what it applied; the camera list shows it.
    mine.device
        .ok(
            Method::PUT,
            "/api/device/status",
            Some(json!({"cameras": [{"camera": "porch", "state": "streaming", "since_ms": 0}], "settings_serial": 1})),
        )
        .await;
    let cams = mine.owner.ok(Method::GET, &format!("/api/households/{hid}/cameras"), None).await;
    assert_eq!(cams[0]["settings_serial"], 1);
}
