//! The per-frame index stored with each segment.
//!
//! A segment's frames are described by one compact blob: for each frame in decode order,
//! three varints (LEB128): `size_bytes << 1 | is_key`, `duration_90k`, and the zigzag-encoded
//! `pts_offset_90k` (presentation minus decode time, non-zero only with B-frames). A typical
//! P-frame costs 4–5 bytes, so an hour at 30 fps is about 500 KiB of index. Moonfire NVR uses
//! a similar delta encoding; ours also carries composition offsets so B-frame streams keep
//! their presentation order. See `design/recording.md`.
//!
//! Decoding never panics: a truncated or corrupt blob yields an error naming the frame.

use base::{Error, bail};

/// Largest frame accepted, in bytes. A 4K I-frame at very high quality is a few MiB.
pub const FRAME_SIZE_BYTES_MAX: u32 = 32 << 20;
/// Longest duration of one frame. Longer gaps end a run instead (see `reorder`).
pub const FRAME_DURATION_90K_MAX: u32 = 10 * 90_000;
/// Largest |pts − dts| accepted.
pub const PTS_OFFSET_90K_MAX: i32 = 10 * 90_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    pub size_bytes: u32,
    pub duration_90k: u32,
    pub is_key: bool,
    pub pts_offset_90k: i32,
}

impl FrameInfo {
    pub fn validate(&self) -> Result<(), Error> {
        if self.size_bytes == 0 || self.size_bytes > FRAME_SIZE_BYTES_MAX {
            bail!(DataLoss, "frame size {} bytes is outside 1..={FRAME_SIZE_BYTES_MAX}", self.size_bytes);
        }
        if self.duration_90k > FRAME_DURATION_90K_MAX {
            bail!(DataLoss, "frame duration {} (90 kHz) exceeds {FRAME_DURATION_90K_MAX}", self.duration_90k);
        }
        if self.pts_offset_90k.unsigned_abs() > PTS_OFFSET_90K_MAX as u32 {
            bail!(DataLoss, "frame pts offset {} (90 kHz) exceeds ±{PTS_OFFSET_90K_MAX}", self.pts_offset_90k);
        }
        Ok(())
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Appends one frame's entry to `out`.
pub fn append(out: &mut Vec<u8>, f: &FrameInfo) {
    put_varint(out, (u64::from(f.size_bytes) << 1) | u64::from(f.is_key));
    put_varint(out, u64::from(f.duration_90k));
    let zz = ((f.pts_offset_90k << 1) ^ (f.pts_offset_90k >> 31)) as u32;
    put_varint(out, u64::from(zz));
}

/// Iterates over the frames of an index blob.
pub struct Iter<'a> {
    data: &'a [u8],
    pos: usize,
    frame: usize,
}

pub fn iter(data: &[u8]) -> Iter<'_> {
    Iter { data, pos: 0, frame: 0 }
}

impl Iterator for Iter<'_> {
    type Item = Result<FrameInfo, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let i = self.frame;
        self.frame += 1;
        let mut field = |name: &str| {
            get_varint(self.data, &mut self.pos)
                .ok_or_else(|| base::err!(DataLoss, "frame index truncated in frame {i} field {name}"))
        };
        let r = (|| {
            let a = field("size")?;
            let d = field("duration")?;
            let o = field("pts_offset")?;
            if a >> 1 > u64::from(u32::MAX) || d > u64::from(u32::MAX) || o > u64::from(u32::MAX) {
                bail!(DataLoss, "frame index value out of range in frame {i}");
            }
            let zz = o as u32;
            let f = FrameInfo {
                size_bytes: (a >> 1) as u32,
                is_key: a & 1 == 1,
                duration_90k: d as u32,
                pts_offset_90k: ((zz >> 1) as i32) ^ -((zz & 1) as i32),
            };
            f.validate().map_err(|e| base::err!(DataLoss, "frame {i}: {}", e.msg()))?;
            Ok(f)
        })();
        if r.is_err() {
            self.pos = self.data.len(); // stop after the first error
        }
        Some(r)
    }
}

/// Decodes a whole blob.
pub fn decode(data: &[u8]) -> Result<Vec<FrameInfo>, Error> {
    iter(data).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame() -> impl Strategy<Value = FrameInfo> {
        (1..=FRAME_SIZE_BYTES_MAX, 0..=FRAME_DURATION_90K_MAX, any::<bool>(), -PTS_OFFSET_90K_MAX..=PTS_OFFSET_90K_MAX)
            .prop_map(|(size_bytes, duration_90k, is_key, pts_offset_90k)| FrameInfo {
                size_bytes,
                duration_90k,
                is_key,
                pts_offset_90k,
            })
    }

    proptest! {
        #[test]
        fn round_trips(frames in proptest::collection::vec(frame(), 0..200)) {
            let mut blob = Vec::new();
            for f in &frames {
                append(&mut blob, f);
            }
            prop_assert_eq!(decode(&blob).unwrap(), frames);
        }

        #[test]
        fn garbage_never_panics(blob in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&blob);
        }

        #[test]
        fn truncation_is_detected(frames in proptest::collection::vec(frame(), 1..20), cut in 1usize..8) {
            let mut blob = Vec::new();
            for f in &frames {
                append(&mut blob, f);
            }
            let cut = cut.min(blob.len());
            let short = &blob[..blob.len() - cut];
            // Either an error, or fewer frames than were written: never the same frames.
            if let Ok(got) = decode(short) { prop_assert!(got.len() < frames.len()) }
        }
    }

    #[test]
    fn typical_p_frame_is_small() {
        let mut blob = Vec::new();
        append(&mut blob, &FrameInfo { size_bytes: 15_000, duration_90k: 3000, is_key: false, pts_offset_90k: 0 });
        assert_eq!(blob.len(), 6);
    }

    /// The fuzzer found that an offset of i32::MIN overflowed `abs`.
    #[test]
    fn extreme_pts_offset_is_an_error() {
        let mut blob = Vec::new();
        append(&mut blob, &FrameInfo { size_bytes: 1, duration_90k: 1, is_key: true, pts_offset_90k: i32::MIN });
        assert!(decode(&blob).unwrap_err().msg().contains("pts offset"));
    }

    #[test]
    fn rejects_zero_size() {
        let mut blob = Vec::new();
        append(&mut blob, &FrameInfo { size_bytes: 0, duration_90k: 3000, is_key: true, pts_offset_90k: 0 });
        let e = decode(&blob).unwrap_err();
        assert!(e.msg().contains("frame 0"), "{e}");
    }
}
