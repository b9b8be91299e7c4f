"""The in-memory search index: an ``AutoIndex`` (exact or approximate) keyed by store row ids,
with the id -> path and path -> id maps that turn its answers into paths.

Owned by ``engine.catalog.Catalog``, which keeps it equal to the store's searchable rows (online,
embedded by the current model).  Every method takes the index's own lock; ``count`` is a plain
attribute, read without it (status requests must never wait behind a search or a load).
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .ann import StaleIndexError, exact_limit  # noqa: F401 (tests lower the limit here)
from .auto import AutoIndex

log = logging.getLogger(__name__)

class MemoryIndex:
    def __init__(self, saved_path: Path, *, generation: Callable[[], int],
                 can_save: Callable[[], bool], approximate: bool = True) -> None:
        """``approximate``: False keeps search exact at any size and never reads or builds
        the approximate index (a one-shot command: exact search over 100,000 files takes
        milliseconds, building the graph seconds)."""
        self.saved_path = saved_path
        self._generation = generation
        self._can_save = can_save
        self._approximate = approximate
        self.lock = threading.RLock()
        self._index: AutoIndex | None = None
        self._paths: dict[int, str] = {}
        self._ids: dict[str, int] = {}
        self._saved_generation: int | None = None
        #: number of searchable files (read without the lock)
        self.count = 0

    # -- loading and saving ------------------------------------------------------------------
    def load_saved(self, ids: np.ndarray, paths: list[str], generation: int) -> bool:
        """Replace the contents by the saved approximate index if it holds exactly rows
        ``ids`` (distinct) at ``generation``, with ``paths``; False (nothing changed) when
        there is none that matches, or this index is exact only."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if not self._approximate or not len(ids):
            return False
        self.close()
        with self.lock:
            try:
                index = AutoIndex.load(self.saved_path, generation=generation, keys=ids,
                                       **self._options())
            except StaleIndexError:
                return False
            self._set_maps(ids, paths)
            self._index = index
            self._saved_generation = generation
            return True

    def load(self, ids: np.ndarray, paths: list[str], vecs: np.ndarray,
             generation: int) -> None:
        """Replace the contents by rows ``ids`` (distinct) with ``paths`` and ``vecs`` (the
        matrix is handed over, not copied).  Above ``exact_limit`` an approximate index is
        built in the background while exact search answers (``load_saved`` first loads a
        saved one that matches)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        self.close()  # a build of the previous contents (its thread takes the lock to finish)
        with self.lock:
            self._set_maps(ids, paths)
            self._index = None
            if not len(ids):
                return
            self._index = self._new(vecs.shape[1])
            self._index.fill(ids, vecs)

    def _set_maps(self, ids: np.ndarray, paths: list[str]) -> None:
        self._paths = dict(zip(ids.tolist(), paths))
        self._ids = dict(zip(paths, ids.tolist()))
        self.count = len(self._ids)

    def _options(self) -> dict:
        return dict(background=True, lock=self.lock, on_built=self.save)

    def _new(self, dim: int) -> AutoIndex:
        if not self._approximate:
            return AutoIndex(dim, threshold=sys.maxsize)
        return AutoIndex(dim, **self._options())

    def save(self) -> None:
        """Save an approximate index so that the next start is fast (no-op when exact)."""
        with self.lock:
            index = self._index
            if index is None or index.kind != "approx" or not self._can_save():
                return
            generation = self._generation()
            if generation == self._saved_generation:
                return
            try:
                index.save(self.saved_path, generation=generation)
                self._saved_generation = generation
            except OSError as exc:
                log.warning("cannot save the search index: %s", exc)

    def close(self) -> None:
        with self.lock:
            index = self._index
        if index is not None:
            index.close()

    # -- changes (the catalog calls these after the store's transaction committed) ------------
    def add(self, ids: list[int], paths: list[str], vecs: np.ndarray) -> None:
        if not ids:
            return
        with self.lock:
            if self._index is None:
                self._index = self._new(vecs.shape[1])
            for i, p in zip(ids, paths):
                old = self._paths.get(i)
                if old is not None and old != p:
                    self._ids.pop(old, None)
                self._paths[i] = p
                self._ids[p] = i
            self._index.add(np.asarray(ids, dtype=np.int64), vecs)
            self.count = len(self._ids)

    def remove(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if not ids:
            return
        with self.lock:
            for i in ids:
                p = self._paths.pop(i, None)
                if p is not None:
                    self._ids.pop(p, None)
            if self._index is not None:
                self._index.remove(np.asarray(ids, dtype=np.int64))
            self.count = len(self._ids)

    def rename(self, moved: Iterable[tuple[int, str, str]]) -> None:
        with self.lock:
            for rid, old, new in moved:
                if rid in self._paths:
                    self._ids.pop(old, None)
                    self._paths[rid] = new
                    self._ids[new] = rid

    # -- reads ------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        with self.lock:
            return self._index.kind if self._index is not None else "exact"

    @property
    def building(self) -> bool:
        with self.lock:
            return self._index is not None and self._index.building

    def id_of(self, path: str) -> int | None:
        with self.lock:
            return self._ids.get(path)

    def paths(self) -> list[str]:
        with self.lock:
            return list(self._ids)

    def ids_under(self, folder: str) -> list[int]:
        prefix = folder.rstrip(os.sep) + os.sep
        with self.lock:
            return [i for p, i in self._ids.items() if p.startswith(prefix)]

    def vector(self, rid: int) -> np.ndarray | None:
        with self.lock:
            if self._index is None or rid not in self._paths:
                return None
            return self._index.vector(rid)

    def search(self, vec: np.ndarray, k: int, *, exclude: frozenset[int] = frozenset(),
               weights: np.ndarray | None = None) -> list[tuple[str, float]]:
        """The ``k`` best ``(path, score)``, best first."""
        with self.lock:
            if self._index is None or not self._paths:
                return []
            keys, scores = self._index.search(vec, k, exclude=exclude, weights=weights)
            out = []
            for key, score in zip(keys.tolist(), scores.tolist()):
                p = self._paths.get(key)
                if p is not None:
                    out.append((p, float(np.clip(np.nan_to_num(score), -1.0, 1.0))))
            return out
