"""The engine's facade: index folders, answer "what sounds like this?", report status.

``Library`` owns the store (SQLite), the in-memory search index and the encoder (loaded lazily:
answering a query for an indexed file never needs the model, nor TensorFlow).
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from .audio import SAMPLE_RATE, AudioError, load_audio
from .index.ann import ApproxIndex, AutoIndex, StaleIndexError, exact_limit
from .index.search import VectorIndex
from .index.store import Entry, FileStat, Store
from .model.base import Encoder
from .model.registry import PACKAGED_DEFAULT, load_encoder, model_id_of
from .pipeline import Outcome, embed_features, embed_files, scan, stat_file

MAX_RESULTS = 1000


class QueryError(Exception):
    """A query that cannot be answered (no such file, not audio, bad arguments)."""


@dataclass(frozen=True)
class Result:
    path: str
    score: float


@dataclass
class Summary:
    indexed: int = 0
    unchanged: int = 0
    failed: int = 0
    removed: int = 0
    moved: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


def ensure_private_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) readable by the user only."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    return path


def active_model_dir(data_dir: str | os.PathLike) -> Path:
    """The user's trained model (``models/active`` names it) or the packaged default."""
    pointer = Path(data_dir) / "models" / "active"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except OSError:
        return PACKAGED_DEFAULT
    candidate = Path(data_dir) / "models" / name
    return candidate if (candidate / "encoder.json").is_file() else PACKAGED_DEFAULT


def activate_model(data_dir: str | os.PathLike, name: str) -> None:
    models = ensure_private_dir(Path(data_dir) / "models")
    tmp = models / "active.tmp"
    tmp.write_text(name + "\n", encoding="utf-8")
    os.replace(tmp, models / "active")


class Library:
    """One data dir's index and the operations on it.  Thread-safe."""

    def __init__(self, data_dir: str | os.PathLike, *, encoder: Encoder | None = None,
                 model_dir: str | os.PathLike | None = None, decode_threads: int | None = None,
                 batch_size: int = 32) -> None:
        self.data_dir = ensure_private_dir(data_dir)
        self.store = Store(self.data_dir / "index.sqlite")
        self._encoder = encoder
        self._model_dir = Path(model_dir) if model_dir else active_model_dir(self.data_dir)
        self.model_id = encoder.model_id if encoder is not None else model_id_of(self._model_dir)
        # None: two decoding threads where there are two cores (a foreground `soundalike
        # index`); the daemon passes its configured, polite number
        self.decode_threads = decode_threads or min(2, os.cpu_count() or 1)
        self.batch_size = batch_size
        self._encoder_lock = threading.Lock()
        self._lock = threading.RLock()
        self._index: VectorIndex | None = None
        self._changelog: list | None = None  # changes while an approximate index is built
        self._build_thread: threading.Thread | None = None
        self._saved_generation: int | None = None
        self._closing = threading.Event()
        self._paths: dict[int, str] = {}
        self._ids: dict[str, int] = {}
        self.embedded = 0  # files embedded by this process (for tests and benchmarks)
        # recently removed embeddings by content, so that a move seen as delete + create (or a
        # file deleted and restored) is not embedded again
        self._removed: OrderedDict[tuple[str, int], tuple[np.ndarray, float]] = OrderedDict()

    # -- the model ------------------------------------------------------------------------
    @property
    def model_dir(self) -> Path:
        return self._model_dir

    def encoder(self) -> Encoder:
        """The encoder, loaded on first use (this may import TensorFlow)."""
        with self._encoder_lock:
            if self._encoder is None:
                self._encoder = load_encoder(self._model_dir)
                if self._encoder.model_id != self.model_id:
                    raise RuntimeError("model id mismatch: "
                                       f"{self._encoder.model_id} != {self.model_id}")
            return self._encoder

    def warm_up(self) -> None:
        """Load the encoder and let it prepare for its first call."""
        encoder = self.encoder()
        encoder.features(np.zeros(SAMPLE_RATE // 2, dtype=np.float32))  # caches (filter banks)
        with self._encoder_lock:
            encoder.warm_up()

    def close(self) -> None:
        self._closing.set()
        if self._build_thread is not None:
            self._build_thread.join()
        with self._lock:
            self._save_index()
        if self._encoder is not None:
            self._encoder.close()
        self.store.close()

    # -- the in-memory search index -------------------------------------------------------
    def _search_index(self) -> VectorIndex:
        with self._lock:
            if self._index is None:
                self._load_index()
            return self._index

    def _ann_path(self) -> Path:
        return self.data_dir / f"search-{self.model_id}.idx"

    def _load_index(self) -> None:
        """Build the in-memory index from the store (called with ``_lock`` held).

        Small libraries are searched exactly.  A large one loads its saved approximate index
        when that matches the store (same generation and keys); otherwise it is searched
        exactly at once while the approximate index is built in the background.
        """
        chunks = list(self.store.iter_embeddings(self.model_id))
        generation = self.store.generation()
        self._paths = {i: p for ids, paths, _ in chunks for i, p in zip(ids.tolist(), paths)}
        self._ids = {p: i for i, p in self._paths.items()}
        if not chunks:
            self._index = _EmptyIndex()
            return
        ids = np.concatenate([c[0] for c in chunks])
        vecs = np.concatenate([c[2] for c in chunks]) if len(chunks) > 1 else chunks[0][2]
        del chunks
        dim = vecs.shape[1]
        if len(ids) > exact_limit(dim):
            try:
                self._index = AutoIndex.load(self._ann_path(), dim=dim, generation=generation,
                                             keys=ids)
                self._saved_generation = generation
                return
            except StaleIndexError:
                pass
            index = AutoIndex(dim, threshold=2 * len(ids) + 1)  # exact until the build is done
            index.add(ids, vecs)
            self._index = index
            self._start_build(index)
        else:
            index = AutoIndex(dim)
            index.add(ids, vecs)
            self._index = index

    def _start_build(self, auto: AutoIndex) -> None:
        self._changelog = []
        self._build_thread = threading.Thread(target=self._build_approx, args=(auto,),
                                              name="soundalike-ann-build", daemon=True)
        self._build_thread.start()

    def _build_approx(self, auto: AutoIndex) -> None:
        """Build the approximate index off the lock, replay what changed meanwhile, swap it in."""
        try:
            with self._lock:
                exact = auto.impl
                keys = exact.keys()
                vecs = exact.vectors(keys) if hasattr(exact, "vectors") else \
                    np.stack([exact.vector(k) for k in keys.tolist()])
            ann = ApproxIndex(auto.dim)
            # small steps: usearch holds the interpreter lock while it adds, and queries must
            # not wait behind it (20,000 items at a time stalled every query for seconds)
            step = self.BUILD_STEP
            for start in range(0, len(keys), step):
                if self._closing.is_set():
                    return
                ann.add(keys[start:start + step], vecs[start:start + step])
                time.sleep(0)  # let the OSC and query threads run between steps
            del vecs
            with self._lock:
                if self._index is not auto or self._changelog is None:
                    return
                for op, k, v in self._changelog:
                    ann.add(k, v) if op == "add" else ann.remove(k)
                self._changelog = None
                auto.adopt(ann, threshold=exact_limit(auto.dim))
                self._save_index()
        except Exception:  # the exact index keeps answering
            import logging

            logging.getLogger(__name__).exception("building the approximate index failed")

    def _save_index(self) -> None:
        """Save an approximate index (with ``_lock`` held) so that the next start is fast."""
        index = self._index
        if not isinstance(index, AutoIndex) or index.kind != "approx" or self.store.read_only:
            return
        generation = self.store.generation()
        if generation == self._saved_generation:
            return
        try:
            index.save(self._ann_path(), generation=generation)
            self._saved_generation = generation
        except OSError as exc:
            import logging

            logging.getLogger(__name__).warning("cannot save the search index: %s", exc)

    def _index_add(self, ids: list[int], stats: list[FileStat], vecs: np.ndarray) -> None:
        with self._lock:
            if self._index is None:
                return  # loaded from the store on first use
            if isinstance(self._index, _EmptyIndex):
                self._index = AutoIndex(vecs.shape[1])
            if self._changelog is not None:
                self._changelog.append(("add", np.asarray(ids, dtype=np.int64), vecs))
            for i, st in zip(ids, stats):
                old = self._paths.get(i)
                if old is not None and old != st.path:
                    self._ids.pop(old, None)
                self._paths[i] = st.path
                self._ids[st.path] = i
            self._index.add(np.asarray(ids, dtype=np.int64), vecs)

    def _index_remove(self, ids: Iterable[int]) -> None:
        with self._lock:
            if self._index is None:
                return
            ids = list(ids)
            for i in ids:
                p = self._paths.pop(i, None)
                if p is not None:
                    self._ids.pop(p, None)
            self._index.remove(np.asarray(ids, dtype=np.int64))
            if self._changelog is not None:
                self._changelog.append(("remove", np.asarray(ids, dtype=np.int64), None))

    def _index_rename(self, moved: list[tuple[int, str, str]]) -> None:
        with self._lock:
            if self._index is None:
                return
            for rid, old, new in moved:
                if rid in self._paths:
                    self._ids.pop(old, None)
                    self._paths[rid] = new
                    self._ids[new] = rid

    def reload(self) -> None:
        """Forget the in-memory index; it is rebuilt from the store on next use."""
        with self._lock:
            self._index = None
            self._changelog = None

    def indexed_count(self) -> int:
        """Files in the search index (online, embedded by the current model): cheap, from
        memory, where ``status()`` counts rows in the database."""
        self._search_index()
        with self._lock:
            return len(self._ids)

    def is_indexed(self, path: str) -> bool:
        """Whether ``path`` is in the search index (its query needs no encoder)."""
        self._search_index()
        with self._lock:
            return os.path.abspath(path) in self._ids

    def indexed_paths(self) -> list[str]:
        self._search_index()
        with self._lock:
            return list(self._ids)

    # -- writing --------------------------------------------------------------------------
    def needs_embedding(self, st: FileStat, entry: Entry | None) -> bool:
        """Whether a file must be (re-)embedded given its stored entry."""
        if entry is None:
            return True
        if entry.status == "failed":
            return (entry.size, entry.mtime_ns, entry.fingerprint) != (
                st.size, st.mtime_ns, st.fingerprint)
        return entry.model_id != self.model_id or entry.fingerprint != st.fingerprint \
            or entry.size != st.size

    def record(self, outcomes: Iterable[Outcome]) -> tuple[list[str], list[tuple[str, str]]]:
        """Store a batch of outcomes in one transaction and update the search index.

        Files deleted while they were being embedded are dropped, not stored.
        """
        outcomes = [o for o in outcomes if os.path.isfile(o.stat.path)]
        good = [(o.stat, o.vector) for o in outcomes if o.vector is not None]
        bad = [(o.stat, o.error or "unknown error") for o in outcomes if o.vector is None]
        if good:
            ids = self.store.put_embeddings(good, self.model_id)
            self._index_add(ids, [s for s, _ in good], np.stack([v for _, v in good]))
        if bad:
            self.store.put_failures(bad)
            self._index_remove(i for i in (self._ids.get(s.path) for s, _ in bad)
                               if i is not None)
        self.embedded += sum(1 for o in outcomes if o.vector is not None and not o.reused)
        return [s.path for s, _ in good], [(s.path, r) for s, r in bad]

    def embed_and_record(self, paths: list[str], *, stop: threading.Event | None = None,
                         on_batch: Callable[[list[str], list[tuple[str, str]]], None] | None = None
                         ) -> Summary:
        summary = Summary()
        batch: list[Outcome] = []
        encoder = self.encoder() if paths else None

        def flush() -> None:
            done, failed = self.record(batch)
            summary.indexed += len(done)
            summary.failed += len(failed)
            summary.failures.extend(failed)
            batch.clear()
            if on_batch is not None:
                on_batch(done, failed)

        for outcome in embed_files(encoder, paths, batch_size=self.batch_size,
                                   threads=self.decode_threads, stop=stop,
                                   lock=self._encoder_lock, reuse=self.known_embedding):
            batch.append(outcome)
            if len(batch) >= self.batch_size:
                flush()
        if batch:
            flush()
        return summary

    def remove_paths(self, paths: Iterable[str]) -> int:
        paths = list(paths)
        now = time.monotonic()
        with self._lock:
            for p in paths:
                entry = self.store.get(p)
                vec = self.store.embedding(p, self.model_id) if entry else None
                if vec is not None:
                    self._removed[(entry.fingerprint, entry.size)] = (vec, now)
            while len(self._removed) > self.REMEMBER_REMOVED:
                self._removed.popitem(last=False)
        ids = self.store.remove(paths)
        self._index_remove(ids)
        return len(ids)

    BUILD_STEP = 256  # items added to the approximate index per step of a background build
    REMEMBER_REMOVED = 4096  # embeddings of removed files kept in memory ...
    REMEMBER_SECONDS = 120.0  # ... for this long

    def known_embedding(self, st: FileStat) -> np.ndarray | None:
        """The embedding of identical content (same fingerprint and size) if already known:
        a file removed moments ago (a move seen as delete + create) or a copy of an indexed
        file.  Called from decoding threads."""
        key = (st.fingerprint, st.size)
        with self._lock:
            hit = self._removed.pop(key, None)
        if hit is not None and time.monotonic() - hit[1] <= self.REMEMBER_SECONDS:
            return hit[0]
        for entry in self.store.find_by_fingerprint(st.fingerprint, st.size):
            if entry.status == "ok" and entry.model_id == self.model_id and \
                    entry.path != st.path:
                vec = self.store.embedding(entry.path, self.model_id)
                if vec is not None:
                    return vec
        return None

    def move(self, old: str, new: str) -> list[tuple[int, str, str]]:
        """Rename a file or folder in the index, keeping embeddings: [(id, old, new), ...]."""
        moved = self.store.move(old, new)
        self._index_rename(moved)
        return moved

    def plan(self, paths: Iterable[str]) -> tuple[list[str], int]:
        """Split files into (to embed, number unchanged); unchanged touch-ups are recorded."""
        todo, unchanged = [], 0
        for p in paths:
            entry = self.store.get(p)
            try:
                st = os.stat(p)
            except OSError:
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
            if self.needs_embedding(fst, entry):
                todo.append(p)
            else:
                self.store.touch(fst)  # content unchanged: only the mtime moved
                unchanged += 1
        return todo, unchanged

    def index(self, folders: Iterable[str], *, remove_missing: bool = True,
              progress: Callable[[int, int], None] | None = None,
              stop: threading.Event | None = None) -> Summary:
        """Bring the index up to date with ``folders`` (one pass, in this thread)."""
        folders = [os.path.abspath(f) for f in folders]
        on_disk = []
        for f in folders:
            if not os.path.isdir(f):
                raise QueryError(f"no such folder: {f}")
            on_disk.extend(scan([f]))
        todo, unchanged = self.plan(on_disk)
        summary = Summary(unchanged=unchanged)
        if remove_missing:
            present = set(on_disk)
            gone = [e.path for f in folders for e in self.store.entries(under=f)
                    if e.path not in present]
            summary.removed = self.remove_paths(gone)
        done = 0

        def on_batch(ok, failed):
            nonlocal done
            done += len(ok) + len(failed)
            if progress is not None:
                progress(done, len(todo))

        if progress is not None:
            progress(0, len(todo))
        result = self.embed_and_record(todo, stop=stop, on_batch=on_batch)
        summary.indexed, summary.failed, summary.failures = (
            result.indexed, result.failed, result.failures)
        return summary

    # -- querying -------------------------------------------------------------------------
    def query_vector(self, path: str) -> tuple[np.ndarray, int | None]:
        """The embedding of ``path``: from the index when it is there, else computed now."""
        path = os.path.abspath(path)
        index = self._search_index()
        with self._lock:
            rid = self._ids.get(path)
            if rid is not None and hasattr(index, "vector"):
                try:
                    st = os.stat(path)
                    entry = self.store.get(path)
                    fresh = entry is not None and entry.size == st.st_size and \
                        entry.mtime_ns == st.st_mtime_ns
                except OSError:
                    fresh = True  # offline or just deleted: the stored embedding still answers
                if fresh:
                    return index.vector(rid), rid
        return self.embed_file(path), rid

    def embed_file(self, path: str) -> np.ndarray:
        """Embed one file that need not be indexed (raises QueryError)."""
        if not os.path.exists(path):
            raise QueryError(f"no such file: {path}")
        try:
            y = load_audio(path)
        except AudioError as exc:
            raise QueryError(f"not audio: {exc.reason}") from None
        encoder = self.encoder()
        with self._encoder_lock:
            vec = embed_features(encoder, encoder.features(y)[None])[0]
        return vec

    def weights_vector(self, *, mode: str | None = None,
                       weights: Mapping[str, float] | None = None) -> np.ndarray | None:
        """Per-dimension query weights for a mode or aspect weights (None: plain cosine)."""
        default = self.default_weights()
        if mode in (None, "", "default") and not weights and len(set(default.values())) <= 1:
            return None  # equal weights: plain cosine
        aspects = self.aspects()
        if mode not in (None, "", "default"):
            if mode not in aspects:
                raise QueryError(f"unknown mode {mode!r} (modes: default, "
                                 + ", ".join(sorted(aspects)) + ")")
            w = {name: (1.0 if name == mode else 0.0) for name in aspects}
        else:
            w = {name: default.get(name, 1.0) for name in aspects}
        for name, value in (weights or {}).items():
            if name not in aspects:
                raise QueryError(f"unknown aspect {name!r} (aspects: "
                                 + ", ".join(sorted(aspects)) + ")")
            if not np.isfinite(value) or value < 0:
                raise QueryError(f"aspect weight for {name!r} must be a number >= 0")
            w[name] = float(value)
        total = sum(w.values())
        if total <= 0:
            raise QueryError("at least one aspect weight must be above 0")
        dim = max(stop for _, stop in aspects.values())
        vec = np.zeros(dim, dtype=np.float32)
        for name, (start, stop) in aspects.items():
            vec[start:stop] = w[name] * len(aspects) / total
        return vec

    def aspects(self) -> dict[str, tuple[int, int]]:
        if self._encoder is not None:
            return dict(self._encoder.aspects)
        from .model.registry import read_spec
        spec = read_spec(self._model_dir)
        if "aspects" in spec:
            return {k: (int(v[0]), int(v[1])) for k, v in spec["aspects"].items()}
        return dict(self.encoder().aspects)

    def default_weights(self) -> dict[str, float]:
        """Aspect weights of a plain query: what the model's ``encoder.json`` (or the loaded
        encoder) says; ``{}`` (equal weights) when it says nothing.  Never loads a model."""
        if self._encoder is not None:
            return {k: float(v) for k, v in self._encoder.default_weights.items()}
        from .model.registry import read_spec
        spec = read_spec(self._model_dir)
        return {k: float(v) for k, v in (spec.get("default_weights") or {}).items()}

    def similar(self, path: str, k: int = 10, *, mode: str | None = None,
                weights: Mapping[str, float] | None = None) -> list[Result]:
        """The ``k`` indexed files most similar to ``path``, best first, never ``path`` itself."""
        if not isinstance(k, int) or k < 1:
            raise QueryError("count must be a whole number >= 1")
        k = min(k, MAX_RESULTS)
        path = os.path.abspath(path)
        wvec = self.weights_vector(mode=mode, weights=weights)
        vec, rid = self.query_vector(path)
        index = self._search_index()
        exclude = frozenset({rid}) if rid is not None else frozenset()
        with self._lock:
            keys, scores = index.search(vec, k, exclude=exclude, weights=wvec)
            out = []
            for key, score in zip(keys.tolist(), scores.tolist()):
                p = self._paths.get(key)
                if p is None or p == path:
                    continue
                out.append(Result(p, float(np.clip(np.nan_to_num(score), -1.0, 1.0))))
        return out

    # -- status ---------------------------------------------------------------------------
    def status(self) -> dict:
        counts = self.store.counts(self.model_id)
        return {**counts, "model_id": self.model_id, "model_dir": str(self._model_dir),
                "data_dir": str(self.data_dir)}


class _EmptyIndex:
    dim = 0

    def __len__(self) -> int:
        return 0

    def add(self, keys, vectors) -> None:  # pragma: no cover - replaced on first add
        raise RuntimeError("empty index")

    def remove(self, keys) -> None:
        pass

    def search(self, query, k, *, exclude=frozenset(), weights=None):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
