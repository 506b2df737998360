"""Writes tiny ONNX models with known outputs, for the detector adapter tests.

Usage: make_models.py OUT_DIR

Each model takes an image and returns constant detections (plus 0 x the input's sum, so
the input is part of the graph), in one of the layouts Porchlight reads:
  yolov5.onnx   input [1,3,64,64]  output [1,3,8]   (cx, cy, w, h, objectness, 3 classes)
  yolov8.onnx   input [1,3,64,64]  output [1,7,3]   (cx, cy, w, h, 3 classes) x boxes
  boxes.onnx    input [1,64,64,3]  output [1,2,6]   (x0, y0, x1, y1, score, class)
  wrong.onnx    input [1,64,64,3]  output [1,2,7]   (no layout fits)
  twoinputs.onnx                   two image inputs
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper


def model(path, in_shape, out, extra_input=False):
    out = np.asarray(out, dtype=np.float32)
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, in_shape)]
    if extra_input:
        inputs.append(helper.make_tensor_value_info("other", TensorProto.FLOAT, in_shape))
    nodes = [
        helper.make_node("ReduceSum", ["images"], ["sum"], keepdims=0),
        helper.make_node("Mul", ["sum", "zero"], ["nothing"]),
        helper.make_node("Add", ["dets", "nothing"], ["detections"]),
    ]
    inits = [
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("dets", TensorProto.FLOAT, out.shape, out.flatten().tolist()),
    ]
    outputs = [helper.make_tensor_value_info("detections", TensorProto.FLOAT, list(out.shape))]
    g = helper.make_graph(nodes, "test", inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    # A person centred at (32, 32) 16x32, a weaker overlapping duplicate, and a dog.
    v5 = [[[32, 32, 16, 32, 0.9, 0.9, 0.1, 0.0], [33, 32, 16, 32, 0.8, 0.7, 0.0, 0.0], [10, 40, 8, 8, 0.8, 0.0, 0.1, 0.75]]]
    model(os.path.join(d, "yolov5.onnx"), [1, 3, 64, 64], v5)
    # The same boxes in the YOLOv8 layout: rows are fields, columns boxes; no objectness.
    rows = [[32, 33, 10], [32, 32, 40], [16, 16, 8], [32, 32, 8], [0.81, 0.56, 0.0], [0.09, 0.0, 0.08], [0.0, 0.0, 0.6]]
    model(os.path.join(d, "yolov8.onnx"), [1, 3, 64, 64], [rows])
    boxes = [[[8, 16, 24, 48, 0.7, 2], [0, 0, 4, 4, 0.05, 0]]]
    model(os.path.join(d, "boxes.onnx"), [1, 64, 64, 3], boxes)
    model(os.path.join(d, "wrong.onnx"), [1, 64, 64, 3], [[[0] * 7, [0] * 7]])
    model(os.path.join(d, "twoinputs.onnx"), [1, 64, 64, 3], boxes, extra_input=True)


if __name__ == "__main__":
    main()
