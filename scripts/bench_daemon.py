#!/usr/bin/env python3
"""The daemon at scale: start-up to first answer, idle memory, query latency while indexing.

1. Fills a fresh data dir with N synthetic entries (random unit embeddings of the model's
   dimension, recorded as embedded by the shipped default model; their paths need not exist).
2. Starts `python -m bridge serve` (its folder, of real empty files, is reconciled at start) and measures the
   time from spawning the process to the first answered `/soundalike/similar` for an indexed
   entry (that needs no TensorFlow), and the process's resident memory once idle.
3. Adds a folder of M real two-second WAVs (`/soundalike/folder/add`) and, while the daemon
   indexes them, sends queries for indexed entries back to back, measuring the round trip.

    python scripts/bench_daemon.py --entries 100000 --index-files 300 [--model DIR] [--json]
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


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory (VmRSS) or its peak so far (VmHWM) of a process, in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Peer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))

    def ask(self, address, *args, until, timeout=5.0):
        self.sock.sendto(encode(address, *args), ("127.0.0.1", self.port))
        return receive(self.sock, lambda m: m.address in until, timeout)

    def status(self, timeout: float = 2.0):
        """``/soundalike/status`` as a tuple, or None when no answer came."""
        m = self.ask("/soundalike/status", until=("/soundalike/status",), timeout=timeout)
        return tuple(m.args) if m is not None else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--index-files", type=int, default=300)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--model", help="model directory (default: the shipped default)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from engine.model.registry import PACKAGED_DEFAULT, load_encoder, model_id_of
    from scripts.bench_light import fill

    model_dir = Path(args.model).resolve() if args.model else PACKAGED_DEFAULT
    model_id = model_id_of(model_dir)
    dim = load_encoder(model_dir).dim
    tmp = Path(tempfile.mkdtemp(prefix="soundalike-bench-daemon-"))
    data = tmp / "data"
    data.mkdir(mode=0o700)
    rng = np.random.default_rng(0)
    # the entries are real (empty) files in a watched folder: the daemon reconciles its
    # folders at start and never answers a path that does not exist
    lib_dir = tmp / "lib"
    t0 = time.perf_counter()
    fill(data, args.entries, model_dir, lib_dir)  # as scripts/bench_light.py fills
    fill_s = time.perf_counter() - t0

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, SOUNDALIKE_DATA_DIR=str(data), SOUNDALIKE_CONFIG=str(tmp / "no.toml"),
               XDG_STATE_HOME=str(tmp / "state"), PYTHONPATH=str(ROOT),
               SOUNDALIKE_MODEL=str(model_dir))
    peer = Peer(port)
    query = str(lib_dir / "0000042.wav")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "serve", "--osc-port", str(port)],
                            env=env, stderr=subprocess.DEVNULL)
    result = {"entries": args.entries, "dim": dim, "model_id": model_id,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    try:
        while True:
            m = peer.ask("/soundalike/similar", query, 10,
                         until=("/soundalike/results/end", "/soundalike/error"), timeout=0.2)
            if m is not None and m.address == "/soundalike/results/end" and m.args[1] == 10:
                break
            if proc.poll() is not None or time.perf_counter() - t0 > 120:
                raise SystemExit("the daemon did not answer")
        result["startup_to_first_answer_s"] = round(time.perf_counter() - t0, 2)
        time.sleep(5.0)  # the worker loads the model in the background; wait for idle
        result["idle_rss_mb"] = round(rss_mb(proc.pid), 1)

        folder = tmp / "new"
        folder.mkdir()
        t = np.arange(2 * 44_100) / 44_100
        for i in range(args.index_files):
            y = 0.5 * np.sin(2 * np.pi * (50 + 7 * i) * t) * np.exp(-t * (1 + i % 7))
            sf.write(str(folder / f"n{i:04d}.wav"), y.astype(np.float32), 44_100)
        m = peer.ask("/soundalike/folder/add", str(folder),
                     until=("/soundalike/folder/added", "/soundalike/error"), timeout=30)
        assert m is not None and m.address == "/soundalike/folder/added", m
        lat, t_index = [], time.perf_counter()
        while len(lat) < args.queries:
            q = str(lib_dir / f"{rng.integers(args.entries):07d}.wav")
            t1 = time.perf_counter()
            m = peer.ask("/soundalike/similar", q, 10, until=("/soundalike/results/end",))
            if m is not None:
                lat.append((time.perf_counter() - t1) * 1000)
            st = peer.ask("/soundalike/status", until=("/soundalike/status",))
            if st is not None and st.args[2] == "idle" and st.args[0] >= args.entries + \
                    args.index_files:
                break
        result["queries_while_indexing"] = len(lat)
        result["query_p50_ms_while_indexing"] = round(float(np.percentile(lat, 50)), 2)
        result["query_p99_ms_while_indexing"] = round(float(np.percentile(lat, 99)), 2)
        result["indexing_s"] = round(time.perf_counter() - t_index, 1)
        result["peak_rss_mb"] = round(rss_mb(proc.pid, "VmHWM"), 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    result["fill_s"] = round(fill_s, 1)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
