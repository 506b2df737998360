//! Porchlight's detectors: what moved in a frame, what it is, and the events they make.
//!
//! Owns: H.264 decoding for analysis ([`decode`], OpenH264), motion detection on decoded
//! luma with zones and privacy masks ([`motion`]), object detection through ONNX Runtime
//! ([`objects`]), tracking and per-visit events ([`track`], [`events`]), one stream's whole
//! analysis ([`analyser`]), the polygon type ([`zone`]), and clips made safe to post
//! ([`redact`]: people, faces and text pixelated, re-encoded). Deliberately does not own:
//! where frames come from (the agent feeds them), storing events and cutting their clips
//! (the agent), any network I/O. Its only file reads are the model and ONNX Runtime.
//! Design and what a mask guarantees: `design/detection.md`.

pub mod analyser;
pub mod decode;
pub mod events;
pub mod motion;
pub mod objects;
pub mod redact;
pub mod snapshot;
pub mod track;
pub mod zone;
