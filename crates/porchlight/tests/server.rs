//! The server end to end: the real `porchlight serve`, a real agent recording from the
//! GStreamer RTSP server, paired through the server; an event clip reaches the server and
//! opens with the owner's key and nobody else's; the server's database, blobs and log hold
//! no plaintext frame, snapshot or label.

mod common;

use std::path::Path;
use std::time::Duration;

use common::web::{ServerProc, Web};
use common::*;
use serde_json::Value;

const TOKEN: &str = "a-long-enough-token";

/// An agent with one doorbell camera `door` recording `source` (`url = …` or `file = …`),
/// its HTTP endpoint on a free port, syncing with whatever server it was paired with.
fn doorbell_agent(dir: &Path, source: &str, roll_s: u32) -> (Agent, u16) {
    let http_port = free_port();
    let agent = Agent::start(
        dir,
        &format!(
            "[http]\nlisten = \"127.0.0.1:{http_port}\"\ntoken = \"{TOKEN}\"\n[sync]\nsettle_s = 1\n\
             [[cameras]]\nname = \"door\"\ndoorbell = true\nmain = {{ {source} }}\n\
             events = {{ pre_roll_s = {roll_s}, post_roll_s = {roll_s} }}\n"
        ),
    );
    (agent, http_port)
}

fn doorbell(port: u16, token: &str) {
    let r = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/cameras/door/doorbell"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The doorbell event on the server, found by decrypting each event's metadata (the
/// server cannot tell kinds apart).
fn find_doorbell(web: &mut Web, household: &str, keys: &crypto::keys::Keyring) -> Option<(Value, Value)> {
    let events = web.ok("GET", &format!("/api/households/{household}/events"), None);
    for e in events.as_array().unwrap() {
        // An event's start has no clip yet, and its finished self replaces it (its sealed
        // metadata with it) at any moment: only finished events are read.
        if e["clip_object"].is_null() {
            continue;
        }
        let sealed = web.bytes(&format!("/api/objects/{}", e["meta_object"].as_str().unwrap()));
        let (_, plain) = crypto::object::open(keys, &sealed).unwrap();
        let meta: Value = serde_json::from_slice(&plain).unwrap();
        if meta["kind"] == "doorbell" {
            return Some((e.clone(), meta));
        }
    }
    None
}

#[test]
fn an_event_clip_reaches_the_server_and_opens_only_for_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let rtsp = RtspServer::start(&[("cam", testdata("front.mp4").to_str().unwrap().to_owned())]);
    let server = ServerProc::start(&dir.path().join("server"));
    let owner_keys = crypto::keys::Keyring::generate("owner", 0).unwrap();
    let (mut web, household) = Web::owner(&server.url, "owner@example.org", &owner_keys);

    // Pairing: a wrong code (another key's fingerprint) is refused before anything is kept.
    let agent_dir = dir.path().join("agent");
    let data = agent_dir.join("data");
    let p = web.ok("POST", &format!("/api/households/{household}/pairings"), None);
    let other = crypto::keys::Keyring::generate("mallory", 0).unwrap();
    let (ok, out) = porchlight(&[
        "pair",
        "--data-dir",
        data.to_str().unwrap(),
        "--server",
        &server.url,
        "--token",
        p["token"].as_str().unwrap(),
        "--code",
        &crypto::keys::pairing_code(&other.public().identity),
    ]);
    assert!(!ok && out.contains("pairing code does not match"), "{out}");
    assert!(!data.join("server.json").exists() && !data.join("trust").exists());
    web.pair_agent(&household, &owner_keys, &data);
    let devices = web.ok("GET", &format!("/api/households/{household}/devices"), None);
    assert_eq!(devices[0]["name"], "porch");

    let (agent, http_port) = doorbell_agent(&agent_dir, &format!("url = \"{}\"", rtsp.url("cam")), 2);
    wait_until("the agent to record", Duration::from_secs(30), || agent.recorded("door") > 60);
    doorbell(http_port, TOKEN);
    let mut found = None;
    wait_until("the doorbell event on the server", Duration::from_secs(60), || {
        found = find_doorbell(&mut web, &household, &owner_keys);
        found.is_some()
    });
    let (event, meta) = found.unwrap();
    assert_eq!(event["camera"], "door");
    assert_eq!(meta["camera"], "door");

    // The clip opens with the owner's key into an MP4 that ffprobe reads; with any other
    // key it does not open.
    let sealed = web.bytes(&format!("/api/objects/{}", event["clip_object"].as_str().unwrap()));
    let (h, mp4) = crypto::object::open(&owner_keys, &sealed).unwrap();
    assert_eq!(h.meta.kind, crypto::object::Kind::Clip);
    let e = crypto::object::open(&other, &sealed).unwrap_err();
    assert_eq!(e.kind(), crypto::ErrorKind::NotRecipient);
    let mp4_path = dir.path().join("clip.mp4");
    std::fs::write(&mp4_path, &mp4).unwrap();
    let pkts = packets(&mp4_path);
    assert!(pkts.len() >= 60, "a 4 s clip at 30 fps has about 120 frames, got {}", pkts.len());
    // The device that signed it is the paired one.
    assert_eq!(crypto::keys::hex(&h.device.to_bytes()), devices[0]["identity"].as_str().unwrap());

    // The agent knows the server has it.
    let data_dir = agent.data_dir.clone();
    wait_until("sync.json to show the upload", Duration::from_secs(10), || {
        std::fs::read(data_dir.join("sync.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|s| s["uploaded_events"].as_u64() >= Some(1))
    });
    // Both sides of the link are workers with a record in status.json: the long poll and
    // the upload queue (which has uploaded).
    let worker = |doc: &Value, name: &str| -> Value {
        doc["workers"].as_array().and_then(|w| w.iter().find(|w| w["name"] == name).cloned()).unwrap_or_default()
    };
    wait_until("status.json to show the link's workers", Duration::from_secs(10), || {
        let doc = status_doc(&data_dir);
        // A control pass is one long poll, which may still be waiting.
        worker(&doc, "control")["failures"] == 0
            && worker(&doc, "uploads")["done"].as_u64() >= Some(1)
            && worker(&doc, "uploads")["last_success"].is_string()
    });
    agent.stop_with(libc::SIGTERM);

    // Nothing on the server's side is plaintext: frames from the middle of the clip, the
    // event's metadata and its label are nowhere in the database, the blobs or the log.
    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for frac in [0.3, 0.5, 0.7, 0.9] {
        let at = (mp4.len() as f64 * frac) as usize;
        needles.push((format!("clip bytes at {frac}"), mp4[at..at + 48].to_vec()));
    }
    needles.push(("event metadata".into(), plain_meta(&meta)));
    needles.push(("label".into(), b"doorbell".to_vec()));
    let mut scanned = 0;
    for (path, bytes) in
        files(&server.data_dir).into_iter().chain([(server.log.clone(), std::fs::read(&server.log).unwrap())])
    {
        scanned += bytes.len();
        for (what, n) in &needles {
            assert!(!contains(&bytes, n), "{} holds plaintext: {what}", path.display());
        }
    }
    assert!(scanned > mp4.len(), "the scan covered the stored ciphertext ({scanned} bytes)");

    let (ok, out) = porchlight(&["server-check", "--config", server.config.to_str().unwrap()]);
    assert!(ok && out.contains("0 problems"), "{out}");
    let (ok, out) = porchlight(&["check", "--data-dir", data.to_str().unwrap()]);
    assert!(ok, "{out}");
}

fn plain_meta(meta: &Value) -> Vec<u8> {
    // The exact bytes the agent sealed are its JSON; a distinctive part of them is enough.
    format!("\"kind\":{}", meta["kind"]).into_bytes()
}

/// A TCP proxy between the agent and the server that can cut every connection at once.
struct Proxy {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let c2 = cut.clone();
        std::thread::spawn(move || {
            for down in listener.incoming().flatten() {
                let Ok(up) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                let generation = c2.load(Ordering::SeqCst);
                for (mut from, mut to) in [(down.try_clone().unwrap(), up.try_clone().unwrap()), (up, down)] {
                    let c3 = c2.clone();
                    from.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                    std::thread::spawn(move || {
                        use std::io::{Read, Write};
                        let mut buf = [0u8; 65536];
                        loop {
                            if c3.load(Ordering::SeqCst) != generation {
                                let _ = from.shutdown(std::net::Shutdown::Both);
                                let _ = to.shutdown(std::net::Shutdown::Both);
                                return;
                            }
                            match from.read(&mut buf) {
                                Ok(0) => {
                                    let _ = to.shutdown(std::net::Shutdown::Write);
                                    return;
                                }
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        return;
                                    }
                                }
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                    ) => {}
                                Err(_) => return,
                            }
                        }
                    });
                }
            }
        });
        Proxy { port, cut }
    }

    /// Drops every connection open now.
    fn cut(&self) {
        self.cut.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Chaos: while the agent records and events keep coming, the server is killed with
/// SIGKILL and restarted, and the agent's connection is cut at random moments. Afterwards
/// every event the agent recorded is on the server exactly once and opens, and both sides'
/// checks pass.
#[test]
fn no_event_is_lost_or_duplicated_through_server_kills_and_cut_links() {
    let dir = tempfile::tempdir().unwrap();
    let server_dir = dir.path().join("server");
    let port = free_port();
    let mut server = ServerProc::start_on(&server_dir, port);
    let proxy = Proxy::start(port);
    let owner_keys = crypto::keys::Keyring::generate("owner", 0).unwrap();
    let (mut web, household) = Web::owner(&server.url, "owner@example.org", &owner_keys);
    // The agent reaches the server only through the proxy.
    let agent_dir = dir.path().join("agent");
    let data = agent_dir.join("data");
    let mut via_proxy = web.via(&format!("http://127.0.0.1:{}", proxy.port));
    via_proxy.pair_agent(&household, &owner_keys, &data);

    let (agent, http_port) = doorbell_agent(&agent_dir, &format!("file = {:?}", testdata("front.mp4")), 1);
    wait_until("the agent to record", Duration::from_secs(30), || agent.recorded("door") > 30);

    // 12 presses 2.2 s apart (the doorbell debounces at 2 s); chaos in between.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut kills = 0;
    for i in 0..12 {
        doorbell(http_port, TOKEN);
        std::thread::sleep(Duration::from_millis(2200));
        match next() % 3 {
            0 => {
                server.kill9();
                kills += 1;
                std::thread::sleep(Duration::from_millis(300 + next() % 700));
                server = ServerProc::start_on(&server_dir, port);
            }
            1 => proxy.cut(),
            _ => {}
        }
        if i % 4 == 3 {
            proxy.cut();
        }
    }
    assert!(kills >= 2, "the chaos killed the server {kills} times");

    // Then calm: everything the agent recorded reaches the server.
    let (ok, out) = porchlight(&["events", "--data-dir", data.to_str().unwrap(), "--json", "--limit", "1000"]);
    assert!(ok, "{out}");
    let recorded: Vec<Value> = out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let bells = recorded.iter().filter(|e| e["kind"] == "doorbell").count();
    assert_eq!(bells, 12, "every press became an event");
    let data_dir = agent.data_dir.clone();
    wait_until("the outbox to drain", Duration::from_secs(120), || {
        std::fs::read(data_dir.join("sync.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|s| s["queued_events"] == 0 && s["uploaded_events"].as_u64() >= Some(recorded.len() as u64))
    });
    agent.stop_with(libc::SIGTERM);

    let (ok, out) = porchlight(&["events", "--data-dir", data.to_str().unwrap(), "--json", "--limit", "1000"]);
    assert!(ok, "{out}");
    let recorded: Vec<Value> = out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(recorded.iter().all(|e| e["uploaded"] == true), "every event is marked uploaded");
    let on_server = web.ok("GET", &format!("/api/households/{household}/events?limit=1000"), None);
    let on_server = on_server.as_array().unwrap();
    assert_eq!(on_server.len(), recorded.len(), "each recorded event is on the server exactly once");
    let ids: std::collections::BTreeSet<&str> = on_server.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), on_server.len());
    let mut doorbells = 0;
    for e in on_server {
        let sealed = web.bytes(&format!("/api/objects/{}", e["meta_object"].as_str().unwrap()));
        let (_, plain) = crypto::object::open(&owner_keys, &sealed).unwrap();
        let meta: Value = serde_json::from_slice(&plain).unwrap();
        if meta["kind"] == "doorbell" {
            doorbells += 1;
            let clip =
                web.bytes(&format!("/api/objects/{}", e["clip_object"].as_str().expect("a doorbell event has a clip")));
            crypto::object::open(&owner_keys, &clip).unwrap();
        }
    }
    assert_eq!(doorbells, 12);
    let (ok, out) = porchlight(&["server-check", "--config", server.config.to_str().unwrap()]);
    assert!(ok && out.contains("0 problems"), "{out}");
    let (ok, out) = porchlight(&["check", "--data-dir", data.to_str().unwrap()]);
    assert!(ok, "{out}");
}

/// schemathesis (PyPI) generates requests from /api/openapi.json, as nobody, as a signed-in
/// owner and as a paired device, varying every documented parameter; none may get a 5xx, a
/// status the document does not list, or an answer of another content type.
#[test]
fn schemathesis_finds_no_server_errors() {
    let Some(venv) = testkit::tools_venv() else {
        assert!(
            std::env::var_os("PORCHLIGHT_REQUIRE_SERVERS").is_none_or(|v| v != "1"),
            "schemathesis is required (PORCHLIGHT_REQUIRE_SERVERS=1) but the tools venv is missing"
        );
        eprintln!("SKIPPING: no tools venv with schemathesis (run `make setup`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProc::start_with(&dir.path().join("server"), free_port(), "auth_attempts_per_minute = 10000\n");
    let owner_keys = crypto::keys::Keyring::generate("owner", 0).unwrap();
    let (mut web, household) = Web::owner(&server.url, "owner@example.org", &owner_keys);
    let token = web.ok("POST", "/api/me/tokens", Some(serde_json::json!({"label": "schemathesis"})));
    let p = web.ok("POST", &format!("/api/households/{household}/pairings"), None);
    let device_keys = crypto::keys::Keyring::generate("device", 0).unwrap();
    let paired = Web::new(&server.url).ok(
        "POST",
        &format!("/api/pair/{}", p["token"].as_str().unwrap()),
        Some(
            serde_json::json!({"name": "d", "identity": crypto::keys::hex(&device_keys.public().identity.to_bytes())}),
        ),
    );
    for (who, auth) in [("anonymous", None), ("owner", token["token"].as_str()), ("device", paired["token"].as_str())] {
        let mut cmd = std::process::Command::new(venv.join("bin/schemathesis"));
        // Its cache goes in the test's folder, not the source tree.
        cmd.current_dir(dir.path());
        cmd.args([
            "run",
            &format!("{}/api/openapi.json", server.url),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance",
        ])
        .args(["--max-examples", "10", "--seed", "1", "--no-color", "--workers", "2"]);
        if let Some(t) = auth {
            // Sign-up and sign-in (argon2 by design slow) are covered by the anonymous run;
            // the agents' long poll holds a request 25 s by design (its bad inputs are
            // tested in crates/api/tests/settings.rs).
            cmd.args([
                "-H",
                &format!("Authorization: Bearer {t}"),
                "--exclude-path-regex",
                "^/api/(signup|login|totp|device/wait)",
            ]);
        }
        let out = cmd.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "schemathesis as {who} found problems:\n{text}");
        assert!(text.contains("passed"), "{text}");
        eprintln!("schemathesis as {who}: {}", text.lines().find(|l| l.contains(" generated, ")).unwrap_or("").trim());
    }
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(!log.contains("request failed"), "the server logged a failure:\n{log}");
}

/// `porchlight demo` starts a server, seeds an owner with TOTP and keys, and pairs its
/// agent there; the seeded owner can sign in and sees the paired agent.
#[test]
fn the_demo_seeds_an_owner_and_pairs_its_agent_with_its_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let port = free_port();
    let (ok, out) = porchlight(&[
        "demo",
        "--front",
        testdata("back.mp4").to_str().unwrap(),
        "--back",
        testdata("back.mp4").to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--seconds",
        "3",
        "--server-listen",
        &format!("127.0.0.1:{port}"),
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("Seeded owner: owner@demo.porchlight"), "{out}");
    assert!(data.join("server.json").exists() && data.join("owner.keys").exists());
    let notes = std::fs::read_to_string(data.join("demo-account.txt")).unwrap();
    let secret = notes.split("TOTP secret ").nth(1).unwrap().split_whitespace().next().unwrap();

    // The server the demo made, started on its own, takes the seeded owner's sign-in.
    let server_dir = data.join("server");
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!("listen = \"127.0.0.1:{port}\"\ndata_dir = {server_dir:?}\nsecure_cookies = false\n"),
    )
    .unwrap();
    let mut child = std::process::Command::new(bin())
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_until("the server", Duration::from_secs(30), || {
        reqwest::blocking::get(format!("{url}/api/health")).is_ok_and(|r| r.status().is_success())
    });
    let mut web = Web::new(&url);
    web.run(web.api.login("owner@demo.porchlight", "porchlight demo owner"));
    // A step after the one the demo used to enrol.
    let secret = api::secrets::base32_rfc4648_decode(secret).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let signed_in = [now / 30_000, now / 30_000 + 1].into_iter().any(|step| {
        let code = format!("{:06}", api::secrets::totp_at(&secret, step));
        web.rt_block(web.api.login_totp(&code)).is_ok()
    });
    assert!(signed_in, "the seeded owner signs in with password and TOTP");
    let session: wire::SessionReply = web.run(web.api.get("/api/session"));
    let hid = session.households[0].household_id.clone();
    let devices = web.ok("GET", &format!("/api/households/{hid}/devices"), None);
    assert_eq!(devices[0]["name"], "demo agent");
    // The neighbourhood: the home's exact point opens with the owner's keys, the area holds
    // the seeded neighbours, and their posts are in the feed.
    let home = web.ok("GET", &format!("/api/households/{hid}/home"), None);
    let keys_path = notes.split("Owner keys: ").nth(1).unwrap().split_whitespace().next().unwrap();
    let keys = crypto::keys::Keyring::parse(&std::fs::read(keys_path).unwrap()).unwrap();
    let sealed = crypto::keys::unhex(home["sealed_point"].as_str().unwrap()).unwrap();
    assert_eq!(crypto::home::open(&keys.encryption, &hid, &sealed).unwrap(), (52.2053, 0.1218));
    assert_eq!(home["post_area"]["households"], 25, "{home}");
    let feed = web.ok("GET", &format!("/api/households/{hid}/feed?radius_m=1000"), None);
    assert_eq!(feed.as_array().unwrap().len(), 3, "{feed}");
    assert_eq!(
        web.ok("GET", "/api/session", None)["operator"],
        false,
        "the operator list is the demo's, not this config's"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Seals household settings from the owner to the owner and every agent that has published
/// its keys, and uploads them.
fn put_settings(web: &mut Web, household: &str, owner: &crypto::keys::Keyring, serial: u64, body: &Value) {
    let devices = web.ok("GET", &format!("/api/households/{household}/devices"), None);
    let mut to = vec![owner.public().encryption];
    for d in devices.as_array().unwrap() {
        let keys = crypto::keys::unhex(d["public_keys"].as_str().expect("the agent published its keys")).unwrap();
        to.push(crypto::keys::PublicKeys::parse(&keys).unwrap().encryption);
    }
    let hh: [u8; 16] = crypto::keys::unhex(household).unwrap().try_into().unwrap();
    let doc = crypto::settings::Settings::seal(owner, hh, serial, 0, &to, body.to_string().as_bytes()).unwrap();
    let hex = crypto::keys::hex(&doc.encode());
    web.ok("PUT", &format!("/api/households/{household}/settings"), Some(serde_json::json!({ "settings": hex })));
}

#[test]
fn the_owners_mode_reaches_the_agent_at_once_and_decides_what_it_records() {
    let dir = tempfile::tempdir().unwrap();
    let rtsp = RtspServer::start(&[("cam", testdata("front.mp4").to_str().unwrap().to_owned())]);
    let server = ServerProc::start(&dir.path().join("server"));
    let owner_keys = crypto::keys::Keyring::generate("owner", 0).unwrap();
    let (mut web, household) = Web::owner(&server.url, "owner@example.org", &owner_keys);
    let agent_dir = dir.path().join("agent");
    web.pair_agent(&household, &owner_keys, &agent_dir.join("data"));
    let (agent, _) = doorbell_agent(&agent_dir, &format!("url = \"{}\"", rtsp.url("cam")), 2);
    wait_until("the agent to record and publish its keys", Duration::from_secs(30), || {
        agent.recorded("door") > 30
            && web.ok("GET", &format!("/api/households/{household}/devices"), None)[0]["public_keys"].is_string()
    });

    // Disarmed, and this camera records nothing when disarmed: recording stops within
    // moments (the agent holds a long poll), and the agent keeps the settings it obeys.
    let modes = serde_json::json!({
        "disarmed": {"record": false, "notify": false},
        "home": {"record": true, "notify": false},
        "away": {"record": true, "notify": true},
    });
    let settings = |mode: &str| {
        serde_json::json!({"mode": mode, "cameras": {"door": {"label": "Front door", "modes": modes,
            "zones": [{"name": "path", "points": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}]}}})
    };
    put_settings(&mut web, &household, &owner_keys, 1, &settings("disarmed"));
    let mut last = (agent.recorded("door"), std::time::Instant::now());
    wait_until("recording to stop", Duration::from_secs(10), || {
        let n = agent.recorded("door");
        if n != last.0 {
            last = (n, std::time::Instant::now());
        }
        last.1.elapsed() > Duration::from_secs(2)
    });
    assert!(agent.data_dir.join("settings.plcf").exists());
    let log = std::fs::read_to_string(agent_dir.join("agent.log")).unwrap();
    assert!(log.contains("the household's mode stops recording"), "stopped for another reason:\n{log}");
    assert!(log.contains("applying the owner's new settings"), "{log}");
    // The server kept bytes it cannot read: the label is nowhere in its files.
    for (path, bytes) in files(&server.data_dir) {
        assert!(!contains(&bytes, b"Front door"), "{} holds the settings in plaintext", path.display());
    }

    // Home: recording resumes.
    put_settings(&mut web, &household, &owner_keys, 2, &settings("home"));
    let stopped_at = agent.recorded("door");
    wait_until("recording to resume", Duration::from_secs(15), || agent.recorded("door") > stopped_at + 15);

    // A replayed older document changes nothing: the server refuses it, and so would the agent.
    let (st, _) =
        web.call("PUT", &format!("/api/households/{household}/settings"), Some(serde_json::json!({"settings": "00"})));
    assert_eq!(st, 400);
    agent.stop_with(libc::SIGTERM);
}

/// A loopback receiver for the household's webhook: counts the deliveries and keeps their
/// bodies (answers 200 to each).
fn webhook_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut r = BufReader::new(stream);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_ok()
                && let Ok(v) = serde_json::from_slice(&body)
            {
                keep.lock().unwrap().push(v);
            }
            let _ = r.get_mut().write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, got)
}

/// With no rules set, what the modes do follows where each camera is: in Home an indoor
/// camera records nothing; Disarmed stops everything but the doorbell, whose press still
/// alerts; Away records all. Each switch is confirmed by the agent's status report.
#[test]
fn the_default_modes_follow_placement_and_a_doorbell_rings_when_disarmed() {
    let dir = tempfile::tempdir().unwrap();
    let clip = testdata("front.mp4").to_str().unwrap().to_owned();
    let rtsp = RtspServer::start(&[("cam", clip.clone()), ("cam2", clip)]);
    let server = ServerProc::start_with(&dir.path().join("server"), free_port(), "webhook_allow_private = true\n");
    let owner_keys = crypto::keys::Keyring::generate("owner", 0).unwrap();
    let (mut web, household) = Web::owner(&server.url, "owner@example.org", &owner_keys);
    let (hook, delivered) = webhook_receiver();
    web.ok("PATCH", &format!("/api/households/{household}"), Some(serde_json::json!({ "webhook_url": hook })));
    let agent_dir = dir.path().join("agent");
    web.pair_agent(&household, &owner_keys, &agent_dir.join("data"));
    let http_port = free_port();
    let agent = Agent::start(
        &agent_dir,
        &format!(
            "[http]\nlisten = \"127.0.0.1:{http_port}\"\ntoken = \"{TOKEN}\"\n[sync]\nsettle_s = 1\n\
             [[cameras]]\nname = \"door\"\ndoorbell = true\nmain = {{ url = \"{}\" }}\n\
             events = {{ pre_roll_s = 1, post_roll_s = 1 }}\n\
             [[cameras]]\nname = \"hall\"\nplacement = \"indoor\"\nmain = {{ url = \"{}\" }}\n",
            rtsp.url("cam"),
            rtsp.url("cam2")
        ),
    );
    let cameras = |web: &mut Web| web.ok("GET", &format!("/api/households/{household}/cameras"), None);
    let camera = |v: &Value, name: &str| v.as_array().unwrap().iter().find(|c| c["camera"] == name).cloned();
    wait_until("the agent to record the door and report both cameras", Duration::from_secs(30), || {
        let v = cameras(&mut web);
        agent.recorded("door") > 30 && camera(&v, "hall").is_some_and(|c| c["state"] == "streaming")
    });
    // No settings yet: Home. The indoor camera is connected and records nothing.
    let v = cameras(&mut web);
    let (door, hall) = (camera(&v, "door").unwrap(), camera(&v, "hall").unwrap());
    assert_eq!((door["doorbell"].as_bool(), door["indoor"].as_bool()), (Some(true), Some(false)));
    assert_eq!((hall["doorbell"].as_bool(), hall["indoor"].as_bool()), (Some(false), Some(true)));
    assert_eq!(agent.recorded("hall"), 0, "Home keeps an indoor camera from recording");
    // Neither camera has a speaker (the test camera answers 551 to the ONVIF backchannel):
    // the app offers no talking through them.
    wait_until("the agent to say neither camera has a speaker", Duration::from_secs(45), || {
        let v = cameras(&mut web);
        ["door", "hall"].iter().all(|n| camera(&v, n).is_some_and(|c| c["speaker"] == false))
    });
    wait_until("the agent to publish its keys", Duration::from_secs(30), || {
        web.ok("GET", &format!("/api/households/{household}/devices"), None)[0]["public_keys"].is_string()
    });

    // Disarmed, no rules set: the agent confirms (its report names the serial), the door's
    // stream is still recorded for presses, the hall's is not, and a press alerts.
    let settings = |mode: &str| serde_json::json!({"mode": mode, "cameras": {}});
    put_settings(&mut web, &household, &owner_keys, 1, &settings("disarmed"));
    wait_until("the agent to confirm Disarmed", Duration::from_secs(10), || {
        cameras(&mut web).as_array().unwrap().iter().all(|c| c["settings_serial"] == 1)
    });
    let door_then = agent.recorded("door");
    wait_until("the door to keep recording", Duration::from_secs(10), || agent.recorded("door") > door_then + 15);
    assert_eq!(agent.recorded("hall"), 0);
    doorbell(http_port, TOKEN);
    wait_until("the press's alert", Duration::from_secs(30), || !delivered.lock().unwrap().is_empty());
    let alert = delivered.lock().unwrap()[0].clone();
    assert_eq!(alert["household_id"], household.as_str());
    assert_eq!(alert["event"]["camera"], "door");

    // Away: the indoor camera records too.
    put_settings(&mut web, &household, &owner_keys, 2, &settings("away"));
    wait_until("the hall to record in Away", Duration::from_secs(20), || agent.recorded("hall") > 15);
    assert_eq!(delivered.lock().unwrap().len(), 1, "one press, one alert: {:?}", delivered.lock().unwrap());
    agent.stop_with(libc::SIGTERM);
}

/// Runs one day-view session as the browser does: a request signed by `signer`, posted with
/// `web`'s session; returns the agent's reply and the footage bytes, decrypted.
fn history(
    web: &mut Web,
    household: &str,
    signer: &crypto::keys::Keyring,
    ask: serde_json::Value,
) -> (wire::HistoryReply, Vec<u8>) {
    use std::io::Read;
    let session = crypto::keys::EncryptionSecret::generate();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let hh: [u8; 16] = crypto::keys::unhex(household).unwrap().try_into().unwrap();
    let q = crypto::live::LiveRequest::create(signer, hh, "door", session.public(), now).unwrap();
    let started = web.ok(
        "POST",
        &format!("/api/households/{household}/history"),
        Some(serde_json::json!({"request": crypto::keys::hex(&q.encode()), "history": ask})),
    );
    let sid = started["session_id"].as_str().unwrap();
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let mut r =
        http.get(format!("{}/api/live/{sid}", web.base())).header("cookie", web.cookie().unwrap()).send().unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let mut body = Vec::new();
    r.read_to_end(&mut body).unwrap();
    let mut opener = crypto::live::LiveOpener::new(session);
    let mut messages = Vec::new();
    let mut rest = &body[..];
    while rest.len() >= 4 {
        let n = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        if let Some(m) = opener.open(&rest[4..4 + n]).unwrap() {
            messages.push(m);
        }
        rest = &rest[4 + n..];
    }
    assert!(rest.is_empty(), "a torn message at the end");
    assert!(!messages.is_empty(), "the agent did not answer");
    let reply: wire::HistoryReply = serde_json::from_slice(&messages[0]).unwrap();
    (reply, messages[1..].concat())
}

/// The day view: the agent lists what it recorded and plays any moment of it from the key
/// frame before, sealed for the browser; a guest's request is answered only inside the
/// guest's window in the owner's roster, whatever the relayed ask says.
#[test]
fn the_day_view_plays_any_recorded_moment_and_a_guest_only_inside_their_window() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProc::start(&dir.path().join("server"));
    let owner_keys = crypto::keys::Keyring::generate("owner", 0).unwrap();
    let (mut web, household) = Web::owner(&server.url, "owner@example.org", &owner_keys);
    let agent_dir = dir.path().join("agent");
    web.pair_agent(&household, &owner_keys, &agent_dir.join("data"));
    let (agent, _) = doorbell_agent(&agent_dir, &format!("file = {:?}", testdata("front.mp4")), 1);
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let began = now();
    wait_until("the agent to record 12 s", Duration::from_secs(60), || {
        now() - began > 12_000 && agent.recorded("door") > 100
    });
    let day = serde_json::json!({"from_ms": began - 3_600_000, "until_ms": now() + 60_000});

    // The runs, then a moment 4 s into the first: footage from the key frame at or before it.
    let (reply, footage) = history(&mut web, &household, &owner_keys, day.clone());
    assert_eq!((reply.error.as_deref(), reply.play, footage.len()), (None, None, 0));
    let run = reply.runs[0];
    assert!(run.end_ms - run.start_ms > 5_000, "{:?}", reply.runs);
    let at = run.start_ms + 4_000;
    let mut ask = day.clone();
    ask["play_ms"] = at.into();
    let (reply, footage) = history(&mut web, &household, &owner_keys, ask);
    let play = reply.play.unwrap_or_else(|| panic!("no footage: {:?}", reply.error));
    assert!(play.start_ms <= at && play.start_ms >= run.start_ms, "{play:?}");
    assert!(play.end_ms > at, "{play:?}");
    assert_eq!(footage.len() as u64, play.bytes);
    assert_eq!(&footage[4..8], b"ftyp");
    assert!(footage.windows(4).any(|w| w == b"moof"), "a fragmented MP4");

    // A guest whose window opens 6 s into the run: the owner's roster says so.
    let guest = crypto::keys::Keyring::generate("guest", 0).unwrap();
    let opens = run.start_ms + 6_000;
    let hh: [u8; 16] = crypto::keys::unhex(&household).unwrap().try_into().unwrap();
    let member = |k: &crypto::keys::Keyring, role, from_ms, until_ms| crypto::trust::Member {
        role,
        from_ms,
        until_ms,
        keys: k.public(),
    };
    let roster = crypto::trust::Roster::create(
        &owner_keys,
        hh,
        1,
        now(),
        vec![
            member(&owner_keys, crypto::trust::Role::Owner, 0, i64::MAX),
            member(&guest, crypto::trust::Role::Guest, opens, now() + 3_600_000),
        ],
    )
    .unwrap();
    web.ok(
        "PUT",
        &format!("/api/households/{household}/roster"),
        Some(serde_json::json!({"roster": crypto::keys::hex(&roster.encode())})),
    );
    // Before the window: refused by the agent, no footage (the ask went through the owner's
    // session, which the server allows: only the agent's check stands in the way).
    let mut early = day.clone();
    early["play_ms"] = at.into();
    let mut refused = None;
    wait_until("the agent to take the roster and answer the guest", Duration::from_secs(30), || {
        let (reply, footage) = history(&mut web, &household, &guest, early.clone());
        assert!(reply.play.is_none() && footage.is_empty(), "footage before the guest's window: {reply:?}");
        let got = reply.error.is_some() && !reply.runs.is_empty();
        refused = Some(reply);
        got
    });
    let refused = refused.unwrap();
    assert!(refused.error.as_deref().unwrap().contains("outside"), "{refused:?}");
    assert!(refused.runs.iter().all(|r| r.start_ms >= opens), "runs before the window: {:?}", refused.runs);
    // Inside the window: footage that starts no earlier than it opens.
    let mut inside = day;
    inside["play_ms"] = (opens + 1_000).into();
    let (reply, footage) = history(&mut web, &household, &guest, inside);
    let play = reply.play.unwrap_or_else(|| panic!("no footage for the guest: {:?}", reply.error));
    assert!(play.start_ms >= opens, "{play:?}");
    assert_eq!(footage.len() as u64, play.bytes);
    agent.stop_with(libc::SIGTERM);
}

/// `porchlight totp-key-rotate` seals every TOTP secret under a new key and drops the old
/// one; sign-in with a code works before and after, and the old key opens nothing new.
#[test]
fn the_totp_key_rotates_and_sign_in_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = ServerProc::start_on(&dir.path().join("server"), port);
    let w = Web::new(&server.url);
    let r = w.run(w.api.signup("t@example.org", "a long password"));
    let secret = api::secrets::base32_rfc4648_decode(&r.totp_secret).unwrap();
    let code = |step_offset: i64| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        format!("{:06}", api::secrets::totp_at(&secret, now / 30_000 + step_offset))
    };
    w.run(w.api.totp_confirm(&code(0)));
    server.kill9();
    let key_file = server.data_dir.join("totp.key");
    let before = std::fs::read(&key_file).unwrap();
    let (ok, out) = porchlight(&["totp-key-rotate", "--config", server.config.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(out.contains("1 secrets sealed anew"), "{out}");
    let after = std::fs::read(&key_file).unwrap();
    assert_ne!(before, after);
    assert_eq!(after.len(), 6 + 40, "the old key is dropped");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    // The database file holds no secret in the clear.
    let db = std::fs::read(server.data_dir.join("server.db")).unwrap();
    assert!(!db.windows(secret.len()).any(|w| w == secret.as_slice()));

    let server = ServerProc::start_on(&dir.path().join("server"), port);
    let w = Web::new(&server.url);
    let r = w.run(w.api.login("t@example.org", "a long password"));
    assert_eq!(r.next, "totp");
    // The confirming code's step is used up; the next one signs in.
    w.run(w.api.login_totp(&code(1)));
    let session: wire::SessionReply = w.run(w.api.get("/api/session"));
    assert_eq!(session.email, "t@example.org");
}

/// The server's background workers run from the start and report on `/metrics`; SIGTERM
/// stops them (cooperatively: the process exits cleanly, not killed mid-pass).
#[test]
fn the_servers_workers_report_on_metrics_and_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProc::start_with(
        dir.path(),
        free_port(),
        "metrics_token = \"m3tr1cs-t0ken-for-the-test\"\nretention_interval_s = 1\n",
    );
    let http = reqwest::blocking::Client::new();
    let read = || {
        http.get(format!("{}/metrics", server.url))
            .bearer_auth("m3tr1cs-t0ken-for-the-test")
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let value = |text: &str, line: &str| -> Option<i64> {
        text.lines().find_map(|l| l.strip_prefix(line).and_then(|v| v.trim().parse().ok()))
    };
    wait_until("the retention worker's second pass", Duration::from_secs(20), || {
        value(&read(), "porchlight_worker_passes_total{worker=\"retention\"}").is_some_and(|n| n >= 2)
    });
    let text = read();
    for w in ["retention", "orphan_sweep", "request_expiry", "webhooks", "push"] {
        assert!(
            value(&text, &format!("porchlight_worker_passes_total{{worker=\"{w}\"}}")).is_some_and(|n| n >= 1),
            "{w}: {text}"
        );
        assert_eq!(
            value(&text, &format!("porchlight_worker_failures_total{{worker=\"{w}\"}}")),
            Some(0),
            "{w}: {text}"
        );
        assert!(
            value(&text, &format!("porchlight_worker_last_success_ms{{worker=\"{w}\"}}")).is_some_and(|t| t > 0),
            "{w}"
        );
    }
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let status = server.child.wait().unwrap();
    assert!(status.success(), "the server exits cleanly on SIGTERM: {status}");
}

/// A member's microphone, as the web app sends it: a 1 kHz tone, Opus at 48 kHz in 20 ms
/// packets, each sealed for the household's agents under a talk request `signer` signed.
fn talk_packets(
    signer: &crypto::keys::Keyring,
    household: &str,
    agents: &[crypto::keys::EncryptionPublic],
    seconds: usize,
) -> (Vec<u8>, Vec<Vec<u8>>) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let hh: [u8; 16] = crypto::keys::unhex(household).unwrap().try_into().unwrap();
    let (q, mut sealer) = crypto::talk::TalkRequest::create(signer, hh, "door", agents, now).unwrap();
    let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    let packets = (0..seconds * 50)
        .map(|k| {
            let frame: Vec<i16> = (0..960)
                .map(|i| {
                    (((k * 960 + i) as f64 * 2.0 * std::f64::consts::PI * 1000.0 / 48_000.0).sin() * 8000.0) as i16
                })
                .collect();
            let framed = sealer.seal(&enc.encode_vec(&frame, 1275).unwrap()).unwrap();
            [&(framed.len() as u32).to_be_bytes()[..], &framed].concat()
        })
        .collect();
    (q.encode(), packets)
}

/// Posts framed packets to a talk session in real time, five at a time; returns the last state.
fn post_talk(web: &mut Web, sid: &str, packets: &[Vec<u8>]) -> wire::TalkState {
    let start = std::time::Instant::now();
    let mut state = None;
    for (k, batch) in packets.chunks(5).enumerate() {
        let rb = web.api.request(reqwest::Method::POST, &format!("/api/talk/{sid}")).body(batch.concat());
        let (status, body) = web.rt_block(web.api.send_raw(rb)).unwrap();
        assert!(status.is_success(), "POST /api/talk: {status} {}", String::from_utf8_lossy(&body));
        state = Some(serde_json::from_slice::<wire::TalkState>(&body).unwrap());
        std::thread::sleep(
            (start + Duration::from_millis(100 * (k as u64 + 1))).saturating_duration_since(std::time::Instant::now()),
        );
    }
    state.unwrap()
}

/// Talking through the doorbell: the owner's sealed voice crosses the server to the agent and
/// plays on the camera's speaker (gst-rtsp-server's ONVIF backchannel, written to a file);
/// one talker at a time; a limited member is refused by the server, a member the owner's
/// roster does not name is refused by the agent, and packets sealed under another session
/// play nothing: the speaker's file does not grow for any of them.
#[test]
fn talking_through_the_door_reaches_its_speaker_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let speaker = dir.path().join("speaker.raw");
    let camera = RtspServer::start(&[(
        "door",
        format!("{},audio=pcmu,backchannel={}", testdata("front-sub-loop.mp4").display(), speaker.display()),
    )]);
    let server = ServerProc::start(&dir.path().join("server"));
    let owner_keys = crypto::keys::Keyring::generate("owner", 0).unwrap();
    let (mut web, household) = Web::owner(&server.url, "owner@example.org", &owner_keys);
    let agent_dir = dir.path().join("agent");
    web.pair_agent(&household, &owner_keys, &agent_dir.join("data"));
    let (agent, _) = doorbell_agent(&agent_dir, &format!("url = \"{}\"", camera.url("door")), 1);
    wait_until("the agent to record", Duration::from_secs(60), || agent.recorded("door") > 30);
    // The camera offers its backchannel: the app is told the door has a speaker.
    wait_until("the agent to say the door has a speaker", Duration::from_secs(45), || {
        let v = web.ok("GET", &format!("/api/households/{household}/cameras"), None);
        v.as_array().unwrap().iter().any(|c| c["camera"] == "door" && c["speaker"] == true)
    });
    let talk = web.ok("GET", &format!("/api/households/{household}/talk"), None);
    let agent_key = crypto::keys::PublicKeys::parse(
        &crypto::keys::unhex(talk["agent_keys"][0].as_str().expect("the agent published its keys")).unwrap(),
    )
    .unwrap()
    .encryption;
    let heard = || -> Vec<i16> {
        std::fs::read(&speaker).unwrap_or_default().chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect()
    };

    // The owner talks: until the agent has reached the camera's speaker (under load, with
    // the other suites running on two cores, hearing of the session and opening the RTSP
    // backchannel has taken more than 6 s; what is posted before then waits at the server,
    // up to a point, and late sound is dropped), then for 2 s more.
    const REACH_S: usize = 20;
    let (request, packets) = talk_packets(&owner_keys, &household, std::slice::from_ref(&agent_key), REACH_S + 3);
    let started = web.ok(
        "POST",
        &format!("/api/households/{household}/talk"),
        Some(serde_json::json!({"request": crypto::keys::hex(&request)})),
    );
    let sid = started["session_id"].as_str().unwrap().to_owned();
    // Someone else cannot talk through the door meanwhile, and is told who is.
    let (second, _) = talk_packets(&owner_keys, &household, std::slice::from_ref(&agent_key), 1);
    let (status, body) = web.call(
        "POST",
        &format!("/api/households/{household}/talk"),
        Some(serde_json::json!({"request": crypto::keys::hex(&second)})),
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("owner@example.org is talking"), "{body}");
    let talkers = web.ok("GET", &format!("/api/households/{household}/talk"), None);
    assert_eq!(talkers["talking"][0]["email"], "owner@example.org", "{talkers}");
    let mut used = 0;
    while used < REACH_S * 50 {
        let state = post_talk(&mut web, &sid, &packets[used..used + 5]);
        used += 5;
        if state.stage == wire::TalkStage::Talking {
            break;
        }
        assert_eq!(state.stage, wire::TalkStage::Connecting, "{state:?}");
    }
    let before_talking = heard().len();
    let state = post_talk(&mut web, &sid, &packets[used..used + 100]);
    let talk_log = || {
        let log = std::fs::read_to_string(agent_dir.join("agent.log")).unwrap_or_default();
        log.lines().filter(|l| l.contains("talk")).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(state.stage, wire::TalkStage::Talking, "{state:?}; the agent said:\n{}", talk_log());
    std::thread::sleep(Duration::from_millis(600));
    let stopped = web.ok("DELETE", &format!("/api/talk/{sid}"), None);
    assert_eq!(stopped["stage"], "ended");
    let mut posted = (used + 100) * 160;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while heard().len() < before_talking + 16_000 * 8 / 10 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if heard().len() < before_talking + 16_000 * 8 / 10 {
        // The test camera (gst-rtsp-server's ONVIF backchannel) now and then writes nothing
        // of a whole session the agent played in full: a race in the test camera, seen in
        // the web app's test too. Then, and only then, the owner talks once more.
        let log = std::fs::read_to_string(agent_dir.join("agent.log")).unwrap_or_default();
        let played_all =
            log.lines().any(|l| l.contains("talk session ended") && l.contains(&sid) && !l.contains("packets=0 "));
        assert!(
            heard().len() == before_talking && played_all,
            "the speaker played {} samples of the owner's voice; the agent said:\n{}",
            heard().len() - before_talking,
            talk_log()
        );
        eprintln!("the test camera wrote nothing of a session the agent played; talking again");
        let (request, packets) = talk_packets(&owner_keys, &household, std::slice::from_ref(&agent_key), REACH_S + 3);
        let started = web.ok(
            "POST",
            &format!("/api/households/{household}/talk"),
            Some(serde_json::json!({"request": crypto::keys::hex(&request)})),
        );
        let again = started["session_id"].as_str().unwrap().to_owned();
        let mut used = 0;
        while used < REACH_S * 50
            && post_talk(&mut web, &again, &packets[used..used + 5]).stage != wire::TalkStage::Talking
        {
            used += 5;
        }
        used += 5;
        let from = heard().len();
        post_talk(&mut web, &again, &packets[used..used + 100]);
        std::thread::sleep(Duration::from_millis(600));
        web.ok("DELETE", &format!("/api/talk/{again}"), None);
        posted += (used + 100) * 160;
        wait_until("the speaker to play the owner's voice", Duration::from_secs(10), || {
            heard().len() >= from + 16_000 * 8 / 10
        });
    }
    let played = heard();
    assert!(played.len() <= posted + 1_600, "{} samples for {posted} posted", played.len());
    let (at_1k, at_440) = (tone_power(&played, 1000.0), tone_power(&played, 440.0));
    assert!(at_1k > 100.0 * at_440, "1 kHz {at_1k:.0}, 440 Hz {at_440:.0}: not the owner's tone");
    let before = std::fs::metadata(&speaker).unwrap().len();

    // Packets of another session, posted to a new owner session: the agent refuses every one.
    let (request, _) = talk_packets(&owner_keys, &household, std::slice::from_ref(&agent_key), 1);
    let (_, foreign) = talk_packets(&owner_keys, &household, std::slice::from_ref(&agent_key), 1);
    let started = web.ok(
        "POST",
        &format!("/api/households/{household}/talk"),
        Some(serde_json::json!({"request": crypto::keys::hex(&request)})),
    );
    let sid = started["session_id"].as_str().unwrap().to_owned();
    post_talk(&mut web, &sid, &foreign);
    web.ok("DELETE", &format!("/api/talk/{sid}"), None);

    // A member the owner's roster does not name: the server lets a standard member start,
    // the agent refuses the request, and the app learns why.
    let carol_keys = crypto::keys::Keyring::generate("carol", 0).unwrap();
    let mut carol = web.member(&household, "carol@example.org", wire::Role::Standard, &carol_keys);
    let (request, packets) = talk_packets(&carol_keys, &household, std::slice::from_ref(&agent_key), 1);
    let started = carol.ok(
        "POST",
        &format!("/api/households/{household}/talk"),
        Some(serde_json::json!({"request": crypto::keys::hex(&request)})),
    );
    let sid = started["session_id"].as_str().unwrap().to_owned();
    let mut state = post_talk(&mut carol, &sid, &packets[..10]);
    for _ in 0..200 {
        if state.stage == wire::TalkStage::Ended {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        state = post_talk(&mut carol, &sid, &packets[10..11]);
    }
    assert_eq!(state.stage, wire::TalkStage::Ended, "{state:?}");
    assert!(state.error.as_deref().unwrap_or("").contains("not in the owner's roster"), "{state:?}");

    // A limited member may not talk at all: refused by the server.
    let dave_keys = crypto::keys::Keyring::generate("dave", 0).unwrap();
    let mut dave = web.member(&household, "dave@example.org", wire::Role::Limited, &dave_keys);
    let (request, _) = talk_packets(&dave_keys, &household, &[agent_key], 1);
    let (status, body) = dave.call(
        "POST",
        &format!("/api/households/{household}/talk"),
        Some(serde_json::json!({"request": crypto::keys::hex(&request)})),
    );
    assert_eq!(status, 403, "{body}");

    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(std::fs::metadata(&speaker).unwrap().len(), before, "the speaker played something refused");
}

/// Live sound asked of a camera the agent hears nothing from (a file): the agent answers
/// with nothing at once, so the app can say so instead of waiting.
#[test]
fn live_sound_from_a_camera_without_sound_ends_at_once_with_nothing() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProc::start(&dir.path().join("server"));
    let owner_keys = crypto::keys::Keyring::generate("owner", 0).unwrap();
    let (mut web, household) = Web::owner(&server.url, "owner@example.org", &owner_keys);
    let agent_dir = dir.path().join("agent");
    web.pair_agent(&household, &owner_keys, &agent_dir.join("data"));
    let (agent, _) = doorbell_agent(&agent_dir, &format!("file = {:?}", testdata("front.mp4")), 1);
    wait_until("the agent to record", Duration::from_secs(60), || agent.recorded("door") > 30);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let hh: [u8; 16] = crypto::keys::unhex(&household).unwrap().try_into().unwrap();
    let session = crypto::keys::EncryptionSecret::generate();
    let q = crypto::live::LiveRequest::create(&owner_keys, hh, "door", session.public(), now).unwrap();
    let started = web.ok(
        "POST",
        &format!("/api/households/{household}/live"),
        Some(serde_json::json!({"request": crypto::keys::hex(&q.encode()), "audio": true})),
    );
    let sid = started["session_id"].as_str().unwrap();
    let t = std::time::Instant::now();
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(25)).build().unwrap();
    let mut r =
        http.get(format!("{}/api/live/{sid}", web.base())).header("cookie", web.cookie().unwrap()).send().unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let mut body = Vec::new();
    r.read_to_end(&mut body).unwrap();
    assert!(body.is_empty(), "{} bytes of sound from a file camera", body.len());
    assert!(t.elapsed() < Duration::from_secs(15), "answered after {:?}", t.elapsed());
    // Asking for a sub-stream and sound at once is a client mistake, refused.
    let (status, e) = web.call(
        "POST",
        &format!("/api/households/{household}/live"),
        Some(serde_json::json!({"request": crypto::keys::hex(&q.encode()), "audio": true, "sub": true})),
    );
    assert_eq!(status, 400, "{e}");
}

/// A doorbell whose sound is recorded (`audio.record`) sends event clips with that sound,
/// converted from the camera's G.711 to Opus for the browser, sealed with the picture: the
/// owner's copy, opened, has an Opus track that carries the camera's tones. The doorbell
/// beside it, same camera, sound not recorded, sends silent clips.
#[test]
fn a_doorbell_clip_carries_the_sound_only_where_it_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let rtsp = RtspServer::start(&[("cam", format!("{},audio=pcmu", testdata("front-sub.mp4").display()))]);
    let server = ServerProc::start(&dir.path().join("server"));
    let owner = crypto::keys::Keyring::generate("owner", 0).unwrap();
    let (mut web, household) = Web::owner(&server.url, "owner@example.org", &owner);
    let agent_dir = dir.path().join("agent");
    web.pair_agent(&household, &owner, &agent_dir.join("data"));
    let http_port = free_port();
    let url = rtsp.url("cam");
    let agent = Agent::start(
        &agent_dir,
        &format!(
            "[http]\nlisten = \"127.0.0.1:{http_port}\"\ntoken = \"{TOKEN}\"\n[sync]\nsettle_s = 1\n\
             [[cameras]]\nname = \"door\"\ndoorbell = true\nmain = {{ url = \"{url}\" }}\naudio = {{ record = true }}\n\
             events = {{ pre_roll_s = 2, post_roll_s = 2 }}\n\
             [[cameras]]\nname = \"gate\"\ndoorbell = true\nmain = {{ url = \"{url}\" }}\n\
             events = {{ pre_roll_s = 2, post_roll_s = 2 }}\n"
        ),
    );
    wait_until("both cameras to record", Duration::from_secs(30), || {
        agent.recorded("door") > 90 && agent.recorded("gate") > 90
    });
    for camera in ["door", "gate"] {
        let r = reqwest::blocking::Client::new()
            .post(format!("http://127.0.0.1:{http_port}/api/v1/cameras/{camera}/doorbell"))
            .bearer_auth(TOKEN)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
    }
    let mut clips: Vec<(String, Vec<u8>)> = Vec::new();
    wait_until("both doorbell clips on the server", Duration::from_secs(60), || {
        clips.clear();
        let events = web.ok("GET", &format!("/api/households/{household}/events"), None);
        for e in events.as_array().unwrap() {
            let Some(clip) = e["clip_object"].as_str() else { continue };
            let (h, mp4) = crypto::object::open(&owner, &web.bytes(&format!("/api/objects/{clip}"))).unwrap();
            clips.push((h.meta.camera, mp4));
        }
        clips.len() >= 2
    });
    agent.stop_with(libc::SIGTERM);
    for (camera, mp4) in &clips {
        let f = dir.path().join(format!("{camera}.mp4"));
        std::fs::write(&f, mp4).unwrap();
        let probe = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0"])
            .arg(&f)
            .output()
            .unwrap();
        let codecs = String::from_utf8_lossy(&probe.stdout).trim().replace('\n', ",");
        if camera == "gate" {
            assert_eq!(codecs, "h264", "gate records no sound");
            continue;
        }
        assert_eq!(codecs, "h264,opus", "door's clip");
        let pcm = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&f)
            .args(["-map", "0:a", "-f", "s16le", "-ac", "1", "-ar", "8000", "-"])
            .output()
            .unwrap();
        assert!(pcm.status.success(), "{}", String::from_utf8_lossy(&pcm.stderr));
        let samples: Vec<i16> = pcm.stdout.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
        assert!(samples.len() > 8000 * 3, "{} samples of sound in a 4 s clip", samples.len());
        let (a, b, other) = (tone_power(&samples, 440.0), tone_power(&samples, 880.0), tone_power(&samples, 1500.0));
        assert!(a > 50.0 * other && b > 50.0 * other, "440 Hz {a:.0}, 880 Hz {b:.0}, 1500 Hz {other:.0}");
    }
    assert_eq!(clips.len(), 2);
}
