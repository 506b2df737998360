"""ONNX Runtime's own Python binding on the same model and input as `porchlight bench
objects`: the reference the detector's latency is compared with (BENCHMARKS.md).

Usage: ort_latency.py MODEL INPUT.f32 THREADS RUNS
INPUT.f32 is the model input `porchlight bench objects --dump-input` wrote (float32).
"""

import sys
import time

import numpy as np
import onnxruntime as ort

model, inp, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
o = ort.SessionOptions()
o.intra_op_num_threads = threads
o.inter_op_num_threads = 1
s = ort.InferenceSession(model, o, providers=["CPUExecutionProvider"])
i = s.get_inputs()[0]
x = np.fromfile(inp, dtype=np.float32).reshape(i.shape)
for _ in range(3):
    s.run(None, {i.name: x})
times = []
for _ in range(runs):
    t = time.perf_counter()
    s.run(None, {i.name: x})
    times.append((time.perf_counter() - t) * 1e3)
times.sort()
print(
    f"onnxruntime-python {ort.__version__}: {threads} thread(s): median {times[len(times) // 2]:.1f} ms, "
    f"mean {sum(times) / len(times):.1f} ms, p90 {times[len(times) * 9 // 10]:.1f} ms per run ({runs} runs, session.run only)"
)
