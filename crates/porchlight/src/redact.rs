//! `porchlight redact IN -o OUT`: prepares a clip for posting, as the agent does when the
//! owner attaches one to a neighbourhood post (people, faces and text pixelated, privacy
//! masks black, no audio), and `porchlight bench redact`, which times it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use base::Error;
use detect::redact::{Options, Redactor};
use detect::zone::Polygon;

#[derive(clap::Args)]
pub struct RedactArgs {
    /// An MP4 with H.264 video without B-frames (an export of your own footage).
    pub input: PathBuf,
    /// Where the redacted MP4 goes.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Leave people unblurred (faces are still blurred unless --no-faces).
    #[arg(long)]
    pub no_people: bool,
    /// Leave faces unblurred.
    #[arg(long)]
    pub no_faces: bool,
    /// Leave text (number plates, signs) unblurred.
    #[arg(long)]
    pub no_text: bool,
    /// A privacy mask, black in every frame: x,y x,y x,y… in fractions (repeatable).
    #[arg(long = "mask")]
    pub masks: Vec<String>,
    /// Seconds between the frames the detectors look at (0.05..=2).
    #[arg(long, default_value_t = 0.3)]
    pub every: f64,
}

impl RedactArgs {
    fn options(&self) -> Result<Options, Error> {
        let masks = self
            .masks
            .iter()
            .enumerate()
            .map(|(i, m)| Polygon::parse(&format!("--mask {}", i + 1), m))
            .collect::<Result<Vec<_>, _>>()?;
        let o = Options {
            people: !self.no_people,
            faces: !self.no_faces,
            text: !self.no_text,
            detect_every: self.every,
            masks,
            ..Options::default()
        };
        o.check()?;
        Ok(o)
    }
}

pub fn run(a: RedactArgs) -> Result<(), Error> {
    let o = a.options()?;
    let mut r = Redactor::installed()?;
    let started = Instant::now();
    let report = r.prepare(&a.input, &a.output, &o)?;
    println!("{}: {}", a.output.display(), report.summary());
    println!(
        "took {:.2} s (decode {:.2} s, detect {:.2} s, blur and encode {:.2} s)",
        started.elapsed().as_secs_f64(),
        report.decode_s,
        report.detect_s,
        report.encode_s
    );
    Ok(())
}

/// Prepares `file` `runs` times on one core and prints wall and CPU time per run against the
/// clip's own duration.
pub fn bench(file: &Path, runs: u32) -> Result<(), Error> {
    let mut r = Redactor::installed()?;
    let dir = tempfile_dir()?;
    let out = dir.join("redacted.mp4");
    let o = Options::default();
    let mut walls = Vec::new();
    let mut report = None;
    for i in 0..=runs {
        let (w0, c0) = (Instant::now(), crate::bench::cpu_time());
        let rep = r.prepare(file, &out, &o)?;
        let (wall, cpu) = (w0.elapsed().as_secs_f64(), (crate::bench::cpu_time() - c0).as_secs_f64());
        if i > 0 {
            println!(
                "run {i}: wall {wall:.2} s, CPU {cpu:.2} s, {:.2}x real time (decode {:.2} s, detect {:.2} s, blur+encode {:.2} s)",
                rep.duration / wall,
                rep.decode_s,
                rep.detect_s,
                rep.encode_s
            );
            walls.push(wall);
        }
        report = Some(rep);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let rep = report.expect("at least one run");
    walls.sort_by(f64::total_cmp);
    let median = walls[walls.len() / 2];
    println!("redact: {}", rep.summary());
    println!(
        "redact: median {median:.2} s for {:.1} s of {}x{} video: {:.2}x faster than real time",
        rep.duration,
        rep.width,
        rep.height,
        rep.duration / median
    );
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf, Error> {
    let d = std::env::temp_dir().join(format!("porchlight-bench-redact-{}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(|e| base::err!(Internal, "creating {}: {e}", d.display()))?;
    Ok(d)
}
