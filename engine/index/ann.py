"""Approximate cosine search (an HNSW graph from usearch) and the exact-or-approximate switch.

``ApproxIndex`` implements the ``VectorIndex`` protocol of ``engine.index.search`` on a usearch
HNSW graph storing the vectors as float16 (inner-product metric: the vectors are L2-normalised, so
the inner product is the cosine).  ``engine.index.auto.AutoIndex`` answers exactly
(``ExactIndex``) while that stays around a millisecond and moves to ``ApproxIndex`` above
``exact_limit(dim)`` items.  Why usearch,
float16 and these parameters: docs/benchmarks.md, section "Search".

Persistence: ``save(path, generation=...)`` writes one file atomically (temporary file in the same
folder, fsync, rename).  The header records the dimension, the number of keys, an
order-independent checksum of the keys (``keys_checksum``), the caller's generation number and a
CRC of the payload.  ``load(path, generation=..., keys=...)`` raises ``StaleIndexError`` when the
file is missing, damaged, of another dimension, or does not match the generation or key set the
caller (the SQLite store, the source of truth) expects; ``load_or_build`` turns that into a rebuild
from the store's vectors.

Not thread-safe: like ``ExactIndex``, callers serialise access (one owner, or a lock).
"""
from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np


__all__ = ["ApproxIndex", "StaleIndexError", "keys_checksum", "exact_limit"]

#: Exact search reads the whole float32 matrix per query, so its cost follows items x dim.
#: Measured on the shared 2-core machine (docs/benchmarks.md, "Search"), it stays around a
#: millisecond up to about 30,000 items at dim 128 (3.8 M floats, 15 MB).
EXACT_FLOATS = 30_000 * 128


def exact_limit(dim: int) -> int:
    """The number of items up to which ``AutoIndex`` searches exactly, for ``dim``."""
    return max(1, EXACT_FLOATS // int(dim))

_MAGIC = b"SNDLKIX1"
_SEARCH_TIME = {"threads", "expansion_search", "weighted_ef"}
_STRUCTURAL = ("dtype", "connectivity", "expansion_add")
_U64 = np.uint64


class StaleIndexError(Exception):
    """The index file is missing, damaged, or out of date with the store: rebuild it."""


# --------------------------------------------------------------------------------- checksums
def _mix(keys: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser of each key (uint64, wrapping arithmetic)."""
    z = np.asarray(keys, dtype=np.int64).astype(_U64) + _U64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def keys_checksum(keys: np.ndarray) -> int:
    """An order-independent 64-bit checksum of a set of int64 keys (sum of mixed keys mod 2^64).

    The store computes the same over its row ids to tell whether an index file holds exactly
    its rows; an index keeps it up to date on every add and remove in O(1) per key.
    """
    with np.errstate(over="ignore"):
        return int(_mix(keys).sum(dtype=_U64)) if len(keys) else 0


def _as_keys(keys: np.ndarray) -> np.ndarray:
    keys = np.asarray(keys, dtype=np.int64).reshape(-1)
    if keys.size and keys.min() < 0:
        raise ValueError("keys must be non-negative store row ids")
    return keys


def _last_wins(keys: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop earlier duplicates of a key in one batch (the last vector wins, as in ExactIndex)."""
    if len(np.unique(keys)) == len(keys):
        return keys, vectors
    _, first_in_reversed = np.unique(keys[::-1], return_index=True)
    pick = np.sort(len(keys) - 1 - first_in_reversed)
    return keys[pick], vectors[pick]


# ------------------------------------------------------------------------------ file format
def _write_atomic(path: str | os.PathLike, header: dict, payload: bytes | memoryview) -> None:
    """``MAGIC | u32 header length | header JSON | payload``, written to a temporary file in the
    target folder, flushed to disk and renamed over ``path``."""
    path = Path(path)
    header = dict(header, payload_bytes=len(payload), payload_crc32=zlib.crc32(payload))
    head = json.dumps(header, sort_keys=True).encode()
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + struct.pack("<I", len(head)) + head)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _read(path: str | os.PathLike) -> tuple[dict, memoryview]:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as e:
        raise StaleIndexError(f"no index file at {path}") from e
    if len(data) < 12 or data[:8] != _MAGIC:
        raise StaleIndexError(f"{path} is not a Soundalike index file")
    (n,) = struct.unpack("<I", data[8:12])
    try:
        header = json.loads(data[12:12 + n])
    except ValueError as e:
        raise StaleIndexError(f"{path}: damaged header") from e
    payload = memoryview(data)[12 + n:]
    if len(payload) != header.get("payload_bytes") or zlib.crc32(payload) != header.get(
            "payload_crc32"):
        raise StaleIndexError(f"{path}: damaged or truncated payload")
    return header, payload


def _check(header: dict, path, *, dim: int | None, generation: int | None,
           keys: np.ndarray | None) -> None:
    if dim is not None and header["dim"] != dim:
        raise StaleIndexError(f"{path}: dimension {header['dim']}, expected {dim}")
    if generation is not None and header.get("generation") != generation:
        raise StaleIndexError(
            f"{path}: generation {header.get('generation')}, the store is at {generation}")
    if keys is not None:
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        if header["count"] != len(keys) or header["checksum"] != keys_checksum(keys):
            raise StaleIndexError(
                f"{path}: holds {header['count']} keys that differ from the store's {len(keys)}")


# ----------------------------------------------------------------------------- ApproxIndex
class ApproxIndex:
    """HNSW cosine search over L2-normalised vectors (usearch, inner-product metric).

    ``dtype``: vector storage, ``"f16"`` (default: 2 bytes a dimension, recall as float32 on
    our benchmarks), ``"f32"`` or ``"i8"``.  ``connectivity`` (HNSW M), ``expansion_add``
    (efConstruction) and ``expansion_search`` (efSearch) trade memory and build time for recall.
    ``threads``: threads used by ``add`` (0: all cores); searches use one.
    ``expansion_search`` 384 and ``weighted_ef`` (the beam for weighted queries, see ``search``)
    1024 are chosen for the shipped dimension (189) at 1M items: recall@10 0.973 and 0.963,
    where 256 and 512 gave 0.960 and 0.940 (docs/benchmarks.md).  The shipped model's default
    query weighs one aspect only, so it is a weighted query.

    Removal is a tombstone in the graph; removed slots are reused by later additions, and a key
    that is added again replaces its vector.
    """

    def __init__(self, dim: int, *, dtype: str = "f16", connectivity: int = 16,
                 expansion_add: int = 128, expansion_search: int = 384, threads: int = 0,
                 weighted_ef: int = 1024) -> None:
        from ..model.runtime import import_before_usearch

        import_before_usearch()
        from usearch.index import Index

        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self.dim = int(dim)
        self.dtype = str(dtype)
        self.connectivity = int(connectivity)
        self.expansion_add = int(expansion_add)
        self.threads = int(threads)
        self.weighted_ef = int(weighted_ef)
        self._index = Index(ndim=self.dim, metric="ip", dtype=self.dtype,
                            connectivity=self.connectivity, expansion_add=self.expansion_add,
                            expansion_search=int(expansion_search))
        self._checksum = 0

    # -- parameters
    @property
    def expansion_search(self) -> int:
        return int(self._index.expansion_search)

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        self._index.expansion_search = int(value)

    def _params(self) -> dict:
        return dict(dtype=self.dtype, connectivity=self.connectivity,
                    expansion_add=self.expansion_add, expansion_search=self.expansion_search,
                    threads=self.threads, weighted_ef=self.weighted_ef)

    # -- contents
    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: int) -> bool:
        return int(key) >= 0 and bool(self._index.contains(int(key)))

    def keys(self) -> np.ndarray:
        return np.asarray(self._index.keys, dtype=np.uint64).astype(np.int64)

    def vector(self, key: int) -> np.ndarray:
        """The stored vector of ``key`` as float32 (rounded to the storage ``dtype``)."""
        if key not in self:
            raise KeyError(key)
        return np.asarray(self._index.get(int(key)), dtype=np.float32)

    def vectors(self, keys: np.ndarray) -> np.ndarray:
        """Stored vectors of ``keys`` (all present), (n, dim) float32."""
        keys = _as_keys(keys)
        if len(keys) == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        got = self._index.get(keys.astype(_U64))
        if len(keys) == 1:
            got = [got] if not isinstance(got, tuple) else got
        return np.stack([np.asarray(v, dtype=np.float32) for v in got])

    def checksum(self) -> int:
        return self._checksum

    def memory_usage(self) -> int:
        """Bytes the library reports for the graph and vectors (includes reserved capacity)."""
        return int(self._index.memory_usage)

    # -- updates
    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        keys = _as_keys(keys)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(keys), self.dim)
        if len(keys) == 0:
            return
        keys, vectors = _last_wins(keys, vectors)
        present = np.asarray(self._index.contains(keys.astype(_U64)), dtype=bool).reshape(-1)
        if present.any():
            self.remove(keys[present])
        self._index.add(keys.astype(_U64), vectors, threads=self.threads)
        with np.errstate(over="ignore"):
            self._checksum = int(_U64(self._checksum) + _mix(keys).sum(dtype=_U64))

    def remove(self, keys: np.ndarray) -> None:
        keys = np.unique(np.asarray(keys, dtype=np.int64).reshape(-1))
        keys = keys[keys >= 0]
        if len(keys) == 0:
            return
        present = np.asarray(self._index.contains(keys.astype(_U64)), dtype=bool).reshape(-1)
        keys = keys[present]
        if len(keys) == 0:
            return
        self._index.remove(keys.astype(_U64))
        with np.errstate(over="ignore"):
            self._checksum = int(_U64(self._checksum) - _mix(keys).sum(dtype=_U64))

    # -- search
    def search(self, query: np.ndarray, k: int, *, exclude: frozenset[int] = frozenset(),
               weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best keys and their (approximate) cosine scores, best first.

        ``exclude``: the graph is asked for ``k + len(exclude)`` and the excluded keys dropped.
        ``weights``: the graph is searched with the weighted query ``query * weights``.  The
        metric is the inner product, so the scores it returns are the weighted scores themselves
        (``ExactIndex`` computes the same ``x . (query * weights)``), and no re-ranking is needed;
        but the graph's neighbourhoods were built for unweighted cosine, so the beam is widened to
        ``max(weighted_ef, k + len(exclude))`` candidates to keep recall up (measured in
        docs/benchmarks.md).
        """
        q = np.asarray(query, dtype=np.float32).reshape(self.dim)
        if k <= 0 or len(self._index) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        want = k + len(exclude)
        if weights is not None:
            q = q * np.asarray(weights, dtype=np.float32).reshape(self.dim)
            want = max(want, self.weighted_ef)
        m = self._index.search(q, want, threads=1)
        keys = np.asarray(m.keys, dtype=_U64).astype(np.int64)
        scores = (1.0 - np.asarray(m.distances, dtype=np.float32)).astype(np.float32)
        if exclude:
            keep = np.fromiter((int(x) not in exclude for x in keys), dtype=bool, count=len(keys))
            keys, scores = keys[keep], scores[keep]
        return keys[:k].copy(), scores[:k].copy()

    # -- persistence
    def _header(self, generation: int | None) -> dict:
        return dict(kind="usearch", dim=self.dim, count=len(self), checksum=self._checksum,
                    generation=generation, params=self._params())

    def save(self, path: str | os.PathLike, *, generation: int | None = None) -> None:
        """Write the index to ``path`` atomically, stamped with the store's ``generation``."""
        _write_atomic(path, self._header(generation), self._index.save())

    @classmethod
    def _from_payload(cls, header: dict, payload: memoryview, path, **overrides) -> "ApproxIndex":
        # The graph fixes dtype, connectivity and expansion_add; search-time settings come from
        # the caller or this code's defaults, not from the file.
        unknown = set(overrides) - _SEARCH_TIME
        if unknown:
            raise TypeError(f"cannot override {sorted(unknown)} of a saved graph")
        structure = {k: header["params"][k] for k in _STRUCTURAL}
        self = cls(header["dim"], **structure, **overrides)
        search_ef = self.expansion_search
        try:
            self._index.load(payload)
        except Exception as e:  # usearch raises plain RuntimeError/ValueError on bad buffers
            raise StaleIndexError(f"{path}: unreadable graph ({e})") from e
        self._index.expansion_search = search_ef
        self._checksum = keys_checksum(self.keys())
        if len(self) != header["count"] or self._checksum != header["checksum"]:
            raise StaleIndexError(f"{path}: graph does not match its header")
        return self

    @classmethod
    def load(cls, path: str | os.PathLike, *, dim: int | None = None,
             generation: int | None = None, keys: np.ndarray | None = None,
             **overrides) -> "ApproxIndex":
        """Read an index saved by ``save``.

        Raises ``StaleIndexError`` when the file is missing or damaged, or when ``dim``,
        ``generation`` or the key set ``keys`` (what the store holds) are given and differ.
        ``overrides``: search-time parameters to change (``threads``, ``expansion_search``,
        ``weighted_ef``).
        """
        header, payload = _read(path)
        if header.get("kind") != "usearch":
            raise StaleIndexError(f"{path}: holds a {header.get('kind')!r} index")
        _check(header, path, dim=dim, generation=generation, keys=keys)
        return cls._from_payload(header, payload, path, **overrides)
