"""The exact-or-approximate switch: ``AutoIndex``, and ``load_or_build``.

Exact search (``engine.index.search.ExactIndex``) while the collection is small, approximate
(``engine.index.ann.ApproxIndex``) above ``exact_limit(dim)`` items; optionally built on a
background thread.  Persistence uses ``engine.index.ann``'s file format (either form).
"""
from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np

from engine.index import ann as _ann
from engine.index.ann import (_SEARCH_TIME, _STRUCTURAL, _U64, ApproxIndex, StaleIndexError,
                              _as_keys, _check, _last_wins, _mix, _read, _write_atomic,
                              keys_checksum)
from engine.index.search import ExactIndex

__all__ = ["AutoIndex", "load_or_build"]


def exact_limit(dim: int) -> int:
    """``engine.index.ann.exact_limit``, looked up when called (tests lower it)."""
    return _ann.exact_limit(dim)


# ------------------------------------------------------------------------------- AutoIndex
class AutoIndex:
    """Exact search while the collection is small, approximate above ``threshold`` items
    (default ``exact_limit(dim)``: 30,000 at dim 128).  This is the only place that decides
    between the two.

    Moves to an ``ApproxIndex`` when an addition takes it above ``threshold``, and back to exact
    when removals take it below ``threshold // 2`` (the hysteresis keeps a collection hovering
    at the threshold from rebuilding back and forth).  ``exclude`` and ``weights`` keep their
    meaning on both sides (see ``ApproxIndex.search``).  ``ann``: keyword arguments for
    ``ApproxIndex``.

    ``background``: build the approximate index on a background thread instead of inside the
    ``add`` that crosses the threshold.  The exact index keeps answering (above the threshold)
    until the build is done; changes made meanwhile are replayed onto the new graph before it
    is swapped in.  The builder takes ``lock`` (the owner's lock, the one its callers hold
    around every call) to read the vectors and to swap, and calls ``on_built()`` with it held.
    ``close()`` stops a build in progress.
    """

    BUILD_STEP = 256  # items added per step of a background build (usearch holds the GIL)

    def __init__(self, dim: int, *, threshold: int | None = None, threads: int = 0,
                 background: bool = False, lock=None, on_built: Callable[[], None] | None = None,
                 **ann) -> None:
        self.dim = int(dim)
        self.threshold = exact_limit(self.dim) if threshold is None else int(threshold)
        self._ann_kwargs = dict(ann, threads=threads)
        self._impl: ExactIndex | ApproxIndex = ExactIndex(self.dim)
        self._checksum = 0
        self._background = background
        self._lock = lock
        self._on_built = on_built
        self._builder = None  # engine.threads.Worker while a background build runs
        self._changelog: list | None = None

    @property
    def kind(self) -> str:
        return "exact" if isinstance(self._impl, ExactIndex) else "approx"

    @property
    def building(self) -> bool:
        return self._builder is not None and self._builder.is_alive()

    def vector(self, key: int) -> np.ndarray:
        return self._impl.vector(key)

    def __len__(self) -> int:
        return len(self._impl)

    def __contains__(self, key: int) -> bool:
        return key in self._impl

    def keys(self) -> np.ndarray:
        return self._impl.keys()

    def checksum(self) -> int:
        return self._checksum if self.kind == "exact" else self._impl.checksum()

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        keys = _as_keys(keys)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(keys), self.dim)
        if self.kind == "exact":
            keys, vectors = _last_wins(keys, vectors)
            new = np.fromiter((int(x) not in self._impl for x in keys), dtype=bool,
                              count=len(keys))
            over = len(self._impl) + int(new.sum()) > self.threshold
            if not over or self._background:
                self._impl.add(keys, vectors)
                with np.errstate(over="ignore"):
                    self._checksum = int(_U64(self._checksum) + _mix(keys[new]).sum(dtype=_U64))
                if self._changelog is not None:
                    self._changelog.append((keys, vectors))
                elif over:
                    self._start_build()
                return
            self._to_approx()
        self._impl.add(keys, vectors)

    def fill(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """``add`` to an empty index, taking ``vectors`` (distinct ``keys``) as its matrix
        without a copy when it is a writable float32 one: the caller hands it over."""
        if len(self._impl) or self._changelog is not None:
            raise ValueError("fill needs an empty index")
        keys = _as_keys(keys)
        if len(keys) == 0:
            return
        if len(np.unique(keys)) != len(keys) or (
                len(keys) > self.threshold and not self._background):
            self.add(keys, vectors)
            return
        self._impl = ExactIndex.of(keys, vectors)
        self._checksum = keys_checksum(keys)
        if len(keys) > self.threshold:
            self._start_build()

    def remove(self, keys: np.ndarray) -> None:
        if self.kind == "exact":
            keys = np.unique(np.asarray(keys, dtype=np.int64).reshape(-1))
            gone = np.fromiter((int(x) in self._impl for x in keys), dtype=bool, count=len(keys))
            self._impl.remove(keys)
            with np.errstate(over="ignore"):
                self._checksum = int(_U64(self._checksum) - _mix(keys[gone]).sum(dtype=_U64))
            if self._changelog is not None:
                self._changelog.append((keys, None))
        else:
            self._impl.remove(keys)
            if len(self._impl) < self.threshold // 2:
                self._to_exact()

    def _to_approx(self) -> None:
        exact = self._impl
        ann = ApproxIndex(self.dim, **self._ann_kwargs)
        n = len(exact)
        ann.add(exact.keys(), exact._matrix[:n])
        self._impl = ann

    def _to_exact(self) -> None:
        ann = self._impl
        keys = ann.keys()
        exact = ExactIndex(self.dim, capacity=max(len(keys), 1))
        exact.add(keys, ann.vectors(keys))
        self._impl = exact
        self._checksum = ann.checksum()

    # -- the background build
    def _start_build(self) -> None:
        from engine.threads import Worker

        self._changelog = []
        self._builder = Worker("soundalike-ann-build", self._build).start()

    def _build(self, stop) -> None:
        """Build the graph off the lock in small steps, replay what changed, swap it in."""
        lock = self._lock
        try:
            with lock:
                exact = self._impl
                n = len(exact)
                keys, vecs = exact.keys(), exact._matrix[:n].copy()
            ann = ApproxIndex(self.dim, **self._ann_kwargs)
            for start in range(0, len(keys), self.BUILD_STEP):
                if stop.is_set():
                    return
                ann.add(keys[start:start + self.BUILD_STEP], vecs[start:start + self.BUILD_STEP])
                time.sleep(0)  # let the query threads run between steps
            del vecs
            with lock:
                if stop.is_set() or self._impl is not exact:
                    return
                for k, v in self._changelog:
                    ann.add(k, v) if v is not None else ann.remove(k)
                self._changelog = None
                if len(ann) > self.threshold // 2:
                    self._impl = ann
                if self._on_built is not None:
                    self._on_built()
        finally:
            if self._changelog is not None:
                with lock:
                    self._changelog = None

    def close(self, timeout: float = 10.0) -> None:
        """Stop a background build in progress (the exact index keeps what it has)."""
        if self._builder is not None:
            self._builder.stop(timeout)

    def search(self, query: np.ndarray, k: int, *, exclude: frozenset[int] = frozenset(),
               weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self._impl.search(query, k, exclude=exclude, weights=weights)

    # -- persistence
    def save(self, path: str | os.PathLike, *, generation: int | None = None) -> None:
        """Write the index atomically; the exact form stores keys and the float32 matrix."""
        if self.kind == "approx":
            self._impl.save(path, generation=generation)
            return
        n = len(self._impl)
        header = dict(kind="exact", dim=self.dim, count=n, checksum=self._checksum,
                      generation=generation)
        payload = self._impl._keys[:n].tobytes() + self._impl._matrix[:n].tobytes()
        _write_atomic(path, header, payload)

    @classmethod
    def load(cls, path: str | os.PathLike, *, dim: int | None = None,
             generation: int | None = None, keys: np.ndarray | None = None,
             threshold: int | None = None, threads: int = 0, background: bool = False,
             lock=None, on_built: Callable[[], None] | None = None, **ann) -> "AutoIndex":
        """Read a file written by ``save`` (either form); ``StaleIndexError`` as in
        ``ApproxIndex.load``.  The loaded form is kept even if ``threshold`` would pick the
        other one; the next addition or removal applies the threshold."""
        header, payload = _read(path)
        _check(header, path, dim=dim, generation=generation, keys=keys)
        self = cls(header["dim"], threshold=threshold, threads=threads, background=background,
                   lock=lock, on_built=on_built, **ann)
        if header.get("kind") == "usearch":
            search_time = {k: v for k, v in ann.items() if k in _SEARCH_TIME}
            self._impl = ApproxIndex._from_payload(header, payload, path, threads=threads,
                                                   **search_time)
            structure = {k: header["params"][k] for k in _STRUCTURAL}
            self._ann_kwargs = dict(ann, **structure, threads=threads)
            return self
        if header.get("kind") != "exact":
            raise StaleIndexError(f"{path}: unknown index kind {header.get('kind')!r}")
        n, d = header["count"], header["dim"]
        if len(payload) != n * 8 + n * d * 4:
            raise StaleIndexError(f"{path}: payload size does not match {n} x {d}")
        file_keys = np.frombuffer(payload[: n * 8], dtype=np.int64)
        matrix = np.frombuffer(payload[n * 8:], dtype=np.float32).reshape(n, d)
        if keys_checksum(file_keys) != header["checksum"]:
            raise StaleIndexError(f"{path}: keys do not match the header")
        exact = ExactIndex(d, capacity=max(n, 1))
        exact.add(file_keys, matrix)
        self._impl, self._checksum = exact, header["checksum"]
        return self


def load_or_build(path: str | os.PathLike, dim: int, *, generation: int | None,
                  keys: np.ndarray | None,
                  fetch: Callable[[], tuple[np.ndarray, np.ndarray]],
                  **kwargs) -> tuple[AutoIndex, bool]:
    """Load ``path`` if it matches the store, else rebuild from ``fetch()`` (keys, vectors).

    Returns ``(index, rebuilt)``.  A rebuilt index is not saved here: the caller saves it when
    convenient (``index.save(path, generation=...)``).
    """
    try:
        return AutoIndex.load(path, dim=dim, generation=generation, keys=keys, **kwargs), False
    except StaleIndexError:
        index = AutoIndex(dim, **kwargs)
        all_keys, vectors = fetch()
        index.add(all_keys, vectors)
        return index, True
