//! Camera sources: anything that yields [`Frame`]s of one video stream.
//!
//! A source is opened by an [`Opener`] (so a streamer can reconnect by opening again, and
//! tests can supply their own) and read as a stream of frames in decode order. Errors end the
//! stream; the streamer decides about retrying.

pub mod file;
pub mod rtsp;

use std::future::Future;
use std::pin::Pin;

use base::Error;
use futures::Stream;

use crate::frame::Frame;

pub type FrameStream = Pin<Box<dyn Stream<Item = Result<Frame, Error>> + Send>>;
pub type OpenFuture = Pin<Box<dyn Future<Output = Result<FrameStream, Error>> + Send>>;

pub trait Opener: Send + Sync + 'static {
    /// Connects (or opens) and returns the frame stream. The first frame carries a sample
    /// entry.
    fn open(&self) -> OpenFuture;
    /// A description for logs with any password removed.
    fn describe(&self) -> String;
}
