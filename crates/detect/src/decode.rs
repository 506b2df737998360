//! H.264 decoding for detection, with OpenH264 (built from source with its `nasm`
//! assembly paths).
//!
//! Frames arrive as stored: length-prefixed NAL units (AVCC) with the parameter sets in the
//! sample entry's `avcC` box. OpenH264 wants an Annex B byte stream, so each frame is
//! rewritten with start codes, and the parameter sets are sent before the first key frame
//! and again after any error. A decoding error skips to the next key frame; it never stops
//! the camera.
//!
//! OpenH264 decodes Constrained Baseline and B-frame-free Main/High streams. It fails on
//! B-frames (measured on the Main-profile person clip in `../shared/data`: an error in
//! every group of pictures at the first B-frame), so a camera's detection stream must be
//! one without B-frames — which sub-streams nearly always are.

use base::{Error, bail};
use media::{Codec, SampleEntry};
use openh264::decoder::Decoder;
use openh264::formats::YUVSource;

use crate::motion::Luma;

pub struct H264Decoder {
    dec: Decoder,
    length_size: usize,
    /// SPS and PPS with start codes.
    headers: Vec<u8>,
    /// Whether the next key frame must be preceded by the headers (start, or after an error).
    need_headers: bool,
    /// Frames are skipped until a key frame (start, or after an error).
    need_key: bool,
    buf: Vec<u8>,
    /// The last picture's luma, rows packed (OpenH264 lends its planes only for the call).
    luma: Vec<u8>,
}

const START: [u8; 4] = [0, 0, 0, 1];

impl H264Decoder {
    pub fn new(entry: &SampleEntry) -> Result<H264Decoder, Error> {
        if entry.codec != Codec::H264 {
            bail!(
                InvalidArgument,
                "detection decodes H.264 only; this stream is {:?} (use an H.264 sub-stream)",
                entry.codec
            );
        }
        let (length_size, headers) = parse_avcc(&entry.data)?;
        let dec = Decoder::new().map_err(|e| base::err!(Internal, "starting the H.264 decoder: {e}"))?;
        Ok(H264Decoder {
            dec,
            length_size,
            headers,
            need_headers: true,
            need_key: true,
            buf: Vec::new(),
            luma: Vec::new(),
        })
    }

    /// Decodes one stored frame. Returns the picture's luma plane when the decoder produced
    /// one; `Ok(None)` while waiting for a key frame or when the decoder needs more data.
    pub fn decode(&mut self, frame: &[u8], is_key: bool) -> Result<Option<Luma<'_>>, Error> {
        if self.need_key && !is_key {
            return Ok(None);
        }
        self.buf.clear();
        if is_key && self.need_headers {
            self.buf.extend_from_slice(&self.headers);
        }
        let mut rest = frame;
        while !rest.is_empty() {
            if rest.len() < self.length_size {
                return self.fail("a NAL unit's length prefix is cut off");
            }
            let n = rest[..self.length_size].iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
            rest = &rest[self.length_size..];
            if n == 0 || n > rest.len() {
                return self.fail("a NAL unit is longer than the frame");
            }
            self.buf.extend_from_slice(&START);
            self.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        match self.dec.decode(&self.buf) {
            Ok(Some(p)) => {
                let (w, h) = p.dimensions();
                let (stride, _, _) = p.strides();
                self.luma.clear();
                for row in p.y().chunks(stride).take(h) {
                    self.luma.extend_from_slice(&row[..w]);
                }
                self.need_key = false;
                self.need_headers = false;
                Ok(Some(Luma { width: w, height: h, stride: w, data: &self.luma }))
            }
            Ok(None) => {
                self.need_key = false;
                self.need_headers = false;
                Ok(None)
            }
            Err(e) => {
                let msg = format!(
                    "H.264 decoding failed ({e}); skipping to the next key frame (OpenH264 cannot decode B-frames: \
                     analyse a stream without them, such as the camera's sub-stream)"
                );
                self.need_key = true;
                self.need_headers = true;
                Err(Error::new(base::ErrorKind::DataLoss, msg))
            }
        }
    }

    fn fail<T>(&mut self, why: &str) -> Result<T, Error> {
        self.need_key = true;
        self.need_headers = true;
        bail!(DataLoss, "malformed frame: {why}; skipping to the next key frame")
    }
}

/// Finds the `avcC` box inside an `avc1`/`avc3` sample entry and returns the NAL length
/// size and the parameter sets as an Annex B stream.
fn parse_avcc(entry: &[u8]) -> Result<(usize, Vec<u8>), Error> {
    // Box header (8) + VisualSampleEntry fields (78), then child boxes.
    let mut pos = 8 + 78;
    while pos + 8 <= entry.len() {
        let size = u32::from_be_bytes(entry[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        if size < 8 || pos + size > entry.len() {
            bail!(InvalidArgument, "sample entry: child box at {pos} has a bad size {size}");
        }
        if &entry[pos + 4..pos + 8] == b"avcC" {
            return parse_avcc_body(&entry[pos + 8..pos + size]);
        }
        pos += size;
    }
    bail!(InvalidArgument, "sample entry has no avcC box (no H.264 parameter sets)")
}

fn parse_avcc_body(b: &[u8]) -> Result<(usize, Vec<u8>), Error> {
    let bad = || base::err!(InvalidArgument, "avcC box is truncated or malformed");
    if b.len() < 7 || b[0] != 1 {
        return Err(bad());
    }
    let length_size = usize::from(b[4] & 3) + 1;
    if length_size == 3 {
        return Err(bad());
    }
    let mut out = Vec::new();
    let mut pos = 5;
    for count_mask in [0x1f, 0xff] {
        let count = usize::from(*b.get(pos).ok_or_else(bad)? & count_mask);
        pos += 1;
        for _ in 0..count {
            let n = usize::from(u16::from_be_bytes(b.get(pos..pos + 2).ok_or_else(bad)?.try_into().expect("2 bytes")));
            let ps = b.get(pos + 2..pos + 2 + n).ok_or_else(bad)?;
            out.extend_from_slice(&START);
            out.extend_from_slice(ps);
            pos += 2 + n;
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok((length_size, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_parsing() {
        // version 1, profile 66, compat 0, level 30, 4-byte lengths, 1 SPS "67 aa", 1 PPS "68 bb".
        let body = [1, 66, 0, 30, 0xff, 0xe1, 0, 2, 0x67, 0xaa, 1, 0, 2, 0x68, 0xbb];
        let (n, h) = parse_avcc_body(&body).unwrap();
        assert_eq!(n, 4);
        assert_eq!(h, [0, 0, 0, 1, 0x67, 0xaa, 0, 0, 0, 1, 0x68, 0xbb]);
        assert!(parse_avcc_body(&body[..9]).is_err());
        assert!(parse_avcc_body(&[2, 66, 0, 30, 0xff, 0xe0, 0]).is_err());
    }
}
