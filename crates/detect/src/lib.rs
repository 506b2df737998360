//! Porchlight's detectors: what moved in a frame, and (next) what it is.
//!
//! Owns: motion detection on decoded luma with zones and privacy masks ([`motion`]), and
//! the polygon type both use ([`zone`]). Deliberately does not own: decoding (the agent
//! feeds decoded planes), events and their clips (the agent), any network or disk I/O.
//! Design and what a mask guarantees: `design/detection.md`.

pub mod motion;
pub mod zone;
