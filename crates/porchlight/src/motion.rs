//! `porchlight motion FILE`: runs the agent's decoder and motion detector over a clip and
//! prints the motion events, so that sensitivity, zones and masks can be tried on real
//! footage before they go into the configuration.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use base::{Error, ErrorKind, ResultExt, bail};
use detect::analyser::Analyser;
use detect::events::Change;
use detect::motion::MotionConfig;
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
    /// Print every analysed frame, not only the events.
    #[arg(long)]
    pub verbose: bool,
    /// Take sensitivity, minimum area, zones and masks from this configuration file…
    #[arg(long, requires = "camera", conflicts_with_all = ["sensitivity", "min_area", "zones", "masks"])]
    pub config: Option<PathBuf>,
    /// …for this camera.
    #[arg(long, requires = "config")]
    pub camera: Option<String>,
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
        if let Some(c) = an.change {
            print(c);
        }
    }
    if let Some(c) = analyser.finish() {
        print(c);
    }
    eprintln!("analysed {n} frames at {} fps; {errors} decoding errors", a.fps);
    if n == 0 {
        bail!(InvalidArgument, "{}: no frame could be decoded (H.264 without B-frames expected)", a.file.display());
    }
    Ok(())
}
