"""Choosing the active model: listing the trained ones, switching and rolling back.

The active model is named by ``models/active`` in the data dir (no file: the packaged
default).  A switch re-embeds every indexed file with the new model *beside* the current
embeddings (the store's shadow table, ``Catalog.keep_for_switch``), while the current ones keep
answering; then one swap (``Library.adopt_model``) makes the new embeddings searchable, moves
the pointer and hands new files and on-the-fly queries to the new model, at once.  So
``status`` and ``similar`` never find the index empty, and a crash at any point leaves one
model active with all its embeddings: before the swap's transaction the old one (the kept
embeddings are reused by the next switch to that model), after the pointer moved the new one,
and in between the next start takes the old one's back (``Catalog._recover_switch``).  The
replaced embeddings are kept in turn, so switching back re-embeds only what changed since.

:func:`switch_model` switches in this process (no daemon runs); :class:`ModelSwitcher` does it
inside the daemon, on a background thread, the swap on the indexing worker's thread (where no
batch of the old model is in flight).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Callable

from .errors import EngineError

from .model.registry import PACKAGED_DEFAULT, ModelError, model_id_of, read_spec

#: the name that means the packaged model in ``soundalike model use``
DEFAULT_NAME = "default"


def models_dir(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "models"


def active_name(data_dir: str | os.PathLike) -> str:
    """The active model's folder name under ``models/``, or :data:`DEFAULT_NAME`."""
    from .models import active_model_dir

    found = active_model_dir(data_dir)
    return DEFAULT_NAME if found == PACKAGED_DEFAULT else found.name


def list_models(data_dir: str | os.PathLike) -> list[dict]:
    """The packaged default, then every trained model in ``models/`` (oldest first):
    ``{"name", "model_id", "kind", "dir", "active", "info"}`` (``info``: its training
    record, :func:`engine.training.read_info`)."""
    from .training import read_info

    active = active_name(data_dir)
    out = []
    for name, d in [(DEFAULT_NAME, PACKAGED_DEFAULT), *_trained(data_dir)]:
        try:
            spec = read_spec(d)
        except ModelError:
            continue
        out.append({"name": name, "model_id": str(spec.get("model_id") or name),
                    "kind": spec["kind"], "dir": str(d), "active": name == active,
                    "info": read_info(d) if name != DEFAULT_NAME else {}})
    return out


def _trained(data_dir) -> list[tuple[str, Path]]:
    root = models_dir(data_dir)
    try:
        found = [d for d in root.iterdir()
                 if d.is_dir() and not d.name.startswith(".") and (d / "encoder.json").is_file()]
    except OSError:
        return []
    return [(d.name, d) for d in sorted(found, key=lambda d: (d.stat().st_mtime, d.name))]


def resolve(data_dir: str | os.PathLike, name: str) -> tuple[str, Path]:
    """A model named as ``model use`` takes it: ``default``, a folder name, or a unique prefix
    of one -> (its name, its folder).  Raises ModelError naming the choices."""
    if name == DEFAULT_NAME:
        return DEFAULT_NAME, PACKAGED_DEFAULT
    trained = dict(_trained(data_dir))
    if name in trained:
        return name, trained[name]
    hits = [n for n in trained if n.startswith(name)] if name else []
    if len(hits) == 1:
        return hits[0], trained[hits[0]]
    known = ", ".join([DEFAULT_NAME, *trained]) or DEFAULT_NAME
    raise ModelError(f"{'ambiguous' if hits else 'no'} model {name!r} (models: {known})")


log = logging.getLogger(__name__)


class SwitchError(EngineError):
    """A model switch that cannot be started (another one runs, or the model is fixed)."""


def point_at(data_dir: str | os.PathLike, name: str) -> None:
    """Make ``models/active`` name model ``name`` (:data:`DEFAULT_NAME`: remove it)."""
    from .models import activate_model

    if name == DEFAULT_NAME:
        pointer = models_dir(data_dir) / "active"
        if pointer.exists():
            pointer.unlink()
    else:
        activate_model(data_dir, name)


def reembed(library, model, paths: list[str], *, stop: threading.Event | None = None,
            on_file: Callable[[int], None] | None = None) -> tuple[int, list[str]]:
    """Embed ``paths`` with ``model`` (an ``ActiveModel``) and keep the embeddings beside the
    searchable ones, a transaction per batch; returns (how many kept, the paths that could
    not be read).  ``on_file(files done so far)`` after each file."""
    from .pipeline import embed_files

    kept, failed, batch = 0, [], []
    encoder = model.encoder()

    def flush() -> None:
        nonlocal kept
        kept += library.catalog.keep_for_switch(batch, model.model_id)
        batch.clear()

    for i, outcome in enumerate(embed_files(encoder, paths, batch_size=library.batch_size,
                                            threads=library.decode_threads, stop=stop,
                                            lock=model.lock), 1):
        if outcome.vector is None:
            failed.append(outcome.stat.path)
        else:
            batch.append(outcome)
        if len(batch) >= library.batch_size:
            flush()
        if on_file is not None:
            on_file(i)
    if batch:
        flush()
    return kept, failed


def switch_model(data_dir: str | os.PathLike, name: str, *,
                 progress: Callable[[int, int], None] | None = None,
                 threads: int | None = None) -> dict:
    """Make model ``name`` (see :func:`resolve`) the active one, in this process (the caller
    holds the data dir): re-embed every indexed file with it beside the current embeddings,
    then swap.  Files that cannot be read now keep their old embedding (the next ``index``
    re-embeds or drops them).  Returns ``{"name", "model_id", "reembedded", "unreadable",
    "unchanged"}``; ``unchanged`` is True when it was already active and every file had its
    embeddings."""
    from .models import ActiveModel
    from .service import Library

    name, model_dir = resolve(data_dir, name)
    was = active_name(data_dir)
    lib = Library(data_dir, decode_threads=threads, approximate=False)
    try:
        model = ActiveModel(lib.data_dir, model_dir=model_dir)
        lib.catalog.prepare_switch(model.model_id)
        todo = lib.catalog.switch_todo(model.model_id)
        if not todo and was == name and lib.model_id == model.model_id:
            return {"name": name, "model_id": model.model_id, "reembedded": 0,
                    "unreadable": 0, "unchanged": True}
        kept, failed = 0, []
        if todo:
            kept, failed = reembed(lib, model, todo, on_file=lambda i: progress(
                i, len(todo)) if progress else None)
        lib.adopt_model(model, commit=lambda: point_at(data_dir, name))
    finally:
        lib.close()
    return {"name": name, "model_id": model.model_id, "reembedded": kept,
            "unreadable": len(failed), "unchanged": False}


class ModelSwitcher:
    """The daemon's model switches, one at a time, each on a background thread.

    ``run_exclusive(fn)`` runs ``fn`` where no indexing batch is in flight and returns a
    Future (the indexing worker's ``Indexer.run_exclusive``); ``embed_again(paths)`` hands
    files back to the indexing worker; ``listener(event, args)`` hears "switch-progress"
    (name, model_id, done, total), "switched" (name, model_id, reembedded) and
    "switch-failed" (name, model_id, message).  ``fixed``: the daemon was given a model
    (SOUNDALIKE_MODEL), which no switch could replace: every switch is refused.
    """

    #: re-embedding rounds before the swap: files added or changed while a round runs are
    #: embedded by the next one; what is left after the last is embedded at the swap itself
    ROUNDS = 4
    #: at most this many files are left to embed at the swap (where indexing waits for it)
    AT_SWAP = 64

    def __init__(self, library, run_exclusive: Callable[[Callable[[], object]], Future], *,
                 embed_again: Callable[[list[str]], None],
                 listener: Callable[[str, tuple], None] | None = None, fixed: bool = False,
                 nice: int = 10) -> None:
        self.library = library
        self.data_dir = library.data_dir
        self._run_exclusive = run_exclusive
        self._embed_again = embed_again
        self.listener = listener
        self.fixed = fixed
        self.nice = nice
        self._lock = threading.Lock()
        self._state: dict | None = None
        self._pushed = 0.0  # when progress was last pushed
        self._worker = None

    def active(self) -> dict:
        """``{"name", "model_id"}`` of the model answering now."""
        return {"name": active_name(self.data_dir) if not self.fixed else "SOUNDALIKE_MODEL",
                "model_id": self.library.model_id}

    def state(self) -> dict | None:
        """``{"name", "model_id", "done", "total"}`` while a switch runs, else None."""
        with self._lock:
            return dict(self._state) if self._state is not None else None

    def start(self, name: str) -> dict:
        """Start switching to model ``name`` (:func:`resolve`); returns ``{"name",
        "model_id", "started"}``: ``started`` False when that very switch runs already.  A
        switch to the model in use ends at once ("switched", 0 re-embedded).  Raises
        ModelError (no such model) or SwitchError (another switch runs, or ``fixed``)."""
        from .threads import Worker

        if self.fixed:
            raise SwitchError("this daemon was started with SOUNDALIKE_MODEL set, which "
                              "overrides the active model: unset it and restart the daemon "
                              "to switch models")
        name, model_dir = resolve(self.data_dir, name)
        model_id = model_id_of(model_dir)
        with self._lock:
            if self._state is not None:
                if self._state["name"] == name:
                    return {"name": name, "model_id": model_id, "started": False}
                raise SwitchError(
                    f"a switch to model {self._state['name']} is in progress "
                    f"({self._state['done']}/{self._state['total']} files re-embedded): wait "
                    "for it to finish, then switch again")
            if self._worker is not None:
                self._worker.stop(1.0)  # ended already: its thread is only joined
            self._state = {"name": name, "model_id": model_id, "done": 0, "total": 0}
            self._worker = Worker("soundalike-switch",
                                  lambda stop: self._run(stop, name, model_dir))
            self._worker.start()
        return {"name": name, "model_id": model_id, "started": True}

    def stop(self, timeout: float = 10.0) -> bool:
        with self._lock:
            worker = self._worker
        return worker.stop(timeout) if worker is not None else True

    def _emit(self, event: str, *args) -> None:
        if self.listener is not None:
            try:
                self.listener(event, args)
            except Exception:
                log.exception("switch listener failed on %s", event)

    #: progress pushes at most this often (seconds; the last one of a round always goes)
    PROGRESS_INTERVAL = 0.25

    def _progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        with self._lock:
            if self._state is None:
                return
            self._state.update(done=done, total=total)
            name, model_id = self._state["name"], self._state["model_id"]
            if done < total and now - self._pushed < self.PROGRESS_INTERVAL:
                return
            self._pushed = now
        self._emit("switch-progress", name, model_id, done, total)

    def _run(self, stop: threading.Event, name: str, model_dir: Path) -> None:
        from .indexer import _lower_priority
        from .models import ActiveModel

        _lower_priority(self.nice)
        model_id = model_id_of(model_dir)
        try:
            lib, catalog = self.library, self.library.catalog
            if lib.model_id == model_id:  # files it has not embedded: the indexer's job
                point_at(self.data_dir, name)  # the pointer may name another folder
                log.info("model %s is in use already", name)
                self._finish("switched", name, model_id, 0)
                return
            log.info("switching to model %s (%s): re-embedding the indexed files while %s "
                     "answers", name, model_id, lib.model_id)
            model = ActiveModel(self.data_dir, model_dir=model_dir)
            model.warm_up()
            reused = catalog.prepare_switch(model_id)
            done, failed = 0, set()
            for _ in range(self.ROUNDS):
                todo = [p for p in catalog.switch_todo(model_id) if p not in failed]
                if len(todo) <= self.AT_SWAP or stop.is_set():
                    break
                base = done
                self._progress(done, done + len(todo))
                kept, bad = reembed(lib, model, todo, stop=stop, on_file=lambda i: (
                    self._progress(base + i, base + len(todo))))
                done += kept + len(bad)
                failed.update(bad)
            if stop.is_set():
                log.info("switch to model %s interrupted (the daemon stops): %s stays in "
                         "use", name, lib.model_id)
                return
            result = self._run_exclusive(lambda: self._swap(model, name, failed, done))
            while not stop.is_set():
                try:
                    reembedded = result.result(timeout=0.5)
                    break
                except TimeoutError:
                    continue
            else:
                result.cancel()
                return
            log.info("now using model %s (%s): %d files re-embedded (%d kept from before)",
                     name, model_id, reembedded, reused)
            self._finish("switched", name, model_id, reembedded)
        except Exception as exc:
            log.exception("switching to model %s failed; %s stays in use", name,
                          self.library.model_id)
            self._finish("switch-failed", name, model_id,
                         f"cannot switch to model {name}: {exc}")

    def _swap(self, model, name: str, failed: set[str], done: int) -> int:
        """On the indexing worker's thread: embed the last files, then swap."""
        lib = self.library
        todo = [p for p in lib.catalog.switch_todo(model.model_id) if p not in failed]
        total = done + len(todo)
        kept, bad = reembed(lib, model, todo)
        self._progress(total, total)
        left = lib.adopt_model(model, commit=lambda: point_at(self.data_dir, name))
        if left:  # changed since their re-embedding, or unreadable: the worker has them
            self._embed_again(left)
        return done - len(failed) + kept

    def _finish(self, event: str, name: str, model_id: str, value) -> None:
        with self._lock:
            self._state = None
        self._emit(event, name, model_id, value)
