"""Watching folders with watchdog: file-system events become calls on a sink (the Indexer).

The handler only translates; it never blocks on embedding.  Hidden files (a leading dot, as
copy tools and editors use for temporary files) are ignored until they are renamed.
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Protocol

from .audio import is_audio_name

log = logging.getLogger(__name__)


class Sink(Protocol):
    def file_changed(self, path: str, *, immediate: bool = False) -> None: ...
    def folder_appeared(self, path: str) -> None: ...
    def deleted(self, path: str) -> None: ...
    def moved(self, src: str, dest: str) -> None: ...


def _interesting(path: str) -> bool:
    return is_audio_name(path) and not os.path.basename(path).startswith(".")


class Watcher:
    """One watchdog observer watching every root recursively."""

    def __init__(self, sink: Sink) -> None:
        from watchdog.observers import Observer

        self._sink = sink
        self._observer = Observer()
        self._observer.name = "soundalike-watch"
        self._watches: dict[str, object] = {}
        self._lock = threading.Lock()
        self._handler = _make_handler(sink)

    def start(self) -> None:
        self._observer.start()

    def add(self, root: str) -> bool:
        """Watch ``root`` (recursively); False when it is not a folder now."""
        root = os.path.abspath(root)
        with self._lock:
            if root in self._watches:
                return True
            if not os.path.isdir(root):
                return False
            try:
                self._watches[root] = self._observer.schedule(self._handler, root, recursive=True)
            except OSError as exc:  # e.g. inotify watch limit reached
                log.warning("cannot watch %s: %s", root, exc)
                return False
            return True

    def discard(self, root: str) -> None:
        root = os.path.abspath(root)
        with self._lock:
            watch = self._watches.pop(root, None)
            if watch is not None:
                try:
                    self._observer.unschedule(watch)
                except (KeyError, OSError):
                    pass

    def watching(self) -> list[str]:
        with self._lock:
            return list(self._watches)

    def stop(self) -> None:
        self._observer.stop()
        if self._observer.is_alive():
            self._observer.join(timeout=10)


def _make_handler(sink: Sink):
    from watchdog.events import FileSystemEventHandler

    class Handler(FileSystemEventHandler):
        def dispatch(self, event):
            try:
                super().dispatch(event)
            except Exception:  # never let one event stop the observer thread
                log.exception("error handling %s", event)

        def on_created(self, event):
            path = os.fsdecode(event.src_path)
            if event.is_directory:
                sink.folder_appeared(path)
            elif _interesting(path):
                sink.file_changed(path)

        def on_modified(self, event):
            path = os.fsdecode(event.src_path)
            if not event.is_directory and _interesting(path):
                sink.file_changed(path)

        def on_closed(self, event):  # inotify: written and closed, the copy is complete
            path = os.fsdecode(event.src_path)
            if not event.is_directory and _interesting(path):
                sink.file_changed(path, immediate=True)

        def on_deleted(self, event):
            sink.deleted(os.fsdecode(event.src_path))

        def on_moved(self, event):
            sink.moved(os.fsdecode(event.src_path), os.fsdecode(event.dest_path))

    return Handler()
