//! Two households on one real server, each with its own real agent: what one household's
//! owner or agent does with the other's ids never reaches the other's agent or events.

mod common;

use std::path::Path;
use std::time::Duration;

use common::web::{ServerProc, Web};
use common::*;
use serde_json::{Value, json};

const TOKEN: &str = "a-long-enough-token";

/// An agent recording the generated front clip as doorbell camera `door`, uploading as soon
/// as an event settles.
fn agent(dir: &Path) -> (Agent, u16) {
    let http_port = free_port();
    let clip = testdata("front.mp4");
    let agent = Agent::start(
        dir,
        &format!(
            "[http]\nlisten = \"127.0.0.1:{http_port}\"\ntoken = \"{TOKEN}\"\n[sync]\nsettle_s = 1\n\
             [[cameras]]\nname = \"door\"\ndoorbell = true\nmain = {{ file = {clip:?} }}\n\
             events = {{ pre_roll_s = 1, post_roll_s = 1 }}\n"
        ),
    );
    (agent, http_port)
}

fn press(port: u16) {
    let r = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/cameras/door/doorbell"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
}

fn sync_status(data: &Path) -> Value {
    std::fs::read(data.join("sync.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null)
}

fn events(web: &mut Web, household: &str) -> Vec<Value> {
    web.ok("GET", &format!("/api/households/{household}/events"), None).as_array().unwrap().clone()
}

/// A paired agent's credentials and keys, as an attacker who runs that agent has them.
fn device_of(data: &Path) -> (String, String, crypto::keys::Keyring) {
    let link: Value = serde_json::from_slice(&std::fs::read(data.join("server.json")).unwrap()).unwrap();
    let keys = crypto::keys::Keyring::parse(&std::fs::read(data.join("device.keys")).unwrap()).unwrap();
    (link["device_id"].as_str().unwrap().to_owned(), link["token"].as_str().unwrap().to_owned(), keys)
}

/// Sends a device request with the device's bearer token; returns status and JSON.
fn device_call(url: &str, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut rb =
        reqwest::blocking::Client::new().request(method.parse().unwrap(), format!("{url}{path}")).bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

#[test]
fn one_household_cannot_cut_off_or_silence_another_households_agent() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProc::start(&dir.path().join("server"));
    let victim_keys = crypto::keys::Keyring::generate("victim", 0).unwrap();
    let attacker_keys = crypto::keys::Keyring::generate("attacker", 0).unwrap();
    let (mut victim, victim_hid) = Web::owner(&server.url, "victim@example.org", &victim_keys);
    let (mut attacker, attacker_hid) = Web::owner(&server.url, "attacker@example.org", &attacker_keys);
    let victim_data = dir.path().join("victim/data");
    let attacker_data = dir.path().join("attacker/data");
    victim.pair_agent(&victim_hid, &victim_keys, &victim_data);
    attacker.pair_agent(&attacker_hid, &attacker_keys, &attacker_data);
    let (victim_device, _, victim_device_keys) = device_of(&victim_data);
    let (_, attacker_token, attacker_device_keys) = device_of(&attacker_data);

    // Attack 1: the attacker names their own household and the victim's device id (which
    // reaches every member of the victim's household in the timeline and webhooks).
    let (status, body) =
        attacker.call("DELETE", &format!("/api/households/{attacker_hid}/devices/{victim_device}"), None);
    assert_eq!(status, 404, "{body}");

    // Attack 2: the attacker's agent takes the ids the victim's agent will give its next
    // events, each with an event object of its own.
    let victim_identity = victim_device_keys.public().identity.to_bytes();
    let meta = crypto::object::Meta {
        kind: crypto::object::Kind::Event,
        camera: "door".into(),
        start_ms: 1_790_000_000_000,
        end_ms: 1_790_000_001_000,
    };
    let sealed = crypto::object::seal(
        &attacker_device_keys.identity,
        meta,
        &[attacker_keys.public().encryption],
        br#"{"kind":"doorbell"}"#,
    )
    .unwrap();
    let hash = blob::chunk_hash(&sealed);
    let r = reqwest::blocking::Client::new()
        .put(format!("{}/api/chunks/{hash}", server.url))
        .bearer_auth(&attacker_token)
        .body(sealed.clone())
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let (s, o) = device_call(&server.url, &attacker_token, "POST", "/api/objects", Some(json!({"chunks": [hash]})));
    assert_eq!(s, 200, "{o}");
    let taken: Vec<String> = (1..=100).map(|n| agent::uploader::server_event_id(&victim_identity, n)).collect();
    for id in &taken {
        let (s, e) = device_call(
            &server.url,
            &attacker_token,
            "POST",
            "/api/events",
            Some(json!({"id": id, "meta_object": o["id"]})),
        );
        assert_eq!(s, 200, "{e}");
        assert_ne!(e["id"].as_str().unwrap(), id, "a device's event id is scoped to it");
    }

    // The victim's agent still uploads, and every event it records reaches its household.
    let (victim_agent, victim_port) = agent(&dir.path().join("victim"));
    wait_until("the victim's agent to record", Duration::from_secs(30), || victim_agent.recorded("door") > 30);
    press(victim_port);
    wait_until("the victim's doorbell event on the server", Duration::from_secs(60), || {
        !events(&mut victim, &victim_hid).is_empty()
    });
    std::thread::sleep(Duration::from_secs(2));
    press(victim_port);
    wait_until("the victim's second event on the server", Duration::from_secs(60), || {
        events(&mut victim, &victim_hid).len() >= 2
    });
    let sync = sync_status(&victim_data);
    assert_eq!(sync["rejected_events"], 0, "the victim's agent gave up on events: {sync}");
    assert!(!victim_data.join("outbox/rejected").exists(), "events moved to outbox/rejected");
    // Each of the victim's events used an id the attacker had taken first.
    let scoped: Vec<String> = taken.iter().map(|t| api::scoped_event_id(&victim_device, t)).collect();
    for e in events(&mut victim, &victim_hid) {
        assert_eq!(e["device_id"].as_str().unwrap(), victim_device);
        assert!(scoped.contains(&e["id"].as_str().unwrap().to_owned()), "{e}");
    }
    // The attacker's household holds only its own events, and the victim's device is live.
    assert_eq!(events(&mut attacker, &attacker_hid).len(), taken.len());
    let devices = victim.ok("GET", &format!("/api/households/{victim_hid}/devices"), None);
    assert!(devices[0]["revoked_ms"].is_null(), "{devices}");
    victim_agent.stop_with(libc::SIGTERM);
}

/// Opens a live view of `door` and returns the first bytes the agent relays, or `None`
/// when none came within 30 s.
fn watch(web: &mut Web, household: &str, keys: &crypto::keys::Keyring) -> Option<Vec<u8>> {
    use std::io::Read;
    let hh: [u8; 16] = crypto::keys::unhex(household).unwrap().try_into().unwrap();
    let session = crypto::keys::EncryptionSecret::generate();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let q = crypto::live::LiveRequest::create(keys, hh, "door", session.public(), now).unwrap();
    let started = web.ok(
        "POST",
        &format!("/api/households/{household}/live"),
        Some(json!({"request": crypto::keys::hex(&q.encode())})),
    );
    let sid = started["session_id"].as_str().unwrap();
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let mut r =
        http.get(format!("{}/api/live/{sid}", web.base())).header("cookie", web.cookie().unwrap()).send().ok()?;
    if !r.status().is_success() {
        return None;
    }
    let mut buf = vec![0u8; 64];
    r.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// A restarted server numbers its live sessions from the start again; the agent, which
/// skips offers it has seen, must still answer the new ones without being restarted.
#[test]
fn live_view_works_across_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = ServerProc::start_on(&dir.path().join("server"), port);
    let keys = crypto::keys::Keyring::generate("owner", 0).unwrap();
    let (mut web, hid) = Web::owner(&server.url, "owner@example.org", &keys);
    let data = dir.path().join("home/data");
    web.pair_agent(&hid, &keys, &data);
    let (agent, _) = agent(&dir.path().join("home"));
    wait_until("the agent to record", Duration::from_secs(30), || agent.recorded("door") > 30);
    // The agent reports its cameras every 15 s; live requests go to an agent that did.
    wait_until("the camera on the server", Duration::from_secs(40), || {
        web.ok("GET", &format!("/api/households/{hid}/cameras"), None).as_array().is_some_and(|a| !a.is_empty())
    });
    assert!(watch(&mut web, &hid, &keys).is_some(), "live view before the restart");

    server.kill9();
    let server = ServerProc::start_on(&dir.path().join("server"), port);
    wait_until("the camera on the restarted server", Duration::from_secs(40), || {
        web.ok("GET", &format!("/api/households/{hid}/cameras"), None).as_array().is_some_and(|a| !a.is_empty())
    });
    assert!(watch(&mut web, &hid, &keys).is_some(), "live view after the server restarted");
    drop(server);
    agent.stop_with(libc::SIGTERM);
}
