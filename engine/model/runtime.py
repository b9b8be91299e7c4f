"""Running an exported network without TensorFlow: ONNX Runtime (``onnxruntime``).

Chosen over LiteRT by measurement (docs/benchmarks.md, "Inference runtime"): a smaller
install, less memory, and faster on batches of this network.  Which runtime a model uses is
the model loader's business (:func:`engine.model.contrastive.load`); ``SOUNDALIKE_RUNTIME``
(``auto``, ``onnx`` or ``keras``, read when a model is loaded) overrides it, e.g. to compare
against Keras.
"""
from __future__ import annotations

import os

import numpy as np

#: environment variable choosing the inference runtime: auto (the default), onnx, keras
RUNTIME_ENV = "SOUNDALIKE_RUNTIME"
RUNTIMES = ("auto", "onnx", "keras")
#: threads for one network call: the network is light (about 1 ms a file for three members),
#: so one core runs it while the others decode and compute features beside it
INFERENCE_THREADS = 1


def chosen_runtime() -> str:
    """The runtime ``SOUNDALIKE_RUNTIME`` asks for (``auto`` when unset or empty)."""
    value = os.environ.get(RUNTIME_ENV, "").strip().lower() or "auto"
    if value not in RUNTIMES:
        raise ValueError(f"{RUNTIME_ENV}={value!r}: use one of {', '.join(RUNTIMES)}")
    return value


def onnxruntime_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def import_before_usearch() -> None:
    """Import onnxruntime's extension if it is installed and not imported yet.

    Call it before importing usearch: with usearch 2.26 and onnxruntime 1.32 on Linux x86_64,
    importing onnxruntime *after* ``usearch.compiled`` crashes the process (a segmentation
    fault inside the extension's initialisation, every time), while the other order works.
    The daemon loads the search index (usearch) before the model, so the search index calls
    this first."""
    import sys

    if "onnxruntime" in sys.modules or not onnxruntime_available():
        return
    try:
        import onnxruntime  # noqa: F401
    except ImportError:  # pragma: no cover - a broken install: the model loader says so
        pass


class OnnxNetwork:
    """One ONNX graph with a single float32 input and output, run by onnxruntime."""

    def __init__(self, model: str | os.PathLike | bytes, *,
                 threads: int = INFERENCE_THREADS) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        # the memory arena keeps the largest batch's buffers for good: without it the idle
        # daemon gives them back
        opts.enable_cpu_mem_arena = False
        src = model if isinstance(model, bytes) else os.fspath(model)
        self._session = ort.InferenceSession(src, sess_options=opts,
                                             providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        return self._session.run([self._output], {self._input: x})[0]

    def close(self) -> None:
        self._session = None
