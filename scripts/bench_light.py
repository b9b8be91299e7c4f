#!/usr/bin/env python3
"""The light runtime end to end: what a user waits for when the model is needed.

1. Fills a fresh data dir with N synthetic entries (real empty files in a watched folder, with
   random unit embeddings recorded as embedded by the model), as scripts/bench_daemon.py does.
2. Starts `python -m bridge serve` on it and measures the time from spawning the process to the
   first answered `/soundalike/similar` for a real WAV *outside* the index (it must be decoded
   and embedded: the model is loaded for it), then the resident memory once idle, and which
   heavy modules the daemon imported (from /proc: mapped tensorflow/librosa/scipy files).
3. Runs `soundalike similar --local FILE` (a fresh process: imports, the index of N entries,
   the model, one embedding, one search) for a file outside the index, wall time end to end.

    python scripts/bench_light.py --entries 100000 --prebuild [--model DIR] [--runs 3] [--json]

Set SOUNDALIKE_RUNTIME=keras to measure the same with TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.client import receive  # noqa: E402
from bridge.osc_wire import encode  # noqa: E402

HEAVY = ("tensorflow", "keras", "librosa", "scipy", "numba", "llvmlite")


def status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def heavy_mapped(pid: int) -> list[str]:
    """Heavy packages whose files the process has mapped (shared objects, once imported)."""
    with open(f"/proc/{pid}/maps") as f:
        text = f.read()
    return sorted(name for name in HEAVY if f"/{name}/" in text or f"/{name}." in text)


def fill(data: Path, entries: int, model_dir: Path, lib_dir: Path) -> None:
    """``entries`` real (empty) files in a watched folder, recorded with random unit
    embeddings: the daemon reconciles its folders at start and never answers a path that does
    not exist (as scripts/bench_daemon.py does)."""
    from engine.catalog import Catalog
    from engine.index.store import FileStat
    from engine.model.registry import load_encoder, model_id_of, read_spec
    from engine.pipeline import Outcome

    spec = read_spec(model_dir)  # a model whose spec does not say its size is loaded (MFCC)
    model_id = model_id_of(model_dir)
    dim = int(spec["dim"]) if "dim" in spec else load_encoder(model_dir).dim
    rng = np.random.default_rng(0)
    lib_dir.mkdir()
    catalog = Catalog(data, model_id)
    catalog.add_root(str(lib_dir), "osc")
    for start in range(0, entries, 10_000):
        n = min(10_000, entries - start)
        vecs = rng.standard_normal((n, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        items = []
        for i, v in enumerate(vecs):
            p = lib_dir / f"{start + i:07d}.wav"
            p.touch()
            items.append(Outcome(FileStat(str(p), 0, p.stat().st_mtime_ns, f"{start + i}"),
                                 vector=v))
        catalog.record(items)
    catalog.close()


def prebuild(data: Path, model_dir: Path) -> float:
    """Build and save the approximate search index as the daemon's first start does in the
    background, so that the daemons measured start as every later start does."""
    from engine import Library

    t0 = time.perf_counter()
    lib = Library(data, model_dir=model_dir)
    lib.indexed_count()  # loads the index; the approximate one is built in the background ...
    while lib.catalog.building:
        time.sleep(0.2)
    lib.close()  # ... and saved when built
    return time.perf_counter() - t0


def daemon_run(env: dict, query: str) -> dict:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "serve", "--osc-port", str(port)],
                            env=env, stderr=subprocess.DEVNULL)
    out: dict = {}
    try:
        while True:  # until it listens (a cheap status), then one query that needs the model
            sock.sendto(encode("/soundalike/status"), ("127.0.0.1", port))
            if receive(sock, lambda m: m.address == "/soundalike/status", 0.05) is not None:
                break
            if proc.poll() is not None or time.perf_counter() - t0 > 120:
                raise SystemExit("the daemon did not answer")
        out["startup_to_listening_s"] = round(time.perf_counter() - t0, 2)
        sock.sendto(encode("/soundalike/similar", query, 10), ("127.0.0.1", port))
        m = receive(sock, lambda m: m.address in ("/soundalike/results/end",
                                                  "/soundalike/error"), 120)
        if m is None or m.address == "/soundalike/error":
            raise SystemExit(f"the daemon did not answer the query: {m and m.args}")
        out["startup_to_first_outside_answer_s"] = round(time.perf_counter() - t0, 2)
        time.sleep(5.0)  # idle: nothing to index
        out["idle_rss_mb"] = round(status_kb(proc.pid, "VmRSS") / 1024, 1)
        out["peak_rss_mb"] = round(status_kb(proc.pid, "VmHWM") / 1024, 1)
        out["heavy_modules_mapped"] = heavy_mapped(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        sock.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--model", help="model directory (default: the shipped default)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--prebuild", action="store_true",
                    help="build and save the approximate index first (as a first start does "
                         "in the background), so the daemons start as later starts do")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from engine.model.registry import PACKAGED_DEFAULT

    model_dir = Path(args.model).resolve() if args.model else PACKAGED_DEFAULT
    tmp = Path(tempfile.mkdtemp(prefix="soundalike-bench-light-"))
    data = tmp / "data"
    data.mkdir(mode=0o700)
    fill(data, args.entries, model_dir, tmp / "lib")
    build_s = prebuild(data, model_dir) if args.prebuild else None
    query = tmp / "outside" / "query.wav"
    query.parent.mkdir()
    t = np.arange(2 * 44_100) / 44_100
    sf.write(str(query), (0.5 * np.sin(2 * np.pi * 220 * t) * np.exp(-3 * t)).astype(np.float32),
             44_100, subtype="PCM_24")
    env = dict(os.environ, SOUNDALIKE_DATA_DIR=str(data), SOUNDALIKE_CONFIG=str(tmp / "no.toml"),
               XDG_STATE_HOME=str(tmp / "state"), PYTHONPATH=str(ROOT),
               SOUNDALIKE_MODEL=str(model_dir), TF_CPP_MIN_LOG_LEVEL="2")
    result: dict = {"entries": args.entries, "runtime": os.environ.get("SOUNDALIKE_RUNTIME",
                                                                        "auto"),
                    "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                               f"Python {platform.python_version()}"}
    if build_s is not None:
        result["prebuild_s"] = round(build_s, 1)
    daemons = [daemon_run(env, str(query)) for _ in range(args.runs)]
    result["daemon"] = daemons
    local = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "bridge", "similar", "--local", str(query),
                               "-n", "10", "--json"], env=env, capture_output=True, text=True)
        local.append(round(time.perf_counter() - t0, 2))
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-2000:])
        assert len(json.loads(proc.stdout)["results"]) == 10
    result["similar_local_s"] = local
    result["load_average"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
