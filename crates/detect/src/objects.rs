//! Object detection: what is in a frame, from an ONNX model run by ONNX Runtime.
//!
//! ONNX Runtime is not linked: its shared library is loaded at run time from a path the
//! user (or `make setup`, from the PyPI `onnxruntime` wheel) provides, so the binary builds
//! without it and a camera without object detection never needs it. The model is a file
//! too; [`ModelFormat`] says how to read its output, so any COCO detector exported in one
//! of the common layouts can be dropped in from the config.
//!
//! Every detector goes through [`ObjectDetector`]: a decoded picture in, boxes with labels
//! out, in fractions of the frame. Checks happen when a model is loaded (one float image
//! input with three channels, an output of the shape the format needs, as many labels as
//! the model has classes) and again on every run, so a model with unexpected outputs is an
//! error naming the tensor and its shape, never a panic or silent garbage.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base::{Error, bail};
use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;

use crate::decode::Picture;

/// The 80 COCO classes, in the order COCO detectors number them.
pub const COCO_LABELS: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

/// What Porchlight alerts on. A model's own labels map onto these; anything else it
/// finds (a "cell phone", a "chair") is not an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Person,
    Vehicle,
    Animal,
    Package,
}

impl Category {
    pub const ALL: [Category; 4] = [Category::Person, Category::Vehicle, Category::Animal, Category::Package];

    /// The category of a model label, if Porchlight alerts on it.
    pub fn of_label(label: &str) -> Option<Category> {
        Some(match label {
            "person" | "pedestrian" | "people" => Category::Person,
            "car" | "truck" | "bus" | "motorcycle" | "motorbike" | "bicycle" | "van" | "vehicle" => Category::Vehicle,
            // Not "bird": birds at a feeder or on a lawn are noise to a doorbell, and the
            // default model calls parts of people "bird" (seen on the person clip).
            "dog" | "cat" | "horse" | "sheep" | "cow" | "bear" | "animal" => Category::Animal,
            "package" | "parcel" | "box" => Category::Package,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Category::Person => "person",
            Category::Vehicle => "vehicle",
            Category::Animal => "animal",
            Category::Package => "package",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// An axis-aligned box in fractions of the frame (0..=1, origin top left).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl BBox {
    pub fn area(&self) -> f32 {
        (self.x1 - self.x0).max(0.0) * (self.y1 - self.y0).max(0.0)
    }

    pub fn iou(&self, o: &BBox) -> f32 {
        let w = (self.x1.min(o.x1) - self.x0.max(o.x0)).max(0.0);
        let h = (self.y1.min(o.y1) - self.y0.max(o.y0)).max(0.0);
        let inter = w * h;
        let union = self.area() + o.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    fn clamped(self) -> BBox {
        BBox {
            x0: self.x0.clamp(0.0, 1.0),
            y0: self.y0.clamp(0.0, 1.0),
            x1: self.x1.clamp(0.0, 1.0),
            y1: self.y1.clamp(0.0, 1.0),
        }
    }

    pub fn center(&self) -> (f32, f32) {
        ((self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0)
    }
}

/// One object in one frame: the model's best class for this box.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// The model's label ("car", "cell phone").
    pub label: String,
    /// `None` for labels Porchlight does not alert on.
    pub category: Option<Category>,
    pub score: f32,
    pub bbox: BBox,
}

pub trait ObjectDetector: Send {
    /// Finds objects in a picture: at most one detection per box (the model's best class
    /// for it), each at least the detector's minimum score, best first.
    fn detect(&mut self, pic: &Picture<'_>) -> Result<Vec<Detection>, Error>;
}

/// How a model's output reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFormat {
    /// One output `[1, N, 6]`: `x0, y0, x1, y1, score, class` in input pixels, already
    /// reduced to one box per object (CenterNet-style heads with top-k, such as the
    /// default model). Input is RGB 0–255.
    Boxes,
    /// YOLOv5/v7-style: one output `[1, N, 5 + classes]`: centre x, centre y, width,
    /// height (input pixels), objectness, then a score per class. Input is RGB 0–1,
    /// letterboxed.
    YoloV5,
    /// YOLOv8/v11-style: one output `[1, 4 + classes, N]`: centre x, centre y, width,
    /// height, then a score per class (no objectness). Input is RGB 0–1, letterboxed.
    YoloV8,
}

impl ModelFormat {
    pub fn parse(s: &str) -> Option<ModelFormat> {
        Some(match s {
            "boxes" => ModelFormat::Boxes,
            "yolov5" => ModelFormat::YoloV5,
            "yolov8" => ModelFormat::YoloV8,
            _ => return None,
        })
    }

    pub const NAMES: &'static str = "boxes, yolov5, yolov8";

    fn input_scale(self) -> f32 {
        match self {
            ModelFormat::Boxes => 1.0,
            ModelFormat::YoloV5 | ModelFormat::YoloV8 => 1.0 / 255.0,
        }
    }

    fn letterbox(self) -> bool {
        !matches!(self, ModelFormat::Boxes)
    }
}

/// Where the model and ONNX Runtime are, and how to read the model.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    pub model: PathBuf,
    pub format: ModelFormat,
    /// Class names by index; the model must have exactly this many classes.
    pub labels: Vec<String>,
    /// Detections below this score are dropped before anything else (0..1).
    pub min_score: f32,
    /// Threads ONNX Runtime may use for one frame (1..=64).
    pub threads: usize,
    /// The expected SHA-256 of the model file (hex), checked on load when given.
    pub sha256: Option<String>,
}

/// The files `make setup` installs (scripts/setup-models.sh), under `PORCHLIGHT_CACHE` or
/// `~/.cache/porchlight`.
pub struct Installed {
    pub model: PathBuf,
    pub model_sha256: Option<String>,
    pub onnxruntime: PathBuf,
}

impl Installed {
    pub fn cache_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("PORCHLIGHT_CACHE").filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"));
        base.join("porchlight")
    }

    /// The default model and library, or why they are not there.
    pub fn find() -> Result<Installed, Error> {
        let cur = Installed::cache_dir().join("current");
        let model = cur.join("centernet.onnx");
        let onnxruntime = cur.join("libonnxruntime.so");
        for p in [&model, &onnxruntime] {
            if !p.exists() {
                bail!(
                    NotFound,
                    "{} is missing: run `make setup` (it installs ONNX Runtime and the default model)",
                    p.display()
                );
            }
        }
        let model_sha256 = std::fs::read_to_string(cur.join("centernet.onnx.sha256")).ok().map(|s| s.trim().to_owned());
        Ok(Installed { model, model_sha256, onnxruntime })
    }

    /// The default detector's spec: the converted CenterNet, COCO labels.
    pub fn default_spec(&self) -> ModelSpec {
        ModelSpec {
            model: self.model.clone(),
            format: ModelFormat::Boxes,
            labels: COCO_LABELS.iter().map(|s| (*s).to_owned()).collect(),
            min_score: 0.15,
            threads: 1,
            sha256: self.model_sha256.clone(),
        }
    }
}

/// ONNX Runtime, loaded from its shared library. One per process: loading it again from
/// the same path returns the same runtime; from another path is an error.
#[derive(Clone)]
pub struct Runtime(Environment);

impl Runtime {
    pub fn load(lib: &Path) -> Result<Runtime, Error> {
        static LOADED: Mutex<Option<(PathBuf, Runtime)>> = Mutex::new(None);
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((p, rt)) = loaded.as_ref() {
            if p != lib {
                bail!(
                    InvalidArgument,
                    "ONNX Runtime is already loaded from {}; one process cannot also load {}",
                    p.display(),
                    lib.display()
                );
            }
            return Ok(rt.clone());
        }
        if !lib.exists() {
            bail!(NotFound, "ONNX Runtime library {} does not exist (run `make setup`)", lib.display());
        }
        let env = ort::init_from(lib)
            .map_err(|e| e.to_string())
            .and_then(|b| b.with_name("porchlight").with_telemetry(false).build().map_err(|e| e.to_string()))
            .map_err(|e| base::err!(InvalidArgument, "loading ONNX Runtime from {}: {e}", lib.display()))?;
        let rt = Runtime(env);
        *loaded = Some((lib.to_owned(), rt.clone()));
        Ok(rt)
    }
}

impl Runtime {
    /// A session for a model already read (and checked) from `name`.
    pub(crate) fn session(&self, name: &str, bytes: &[u8], threads: usize) -> Result<Session, Error> {
        let opts = |e: ort::Error<_>| base::err!(Internal, "ONNX Runtime session options: {e}");
        Session::builder(&self.0)
            .map_err(|e| base::err!(Internal, "ONNX Runtime session: {e}"))?
            .with_intra_threads(threads)
            .map_err(opts)?
            .with_inter_threads(1)
            .map_err(opts)?
            .commit_from_memory(bytes)
            .map_err(|e| base::err!(InvalidArgument, "model {name} is not a usable ONNX model: {e}"))
    }
}

/// Reads a model file, checking it against the SHA-256 recorded when it was installed.
pub(crate) fn read_model(path: &Path, sha256: Option<&str>) -> Result<Vec<u8>, Error> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| {
        Error::new(
            if e.kind() == std::io::ErrorKind::NotFound {
                base::ErrorKind::NotFound
            } else {
                base::ErrorKind::Internal
            },
            format!("reading model {name}: {e} (run `make setup`)"),
        )
    })?;
    if let Some(want) = sha256 {
        let got = sha256_hex(&bytes);
        if !got.eq_ignore_ascii_case(want) {
            bail!(
                DataLoss,
                "model {name} has SHA-256 {got}, expected {want}: the file is damaged or was replaced (run `make setup`)"
            );
        }
    }
    Ok(bytes)
}

/// A detector running an ONNX model.
pub struct OnnxDetector {
    session: Session,
    spec: ModelSpec,
    input_name: String,
    output_name: String,
    /// Input width and height, in pixels.
    size: (usize, usize),
    /// NHWC (channels last) or NCHW.
    channels_last: bool,
    input: Vec<f32>,
    /// How the picture maps onto the input (for letterboxing): scale and offset.
    placement: Placement,
}

#[derive(Clone, Copy, Debug, Default)]
struct Placement {
    /// Input pixels covered by the picture.
    w: f32,
    h: f32,
    /// Offset of the picture inside the input.
    x: f32,
    y: f32,
}

fn shape_text(s: &[i64]) -> String {
    format!(
        "[{}]",
        s.iter().map(|d| if *d < 0 { "?".to_owned() } else { d.to_string() }).collect::<Vec<_>>().join(", ")
    )
}

impl OnnxDetector {
    /// Loads a model, checking its file and its inputs and outputs.
    pub fn load(rt: &Runtime, spec: ModelSpec) -> Result<OnnxDetector, Error> {
        let name = spec.model.display().to_string();
        if !(0.0..1.0).contains(&spec.min_score) {
            bail!(InvalidArgument, "model min_score: expected 0 to 1, got {}", spec.min_score);
        }
        if !(1..=64).contains(&spec.threads) {
            bail!(InvalidArgument, "model threads: expected 1..=64, got {}", spec.threads);
        }
        if spec.labels.is_empty() {
            bail!(InvalidArgument, "model {name}: no labels");
        }
        let bytes = read_model(&spec.model, spec.sha256.as_deref())?;
        let session = rt.session(&name, &bytes, spec.threads)?;
        let (input_name, size, channels_last) = Self::check_input(&session, &name)?;
        let output_name = Self::check_output(&session, &name, spec.format, spec.labels.len())?;
        let (w, h) = size;
        Ok(OnnxDetector {
            session,
            input_name,
            output_name,
            size,
            channels_last,
            input: vec![0.0; w * h * 3],
            placement: Placement::default(),
            spec,
        })
    }

    pub fn input_size(&self) -> (usize, usize) {
        self.size
    }

    /// The model input of the last frame (for comparing with other runtimes).
    pub fn last_input(&self) -> &[f32] {
        &self.input
    }

    fn check_input(session: &Session, name: &str) -> Result<(String, (usize, usize), bool), Error> {
        let inputs = session.inputs();
        let [input] = inputs else {
            bail!(InvalidArgument, "model {name}: expected one input (an image), it has {}", inputs.len());
        };
        let ty = input.dtype();
        let (Some(shape), Some(ort::value::TensorElementType::Float32)) = (ty.tensor_shape(), ty.tensor_type()) else {
            bail!(InvalidArgument, "model {name}: input {} must be a float32 tensor, it is {ty:?}", input.name());
        };
        let s: Vec<i64> = shape.iter().copied().collect();
        let bad = || {
            base::err!(
                InvalidArgument,
                "model {name}: input {} is {}; expected an image [1, H, W, 3] or [1, 3, H, W] with fixed H and W",
                input.name(),
                shape_text(&s)
            )
        };
        if s.len() != 4 || !(s[0] == 1 || s[0] < 0) {
            return Err(bad());
        }
        let (channels_last, h, w) = if s[3] == 3 {
            (true, s[1], s[2])
        } else if s[1] == 3 {
            (false, s[2], s[3])
        } else {
            return Err(bad());
        };
        if !(16..=4096).contains(&h) || !(16..=4096).contains(&w) {
            return Err(bad());
        }
        Ok((input.name().to_owned(), (w as usize, h as usize), channels_last))
    }

    fn check_output(session: &Session, name: &str, format: ModelFormat, classes: usize) -> Result<String, Error> {
        let outs: Vec<(String, Vec<i64>)> = session
            .outputs()
            .iter()
            .filter_map(|o| o.dtype().tensor_shape().map(|s| (o.name().to_owned(), s.iter().copied().collect())))
            .collect();
        let fits = |s: &[i64]| -> bool {
            let c = classes as i64;
            let ok = |d: i64, want: i64| d < 0 || d == want;
            s.len() == 3
                && ok(s[0], 1)
                && match format {
                    ModelFormat::Boxes => s[2] == 6,
                    ModelFormat::YoloV5 => s[2] == 5 + c,
                    ModelFormat::YoloV8 => s[1] == 4 + c,
                }
        };
        let found: Vec<&(String, Vec<i64>)> = outs.iter().filter(|(_, s)| fits(s)).collect();
        match found.as_slice() {
            [one] => Ok(one.0.clone()),
            [] => {
                let want = match format {
                    ModelFormat::Boxes => "[1, N, 6]".to_owned(),
                    ModelFormat::YoloV5 => format!("[1, N, {}] (5 + {classes} labels)", 5 + classes),
                    ModelFormat::YoloV8 => format!("[1, {}, N] (4 + {classes} labels)", 4 + classes),
                };
                let have: Vec<String> = outs.iter().map(|(n, s)| format!("{n} {}", shape_text(s))).collect();
                bail!(
                    InvalidArgument,
                    "model {name}: format {format:?} needs an output shaped {want}; the model's outputs are {}",
                    if have.is_empty() { "none".to_owned() } else { have.join(", ") }
                )
            }
            _ => {
                // Prefer one called "detections" (CenterNet exports name theirs so); else ambiguous.
                if let Some(d) = found.iter().find(|(n, _)| n.contains("detections")) {
                    return Ok(d.0.clone());
                }
                let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
                bail!(InvalidArgument, "model {name}: several outputs could be the detections ({})", names.join(", "))
            }
        }
    }

    fn preprocess(&mut self, pic: &Picture<'_>) {
        let (iw, ih) = self.size;
        let scale = self.spec.format.input_scale();
        let p = if self.spec.format.letterbox() {
            let k = (iw as f32 / pic.width as f32).min(ih as f32 / pic.height as f32);
            let (w, h) = (pic.width as f32 * k, pic.height as f32 * k);
            Placement { w, h, x: ((iw as f32 - w) / 2.0).floor(), y: ((ih as f32 - h) / 2.0).floor() }
        } else {
            Placement { w: iw as f32, h: ih as f32, x: 0.0, y: 0.0 }
        };
        self.placement = p;
        let plane = iw * ih;
        let x_range = (p.x as usize)..((p.x + p.w).round() as usize).min(iw);
        let y_range = (p.y as usize)..((p.y + p.h).round() as usize).min(ih);
        if self.spec.format.letterbox() {
            // Letterbox bars are mid grey, as YOLO training pads.
            self.input.fill(114.0 * scale);
        }
        // Bilinear luma, nearest chroma (4:2:0 chroma has half the resolution anyway).
        let sx: Vec<(usize, usize, f32, usize)> = x_range
            .clone()
            .map(|ox| {
                let fx = ((ox as f32 - p.x + 0.5) * pic.width as f32 / p.w - 0.5).clamp(0.0, (pic.width - 1) as f32);
                let x0 = fx as usize;
                (x0, (x0 + 1).min(pic.width - 1), fx - x0 as f32, (fx.round() as usize) / 2)
            })
            .collect();
        let n = sx.len();
        let (mut ys, mut us, mut vs) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
        let mut rgb = [vec![0f32; n], vec![0f32; n], vec![0f32; n]];
        for oy in y_range {
            let fy = ((oy as f32 - p.y + 0.5) * pic.height as f32 / p.h - 0.5).clamp(0.0, (pic.height - 1) as f32);
            let y0 = fy as usize;
            let y1 = (y0 + 1).min(pic.height - 1);
            let wy = fy - y0 as f32;
            let r0 = &pic.y[y0 * pic.y_stride..];
            let r1 = &pic.y[y1 * pic.y_stride..];
            let cy = (fy.round() as usize) / 2;
            let ru = &pic.u[cy * pic.uv_stride..];
            let rv = &pic.v[cy * pic.uv_stride..];
            // Gather (not vectorisable), then convert in straight loops (vectorised).
            for (i, &(x0, x1, wx, cx)) in sx.iter().enumerate() {
                let top = f32::from(r0[x0]) + (f32::from(r0[x1]) - f32::from(r0[x0])) * wx;
                let bot = f32::from(r1[x0]) + (f32::from(r1[x1]) - f32::from(r1[x0])) * wx;
                ys[i] = top + (bot - top) * wy;
                us[i] = f32::from(ru[cx]);
                vs[i] = f32::from(rv[cx]);
            }
            let [rr, gg, bb] = &mut rgb;
            for ((((y, u), v), (r, g)), b) in
                ys.iter().zip(&us).zip(&vs).zip(rr.iter_mut().zip(gg.iter_mut())).zip(bb.iter_mut())
            {
                let (y, u, v) = ((y - 16.0) * 1.164, u - 128.0, v - 128.0);
                *r = (y + 1.596 * v).clamp(0.0, 255.0) * scale;
                *g = (y - 0.392 * u - 0.813 * v).clamp(0.0, 255.0) * scale;
                *b = (y + 2.017 * u).clamp(0.0, 255.0) * scale;
            }
            let row = oy * iw + x_range.start;
            if self.channels_last {
                let out = &mut self.input[row * 3..(row + n) * 3];
                for (((o, r), g), b) in out.chunks_exact_mut(3).zip(rr.iter()).zip(gg.iter()).zip(bb.iter()) {
                    o[0] = *r;
                    o[1] = *g;
                    o[2] = *b;
                }
            } else {
                for (c, vals) in rgb.iter().enumerate() {
                    self.input[c * plane + row..c * plane + row + n].copy_from_slice(vals);
                }
            }
        }
    }
}

/// Detections being read out of a model's output (which stays borrowed from the session).
struct Candidates<'a> {
    placement: Placement,
    spec: &'a ModelSpec,
    out: Vec<Detection>,
}

impl Candidates<'_> {
    /// Maps a box in input pixels to fractions of the picture.
    fn to_frame(&self, x0: f32, y0: f32, x1: f32, y1: f32) -> BBox {
        let p = self.placement;
        BBox { x0: (x0 - p.x) / p.w, y0: (y0 - p.y) / p.h, x1: (x1 - p.x) / p.w, y1: (y1 - p.y) / p.h }.clamped()
    }

    fn push(&mut self, class: usize, score: f32, b: BBox) {
        if score < self.spec.min_score || !score.is_finite() || b.area() <= 0.0 {
            return;
        }
        let label = self.spec.labels.get(class).cloned().unwrap_or_else(|| format!("class {class}"));
        let category = Category::of_label(&label);
        self.out.push(Detection { label, category, score, bbox: b });
    }
}

impl ObjectDetector for OnnxDetector {
    fn detect(&mut self, pic: &Picture<'_>) -> Result<Vec<Detection>, Error> {
        if pic.width < 2 || pic.height < 2 {
            bail!(InvalidArgument, "picture {}x{} is too small to detect objects in", pic.width, pic.height);
        }
        self.preprocess(pic);
        let (w, h) = self.size;
        let shape = if self.channels_last { [1, h, w, 3] } else { [1, 3, h, w] };
        let tensor = TensorRef::from_array_view((shape, self.input.as_slice()))
            .map_err(|e| base::err!(Internal, "building the model's input: {e}"))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(|e| base::err!(Internal, "running model {}: {e}", self.spec.model.display()))?;
        let out = outputs
            .get(self.output_name.as_str())
            .ok_or_else(|| base::err!(InvalidArgument, "model gave no output {}", self.output_name))?;
        let (oshape, data) = out
            .try_extract_tensor::<f32>()
            .map_err(|e| base::err!(InvalidArgument, "model output {} is not float32: {e}", self.output_name))?;
        let s: Vec<usize> = oshape.iter().map(|&d| d.max(0) as usize).collect();
        let classes = self.spec.labels.len();
        let mut c = Candidates { placement: self.placement, spec: &self.spec, out: Vec::new() };
        let bad = |want: String| {
            base::err!(InvalidArgument, "model output {} is {}; expected {want}", self.output_name, shape_text(oshape))
        };
        match self.spec.format {
            ModelFormat::Boxes => {
                if s.len() != 3 || s[0] != 1 || s[2] != 6 || data.len() != s[1] * 6 {
                    return Err(bad("[1, N, 6]".into()));
                }
                for r in data.chunks_exact(6) {
                    let class = r[5];
                    if !(class >= 0.0 && class < classes as f32) {
                        continue;
                    }
                    let b = c.to_frame(r[0], r[1], r[2], r[3]);
                    c.push(class as usize, r[4], b);
                }
            }
            ModelFormat::YoloV5 => {
                if s.len() != 3 || s[0] != 1 || s[2] != 5 + classes || data.len() != s[1] * s[2] {
                    return Err(bad(format!("[1, N, {}]", 5 + classes)));
                }
                for r in data.chunks_exact(5 + classes) {
                    let (class, cs) = best_class(&r[5..]);
                    let b = c.to_frame(r[0] - r[2] / 2.0, r[1] - r[3] / 2.0, r[0] + r[2] / 2.0, r[1] + r[3] / 2.0);
                    c.push(class, r[4] * cs, b);
                }
            }
            ModelFormat::YoloV8 => {
                if s.len() != 3 || s[0] != 1 || s[1] != 4 + classes || data.len() != s[1] * s[2] {
                    return Err(bad(format!("[1, {}, N]", 4 + classes)));
                }
                let n = s[2];
                let at = |row: usize, i: usize| data[row * n + i];
                let mut scores = vec![0.0; classes];
                for i in 0..n {
                    for (c, sc) in scores.iter_mut().enumerate() {
                        *sc = at(4 + c, i);
                    }
                    let (class, cs) = best_class(&scores);
                    let (cx, cy, bw, bh) = (at(0, i), at(1, i), at(2, i), at(3, i));
                    let b = c.to_frame(cx - bw / 2.0, cy - bh / 2.0, cx + bw / 2.0, cy + bh / 2.0);
                    c.push(class, cs, b);
                }
            }
        }
        Ok(suppress(c.out, 0.5))
    }
}

fn best_class(scores: &[f32]) -> (usize, f32) {
    scores.iter().copied().enumerate().fold((0, f32::MIN), |a, (i, s)| if s > a.1 { (i, s) } else { a })
}

/// Class-agnostic non-maximum suppression: of boxes overlapping by more than `iou`, only
/// the best-scoring survives. A detector that lists one box under several classes (the
/// default model does: "cell phone" 0.69 and "person" 0.16 for the same car) thus reports
/// its best guess only, so a weak second guess can never become an alert.
pub fn suppress(mut c: Vec<Detection>, iou: f32) -> Vec<Detection> {
    c.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Detection> = Vec::new();
    for d in c {
        if keep.iter().all(|k| k.bbox.iou(&d.bbox) <= iou) {
            keep.push(d);
        }
    }
    keep
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(label: &str, score: f32, x0: f32, y0: f32, x1: f32, y1: f32) -> Detection {
        Detection { label: label.into(), category: Category::of_label(label), score, bbox: BBox { x0, y0, x1, y1 } }
    }

    #[test]
    fn iou() {
        let a = BBox { x0: 0.0, y0: 0.0, x1: 0.5, y1: 0.5 };
        let b = BBox { x0: 0.25, y0: 0.0, x1: 0.75, y1: 0.5 };
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox { x0: 0.6, y0: 0.6, x1: 0.7, y1: 0.7 }), 0.0);
        let empty = BBox { x0: 0.5, y0: 0.5, x1: 0.5, y1: 0.5 };
        assert_eq!(empty.iou(&empty), 0.0);
    }

    #[test]
    fn suppression_keeps_the_best_guess_per_box() {
        let out = suppress(
            vec![
                det("person", 0.16, 0.1, 0.1, 0.3, 0.5),
                det("cell phone", 0.69, 0.1, 0.1, 0.3, 0.5),
                det("person", 0.5, 0.6, 0.1, 0.8, 0.5),
            ],
            0.7,
        );
        let labels: Vec<&str> = out.iter().map(|d| d.label.as_str()).collect();
        assert_eq!(labels, ["cell phone", "person"]);
        assert_eq!(out[0].category, None, "a cell phone is not an alert");
        assert_eq!(out[1].category, Some(Category::Person));
    }

    #[test]
    fn categories() {
        assert_eq!(Category::of_label("truck"), Some(Category::Vehicle));
        assert_eq!(Category::of_label("cat"), Some(Category::Animal));
        assert_eq!(Category::of_label("parking meter"), None);
        for c in Category::ALL {
            assert_eq!(Category::parse(c.name()), Some(c));
        }
        assert_eq!(ModelFormat::parse("yolov8"), Some(ModelFormat::YoloV8));
        assert_eq!(ModelFormat::parse("yolo"), None);
    }
}
