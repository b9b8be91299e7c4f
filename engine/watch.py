"""Watching folders with watchdog: file-system events become calls on a sink (the Indexer).

The handler only translates; it never blocks on embedding.  Hidden files (a leading dot, as
copy tools and editors use for temporary files) are ignored until they are renamed; files in
hidden folders are left out by the sink (``Indexer.file_changed``), with the rule the scan
uses (``engine.folders.hidden_path``).

Symbolic links to folders inside a watched folder (the usual way to bring an external drive in)
are watched like real folders: the scan follows them (``engine.pipeline.scan``), and the watcher
watches each resolved target once, reporting its events under the link's path (the path the
scan indexed).  A target already watched (a second link to it) is not watched again; a target
that holds a watched folder (a link back up the tree, a loop) is not watched, with a log line.
"""
from __future__ import annotations

import logging
import os
import threading
import warnings
from typing import Callable, Protocol

from .audio import is_audio_name
from .folders import hidden

log = logging.getLogger(__name__)


class Sink(Protocol):
    def file_changed(self, path: str, *, immediate: bool = False) -> None: ...
    def folder_appeared(self, path: str) -> None: ...
    def deleted(self, path: str) -> None: ...
    def moved(self, src: str, dest: str) -> None: ...


def _interesting(path: str) -> bool:
    # a hidden name; hidden folders on the way are the sink's to judge (it knows the roots)
    return is_audio_name(path) and not hidden(os.path.basename(path))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class Watcher:
    """One watchdog observer watching every root recursively (and the folders linked in)."""

    def __init__(self, sink: Sink) -> None:
        from watchdog.observers import Observer

        self._sink = sink
        self._observer = Observer()
        self._observer.name = "soundalike-watch"
        self._watches: dict[str, object] = {}  # root -> watch
        self._links: dict[str, tuple[str, object]] = {}  # resolved target -> (link, watch)
        self._lock = threading.Lock()
        self._handler = _make_handler(sink, lambda p: p, self._on_new_folder)

    def start(self) -> None:
        # A folder moved out of a watched tree and back in gets its inotify watch again, and
        # watchdog warns (with its whole watch table) that the callback it already had for
        # that folder is replaced by the same one: that is what we want, nothing to report.
        # The same for a callback removed twice (a folder deleted while its watch goes): each
        # such warning names the whole watch table, so a large tree would write gigabytes.
        warnings.filterwarnings("ignore", message=r"Callback with id .* already exists",
                                category=RuntimeWarning)
        warnings.filterwarnings("ignore", message=r"Callback with id .* does not exist",
                                category=RuntimeWarning)
        self._observer.start()

    def add(self, root: str) -> bool:
        """Watch ``root`` (recursively); False when it is not a folder now."""
        root = os.path.abspath(root)
        with self._lock:
            if root in self._watches:
                return True
            if not os.path.isdir(root):
                return False
            watch = self._schedule(self._handler, root)
            if watch is None:
                return False
            self._watches[root] = watch
            return True

    def _schedule(self, handler, folder: str):
        try:
            return self._observer.schedule(handler, folder, recursive=True)
        except OSError as exc:  # e.g. inotify watch limit reached
            log.warning("cannot watch %s: %s", folder, exc)
            return None

    def follow_links(self, root: str, links: list[tuple[str, str]]) -> None:
        """Watch the targets of the symbolic links to folders that a scan of ``root`` followed
        (``(link path, resolved target)``), and stop watching those of links now gone."""
        root = os.path.abspath(root)
        current = {target: link for link, target in links}
        with self._lock:
            for target, (link, watch) in list(self._links.items()):
                if _inside(link, root) and current.get(target) != link:
                    self._unschedule(watch)
                    del self._links[target]
            real_roots = [os.path.realpath(r) for r in self._watches]
            for link, target in links:
                if target in self._links:
                    continue  # a second link to a folder already watched
                if any(_inside(target, r) for r in real_roots):
                    continue  # inside a watched folder: its events come from that watch
                if any(_inside(r, target) for r in real_roots):
                    log.warning("not watching %s -> %s: it holds a watched folder (a link "
                                "back up the tree)", link, target)
                    continue
                handler = _make_handler(self._sink, _translate(target, link),
                                        self._on_new_folder)
                watch = self._schedule(handler, target)
                if watch is not None:
                    self._links[target] = (link, watch)
                    log.info("watching %s (linked as %s)", target, link)

    def _on_new_folder(self, path: str) -> None:
        """A symbolic link to a folder appeared inside a watched folder: watch its target."""
        if os.path.islink(path):
            root = next((r for r in self.watching() if _inside(path, r)), None)
            if root is not None:
                with self._lock:
                    known = [(link, t) for t, (link, _) in self._links.items()
                             if _inside(link, root)]
                self.follow_links(root, known + [(path, os.path.realpath(path))])

    def discard(self, root: str) -> None:
        root = os.path.abspath(root)
        with self._lock:
            watch = self._watches.pop(root, None)
            if watch is not None:
                self._unschedule(watch)
            for target, (link, lw) in list(self._links.items()):
                if _inside(link, root):
                    self._unschedule(lw)
                    del self._links[target]

    def _unschedule(self, watch) -> None:
        try:
            self._observer.unschedule(watch)
        except (KeyError, OSError):
            pass

    def watching(self) -> list[str]:
        with self._lock:
            return list(self._watches)

    def linked(self) -> dict[str, str]:
        """``{resolved target: link path}`` of the linked folders being watched."""
        with self._lock:
            return {t: link for t, (link, _) in self._links.items()}

    def stop(self, timeout: float = 10.0) -> bool:
        self._observer.stop()
        if self._observer.is_alive():
            self._observer.join(timeout)
        return not self._observer.is_alive()


def _translate(target: str, link: str) -> Callable[[str], str]:
    """Event paths under ``target`` -> the same paths under ``link``."""
    def to_link(path: str) -> str:
        return link + path[len(target):] if _inside(path, target) else path
    return to_link


def _make_handler(sink: Sink, path_of: Callable[[str], str],
                  on_new_folder: Callable[[str], None]):
    from watchdog.events import FileSystemEventHandler

    class Handler(FileSystemEventHandler):
        def dispatch(self, event):
            try:
                super().dispatch(event)
            except Exception:  # never let one event stop the observer thread
                log.exception("error handling %s", event)

        def on_created(self, event):
            path = path_of(os.fsdecode(event.src_path))
            if event.is_directory or os.path.isdir(path):  # a folder, or a link to one
                sink.folder_appeared(path)
                on_new_folder(path)
            elif _interesting(path):
                sink.file_changed(path)

        def on_modified(self, event):
            path = path_of(os.fsdecode(event.src_path))
            if not event.is_directory and _interesting(path):
                sink.file_changed(path)

        def on_closed(self, event):  # inotify: written and closed, the copy is complete
            path = path_of(os.fsdecode(event.src_path))
            if not event.is_directory and _interesting(path):
                sink.file_changed(path, immediate=True)

        def on_deleted(self, event):
            sink.deleted(path_of(os.fsdecode(event.src_path)))

        def on_moved(self, event):
            sink.moved(path_of(os.fsdecode(event.src_path)),
                       path_of(os.fsdecode(event.dest_path)))

    return Handler()
