"""Pure in-memory vector search: cosine top-k over L2-normalised embeddings.

Keys are the store's integer row ids.  Vectors must already be L2-normalised (per aspect), so the
cosine similarity is a dot product and one matrix-vector product ranks a query exactly as the
original full N x N cosine matrix would, without building it.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np


class VectorIndex(Protocol):
    dim: int

    def __len__(self) -> int: ...

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Insert or replace ``keys`` (int64, shape (n,)) with ``vectors`` ((n, dim) float32)."""

    def remove(self, keys: np.ndarray) -> None:
        """Remove ``keys``; unknown keys are ignored."""

    def search(self, query: np.ndarray, k: int, *, exclude: frozenset[int] = frozenset(),
               weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best keys for ``query`` ((dim,) float32) and their scores, best first.

        ``exclude``: keys never returned (the query itself).  ``weights``: optional per-dimension
        weights (shape (dim,)) applied to the query; ``None`` is plain cosine.
        """


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest ``scores``, largest first (ties: lower index first)."""
    n = scores.shape[0]
    k = min(k, n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k < n:
        part = np.argpartition(-scores, k - 1)[:k]
    else:
        part = np.arange(n)
    order = np.lexsort((part, -scores[part]))
    return part[order].astype(np.int64)


class ExactIndex:
    """Brute-force cosine search: one (n, dim) @ (dim,) product per query.

    Rows live in one contiguous float32 matrix that grows geometrically; removal swaps the last
    row into the hole, so add and remove are O(dim) amortised.
    """

    def __init__(self, dim: int, *, capacity: int = 1024) -> None:
        self.dim = int(dim)
        self._matrix = np.zeros((max(capacity, 1), self.dim), dtype=np.float32)
        self._keys = np.zeros(max(capacity, 1), dtype=np.int64)
        self._row: dict[int, int] = {}
        self._n = 0

    @classmethod
    def of(cls, keys: np.ndarray, matrix: np.ndarray) -> "ExactIndex":
        """An index holding ``matrix``'s rows under ``keys`` (distinct): a writable
        C-contiguous float32 matrix is taken as it is, without a copy."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        self = cls(matrix.shape[1], capacity=max(len(keys), 1))
        if len(keys) == 0:
            return self
        if len(keys) != len(np.unique(keys)):
            self.add(keys, matrix)
            return self
        m = np.asarray(matrix, dtype=np.float32).reshape(len(keys), self.dim)
        if not (m.flags.c_contiguous and m.flags.writeable):
            m = np.array(m, dtype=np.float32, order="C")
        self._matrix, self._keys = m, keys.copy()
        self._row = dict(zip(keys.tolist(), range(len(keys))))
        self._n = len(keys)
        return self

    def __len__(self) -> int:
        return self._n

    def __contains__(self, key: int) -> bool:
        return int(key) in self._row

    def keys(self) -> np.ndarray:
        return self._keys[: self._n].copy()

    def vector(self, key: int) -> np.ndarray:
        return self._matrix[self._row[int(key)]].copy()

    def _grow(self, need: int) -> None:
        cap = self._matrix.shape[0]
        if need <= cap:
            return
        new_cap = max(need, cap * 2)
        m = np.zeros((new_cap, self.dim), dtype=np.float32)
        m[: self._n] = self._matrix[: self._n]
        keys = np.zeros(new_cap, dtype=np.int64)
        keys[: self._n] = self._keys[: self._n]
        self._matrix, self._keys = m, keys

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(keys), self.dim)
        self._grow(self._n + len(keys))
        listed = keys.tolist()
        if len(set(listed)) == len(listed):  # no key twice: one assignment for all rows
            get = self._row.get
            rows = np.fromiter((get(k, -1) for k in listed), dtype=np.int64, count=len(listed))
            new = rows < 0
            fresh = np.arange(self._n, self._n + int(new.sum()), dtype=np.int64)
            rows[new] = fresh
            self._row.update(zip(keys[new].tolist(), fresh.tolist()))
            self._keys[fresh] = keys[new]
            self._matrix[rows] = vectors
            self._n += len(fresh)
            return
        for key, vec in zip(listed, vectors):
            row = self._row.get(key)
            if row is None:
                row = self._n
                self._n += 1
                self._row[key] = row
                self._keys[row] = key
            self._matrix[row] = vec

    def remove(self, keys: np.ndarray) -> None:
        for key in np.asarray(keys, dtype=np.int64).reshape(-1).tolist():
            row = self._row.pop(key, None)
            if row is None:
                continue
            last = self._n - 1
            if row != last:
                moved = int(self._keys[last])
                self._matrix[row] = self._matrix[last]
                self._keys[row] = moved
                self._row[moved] = row
            self._n = last

    def scores(self, query: np.ndarray, *, weights: np.ndarray | None = None) -> np.ndarray:
        q = np.asarray(query, dtype=np.float32).reshape(self.dim)
        if weights is not None:
            q = q * np.asarray(weights, dtype=np.float32).reshape(self.dim)
        return self._matrix[: self._n] @ q

    def search(self, query: np.ndarray, k: int, *, exclude: frozenset[int] = frozenset(),
               weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if self._n == 0 or k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        scores = self.scores(query, weights=weights)
        rows = top_k(scores, k + len(exclude))
        keys = self._keys[rows]
        if exclude:
            keep = np.array([int(x) not in exclude for x in keys], dtype=bool)
            rows, keys = rows[keep], keys[keep]
        rows, keys = rows[:k], keys[:k]
        return keys.copy(), scores[rows].astype(np.float32)
