//! Redaction: a clip made safe to post to the neighbourhood, on the agent, which is the only
//! place the plaintext exists.
//!
//! [`Redactor::prepare`] reads an MP4 (an export of the owner's own footage), and writes a
//! new one in which people, faces and text (number plates, house numbers, names on post)
//! are pixelated and the camera's privacy masks are black. Decoding and encoding are
//! OpenH264; people come from the object detector, faces from BlazeFace and text from
//! PP-OCRv4's detector ([`models`]). The detectors run on a sample of the frames (by default
//! one every 0.3 s); [`plan`] turns their sightings into the regions of every frame,
//! bridging frames where a detector lost someone and holding boxes before and after, so an
//! uncertain detection blurs more, never less. The output has no audio track (the recorder
//! stores none), a key frame every two seconds, and is what the owner previews byte for
//! byte before it is posted. Design and measurements: `design/redaction.md`.

pub mod models;
pub mod plan;

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use base::{Error, bail};
use media::SampleEntry;
use media::index::FrameInfo;
use media::mp4::mux::{self, BodyRange, Part};
use openh264::OpenH264API;
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, RateControlMode, UsageType};
use openh264::formats::YUVSlices;

use crate::decode::{H264Decoder, OwnedPicture};
use crate::objects::{Category, Installed, ObjectDetector, OnnxDetector, Runtime};
use crate::zone::{Masker, Polygon};
use models::{FaceDetector, RedactionFiles, TextDetector};
use plan::{Kind, PlanConfig, Region, Sighting};

/// What to hide and how hard to look. Every kind is on by default; the owner may turn one
/// off for a clip (for example text, on a clip of a lost dog with its tag).
#[derive(Clone, Debug)]
pub struct Options {
    pub people: bool,
    pub faces: bool,
    pub text: bool,
    /// Seconds between frames the detectors run on (0.05..=2).
    pub detect_every: f64,
    pub person_min_score: f32,
    pub face_min_score: f32,
    pub text_min_score: f32,
    pub plan: PlanConfig,
    /// Privacy masks, black in every frame.
    pub masks: Vec<Polygon>,
    /// Longest clip accepted, in seconds.
    pub max_seconds: f64,
    /// Largest output: the bit rate is chosen to stay under it, and a clip that still comes
    /// out larger is refused (nothing is written).
    pub max_bytes: Option<u64>,
    /// The camera's sound to carry beside the redacted picture, placed on the input's time
    /// line (its first frame at 0), when the owner keeps it; none by default.
    pub audio: Option<media::mp4::mux::AudioTrack>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            people: true,
            faces: true,
            text: true,
            detect_every: 0.3,
            // Lower than the alert thresholds: a false blur costs little, a missed person a lot.
            person_min_score: 0.2,
            face_min_score: 0.35,
            text_min_score: 0.5,
            plan: PlanConfig::default(),
            masks: Vec::new(),
            max_seconds: 120.0,
            max_bytes: None,
            audio: None,
        }
    }
}

impl Options {
    pub fn check(&self) -> Result<(), Error> {
        if !(0.05..=2.0).contains(&self.detect_every) {
            bail!(InvalidArgument, "detect_every: expected 0.05 to 2 seconds, got {}", self.detect_every);
        }
        for (name, v) in [
            ("person_min_score", self.person_min_score),
            ("face_min_score", self.face_min_score),
            ("text_min_score", self.text_min_score),
        ] {
            if !(0.01..1.0).contains(&v) {
                bail!(InvalidArgument, "{name}: expected 0.01 to 1, got {v}");
            }
        }
        if !(0.0..=5.0).contains(&self.plan.hold) || !(0.0..=10.0).contains(&self.plan.max_gap) {
            bail!(InvalidArgument, "hold and max_gap: expected 0 to 5 and 0 to 10 seconds");
        }
        if !(0.0..=1.0).contains(&self.plan.margin) {
            bail!(InvalidArgument, "margin: expected 0 to 1, got {}", self.plan.margin);
        }
        if !(1.0..=600.0).contains(&self.max_seconds) {
            bail!(InvalidArgument, "max_seconds: expected 1 to 600, got {}", self.max_seconds);
        }
        Ok(())
    }
}

/// What was done to a clip.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub width: usize,
    pub height: usize,
    pub frames: usize,
    /// Frames the detectors ran on.
    pub sampled: usize,
    /// Seconds of video.
    pub duration: f64,
    /// Presentation time of each output frame, seconds from the clip's start.
    pub frame_times: Vec<f64>,
    /// The regions blurred in each output frame.
    pub regions: Vec<Vec<Region>>,
    /// Sightings per kind (person, face, text).
    pub sightings: [usize; 3],
    /// Seconds spent decoding (both passes), detecting, and blurring plus encoding.
    pub decode_s: f64,
    pub detect_s: f64,
    pub encode_s: f64,
    pub bytes: u64,
}

impl Report {
    /// Frames with at least one region of `kind`.
    pub fn frames_with(&self, kind: Kind) -> usize {
        self.regions.iter().filter(|r| r.iter().any(|r| r.kind == kind)).count()
    }

    /// One line on what was done, for people.
    pub fn summary(&self) -> String {
        format!(
            "{} frames, {}x{}, {:.1} s; detectors ran on {} frames; blurred: people in {} frames, faces in {}, text \
             in {}; {} bytes",
            self.frames,
            self.width,
            self.height,
            self.duration,
            self.sampled,
            self.frames_with(Kind::Person),
            self.frames_with(Kind::Face),
            self.frames_with(Kind::Text),
            self.bytes
        )
    }
}

/// The three detectors, loaded once and used for many clips.
pub struct Redactor {
    person: OnnxDetector,
    face: FaceDetector,
    text: TextDetector,
}

impl Redactor {
    pub fn load(rt: &Runtime, objects: &Installed, files: &RedactionFiles) -> Result<Redactor, Error> {
        let opts = Options::default();
        let mut spec = objects.default_spec();
        spec.min_score = opts.person_min_score.min(spec.min_score);
        Ok(Redactor {
            person: OnnxDetector::load(rt, spec)?,
            face: FaceDetector::load(rt, &files.face, files.face_sha256.as_deref(), 0.2)?,
            text: TextDetector::load(rt, &files.text, files.text_sha256.as_deref(), 0.3)?,
        })
    }

    /// Loads everything `make setup` installed.
    pub fn installed() -> Result<Redactor, Error> {
        let objects = Installed::find()?;
        let files = RedactionFiles::find()?;
        let rt = Runtime::load(&objects.onnxruntime)?;
        Redactor::load(&rt, &objects, &files)
    }

    /// The sightings in one (masked) picture.
    pub fn sightings(&mut self, pic: &crate::decode::Picture<'_>, o: &Options) -> Result<Vec<Sighting>, Error> {
        let mut out = Vec::new();
        if o.people {
            for d in self.person.detect(pic)? {
                if d.category == Some(Category::Person) && d.score >= o.person_min_score {
                    out.push(Sighting { kind: Kind::Person, bbox: d.bbox });
                }
            }
        }
        if o.faces {
            for (score, b) in self.face.detect(pic)? {
                if score >= o.face_min_score {
                    // BlazeFace boxes the features; hair, ears and chin lie outside it.
                    let (dx, dy) = ((b.x1 - b.x0) * 0.3, (b.y1 - b.y0) * 0.4);
                    let b = crate::objects::BBox {
                        x0: (b.x0 - dx).max(0.0),
                        y0: (b.y0 - dy).max(0.0),
                        x1: (b.x1 + dx).min(1.0),
                        y1: (b.y1 + dy * 0.75).min(1.0),
                    };
                    out.push(Sighting { kind: Kind::Face, bbox: b });
                }
            }
        }
        if o.text {
            self.text.min_score = o.text_min_score;
            for (_, b) in self.text.detect(pic)? {
                out.push(Sighting { kind: Kind::Text, bbox: b });
            }
        }
        Ok(out)
    }

    /// Reads `input` (an MP4 with one H.264 video track without B-frames) and writes the
    /// redacted clip to `output` (written to a temporary name, synced, then renamed, so
    /// `output` is either complete or absent).
    pub fn prepare(&mut self, input: &Path, output: &Path, o: &Options) -> Result<Report, Error> {
        o.check()?;
        let (file, track) = media::source::file::read_track(input)?;
        if track.samples.is_empty() {
            bail!(InvalidArgument, "{} has no video frames", input.display());
        }
        if track.samples.iter().any(|s| s.cts_offset != 0) {
            bail!(
                InvalidArgument,
                "{} has B-frames, which the decoder cannot read; prepare the clip from a stream without them \
                 (such as the camera's sub-stream)",
                input.display()
            );
        }
        let ts = f64::from(track.timescale);
        let first = track.samples[0].dts;
        let times: Vec<f64> = track.samples.iter().map(|s| (s.dts - first) as f64 / ts).collect();
        let duration = (track.duration - first).max(0) as f64 / ts;
        if duration > o.max_seconds {
            bail!(InvalidArgument, "the clip is {duration:.1} s long; at most {} s can be posted", o.max_seconds);
        }
        let read = |i: usize, buf: &mut Vec<u8>| -> Result<(), Error> {
            let s = &track.samples[i];
            buf.resize(s.size as usize, 0);
            file.read_exact_at(buf, s.offset)
                .map_err(|e| base::err!(InvalidArgument, "reading frame {i} of {}: {e}", input.display()))
        };
        let mut report = Report { frames: times.len(), duration, ..Report::default() };
        let mut masker = Masker::new(o.masks.clone());
        let mut masked = OwnedPicture { width: 0, height: 0, y: Vec::new(), u: Vec::new(), v: Vec::new() };

        // Pass 1: decode every frame (each is a reference for the next), detect on a sample.
        let mut dec = H264Decoder::new(&track.sample_entry)?;
        let mut buf = Vec::new();
        let mut samples: Vec<(f64, Vec<Sighting>)> = Vec::new();
        let mut next_sample = 0.0;
        let last = times.len() - 1;
        for (i, &t) in times.iter().enumerate() {
            read(i, &mut buf)?;
            let want = t >= next_sample || i == last;
            let started = Instant::now();
            let pic = dec.decode(&buf, track.samples[i].is_key).map_err(|e| frame_error(i, t, e))?;
            report.decode_s += started.elapsed().as_secs_f64();
            let Some(pic) = pic else { bail!(InvalidArgument, "frame {i} ({t:.2} s) did not decode") };
            report.width = pic.width;
            report.height = pic.height;
            if want {
                let started = Instant::now();
                masker.apply(&pic, &mut masked);
                let s = self.sightings(&masked.picture(), o)?;
                for x in &s {
                    report.sightings[x.kind as usize] += 1;
                }
                samples.push((t, s));
                report.detect_s += started.elapsed().as_secs_f64();
                next_sample = t + o.detect_every - 1e-6;
            }
        }
        report.sampled = samples.len();
        report.regions = plan::plan(&samples, &times, &o.plan);

        // Pass 2: decode again, blur, encode.
        let (w, h) = (report.width & !1, report.height & !1);
        if w < 16 || h < 16 {
            bail!(InvalidArgument, "frames are {}x{}; at least 16x16 is needed", report.width, report.height);
        }
        let fps = (times.len() as f64 / duration.max(1e-3)).clamp(1.0, 120.0);
        // About 0.15 bits per pixel, within the size limit with room for the encoder's overshoot.
        let mut bps = ((w * h) as f64 * fps * 0.15).clamp(200e3, 8e6);
        if let Some(max) = o.max_bytes {
            bps = bps.min(max as f64 * 8.0 * 0.7 / duration.max(1.0)).max(50e3);
        }
        let config = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(bps as u32))
            .max_frame_rate(FrameRate::from_hz(fps as f32))
            .intra_frame_period(IntraFramePeriod::from_num_frames((fps * 2.0).round().max(1.0) as u32))
            .skip_frames(false)
            .num_threads(1);
        let mut enc = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| base::err!(Internal, "starting the H.264 encoder: {e}"))?;
        let tmp_body = tmp_path(output, "body");
        let tmp_out = tmp_path(output, "part");
        let result = (|| -> Result<(), Error> {
            let mut body = std::fs::File::create(&tmp_body)
                .map_err(|e| base::err!(Internal, "creating {}: {e}", tmp_body.display()))?;
            let mut dec = H264Decoder::new(&track.sample_entry)?;
            let mut frames = Vec::with_capacity(times.len());
            let (mut sps, mut pps) = (None::<Vec<u8>>, None::<Vec<u8>>);
            let mut sample = Vec::new();
            let mut written = 0u64;
            for (i, &t) in times.iter().enumerate() {
                read(i, &mut buf)?;
                let started = Instant::now();
                let pic = dec.decode(&buf, track.samples[i].is_key).map_err(|e| frame_error(i, t, e))?;
                report.decode_s += started.elapsed().as_secs_f64();
                let Some(pic) = pic else { bail!(InvalidArgument, "frame {i} ({t:.2} s) did not decode") };
                let started = Instant::now();
                masker.apply(&pic, &mut masked);
                for r in &report.regions[i] {
                    pixelate(&mut masked, r);
                }
                crop_even(&mut masked);
                let yuv = YUVSlices::new((&masked.y, &masked.u, &masked.v), (w, h), (w, w / 2, w / 2));
                let bits = enc
                    .encode_at(&yuv, openh264::Timestamp::from_millis((t * 1000.0) as u64))
                    .map_err(|e| base::err!(Internal, "encoding frame {i}: {e}"))?;
                sample.clear();
                for l in 0..bits.num_layers() {
                    let layer = bits.layer(l).expect("counted");
                    for n in 0..layer.nal_count() {
                        let nal = strip_start_code(layer.nal_unit(n).expect("counted"));
                        match nal.first().map(|b| b & 0x1f) {
                            Some(7) => sps = Some(nal.to_vec()),
                            Some(8) => pps = Some(nal.to_vec()),
                            Some(_) => {
                                sample.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                                sample.extend_from_slice(nal);
                            }
                            None => {}
                        }
                    }
                }
                if sample.is_empty() {
                    bail!(Internal, "the encoder produced no picture for frame {i}");
                }
                body.write_all(&sample).map_err(|e| base::err!(Internal, "writing {}: {e}", tmp_body.display()))?;
                written += sample.len() as u64;
                let next = times.get(i + 1).copied().unwrap_or(duration);
                let is_key = bits.frame_type() == openh264::encoder::FrameType::IDR;
                frames.push(FrameInfo {
                    size_bytes: sample.len() as u32,
                    duration_90k: ((next - t) * 90_000.0).round().clamp(1.0, 900_000.0) as u32,
                    is_key,
                    pts_offset_90k: 0,
                });
                report.encode_s += started.elapsed().as_secs_f64();
            }
            if let Some(max) = o.max_bytes.filter(|&m| written > m) {
                bail!(
                    InvalidArgument,
                    "the redacted clip is {:.1} MiB, more than the {:.0} MiB a post takes; choose a shorter stretch",
                    written as f64 / 1048576.0,
                    max as f64 / 1048576.0
                );
            }
            body.sync_all().map_err(|e| base::err!(Internal, "syncing {}: {e}", tmp_body.display()))?;
            let (Some(sps), Some(pps)) = (sps, pps) else {
                bail!(Internal, "the encoder gave no parameter sets");
            };
            if sps.len() < 4 {
                bail!(Internal, "the encoder gave a short SPS");
            }
            let mut avcc = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
            avcc.extend_from_slice(&(sps.len() as u16).to_be_bytes());
            avcc.extend_from_slice(&sps);
            avcc.push(1);
            avcc.extend_from_slice(&(pps.len() as u16).to_be_bytes());
            avcc.extend_from_slice(&pps);
            let entry = Arc::new(SampleEntry::h264(w as u16, h as u16, &avcc)?);
            let part = Part { entry: 0, frames, body: BodyRange { path: tmp_body.clone(), offset: 0, len: written } };
            let mp4 = mux::progressive_av(&[entry], &[part], o.audio.as_ref(), 0);
            let mut out = std::fs::File::create(&tmp_out)
                .map_err(|e| base::err!(Internal, "creating {}: {e}", tmp_out.display()))?;
            report.bytes =
                mp4.write_to(&mut out).map_err(|e| base::err!(Internal, "writing {}: {e}", tmp_out.display()))?;
            out.sync_all().map_err(|e| base::err!(Internal, "syncing {}: {e}", tmp_out.display()))?;
            std::fs::rename(&tmp_out, output)
                .map_err(|e| base::err!(Internal, "renaming to {}: {e}", output.display()))?;
            Ok(())
        })();
        let _ = std::fs::remove_file(&tmp_body);
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp_out);
        }
        result?;
        report.frame_times = times;
        Ok(report)
    }
}

fn frame_error(i: usize, t: f64, e: Error) -> Error {
    base::err!(InvalidArgument, "frame {i} ({t:.2} s): {}", e.msg())
}

fn tmp_path(output: &Path, what: &str) -> PathBuf {
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    output.with_file_name(format!(".{name}.{what}.{}", std::process::id()))
}

fn strip_start_code(nal: &[u8]) -> &[u8] {
    if nal.starts_with(&[0, 0, 0, 1]) {
        &nal[4..]
    } else if nal.starts_with(&[0, 0, 1]) {
        &nal[3..]
    } else {
        nal
    }
}

/// Drops an odd last column or row (4:2:0 encoding needs even sizes), repacking the planes.
fn crop_even(p: &mut OwnedPicture) {
    let (w, h) = (p.width & !1, p.height & !1);
    if (w, h) == (p.width, p.height) {
        return;
    }
    let (cw, old_cw) = (w / 2, p.width.div_ceil(2));
    let mut y = Vec::with_capacity(w * h);
    for row in p.y.chunks(p.width).take(h) {
        y.extend_from_slice(&row[..w]);
    }
    let pack = |plane: &[u8]| -> Vec<u8> {
        let mut out = Vec::with_capacity(cw * h / 2);
        for row in plane.chunks(old_cw).take(h / 2) {
            out.extend_from_slice(&row[..cw]);
        }
        out
    };
    p.u = pack(&p.u);
    p.v = pack(&p.v);
    p.y = y;
    p.width = w;
    p.height = h;
}

/// The pixel rectangle of a region, aligned outwards to even coordinates (so the chroma
/// samples that colour it are covered too).
pub fn pixel_rect(r: &Region, w: usize, h: usize) -> (usize, usize, usize, usize) {
    let x0 = ((r.bbox.x0 * w as f32).floor().max(0.0) as usize) & !1;
    let y0 = ((r.bbox.y0 * h as f32).floor().max(0.0) as usize) & !1;
    let x1 = (((r.bbox.x1 * w as f32).ceil() as usize + 1) & !1).min(w);
    let y1 = (((r.bbox.y1 * h as f32).ceil() as usize + 1) & !1).min(h);
    (x0, y0, x1.max(x0), y1.max(y0))
}

/// The mosaic block for a region: about a sixth of its shorter side, at least 8 pixels and
/// at most 32, even. A face 48 pixels tall becomes 6 flat blocks: nothing to recognise, and
/// nothing for a "deblurring" model to invert, since each block keeps only its mean.
pub fn block_size(rw: usize, rh: usize) -> usize {
    ((rw.min(rh) / 6).clamp(8, 32)) & !1
}

/// Replaces a region with the mean of each block, in luma and chroma.
pub fn pixelate(p: &mut OwnedPicture, r: &Region) {
    let (w, h) = (p.width, p.height);
    let (x0, y0, x1, y1) = pixel_rect(r, w, h);
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let b = block_size(x1 - x0, y1 - y0);
    mosaic(&mut p.y, w, (x0, y0, x1, y1), b);
    let cw = w.div_ceil(2);
    let c = (x0 / 2, y0 / 2, x1.div_ceil(2), y1.div_ceil(2));
    mosaic(&mut p.u, cw, c, b / 2);
    mosaic(&mut p.v, cw, c, b / 2);
}

fn mosaic(plane: &mut [u8], stride: usize, (x0, y0, x1, y1): (usize, usize, usize, usize), b: usize) {
    let b = b.max(1);
    let rows = plane.len() / stride;
    let (x1, y1) = (x1.min(stride), y1.min(rows));
    let mut by = y0;
    while by < y1 {
        let ey = (by + b).min(y1);
        let mut bx = x0;
        while bx < x1 {
            let ex = (bx + b).min(x1);
            let mut sum = 0u32;
            for y in by..ey {
                sum += plane[y * stride + bx..y * stride + ex].iter().map(|&v| u32::from(v)).sum::<u32>();
            }
            let mean = (sum / ((ey - by) * (ex - bx)) as u32) as u8;
            for y in by..ey {
                plane[y * stride + bx..y * stride + ex].fill(mean);
            }
            bx = ex;
        }
        by = ey;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::BBox;

    #[test]
    fn pixelation_flattens_blocks_and_stays_inside() {
        let (w, h) = (64, 48);
        let mut p = OwnedPicture {
            width: w,
            height: h,
            y: (0..w * h).map(|i| (i * 37 % 251) as u8).collect(),
            u: vec![100; (w / 2) * (h / 2)],
            v: vec![150; (w / 2) * (h / 2)],
        };
        let before = p.clone();
        let r = Region { kind: Kind::Face, bbox: BBox { x0: 0.25, y0: 0.25, x1: 0.75, y1: 0.75 } };
        pixelate(&mut p, &r);
        let (x0, y0, x1, y1) = pixel_rect(&r, w, h);
        assert_eq!((x0, y0, x1, y1), (16, 12, 48, 36));
        let b = block_size(x1 - x0, y1 - y0);
        assert_eq!(b, 8);
        for y in 0..h {
            for x in 0..w {
                let inside = (x0..x1).contains(&x) && (y0..y1).contains(&y);
                let v = p.y[y * w + x];
                if inside {
                    let (bx, by) = (x0 + (x - x0) / b * b, y0 + (y - y0) / b * b);
                    assert_eq!(v, p.y[by * w + bx], "({x}, {y}) differs from its block");
                } else {
                    assert_eq!(v, before.y[y * w + x], "({x}, {y}) outside the region changed");
                }
            }
        }
        assert_eq!(p.u, before.u, "a flat plane stays flat");
    }

    #[test]
    fn options_are_checked() {
        assert!(Options::default().check().is_ok());
        let e = Options { detect_every: 0.0, ..Options::default() }.check().unwrap_err();
        assert!(e.to_string().contains("detect_every"), "{e}");
        let e = Options { face_min_score: 1.5, ..Options::default() }.check().unwrap_err();
        assert!(e.to_string().contains("face_min_score"), "{e}");
    }

    #[test]
    fn odd_sizes_are_cropped_to_even() {
        let mut p = OwnedPicture { width: 5, height: 3, y: (0..15).collect(), u: vec![1; 6], v: vec![2; 6] };
        crop_even(&mut p);
        assert_eq!((p.width, p.height), (4, 2));
        assert_eq!(p.y, vec![0, 1, 2, 3, 5, 6, 7, 8]);
        assert_eq!(p.u, vec![1, 1]);
    }
}
