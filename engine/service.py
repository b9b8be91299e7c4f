"""The engine's facade: index folders, answer "what sounds like this?", report status.

``Library`` puts the two owners together, the model (``engine.models.ActiveModel``: which model,
its encoder, its aspects) and the index (``engine.catalog.Catalog``: the store, the watched
folders and the in-memory search index, the only writer), and adds queries and one-pass
indexing on top.  Answering a query for an indexed file never needs the model, nor TensorFlow.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from .catalog import Catalog, under
from .datadir import ensure_private_dir
from .errors import QueryError
from .index.store import Entry, FileStat
from .model.base import Encoder
from .models import ActiveModel
from .pipeline import UNREAD, Outcome, embed_files, scan, stat_file

MAX_RESULTS = 1000
#: a query whose results include files deleted since they were indexed asks again for more, at
#: most this many times (each dead file is dropped and reported to ``Library.on_dead``)
REFILL_ROUNDS = 4


@dataclass(frozen=True)
class Result:
    """One answer: ``score`` is the cosine similarity; ``similarity`` the model's calibrated
    similarity (engine/calibration.py: the chance that the result is of the query's class),
    None when the model has no calibration."""
    path: str
    score: float
    similarity: float | None = None


@dataclass
class Summary:
    """One indexing pass over some folders: ``indexed`` files embedded now, ``unchanged``
    files already indexed, ``failed`` files under the folders that cannot be indexed (now or
    before: what ``status`` counts), ``removed`` files gone from the disk."""
    indexed: int = 0
    unchanged: int = 0
    failed: int = 0
    removed: int = 0
    moved: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


def needs_embedding(st: FileStat, entry: Entry | None, model_id: str) -> bool:
    """Whether a file must be (re-)embedded given its stored entry."""
    if entry is None:
        return True
    if entry.status == "failed":
        return (entry.size, entry.mtime_ns, entry.fingerprint) != (
            st.size, st.mtime_ns, st.fingerprint)
    return entry.model_id != model_id or entry.fingerprint != st.fingerprint \
        or entry.size != st.size


class Library:
    """One data dir's index and the operations on it.  Thread-safe."""

    def __init__(self, data_dir: str | os.PathLike, *, encoder: Encoder | None = None,
                 model_dir: str | os.PathLike | None = None, decode_threads: int | None = None,
                 batch_size: int = 32, read_only: bool = False,
                 approximate: bool = True) -> None:
        """``read_only``: another process (the daemon) owns the data dir: read, never write.
        ``approximate``: False for a one-shot command (exact search only, see ``Catalog``)."""
        self.data_dir = ensure_private_dir(data_dir)
        self.model = ActiveModel(self.data_dir, encoder=encoder, model_dir=model_dir)
        self.catalog = Catalog(self.data_dir, self.model.model_id, read_only=read_only,
                               approximate=approximate)
        # None: two decoding threads where there are two cores (a foreground `soundalike
        # index`); the daemon passes its configured, polite number
        self.decode_threads = decode_threads or min(2, os.cpu_count() or 1)
        self.batch_size = batch_size
        self.embedded = 0  # files embedded by this process (for tests and benchmarks)
        self._previous: ActiveModel | None = None  # the model before the last switch
        #: called with the paths of results found deleted on the query path (the daemon
        #: schedules their removal); they are never answered
        self.on_dead: Callable[[list[str]], None] | None = None

    # -- the model (see engine.models) --------------------------------------------------------
    @property
    def model_id(self) -> str:
        return self.model.model_id

    @property
    def model_dir(self) -> Path:
        return self.model.model_dir

    def encoder(self) -> Encoder:
        return self.model.encoder()

    def warm_up(self) -> None:
        self.model.warm_up()

    def aspects(self) -> dict[str, tuple[int, int]]:
        return self.model.aspects()

    def default_weights(self) -> dict[str, float]:
        return self.model.default_weights()

    def close(self) -> None:
        self.catalog.close()
        self.model.close()
        if self._previous is not None and self._previous is not self.model:
            self._previous.close()

    def adopt_model(self, model: ActiveModel, commit: Callable[[], None]) -> list[str]:
        """Answer with ``model`` from now on: its embeddings, kept beside the current ones
        (``engine.switching``), become the searchable ones and it embeds new files and
        on-the-fly queries, at once for every reader (a query in flight finishes with the
        model it started with).  ``commit()`` runs inside the swap (it moves the model
        pointer); if it raises, nothing changed.  Call it where no batch is being embedded
        (the indexing worker's thread in the daemon).  Returns the files left to embed
        again (see ``Catalog.switch_to``)."""
        if self._previous is not None and self._previous is not self.model:
            self._previous.close()  # the one before: no query uses it any more
        self._previous = self.model

        def swap() -> None:
            commit()
            self.model = model

        return self.catalog.switch_to(model.model_id, swap)

    def _serving(self) -> tuple[ActiveModel, object]:
        """The model and search index a query uses throughout (``Catalog.serving``)."""
        model_id, view = self.catalog.serving()
        model = self.model
        if model.model_id != model_id and self._previous is not None and \
                self._previous.model_id == model_id:
            model = self._previous  # the switch is half-way: the index is still the old one
        return model, view

    # -- what is indexed (see engine.catalog) --------------------------------------------------
    def indexed_count(self) -> int:
        return self.catalog.indexed_count()

    def is_indexed(self, path: str) -> bool:
        return self.catalog.is_indexed(os.path.abspath(path))

    def indexed_paths(self) -> list[str]:
        return self.catalog.indexed_paths()

    def write_problem(self) -> str | None:
        """Why this library cannot write its data dir now, in plain words (None: it can): a
        read-only folder or file system, a full disk, a quota, a file size limit."""
        from .datadir import write_problem

        return write_problem(self.data_dir) or self.catalog.write_problem()

    def status(self) -> dict:
        return {**self.catalog.counts(), "model_id": self.model_id,
                "model_dir": str(self.model_dir), "data_dir": str(self.data_dir)}

    # -- indexing -------------------------------------------------------------------------------
    def plan(self, paths: Iterable[str]) -> tuple[list[str], int]:
        """Split files into (to embed, number unchanged); unchanged touch-ups are recorded."""
        todo, unchanged = [], 0
        for p in paths:
            entry = self.catalog.get(p)
            try:
                st = os.stat(p)
            except OSError:
                continue
            if entry is not None and entry.status == "failed" and \
                    entry.fingerprint == UNREAD and os.access(p, os.R_OK):
                todo.append(p)  # could not be opened before, can now
                continue
            if entry is not None and entry.size == st.st_size and \
                    entry.mtime_ns == st.st_mtime_ns and \
                    (entry.status == "failed" or entry.model_id == self.model_id):
                unchanged += 1
                continue
            if entry is None:  # new: embedding reads its fingerprint, no need to read it here
                todo.append(p)
                continue
            try:
                fst = stat_file(p)
            except OSError:
                continue
            if needs_embedding(fst, entry, self.model_id):
                todo.append(p)
            else:
                self.catalog.touch(fst)  # content unchanged: only the mtime moved
                unchanged += 1
        return todo, unchanged

    def embed_and_record(self, paths: list[str], *, stop: threading.Event | None = None,
                         on_batch: Callable[[list[str], list[tuple[str, str]]], None] | None = None
                         ) -> Summary:
        summary = Summary()
        batch: list[Outcome] = []
        encoder = self.encoder() if paths else None

        def flush() -> None:
            done, failed = self.catalog.record(batch)
            stored = set(done)
            self.embedded += sum(1 for o in batch if o.vector is not None and not o.reused
                                 and o.stat.path in stored)
            summary.indexed += len(done)
            summary.failed += len(failed)
            summary.failures.extend(failed)
            batch.clear()
            if on_batch is not None:
                on_batch(done, failed)

        for outcome in embed_files(encoder, paths, batch_size=self.batch_size,
                                   threads=self.decode_threads, stop=stop,
                                   lock=self.model.lock, reuse=self.catalog.known_embedding):
            batch.append(outcome)
            if len(batch) >= self.batch_size:
                flush()
        if batch:
            flush()
        return summary

    def index(self, folders: Iterable[str], *, origin: str = "index",
              progress: Callable[[int, int], None] | None = None,
              stop: threading.Event | None = None) -> Summary:
        """Add ``folders`` to the library (watched folders, from ``origin``) and bring the
        index up to date with them: one pass, in this thread."""
        folders = [os.path.abspath(f) for f in folders]
        for f in folders:
            if not os.path.isdir(f):
                raise QueryError(f"no such folder: {f}")
        for f in folders:
            self.catalog.add_root(f, origin)
        unreadable: list[str] = []  # folders that could not be listed: kept, not gone
        on_disk = [p for f in folders for p in scan([f], unreadable=unreadable)]
        todo, _ = self.plan(on_disk)
        present = set(on_disk)
        gone = [e.path for f in folders for e in self.catalog.entries(under=f)
                if e.path not in present and not any(under(e.path, u) for u in unreadable)]
        summary = Summary(removed=len(self.catalog.remove(gone)))
        done = 0

        def on_batch(ok, failed):
            nonlocal done
            done += len(ok) + len(failed)
            if progress is not None:
                progress(done, len(todo))

        if progress is not None:
            progress(0, len(todo))
        summary.indexed = self.embed_and_record(todo, stop=stop, on_batch=on_batch).indexed
        summary.failures = [f for folder in folders
                            for f in self.catalog.failures(under=folder)]
        summary.failed = len(summary.failures)
        ok = sum(1 for folder in folders for e in self.catalog.entries(under=folder)
                 if e.status == "ok" and not e.offline)
        summary.unchanged = max(0, ok - summary.indexed)
        return summary

    # -- querying -------------------------------------------------------------------------------
    def query_vector(self, path: str, *, model: ActiveModel | None = None, view=None
                     ) -> tuple[np.ndarray, int | None]:
        """The embedding of ``path``: from the index when it is there and fresh, else computed
        now (raises QueryError).  ``model`` and ``view`` (``Catalog.view()``): the model and
        search index one query uses throughout (default: the current ones)."""
        path = os.path.abspath(path)
        if model is None or view is None:
            model, view = self._serving()
        rid = view.id_of(path)
        if rid is not None:
            try:
                st = os.stat(path)
                entry = self.catalog.get(path)
                fresh = entry is not None and entry.size == st.st_size and \
                    entry.mtime_ns == st.st_mtime_ns
            except OSError:
                fresh = True  # offline or just deleted: the stored embedding still answers
            vec = view.vector(rid) if fresh else None
            if vec is not None:
                return vec, rid
        return model.embed_file(path), rid

    def embed_file(self, path: str) -> np.ndarray:
        """Embed one file that need not be indexed (raises QueryError)."""
        return self.model.embed_file(path)

    def weights_vector(self, *, mode: str | None = None,
                       weights: Mapping[str, float] | None = None) -> np.ndarray | None:
        return self.model.weights_vector(mode=mode, weights=weights)

    def similar(self, path: str, k: int = 10, *, mode: str | None = None,
                weights: Mapping[str, float] | None = None) -> list[Result]:
        """The ``k`` indexed files most similar to ``path``, best first, never ``path`` itself,
        never a file that no longer exists."""
        if not isinstance(k, int) or k < 1:
            raise QueryError("count must be a whole number >= 1")
        k = min(k, MAX_RESULTS)
        path = os.path.abspath(path)
        model, view = self._serving()  # one model throughout, even across a switch
        wvec = model.weights_vector(mode=mode, weights=weights)
        vec, rid = self.query_vector(path, model=model, view=view)
        exclude = frozenset({rid}) if rid is not None else frozenset()
        dead: list[str] = []
        want = k
        for _ in range(REFILL_ROUNDS):
            hits = view.search(vec, want, exclude=exclude, weights=wvec)
            out = []
            for p, score in hits:
                if p == path:
                    continue
                if p in dead or not os.path.exists(p):
                    if p not in dead:
                        dead.append(p)
                    continue
                out.append(Result(p, score))
            if len(out) >= k or len(hits) < want:
                break
            want = k + 2 * len(dead)
        if dead and self.on_dead is not None:
            self.on_dead(dead)
        if mode in (None, "", "default") and not weights:  # what the calibration was fitted on
            return self.model.calibrated(out[:k])
        return out[:k]
