//! Events the agent is told about rather than sees: doorbell presses and sensors, arriving
//! by MQTT ([`crate::mqtt`]) or HTTP ([`crate::http`]).
//!
//! A press is an event of its own: kind `doorbell`, at the moment it arrived, with the
//! camera's pre- and post-roll as its clip. Presses within two seconds of the previous one
//! on the same camera are one press (buttons bounce, people press twice). A sensor turning
//! on (a gate contact, a PIR) is a `sensor` event named after it; turning off is logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base::clock::Clocks;
use base::shutdown::Receiver;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::analysis::{EventsConfig, Notice, Notices};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Doorbell { camera: String },
    Sensor { camera: String, name: String, on: bool },
}

/// Presses closer together than this are one.
const DEBOUNCE_90K: i64 = 2 * 90_000;

pub struct InputCameras {
    /// Camera name → (has a doorbell, its event settings).
    pub cameras: HashMap<String, (bool, EventsConfig)>,
}

/// Stores events for inputs until the channel closes or shutdown.
pub async fn run(
    cams: InputCameras,
    db: Arc<Mutex<db::Connection>>,
    clocks: Arc<dyn Clocks>,
    notices: Option<Notices>,
    mut rx: UnboundedReceiver<Input>,
    mut shutdown: Receiver,
) {
    let mut last_press: HashMap<String, i64> = HashMap::new();
    loop {
        let input = tokio::select! {
            i = rx.recv() => i,
            _ = shutdown.wait() => None,
        };
        let Some(input) = input else { break };
        let now = clocks.realtime_90k();
        let (camera, kind, label) = match &input {
            Input::Doorbell { camera } => (camera.clone(), "doorbell", "press".to_owned()),
            Input::Sensor { camera, name, on: true } => (camera.clone(), "sensor", name.clone()),
            Input::Sensor { camera, name, on: false } => {
                tracing::info!(camera = %camera, sensor = %name, "sensor off");
                continue;
            }
        };
        let Some((doorbell, ev)) = cams.cameras.get(&camera) else {
            tracing::warn!(camera = %camera, "input for an unknown camera ignored");
            continue;
        };
        if kind == "doorbell" {
            if !doorbell {
                tracing::warn!(camera = %camera, "doorbell press for a camera without a doorbell ignored");
                continue;
            }
            if last_press.get(&camera).is_some_and(|&t| now - t < DEBOUNCE_90K) {
                tracing::debug!(camera = %camera, "doorbell press debounced");
                continue;
            }
            last_press.insert(camera.clone(), now);
            if let Some(n) = &notices {
                let _ = n.send(Notice::Doorbell { camera: camera.clone(), at_90k: now });
            }
        }
        let row = db::EventRow {
            id: 0,
            camera: camera.clone(),
            kind: kind.into(),
            label,
            start_90k: now,
            end_90k: now,
            score: 0.0,
            zones: Vec::new(),
            clip_start_90k: now - base::clock::duration_to_90k(ev.pre_roll),
            clip_end_90k: now + base::clock::duration_to_90k(ev.post_roll),
            has_snapshot: false,
            bbox: None,
            uploaded: false,
        };
        let db2 = db.clone();
        let stored = tokio::task::spawn_blocking(move || {
            let conn = db2.lock().expect("db mutex");
            db::insert_event(&conn, &row).map(|id| db::EventRow { id, ..row })
        })
        .await;
        match stored {
            Ok(Ok(row)) => {
                tracing::info!(camera = %camera, id = row.id, kind = %row.kind, label = %row.label, "event");
                if let Some(n) = &notices {
                    let _ = n.send(Notice::Event(row));
                }
            }
            Ok(Err(e)) => tracing::error!(camera = %camera, "storing a {kind} event: {e}"),
            Err(e) => tracing::error!("event task: {e}"),
        }
    }
}
