//! Frames as sources deliver them and the codec parameters that describe them.

use base::{Error, bail};
use bytes::Bytes;
use std::sync::Arc;

/// Video codecs Porchlight records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    H264,
    H265,
}

impl Codec {
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::H265 => "h265",
        }
    }

    pub fn parse(s: &str) -> Option<Codec> {
        match s {
            "h264" => Some(Codec::H264),
            "h265" => Some(Codec::H265),
            _ => None,
        }
    }
}

/// Codec parameters as a complete ISO BMFF `VisualSampleEntry` box (`avc1`/`avc3`/`hvc1`/
/// `hev1` with its `avcC`/`hvcC` child), exactly as it goes into an MP4's `stsd`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SampleEntry {
    pub codec: Codec,
    pub width: u16,
    pub height: u16,
    /// RFC 6381 codec string such as `avc1.64001f`, for MSE and `<video>`.
    pub rfc6381_codec: String,
    pub data: Vec<u8>,
}

impl SampleEntry {
    /// Validates a sample entry box and reads its codec and dimensions.
    pub fn from_box(data: Vec<u8>) -> Result<SampleEntry, Error> {
        if data.len() < 8 + 78 {
            bail!(DataLoss, "sample entry is {} bytes, shorter than a VisualSampleEntry", data.len());
        }
        let size = u32::from_be_bytes(data[0..4].try_into().expect("4 bytes")) as usize;
        if size != data.len() {
            bail!(DataLoss, "sample entry box says {size} bytes but has {}", data.len());
        }
        let fourcc = &data[4..8];
        let codec = match fourcc {
            b"avc1" | b"avc3" => Codec::H264,
            b"hvc1" | b"hev1" => Codec::H265,
            other => bail!(
                InvalidArgument,
                "video codec {:?} is not supported; expected H.264 (avc1) or H.265 (hvc1)",
                String::from_utf8_lossy(other)
            ),
        };
        let width = u16::from_be_bytes([data[32], data[33]]);
        let height = u16::from_be_bytes([data[34], data[35]]);
        // Child boxes start after the 78-byte VisualSampleEntry body.
        let mut rfc6381_codec = None;
        let mut pos = 8 + 78;
        while pos + 8 <= data.len() {
            let len = u32::from_be_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            if len < 8 || pos + len > data.len() {
                bail!(DataLoss, "sample entry child box at byte {pos} has bad length {len}");
            }
            let body = &data[pos + 8..pos + len];
            match &data[pos + 4..pos + 8] {
                b"avcC" if codec == Codec::H264 => {
                    if body.len() < 4 || body[0] != 1 {
                        bail!(DataLoss, "avcC box is malformed");
                    }
                    if body[4] & 3 != 3 {
                        bail!(
                            InvalidArgument,
                            "avcC uses {}-byte NAL lengths; only 4-byte lengths are supported",
                            (body[4] & 3) + 1
                        );
                    }
                    rfc6381_codec = Some(format!("avc1.{:02x}{:02x}{:02x}", body[1], body[2], body[3]));
                }
                b"hvcC" if codec == Codec::H265 => {
                    if body.len() < 23 {
                        bail!(DataLoss, "hvcC box is malformed");
                    }
                    if body[21] & 3 != 3 {
                        bail!(InvalidArgument, "hvcC uses short NAL lengths; only 4-byte lengths are supported");
                    }
                    rfc6381_codec = Some(hevc_codec_string(body));
                }
                _ => {}
            }
            pos += len;
        }
        let Some(rfc6381_codec) = rfc6381_codec else {
            bail!(
                DataLoss,
                "sample entry has no {} configuration box",
                if codec == Codec::H264 { "avcC" } else { "hvcC" }
            );
        };
        Ok(SampleEntry { codec, width, height, rfc6381_codec, data })
    }
}

impl SampleEntry {
    /// Builds an `avc1` sample entry from picture dimensions and an `avcC` body
    /// (AVCDecoderConfigurationRecord), for sources that carry parameter sets out of band.
    pub fn h264(width: u16, height: u16, avcc: &[u8]) -> Result<SampleEntry, Error> {
        let mut b = Vec::with_capacity(8 + 78 + 8 + avcc.len());
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(b"avc1");
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]); // reserved, data_reference_index 1
        b.extend_from_slice(&[0; 16]); // pre_defined, reserved
        b.extend_from_slice(&width.to_be_bytes());
        b.extend_from_slice(&height.to_be_bytes());
        // 72 dpi both ways, reserved, frame_count 1, empty compressorname, depth 24, -1.
        b.extend_from_slice(&[0, 0x48, 0, 0, 0, 0x48, 0, 0, 0, 0, 0, 0, 0, 1]);
        b.extend_from_slice(&[0; 32]);
        b.extend_from_slice(&[0, 0x18, 0xff, 0xff]);
        b.extend_from_slice(&((avcc.len() + 8) as u32).to_be_bytes());
        b.extend_from_slice(b"avcC");
        b.extend_from_slice(avcc);
        let n = b.len() as u32;
        b[0..4].copy_from_slice(&n.to_be_bytes());
        SampleEntry::from_box(b)
    }
}

/// The RFC 6381 string for HEVC from an `hvcC` body (ISO/IEC 14496-15 annex E).
fn hevc_codec_string(b: &[u8]) -> String {
    let profile_space = ["", "A", "B", "C"][usize::from(b[1] >> 6)];
    let tier = if b[1] & 0x20 != 0 { 'H' } else { 'L' };
    let profile_idc = b[1] & 0x1f;
    let compat = u32::from_be_bytes([b[2], b[3], b[4], b[5]]).reverse_bits();
    let level = b[12];
    let mut s = format!("hvc1.{profile_space}{profile_idc}.{compat:x}.{tier}{level}");
    let constraints = &b[6..12];
    let last = constraints.iter().rposition(|&c| c != 0);
    if let Some(last) = last {
        for c in &constraints[..=last] {
            s.push_str(&format!(".{c:x}"));
        }
    }
    s
}

/// One access unit, in decode order, as a source delivers it.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Presentation time in 90 kHz units on the source's own time line (RTP timestamps
    /// already extended past wraps). Only differences between frames of a run matter.
    pub pts_90k: i64,
    /// An IDR / IRAP frame: decoding can start here.
    pub is_key: bool,
    /// NAL units, each prefixed by its 4-byte big-endian length (the MP4 sample format).
    pub data: Bytes,
    /// Set on the first frame and whenever the codec parameters change.
    pub new_sample_entry: Option<Arc<SampleEntry>>,
}
