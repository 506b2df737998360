//! Porchlight's detectors: what moved in a frame, and (next) what it is.
//!
//! Owns: H.264 decoding for analysis ([`decode`], OpenH264), motion detection on decoded
//! luma with zones and privacy masks ([`motion`]), and the polygon type both use
//! ([`zone`]). Deliberately does not own: where frames come from (the agent feeds them),
//! events and their clips (the agent), any network or disk I/O.
//! Design and what a mask guarantees: `design/detection.md`.

pub mod analyser;
pub mod decode;
pub mod events;
pub mod motion;
pub mod zone;
