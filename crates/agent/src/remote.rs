//! The household settings the owner sets in the app (names, motion zones, privacy masks,
//! sensitivity, and the Disarmed/Home/Away modes), as this agent obeys them.
//!
//! They arrive through the server as a sealed, owner-signed document
//! (`crypto::settings`). The agent accepts one only if the owner identity it trusts signed
//! it, for its household, with a serial above the one it holds, and only if every field
//! checks out; it then keeps the document in `settings.plcf` (so a restart obeys the same
//! settings) and swaps it in for the streams and analysis threads, which look at
//! [`Remote::generation`] to notice. What the document does not say, the agent's own
//! configuration file decides.
//!
//! What a mode does to a camera, unless the owner set it for that camera (`modes`), follows
//! from where the camera is (`placement`: the document's, else the configuration file's,
//! else outdoor), so that a new owner has nothing to configure:
//!
//! | mode | outdoor | indoor |
//! |---|---|---|
//! | Disarmed | neither records nor notifies | neither |
//! | Home | records and notifies | neither |
//! | Away | records and notifies | records and notifies |
//!
//! A doorbell's press notifies in every mode. By default a doorbell camera's stream is
//! recorded in every mode too (the press's clip is cut from it) while its motion and
//! objects follow the mode; rules the owner sets for it are obeyed as they are (a press
//! where they stop recording still notifies, with its snapshot, without a clip). Before
//! any document arrives the agent behaves as in Home.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use base::{Error, bail, err};
use detect::motion::MotionConfig;
use detect::zone::Polygon;
use serde::Deserialize;

use crate::layout::Layout;
use crate::sealing;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Disarmed,
    Home,
    Away,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub record: bool,
    pub notify: bool,
}

pub const ALL_ON: Rule = Rule { record: true, notify: true };
pub const ALL_OFF: Rule = Rule { record: false, notify: false };

/// Where a camera looks from, which decides what the modes do to it by default.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    #[default]
    Outdoor,
    Indoor,
}

impl Placement {
    /// The default rule of the module's table.
    pub fn rule(self, mode: Mode) -> Rule {
        match (mode, self) {
            (Mode::Disarmed, _) => ALL_OFF,
            (Mode::Home, Placement::Outdoor) | (Mode::Away, _) => ALL_ON,
            (Mode::Home, Placement::Indoor) => ALL_OFF,
        }
    }
}

/// What the configuration file says of a camera, for the modes' defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CameraRole {
    pub placement: Placement,
    pub doorbell: bool,
    /// Its sound is recorded (`audio.record`).
    pub records_sound: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeRules {
    disarmed: Rule,
    home: Rule,
    away: Rule,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneDoc {
    name: String,
    points: Vec<[f32; 2]>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CameraDoc {
    label: Option<String>,
    sensitivity: Option<u8>,
    zones: Option<Vec<ZoneDoc>>,
    masks: Option<Vec<Vec<[f32; 2]>>>,
    placement: Option<Placement>,
    modes: Option<ModeRules>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    mode: Mode,
    cameras: HashMap<String, CameraDoc>,
}

/// One camera's checked settings.
#[derive(Clone, Debug, Default)]
pub struct CameraSettings {
    pub label: Option<String>,
    pub sensitivity: Option<u8>,
    pub zones: Option<Vec<(String, Polygon)>>,
    pub masks: Option<Vec<Polygon>>,
    pub placement: Option<Placement>,
    modes: Option<ModeRules>,
}

/// A checked document and its serial.
#[derive(Clone, Debug)]
pub struct Applied {
    pub serial: u64,
    pub mode: Mode,
    pub cameras: HashMap<String, CameraSettings>,
}

fn polygon(what: &str, pts: &[[f32; 2]]) -> Result<Polygon, Error> {
    Polygon::new(what, pts.iter().map(|p| (p[0], p[1])).collect())
}

/// Parses and checks the decrypted JSON; the error names the field.
pub fn check(serial: u64, body: &[u8]) -> Result<Applied, Error> {
    let doc: Doc = serde_json::from_slice(body).map_err(|e| err!(InvalidArgument, "settings: {e}"))?;
    let mut cameras = HashMap::new();
    for (name, c) in doc.cameras {
        let what = format!("settings.cameras.{name}");
        if let Some(l) = &c.label
            && (l.trim().is_empty() || l.chars().count() > 48)
        {
            bail!(InvalidArgument, "{what}.label: expected 1 to 48 characters");
        }
        if let Some(s) = c.sensitivity
            && !(1..=100).contains(&s)
        {
            bail!(InvalidArgument, "{what}.sensitivity: expected 1..=100, got {s}");
        }
        let zones = match &c.zones {
            None => None,
            Some(zs) => {
                let mut out: Vec<(String, Polygon)> = Vec::new();
                for (j, z) in zs.iter().enumerate() {
                    let ok = (1..=32).contains(&z.name.len())
                        && z.name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
                    if !ok || out.iter().any(|(n, _)| n == &z.name) {
                        bail!(
                            InvalidArgument,
                            "{what}.zones[{j}].name: expected a unique name of 1–32 letters, digits, - or _"
                        );
                    }
                    out.push((z.name.clone(), polygon(&format!("{what}.zones[{j}]"), &z.points)?));
                }
                Some(out)
            }
        };
        let masks = match &c.masks {
            None => None,
            Some(ms) => Some(
                ms.iter()
                    .enumerate()
                    .map(|(j, m)| polygon(&format!("{what}.masks[{j}]"), m))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        cameras.insert(
            name,
            CameraSettings {
                label: c.label,
                sensitivity: c.sensitivity,
                zones,
                masks,
                placement: c.placement,
                modes: c.modes,
            },
        );
    }
    Ok(Applied { serial, mode: doc.mode, cameras })
}

impl Applied {
    /// What the current mode does to `camera`: the owner's rule for it, else the default
    /// for its placement (the document's, else `configured`).
    pub fn rule(&self, camera: &str, configured: Placement) -> Rule {
        let c = self.cameras.get(camera);
        match c.and_then(|c| c.modes.as_ref()) {
            Some(m) => match self.mode {
                Mode::Disarmed => m.disarmed,
                Mode::Home => m.home,
                Mode::Away => m.away,
            },
            None => c.and_then(|c| c.placement).unwrap_or(configured).rule(self.mode),
        }
    }

    /// `base` (from the configuration file) with what the owner set for `camera`.
    pub fn motion(&self, camera: &str, base: &MotionConfig) -> MotionConfig {
        let mut m = base.clone();
        if let Some(c) = self.cameras.get(camera) {
            if let Some(s) = c.sensitivity {
                m.sensitivity = s;
            }
            if let Some(z) = &c.zones {
                m.zones = z.clone();
            }
            if let Some(k) = &c.masks {
                m.masks = k.clone();
            }
        }
        m
    }
}

/// The settings in force, shared by the streams, the analysis threads and the uploader.
#[derive(Clone, Default)]
pub struct Remote {
    applied: Arc<RwLock<Option<Arc<Applied>>>>,
    generation: Arc<AtomicU64>,
    /// The configuration file's word on each camera (absent: an outdoor camera without a
    /// doorbell).
    roles: Arc<HashMap<String, CameraRole>>,
}

fn path(layout: &Layout) -> PathBuf {
    layout.settings()
}

impl Remote {
    /// The settings kept from an earlier run, if any (re-checked: the trust file or the
    /// device keys may have changed since).
    pub fn load(layout: &Layout, roles: HashMap<String, CameraRole>) -> Remote {
        let r = Remote { roles: Arc::new(roles), ..Remote::default() };
        let Ok(bytes) = std::fs::read(path(layout)) else { return r };
        match Self::verify(layout, &bytes) {
            Ok(a) => r.set(a),
            Err(e) => tracing::warn!("ignoring the kept settings: {e}"),
        }
        r
    }

    /// Checks a document against the trusted owner and opens it with the device's keys.
    fn verify(layout: &Layout, bytes: &[u8]) -> Result<Applied, Error> {
        let s = crypto::settings::Settings::parse(bytes).map_err(sealing::from_crypto)?;
        let Some(trust) = sealing::load_trust(layout)? else {
            bail!(FailedPrecondition, "settings: not paired with an owner");
        };
        trust.check_settings(&s).map_err(sealing::from_crypto)?;
        let device = sealing::read_keyring(&layout.device_keys())?;
        let body = s.open(&device).map_err(sealing::from_crypto)?;
        check(s.serial, &body)
    }

    /// Accepts a newer document from the server: checked, kept on disk, then in force.
    /// Returns the new serial, or `None` if it is not newer than the one held.
    pub fn accept(&self, layout: &Layout, bytes: &[u8]) -> Result<Option<u64>, Error> {
        let a = Self::verify(layout, bytes)?;
        if self.serial().is_some_and(|cur| cur >= a.serial) {
            return Ok(None);
        }
        sealing::replace_file(&path(layout), bytes)?;
        let serial = a.serial;
        tracing::info!(serial, mode = ?a.mode, cameras = a.cameras.len(), "applying the owner's new settings");
        self.set(a);
        Ok(Some(serial))
    }

    fn set(&self, a: Applied) {
        *self.applied.write().expect("settings lock") = Some(Arc::new(a));
        self.generation.fetch_add(1, Ordering::Release);
    }

    pub fn current(&self) -> Option<Arc<Applied>> {
        self.applied.read().expect("settings lock").clone()
    }

    pub fn serial(&self) -> Option<u64> {
        self.current().map(|a| a.serial)
    }

    /// Changes whenever new settings come into force: a cheap check for readers that cache.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// What the configuration file says of `camera`.
    pub fn role(&self, camera: &str) -> CameraRole {
        self.roles.get(camera).copied().unwrap_or_default()
    }

    /// What the current mode does to `camera` (before any document: Home).
    pub fn rule(&self, camera: &str) -> Rule {
        let placement = self.role(camera).placement;
        self.current().map_or_else(|| placement.rule(Mode::Home), |a| a.rule(camera, placement))
    }

    /// Whether the owner set `camera`'s rules rather than leaving the defaults.
    fn owner_rules(&self, camera: &str) -> bool {
        self.current().is_some_and(|a| a.cameras.get(camera).is_some_and(|c| c.modes.is_some()))
    }

    /// Whether `camera`'s stream is recorded: as the mode says and, by default, always for
    /// a doorbell (a press's clip is cut from it; only rules the owner set stop that).
    pub fn records(&self, camera: &str) -> bool {
        self.rule(camera).record || (self.role(camera).doorbell && !self.owner_rules(camera))
    }

    /// Whether `camera`'s motion and objects are analysed (events of its own).
    pub fn analyses(&self, camera: &str) -> bool {
        self.rule(camera).record
    }

    /// Whether an event of `kind` on `camera` may alert anyone: doorbell presses always.
    pub fn notifies(&self, camera: &str, kind: &str) -> bool {
        kind == "doorbell" || self.rule(camera).notify
    }

    /// The mode in force (before any document: Home).
    pub fn mode(&self) -> Mode {
        self.current().map_or(Mode::Home, |a| a.mode)
    }

    #[cfg(test)]
    pub fn set_for_test(&self, a: Applied) {
        self.set(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"mode":"away","cameras":{
        "front":{"label":"Front door","sensitivity":80,
                 "zones":[{"name":"path","points":[[0,0],[1,0],[0.5,1]]}],
                 "masks":[[[0,0],[0.2,0],[0,0.2]]],
                 "modes":{"disarmed":{"record":false,"notify":false},"home":{"record":true,"notify":false},"away":{"record":true,"notify":true}}},
        "back":{},
        "hall":{"placement":"indoor"}}}"#;

    #[test]
    fn a_document_decides_what_it_says_and_nothing_else() {
        let a = check(4, DOC.as_bytes()).unwrap();
        let out = Placement::Outdoor;
        assert_eq!(a.rule("front", out), Rule { record: true, notify: true });
        assert_eq!(a.rule("back", out), ALL_ON, "Away: an outdoor camera records and notifies");
        assert_eq!(a.rule("unknown", out), ALL_ON);
        assert_eq!(a.rule("hall", out), ALL_ON, "Away: an indoor camera too");
        let home = Applied { mode: Mode::Home, ..a.clone() };
        assert_eq!(home.rule("front", out), Rule { record: true, notify: false }, "the owner's rule wins");
        assert_eq!(home.rule("back", out), ALL_ON);
        assert_eq!(home.rule("hall", out), ALL_OFF, "Home: indoor neither records nor notifies");
        assert_eq!(home.rule("back", Placement::Indoor), ALL_OFF, "the configuration file's placement");
        assert_eq!(home.rule("hall", Placement::Outdoor), ALL_OFF, "the document's placement wins");
        let off = Applied { mode: Mode::Disarmed, ..a.clone() };
        assert_eq!(off.rule("front", out), Rule { record: false, notify: false });
        assert_eq!(off.rule("back", out), ALL_OFF, "Disarmed: nothing by default");
        let base = MotionConfig { sensitivity: 30, ..Default::default() };
        let m = a.motion("front", &base);
        assert_eq!((m.sensitivity, m.zones.len(), m.masks.len()), (80, 1, 1));
        let b = a.motion("back", &base);
        assert_eq!((b.sensitivity, b.zones.len()), (30, 0), "the configuration file decides the rest");
    }

    #[test]
    fn a_doorbell_records_and_rings_in_every_mode_and_nothing_else_does_when_disarmed() {
        let roles = HashMap::from([
            ("door".to_owned(), CameraRole { placement: Placement::Outdoor, doorbell: true, records_sound: false }),
            ("hall".to_owned(), CameraRole { placement: Placement::Indoor, doorbell: false, records_sound: false }),
        ]);
        let r = Remote { roles: Arc::new(roles), ..Remote::default() };
        // No document yet: Home.
        assert_eq!(r.mode(), Mode::Home);
        assert!(r.records("door") && r.records("yard") && !r.records("hall"));
        assert!(r.notifies("yard", "object") && !r.notifies("hall", "motion"));
        let doc = |mode: &str| check(1, format!(r#"{{"mode":"{mode}","cameras":{{}}}}"#).as_bytes()).unwrap();
        r.set(doc("disarmed"));
        assert!(r.records("door"), "a doorbell keeps its stream for a press's clip");
        assert!(!r.analyses("door") && !r.records("yard") && !r.records("hall"));
        assert!(r.notifies("door", "doorbell"));
        assert!(!r.notifies("door", "object") && !r.notifies("yard", "motion") && !r.notifies("hall", "sensor"));
        // Rules the owner set are obeyed as they are; presses still ring.
        let off = r#"{"disarmed":{"record":false,"notify":false},"home":{"record":true,"notify":true},"away":{"record":true,"notify":true}}"#;
        r.set(check(2, format!(r#"{{"mode":"disarmed","cameras":{{"door":{{"modes":{off}}}}}}}"#).as_bytes()).unwrap());
        assert!(!r.records("door") && r.notifies("door", "doorbell"));
        r.set(doc("away"));
        assert!(r.records("hall") && r.notifies("hall", "motion") && r.analyses("door"));
    }

    #[test]
    fn bad_documents_are_refused_naming_the_field() {
        for (doc, words) in [
            (r#"{"mode":"party","cameras":{}}"#, "unknown variant"),
            (r#"{"mode":"home","cameras":{"f":{"sensitivity":0}}}"#, "settings.cameras.f.sensitivity"),
            (
                r#"{"mode":"home","cameras":{"f":{"zones":[{"name":"a b","points":[[0,0],[1,0],[0,1]]}]}}}"#,
                "zones[0].name",
            ),
            (
                r#"{"mode":"home","cameras":{"f":{"zones":[{"name":"a","points":[[0,0],[1,0]]}]}}}"#,
                "zones[0]: expected 3",
            ),
            (r#"{"mode":"home","cameras":{"f":{"masks":[[[0,0],[1.5,0],[0,1]]]}}}"#, "masks[0]: point 1"),
            (r#"{"mode":"home","cameras":{"f":{"label":""}}}"#, "label"),
            (r#"{"mode":"home","cameras":{},"extra":1}"#, "unknown field"),
            (r#"{"mode":"home","cameras":{"f":{"placement":"attic"}}}"#, "unknown variant"),
        ] {
            let e = check(1, doc.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(words), "{doc}: {e}");
        }
    }
}
