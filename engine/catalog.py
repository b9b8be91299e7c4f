"""The catalog: one data dir's index, and the only code that changes it.

``Catalog`` owns the SQLite store (``engine.index.store``), the list of watched folders (kept in
the same database, with where each came from) and the in-memory search index with its id/path
maps (``engine.index.memory``), and keeps them equal: every write goes to the store in one
transaction and then to the memory index, under one lock, so a reader never sees one without
the other.  Nothing outside this module touches the store.

The writes: ``add_root`` / ``forget_root`` / ``prune_outside_roots`` (watched folders),
``record`` (embedded or failed files), ``remove`` / ``remove_under``, ``move``, ``touch`` and
``set_offline``.  ``record`` drops files under no watched folder, so files still being embedded
when their folder is removed never reach the index.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .index.memory import MemoryIndex
from .index.store import Entry, FileStat, Store, StoreError, diagnose
from .pipeline import Outcome

log = logging.getLogger(__name__)

#: where a watched folder came from
ORIGINS = ("command line", "config", "osc", "index")


@dataclass(frozen=True)
class Root:
    path: str
    origin: str


def under(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or inside it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class Catalog:
    REMEMBER_REMOVED = 4096  # embeddings of removed files kept in memory ...
    REMEMBER_SECONDS = 120.0  # ... for this long (a move seen as delete + create)

    def __init__(self, data_dir: Path, model_id: str, *, read_only: bool = False,
                 approximate: bool = True) -> None:
        """``approximate``: False for a one-shot command: search stays exact at any size (see
        ``MemoryIndex``), the approximate index is neither read nor built."""
        self.model_id = model_id
        self._store = Store(Path(data_dir) / "index.sqlite", read_only=read_only)
        self._data_dir = Path(data_dir)
        self._approximate = approximate
        self._memory = self._new_memory(model_id)
        self._serving = (model_id, self._memory)  # replaced together by ``switch_to``
        self._write = threading.RLock()  # store, memory and roots change together
        self._loaded = False
        self._loader: threading.Thread | None = None
        self._count_before_load = 0
        #: ``(path, reason)`` of rows found with an unreadable embedding when the search index
        #: was loaded: left out of it, and (when writable) queued for embedding again
        self.damaged: list[tuple[str, str]] = []
        self._roots: tuple[Root, ...] = tuple(Root(p, o) for p, o in self._store.roots())
        self._removed: OrderedDict[tuple[str, int], tuple[np.ndarray, float]] = OrderedDict()
        if not self._store.read_only:
            self._recover_switch()

    def _new_memory(self, model_id: str) -> MemoryIndex:
        return MemoryIndex(self._data_dir / f"search-{model_id}.idx",
                           generation=self._store.generation,
                           can_save=lambda: not self._store.read_only,
                           approximate=self._approximate)

    def _recover_switch(self) -> None:
        """A switch that stopped (a crash) after its store transaction but before the model
        pointer moved left the rows with the other model's embeddings: take back this
        model's, kept in the shadow table by that transaction."""
        target = self._store.get_meta("switching")
        if target is None:
            return
        if target != self.model_id:
            n = self._store.adopt(self.model_id)
            log.warning("a switch to model %s did not finish: %d files use %s again", target,
                        n, self.model_id)
        self._store.delete_meta("switching")

    @property
    def read_only(self) -> bool:
        return self._store.read_only

    def write_problem(self) -> str | None:
        """Why the index cannot be written now (None: a write just went through).  An index
        opened for reading because it could not be written is opened for writing again here
        once it can (``Store.reopen_writable``)."""
        return self._store.write_problem()

    def close(self) -> None:
        if self._loader is not None:
            self._loader.join()
        self._memory.close()
        self._memory.save()
        self._store.close()

    # -- the search index (loaded from the store on first use) ---------------------------------
    def _mem(self) -> MemoryIndex:
        if not self._loaded:
            with self._write:  # a load in progress (``load_in_background``) holds it
                if not self._loaded:
                    self._load()
        return self._memory

    def _load(self) -> None:
        # the saved approximate index, when it matches, spares reading the vectors
        rows = self._store.load_embeddings(
            self.model_id, need_vectors=lambda ids, paths, generation: not
            self._memory.load_saved(ids, paths, generation))
        if rows.damaged:
            reason = "its stored embedding is unreadable (missing or of the wrong length)"
            self.damaged = [(p, reason) for _, p in rows.damaged]
            queued = not self._store.read_only
            if queued:
                try:
                    self._store.forget_damaged(i for i, _ in rows.damaged)
                except StoreError:  # a full disk: left out now, queued at a later start
                    queued = False
            log.warning("%d indexed file(s) have an unreadable embedding and are left out of "
                        "the search%s: %s", len(rows.damaged),
                        " until they are embedded again" if queued else "",
                        ", ".join(p for _, p in rows.damaged[:5]) +
                        (", ..." if len(rows.damaged) > 5 else ""))
        if rows.vectors is not None:
            self._memory.load(rows.ids, rows.paths, rows.vectors, rows.generation)
        self._loaded = True

    def load_in_background(self) -> None:
        """Load the search index on a thread of its own: what needs it waits for it, while
        ``indexed_count`` answers at once (from the store's count until it is loaded)."""
        if self._loaded or self._loader is not None:
            return
        self._count_before_load = self._store.counts(self.model_id)["indexed"]

        def load() -> None:
            try:
                self._mem()
            except Exception:  # reported again by the first query that needs the index
                log.exception("loading the search index failed")

        self._loader = threading.Thread(target=load, name="soundalike-index-load", daemon=True)
        self._loader.start()

    @property
    def loading(self) -> bool:
        """Whether the search index is being loaded in the background."""
        return not self._loaded and self._loader is not None and self._loader.is_alive()

    def serving(self) -> tuple[str, MemoryIndex]:
        """``(model id, search index)`` as they are now, read together: a query that uses
        this index throughout stays with one model even if the catalog switches to another
        meanwhile (``switch_to``)."""
        self._mem()
        return self._serving

    def indexed_count(self) -> int:
        """Searchable files (online, embedded by the current model); lock-free once loaded,
        and while ``load_in_background`` loads."""
        if self.loading:
            return self._count_before_load
        return self._mem().count

    def is_indexed(self, path: str) -> bool:
        return self._mem().id_of(path) is not None

    def indexed_paths(self) -> list[str]:
        return self._mem().paths()

    def id_of(self, path: str) -> int | None:
        return self._mem().id_of(path)

    def vector(self, rid: int) -> np.ndarray | None:
        return self._mem().vector(rid)

    def search(self, vec: np.ndarray, k: int, *, exclude: frozenset[int] = frozenset(),
               weights: np.ndarray | None = None) -> list[tuple[str, float]]:
        return self._mem().search(vec, k, exclude=exclude, weights=weights)

    @property
    def search_kind(self) -> str:
        """"exact" or "approx" (the in-memory index's current form)."""
        return self._mem().kind

    @property
    def building(self) -> bool:
        """Whether an approximate index is being built in the background."""
        return self._mem().building

    # -- reads ----------------------------------------------------------------------------------
    def get(self, path: str) -> Entry | None:
        return self._store.get(path)

    def entries(self, *, under: str | None = None) -> list[Entry]:
        return self._store.entries(under=under)

    def counts(self) -> dict[str, int]:
        return self._store.counts(self.model_id)

    def failures(self, *, under: str | None = None) -> list[tuple[str, str]]:
        if under is None:
            return self._store.failures()
        return sorted((e.path, e.error or "") for e in self._store.entries(under=under)
                      if e.status == "failed")

    def embedding(self, path: str) -> np.ndarray | None:
        return self._store.embedding(path, self.model_id)

    def roots(self) -> list[Root]:
        """The watched folders (lock-free: a snapshot)."""
        return list(self._roots)

    def root_of(self, path: str) -> str | None:
        """The innermost watched folder holding ``path`` (None: outside the library)."""
        matches = [r.path for r in self._roots if under(path, r.path)]
        return max(matches, key=len) if matches else None

    def known_embedding(self, st: FileStat) -> np.ndarray | None:
        """The embedding of identical content (same fingerprint and size) if already known:
        a file removed moments ago (a move seen as delete + create) or a copy of an indexed
        file.  Called from decoding threads."""
        key = (st.fingerprint, st.size)
        with self._write:
            hit = self._removed.pop(key, None)
        if hit is not None and time.monotonic() - hit[1] <= self.REMEMBER_SECONDS:
            return hit[0]
        for entry in self._store.find_by_fingerprint(st.fingerprint, st.size):
            if entry.status == "ok" and entry.model_id == self.model_id and \
                    entry.path != st.path:
                vec = self._store.embedding(entry.path, self.model_id)
                if vec is not None:
                    return vec
        return None

    # -- writes: watched folders --------------------------------------------------------------
    def add_root(self, path: str, origin: str) -> bool:
        """Watch ``path`` from now on (persisted); False when it already was.  A folder added
        by hand ("osc", "index") keeps that origin when the command line or config file names
        it too; one of the command line or config file that is added by hand takes the new
        origin, and so outlives a restart without it."""
        if origin not in ORIGINS:
            raise ValueError(f"unknown origin {origin!r}")
        with self._write:
            known = {r.path: r.origin for r in self._roots}
            if path in known and (known[path] == origin or
                                  (known[path] in ORIGINS[2:] and origin in ORIGINS[:2])):
                return False
            self._store.put_root(path, origin)
            self._roots = tuple(Root(p, o) for p, o in self._store.roots())
            return path not in known

    def declare_roots(self, declared: dict[str, str], origins: Iterable[str]) -> list[str]:
        """Make the watched folders of ``origins`` exactly ``declared`` (``{path: origin}``):
        those no longer declared are forgotten with their files (returned), the others added
        or given their declared origin.  Folders added by hand ("osc", "index") stay."""
        origins = set(origins)
        gone: list[str] = []
        with self._write:
            for r in self.roots():
                if r.origin in origins and r.path not in declared:
                    gone.extend(self.forget_root(r.path))
            for path, origin in declared.items():
                self.add_root(path, origin)
        return gone

    def forget_root(self, path: str) -> list[str]:
        """Stop watching ``path`` and remove its files from the index in the same
        transaction (but those another watched folder still covers); returns their paths."""
        with self._write:
            others = [r.path for r in self._roots if r.path != path]
            if any(under(path, o) for o in others):
                keep = [path]  # inside another watched folder: its files stay
            else:
                keep = [o for o in others if under(o, path)]
            gone = self._store.drop_root(path, keep=keep)
            self._roots = tuple(Root(p, o) for p, o in self._store.roots())
            self._forget(gone)
            return [p for _, p in gone]

    def prune_outside_roots(self) -> list[str]:
        """Remove the files under no watched folder (left by a folder no longer watched)."""
        with self._write:
            gone = self._store.remove_outside(r.path for r in self._roots)
            self._forget(gone)
            return [p for _, p in gone]

    # -- writes: files --------------------------------------------------------------------------
    def record(self, outcomes: Iterable[Outcome]) -> tuple[list[str], list[tuple[str, str]]]:
        """Store a batch of outcomes in one transaction and update the search index.

        Files deleted while they were being embedded, or whose folder stopped being watched,
        are dropped, not stored.  When the batch cannot be stored, each file is stored on its
        own: one the store cannot take is returned as failed (with why, and logged; no row,
        so the next scan tries it again) and the others are stored.  When the store fails for
        a reason of its own (``StoreError``: a full disk, read-only) this raises it, after
        storing what it could: the caller keeps the batch to retry (planning again skips the
        files stored)."""
        with self._write:
            outcomes = [o for o in outcomes
                        if self.root_of(o.stat.path) is not None and os.path.isfile(o.stat.path)]
            try:
                return self._record(outcomes)
            except Exception as exc:  # sorted out below, file by file
                if len(outcomes) == 1 and isinstance(exc, StoreError):
                    raise
            # one file the store cannot take must not lose the others: each on its own
            done: list[str] = []
            failed: list[tuple[str, str]] = []
            store_error: StoreError | None = None
            for o in outcomes:
                try:
                    d, f = self._record([o])
                except StoreError as exc:  # the store's own trouble (a full disk, read-only)
                    store_error = store_error or exc
                    continue
                except Exception as exc:  # this file's alone
                    log.error("cannot store %s: %s: %s", o.stat.path, type(exc).__name__, exc)
                    failed.append((o.stat.path, f"could not be stored ({type(exc).__name__}: "
                                                f"{exc}); it is tried again at the next scan"))
                    continue
                done += d
                failed += f
            if store_error is not None:  # the caller retries; what was stored stays stored
                raise store_error
            return done, failed

    def _record(self, outcomes: list[Outcome]) -> tuple[list[str], list[tuple[str, str]]]:
        """``record`` of one batch (the write lock is held): the embedded files in one
        transaction, then the failed ones in another (both upserts: storing again is
        harmless)."""
        good = [(o.stat, o.vector) for o in outcomes if o.vector is not None]
        bad = [(o.stat, o.error or "unknown error") for o in outcomes if o.vector is None]
        if good:
            ids = self._store.put_embeddings(good, self.model_id)
            if self._loaded:
                self._memory.add(ids, [s.path for s, _ in good], np.stack([v for _, v in good]))
        if bad:
            self._store.put_failures(bad)
            if self._loaded:
                self._memory.remove(i for i in (self._memory.id_of(s.path) for s, _ in bad)
                                    if i is not None)
        return [s.path for s, _ in good], [(s.path, r) for s, r in bad]

    def remove(self, paths: Iterable[str]) -> list[str]:
        """Remove files from the index; returns the paths that were in it."""
        paths = list(paths)
        now = time.monotonic()
        present = []
        with self._write:
            for p in paths:
                entry = self._store.get(p)
                if entry is None:
                    continue
                present.append(p)
                vec = self._store.embedding(p, self.model_id)
                if vec is not None:
                    self._removed[(entry.fingerprint, entry.size)] = (vec, now)
            while len(self._removed) > self.REMEMBER_REMOVED:
                self._removed.popitem(last=False)
            if present:
                self._memory.remove(self._store.remove(present))
        return present

    def remove_under(self, path: str) -> list[str]:
        """Remove a file, or every file under a folder; returns the paths removed."""
        with self._write:
            paths = [e.path for e in self._store.entries(under=path)]
            if self._store.get(path) is not None:
                paths.append(path)
            return self.remove(paths) if paths else []

    def apply_changes(self, changes: list[tuple]) -> list[list[tuple]]:
        """Apply a batch of the watcher's changes in order, in one store transaction, then to
        the search index at once: ``("delete", path)`` (a file, or every file under a folder)
        and ``("move", old, new)``.  Returns, per change, the ``(id, path)`` removed or the
        ``(id, old, new)`` moved.  The cost grows with the rows changed, not the index size."""
        if not changes:
            return []
        with self._write:
            done = self._store.apply_changes(changes, self.model_id,
                                             remember=self.REMEMBER_REMOVED)
            now = time.monotonic()
            for fingerprint, size, blob in done.removed_embeddings:
                key = (fingerprint, size)
                self._removed[key] = (np.frombuffer(blob, dtype=np.float32).copy(), now)
                self._removed.move_to_end(key)
            while len(self._removed) > self.REMEMBER_REMOVED:
                self._removed.popitem(last=False)
            pairs = list(zip(changes, done.results))
            # removals first: a row removed after a move in the same batch is gone by its id,
            # and a rename of a row removed later is skipped (see MemoryIndex.rename)
            self._memory.remove([i for c, rows in pairs if c[0] == "delete" for i, _ in rows]
                                + done.replaced)
            self._memory.rename([m for c, rows in pairs if c[0] == "move" for m in rows])
            return done.results

    def store_problem(self) -> str | None:
        """Why the index cannot be written now, when the cause is one the user can fix (a full
        disk, a read-only folder, a file size limit below what it needs), else None.  Cheap:
        the indexer polls it to retry as soon as the cause is gone."""
        if self._store.read_only:
            return None
        return diagnose(self._store.path)

    def move(self, old: str, new: str) -> list[tuple[int, str, str]]:
        """Rename a file or folder in the index, keeping embeddings: [(id, old, new), ...].
        A file already indexed at a target path is replaced, in the store and the search
        index alike (it is the watcher's batched move, one change long)."""
        return self.apply_changes([("move", old, new)])[0]

    def touch(self, stat: FileStat) -> None:
        """A file whose content did not change got a new size or mtime."""
        with self._write:
            self._store.touch(stat)

    def set_offline(self, folder: str, offline: bool) -> int:
        """Mark the files under ``folder`` offline (kept, not searched) or back online, in
        place: only their rows change in the search index.  Returns how many changed."""
        with self._write:
            ids = self._store.set_offline(folder, offline)
            if self._loaded and ids:
                if offline:
                    self._memory.remove(ids)
                else:
                    for chunk_ids, paths, vecs in self._store.iter_embeddings(self.model_id,
                                                                              under=folder):
                        self._memory.add(chunk_ids.tolist(), paths, vecs)
            return len(ids)

    # -- writes: switching to another model (engine.switching) ------------------------------
    def switch_todo(self, model_id: str) -> list[str]:
        """The online indexed files that have no embedding by ``model_id`` yet."""
        return [p for _, p in self._store.shadow_todo(model_id)]

    def keep_for_switch(self, outcomes: Iterable[Outcome], model_id: str) -> int:
        """Keep embeddings by ``model_id`` beside the searchable ones (one transaction):
        nothing searchable changes until ``switch_to``."""
        return self._store.put_shadow([(o.stat, o.vector) for o in outcomes
                                       if o.vector is not None], model_id)

    def prepare_switch(self, model_id: str) -> int:
        """Before re-embedding for ``model_id``: drop kept embeddings of other models (the
        store holds at most two models' worth) and of files gone; returns how many of
        ``model_id``'s are already kept (a switch back, or one interrupted before)."""
        self._store.prune_shadow(model_id)
        return self._store.shadow_count(model_id)

    def switch_to(self, model_id: str, commit: Callable[[], None]) -> list[str]:
        """Make ``model_id``'s kept embeddings the searchable ones, at once for every reader:
        one store transaction (the current ones are kept in turn, for a switch back), a new
        search index, then ``commit()`` (the caller moves its model pointer; if it raises, the
        store goes back to the current model and nothing changed).  Returns the online files
        left without an embedding by ``model_id`` (changed since, or unreadable): the caller
        has them embedded again."""
        with self._write:  # no other write until the swap is done
            old_id = self.model_id
            # the new search index first, from what the transaction will leave: between the
            # store's commit and the pointer's move (where a reader in another process would
            # count the files under neither model) there is only a file rename
            rows = self._store.preview_adopt(model_id)
            memory = self._new_memory(model_id)
            try:
                memory.load(rows.ids, rows.paths, rows.vectors, rows.generation)
                self._store.adopt(model_id, marker=model_id)
            except BaseException:
                memory.close()
                raise
            try:
                commit()
            except BaseException:
                memory.close()
                self._store.adopt(old_id)
                self._store.delete_meta("switching")
                raise
            self._loaded = True
            previous, self._memory, self.model_id = self._memory, memory, model_id
            self._serving = (model_id, memory)
            self._removed.clear()
            self.damaged = []
            try:
                self._store.delete_meta("switching")
            except Exception:  # recovered at the next start (``_recover_switch``)
                log.exception("cannot clear the switch marker")
            left = [e.path for e in self._store.entries()
                    if e.status == "ok" and not e.offline and e.model_id != model_id]
        previous.close()
        return left

    def _forget(self, gone: list[tuple[int, str]]) -> None:
        if gone:
            self._memory.remove(i for i, _ in gone)
