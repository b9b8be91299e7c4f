"""What the OSC server needs from the daemon: the ``Backend`` protocol, and the daemon's
implementation of it, ``DaemonBackend``, over the engine's library, indexing worker and
folder watcher.

The OSC handlers only decode arguments, call one of these methods and encode the reply.
"""
from __future__ import annotations

import os
from typing import Callable, Mapping, Protocol

from engine import Library, QueryError, Result
from engine.folders import check_folders
from engine.indexer import Indexer
from engine.switching import ModelSwitcher
from engine.watch import Watcher

#: event names pushed to subscribers: "indexed" (path), "removed" (path),
#: "moved" (old, new), "progress" (indexed, pending, state), "offline" (folder),
#: "online" (folder), "storage" (state, reason: the data dir became read-only or writable);
#: from a model switch: "switch-progress" (name, model_id, done, total),
#: "switched" (name, model_id, reembedded), "switch-failed" (name, model_id, message)
EventListener = Callable[[str, tuple], None]


class Backend(Protocol):
    def similar(self, path: str, k: int, *, mode: str | None = None,
                weights: Mapping[str, float] | None = None) -> list[Result]:
        """Best ``k`` results for ``path`` (raises engine.EngineError with a plain message)."""

    def status(self) -> dict:
        """At least ``indexed``, ``pending`` (int) and ``state`` (scanning|indexing|idle);
        ``problems``, when present: what keeps the daemon from working (one line each, e.g.
        why the index cannot be written); optionally ``storage``: ``{"state": "writable" |
        "read-only", "reason"}``.
        Cheap and never blocked by a query, a write or a load: answered on the receiving
        thread."""

    def folders(self) -> list[str]:
        """The watched folders, in the order added."""

    def folder_origins(self) -> list[dict]:
        """The watched folders: ``{"path", "origin", "online"}`` each, in the order added."""

    def add_folder(self, path: str) -> None:
        """Start watching and indexing ``path`` (raises QueryError if it is not a folder)."""

    def remove_folder(self, path: str) -> None:
        """Stop watching ``path`` and drop its files from the index (QueryError if unknown)."""

    def rescan(self) -> None:
        """Reconcile every watched folder with the disk (asynchronously, coalesced)."""

    def is_indexed(self, path: str) -> bool:
        """Whether ``path`` is indexed (its query needs no encoder: the fast lane)."""

    def is_allowed_query(self, path: str) -> bool:
        """Whether a *remote* client may query ``path``: indexed or inside a watched folder."""

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener(event, args)`` for indexing events (from any thread; must not block)."""

    # optional (a backend without them answers /soundalike/model* with an error):
    # model() -> {"name", "model_id"}; switching() -> {"name", "model_id", "done", "total"} or
    # None; use_model(name) -> {"name", "model_id", "started"} (raises engine.EngineError)


class DaemonBackend:
    """The Backend over the running library, indexing worker and (optional) watcher."""

    def __init__(self, library: Library, indexer: Indexer, watcher: Watcher | None = None,
                 switcher: ModelSwitcher | None = None) -> None:
        self.library = library
        self.catalog = library.catalog
        self.indexer = indexer
        self.watcher = watcher
        self.switcher = switcher
        self._listeners: list[EventListener] = []

    def on_switch_event(self, event: str, args: tuple) -> None:
        """The switcher's listener: its events go where the indexer's go."""
        for listener in list(self._listeners):
            listener(event, args)

    def similar(self, path: str, k: int, *, mode: str | None = None,
                weights: Mapping[str, float] | None = None):
        return self.library.similar(path, k, mode=mode, weights=weights)

    def status(self) -> dict:
        info = {"indexed": self.catalog.indexed_count(), "model_id": self.library.model_id}
        info.update(self.indexer.status())
        problem = info.pop("problem", None)
        info["problems"] = [problem] if problem else []  # what keeps it from working
        info["offline_roots"] = self.indexer.offline_roots()
        info["folders"] = self.indexer.roots()
        info["embedded"] = self.library.embedded
        info["storage"] = self.indexer.storage()
        return info

    def _refuse_while_held(self, what: str) -> None:
        held = self.indexer.held
        if held is not None:
            raise QueryError(f"cannot {what} now: the data dir cannot be written ({held}); "
                             "the index is served read-only")

    def folders(self) -> list[str]:
        return self.indexer.roots()

    def folder_origins(self) -> list[dict]:
        offline = set(self.indexer.offline_roots())
        return [{"path": r.path, "origin": r.origin, "online": r.path not in offline}
                for r in self.catalog.roots()]

    def add_folder(self, path: str) -> None:
        path = os.path.abspath(os.path.expanduser(path))
        if not os.path.isdir(path):
            raise QueryError(f"no such folder: {path}")
        for _, why in check_folders([path]):  # system roots, pseudo file systems
            raise QueryError(why)
        self._refuse_while_held("add a folder")
        if self.watcher is not None:
            self.watcher.add(path)
        self.indexer.add_root(path, "osc")

    def remove_folder(self, path: str) -> None:
        path = os.path.abspath(os.path.expanduser(path))
        if path not in self.indexer.roots():
            raise QueryError(f"not a watched folder: {path}")
        self._refuse_while_held("remove a folder")
        if self.watcher is not None:
            self.watcher.discard(path)
        self.indexer.remove_root(path)

    def rescan(self) -> None:
        self.indexer.request_scan()

    def is_indexed(self, path: str) -> bool:
        return self.library.is_indexed(path)

    def is_allowed_query(self, path: str) -> bool:
        path = os.path.abspath(path)
        return self.catalog.root_of(path) is not None or self.catalog.is_indexed(path)

    def add_listener(self, listener: EventListener) -> None:
        self.indexer.add_listener(listener)
        self._listeners.append(listener)

    # -- the model (engine.switching) ------------------------------------------------------
    def _switcher(self) -> ModelSwitcher:
        if self.switcher is None:
            raise QueryError("this daemon cannot switch models")
        return self.switcher

    def model(self) -> dict:
        return self._switcher().active()

    def switching(self) -> dict | None:
        return self.switcher.state() if self.switcher is not None else None

    def use_model(self, name: str) -> dict:
        return self._switcher().start(name)
