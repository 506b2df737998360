//! Reads the first video track of a progressive MP4: its sample entry and sample table.
//!
//! Only what the file source needs: `moov/trak/mdia/{mdhd,hdlr,minf/stbl}` with `stsd`,
//! `stts`, `ctts`, `stsc`, `stsz`/`stz2` (not supported: an error), `stco`/`co64` and `stss`.
//! Every length and count is checked against the bytes available, so a hostile file gives
//! an error and never a panic or an unbounded allocation (there is a fuzz target).

use base::{Error, bail, err};

use crate::frame::SampleEntry;

/// One sample (access unit) of the video track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub offset: u64,
    pub size: u32,
    /// Decode time in the track's timescale.
    pub dts: i64,
    /// Composition (presentation) offset from `dts`, in the track's timescale.
    pub cts_offset: i32,
    pub is_key: bool,
}

#[derive(Debug)]
pub struct VideoTrack {
    pub timescale: u32,
    /// Total decode duration of all samples, in the track's timescale.
    pub duration: i64,
    pub sample_entry: SampleEntry,
    pub samples: Vec<Sample>,
}

/// At most this many samples per track (over 12 days at 30 fps), bounding allocation.
const SAMPLES_MAX: u32 = 32 << 20;

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8], what: &'static str) -> Self {
        Reader { data, pos: 0, what }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            bail!(
                DataLoss,
                "{} box truncated: wanted {n} bytes at offset {}, has {}",
                self.what,
                self.pos,
                self.data.len()
            );
        };
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8")))
    }
    /// Reads a full box's version and flags.
    fn full(&mut self) -> Result<(u8, u32), Error> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0xff_ffff))
    }
    /// Reads an entry count and checks that `entry_size` bytes per entry are present.
    fn count(&mut self, entry_size: usize) -> Result<u32, Error> {
        let n = self.u32()?;
        if (n as usize).saturating_mul(entry_size) > self.data.len() - self.pos {
            bail!(DataLoss, "{} box claims {n} entries but is too short for them", self.what);
        }
        Ok(n)
    }
}

/// Iterates over the child boxes of `data`, yielding `(fourcc, body, absolute body offset)`.
fn children(data: &[u8]) -> impl Iterator<Item = Result<([u8; 4], &[u8]), Error>> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        let r = (|| {
            if data.len() - pos < 8 {
                bail!(DataLoss, "box header truncated at byte {pos}");
            }
            let size32 = u32::from_be_bytes(data[pos..pos + 4].try_into().expect("4"));
            let fourcc: [u8; 4] = data[pos + 4..pos + 8].try_into().expect("4");
            let (hdr, size) = match size32 {
                0 => (8, (data.len() - pos) as u64),
                1 => {
                    if data.len() - pos < 16 {
                        bail!(DataLoss, "large box header truncated at byte {pos}");
                    }
                    (16, u64::from_be_bytes(data[pos + 8..pos + 16].try_into().expect("8")))
                }
                n => (8, u64::from(n)),
            };
            if size < hdr as u64 || size > (data.len() - pos) as u64 {
                bail!(
                    DataLoss,
                    "box {:?} at byte {pos} has size {size}, beyond its parent",
                    String::from_utf8_lossy(&fourcc)
                );
            }
            let body = &data[pos + hdr..pos + size as usize];
            pos += size as usize;
            Ok((fourcc, body))
        })();
        if r.is_err() {
            pos = data.len();
        }
        Some(r)
    })
}

fn find<'a>(data: &'a [u8], fourcc: &[u8; 4]) -> Result<Option<&'a [u8]>, Error> {
    for c in children(data) {
        let (f, body) = c?;
        if &f == fourcc {
            return Ok(Some(body));
        }
    }
    Ok(None)
}

fn need<'a>(data: &'a [u8], fourcc: &[u8; 4], parent: &str) -> Result<&'a [u8], Error> {
    find(data, fourcc)?.ok_or_else(|| err!(DataLoss, "{parent} has no {} box", String::from_utf8_lossy(fourcc)))
}

/// Parses the `moov` box body (located by [`find_moov`]) and returns the first video track.
pub fn parse_moov(moov: &[u8]) -> Result<VideoTrack, Error> {
    if find(moov, b"mvex")?.is_some() {
        bail!(InvalidArgument, "fragmented MP4 input is not supported; remux it with `ffmpeg -i IN -c copy OUT.mp4`");
    }
    for c in children(moov) {
        let (f, trak) = c?;
        if &f != b"trak" {
            continue;
        }
        let mdia = need(trak, b"mdia", "trak")?;
        let hdlr = need(mdia, b"hdlr", "mdia")?;
        if hdlr.len() < 12 || &hdlr[8..12] != b"vide" {
            continue;
        }
        return parse_video_trak(mdia);
    }
    bail!(InvalidArgument, "file has no video track")
}

fn parse_video_trak(mdia: &[u8]) -> Result<VideoTrack, Error> {
    let mut r = Reader::new(need(mdia, b"mdhd", "mdia")?, "mdhd");
    let (version, _) = r.full()?;
    if version == 1 {
        r.take(16)?;
    } else {
        r.take(8)?;
    }
    let timescale = r.u32()?;
    if timescale == 0 {
        bail!(DataLoss, "mdhd timescale is 0");
    }
    let minf = need(mdia, b"minf", "mdia")?;
    let stbl = need(minf, b"stbl", "minf")?;

    // stsd: the first sample entry. Files with several entries are rare; we use the first
    // and reject samples that refer to others (see stsc).
    let mut r = Reader::new(need(stbl, b"stsd", "stbl")?, "stsd");
    r.full()?;
    if r.u32()? == 0 {
        bail!(DataLoss, "stsd has no entries");
    }
    let entry_len = u32::from_be_bytes(
        r.data.get(r.pos..r.pos + 4).ok_or_else(|| err!(DataLoss, "stsd entry truncated"))?.try_into().expect("4"),
    ) as usize;
    let entry = r.take(entry_len)?.to_vec();
    let sample_entry = SampleEntry::from_box(entry)?;

    // stsz: sample sizes.
    let mut r = Reader::new(need(stbl, b"stsz", "stbl")?, "stsz");
    r.full()?;
    let fixed = r.u32()?;
    let n = if fixed == 0 { r.count(4)? } else { r.u32()? };
    if n > SAMPLES_MAX {
        bail!(InvalidArgument, "track has {n} samples, more than {SAMPLES_MAX}");
    }
    let mut sizes = Vec::with_capacity(n as usize);
    for _ in 0..n {
        sizes.push(if fixed == 0 { r.u32()? } else { fixed });
    }

    // stts: decode durations.
    let mut dts = Vec::with_capacity(n as usize);
    let mut r = Reader::new(need(stbl, b"stts", "stbl")?, "stts");
    r.full()?;
    let entries = r.count(8)?;
    let mut t = 0i64;
    for _ in 0..entries {
        let count = r.u32()?;
        let delta = r.u32()?;
        for _ in 0..count {
            if dts.len() == n as usize {
                bail!(DataLoss, "stts describes more samples than stsz ({n})");
            }
            dts.push(t);
            t += i64::from(delta);
        }
    }
    if dts.len() != n as usize {
        bail!(DataLoss, "stts describes {} samples, stsz {n}", dts.len());
    }

    // ctts: composition offsets (optional).
    let mut cts = vec![0i32; n as usize];
    if let Some(b) = find(stbl, b"ctts")? {
        let mut r = Reader::new(b, "ctts");
        let (version, _) = r.full()?;
        let entries = r.count(8)?;
        let mut i = 0usize;
        for _ in 0..entries {
            let count = r.u32()?;
            let raw = r.u32()?;
            let off = if version == 0 { i32::try_from(raw).unwrap_or(i32::MAX) } else { raw as i32 };
            for _ in 0..count {
                let Some(slot) = cts.get_mut(i) else { bail!(DataLoss, "ctts describes more samples than stsz ({n})") };
                *slot = off;
                i += 1;
            }
        }
    }

    // stss: sync samples (absent means every sample is a sync sample).
    let mut key = vec![true; n as usize];
    if let Some(b) = find(stbl, b"stss")? {
        key.iter_mut().for_each(|k| *k = false);
        let mut r = Reader::new(b, "stss");
        r.full()?;
        for _ in 0..r.count(4)? {
            let s = r.u32()? as usize;
            let Some(k) = s.checked_sub(1).and_then(|i| key.get_mut(i)) else {
                bail!(DataLoss, "stss names sample {s}, outside 1..={n}");
            };
            *k = true;
        }
    }

    // Chunk offsets.
    let chunk_offsets: Vec<u64> = if let Some(b) = find(stbl, b"stco")? {
        let mut r = Reader::new(b, "stco");
        r.full()?;
        let c = r.count(4)?;
        (0..c).map(|_| r.u32().map(u64::from)).collect::<Result<_, _>>()?
    } else if let Some(b) = find(stbl, b"co64")? {
        let mut r = Reader::new(b, "co64");
        r.full()?;
        let c = r.count(8)?;
        (0..c).map(|_| r.u64()).collect::<Result<_, _>>()?
    } else {
        bail!(DataLoss, "stbl has neither stco nor co64");
    };

    // stsc: samples per chunk, mapping samples to offsets.
    let mut r = Reader::new(need(stbl, b"stsc", "stbl")?, "stsc");
    r.full()?;
    let entries = r.count(12)?;
    let mut stsc = Vec::with_capacity(entries as usize);
    for _ in 0..entries {
        let first_chunk = r.u32()?;
        let per_chunk = r.u32()?;
        let desc = r.u32()?;
        if desc != 1 {
            bail!(
                InvalidArgument,
                "samples use sample description {desc}; only files with one video sample description are supported"
            );
        }
        stsc.push((first_chunk, per_chunk));
    }
    let mut samples = Vec::with_capacity(n as usize);
    let mut i = 0usize;
    for (e, &(first_chunk, per_chunk)) in stsc.iter().enumerate() {
        let last_chunk = stsc.get(e + 1).map(|x| x.0).unwrap_or(chunk_offsets.len() as u32 + 1);
        if first_chunk == 0 || last_chunk < first_chunk {
            bail!(DataLoss, "stsc entry {e} has bad first_chunk {first_chunk}");
        }
        for chunk in first_chunk..last_chunk {
            let Some(&base) = chunk_offsets.get(chunk as usize - 1) else {
                bail!(DataLoss, "stsc refers to chunk {chunk}, beyond {} chunks", chunk_offsets.len());
            };
            let mut off = base;
            for _ in 0..per_chunk {
                if i == n as usize {
                    bail!(DataLoss, "stsc places more samples than stsz has ({n})");
                }
                samples.push(Sample { offset: off, size: sizes[i], dts: dts[i], cts_offset: cts[i], is_key: key[i] });
                off = off
                    .checked_add(u64::from(sizes[i]))
                    .ok_or_else(|| err!(DataLoss, "chunk {chunk}'s samples run past the largest file offset"))?;
                i += 1;
            }
        }
    }
    if i != n as usize {
        bail!(DataLoss, "stsc places {i} samples, stsz has {n}");
    }
    Ok(VideoTrack { timescale, duration: t, sample_entry, samples })
}

/// Finds the `moov` box by walking top-level boxes of a file through `read_at`
/// (offset, length) → bytes. Returns the body.
pub fn find_moov(
    file_len: u64,
    mut read_at: impl FnMut(u64, usize) -> Result<Vec<u8>, Error>,
) -> Result<Vec<u8>, Error> {
    /// Largest `moov` accepted: a day of 30 fps samples needs well under this.
    const MOOV_BYTES_MAX: u64 = 256 << 20;
    let mut pos = 0u64;
    while pos + 8 <= file_len {
        let hdr = read_at(pos, 16.min((file_len - pos) as usize))?;
        let size32 = u32::from_be_bytes(hdr[0..4].try_into().expect("4"));
        let (hlen, size) = match size32 {
            0 => (8, file_len - pos),
            1 if hdr.len() >= 16 => (16, u64::from_be_bytes(hdr[8..16].try_into().expect("8"))),
            1 => bail!(DataLoss, "large box header truncated at byte {pos}"),
            n => (8, u64::from(n)),
        };
        if size < hlen || size > file_len - pos {
            bail!(DataLoss, "top-level box at byte {pos} has size {size}, beyond the file's {file_len} bytes");
        }
        if &hdr[4..8] == b"moov" {
            if size > MOOV_BYTES_MAX {
                bail!(InvalidArgument, "moov box is {size} bytes, more than {MOOV_BYTES_MAX}");
            }
            return read_at(pos + hlen, (size - hlen) as usize);
        }
        pos += size;
    }
    bail!(InvalidArgument, "not an MP4 file: no moov box")
}

/// Reads a whole MP4 file's video track from memory (tests and fuzzing).
pub fn parse_file(data: &[u8]) -> Result<VideoTrack, Error> {
    let moov = find_moov(data.len() as u64, |off, len| Ok(data[off as usize..off as usize + len].to_vec()))?;
    parse_moov(&moov)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::FrameInfo;
    use crate::mp4::mux::{self, BodyRange, Part, Piece};
    use proptest::prelude::*;
    use std::sync::Arc;

    /// A small progressive MP4 produced by our muxer, with its body inlined.
    fn sample_file() -> Vec<u8> {
        let avcc = [1u8, 0x4d, 0, 0x1f, 0xff, 0xe1, 0, 2, 0x67, 0x4d, 1, 0, 1, 0x68];
        let entry = Arc::new(SampleEntry::h264(640, 360, &avcc).unwrap());
        let frames: Vec<FrameInfo> = (0..6)
            .map(|i| FrameInfo {
                size_bytes: 6,
                duration_90k: 3000,
                is_key: i == 0,
                pts_offset_90k: [0, 6000, -3000, 0, 0, 0][i],
            })
            .collect();
        let part = Part { entry: 0, frames, body: BodyRange { path: "/nonexistent".into(), offset: 0, len: 36 } };
        let plan = mux::progressive(&[entry], &[part], 0);
        let mut out = Vec::new();
        for p in plan.pieces {
            match p {
                Piece::Bytes(b) => out.extend_from_slice(&b),
                Piece::Range(r) => {
                    out.extend(std::iter::repeat_n([0u8, 0, 0, 2, 0x65, 0x88], 6).flatten().take(r.len as usize))
                }
            }
        }
        out
    }

    /// Inputs the fuzzer found (an overflowing box size; see fuzz/).
    #[test]
    fn fuzzer_findings_are_errors() {
        let huge_box = [0, 0, 0, 1, b'f', b't', b'y', b'p', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 0, 0];
        assert!(parse_file(&huge_box).is_err());
    }

    #[test]
    fn reads_back_what_the_muxer_writes() {
        let t = parse_file(&sample_file()).unwrap();
        assert_eq!(t.timescale, 90_000);
        assert_eq!(t.samples.len(), 6);
        assert_eq!(t.duration, 6 * 3000);
        assert!(t.samples[0].is_key && !t.samples[1].is_key);
        assert_eq!(t.samples[1].cts_offset, 6000);
        assert_eq!(t.samples[2].cts_offset, -3000);
        assert_eq!(t.sample_entry.width, 640);
        assert_eq!(t.sample_entry.rfc6381_codec, "avc1.4d001f");
    }

    proptest! {
        #[test]
        fn corrupted_files_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
                                       cut in any::<usize>()) {
            let mut f = sample_file();
            for (pos, val) in flips {
                let n = f.len();
                f[pos % n] = val;
            }
            let n = f.len();
            f.truncate(cut % (n + 1));
            let _ = parse_file(&f);
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_file(&data);
        }
    }
}
