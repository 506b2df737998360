//! MQTT: motion, objects, events and snapshots out; doorbell presses and sensors in.
//!
//! Topics follow what Home Assistant users know from Frigate, under a prefix (default
//! `porchlight`):
//!
//! ```text
//! <prefix>/available                       online / offline (retained; offline is the will)
//! <prefix>/<camera>/motion                 ON / OFF (retained)
//! <prefix>/<camera>/<person|vehicle|animal|package>   ON / OFF (retained)
//! <prefix>/<camera>/snapshot               the latest event's JPEG (retained)
//! <prefix>/<camera>/doorbell               {"event_type": "press"} on each press
//! <prefix>/events                          one JSON object per stored event
//! <prefix>/<camera>/doorbell/press         (in) any payload: a press
//! <prefix>/<camera>/sensor/<name>          (in) ON / OFF: ON is an event of its own
//! ```
//!
//! With discovery on, each camera is a Home Assistant device with binary sensors (motion
//! and each object category), a camera entity showing the snapshot and, for doorbell
//! cameras, a doorbell event entity; the configs are retained under the discovery prefix
//! (default `homeassistant`) and sent again on every reconnection.

use std::sync::Arc;
use std::time::Duration;

use base::Error;
use base::shutdown::Receiver;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use serde_json::json;
use tokio::sync::mpsc::{Receiver as QueueReceiver, Sender as QueueSender};

use crate::analysis::Notice;
use crate::inputs::Input;
use crate::layout::Layout;

#[derive(Clone, Debug)]
pub struct MqttSpec {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_id: String,
    pub prefix: String,
    /// Home Assistant discovery prefix; `None` turns discovery off.
    pub discovery_prefix: Option<String>,
    /// Every camera, and whether it has a doorbell.
    pub cameras: Vec<(String, bool)>,
}

const KINDS: [&str; 5] = ["motion", "person", "vehicle", "animal", "package"];

/// Home Assistant's MQTT discovery config for one entity (its `device` groups a camera's).
#[derive(serde::Serialize)]
struct HaConfig {
    name: String,
    unique_id: String,
    availability_topic: String,
    device: HaDevice,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_class: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_types: Option<&'static [&'static str]>,
}

#[derive(Clone, serde::Serialize)]
struct HaDevice {
    identifiers: Vec<String>,
    name: String,
    manufacturer: &'static str,
    model: &'static str,
}

impl MqttSpec {
    fn available(&self) -> String {
        format!("{}/available", self.prefix)
    }

    /// Retained discovery configs: (topic, payload).
    pub fn discovery(&self) -> Vec<(String, String)> {
        let Some(dp) = &self.discovery_prefix else { return Vec::new() };
        let mut out = Vec::new();
        for (cam, doorbell) in &self.cameras {
            let device = HaDevice {
                identifiers: vec![format!("porchlight_{cam}")],
                name: cam.clone(),
                manufacturer: "Porchlight",
                model: if *doorbell { "doorbell camera" } else { "camera" },
            };
            let base = |id: &str, name: &str| HaConfig {
                name: name.to_owned(),
                unique_id: format!("porchlight_{cam}_{id}"),
                availability_topic: self.available(),
                device: device.clone(),
                state_topic: None,
                topic: None,
                device_class: None,
                event_types: None,
            };
            let text = |c: HaConfig| serde_json::to_string(&c).expect("discovery configs serialize");
            for kind in KINDS {
                let c = HaConfig {
                    state_topic: Some(format!("{}/{cam}/{kind}", self.prefix)),
                    device_class: Some(if kind == "motion" { "motion" } else { "occupancy" }),
                    ..base(kind, &capitalised(kind))
                };
                out.push((format!("{dp}/binary_sensor/porchlight_{cam}_{kind}/config"), text(c)));
            }
            let c = HaConfig { topic: Some(format!("{}/{cam}/snapshot", self.prefix)), ..base("snapshot", "Snapshot") };
            out.push((format!("{dp}/camera/porchlight_{cam}_snapshot/config"), text(c)));
            if *doorbell {
                let c = HaConfig {
                    state_topic: Some(format!("{}/{cam}/doorbell", self.prefix)),
                    device_class: Some("doorbell"),
                    event_types: Some(&["press"]),
                    ..base("doorbell", "Doorbell")
                };
                out.push((format!("{dp}/event/porchlight_{cam}_doorbell/config"), text(c)));
            }
        }
        out
    }

    /// What an incoming message means, if anything.
    pub fn parse_incoming(&self, topic: &str, payload: &[u8]) -> Option<Input> {
        let rest = topic.strip_prefix(&self.prefix)?.strip_prefix('/')?;
        let mut parts = rest.split('/');
        let camera = parts.next()?.to_owned();
        self.cameras.iter().find(|(c, _)| *c == camera)?;
        match (parts.next()?, parts.next(), parts.next(), parts.next()) {
            ("doorbell", Some("press"), None, None) => Some(Input::Doorbell { camera }),
            ("sensor", Some(name), None, None) if valid_name(name) => {
                let on = match std::str::from_utf8(payload).ok()?.trim().to_ascii_uppercase().as_str() {
                    "ON" | "1" | "TRUE" | "OPEN" => true,
                    "OFF" | "0" | "FALSE" | "CLOSED" => false,
                    _ => return None,
                };
                Some(Input::Sensor { camera, name: name.to_owned(), on })
            }
            _ => None,
        }
    }

    /// What a notice publishes: (topic, retained, payload).
    pub fn outgoing(&self, n: &Notice, layout: &Layout) -> Vec<(String, bool, Vec<u8>)> {
        let p = &self.prefix;
        match n {
            Notice::Active { camera, kind, active, .. } => {
                vec![(format!("{p}/{camera}/{kind}"), true, if *active { b"ON".to_vec() } else { b"OFF".to_vec() })]
            }
            Notice::Doorbell { camera, .. } => {
                vec![(format!("{p}/{camera}/doorbell"), false, json!({"event_type": "press"}).to_string().into_bytes())]
            }
            Notice::Event(e) => {
                let snapshot = e.has_snapshot.then(|| layout.snapshot(e.id));
                let body = json!({
                    "id": e.id,
                    "camera": e.camera,
                    "kind": e.kind,
                    "label": e.label,
                    "start": base::clock::format_90k(e.start_90k),
                    "end": base::clock::format_90k(e.end_90k),
                    "score": e.score,
                    "zones": e.zones,
                    "box": e.bbox,
                    "has_snapshot": e.has_snapshot,
                    "clip_start": base::clock::format_90k(e.clip_start_90k),
                    "clip_end": base::clock::format_90k(e.clip_end_90k),
                });
                let mut out = vec![(format!("{p}/events"), false, body.to_string().into_bytes())];
                if let Some(jpeg) = snapshot.and_then(|s| std::fs::read(s).ok()) {
                    out.push((format!("{p}/{}/snapshot", e.camera), true, jpeg));
                }
                out
            }
        }
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// Sensor names: 1–32 of letters, digits, `-`, `_`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Runs the MQTT connection until every notice sender is gone (the analysis threads and the
/// inputs task end after shutdown, so their last events are still published): reconnects
/// with backoff, re-announces itself on each connection, publishes notices and turns
/// incoming messages into inputs (until shutdown).
pub async fn run(
    spec: MqttSpec,
    layout: Layout,
    mut notices: QueueReceiver<Notice>,
    inputs: QueueSender<Input>,
    shutdown: Receiver,
) -> Result<(), Error> {
    let spec = Arc::new(spec);
    let mut opts = MqttOptions::new(&spec.client_id, &spec.host, spec.port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_max_packet_size(4 << 20, 4 << 20);
    opts.set_last_will(LastWill::new(spec.available(), "offline", QoS::AtLeastOnce, true));
    if let (Some(u), Some(p)) = (&spec.username, &spec.password) {
        opts.set_credentials(u, p);
    }
    let (client, mut eventloop) = AsyncClient::new(opts, 256);
    // The event loop: connection, subscriptions, incoming messages. It stops once the
    // goodbye is sent (or could not be).
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Told to stop polling when the broker does not take the goodbye in time.
    let (give_up, mut given_up) = tokio::sync::oneshot::channel::<()>();
    let poller = {
        let (client, spec, stopping) = (client.clone(), spec.clone(), stopping.clone());
        let mut shutdown = shutdown;
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(500);
            let mut inputs = Some(inputs);
            loop {
                let ev = tokio::select! {
                    ev = eventloop.poll() => ev,
                    _ = &mut given_up => break,
                };
                if shutdown.is_shutdown() {
                    inputs = None;
                }
                match ev {
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        backoff = Duration::from_millis(500);
                        tracing::info!(host = %spec.host, port = spec.port, "MQTT connected");
                        let c = client.clone();
                        let s = spec.clone();
                        tokio::spawn(async move { announce(&c, &s).await });
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => match spec.parse_incoming(&p.topic, &p.payload) {
                        Some(i) => {
                            if let Some(tx) = &inputs
                                && tx.try_send(i).is_err()
                            {
                                tracing::warn!("MQTT input dropped: the queue is full or closed");
                            }
                        }
                        None => tracing::debug!(topic = %p.topic, "MQTT message ignored"),
                    },
                    Ok(_) => {}
                    Err(e) => {
                        if stopping.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        tracing::warn!(host = %spec.host, port = spec.port, "MQTT: {e}; retrying in {backoff:?}");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = shutdown.wait() => {}
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                    }
                }
            }
        })
    };
    while let Some(n) = notices.recv().await {
        let (spec2, layout2) = (spec.clone(), layout.clone());
        let msgs = tokio::task::spawn_blocking(move || spec2.outgoing(&n, &layout2)).await.unwrap_or_default();
        for (topic, retain, payload) in msgs {
            if let Err(e) = client.try_publish(topic, QoS::AtLeastOnce, retain, payload) {
                tracing::warn!("MQTT publish dropped: {e}");
            }
        }
    }
    // Say goodbye cleanly (the will covers crashes), then stop.
    stopping.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = client.try_publish(spec.available(), QoS::AtLeastOnce, true, "offline");
    let _ = client.try_disconnect();
    let mut poller = poller;
    if tokio::time::timeout(Duration::from_secs(3), &mut poller).await.is_err() {
        tracing::warn!("MQTT: the broker did not take the goodbye in time");
        let _ = give_up.send(());
        let _ = poller.await;
    }
    Ok(())
}

async fn announce(client: &AsyncClient, spec: &MqttSpec) {
    for (cam, _) in &spec.cameras {
        for t in ["doorbell/press", "sensor/+"] {
            let _ = client.subscribe(format!("{}/{cam}/{t}", spec.prefix), QoS::AtLeastOnce).await;
        }
    }
    for (topic, payload) in spec.discovery() {
        let _ = client.publish(topic, QoS::AtLeastOnce, true, payload).await;
    }
    let _ = client.publish(spec.available(), QoS::AtLeastOnce, true, "online").await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> MqttSpec {
        MqttSpec {
            host: "localhost".into(),
            port: 1883,
            username: None,
            password: None,
            client_id: "t".into(),
            prefix: "porchlight".into(),
            discovery_prefix: Some("homeassistant".into()),
            cameras: vec![("front".into(), true), ("back".into(), false)],
        }
    }

    #[test]
    fn incoming_topics() {
        let s = spec();
        assert_eq!(
            s.parse_incoming("porchlight/front/doorbell/press", b""),
            Some(Input::Doorbell { camera: "front".into() })
        );
        assert_eq!(
            s.parse_incoming("porchlight/back/sensor/gate", b"on"),
            Some(Input::Sensor { camera: "back".into(), name: "gate".into(), on: true })
        );
        assert_eq!(s.parse_incoming("porchlight/back/sensor/gate", b"maybe"), None);
        assert_eq!(s.parse_incoming("porchlight/side/doorbell/press", b""), None, "unknown camera");
        assert_eq!(s.parse_incoming("porchlight/front/doorbell/press/x", b""), None);
        assert_eq!(s.parse_incoming("other/front/doorbell/press", b""), None);
    }

    #[test]
    fn discovery_configs() {
        let d = spec().discovery();
        // Five binary sensors and a camera per camera, and one doorbell.
        assert_eq!(d.len(), 2 * 6 + 1);
        let (topic, payload) = d.iter().find(|(t, _)| t.contains("/event/")).unwrap();
        assert_eq!(topic, "homeassistant/event/porchlight_front_doorbell/config");
        let v: serde_json::Value = serde_json::from_str(payload).unwrap();
        let want = serde_json::json!({
            "name": "Doorbell",
            "unique_id": "porchlight_front_doorbell",
            "availability_topic": "porchlight/available",
            "device": {"identifiers": ["porchlight_front"], "name": "front", "manufacturer": "Porchlight", "model": "doorbell camera"},
            "state_topic": "porchlight/front/doorbell",
            "device_class": "doorbell",
            "event_types": ["press"],
        });
        assert_eq!(v, want);
        let off = MqttSpec { discovery_prefix: None, ..spec() };
        assert!(off.discovery().is_empty());
    }
}
