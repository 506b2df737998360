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
