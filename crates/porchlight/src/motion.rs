//! `porchlight motion FILE`: runs the agent's analysis (decoder, motion detector and, with
//! `--objects`, the object detector and tracker) over a clip and prints the events, so that
//! sensitivity, zones, masks and thresholds can be tried on real footage before they go
//! into the configuration.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use base::{Error, ErrorKind, ResultExt, bail};
use detect::analyser::{Analyser, Event, ObjectsSpec};
use detect::events::Change;
use detect::motion::MotionConfig;
use detect::objects::{Category, ModelFormat};
use detect::zone::Polygon;

#[derive(clap::Args)]
pub struct MotionArgs {
    /// An MP4 file with H.264 video (without B-frames, like a camera's sub-stream).
    pub file: PathBuf,
    /// Frames analysed per second (1..=30).
    #[arg(long, default_value_t = 5)]
    pub fps: u32,
    /// 1..=100: higher counts smaller changes as motion.
    #[arg(long, default_value_t = 60)]
    pub sensitivity: u8,
    /// Smallest moving region, as a fraction of the frame.
    #[arg(long, default_value_t = 0.002)]
    pub min_area: f32,
    /// A motion zone: NAME=x,y x,y x,y… in fractions of the frame (repeatable).
    #[arg(long = "zone")]
    pub zones: Vec<String>,
    /// A privacy mask: x,y x,y x,y… (repeatable).
    #[arg(long = "mask")]
    pub masks: Vec<String>,
    /// Watch this zone for packages left behind (repeatable; a --zone name).
    #[arg(long = "package-zone")]
    pub package_zones: Vec<String>,
    /// Print every analysed frame, not only the events.
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub objects: ObjectArgs,
    /// Take sensitivity, minimum area, zones and masks from this configuration file…
    #[arg(long, requires = "camera", conflicts_with_all = ["sensitivity", "min_area", "zones", "masks"])]
    pub config: Option<PathBuf>,
    /// …for this camera.
    #[arg(long, requires = "config")]
    pub camera: Option<String>,
}

/// Object detection options, shared by `motion` and `bench detect`.
#[derive(clap::Args, Clone)]
pub struct ObjectArgs {
    /// Also detect and track objects (people, vehicles, animals, packages).
    #[arg(long)]
    pub objects: bool,
    /// An ONNX model instead of the default one (`make setup` installs the default).
    #[arg(long, requires = "objects")]
    pub model: Option<PathBuf>,
    /// How the model's output reads: boxes, yolov5 or yolov8.
    #[arg(long, requires = "model", default_value = "boxes")]
    pub format: String,
    /// A file with the model's class names, one per line (default: the 80 COCO classes).
    #[arg(long, requires = "model")]
    pub labels: Option<PathBuf>,
    /// ONNX Runtime's shared library (default: the one `make setup` installs).
    #[arg(long, requires = "objects")]
    pub onnxruntime: Option<PathBuf>,
    /// Median score that confirms a track: CATEGORY=SCORE (person, vehicle, animal, package).
    #[arg(long = "threshold", requires = "objects")]
    pub thresholds: Vec<String>,
    /// Threads for the detector.
    #[arg(long, default_value_t = 1, requires = "objects")]
    pub threads: usize,
}

impl ObjectArgs {
    pub fn spec(&self) -> Result<Option<ObjectsSpec>, Error> {
        if !self.objects {
            return Ok(None);
        }
        let mut tracker = detect::track::TrackerConfig::default();
        for t in &self.thresholds {
            let parsed = t.split_once('=').and_then(|(c, v)| Some((Category::parse(c)?, v.parse::<f32>().ok()?)));
            let Some((c, v)) = parsed else {
                bail!(
                    InvalidArgument,
                    "--threshold {t:?}: expected CATEGORY=SCORE with CATEGORY one of person, vehicle, animal, package"
                );
            };
            tracker.thresholds[c as usize] = v;
        }
        tracker.check().map_err(|e| Error::new(e.kind(), format!("--threshold: {e}")))?;
        let Some(format) = ModelFormat::parse(&self.format) else {
            bail!(InvalidArgument, "--format {:?}: expected one of {}", self.format, ModelFormat::NAMES);
        };
        let detector = load_detector(
            self.model.as_deref(),
            format,
            self.labels.as_deref(),
            self.onnxruntime.as_deref(),
            self.threads,
        )?;
        Ok(Some(ObjectsSpec { detector: Box::new(detector), tracker, heartbeat: 3.0 }))
    }
}

/// Loads ONNX Runtime and a model: the installed default, or a user's model in `format`.
pub fn load_detector(
    model: Option<&std::path::Path>,
    format: ModelFormat,
    labels: Option<&std::path::Path>,
    onnxruntime: Option<&std::path::Path>,
    threads: usize,
) -> Result<detect::objects::OnnxDetector, Error> {
    use detect::objects::{Installed, ModelSpec, OnnxDetector, Runtime};
    let installed = Installed::find();
    let lib = match (onnxruntime, &installed) {
        (Some(l), _) => l.to_owned(),
        (None, Ok(i)) => i.onnxruntime.clone(),
        (None, Err(e)) => return Err(Error::new(e.kind(), e.to_string())),
    };
    let rt = Runtime::load(&lib)?;
    let mut spec = match (model, &installed) {
        (None, Ok(i)) => i.default_spec(),
        (None, Err(e)) => return Err(Error::new(e.kind(), e.to_string())),
        (Some(m), _) => {
            let labels = match labels {
                Some(p) => std::fs::read_to_string(p)
                    .err_kind(ErrorKind::InvalidArgument, || format!("--labels {}", p.display()))?
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
                None => detect::objects::COCO_LABELS.iter().map(|s| (*s).to_owned()).collect(),
            };
            ModelSpec { model: m.to_owned(), format, labels, min_score: 0.15, threads: 1, sha256: None }
        }
    };
    spec.threads = threads;
    OnnxDetector::load(&rt, spec)
}

pub fn print_event(e: &Event) {
    let what = if e.kind == detect::analyser::EventKind::Motion {
        "motion (unclassified)".to_owned()
    } else {
        format!("{} ({}, score {:.2})", e.kind.name(), e.label, e.score)
    };
    let zones = if e.zones.is_empty() { String::new() } else { format!("  zones {}", e.zones.join(",")) };
    let snap = e.snapshot.as_ref().map(|s| format!("  snapshot at {:.1} s", s.t)).unwrap_or_default();
    println!("{:8.1} s  to {:6.1} s  {what}{zones}{snap}", e.start, e.end);
}

pub fn run(a: MotionArgs) -> Result<(), Error> {
    if !(1..=30).contains(&a.fps) {
        bail!(InvalidArgument, "--fps: expected 1..=30, got {}", a.fps);
    }
    let cfg = match (&a.config, &a.camera) {
        (Some(path), Some(name)) => {
            let c = crate::config::Config::load(path)?;
            let Some(cam) = c.cameras.iter().find(|c| c.name.get_ref() == name) else {
                bail!(NotFound, "--camera: {} has no camera {name:?}", path.display());
            };
            cam.motion.detector_config(&format!("camera {name}"))?
        }
        _ => {
            let mut zones = Vec::new();
            for z in &a.zones {
                let Some((name, pts)) = z.split_once('=') else {
                    bail!(InvalidArgument, "--zone {z:?}: expected NAME=x,y x,y x,y…");
                };
                zones.push((name.to_owned(), Polygon::parse(&format!("--zone {name}"), pts)?));
            }
            let masks = a.masks.iter().map(|m| Polygon::parse("--mask", m)).collect::<Result<Vec<_>, _>>()?;
            MotionConfig { sensitivity: a.sensitivity, min_area: a.min_area, zones, masks, ..MotionConfig::default() }
        }
    };
    let mut analyser =
        Analyser::new(cfg, a.fps).map_err(|e| Error::new(e.kind(), format!("--sensitivity or --min-area: {e}")))?;
    let package_zones = match (&a.config, &a.camera) {
        (Some(path), Some(name)) => crate::config::Config::load(path)?
            .cameras
            .iter()
            .find(|c| c.name.get_ref() == name)
            .map(|c| c.motion.package_zones.clone())
            .unwrap_or_default(),
        _ => a.package_zones.clone(),
    };
    if !package_zones.is_empty() {
        analyser = analyser
            .with_packages(detect::analyser::PackageRule::new(package_zones))
            .map_err(|e| Error::new(e.kind(), format!("--package-zone: {e}")))?;
    }
    if let Some(spec) = a.objects.spec()? {
        analyser = analyser.with_objects(spec)?;
    }
    let (file, track) = media::source::file::read_track(&a.file)?;
    analyser.set_sample_entry(&track.sample_entry)?;
    let (mut buf, mut errors, mut n) = (Vec::new(), 0u32, 0u64);
    let print = |c: Change| match c {
        Change::Started(t) => println!("{t:8.1} s  motion starts"),
        Change::Ended(t) => println!("{t:8.1} s  motion ends"),
    };
    for s in &track.samples {
        buf.resize(s.size as usize, 0);
        file.read_exact_at(&mut buf, s.offset)
            .err_kind(ErrorKind::Internal, || format!("reading {}", a.file.display()))?;
        let t = s.dts as f64 / f64::from(track.timescale);
        let an = match analyser.push(&buf, s.is_key, t) {
            Ok(Some(an)) => an,
            Ok(None) => continue,
            Err(e) => {
                errors += 1;
                if errors <= 3 {
                    eprintln!("{t:8.1} s  {e}");
                }
                continue;
            }
        };
        n += 1;
        if let Some(e) = &an.detector_error {
            errors += 1;
            if errors <= 3 {
                eprintln!("{t:8.1} s  object detector: {e}");
            }
        }
        if a.verbose {
            let m = &an.motion;
            println!(
                "{t:8.1} s  changed {:.3}  gain {:.2}{}  {}",
                m.changed,
                m.gain,
                if m.reset { "  reset" } else { "" },
                m.regions
                    .iter()
                    .map(|r| format!("[{:.2},{:.2} {:.2}x{:.2}]", r.x, r.y, r.w, r.h))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        if a.verbose
            && let Some(d) = &an.detections
        {
            for d in d.iter().take(12) {
                println!(
                    "{t:8.1} s    {} {:.2} [{:.2},{:.2} {:.2},{:.2}]",
                    d.label, d.score, d.bbox.x0, d.bbox.y0, d.bbox.x1, d.bbox.y1
                );
            }
        }
        if let Some(c) = an.change {
            print(c);
        }
        for e in &an.started {
            println!("{t:8.1} s  {} event starts (first seen at {:.1} s)", e.kind.name(), e.start);
        }
        for e in &an.ended {
            print_event(e);
        }
    }
    let end = track.samples.last().map_or(0.0, |s| s.dts as f64 / f64::from(track.timescale));
    let (c, ended) = analyser.finish(end);
    if let Some(c) = c {
        print(c);
    }
    for e in &ended {
        print_event(e);
    }
    eprintln!("analysed {n} frames at {} fps; {errors} decoding or detector errors", a.fps);
    if n == 0 {
        bail!(InvalidArgument, "{}: no frame could be decoded (H.264 without B-frames expected)", a.file.display());
    }
    Ok(())
}
