"""OSC round-trip latency of similarity queries at 10,000 indexed entries.

A throwaway data dir gets a few real tiny WAVs (indexed with the MFCC encoder: they are the
query files) plus synthetic embeddings (random unit vectors stored through
the catalog under the MFCC model id, for real empty files: the daemon never answers a path
that does not exist) up to ``--entries``.  A real OscServer on
127.0.0.1 answers a raw UDP client; one round trip = sending ``/soundalike/similar ,si path 10``
until ``/soundalike/results/end`` arrives (12 datagrams back).

    python scripts/bench_osc.py [--entries 10000] [--queries 1000] [--write docs/benchmarks.md]
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.backend import DaemonBackend  # noqa: E402
from bridge.osc_wire import Message, decode, encode  # noqa: E402
from bridge.server import OscServer  # noqa: E402
from engine import Library  # noqa: E402
from engine.index.store import FileStat  # noqa: E402
from engine.indexer import Indexer  # noqa: E402
from engine.pipeline import Outcome  # noqa: E402
from engine.model.mfcc import MfccEncoder  # noqa: E402

SR = 22_050


def make_wavs(folder: Path, n: int) -> list[Path]:
    import soundfile as sf

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    t = np.arange(SR // 2) / SR
    out = []
    for i in range(n):
        y = np.sin(2 * np.pi * (110 + 37 * i) * t) * np.exp(-3 * t)
        y += 0.05 * rng.standard_normal(t.size)
        p = folder / f"q{i:03d}.wav"
        sf.write(str(p), (0.5 * y).astype(np.float32), SR, subtype="PCM_16")
        out.append(p)
    return out


def fill(lib: Library, folder: Path, count: int, dim: int) -> None:
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    lib.catalog.add_root(str(folder), "osc")
    batch = 1000
    for start in range(0, count, batch):
        n = min(batch, count - start)
        vecs = rng.standard_normal((n, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        items = []
        for i in range(n):
            p = folder / f"{start + i:06d}.wav"
            p.touch()
            items.append(Outcome(FileStat(str(p), 0, p.stat().st_mtime_ns, f"fp{start + i}"),
                                 vector=vecs[i]))
        lib.catalog.record(items)


def round_trips(sock: socket.socket, server, paths: list[str], n: int, k: int) -> np.ndarray:
    times = []
    for i in range(n):
        path = paths[i % len(paths)]
        t0 = time.perf_counter()
        sock.sendto(encode("/soundalike/similar", path, k), server)
        while True:
            data, _ = sock.recvfrom(65535)
            (m,) = decode(data)
            if isinstance(m, Message) and m.address == "/soundalike/error":
                raise SystemExit(f"error: {m.args}")
            if m.address == "/soundalike/results/end" and m.args[0] == path:
                break
        times.append(time.perf_counter() - t0)
    return np.array(times) * 1000.0


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} logical CPUs visible, Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}")


def write_section(path: Path, text: str) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    section = "## OSC round trip\n\n" + text.strip() + "\n"
    pattern = re.compile(r"^## OSC round trip\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: section + "\n", old).rstrip() + "\n"
    else:
        new = old.rstrip() + "\n\n" + section
    path.write_text(new, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--outside", type=int, default=100, help="queries for unindexed files")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--write", type=Path, help="update the '## OSC round trip' section here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        encoder = MfccEncoder()
        lib = Library(tmp / "data", encoder=encoder)
        queries = make_wavs(tmp / "samples", 20)
        outside = make_wavs(tmp / "outside", 5)
        lib.index([str(tmp / "samples")])
        fill(lib, tmp / "synthetic", args.entries - len(queries), encoder.dim)
        backend = DaemonBackend(lib, Indexer(lib))  # answers queries; nothing to index
        total = backend.status()["indexed"]
        with OscServer(backend, port=0) as srv, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(30)
            qpaths = [str(p) for p in queries]
            round_trips(sock, srv.address, qpaths, 50, args.k)  # warm up (index load, caches)
            indexed = round_trips(sock, srv.address, qpaths, args.queries, args.k)
            unindexed = round_trips(sock, srv.address, [str(p) for p in outside],
                                    args.outside, args.k)
        lib.close()

    def row(name, ms):
        return (f"| {name} | {len(ms)} | {np.percentile(ms, 50):.2f} | "
                f"{np.percentile(ms, 99):.2f} | {ms.max():.2f} |")

    report = "\n".join([
        f"Machine: {machine()}.",
        "",
        f"Command: `python scripts/bench_osc.py --entries {args.entries} --queries "
        f"{args.queries} --outside {args.outside}` (exact search, MFCC encoder, k = {args.k}; "
        f"one round trip = `/soundalike/similar ,si path {args.k}` sent until "
        f"`/soundalike/results/end` is received: {args.k + 2} reply datagrams; one client, "
        "one request at a time, over 127.0.0.1).",
        "",
        f"Indexed entries: {total}.",
        "",
        "| query | n | p50 ms | p99 ms | max ms |",
        "| --- | --- | --- | --- | --- |",
        row("indexed file (fast lane: no embedding)", indexed),
        row("file outside the index (decoded and embedded first)", unindexed),
        "",
        "The p99 includes scheduling noise from whatever else runs on the machine (this one was "
        "shared with other jobs); the p50 is the protocol's own cost.",
    ])
    print(report)
    if args.write:
        write_section(args.write, report)


if __name__ == "__main__":
    main()
