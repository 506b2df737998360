//! Frames as sources deliver them and the codec parameters that describe them.

use base::{Error, bail};
use bytes::Bytes;
use std::sync::Arc;

/// Codecs Porchlight records: video, and a camera's sound where the owner turns it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    H264,
    H265,
    /// MPEG-4 AAC (`mp4a`), as cameras send it in RTP (RFC 3640).
    Aac,
    /// G.711 µ-law (`ulaw`), 8 bits a sample.
    Pcmu,
    /// G.711 A-law (`alaw`), 8 bits a sample.
    Pcma,
    /// Linear PCM, 16-bit big-endian (`twos`), as RTP's L16 carries it.
    L16,
    /// Opus (`Opus` with its `dOps`), one packet a sample, at 48 kHz (RFC 7587).
    Opus,
}

impl Codec {
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::H265 => "h265",
            Codec::Aac => "aac",
            Codec::Pcmu => "pcmu",
            Codec::Pcma => "pcma",
            Codec::L16 => "l16",
            Codec::Opus => "opus",
        }
    }

    pub fn parse(s: &str) -> Option<Codec> {
        match s {
            "h264" => Some(Codec::H264),
            "h265" => Some(Codec::H265),
            "aac" => Some(Codec::Aac),
            "pcmu" => Some(Codec::Pcmu),
            "pcma" => Some(Codec::Pcma),
            "l16" => Some(Codec::L16),
            "opus" => Some(Codec::Opus),
            _ => None,
        }
    }

    pub fn is_audio(self) -> bool {
        !matches!(self, Codec::H264 | Codec::H265)
    }
}

/// Codec parameters as a complete ISO BMFF sample entry box, exactly as it goes into an
/// MP4's `stsd`: a `VisualSampleEntry` (`avc1`/`avc3`/`hvc1`/`hev1` with its `avcC`/`hvcC`
/// child) or an `AudioSampleEntry` (`mp4a` with its `esds`, `Opus` with its `dOps`, `ulaw`,
/// `alaw`, `twos`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SampleEntry {
    pub codec: Codec,
    /// Picture size; 0 for sound.
    pub width: u16,
    pub height: u16,
    /// Sound's sample rate (Hz) and channels; 0 for video.
    pub sample_rate: u32,
    pub channels: u16,
    /// RFC 6381 codec string such as `avc1.64001f` or `mp4a.40.2`, for MSE and `<video>`
    /// (G.711 and L16 have none that browsers take: `ulaw`, `alaw`, `twos`).
    pub rfc6381_codec: String,
    pub data: Vec<u8>,
}

/// Bytes of an `AudioSampleEntry` body (ISO/IEC 14496-12 12.2.3), before its child boxes.
const AUDIO_ENTRY_BODY: usize = 28;

impl SampleEntry {
    /// Validates a sample entry box and reads its codec and dimensions (or sample rate and
    /// channels).
    pub fn from_box(data: Vec<u8>) -> Result<SampleEntry, Error> {
        if data.len() >= 8 && matches!(&data[4..8], b"mp4a" | b"Opus" | b"ulaw" | b"alaw" | b"twos") {
            return SampleEntry::audio_from_box(data);
        }
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
        Ok(SampleEntry { codec, width, height, sample_rate: 0, channels: 0, rfc6381_codec, data })
    }

    fn audio_from_box(data: Vec<u8>) -> Result<SampleEntry, Error> {
        if data.len() < 8 + AUDIO_ENTRY_BODY {
            bail!(DataLoss, "sample entry is {} bytes, shorter than an AudioSampleEntry", data.len());
        }
        let size = u32::from_be_bytes(data[0..4].try_into().expect("4 bytes")) as usize;
        if size != data.len() {
            bail!(DataLoss, "sample entry box says {size} bytes but has {}", data.len());
        }
        let channels = u16::from_be_bytes([data[24], data[25]]);
        let sample_rate = u32::from_be_bytes(data[32..36].try_into().expect("4 bytes")) >> 16;
        if channels == 0 || sample_rate == 0 {
            bail!(DataLoss, "audio sample entry has {channels} channels at {sample_rate} Hz");
        }
        let (codec, rfc6381_codec) = match &data[4..8] {
            b"ulaw" => (Codec::Pcmu, "ulaw".to_owned()),
            b"alaw" => (Codec::Pcma, "alaw".to_owned()),
            b"twos" => (Codec::L16, "twos".to_owned()),
            b"Opus" => {
                // Its one child, `dOps` (Opus in ISOBMFF, 4.3.2): version 0 and at least
                // version, channel count, pre-skip, input rate, gain and mapping family.
                let body = &data[8 + AUDIO_ENTRY_BODY..];
                let len = body.get(0..4).map_or(0, |b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize);
                if body.get(4..8) != Some(b"dOps".as_slice()) || len < 8 + 11 || len > body.len() || body[8] != 0 {
                    bail!(DataLoss, "Opus sample entry has no usable dOps box");
                }
                if sample_rate != 48_000 {
                    bail!(DataLoss, "Opus sample entry says {sample_rate} Hz; Opus in MP4 runs at 48000");
                }
                (Codec::Opus, "opus".to_owned())
            }
            _ => {
                let mut pos = 8 + AUDIO_ENTRY_BODY;
                let mut aot = None;
                while pos + 8 <= data.len() {
                    let len = u32::from_be_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
                    if len < 8 || pos + len > data.len() {
                        bail!(DataLoss, "sample entry child box at byte {pos} has bad length {len}");
                    }
                    if &data[pos + 4..pos + 8] == b"esds" && len >= 12 {
                        aot = aac_object_type(&data[pos + 12..pos + len]);
                    }
                    pos += len;
                }
                let Some(aot) = aot else { bail!(DataLoss, "mp4a sample entry has no usable esds box") };
                (Codec::Aac, format!("mp4a.40.{aot}"))
            }
        };
        Ok(SampleEntry { codec, width: 0, height: 0, sample_rate, channels, rfc6381_codec, data })
    }

    /// An `AudioSampleEntry` with no child boxes, for sound stored as it came: G.711 (`ulaw`,
    /// `alaw`) or 16-bit big-endian PCM (`twos`), as QuickTime and ffmpeg name them.
    pub fn pcm(codec: Codec, sample_rate: u32, channels: u16) -> Result<SampleEntry, Error> {
        let (fourcc, bits) = match codec {
            Codec::Pcmu => (b"ulaw", 8u16),
            Codec::Pcma => (b"alaw", 8),
            Codec::L16 => (b"twos", 16),
            other => bail!(InvalidArgument, "{} is not stored as PCM", other.as_str()),
        };
        if sample_rate == 0 || sample_rate > 0xffff || channels == 0 {
            bail!(InvalidArgument, "audio of {channels} channels at {sample_rate} Hz cannot be stored");
        }
        let mut b = Vec::with_capacity(8 + AUDIO_ENTRY_BODY);
        b.extend_from_slice(&((8 + AUDIO_ENTRY_BODY) as u32).to_be_bytes());
        b.extend_from_slice(fourcc);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]); // reserved, data_reference_index 1
        b.extend_from_slice(&[0; 8]); // reserved
        b.extend_from_slice(&channels.to_be_bytes());
        b.extend_from_slice(&bits.to_be_bytes());
        b.extend_from_slice(&[0; 4]); // pre_defined, reserved
        b.extend_from_slice(&(sample_rate << 16).to_be_bytes());
        SampleEntry::from_box(b)
    }

    /// The `Opus` sample entry of a camera's Opus sound stored as it came (RTP carries no
    /// pre-skip, so none is named; the input rate is Opus's own).
    pub fn opus(channels: u8) -> Result<SampleEntry, Error> {
        if !(1..=2).contains(&channels) {
            bail!(InvalidArgument, "Opus of {channels} channels is not stored; expected mono or stereo");
        }
        SampleEntry::from_box(crate::mp4::audio::opus_entry(channels, 0, 48_000))
    }

    pub fn is_audio(&self) -> bool {
        self.codec.is_audio()
    }
}

/// Reads an MPEG-4 descriptor's tag and length (ISO/IEC 14496-1 8.3.3) at `pos`.
fn descriptor(b: &[u8], pos: &mut usize) -> Option<(u8, usize)> {
    let tag = *b.get(*pos)?;
    *pos += 1;
    let mut len = 0usize;
    for _ in 0..4 {
        let c = *b.get(*pos)?;
        *pos += 1;
        len = (len << 7) | usize::from(c & 0x7f);
        if c & 0x80 == 0 {
            return Some((tag, len));
        }
    }
    None
}

/// The audio object type (2 for AAC-LC) from an `esds` body (after version and flags):
/// ES_Descriptor → DecoderConfigDescriptor → DecoderSpecificInfo (AudioSpecificConfig).
fn aac_object_type(b: &[u8]) -> Option<u8> {
    let mut pos = 0;
    let (tag, _) = descriptor(b, &mut pos)?;
    if tag != 3 {
        return None;
    }
    pos += 2; // ES_ID
    let flags = *b.get(pos)?;
    pos += 1;
    if flags & 0x80 != 0 {
        pos += 2; // dependsOn_ES_ID
    }
    if flags & 0x40 != 0 {
        pos += 1 + usize::from(*b.get(pos)?); // URL
    }
    if flags & 0x20 != 0 {
        pos += 2; // OCR_ES_Id
    }
    let (tag, _) = descriptor(b, &mut pos)?;
    if tag != 4 || *b.get(pos)? != 0x40 {
        return None; // not a DecoderConfigDescriptor for MPEG-4 audio
    }
    pos += 13;
    let (tag, len) = descriptor(b, &mut pos)?;
    if tag != 5 || len == 0 {
        return None;
    }
    let aot = b.get(pos)? >> 3;
    (aot != 0 && aot != 31).then_some(aot)
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
    /// A frame of the camera's sound (its time on the video's clock), not of its picture.
    pub audio: bool,
}

#[cfg(test)]
mod audio_tests {
    use super::*;
    use proptest::prelude::*;

    const MP4A: &[u8] = include_bytes!("../../../fuzz/seeds/sample_entry/mp4a-aac-lc-16k");

    #[test]
    fn audio_entries_say_their_codec_rate_and_channels() {
        let e = SampleEntry::from_box(MP4A.to_vec()).unwrap();
        assert_eq!((e.codec, e.sample_rate, e.channels, e.rfc6381_codec.as_str()), (Codec::Aac, 16000, 1, "mp4a.40.2"));
        assert!(e.is_audio() && (e.width, e.height) == (0, 0));
        for (codec, name) in [(Codec::Pcmu, "ulaw"), (Codec::Pcma, "alaw"), (Codec::L16, "twos")] {
            let e = SampleEntry::pcm(codec, 8000, 2).unwrap();
            assert_eq!(SampleEntry::from_box(e.data.clone()).unwrap(), e);
            assert_eq!((e.codec, e.sample_rate, e.channels, e.rfc6381_codec.as_str()), (codec, 8000, 2, name));
        }
        assert!(SampleEntry::pcm(Codec::Aac, 8000, 1).is_err());
        assert!(SampleEntry::pcm(Codec::Pcmu, 96_000, 1).is_err(), "rates past 16.16 fixed point");
        assert!(SampleEntry::pcm(Codec::Pcmu, 8000, 0).is_err());
        for channels in [1, 2] {
            let e = SampleEntry::opus(channels).unwrap();
            assert_eq!(SampleEntry::from_box(e.data.clone()).unwrap(), e);
            assert_eq!(
                (e.codec, e.sample_rate, e.channels, e.rfc6381_codec.as_str()),
                (Codec::Opus, 48_000, u16::from(channels), "opus")
            );
        }
        assert!(SampleEntry::opus(3).is_err());
        // The fuzz target's seed is this entry.
        assert_eq!(
            SampleEntry::opus(1).unwrap().data,
            include_bytes!("../../../fuzz/seeds/sample_entry/opus-48k-mono")
        );
        // An Opus entry without its dOps, or one at another rate, is refused.
        let mut bare = SampleEntry::opus(1).unwrap().data[..36].to_vec();
        bare[3] = 36;
        assert!(SampleEntry::from_box(bare).is_err());
        let mut rate = SampleEntry::opus(1).unwrap().data;
        rate[32..36].copy_from_slice(&(16_000u32 << 16).to_be_bytes());
        assert!(SampleEntry::from_box(rate).is_err());
    }

    proptest! {
        /// A camera's (or a damaged database's) audio entry: any cut or any byte changed is
        /// an entry or an error, never a panic; a valid one keeps its codec.
        #[test]
        fn damaged_audio_entries_never_panic(opus: bool, cut in 0usize..87, at in 0usize..87, x: u8) {
            let valid = if opus { SampleEntry::opus(1).unwrap().data } else { MP4A.to_vec() };
            let (cut, at) = (cut % valid.len(), at % valid.len());
            let _ = SampleEntry::from_box(valid[..cut].to_vec());
            let mut b = valid;
            b[at] = x;
            if let Ok(e) = SampleEntry::from_box(b) {
                prop_assert!(e.codec.is_audio() || at < 8);
            }
        }
    }
}
