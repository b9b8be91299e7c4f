"""Search benchmark: build time, query latency, recall@10 and memory of a vector index.

Synthetic, clustered embeddings (a mixture of a few thousand Gaussian clusters with Zipf-like
sizes, each point L2-normalised), queries drawn from the same mixture but not indexed; recall@10
is measured against exact brute-force search on the same data.  Prints exactly one JSON line:

    {"items", "dim", "bytes_per_item", "build_s", "p50_ms", "p99_ms", "recall_at_10", ...}

``bytes_per_item`` is the growth of the process's resident memory (VmRSS) while the index is
built, divided by the number of items (the data set and the ground truth are already resident
before the build starts); ``lib_bytes_per_item`` is the library's own account where it has one.

Backends: ``soundalike`` (the shipped ``engine.index.ann.ApproxIndex``), ``auto`` (the shipped
``make_index`` factory), ``exact`` (``ExactIndex``), and the raw libraries for the comparison:
``hnswlib``, ``faiss-hnsw``, ``faiss-hnsw-sq8``, ``faiss-hnsw-fp16``, ``usearch-f32``,
``usearch-f16``, ``usearch-i8``.

    nice -n 10 python scripts/bench_search.py --items 100000 --queries 1000 --json
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_bytes() -> int:
    """Resident memory after handing freed heap pages back to the OS (glibc ``malloc_trim``)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def clustered(n: int, dim: int, *, clusters: int, rng: np.random.Generator,
              centers: np.ndarray | None = None, spread: float = 0.8,
              chunk: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors ((n, dim) float32) from a mixture of ``clusters`` Gaussians.

    Cluster sizes follow a Zipf-like law (a few big families of sounds, many small ones); the
    noise has norm about ``spread`` relative to the unit-norm centre.
    """
    if centers is None:
        centers = rng.standard_normal((clusters, dim)).astype(np.float32)
        centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    p = 1.0 / np.arange(1, clusters + 1) ** 0.7
    p /= p.sum()
    out = np.empty((n, dim), dtype=np.float32)
    sigma = spread / np.sqrt(dim)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        which = rng.choice(clusters, size=m, p=p)
        # each cluster has its own width, so some families are tight and some loose
        width = (0.5 + (which % 7) / 6.0).astype(np.float32)[:, None]
        x = centers[which] + rng.standard_normal((m, dim)).astype(np.float32) * (sigma * width)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start:start + m] = x
    return out, centers


def exact_top_k(data: np.ndarray, queries: np.ndarray, k: int, *, block: int = 64) -> np.ndarray:
    """Row indices of the exact top-``k`` inner products for each query, (q, k)."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for s in range(0, len(queries), block):
        sc = queries[s:s + block] @ data.T
        part = np.argpartition(-sc, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sc, part, axis=1), axis=1)
        out[s:s + block] = np.take_along_axis(part, order, axis=1)
    return out


DEFAULT_EF = 64    # raw-library backends when --ef is not given

# ----------------------------------------------------------------------------- backends
class Backend:
    lib_bytes: int | None = None
    default_ef: int = 64

    def build(self, keys: np.ndarray, data: np.ndarray) -> None: ...
    def query(self, q: np.ndarray, k: int) -> np.ndarray: ...
    def save(self, path: str) -> None: raise NotImplementedError
    def load(self, path: str) -> None: raise NotImplementedError
    def remove(self, keys: np.ndarray) -> None: raise NotImplementedError
    def set_ef(self, ef: int) -> None: raise NotImplementedError


class Soundalike(Backend):
    def __init__(self, dim, a):
        from engine.index.ann import ApproxIndex
        self.cls = ApproxIndex
        self.kw = {k: v for k, v in dict(dtype=a.dtype, connectivity=a.m,
                                         expansion_add=a.ef_construction,
                                         expansion_search=a.ef, threads=a.threads).items()
                   if v is not None}
        self.idx = ApproxIndex(dim, **self.kw)
        self.default_ef = self.idx.expansion_search

    def build(self, keys, data):
        self.idx.add(keys, data)
        self.lib_bytes = self.idx.memory_usage()

    def query(self, q, k):
        return self.idx.search(q, k)[0]

    def save(self, path):
        self.idx.save(path)

    def load(self, path):
        self.idx = self.cls.load(path, **{k: v for k, v in self.kw.items() if k == "threads"})

    def remove(self, keys):
        self.idx.remove(keys)

    def set_ef(self, ef):
        self.idx.expansion_search = ef


class Auto(Soundalike):
    def __init__(self, dim, a):
        from engine.index.auto import AutoIndex
        self.cls = AutoIndex
        self.kw = dict(threads=a.threads)
        self.idx = AutoIndex(dim, **self.kw)
        self.default_ef = None

    def build(self, keys, data):
        self.idx.add(keys, data)


class Exact(Backend):
    def __init__(self, dim, a):
        from engine.index.search import ExactIndex
        self.idx = ExactIndex(dim)

    def build(self, keys, data):
        self.idx.add(keys, data)

    def query(self, q, k):
        return self.idx.search(q, k)[0]

    def remove(self, keys):
        self.idx.remove(keys)


class Hnswlib(Backend):
    def __init__(self, dim, a):
        import hnswlib
        self.h, self.dim, self.a = hnswlib, dim, a

    def build(self, keys, data):
        a = self.a
        self.idx = self.h.Index(space="ip", dim=self.dim)
        self.idx.init_index(max_elements=len(keys), M=a.m, ef_construction=a.ef_construction,
                            allow_replace_deleted=True)
        self.idx.set_num_threads(a.threads)
        self.idx.add_items(data, keys)
        self.idx.set_ef(a.ef)
        self.idx.set_num_threads(1)

    def query(self, q, k):
        return self.idx.knn_query(q, k=k)[0][0]

    def save(self, path):
        self.idx.save_index(path)

    def load(self, path):
        self.idx = self.h.Index(space="ip", dim=self.dim)
        self.idx.load_index(path, allow_replace_deleted=True)
        self.idx.set_ef(self.a.ef)
        self.idx.set_num_threads(1)

    def remove(self, keys):
        for key in keys.tolist():
            self.idx.mark_deleted(key)

    def set_ef(self, ef):
        self.idx.set_ef(ef)


class Faiss(Backend):
    def __init__(self, dim, a, kind):
        import faiss
        self.f, self.dim, self.a, self.kind = faiss, dim, a, kind

    def build(self, keys, data):
        f, a = self.f, self.a
        f.omp_set_num_threads(a.threads)
        if self.kind == "flat":
            base = f.IndexHNSWFlat(self.dim, a.m, f.METRIC_INNER_PRODUCT)
        else:
            qt = f.ScalarQuantizer.QT_8bit if self.kind == "sq8" else f.ScalarQuantizer.QT_fp16
            base = f.IndexHNSWSQ(self.dim, qt, a.m, f.METRIC_INNER_PRODUCT)
            base.train(data[: min(len(data), 100_000)])
        base.hnsw.efConstruction = a.ef_construction
        self.idx = f.IndexIDMap(base)
        self.idx.add_with_ids(data, keys)
        self._tune()

    def _tune(self):
        self.set_ef(self.a.ef)
        self.f.omp_set_num_threads(1)

    def set_ef(self, ef):
        self.f.downcast_index(self.idx.index).hnsw.efSearch = ef

    def query(self, q, k):
        return self.idx.search(q[None, :], k)[1][0]

    def save(self, path):
        self.f.write_index(self.idx, path)

    def load(self, path):
        self.idx = self.f.read_index(path)
        self._tune()

    def remove(self, keys):  # HNSW in faiss has no removal: this raises
        self.idx.remove_ids(keys)


class Usearch(Backend):
    def __init__(self, dim, a, dtype):
        from usearch.index import Index
        self.I, self.dim, self.a, self.dtype = Index, dim, a, dtype

    def build(self, keys, data):
        a = self.a
        self.idx = self.I(ndim=self.dim, metric="ip", dtype=self.dtype, connectivity=a.m,
                          expansion_add=a.ef_construction, expansion_search=a.ef)
        self.idx.add(keys.astype(np.uint64), data, threads=a.threads)
        self.lib_bytes = self.idx.memory_usage

    def query(self, q, k):
        return self.idx.search(q, k, threads=1).keys

    def save(self, path):
        self.idx.save(path)

    def load(self, path):
        self.idx = self.I.restore(path)
        self.idx.expansion_search = self.a.ef

    def remove(self, keys):
        self.idx.remove(keys.astype(np.uint64))

    def set_ef(self, ef):
        self.idx.expansion_search = ef


def make_backend(name: str, dim: int, a) -> Backend:
    table = {
        "soundalike": lambda: Soundalike(dim, a),
        "auto": lambda: Auto(dim, a),
        "exact": lambda: Exact(dim, a),
        "hnswlib": lambda: Hnswlib(dim, a),
        "faiss-hnsw": lambda: Faiss(dim, a, "flat"),
        "faiss-hnsw-sq8": lambda: Faiss(dim, a, "sq8"),
        "faiss-hnsw-fp16": lambda: Faiss(dim, a, "fp16"),
        "usearch-f32": lambda: Usearch(dim, a, "f32"),
        "usearch-f16": lambda: Usearch(dim, a, "f16"),
        "usearch-i8": lambda: Usearch(dim, a, "i8"),
    }
    if name not in table:
        raise SystemExit(f"unknown backend {name!r}; choose from {', '.join(table)}")
    return table[name]()


def recall(found: list[np.ndarray], truth: np.ndarray, k: int) -> float:
    hits = sum(len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth))
    return hits / (k * len(truth))


def shipped_dim() -> int:
    """The shipped default model's embedding dimension (from its encoder.json, no TensorFlow)."""
    import json

    from engine.model.registry import PACKAGED_DEFAULT

    spec = json.loads((PACKAGED_DEFAULT / "encoder.json").read_text(encoding="utf-8"))
    return int(spec.get("dim", 128))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=shipped_dim(),
                    help="embedding dimension (default: the shipped default model's)")
    ap.add_argument("--backend", default="soundalike")
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--m", type=int, default=None,
                    help="graph degree (M / connectivity); default 16, or the shipped value")
    ap.add_argument("--ef-construction", type=int, default=None,
                    help="default 128, or the shipped value")
    ap.add_argument("--ef", type=int, default=None,
                    help="search beam width (efSearch); default: the backend's shipped value")
    ap.add_argument("--sweep", default="",
                    help="comma-separated extra efSearch values, reported under 'sweep'")
    ap.add_argument("--weighted-sweep", default="",
                    help="comma-separated weighted_ef values (soundalike), under 'weighted_sweep'")
    ap.add_argument("--dtype", default=None, help="storage for soundalike: f32, f16, i8")
    ap.add_argument("--threads", type=int, default=2, help="build threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-persist", action="store_true", help="skip save/load/remove timing")
    ap.add_argument("--json", action="store_true", help="print one JSON line (the default)")
    a = ap.parse_args(argv)

    if a.backend not in ("soundalike", "auto"):    # the raw libraries: fixed comparison settings
        a.m = a.m or 16
        a.ef_construction = a.ef_construction or 128
        a.ef = a.ef or DEFAULT_EF
    k = 10
    rng = np.random.default_rng(a.seed)
    data, centers = clustered(a.items, a.dim, clusters=a.clusters, rng=rng)
    queries, _ = clustered(a.queries, a.dim, clusters=a.clusters, rng=rng, centers=centers)
    keys = np.arange(a.items, dtype=np.int64) * 3 + 7          # store row ids, not 0..n-1
    t = time.perf_counter()
    truth = keys[exact_top_k(data, queries, k)]
    truth_s = time.perf_counter() - t

    backend = make_backend(a.backend, a.dim, a)
    gc.collect()
    rss0 = rss_bytes()
    t = time.perf_counter()
    backend.build(keys, data)
    build_s = time.perf_counter() - t
    gc.collect()
    rss1 = rss_bytes()

    def timed() -> tuple[float, float, float]:
        for q in queries[: min(50, len(queries))]:              # warm caches
            backend.query(q, k)
        found, lat = [], np.empty(len(queries))
        for i, q in enumerate(queries):
            t = time.perf_counter()
            found.append(np.asarray(backend.query(q, k)))
            lat[i] = time.perf_counter() - t
        return (float(np.percentile(lat, 50)) * 1e3, float(np.percentile(lat, 99)) * 1e3,
                recall(found, truth, k))

    sweep = []
    for ef in [int(x) for x in a.sweep.split(",") if x]:
        backend.set_ef(ef)
        p50, p99, rec = timed()
        sweep.append({"ef": ef, "p50_ms": round(p50, 3), "p99_ms": round(p99, 3),
                      "recall_at_10": round(rec, 4)})
    if a.ef is not None or sweep:
        try:
            backend.set_ef(a.ef if a.ef is not None else backend.default_ef)
        except NotImplementedError:
            pass
    p50, p99, rec = timed()

    weighted = {}
    if a.backend in ("soundalike", "auto", "exact"):
        # aspect weights: four blocks of dimensions weighted 1, 0.25, 2 and 0 (one aspect off)
        w = np.repeat(np.array([1.0, 0.25, 2.0, 0.0], dtype=np.float32), -(-a.dim // 4))[:a.dim]
        wtruth = keys[exact_top_k(data, queries * w, k)]

        def wtimed() -> tuple[float, float, float]:
            wfound, wlat = [], np.empty(len(queries))
            for i, q in enumerate(queries):
                t = time.perf_counter()
                wfound.append(np.asarray(backend.idx.search(q, k, weights=w)[0]))
                wlat[i] = time.perf_counter() - t
            return (float(np.percentile(wlat, 50)) * 1e3, float(np.percentile(wlat, 99)) * 1e3,
                    recall(wfound, wtruth, k))

        wsweep = []
        inner = getattr(backend.idx, "impl", backend.idx)
        for wef in [int(x) for x in a.weighted_sweep.split(",") if x]:
            shipped, inner.weighted_ef = inner.weighted_ef, wef
            p50w, p99w, recw = wtimed()
            inner.weighted_ef = shipped
            wsweep.append({"weighted_ef": wef, "p50_ms": round(p50w, 3), "p99_ms": round(p99w, 3),
                           "recall_at_10": round(recw, 4)})
        p50w, p99w, recw = wtimed()
        weighted = {"weighted_p50_ms": round(p50w, 3), "weighted_p99_ms": round(p99w, 3),
                    "weighted_recall_at_10": round(recw, 4)}
        if wsweep:
            weighted["weighted_sweep"] = wsweep
    out = {
        "items": a.items, "dim": a.dim,
        "bytes_per_item": round((rss1 - rss0) / a.items, 1),
        "build_s": round(build_s, 2),
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "recall_at_10": round(rec, 4),
        "bytes_method": "rss_delta",
        "lib_bytes_per_item": (round(backend.lib_bytes / a.items, 1)
                               if backend.lib_bytes else None),
        "backend": a.backend, "queries": a.queries, "m": a.m,
        "ef_construction": a.ef_construction, "ef": a.ef, "build_threads": a.threads,
        "truth_s": round(truth_s, 2),
    }
    out.update(weighted)
    if sweep:
        out["sweep"] = sweep
    if a.backend == "soundalike":
        out["dtype"] = backend.idx.dtype
        out.update(m=backend.idx.connectivity, ef_construction=backend.idx.expansion_add,
                   ef=backend.idx.expansion_search)
    if not a.no_persist:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "index.bin")
            try:
                t = time.perf_counter()
                backend.save(path)
                out["save_s"] = round(time.perf_counter() - t, 3)
                out["file_bytes_per_item"] = round(os.path.getsize(path) / a.items, 1)
                del backend.idx
                gc.collect()
                t = time.perf_counter()
                backend.load(path)
                backend.query(queries[0], k)
                out["load_s"] = round(time.perf_counter() - t, 3)
            except NotImplementedError:
                pass
        gone = keys[:: 100]                                    # 1 % churn
        try:
            t = time.perf_counter()
            backend.remove(gone)
            out["remove_us_per_item"] = round((time.perf_counter() - t) / len(gone) * 1e6, 2)
            gone_set = set(gone.tolist())
            leaked = sum(len(gone_set & set(np.asarray(backend.query(q, k)).tolist()))
                         for q in queries[:200])
            out["removed_returned"] = leaked
        except (NotImplementedError, RuntimeError) as e:
            out["remove_error"] = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
