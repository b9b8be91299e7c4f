"""What the OSC server needs from the daemon: the ``Backend`` protocol.

The OSC handlers only decode arguments, call one of these methods and encode the reply.  The
daemon (``bridge.app``) provides the real implementation on top of the engine's indexing worker;
``LibraryBackend`` serves a plain :class:`engine.Library` (no watching), for tests and tools.
"""
from __future__ import annotations

import os
import threading
from typing import Callable, Mapping, Protocol

from engine import Library, QueryError, Result

#: event names pushed to subscribers: "indexed" (path), "removed" (path),
#: "moved" (old, new), "progress" (indexed, pending, state)
EventListener = Callable[[str, tuple], None]


class Backend(Protocol):
    def similar(self, path: str, k: int, *, mode: str | None = None,
                weights: Mapping[str, float] | None = None) -> list[Result]:
        """Best ``k`` results for ``path`` (raises engine.QueryError with a plain message)."""

    def status(self) -> dict:
        """At least ``indexed``, ``pending`` (int) and ``state`` (scanning|indexing|idle)."""

    def folders(self) -> list[str]: ...

    def add_folder(self, path: str) -> None:
        """Start watching and indexing ``path`` (raises QueryError if it is not a folder)."""

    def remove_folder(self, path: str) -> None:
        """Stop watching ``path`` and drop its files from the index (QueryError if unknown)."""

    def rescan(self) -> None:
        """Reconcile every watched folder with the disk (asynchronously)."""

    def is_indexed(self, path: str) -> bool:
        """Whether ``path`` is indexed (its query needs no encoder: the fast lane)."""

    def is_allowed_query(self, path: str) -> bool:
        """Whether a *remote* client may query ``path``: indexed or inside a watched folder."""

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener(event, args)`` for indexing events (from any thread; must not block)."""


class LibraryBackend:
    """A Backend over a Library, without a watcher: folders are indexed synchronously."""

    def __init__(self, library: Library, folders: list[str] | None = None) -> None:
        self.library = library
        self._folders = [os.path.abspath(f) for f in folders or []]
        self._listeners: list[EventListener] = []
        self._lock = threading.Lock()

    def similar(self, path, k, *, mode=None, weights=None):
        return self.library.similar(path, k, mode=mode, weights=weights)

    def status(self) -> dict:
        info = self.library.status()
        return {**info, "pending": 0, "state": "idle"}

    def folders(self) -> list[str]:
        with self._lock:
            return list(self._folders)

    def add_folder(self, path: str) -> None:
        path = os.path.abspath(path)
        if not os.path.isdir(path):
            raise QueryError(f"no such folder: {path}")
        with self._lock:
            if path not in self._folders:
                self._folders.append(path)
        self.rescan()

    def remove_folder(self, path: str) -> None:
        path = os.path.abspath(path)
        with self._lock:
            if path not in self._folders:
                raise QueryError(f"not a watched folder: {path}")
            self._folders.remove(path)
        for entry in self.library.store.entries(under=path):
            self.library.remove_paths([entry.path])
            self._emit("removed", (entry.path,))

    def rescan(self) -> None:
        folders = [f for f in self.folders() if os.path.isdir(f)]
        before = set(self.library.indexed_paths())
        self.library.index(folders)
        after = set(self.library.indexed_paths())
        for p in sorted(after - before):
            self._emit("indexed", (p,))
        for p in sorted(before - after):
            self._emit("removed", (p,))
        st = self.status()
        self._emit("progress", (st["indexed"], st["pending"], st["state"]))

    def is_indexed(self, path: str) -> bool:
        return self.library.is_indexed(path)

    def is_allowed_query(self, path: str) -> bool:
        path = os.path.abspath(path)
        if path in set(self.library.indexed_paths()):
            return True
        return any(path.startswith(f.rstrip(os.sep) + os.sep) for f in self.folders())

    def add_listener(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def _emit(self, event: str, args: tuple) -> None:
        for listener in list(self._listeners):
            try:
                listener(event, args)
            except Exception:  # a failing listener is logged by its owner, never fatal here
                pass
