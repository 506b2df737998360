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
    /// The last picture, copied out (OpenH264 lends its planes only for the call).
    last: OwnedPicture,
}

/// A decoded 4:2:0 picture.
#[derive(Clone, Copy)]
pub struct Picture<'a> {
    pub width: usize,
    pub height: usize,
    pub y: &'a [u8],
    pub u: &'a [u8],
    pub v: &'a [u8],
    pub y_stride: usize,
    /// Stride of both chroma planes (each `width/2` × `height/2`, rounded up).
    pub uv_stride: usize,
}

impl std::fmt::Debug for Picture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Picture({}x{})", self.width, self.height)
    }
}

impl<'a> Picture<'a> {
    pub fn luma(&self) -> Luma<'a> {
        Luma { width: self.width, height: self.height, stride: self.y_stride, data: self.y }
    }

    /// Copies the planes, rows packed.
    pub fn to_owned(&self) -> OwnedPicture {
        let mut out = OwnedPicture { width: 0, height: 0, y: Vec::new(), u: Vec::new(), v: Vec::new() };
        self.copy_into(&mut out);
        out
    }

    /// Copies the planes into `out`, reusing its buffers.
    pub fn copy_into(&self, out: &mut OwnedPicture) {
        let (cw, ch) = (self.width.div_ceil(2), self.height.div_ceil(2));
        let pack = |dst: &mut Vec<u8>, plane: &[u8], stride: usize, w: usize, h: usize| {
            dst.clear();
            for row in plane.chunks(stride).take(h) {
                dst.extend_from_slice(&row[..w]);
            }
        };
        out.width = self.width;
        out.height = self.height;
        pack(&mut out.y, self.y, self.y_stride, self.width, self.height);
        pack(&mut out.u, self.u, self.uv_stride, cw, ch);
        pack(&mut out.v, self.v, self.uv_stride, cw, ch);
    }
}

/// A picture that outlives the decoder call: planes packed (strides `width` and
/// `width.div_ceil(2)`).
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedPicture {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl OwnedPicture {
    pub fn picture(&self) -> Picture<'_> {
        Picture {
            width: self.width,
            height: self.height,
            y: &self.y,
            u: &self.u,
            v: &self.v,
            y_stride: self.width,
            uv_stride: self.width.div_ceil(2),
        }
    }
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
            last: OwnedPicture { width: 0, height: 0, y: Vec::new(), u: Vec::new(), v: Vec::new() },
        })
    }

    /// Decodes one stored frame. Returns the picture when the decoder produced one;
    /// `Ok(None)` while waiting for a key frame or when the decoder needs more data.
    pub fn decode(&mut self, frame: &[u8], is_key: bool) -> Result<Option<Picture<'_>>, Error> {
        Ok(if self.decode_inner(frame, is_key, true)? { Some(self.last.picture()) } else { None })
    }

    /// Decodes a frame that is needed only as a reference for later ones (H.264 needs
    /// every frame decoded): the same as [`decode`](Self::decode) without copying the
    /// picture out. Returns whether a picture was decoded.
    pub fn decode_reference(&mut self, frame: &[u8], is_key: bool) -> Result<bool, Error> {
        self.decode_inner(frame, is_key, false)
    }

    fn decode_inner(&mut self, frame: &[u8], is_key: bool, copy: bool) -> Result<bool, Error> {
        if self.need_key && !is_key {
            return Ok(false);
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
                self.need_key = false;
                self.need_headers = false;
                let (width, height) = p.dimensions();
                let (y_stride, uv_stride, _) = p.strides();
                let (y, u, v) = (p.y(), p.u(), p.v());
                // OpenH264's planes cover whole strides; check once so that users can index freely.
                let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
                if width == 0
                    || height == 0
                    || y_stride < width
                    || uv_stride < cw
                    || y.len() < y_stride * (height - 1) + width
                    || u.len() < uv_stride * (ch - 1) + cw
                    || v.len() < uv_stride * (ch - 1) + cw
                {
                    // (Not `self.fail`: the planes borrow the decoder, the flags are other fields.)
                    self.need_key = true;
                    self.need_headers = true;
                    bail!(
                        DataLoss,
                        "the decoder returned a picture with inconsistent planes; skipping to the next key frame"
                    );
                }
                if copy {
                    let pic = Picture { width, height, y, u, v, y_stride, uv_stride };
                    pic.copy_into(&mut self.last);
                }
                Ok(true)
            }
            Ok(None) => {
                self.need_key = false;
                self.need_headers = false;
                Ok(false)
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
