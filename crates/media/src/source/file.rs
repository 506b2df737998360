//! A source that replays an MP4 file's video track as if it were a live camera.
//!
//! Frames are released at the pace of their decode times (so a 10-minute file takes ten
//! minutes), with presentation times as an RTP camera would send them. With `looping`, the
//! file starts over seamlessly, timestamps continuing. Used by the demo and by users with no
//! camera yet; tests also use it without pacing.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base::{Error, ErrorKind, ResultExt, bail};
use bytes::Bytes;

use super::{FrameStream, OpenFuture, Opener};
use crate::frame::Frame;
use crate::mp4::demux::{self, VideoTrack};
use crate::nal;

#[derive(Clone, Debug)]
pub struct FileOpener {
    pub path: PathBuf,
    /// Start over at the end instead of ending the stream.
    pub looping: bool,
    /// Pace frames in real time (false: as fast as the consumer takes them).
    pub realtime: bool,
}

impl Opener for FileOpener {
    fn open(&self) -> OpenFuture {
        let me = self.clone();
        Box::pin(async move { me.open_now() })
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

/// Reads the video track of an MP4 file.
pub fn read_track(path: &Path) -> Result<(std::fs::File, VideoTrack), Error> {
    let f = std::fs::File::open(path).err_kind(ErrorKind::NotFound, || format!("opening {}", path.display()))?;
    let len = f.metadata().err_kind(ErrorKind::Internal, || format!("stat {}", path.display()))?.len();
    // The file is the user's input: a malformed one is their mistake, not data loss.
    let bad = |e: Error| base::err!(InvalidArgument, "{} is not a usable MP4 file: {}", path.display(), e.msg());
    let moov = demux::find_moov(len, |off, n| {
        let mut buf = vec![0u8; n];
        f.read_exact_at(&mut buf, off)
            .err_kind(ErrorKind::DataLoss, || format!("reading {} at {off}", path.display()))?;
        Ok(buf)
    })
    .map_err(bad)?;
    let track = demux::parse_moov(&moov).map_err(bad)?;
    if track.samples.is_empty() {
        bail!(InvalidArgument, "{} has no video samples", path.display());
    }
    if !track.samples[0].is_key {
        bail!(InvalidArgument, "{} does not start with a key frame", path.display());
    }
    Ok((f, track))
}

impl FileOpener {
    fn open_now(&self) -> Result<FrameStream, Error> {
        let (file, track) = read_track(&self.path)?;
        let entry = Arc::new(track.sample_entry.clone());
        let ts = i64::from(track.timescale);
        let to_90k = move |t: i64| t * 90_000 / ts;
        let state = State {
            file,
            track,
            path: self.path.clone(),
            next: 0,
            loop_offset: 0,
            started: None,
            looping: self.looping,
            realtime: self.realtime,
            entry: Some(entry),
        };
        let s = futures::stream::unfold(state, move |mut st| async move {
            if st.next == st.track.samples.len() {
                if !st.looping {
                    return None;
                }
                st.next = 0;
                st.loop_offset += st.track.duration;
            }
            let s = st.track.samples[st.next];
            let dts = s.dts + st.loop_offset;
            if st.realtime {
                let start = *st.started.get_or_insert_with(tokio::time::Instant::now);
                let due = start + Duration::from_nanos((to_90k(dts) as u64) * 100_000 / 9);
                tokio::time::sleep_until(due).await;
            }
            st.next += 1;
            let mut buf = vec![0u8; s.size as usize];
            let r = st
                .file
                .read_exact_at(&mut buf, s.offset)
                .err_kind(ErrorKind::DataLoss, || {
                    format!("reading sample at byte {} of {}", s.offset, st.path.display())
                })
                .and_then(|_| nal::check_length_prefixed(&buf).map(|_| ()))
                .map(|_| Frame {
                    pts_90k: to_90k(dts + i64::from(s.cts_offset)),
                    is_key: s.is_key,
                    data: Bytes::from(buf),
                    new_sample_entry: st.entry.take(),
                    audio: false,
                });
            if r.is_err() {
                st.looping = false;
                st.next = st.track.samples.len();
            }
            Some((r, st))
        });
        Ok(Box::pin(s))
    }
}

struct State {
    file: std::fs::File,
    track: VideoTrack,
    path: PathBuf,
    next: usize,
    loop_offset: i64,
    started: Option<tokio::time::Instant>,
    looping: bool,
    realtime: bool,
    entry: Option<Arc<crate::frame::SampleEntry>>,
}
