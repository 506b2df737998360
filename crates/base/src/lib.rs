//! Porchlight's foundations: the one error type, injectable clocks, shutdown and background
//! workers (`worker`).
//!
//! This crate owns what every other crate needs and nothing domain-specific: it knows no
//! video, no SQL and no HTTP. Time is injected through [`clock::Clocks`] so that tests can
//! jump the wall clock (see `design/time.md`).

pub mod clock;
pub mod error;
pub mod shutdown;
pub mod worker;

pub use error::{Error, ErrorKind, ResultExt};

/// Sets up `tracing` output on stderr, filtered by `PORCHLIGHT_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORCHLIGHT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
