//! The typed configuration file (TOML).
//!
//! Every field has a documented default and every number a bound checked while parsing, so
//! an error names the field, the expected range and the line. Cameras inherit retention
//! limits from `[camera_defaults]` through an explicit, typed merge
//! ([`RetentionConfig::or`]). An example with every field is in `porchlight.example.toml`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base::{Error, bail};
use serde::{Deserialize, Deserializer};
use toml::Spanned;
use url::Url;

/// An integer that must lie in `MIN..=MAX`, rejected at parse time with the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bounded<const MIN: u64, const MAX: u64>(pub u64);

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        if v < 0 || (v as u64) < MIN || (v as u64) > MAX {
            return Err(serde::de::Error::custom(format!("expected an integer in {MIN}..={MAX}, got {v}")));
        }
        Ok(Bounded(v as u64))
    }
}

impl<const MIN: u64, const MAX: u64> Bounded<MIN, MAX> {
    pub fn get(self) -> u64 {
        self.0
    }
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Folder for the recording index and segment files. Default `porchlight-data`, relative
    /// to the config file's folder.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub recording: RecordingConfig,
    #[serde(default)]
    pub connection: ConnectionConfig,
    /// Limits over all cameras together, and how the retention worker paces itself.
    #[serde(default)]
    pub retention: OverallRetentionConfig,
    /// Values every camera starts from.
    #[serde(default)]
    pub camera_defaults: CameraDefaults,
    /// The cameras; at least one for `porchlight agent`.
    #[serde(default)]
    pub cameras: Vec<CameraConfig>,
    /// Object detection settings shared by every camera.
    #[serde(default)]
    pub detection: DetectionConfig,
    /// Publish motion, objects, events and snapshots to an MQTT broker, and take doorbell
    /// presses and sensors from it (topics in design/detection.md). Off unless present.
    pub mqtt: Option<Spanned<MqttConfig>>,
    /// The agent's HTTP endpoint for doorbell buttons and sensors. Off unless present.
    pub http: Option<Spanned<HttpConfig>>,
    /// Uploading sealed events to the server this agent is paired with (`porchlight pair
    /// --server`). Runs whenever the agent is paired with a server.
    #[serde(default)]
    pub sync: SyncConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// The outbox of sealed events waiting for the server may grow to this many MiB; beyond
    /// it the oldest waiting events are dropped (and counted in `sync.json`). 16 to 1048576;
    /// default 2048.
    #[serde(default = "default_queue_mib")]
    pub queue_mib_max: Bounded<16, 1_048_576>,
    /// Seconds after an event's clip ends before it is sealed, so that its footage is
    /// committed (1 to 600; default 3).
    #[serde(default = "default_settle_s")]
    pub settle_s: Bounded<1, 600>,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig { queue_mib_max: default_queue_mib(), settle_s: default_settle_s() }
    }
}

fn default_queue_mib() -> Bounded<16, 1_048_576> {
    Bounded(2048)
}

fn default_settle_s() -> Bounded<1, 600> {
    Bounded(3)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// Broker host name or address.
    pub host: String,
    /// Default 1883.
    #[serde(default = "d_mqtt_port")]
    pub port: Bounded<1, 65535>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Default "porchlight".
    #[serde(default = "d_prefix")]
    pub topic_prefix: String,
    /// Home Assistant MQTT discovery. Default true.
    #[serde(default = "d_true")]
    pub discovery: bool,
    /// Default "homeassistant".
    #[serde(default = "d_discovery_prefix")]
    pub discovery_prefix: String,
    /// Default "porchlight-agent".
    #[serde(default = "d_client_id")]
    pub client_id: String,
}

fn d_mqtt_port() -> Bounded<1, 65535> {
    Bounded(1883)
}
fn d_prefix() -> String {
    "porchlight".into()
}
fn d_discovery_prefix() -> String {
    "homeassistant".into()
}
fn d_client_id() -> String {
    "porchlight-agent".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address and port, e.g. "0.0.0.0:8971" for the home network. Default "127.0.0.1:8971".
    #[serde(default = "d_listen")]
    pub listen: String,
    /// When set, requests need `Authorization: Bearer <token>` (at least 16 characters).
    pub token: Option<String>,
}

fn d_listen() -> String {
    "127.0.0.1:8971".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionConfig {
    /// ONNX Runtime's shared library. Default: the one `make setup` installs
    /// (`~/.cache/porchlight/current/libonnxruntime.so`).
    pub onnxruntime: Option<PathBuf>,
    /// Threads each camera's detector may use. 1..=16, default 1.
    #[serde(default = "d_threads")]
    pub threads: Bounded<1, 16>,
}

fn d_threads() -> Bounded<1, 16> {
    Bounded(1)
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig { onnxruntime: None, threads: d_threads() }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("porchlight-data")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingConfig {
    /// How often written frames are made durable (fsync, then index commit). A crash loses
    /// at most about this much footage. Default 500.
    #[serde(default = "d_flush")]
    pub flush_interval_ms: Bounded<50, 5_000>,
    /// Segments are cut at the first key frame after this long. Default 60.
    #[serde(default = "d_segment")]
    pub segment_duration_s: Bounded<5, 600>,
    /// How long the camera thread naps when idle so that packets from all cameras are read
    /// in one pass; trades this much latency for CPU. 0 disables. Default 40.
    #[serde(default = "d_coalesce")]
    pub ingest_coalesce_ms: Bounded<0, 200>,
}

fn d_flush() -> Bounded<50, 5_000> {
    Bounded(500)
}
fn d_segment() -> Bounded<5, 600> {
    Bounded(60)
}
fn d_coalesce() -> Bounded<0, 200> {
    Bounded(40)
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            flush_interval_ms: d_flush(),
            segment_duration_s: d_segment(),
            ingest_coalesce_ms: d_coalesce(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// First wait after a camera fails; doubles per failure. Default 1000.
    #[serde(default = "d_backoff_initial")]
    pub backoff_initial_ms: Bounded<100, 60_000>,
    /// Longest wait between attempts. Default 30.
    #[serde(default = "d_backoff_max")]
    pub backoff_max_s: Bounded<1, 600>,
    /// A camera that sends nothing for this long is disconnected and retried. Default 10.
    #[serde(default = "d_stall")]
    pub stall_timeout_s: Bounded<2, 120>,
}

fn d_backoff_initial() -> Bounded<100, 60_000> {
    Bounded(1000)
}
fn d_backoff_max() -> Bounded<1, 600> {
    Bounded(30)
}
fn d_stall() -> Bounded<2, 120> {
    Bounded(10)
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            backoff_initial_ms: d_backoff_initial(),
            backoff_max_s: d_backoff_max(),
            stall_timeout_s: d_stall(),
        }
    }
}

/// Retention limits; an absent field means no limit of that kind.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Footage older than this many days is deleted.
    pub max_age_days: Option<Bounded<1, 3650>>,
    /// The oldest footage is deleted while usage exceeds this many bytes (at least 1 MB).
    pub max_bytes: Option<Bounded<1_000_000, { u64::MAX >> 2 }>>,
}

impl RetentionConfig {
    /// The typed merge: each field of `self` if set, else `fallback`'s.
    pub fn or(self, fallback: RetentionConfig) -> RetentionConfig {
        RetentionConfig {
            max_age_days: self.max_age_days.or(fallback.max_age_days),
            max_bytes: self.max_bytes.or(fallback.max_bytes),
        }
    }

    pub fn limits(self) -> agent::retention::Limits {
        agent::retention::Limits {
            max_age_90k: self.max_age_days.map(|d| d.get() as i64 * 86_400 * 90_000),
            max_bytes: self.max_bytes.map(|b| b.get() as i64),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverallRetentionConfig {
    #[serde(flatten)]
    pub limits: RetentionConfig,
    /// Seconds between retention passes when nothing is over its limit. Default 10.
    #[serde(default = "d_ret_interval")]
    pub interval_s: Bounded<1, 3600>,
    /// Most segments deleted per pass, bounding the I/O of one pass. Default 64.
    #[serde(default = "d_ret_batch")]
    pub segments_per_pass_max: Bounded<1, 10_000>,
}

fn d_ret_interval() -> Bounded<1, 3600> {
    Bounded(10)
}
fn d_ret_batch() -> Bounded<1, 10_000> {
    Bounded(64)
}

impl Default for OverallRetentionConfig {
    fn default() -> Self {
        OverallRetentionConfig {
            limits: RetentionConfig::default(),
            interval_s: d_ret_interval(),
            segments_per_pass_max: d_ret_batch(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraDefaults {
    /// Per-camera retention unless a camera sets its own. Default: no limits.
    #[serde(default)]
    pub retention: RetentionConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Short name used in commands and paths: 1–32 of `a-z 0-9 - _`.
    pub name: Spanned<String>,
    /// The main (recorded, full-resolution) stream.
    pub main: Spanned<StreamConfig>,
    /// An optional low-resolution sub-stream, recorded too (detection decodes it later).
    pub sub: Option<Spanned<StreamConfig>>,
    /// Overrides `[camera_defaults.retention]` field by field.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// This camera is a doorbell: presses arrive by MQTT or HTTP and are events with clips.
    #[serde(default)]
    pub doorbell: bool,
    /// `outdoor` (default) or `indoor`: what the household's modes do to the camera unless
    /// the owner's settings in the app say otherwise (indoor cameras neither record nor
    /// notify in Home; see design/server.md, "Modes").
    #[serde(default)]
    pub placement: agent::remote::Placement,
    /// Motion detection: sensitivity, minimum area, zones and privacy masks. Checked at
    /// load; `porchlight motion --config F --camera NAME CLIP` tries them on a clip.
    #[serde(default)]
    pub motion: MotionSettings,
    /// Object detection on frames with motion (needs `motion.enabled`).
    pub objects: Option<Spanned<ObjectSettings>>,
    /// What is kept for each event.
    #[serde(default)]
    pub events: EventSettings,
    /// Where members' voices go when they talk through this camera.
    #[serde(default)]
    pub talk: TalkSettings,
    /// Whether the camera's sound is recorded.
    #[serde(default)]
    pub audio: AudioSettings,
}

/// A camera's sound. Recording it is off unless the owner turns it on: recording
/// conversations without consent is restricted in many places. Listening live and talking
/// do not depend on it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioSettings {
    /// `true`: record the main stream's sound (AAC, G.711, L16 or Opus) beside its video, on the
    /// same clock. Needs an RTSP main stream. Default false.
    #[serde(default)]
    pub record: bool,
}

/// A camera's speaker. Default: the camera's ONVIF backchannel on its main stream's RTSP
/// URL and credentials (a camera without one refuses, and the app says so).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TalkSettings {
    /// `false`: nobody talks through this camera. Default true.
    pub enabled: Option<bool>,
    /// A command that plays 16-bit little-endian 8 kHz mono PCM from its standard input
    /// instead of the backchannel, e.g. `["aplay", "-q", "-f", "S16_LE", "-r", "8000", "-c", "1"]`.
    pub exec: Option<Vec<String>>,
}

impl CameraConfig {
    /// The camera's speaker, if it has one members may talk through.
    pub fn speaker(&self) -> Result<Option<agent::talk::Speaker>, Error> {
        if self.talk.enabled == Some(false) {
            return Ok(None);
        }
        if let Some(argv) = &self.talk.exec {
            if argv.is_empty() || argv.iter().any(|a| a.is_empty()) {
                bail!(
                    InvalidArgument,
                    "cameras.{}.talk.exec: expected a command and its arguments, none empty",
                    self.name.get_ref()
                );
            }
            return Ok(Some(agent::talk::Speaker::Exec { argv: argv.clone() }));
        }
        let main = self.main.get_ref();
        Ok(main.url.as_ref().map(|url| agent::talk::Speaker::Backchannel {
            url: url.clone(),
            username: main.username.clone(),
            password: main.password.clone(),
        }))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectSettings {
    /// Default false.
    #[serde(default)]
    pub enabled: bool,
    /// An ONNX model file. Default: the COCO CenterNet `make setup` converts.
    pub model: Option<PathBuf>,
    /// How the model's output reads: `boxes` (default), `yolov5` or `yolov8`.
    pub format: Option<String>,
    /// A text file with the model's class names, one per line. Default: the 80 COCO classes.
    pub labels: Option<PathBuf>,
    /// Median score that confirms a track, per category (0.05 to 0.99). Default 0.25 each.
    #[serde(default)]
    pub thresholds: ThresholdSettings,
    /// Seconds between detector runs when nothing moves. 1..=600, default 3.
    #[serde(default = "d_heartbeat")]
    pub heartbeat_s: Bounded<1, 600>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSettings {
    pub person: Option<f32>,
    pub vehicle: Option<f32>,
    pub animal: Option<f32>,
    pub package: Option<f32>,
}

fn d_heartbeat() -> Bounded<1, 600> {
    Bounded(3)
}

impl Default for ObjectSettings {
    fn default() -> Self {
        ObjectSettings {
            enabled: false,
            model: None,
            format: None,
            labels: None,
            thresholds: ThresholdSettings::default(),
            heartbeat_s: d_heartbeat(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    /// Seconds of footage in an event's clip before it starts. 0..=60, default 5.
    #[serde(default = "d_roll")]
    pub pre_roll_s: Bounded<0, 60>,
    /// Seconds after it ends. 0..=300, default 5.
    #[serde(default = "d_post_roll")]
    pub post_roll_s: Bounded<0, 300>,
    /// JPEG quality of snapshots. 1..=100, default 85.
    #[serde(default = "d_quality")]
    pub snapshot_quality: Bounded<1, 100>,
    /// The longest event, in seconds: longer activity becomes consecutive events, each
    /// reported when it is cut, so a scene that never stops moving still makes events.
    /// 10..=3600, default 120.
    #[serde(default = "d_max_event")]
    pub max_event_s: Bounded<10, 3600>,
}

fn d_max_event() -> Bounded<10, 3600> {
    Bounded(120)
}

fn d_roll() -> Bounded<0, 60> {
    Bounded(5)
}
fn d_post_roll() -> Bounded<0, 300> {
    Bounded(5)
}
fn d_quality() -> Bounded<1, 100> {
    Bounded(85)
}

impl Default for EventSettings {
    fn default() -> Self {
        EventSettings {
            pre_roll_s: d_roll(),
            post_roll_s: d_post_roll(),
            snapshot_quality: d_quality(),
            max_event_s: d_max_event(),
        }
    }
}

impl ObjectSettings {
    /// The tracker's configuration; `what` names the camera in errors.
    pub fn tracker(&self, what: &str) -> Result<detect::track::TrackerConfig, Error> {
        let mut t = detect::track::TrackerConfig::default();
        let th = &self.thresholds;
        for (i, v) in [th.person, th.vehicle, th.animal, th.package].into_iter().enumerate() {
            if let Some(v) = v {
                t.thresholds[i] = v;
            }
        }
        t.check().map_err(|e| base::err!(InvalidArgument, "{what}.objects.thresholds: {}", e.msg()))?;
        Ok(t)
    }

    pub fn format(&self, what: &str) -> Result<detect::objects::ModelFormat, Error> {
        let f = self.format.as_deref().unwrap_or("boxes");
        detect::objects::ModelFormat::parse(f).ok_or_else(|| {
            base::err!(
                InvalidArgument,
                "{what}.objects.format: expected one of {}, got {f:?}",
                detect::objects::ModelFormat::NAMES
            )
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MotionSettings {
    /// Analyse this camera (its sub-stream when it has one) for motion while recording.
    /// Default false.
    #[serde(default)]
    pub enabled: bool,
    /// Frames analysed per second. 1..=30, default 5.
    #[serde(default = "d_motion_fps")]
    pub fps: Bounded<1, 30>,
    /// 1..=100: higher counts smaller changes as motion. Default 60.
    #[serde(default = "d_sensitivity")]
    pub sensitivity: Bounded<1, 100>,
    /// Smallest moving region, in thousandths of the frame. 0..=500, default 2.
    #[serde(default = "d_min_area")]
    pub min_area_permille: Bounded<0, 500>,
    /// Motion counts only inside these; none means the whole frame.
    #[serde(default)]
    pub zones: Vec<Spanned<ZoneConfig>>,
    /// Privacy masks: areas never analysed and black in every snapshot (doorbell and
    /// sensor snapshots too, with motion off). Lists of `[x, y]` points in fractions of
    /// the frame.
    #[serde(default)]
    pub masks: Vec<Spanned<Vec<[f32; 2]>>>,
    /// Names of zones where something new left behind after a visit (and still there a few
    /// seconds after motion ends) is a package. Default none (the rule is off).
    #[serde(default)]
    pub package_zones: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub name: String,
    /// `[x, y]` points in fractions of the frame (0 to 1), 3 to 64 of them.
    pub points: Vec<[f32; 2]>,
}

fn d_motion_fps() -> Bounded<1, 30> {
    Bounded(5)
}
fn d_sensitivity() -> Bounded<1, 100> {
    Bounded(60)
}
fn d_min_area() -> Bounded<0, 500> {
    Bounded(2)
}

impl Default for MotionSettings {
    fn default() -> Self {
        MotionSettings {
            enabled: false,
            fps: d_motion_fps(),
            sensitivity: d_sensitivity(),
            min_area_permille: d_min_area(),
            zones: Vec::new(),
            masks: Vec::new(),
            package_zones: Vec::new(),
        }
    }
}

type Span = std::ops::Range<usize>;

impl MotionSettings {
    /// Every zone, then every mask, as a checked polygon with its place in the file and (for
    /// zones) its name; `what` names the camera in errors.
    fn polygons<'a>(
        &'a self,
        what: &'a str,
    ) -> impl Iterator<Item = (Span, Option<&'a str>, Result<detect::zone::Polygon, Error>)> + 'a {
        use detect::zone::Polygon;
        let pts = |v: &[[f32; 2]]| v.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>();
        let zones = self.zones.iter().enumerate().map(move |(j, z)| {
            let r = z.get_ref();
            let label = format!("{what}.motion.zones[{j}] ({:?})", r.name);
            (z.span(), Some(r.name.as_str()), Polygon::new(&label, pts(&r.points)))
        });
        let masks =
            self.masks.iter().enumerate().map(move |(j, m)| {
                (m.span(), None, Polygon::new(&format!("{what}.motion.masks[{j}]"), pts(m.get_ref())))
            });
        zones.chain(masks)
    }

    /// The detector's configuration; `what` names the camera in errors.
    pub fn detector_config(&self, what: &str) -> Result<detect::motion::MotionConfig, Error> {
        let (mut zones, mut masks) = (Vec::new(), Vec::new());
        for (_, name, polygon) in self.polygons(what) {
            match name {
                Some(n) => zones.push((n.to_owned(), polygon?)),
                None => masks.push(polygon?),
            }
        }
        Ok(detect::motion::MotionConfig {
            sensitivity: self.sensitivity.get() as u8,
            min_area: self.min_area_permille.get() as f32 / 1000.0,
            zones,
            masks,
            ..detect::motion::MotionConfig::default()
        })
    }
}

/// Where a stream comes from: exactly one of `url` (RTSP) or `file` (an MP4 replayed in
/// real time, looping, as if it were a live camera).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// `rtsp://host[:port]/path`. Credentials go in `username`/`password`, not the URL.
    pub url: Option<Url>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// An MP4 file, relative to the config file's folder.
    pub file: Option<PathBuf>,
    /// For `file`: start over at the end. Default true.
    #[serde(default = "d_true")]
    pub r#loop: bool,
}

fn d_true() -> bool {
    true
}

/// A configuration error with its 1-based line.
fn at(text: &str, span: std::ops::Range<usize>, msg: String) -> Error {
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    base::err!(InvalidArgument, "line {line}: {msg}")
}

impl Config {
    /// Reads and validates a file. Relative paths inside are made relative to its folder.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::wrap(base::ErrorKind::NotFound, format!("reading {}", path.display()), e))?;
        let mut c = Self::parse(&text).map_err(|e| base::err!(InvalidArgument, "{}: {}", path.display(), e.msg()))?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        c.data_dir = base_dir.join(&c.data_dir);
        for cam in &mut c.cameras {
            for s in std::iter::once(&mut cam.main).chain(cam.sub.as_mut()) {
                if let Some(f) = s.get_mut().file.as_mut() {
                    *f = base_dir.join(&*f);
                }
            }
            if let Some(o) = cam.objects.as_mut() {
                let o = o.get_mut();
                for p in [o.model.as_mut(), o.labels.as_mut()].into_iter().flatten() {
                    *p = base_dir.join(&*p);
                }
            }
        }
        if let Some(p) = c.detection.onnxruntime.as_mut() {
            *p = base_dir.join(&*p);
        }
        Ok(c)
    }

    /// Parses and validates text.
    pub fn parse(text: &str) -> Result<Config, Error> {
        let c: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let msg = e.message().to_string();
            match line {
                Some(l) => base::err!(InvalidArgument, "line {l}: {msg}"),
                None => base::err!(InvalidArgument, "{msg}"),
            }
        })?;
        let mut seen = std::collections::HashSet::new();
        for (i, cam) in c.cameras.iter().enumerate() {
            let name = cam.name.get_ref();
            let ok = !name.is_empty()
                && name.len() <= 32
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
            if !ok {
                return Err(at(
                    text,
                    cam.name.span(),
                    format!("cameras[{i}].name: expected 1–32 of a-z 0-9 - _, got {name:?}"),
                ));
            }
            if !seen.insert(name.clone()) {
                return Err(at(text, cam.name.span(), format!("cameras[{i}].name: {name:?} is used by two cameras")));
            }
            // Zones and masks: the first bad polygon is reported at its own line.
            let what = format!("cameras[{i}]");
            if let Some((span, _, Err(e))) = cam.motion.polygons(&what).find(|(_, _, p)| p.is_err()) {
                return Err(at(text, span, e.msg().to_string()));
            }
            for p in &cam.motion.package_zones {
                if !cam.motion.zones.iter().any(|z| &z.get_ref().name == p) {
                    let span = cam.motion.zones.first().map(|z| z.span()).unwrap_or(cam.name.span());
                    return Err(at(
                        text,
                        span,
                        format!("{what}.motion.package_zones: {p:?} is not the name of one of its motion zones"),
                    ));
                }
            }
            let (objects, objects_span) = match &cam.objects {
                Some(o) => (o.get_ref(), o.span()),
                None => (&ObjectSettings::default(), 0..0),
            };
            if objects.enabled && !cam.motion.enabled {
                return Err(at(
                    text,
                    objects_span.clone(),
                    format!("{what}.objects.enabled: object detection runs on motion; set {what}.motion.enabled too"),
                ));
            }
            if objects.format.is_some() && objects.model.is_none() {
                return Err(at(text, objects_span, format!("{what}.objects.format: applies only with `model`")));
            }
            if let Err(e) = objects.tracker(&what).and_then(|_| objects.format(&what)) {
                return Err(at(text, objects_span, e.msg().to_string()));
            }
            let mut zone_names = std::collections::HashSet::new();
            for (j, z) in cam.motion.zones.iter().enumerate() {
                let n = &z.get_ref().name;
                let ok = !n.is_empty()
                    && n.len() <= 32
                    && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok || !zone_names.insert(n.clone()) {
                    return Err(at(
                        text,
                        z.span(),
                        format!(
                            "{what}.motion.zones[{j}].name: expected a unique name of 1–32 letters, digits, - or _, got {n:?}"
                        ),
                    ));
                }
            }
            if cam.audio.record && cam.main.get_ref().url.is_none() {
                return Err(at(
                    text,
                    cam.main.span(),
                    format!("{what}.audio.record: records an RTSP camera's sound; this main stream is a file"),
                ));
            }
            for (label, s) in std::iter::once(("main", &cam.main)).chain(cam.sub.as_ref().map(|s| ("sub", s))) {
                let field = format!("cameras[{i}].{label}");
                let v = s.get_ref();
                match (&v.url, &v.file) {
                    (Some(_), Some(_)) | (None, None) => {
                        return Err(at(text, s.span(), format!("{field}: expected exactly one of `url` or `file`")));
                    }
                    (Some(u), None) => {
                        if u.scheme() != "rtsp" && u.scheme() != "rtsps" {
                            return Err(at(
                                text,
                                s.span(),
                                format!("{field}.url: expected an rtsp:// URL, got scheme {:?}", u.scheme()),
                            ));
                        }
                        if u.host_str().is_none_or(|h| h.is_empty()) {
                            return Err(at(text, s.span(), format!("{field}.url: has no host")));
                        }
                        if !u.username().is_empty() || u.password().is_some() {
                            return Err(at(
                                text,
                                s.span(),
                                format!("{field}.url: put credentials in `username` and `password`, not in the URL"),
                            ));
                        }
                    }
                    (None, Some(_)) => {
                        if v.username.is_some() || v.password.is_some() {
                            return Err(at(
                                text,
                                s.span(),
                                format!("{field}: `username`/`password` apply only to `url`"),
                            ));
                        }
                    }
                }
            }
        }
        if let Some(m) = &c.mqtt {
            let v = m.get_ref();
            let topic_ok = |t: &str| {
                !t.is_empty()
                    && t.len() <= 64
                    && !t.contains(['+', '#', '\0'])
                    && !t.starts_with('/')
                    && !t.ends_with('/')
            };
            if v.host.is_empty() || v.host.contains(char::is_whitespace) {
                return Err(at(
                    text,
                    m.span(),
                    format!("mqtt.host: expected a host name or address, got {:?}", v.host),
                ));
            }
            if !topic_ok(&v.topic_prefix) || !topic_ok(&v.discovery_prefix) {
                return Err(at(
                    text,
                    m.span(),
                    "mqtt.topic_prefix / discovery_prefix: expected 1–64 characters without +, # or leading/trailing /"
                        .into(),
                ));
            }
            if v.username.is_some() != v.password.is_some() {
                return Err(at(text, m.span(), "mqtt: username and password go together".into()));
            }
            if v.client_id.is_empty() || v.client_id.len() > 64 {
                return Err(at(text, m.span(), "mqtt.client_id: expected 1–64 characters".into()));
            }
        }
        if let Some(h) = &c.http {
            let v = h.get_ref();
            if v.listen.parse::<std::net::SocketAddr>().is_err() {
                return Err(at(text, h.span(), format!("http.listen: expected address:port, got {:?}", v.listen)));
            }
            if v.token.as_ref().is_some_and(|t| t.len() < 16 || t.contains(char::is_whitespace)) {
                return Err(at(text, h.span(), "http.token: expected at least 16 characters without spaces".into()));
            }
        }
        Ok(c)
    }

    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.recording.flush_interval_ms.get())
    }

    pub fn ingest_coalesce(&self) -> Duration {
        Duration::from_millis(self.recording.ingest_coalesce_ms.get())
    }
}

/// Checks a file and returns a one-line summary (for `porchlight config check`).
pub fn check_file(path: &Path) -> Result<String, Error> {
    let c = Config::load(path)?;
    if c.cameras.is_empty() {
        bail!(InvalidArgument, "{}: no cameras configured; add a [[cameras]] table", path.display());
    }
    Ok(format!("{}: ok, {} camera(s), data in {}", path.display(), c.cameras.len(), c.data_dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<(), &str>) {
        match (Config::parse(text), expected) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(want)) => assert!(e.to_string().contains(want), "error {:?} lacks {want:?}", e.to_string()),
            (Ok(_), Err(want)) => panic!("accepted, wanted error {want:?}:\n{text}"),
            (Err(e), Ok(())) => panic!("rejected: {e}\n{text}"),
        }
    }

    const GOOD: &str = r#"
data_dir = "/tmp/x"
[recording]
flush_interval_ms = 250
[camera_defaults.retention]
max_age_days = 30
[[cameras]]
name = "front"
main = { url = "rtsp://192.0.2.1/main", username = "admin", password = "pw" }
sub = { url = "rtsp://192.0.2.1/sub" }
retention = { max_bytes = 10000000000 }
[[cameras]]
name = "back"
main = { file = "clip.mp4" }
"#;

    #[test]
    fn cases() {
        check(GOOD, Ok(()));
        check("", Ok(()));
        check("[recording]\nflush_interval_ms = 10\n", Err("line 2: expected an integer in 50..=5000, got 10"));
        check("[recording]\ningest_coalesce_ms = 201\n", Err("line 2: expected an integer in 0..=200, got 201"));
        check("bogus = 1\n", Err("line 1: unknown field `bogus`"));
        let cam = "[[cameras]]\nname = \"front\"\nmain = { file = \"x.mp4\" }\n";
        check(
            &format!(
                "{cam}[cameras.motion]\nsensitivity = 70\nzones = [\n  {{ name = \"path\", points = [[0, 0], [1, 0], [0.5, 1]] }},\n  {{ name = \"tie\", points = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]] }},\n]\n"
            ),
            Err("line 8: cameras[0].motion.zones[1] (\"tie\"): edge 0 crosses edge 2"),
        );
        check(
            &format!("{cam}[cameras.motion]\nmasks = [[[0, 0], [1.2, 0], [0, 1]]]\n"),
            Err("line 5: cameras[0].motion.masks[0]: point 1 (1.2, 0) leaves the frame"),
        );
        check(
            &format!("{cam}[cameras.motion]\nsensitivity = 0\n"),
            Err("line 5: expected an integer in 1..=100, got 0"),
        );
        check(
            &format!("{cam}[cameras.motion]\nzones = [{{ name = \"a b\", points = [[0, 0], [1, 0], [0, 1]] }}]\n"),
            Err("line 5: cameras[0].motion.zones[0].name"),
        );
        check(&format!("{cam}[cameras.motion]\nsensitivity = 80\nmin_area_permille = 5\n"), Ok(()));
        check("[recording]\nsegment_duration_s = \"60\"\n", Err("line 2"));
        check("[[cameras]]\nname = \"Front Door\"\nmain = { file = \"a.mp4\" }\n", Err("line 2: cameras[0].name"));
        check(
            "[[cameras]]\nname = \"a\"\nmain = { file = \"a.mp4\" }\n[[cameras]]\nname = \"a\"\nmain = { file = \"b.mp4\" }\n",
            Err("line 5: cameras[1].name: \"a\" is used by two cameras"),
        );
        check("[[cameras]]\nname = \"a\"\nmain = { }\n", Err("line 3: cameras[0].main: expected exactly one of"));
        check(
            "[[cameras]]\nname = \"a\"\nmain = { url = \"http://x/y\" }\n",
            Err("cameras[0].main.url: expected an rtsp:// URL"),
        );
        check("[[cameras]]\nname = \"a\"\nmain = { url = \"rtsp://u:p@x/y\" }\n", Err("put credentials in `username`"));
        check("[[cameras]]\nname = \"a\"\nmain = { url = \"not a url\" }\n", Err("line 3"));
        check("[[cameras]]\nname = \"a\"\n", Err("missing field `main`"));
        check("[retention]\nmax_bytes = 5\n", Err("expected an integer in 1000000.."));
    }

    #[test]
    fn the_documented_example_is_valid() {
        let c = Config::parse(include_str!("../../../porchlight.example.toml")).unwrap();
        assert_eq!(c.cameras.len(), 2);
        assert_eq!(c.recording.flush_interval_ms, Bounded(500));
    }

    #[test]
    fn recording_sound_is_off_unless_asked_and_needs_an_rtsp_camera() {
        let parse =
            |extra: &str, main: &str| Config::parse(&format!("[[cameras]]\nname = \"a\"\nmain = {main}\n{extra}"));
        let rtsp = "{ url = \"rtsp://cam/main\" }";
        assert!(!parse("", rtsp).unwrap().cameras[0].audio.record, "off by default");
        assert!(parse("audio = { record = true }", rtsp).unwrap().cameras[0].audio.record);
        let e = parse("audio = { record = true }", "{ file = \"x.mp4\" }").unwrap_err();
        assert!(
            e.to_string().contains("cameras[0].audio.record") || e.to_string().contains("camera a.audio.record"),
            "{e}"
        );
        assert!(e.to_string().contains("a file"), "{e}");
        assert!(parse("audio = { record = \"yes\" }", rtsp).is_err());
        assert!(parse("audio = { recording = true }", rtsp).is_err());
    }

    #[test]
    fn a_cameras_speaker_is_its_backchannel_a_command_or_none() {
        let cam = |talk: &str| {
            let c = Config::parse(&format!(
                "[[cameras]]\nname = \"a\"\nmain = {{ url = \"rtsp://cam/main\", username = \"u\", password = \"p\" }}\n{talk}"
            ))
            .unwrap();
            c.cameras.into_iter().next().unwrap().speaker()
        };
        match cam("").unwrap() {
            Some(agent::talk::Speaker::Backchannel { url, username, password }) => {
                assert_eq!(
                    (url.as_str(), username.as_deref(), password.as_deref()),
                    ("rtsp://cam/main", Some("u"), Some("p"))
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cam("talk = { enabled = false }").unwrap(), None);
        assert_eq!(
            cam("talk = { exec = [\"aplay\", \"-\"] }").unwrap(),
            Some(agent::talk::Speaker::Exec { argv: vec!["aplay".into(), "-".into()] })
        );
        let e = cam("talk = { exec = [] }").unwrap_err();
        assert!(e.msg().contains("cameras.a.talk.exec"), "{e}");
        assert!(
            Config::parse("[[cameras]]\nname = \"a\"\nmain = { url = \"rtsp://c/m\" }\ntalk = { speak = 1 }\n")
                .is_err()
        );
        // A file camera has no speaker.
        let c = Config::parse("[[cameras]]\nname = \"a\"\nmain = { file = \"x.mp4\" }\n").unwrap();
        assert_eq!(c.cameras[0].speaker().unwrap(), None);
    }

    #[test]
    fn camera_retention_merges_over_defaults() {
        let c = Config::parse(GOOD).unwrap();
        let merged = c.cameras[0].retention.or(c.camera_defaults.retention);
        assert_eq!(merged.max_age_days, Some(Bounded(30)));
        assert_eq!(merged.max_bytes, Some(Bounded(10_000_000_000)));
        let merged = c.cameras[1].retention.or(c.camera_defaults.retention);
        assert_eq!(merged.max_bytes, None);
    }
}
