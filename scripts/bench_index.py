#!/usr/bin/env python3
"""End-to-end indexing speed and peak memory: the shipped default against the original design.

Writes N two-second one-shots (44.1 kHz 24-bit WAV, so decoding includes resampling), then for
each pipeline runs `Library.index` (decode, resample, features, encoder, store: exactly what
`soundalike index` does) in a fresh subprocess with its own data dir, and reports files/s and the
subprocess's peak resident memory (VmHWM). The original pipeline is the ORIGIN.md autoencoder
on 256x256 mel images (untrained weights: speed does not depend on them), on TensorFlow (the
train extra); the default runs on ONNX Runtime.

    python scripts/bench_index.py --files 400 [--model DIR] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


#: as `soundalike` runs (bridge.cli.single_threaded_blas), for both pipelines alike
BLAS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def worker(model_dir: str, folder: str, data_dir: str) -> None:
    """Index ``folder`` with ``model_dir``; print one JSON line."""
    from engine import Library

    lib = Library(data_dir, model_dir=model_dir)
    t0 = time.perf_counter()
    lib.warm_up()  # start-up, not indexing: the model (and its runtime), filter banks
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    summary = lib.index([folder])
    elapsed = time.perf_counter() - t0
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    print(json.dumps({"files": summary.indexed, "failed": summary.failed,
                      "seconds": round(elapsed, 2),
                      "files_per_s": round(summary.indexed / elapsed, 1),
                      "model_load_s": round(load_s, 2), "peak_rss_mb": round(hwm / 1024, 1),
                      "model_id": lib.model_id}))


def make_files(folder: Path, n: int) -> None:
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    sr = 44_100
    t = np.arange(2 * sr) / sr
    for i in range(n):
        kind = i % 3
        if kind == 0:  # tonal note
            y = np.sin(2 * np.pi * rng.uniform(60, 1000) * t) * np.exp(-t * rng.uniform(0.5, 6))
        elif kind == 1:  # noisy hit
            y = rng.standard_normal(t.size) * np.exp(-t * rng.uniform(5, 40))
        else:  # kick-like sweep
            f = 50 * (1 + 3 * np.exp(-t * 30))
            y = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t * 5)
        sf.write(str(folder / f"s{i:05d}.wav"), (0.5 * y).astype(np.float32), sr,
                 subtype="PCM_24")


def run(model_dir: Path, folder: Path, data_dir: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", str(model_dir), str(folder),
                           str(data_dir)], capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **BLAS))
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:5])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--model", help="model directory (default: the shipped default)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from engine.model.registry import PACKAGED_DEFAULT

    tmp = Path(tempfile.mkdtemp(prefix="soundalike-bench-index-"))
    folder = tmp / "samples"
    folder.mkdir()
    make_files(folder, args.files)

    original = tmp / "original-model"
    subprocess.run([sys.executable, "-c",
                    "import sys; sys.path.insert(0, %r)\n"
                    "from engine.model.autoencoder import build_autoencoder, AutoencoderEncoder\n"
                    "ae, enc = build_autoencoder()\n"
                    "AutoencoderEncoder(ae, enc).save(%r)" % (str(ROOT), str(original))],
                   check=True, capture_output=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    default = Path(args.model).resolve() if args.model else PACKAGED_DEFAULT
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                         f"{platform.python_implementation()} {platform.python_version()}",
              "files": args.files}
    result["original"] = run(original, folder, tmp / "data-original")
    result["default"] = run(default, folder, tmp / "data-default")
    result["speedup"] = round(result["default"]["files_per_s"] /
                              result["original"]["files_per_s"], 2)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
