//! The detector's model adapters and load-time checks, on tiny ONNX models with known
//! outputs (written by `make_models.py` with the `onnx` package `make setup` installs) run
//! by the real ONNX Runtime.

mod common;

use std::path::{Path, PathBuf};

use base::ErrorKind;
use porchlight_detect::decode::OwnedPicture;
use porchlight_detect::objects::{Category, Installed, ModelFormat, ModelSpec, ObjectDetector, OnnxDetector, Runtime};

struct Models {
    dir: PathBuf,
    rt: Runtime,
}

fn models() -> Option<Models> {
    let inst = common::installed()?;
    let python = Installed::cache_dir().join("current/venv/bin/python");
    let dir = std::env::temp_dir().join(format!(
        "porchlight-adapters-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let st = std::process::Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/make_models.py"))
        .arg(&dir)
        .status()
        .expect("running the set-up Python");
    assert!(st.success(), "make_models.py failed");
    Some(Models { dir, rt: Runtime::load(&inst.onnxruntime).unwrap() })
}

impl Drop for Models {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spec(m: &Models, file: &str, format: ModelFormat, labels: &[&str]) -> ModelSpec {
    ModelSpec {
        model: m.dir.join(file),
        format,
        labels: labels.iter().map(|s| (*s).to_owned()).collect(),
        min_score: 0.15,
        threads: 1,
        sha256: None,
    }
}

/// A mid-grey picture, 64 wide and 32 high: letterboxed into 64x64 it fills rows 16..48.
fn picture() -> OwnedPicture {
    OwnedPicture { width: 64, height: 32, y: vec![120; 64 * 32], u: vec![128; 32 * 16], v: vec![128; 32 * 16] }
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-3
}

const LABELS: [&str; 3] = ["person", "car", "dog"];

#[test]
fn yolo_layouts_letterboxed() {
    let Some(m) = models() else { return };
    for (file, format) in [("yolov5.onnx", ModelFormat::YoloV5), ("yolov8.onnx", ModelFormat::YoloV8)] {
        let mut d = OnnxDetector::load(&m.rt, spec(&m, file, format, &LABELS)).unwrap();
        assert_eq!(d.input_size(), (64, 64));
        let out = d.detect(&picture().picture()).unwrap();
        // The duplicate person box is suppressed; the dog stays; best first.
        let labels: Vec<&str> = out.iter().map(|d| d.label.as_str()).collect();
        assert_eq!(labels, ["person", "dog"], "{file}");
        let p = &out[0];
        assert!(close(p.score, 0.81), "{file}: objectness × class score, got {}", p.score);
        assert_eq!(p.category, Some(Category::Person));
        // Centre (32, 32) 16x32 in the 64x64 input is x 24..40, y 16..48; the picture is
        // rows 16..48 of the input, so y covers all of it.
        let b = p.bbox;
        assert!(close(b.x0, 24.0 / 64.0) && close(b.x1, 40.0 / 64.0), "{file}: {b:?}");
        assert!(close(b.y0, 0.0) && close(b.y1, 1.0), "{file}: {b:?}");
        assert_eq!(out[1].category, Some(Category::Animal));
    }
}

#[test]
fn boxes_layout_channels_last() {
    let Some(m) = models() else { return };
    let mut d = OnnxDetector::load(&m.rt, spec(&m, "boxes.onnx", ModelFormat::Boxes, &LABELS)).unwrap();
    let out = d.detect(&picture().picture()).unwrap();
    // The 0.05 box is under the minimum score. The picture is stretched, not letterboxed.
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].label, "dog");
    let b = out[0].bbox;
    assert!(
        close(b.x0, 8.0 / 64.0) && close(b.y0, 16.0 / 64.0) && close(b.x1, 24.0 / 64.0) && close(b.y1, 48.0 / 64.0)
    );
}

#[test]
fn bad_models_are_clear_errors() {
    let Some(m) = models() else { return };
    let load = |s: ModelSpec| OnnxDetector::load(&m.rt, s).err().expect("must fail");

    let e = load(spec(&m, "wrong.onnx", ModelFormat::Boxes, &LABELS));
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.to_string().contains("needs an output shaped [1, N, 6]") && e.to_string().contains("detections [1, 2, 7]"),
        "{e}"
    );

    let e = load(spec(&m, "yolov5.onnx", ModelFormat::YoloV5, &["person"]));
    assert!(e.to_string().contains("[1, N, 6] (5 + 1 labels)"), "labels that do not match the classes: {e}");

    let e = load(spec(&m, "twoinputs.onnx", ModelFormat::Boxes, &LABELS));
    assert!(e.to_string().contains("expected one input"), "{e}");

    let e = load(spec(&m, "missing.onnx", ModelFormat::Boxes, &LABELS));
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    std::fs::write(m.dir.join("corrupt.onnx"), b"this is not a protobuf at all \xff\xfe").unwrap();
    let e = load(spec(&m, "corrupt.onnx", ModelFormat::Boxes, &LABELS));
    assert!(e.to_string().contains("is not a usable ONNX model"), "{e}");

    let mut s = spec(&m, "boxes.onnx", ModelFormat::Boxes, &LABELS);
    s.sha256 = Some("00".repeat(32));
    let e = load(s);
    assert_eq!(e.kind(), ErrorKind::DataLoss, "{e}");

    let mut s = spec(&m, "boxes.onnx", ModelFormat::Boxes, &LABELS);
    s.min_score = 1.5;
    assert!(load(s).to_string().contains("min_score"));
}

#[test]
fn runtime_is_one_per_process() {
    let Some(_m) = models() else { return };
    let e = Runtime::load(Path::new("/nonexistent/libonnxruntime.so")).err().unwrap();
    assert!(e.to_string().contains("already loaded"), "{e}");
}
