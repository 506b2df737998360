//! Media plumbing for Porchlight: everything between camera bytes and MP4 files.
//!
//! Owns: camera sources (RTSP through `retina`, and a file source that replays an MP4 in
//! real time), the [`Frame`] and [`SampleEntry`] types, the compact per-frame index format
//! stored in the database, decode-time reconstruction for streams with B-frames, and MP4
//! and fragmented-MP4 generation from stored frames without re-encoding.
//!
//! Deliberately does not own: any database, any HTTP, any decision about where bytes are
//! stored. See `design/recording.md` for the formats.

pub mod backchannel;
pub mod frame;
pub mod g711;
pub mod index;
pub mod mp4;
pub mod nal;
pub mod opus;
pub mod reorder;
pub mod source;

pub use frame::{Codec, Frame, SampleEntry};
