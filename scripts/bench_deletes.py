#!/usr/bin/env python3
"""Mass deletes and moves in a watched folder: how long until the daemon's index reflects them.

1. Fills a fresh data dir with N synthetic entries (real empty files in a watched folder, with
   random unit embeddings recorded as embedded by the model), as scripts/bench_daemon.py does;
   the default model is the fast MFCC encoder, so the setup embeds nothing.
2. Starts `python -m bridge serve` on it and waits until it is idle with N files indexed.
3. Moves M files into a subfolder one by one (``os.rename``, as a file manager does), and
   measures the time until the index database holds every one under its new name (read
   directly: a query would report the old names as dead and race the moves).
4. Deletes K files one by one (``os.unlink``, as ``rm`` does) and measures the time from the
   first delete until `/soundalike/status` counts N - K indexed files.

    python scripts/bench_deletes.py --entries 20000 --delete 19000 --move 1000 [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench_daemon import Peer  # noqa: E402  (the same client as bench_daemon)
from scripts.bench_light import fill  # noqa: E402  (the same fill as the other benchmarks)


def wait(cond, timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll ``cond`` until true; the monotonic time it first was."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(interval)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=20_000)
    ap.add_argument("--delete", type=int, default=19_000)
    ap.add_argument("--move", type=int, default=1_000)
    ap.add_argument("--model", help="model directory (default: the MFCC encoder, saved here)")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.delete + args.move > args.entries:
        raise SystemExit("--delete plus --move must not exceed --entries")

    from engine.model.mfcc import MfccEncoder

    tmp = Path(tempfile.mkdtemp(prefix="soundalike-bench-deletes-"))
    if args.model:
        model_dir = Path(args.model).resolve()
    else:
        model_dir = tmp / "mfcc"
        MfccEncoder().save(model_dir)
    data, lib_dir = tmp / "data", tmp / "lib"
    data.mkdir(mode=0o700)
    fill(data, args.entries, model_dir, lib_dir)

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, SOUNDALIKE_DATA_DIR=str(data), SOUNDALIKE_CONFIG=str(tmp / "no.toml"),
               XDG_STATE_HOME=str(tmp / "state"), PYTHONPATH=str(ROOT),
               SOUNDALIKE_MODEL=str(model_dir))
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "serve", "--osc-port", str(port)],
                            env=env, stderr=subprocess.DEVNULL)
    peer = Peer(port)
    result = {"entries": args.entries, "deleted": args.delete, "moved": args.move,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    n = args.entries
    try:
        wait(lambda: (st := peer.status()) is not None and st[0] == n and st[2] == "idle",
             120, "the daemon to be idle")
        files = sorted(lib_dir.iterdir())
        if args.move:
            sub = lib_dir / "moved"
            sub.mkdir()
            wait(lambda: (st := peer.status()) is not None and st[2] == "idle", 60, "idle")
            moving = files[:args.move]
            t0 = time.monotonic()
            for p in moving:
                os.rename(p, sub / p.name)
            result["move_issue_s"] = round(time.monotonic() - t0, 2)
            db = sqlite3.connect(f"file:{data / 'index.sqlite'}?mode=ro", uri=True)
            prefix = str(sub) + os.sep

            def moved() -> bool:  # every move committed (the search index follows at once)
                (count,), = db.execute("SELECT COUNT(*) FROM files WHERE path >= ? AND "
                                       "path < ?", (prefix, prefix[:-1] + "0")).fetchall()
                return count == len(moving)

            t1 = wait(moved, args.timeout, "the moves to reach the index")
            db.close()
            result["move_to_index_s"] = round(t1 - t0, 2)
            wait(lambda: (st := peer.status()) is not None and st[0] == n and st[2] == "idle",
                 args.timeout, "idle after the moves")
            files = files[args.move:]
        t0 = time.monotonic()
        for p in files[:args.delete]:
            os.unlink(p)
        result["delete_issue_s"] = round(time.monotonic() - t0, 2)
        t1 = wait(lambda: (st := peer.status()) is not None and st[0] == n - args.delete,
                  args.timeout, "the deletes to reach the index", interval=0.1)
        result["delete_to_index_s"] = round(t1 - t0, 2)
        st = peer.status()
        result["indexed_after"] = st[0] if st else None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
