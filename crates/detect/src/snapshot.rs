//! Snapshots: an event's best frame as a JPEG.
//!
//! The picture is the one the detectors saw, so privacy masks are already black in it (see
//! `design/detection.md`). Colours are converted from the camera's limited-range BT.601
//! YCbCr to full-range RGB, which is what JPEG viewers expect.

use base::{Error, bail};
use jpeg_encoder::{ColorType, Encoder};

use crate::decode::OwnedPicture;

/// Encodes `pic` as a baseline JPEG at `quality` (1..=100).
pub fn jpeg(pic: &OwnedPicture, quality: u8) -> Result<Vec<u8>, Error> {
    if !(1..=100).contains(&quality) {
        bail!(InvalidArgument, "snapshot quality: expected 1..=100, got {quality}");
    }
    let (w, h) = (pic.width, pic.height);
    let cw = w.div_ceil(2);
    if w == 0 || h == 0 || w > usize::from(u16::MAX) || h > usize::from(u16::MAX) {
        bail!(InvalidArgument, "snapshot: a {w}x{h} picture cannot be a JPEG");
    }
    if pic.y.len() != w * h || pic.u.len() != cw * h.div_ceil(2) || pic.v.len() != pic.u.len() {
        bail!(InvalidArgument, "snapshot: the picture's planes do not match its {w}x{h} size");
    }
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let c = (y / 2) * cw + x / 2;
            let l = (f32::from(pic.y[y * w + x]) - 16.0) * 1.164;
            let (u, v) = (f32::from(pic.u[c]) - 128.0, f32::from(pic.v[c]) - 128.0);
            rgb.push((l + 1.596 * v).clamp(0.0, 255.0) as u8);
            rgb.push((l - 0.392 * u - 0.813 * v).clamp(0.0, 255.0) as u8);
            rgb.push((l + 2.017 * u).clamp(0.0, 255.0) as u8);
        }
    }
    let mut out = Vec::new();
    Encoder::new(&mut out, quality)
        .encode(&rgb, w as u16, h as u16, ColorType::Rgb)
        .map_err(|e| base::err!(Internal, "encoding a snapshot: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_rejects_bad_pictures() {
        let pic =
            OwnedPicture { width: 33, height: 17, y: vec![200; 33 * 17], u: vec![90; 17 * 9], v: vec![160; 17 * 9] };
        let j = jpeg(&pic, 80).unwrap();
        assert_eq!(&j[..2], &[0xff, 0xd8], "JPEG start of image");
        assert_eq!(&j[j.len() - 2..], &[0xff, 0xd9], "JPEG end of image");
        assert!(jpeg(&pic, 0).is_err());
        let short = OwnedPicture { y: vec![0; 10], ..pic.clone() };
        assert!(jpeg(&short, 80).unwrap_err().to_string().contains("planes"));
    }
}
