#!/usr/bin/env python3
"""LiteRT against ONNX Runtime on the shipped timbre network: import time, load, memory,
latency per batch (docs/benchmarks.md, "Inference runtime").

Measures one runtime per call, in the Python it runs under, so each can be measured in a venv
holding only numpy and that runtime (what a light install would hold):

    python3 -m venv /tmp/v_ort && /tmp/v_ort/bin/pip install onnxruntime numpy
    python3 -m venv /tmp/v_lite && /tmp/v_lite/bin/pip install ai-edge-litert numpy
    python3 scripts/bench_runtime.py --export-tflite /tmp/timbre.tflite   # needs TensorFlow
    /tmp/v_ort/bin/python scripts/bench_runtime.py onnx engine/models/default/timbre.onnx
    /tmp/v_lite/bin/python scripts/bench_runtime.py litert /tmp/timbre.tflite

Each prints one JSON line.  Sizes: ``du -sm`` of the venvs' site-packages.
"""
import json
import os
import resource
import sys
import time


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def export_tflite(path: str) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["SOUNDALIKE_RUNTIME"] = "keras"
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import tensorflow as tf

    from engine.model.registry import PACKAGED_DEFAULT, load_encoder

    net = load_encoder(PACKAGED_DEFAULT)._net
    data = tf.lite.TFLiteConverter.from_keras_model(net).convert()
    with open(path, "wb") as f:
        f.write(data)
    print(json.dumps({"tflite": path, "bytes": len(data)}))


def main() -> int:
    if sys.argv[1] == "--export-tflite":
        export_tflite(sys.argv[2])
        return 0
    which, path = sys.argv[1], sys.argv[2]
    import numpy as np

    base = rss_mb()
    t1 = time.perf_counter()
    if which == "onnx":
        import onnxruntime as ort

        t_imp = time.perf_counter() - t1
        o = ort.SessionOptions()
        o.intra_op_num_threads, o.inter_op_num_threads = 1, 1
        o.enable_cpu_mem_arena = False
        s = ort.InferenceSession(path, sess_options=o, providers=["CPUExecutionProvider"])
        name = s.get_inputs()[0].name

        def run(x):
            return s.run(None, {name: x})[0]
    else:
        from ai_edge_litert.interpreter import Interpreter

        t_imp = time.perf_counter() - t1
        it = Interpreter(model_path=path, num_threads=1)
        inp = it.get_input_details()[0]["index"]
        out = it.get_output_details()[0]["index"]
        shape = [None]

        def run(x):
            if shape[0] != x.shape:
                it.resize_tensor_input(inp, x.shape)
                it.allocate_tensors()
                shape[0] = x.shape
            it.set_tensor(inp, x)
            it.invoke()
            return it.get_tensor(out).copy()
    res = {"runtime": which, "import_s": round(t_imp, 3),
           "import_and_load_s": round(time.perf_counter() - t1, 3), "rss_before_mb": round(base, 1)}
    rng = np.random.default_rng(0)
    run(rng.random((1, 64, 128, 1), dtype=np.float32))
    res["rss_loaded_mb"] = round(rss_mb(), 1)
    for n in (1, 64):
        x = rng.random((n, 64, 128, 1), dtype=np.float32)
        run(x)
        ts = []
        for _ in range(7 if n == 64 else 50):
            a = time.perf_counter()
            run(x)
            ts.append(time.perf_counter() - a)
        res[f"batch{n}_ms_median"] = round(1000 * float(np.median(ts)), 2)
    res["rss_after_batches_mb"] = round(rss_mb(), 1)
    res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    res["load_average"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
