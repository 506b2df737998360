"""Converts a TensorFlow.js graph model to ONNX with tf2onnx, after two fix-ups.

Usage: convert_tfjs.py MODEL.json OUT.onnx

1. numpy 2 removed `np.product`, which tf2onnx 1.17's tfjs reader still calls.
2. The graph JSON written by the TensorFlow.js converter leaves out attributes that
   TensorFlow's op registry requires when tf2onnx re-imports nodes to infer shapes:
   `TArgs` of `_FusedConv2D` (the types of its fused arguments, all float here), and
   type attributes that have defaults (such as `TopKV2`'s `index_type`). They are filled in
   from the op definitions, and every fill is printed.
"""

import collections
import json
import os
import sys
import tempfile

import numpy as np

if not hasattr(np, "product"):
    np.product = np.prod

from tensorflow.core.framework import types_pb2  # noqa: E402
from tensorflow.python.framework import op_def_registry  # noqa: E402


def fix_graph(model):
    fills = collections.Counter()
    for node in model["modelTopology"]["node"]:
        attr = node.setdefault("attr", {})
        if node["op"] == "_FusedConv2D" and "TArgs" not in attr:
            n = int(attr.get("num_args", {}).get("i", "0"))
            attr["TArgs"] = {"list": {"type": ["DT_FLOAT"] * n}}
            fills[(node["op"], "TArgs")] += 1
        op = op_def_registry.get(node["op"])
        if op is None:
            continue
        for a in op.attr:
            if a.name in attr or a.type != "type":
                continue
            if a.HasField("default_value"):
                attr[a.name] = {"type": types_pb2.DataType.Name(a.default_value.type)}
                fills[(node["op"], a.name)] += 1
            else:
                sys.exit(f"{node['name']} ({node['op']}): type attribute {a.name} is missing and has no default")
    return fills


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    with open(src) as f:
        model = json.load(f)
    for (op, name), n in sorted(fix_graph(model).items()):
        print(f"convert: filled {op}.{name} on {n} node(s)", file=sys.stderr)
    # The fixed JSON must sit beside the weight files it names.
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=os.path.dirname(src), delete=False) as f:
        json.dump(model, f)
        fixed = f.name
    try:
        from tf2onnx import convert

        sys.argv = ["tf2onnx.convert", "--tfjs", fixed, "--output", out, "--opset", "13"]
        convert.main()
    finally:
        os.unlink(fixed)


if __name__ == "__main__":
    main()
