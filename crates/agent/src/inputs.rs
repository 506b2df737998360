//! Events the agent is told about rather than sees: doorbell presses and sensors, arriving
//! by MQTT ([`crate::mqtt`]) or HTTP ([`crate::http`]).
//!
//! A press is an event of its own: kind `doorbell`, at the moment it arrived, with the
//! camera's pre- and post-roll as its clip. Presses within two seconds of the previous one
//! on the same camera are one press (buttons bounce, people press twice). A sensor turning
//! on (a gate contact, a PIR) is a `sensor` event named after it; turning off is logged.
//!
//! Each such event gets a snapshot of who is at the door: the camera's picture at the
//! moment of the press (the frames its live feed holds since the latest key frame,
//! decoded; where the decoder cannot follow them, B-frames, that key frame alone; only
//! without them its next key frame, waiting at most [`SNAPSHOT_WAIT`]), with
//! the privacy masks in force black, as a JPEG. Cameras without motion analysis have
//! snapshots too, so the home screen and the zone editor have a picture. The event is
//! stored once the snapshot is taken (or not: an offline or H.265 camera's event has none)
//! and the upload worker is rung, which sends its start at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base::clock::Clocks;
use base::shutdown::Receiver;
use base::{Error, bail};
use detect::decode::H264Decoder;
use detect::motion::MotionConfig;
use detect::zone::{Masker, Polygon};
use tokio::sync::mpsc::Receiver as InputsReceiver;

use crate::analysis::{EventsConfig, Notice, Notices};
use crate::layout::Layout;
use crate::live::{Feed, Hub};
use crate::remote::Remote;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Doorbell { camera: String },
    Sensor { camera: String, name: String, on: bool },
}

/// Presses closer together than this are one.
const DEBOUNCE_90K: i64 = 2 * 90_000;

/// How long a press waits for the key frame of its snapshot.
pub const SNAPSHOT_WAIT: Duration = Duration::from_secs(5);

pub struct InputCamera {
    pub doorbell: bool,
    pub events: EventsConfig,
    /// The configuration file's motion settings (for its privacy masks; the owner's
    /// settings replace them).
    pub motion: MotionConfig,
}

pub struct InputCameras {
    pub cameras: HashMap<String, InputCamera>,
    pub hub: Hub,
    pub remote: Remote,
    pub layout: Layout,
    /// Rung when an event is stored (see `analysis::Store::upload_bell`).
    pub upload_bell: Arc<tokio::sync::Notify>,
}

/// Stores events for inputs until the channel closes or shutdown; events still waiting
/// for their snapshot are stored before it returns.
pub async fn run(
    cams: InputCameras,
    db: Arc<Mutex<index::Connection>>,
    clocks: Arc<dyn Clocks>,
    notices: Option<Notices>,
    mut rx: InputsReceiver<Input>,
    mut shutdown: Receiver,
) {
    let mut last_press: HashMap<String, i64> = HashMap::new();
    let mut storing = tokio::task::JoinSet::new();
    loop {
        let input = tokio::select! {
            i = rx.recv() => i,
            _ = shutdown.wait() => None,
        };
        let Some(input) = input else { break };
        // Reap finished stores as we go.
        while storing.try_join_next().is_some() {}
        let now = clocks.realtime_90k();
        let (camera, kind, label) = match &input {
            Input::Doorbell { camera } => (camera.clone(), "doorbell", "press".to_owned()),
            Input::Sensor { camera, name, on: true } => (camera.clone(), "sensor", name.clone()),
            Input::Sensor { camera, name, on: false } => {
                tracing::info!(camera = %camera, sensor = %name, "sensor off");
                continue;
            }
        };
        let Some(cam) = cams.cameras.get(&camera) else {
            tracing::warn!(camera = %camera, "input for an unknown camera ignored");
            continue;
        };
        if kind == "doorbell" {
            if !cam.doorbell {
                tracing::warn!(camera = %camera, "doorbell press for a camera without a doorbell ignored");
                continue;
            }
            if last_press.get(&camera).is_some_and(|&t| now - t < DEBOUNCE_90K) {
                tracing::debug!(camera = %camera, "doorbell press debounced");
                continue;
            }
            last_press.insert(camera.clone(), now);
            if let Some(n) = &notices {
                let _ = n.try_send(Notice::Doorbell { camera: camera.clone(), at_90k: now });
            }
        }
        if kind == "sensor" && !cams.remote.analyses(&camera) {
            tracing::info!(camera = %camera, sensor = %label, mode = ?cams.remote.mode(), "sensor on, not recorded in this mode");
            continue;
        }
        let ev = &cam.events;
        let row = index::EventRow {
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
            open: false,
            start_sealed: false,
            continues: None,
        };
        let masks = match cams.remote.current() {
            Some(a) => a.motion(&camera, &cam.motion).masks,
            None => cam.motion.masks.clone(),
        };
        let (feed, quality) = (cams.hub.feed(&camera), ev.snapshot_quality);
        let (db, layout, notices, shutdown) = (db.clone(), cams.layout.clone(), notices.clone(), shutdown.clone());
        let bell = cams.upload_bell.clone();
        storing.spawn(async move {
            let jpeg = snapshot(feed, masks, quality, shutdown).await;
            let stored = tokio::task::spawn_blocking(move || {
                crate::analysis::store_row(&layout, &db, row, jpeg.as_deref())
            })
            .await;
            match stored {
                Ok(Ok(row)) => {
                    bell.notify_one();
                    tracing::info!(camera = %row.camera, id = row.id, kind = %row.kind, label = %row.label, snapshot = row.has_snapshot, "event");
                    if let Some(n) = &notices {
                        let _ = n.try_send(Notice::Event(row));
                    }
                }
                Ok(Err(e)) => tracing::error!("storing an input's event: {e}"),
                Err(e) => tracing::error!("event task: {e}"),
            }
        });
    }
    while storing.join_next().await.is_some() {}
}

/// The picture of the last of `frames` (a key frame and those after it): the others are
/// decoded only as references, no picture copied out.
fn newest_picture(
    entry: &media::frame::SampleEntry,
    frames: &[media::frame::Frame],
) -> Result<detect::decode::OwnedPicture, Error> {
    let mut dec = H264Decoder::new(entry)?;
    let (newest, before) = frames.split_last().expect("at least the key frame");
    for (i, f) in before.iter().enumerate() {
        dec.decode_reference(&f.data, i == 0 || f.is_key)?;
    }
    match dec.decode(&newest.data, before.is_empty() || newest.is_key)? {
        Some(pic) => Ok(pic.to_owned()),
        None => bail!(Unavailable, "the decoder gave no picture for the camera's latest frame"),
    }
}

/// The camera's picture at this moment (the cached frames since its latest key frame,
/// decoded) as a JPEG with `masks` black; without a cached group of pictures, its next key
/// frame. `None` (logged) when there is neither within [`SNAPSHOT_WAIT`], at shutdown, or
/// when it cannot be decoded.
pub(crate) async fn snapshot(
    feed: Option<Arc<Feed>>,
    masks: Vec<Polygon>,
    quality: u8,
    mut shutdown: Receiver,
) -> Option<Vec<u8>> {
    let feed = feed?;
    let (entry, frames) = match feed.current_gop() {
        Some(g) => g,
        None => {
            let (entry, frame) = tokio::select! {
                r = feed.next_key_frame(SNAPSHOT_WAIT) => r,
                _ = shutdown.wait() => None,
            }?;
            (entry, vec![frame])
        }
    };
    let r = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, Error> {
        // The newest frame; where the decoder cannot follow the group (B-frames, which
        // OpenH264 does not decode), its key frame, which decodes on its own.
        let pic = match newest_picture(&entry, &frames) {
            Ok(p) => p,
            Err(e) if frames.len() > 1 => {
                tracing::debug!("snapshot from the key frame: {e}");
                newest_picture(&entry, &frames[..1])?
            }
            Err(e) => return Err(e),
        };
        let mut out = pic.clone();
        if !masks.is_empty() {
            Masker::new(masks).apply(&pic.picture(), &mut out);
        }
        detect::snapshot::jpeg(&out, quality)
    })
    .await;
    match r {
        Ok(Ok(jpeg)) => Some(jpeg),
        Ok(Err(e)) => {
            tracing::warn!("no snapshot for the event: {e}");
            None
        }
        Err(e) => {
            tracing::error!("snapshot task: {e}");
            None
        }
    }
}
