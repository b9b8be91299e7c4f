#!/usr/bin/env python3
"""Drop-to-answerable latency of the real daemon.

Starts `python -m bridge serve` on a temporary folder (the shipped default model unless
--model is given), waits until it is idle, then drops N two-second WAV files into the folder one
at a time, each written in 64 KiB chunks as a copy does, and measures the time from the start of
the copy until the daemon pushes `/soundalike/indexed` for it (from then on the file is in the
index and answerable). Waits for idle between drops, so this is latency at idle.

    python scripts/bench_watch.py --files 30 [--model DIR] [--json]
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

from bridge.client import receive as receive_message  # noqa: E402
from bridge.osc_wire import encode  # noqa: E402


def osc(sock, port, address, *args):
    sock.sendto(encode(address, *args), ("127.0.0.1", port))


def receive(sock, address, timeout):
    m = receive_message(sock, lambda m: m.address == address, timeout)
    return m.args if m is not None else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=30)
    ap.add_argument("--model", help="model directory (default: the shipped default)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="soundalike-bench-watch-"))
    folder, data = tmp / "samples", tmp / "data"
    folder.mkdir()
    src = tmp / "sources"
    src.mkdir()
    rng = np.random.default_rng(0)
    sr = 44_100
    t = np.arange(2 * sr) / sr
    for i in range(args.files):
        y = 0.5 * np.sin(2 * np.pi * (60 + 30 * i) * t) * np.exp(-t * rng.uniform(1, 8))
        sf.write(str(src / f"drop_{i:03d}.wav"), y.astype(np.float32), sr, subtype="PCM_24")

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, SOUNDALIKE_DATA_DIR=str(data),
               SOUNDALIKE_CONFIG=str(tmp / "none.toml"), XDG_STATE_HOME=str(tmp / "state"),
               PYTHONPATH=str(ROOT))
    if args.model:
        env["SOUNDALIKE_MODEL"] = os.path.abspath(args.model)
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "serve", str(folder),
                             "--osc-port", str(port)], env=env, stderr=subprocess.DEVNULL)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    latencies = []
    try:
        deadline = time.monotonic() + 120
        while True:  # wait for the daemon to answer and be idle with its model loaded
            osc(sock, port, "/soundalike/status")
            st = receive(sock, "/soundalike/status", 0.5)
            if st and st[2] == "idle":
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the daemon did not start")
        osc(sock, port, "/soundalike/subscribe", sock.getsockname()[1])
        receive(sock, "/soundalike/subscribed", 5)
        # wait until the model is loaded: a query for a file outside the index needs it
        probe_wav = tmp / "probe.wav"
        sf.write(str(probe_wav), (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
        osc(sock, port, "/soundalike/similar", str(probe_wav), 1)
        if receive(sock, "/soundalike/results/end", 120) is None:
            raise SystemExit("the daemon did not answer a query needing its model")
        for f in sorted(src.iterdir()):
            dest = folder / f.name
            payload = f.read_bytes()
            t0 = time.monotonic()
            with open(dest, "wb") as out:
                for i in range(0, len(payload), 65536):
                    out.write(payload[i:i + 65536])
                    out.flush()
            while True:
                got = receive(sock, "/soundalike/indexed", 10)
                if got is None:
                    raise SystemExit(f"no /soundalike/indexed push for {dest}")
                if got[0] == str(dest):
                    latencies.append((time.monotonic() - t0) * 1000)
                    break
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        sock.close()
    lat = np.array(latencies)
    result = {"files": len(lat), "p50_ms": round(float(np.percentile(lat, 50)), 1),
              "p95_ms": round(float(np.percentile(lat, 95)), 1),
              "max_ms": round(float(lat.max()), 1), "slowest_drop": int(lat.argmax()) + 1,
              "model": args.model or "shipped default",
              "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    print(json.dumps(result) if args.json else
          f"drop-to-indexed latency over {result['files']} files: p50 {result['p50_ms']} ms, "
          f"p95 {result['p95_ms']} ms, max {result['max_ms']} ms (drop {result['slowest_drop']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
