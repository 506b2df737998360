//! Events end to end: a real agent records and analyses a camera, stores events with
//! snapshots and clips, takes a doorbell press over HTTP and a sensor over MQTT, and
//! publishes everything to a real mosquitto broker in Home Assistant's conventions.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

struct Broker(Child);

impl Broker {
    fn start(dir: &Path, port: u16) -> Broker {
        let conf = dir.join("mosquitto.conf");
        std::fs::write(&conf, format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")).unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (make setup installs it)");
        wait_until("mosquitto listening", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Broker(child)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Everything published, as "topic payload" lines (binary payloads show as their length).
fn subscribe(port: u16, out: &Path) -> Child {
    Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "#", "-v", "-F", "%t %l %p"])
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_sub (make setup installs mosquitto-clients)")
}

fn http(port: u16, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn events_snapshots_doorbell_sensor_and_mqtt() {
    let dir = tempfile::tempdir().unwrap();
    let (mqtt_port, http_port) = (free_port(), free_port());
    let _broker = Broker::start(dir.path(), mqtt_port);
    let capture = dir.path().join("mqtt.txt");
    let mut sub = subscribe(mqtt_port, &capture);
    // The real person clip's sub-stream when it is there; else the generated moving test
    // pattern (motion, no people).
    // (`make testdata` makes person-sub.mp4 only when ../shared/data is there.)
    let person = person_sub();
    let clip = person.clone().unwrap_or_else(|| testdata("front-sub.mp4"));
    let token = "a-long-enough-token";
    let agent = Agent::start(
        dir.path(),
        &format!(
            "[mqtt]\nhost = \"127.0.0.1\"\nport = {mqtt_port}\n[http]\nlisten = \"127.0.0.1:{http_port}\"\ntoken = \"{token}\"\n\
             [[cameras]]\nname = \"door\"\ndoorbell = true\nmain = {{ file = {clip:?} }}\n\
             motion = {{ enabled = true }}\nobjects = {{ enabled = true }}\nevents = {{ pre_roll_s = 2, post_roll_s = 1 }}\n\
             [[cameras]]\nname = \"gate\"\ndoorbell = true\nmain = {{ file = {gate:?} }}\n\
             motion = {{ masks = [[[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]] }}\n",
            gate = testdata("front.mp4"),
        ),
    );
    wait_until("the agent to record", Duration::from_secs(30), || agent.recorded("door") > 20);
    wait_until("the HTTP endpoint", Duration::from_secs(10), || {
        http(http_port, "GET /api/v1/health HTTP/1.1\r\n\r\n").contains("200 OK")
    });
    // A press without the token is refused and changes nothing; with it, accepted.
    let refused = http(http_port, "POST /api/v1/cameras/door/doorbell HTTP/1.1\r\n\r\n");
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    let bad = http(
        http_port,
        &format!("POST /api/v1/cameras/nope/doorbell HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n"),
    );
    assert!(bad.starts_with("HTTP/1.1 404") && bad.contains("no camera"), "{bad}");
    let ok = http(
        http_port,
        &format!("POST /api/v1/cameras/door/doorbell HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n"),
    );
    assert!(ok.starts_with("HTTP/1.1 202"), "{ok}");
    // The gate: no motion analysis, a 720p main stream with B-frames, a privacy mask.
    wait_until("the gate to record", Duration::from_secs(30), || agent.recorded("gate") > 20);
    let ok = http(
        http_port,
        &format!("POST /api/v1/cameras/gate/doorbell HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n"),
    );
    assert!(ok.starts_with("HTTP/1.1 202"), "{ok}");
    // A sensor over MQTT.
    let st = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &mqtt_port.to_string(), "-t", "porchlight/door/sensor/gate", "-m", "ON"])
        .status()
        .unwrap();
    assert!(st.success());
    // Let motion and (with the real clip) the first visit make events.
    std::thread::sleep(Duration::from_secs(if clip.ends_with("person-sub.mp4") { 22 } else { 8 }));
    let data = agent.data_dir.clone();
    agent.stop_with(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    let _ = sub.kill();
    let _ = sub.wait();

    let (ok, out) = porchlight(&["events", "--data-dir", &data.display().to_string(), "--json"]);
    assert!(ok, "{out}");
    let events: Vec<serde_json::Value> = out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "doorbell").count(), 2, "{out}");
    let sensor = events.iter().find(|e| e["kind"] == "sensor" && e["label"] == "gate");
    let sensor = sensor.unwrap_or_else(|| panic!("no sensor event: {out}"));
    // Presses and sensors have a snapshot of the next key frame, even with motion off.
    let probe = |path: &str| {
        let o = Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", path])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    assert_eq!(probe(sensor["snapshot"].as_str().expect("the sensor event has a snapshot")), "mjpeg,640,360");
    let gate = events.iter().find(|e| e["kind"] == "doorbell" && e["camera"] == "gate").unwrap();
    let gate_jpeg = gate["snapshot"].as_str().expect("the gate's press has a snapshot");
    assert_eq!(probe(gate_jpeg), "mjpeg,1280,720");
    // Its privacy mask (the top left quarter) is black; the test pattern elsewhere is not.
    let gray = Command::new("ffmpeg")
        .args(["-v", "error", "-i", gate_jpeg, "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(gray.len(), 1280 * 720);
    let mean = |x0: usize, y0: usize| {
        let sum: u64 = (y0..y0 + 300)
            .flat_map(|y| (x0..x0 + 600).map(move |x| (x, y)))
            .map(|(x, y)| u64::from(gray[y * 1280 + x]))
            .sum();
        sum / (300 * 600)
    };
    assert!(mean(10, 10) < 8, "the masked quarter is black: mean {}", mean(10, 10));
    assert!(mean(650, 380) > 40, "the unmasked picture is not: mean {}", mean(650, 380));
    assert!(kinds.iter().any(|k| *k == "motion" || *k == "person"), "motion or a person was seen: {out}");
    if clip.ends_with("person-sub.mp4") {
        let p = events.iter().find(|e| e["kind"] == "person").unwrap_or_else(|| panic!("no person event: {out}"));
        let snap = p["snapshot"].as_str().expect("a person event has a snapshot");
        let probe = Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", snap])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&probe.stdout).trim(),
            "mjpeg,640,360",
            "the snapshot is a JPEG of the frame"
        );
    } else {
        eprintln!("NOTE: ../shared/data is absent; the person-event part of this test did not run");
    }
    // The doorbell's clip: its pre- and post-roll from the recording.
    let bell = events.iter().find(|e| e["kind"] == "doorbell" && e["camera"] == "door").unwrap();
    assert_eq!(probe(bell["snapshot"].as_str().expect("the door's press has a snapshot")), "mjpeg,640,360");
    let mp4 = dir.path().join("bell.mp4");
    let id = bell["id"].to_string();
    let (ok, out) = porchlight(&[
        "export",
        "--data-dir",
        &data.display().to_string(),
        "--event",
        &id,
        "-o",
        &mp4.display().to_string(),
    ]);
    assert!(ok, "{out}");
    assert!(decoded_frames(&mp4) > 10, "the press's clip has footage");
    let (ok, out) =
        porchlight(&["export", "--data-dir", &data.display().to_string(), "--event", "9999", "-o", "/tmp/x.mp4"]);
    assert!(!ok && out.contains("no event 9999"), "{out}");

    // What Home Assistant saw.
    let mqtt = String::from_utf8_lossy(&std::fs::read(&capture).unwrap()).into_owned();
    let has =
        |topic: &str, needle: &str| mqtt.lines().any(|l| l.starts_with(&format!("{topic} ")) && l.contains(needle));
    assert!(has("porchlight/available", "online"), "{mqtt}");
    assert!(has("porchlight/available", "offline"), "goodbye on a clean stop: {mqtt}");
    assert!(has("homeassistant/event/porchlight_door_doorbell/config", "\"device_class\":\"doorbell\""), "{mqtt}");
    assert!(has("homeassistant/binary_sensor/porchlight_door_person/config", "porchlight/door/person"), "{mqtt}");
    assert!(has("porchlight/door/doorbell", "\"event_type\":\"press\""), "{mqtt}");
    assert!(has("porchlight/door/motion", "ON"), "{mqtt}");
    assert!(has("porchlight/events", "\"kind\":\"doorbell\""), "{mqtt}");
    assert!(has("porchlight/events", "\"label\":\"gate\""), "{mqtt}");
    if clip.ends_with("person-sub.mp4") {
        assert!(has("porchlight/door/person", "ON") && has("porchlight/door/person", "OFF"), "{mqtt}");
        assert!(mqtt.lines().any(|l| l.starts_with("porchlight/door/snapshot ")), "a snapshot was published: {mqtt}");
    }
}

#[test]
fn bad_event_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("p.toml");
    let cam = format!("[[cameras]]\nname = \"a\"\nmain = {{ file = {:?} }}\n", testdata("back.mp4"));
    for (body, want) in [
        (
            format!("{cam}objects = {{ enabled = true }}\n"),
            "line 4: cameras[0].objects.enabled: object detection runs on motion",
        ),
        (
            format!(
                "{cam}motion = {{ enabled = true }}\nobjects = {{ enabled = true, thresholds = {{ person = 2 }} }}\n"
            ),
            "threshold for person",
        ),
        (format!("{cam}objects = {{ format = \"yolov5\" }}\n"), "objects.format: applies only with `model`"),
        (format!("[mqtt]\nhost = \"\"\n{cam}"), "mqtt.host"),
        (format!("[mqtt]\nhost = \"b\"\ntopic_prefix = \"a/#\"\n{cam}"), "topic_prefix"),
        (format!("[http]\nlisten = \"nowhere\"\n{cam}"), "http.listen"),
        (format!("[http]\ntoken = \"short\"\n{cam}"), "http.token"),
        (format!("{cam}events = {{ pre_roll_s = 61 }}\n"), "line 4: expected an integer in 0..=60, got 61"),
        (
            format!("{cam}motion = {{ enabled = true, package_zones = [\"porch\"] }}\n"),
            "package_zones: \"porch\" is not the name",
        ),
    ] {
        std::fs::write(&cfg, &body).unwrap();
        let (ok, out) = porchlight(&["config", "check", &cfg.display().to_string()]);
        assert!(!ok && out.contains(want), "{body}\n→ {out}");
    }
}

#[test]
fn a_broken_model_leaves_recording_and_motion_running() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.onnx");
    std::fs::write(&bad, b"\x08\x07 not really a model").unwrap();
    let agent = Agent::start(
        dir.path(),
        &format!(
            "[[cameras]]\nname = \"cam\"\nmain = {{ file = {:?} }}\nmotion = {{ enabled = true }}\n\
             objects = {{ enabled = true, model = {bad:?} }}\n",
            testdata("back.mp4")
        ),
    );
    wait_until("recording and motion", Duration::from_secs(30), || {
        let st = agent.status();
        st.iter().any(|s| {
            s["frames_recorded"].as_u64().unwrap_or(0) > 30 && s["motion"]["events"].as_u64().unwrap_or(0) >= 1
        })
    });
    let st = agent.status();
    let err = st[0]["motion"]["last_error"].as_str().unwrap_or_default().to_owned();
    assert!(err.contains("object detection unavailable") && err.contains("broken.onnx"), "{st:?}");
    agent.stop_with(libc::SIGTERM);
}

#[test]
fn mqtt_reconnects_and_announces_again() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let broker = Broker::start(dir.path(), port);
    let agent = Agent::start(
        dir.path(),
        &format!(
            "[mqtt]\nhost = \"127.0.0.1\"\nport = {port}\n[[cameras]]\nname = \"gate\"\ndoorbell = true\n\
             main = {{ file = {:?} }}\n",
            testdata("back.mp4")
        ),
    );
    // Retained messages as a fresh subscriber sees them.
    let retained = |what: &str| -> String {
        let out = Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "#", "-v", "--retained-only", "-W", "2"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!("{what}: {} retained lines", text.lines().count());
        text
    };
    let announced = |t: &str| {
        t.contains("homeassistant/event/porchlight_gate_doorbell/config") && t.contains("porchlight/available online")
    };
    wait_until("the first announcement", Duration::from_secs(20), || announced(&retained("first")));
    // The broker restarts with nothing retained (persistence is off): the agent must
    // reconnect and announce itself again.
    drop(broker);
    std::thread::sleep(Duration::from_secs(2));
    let _broker = Broker::start(dir.path(), port);
    wait_until("the announcement after a broker restart", Duration::from_secs(60), || {
        announced(&retained("after restart"))
    });
    agent.stop_with(libc::SIGTERM);
}
