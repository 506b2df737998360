//! What the detect crate's integration tests share: finding the real footage and the
//! installed model, skipping loudly when either is absent.
#![allow(dead_code)] // Each test file uses some of these.

use std::path::{Path, PathBuf};

use porchlight_detect::objects::Installed;

/// A clip from ../shared/data, or `None` (and a loud note) when it is absent.
pub fn shared(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(name);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIPPING: {} is absent (real third-party footage is not in a fresh clone)", p.display());
        None
    }
}

/// The installed model and ONNX Runtime, or a loud skip (a failure under `make test`,
/// which installs them and sets PORCHLIGHT_REQUIRE_MODELS).
pub fn installed() -> Option<Installed> {
    match Installed::find() {
        Ok(i) => Some(i),
        Err(e) if std::env::var_os("PORCHLIGHT_REQUIRE_MODELS").is_some() => panic!("{e}"),
        Err(e) => {
            eprintln!("SKIPPING: {e}");
            None
        }
    }
}

/// Runs an MP4 through `a` frame by frame, as the agent feeds it, and returns every event
/// that ended (including those the end of the clip closes).
pub fn events_of(mut a: porchlight_detect::analyser::Analyser, path: &Path) -> Vec<porchlight_detect::analyser::Event> {
    use std::os::unix::fs::FileExt;
    let (file, track) = media::source::file::read_track(path).unwrap();
    a.set_sample_entry(&track.sample_entry).unwrap();
    let (mut out, mut buf, mut last) = (Vec::new(), Vec::new(), 0.0);
    for s in &track.samples {
        buf.resize(s.size as usize, 0);
        file.read_exact_at(&mut buf, s.offset).unwrap();
        last = s.dts as f64 / f64::from(track.timescale);
        if let Some(an) = a.push(&buf, s.is_key, last).unwrap() {
            out.extend(an.ended);
        }
    }
    out.extend(a.finish(last).1);
    out
}
