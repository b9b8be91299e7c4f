"""The indexing worker: one background thread keeps the index true to the watched folders.

It owns the embedding of files (in batches, at low priority, with bounded threads), applies
removals and moves at once (a move keeps the embedding), reconciles folders with the disk at
start-up and on request, and notices unplugged drives (their entries stay, marked offline, and
come back without re-embedding).  The watched folders themselves are the catalog's (persisted);
every change goes through ``library.catalog``.  Queries never go through the worker: the
Library answers them directly, sharing the encoder between batches.

Rescans are coalesced: at most one is pending per folder whatever the number of requests, and
the worker alternates between scanning and embedding when both are waiting, so a storm of
``/soundalike/rescan`` never starves the embedding of new files.
"""
from __future__ import annotations

import logging
import os
import stat as stat_mod
import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Callable, Iterable

from .audio import is_audio_name
from .catalog import under
from .folders import hidden_path
from .index.store import StoreError
from .pipeline import scan, stat_file
from .service import Library
from .threads import Worker

log = logging.getLogger(__name__)

#: ``listener(event, args)``: "indexed" (path), "removed" (path), "moved" (old, new),
#: "progress" (indexed, pending, state), "offline" (folder), "online" (folder)
Listener = Callable[[str, tuple], None]


class Indexer:
    """Pending files, a worker thread, and the daemon's state (scanning / indexing / idle)."""

    STORE_RETRY = 10.0  # seconds before files that could not be stored are tried again

    def __init__(self, library: Library, *, settle: float = 0.3, chunk: int = 256,
                 nice: int = 10, poll_roots: float = 2.0,
                 on_root_online: Callable[[str], None] | None = None,
                 on_links: Callable[[str, list[tuple[str, str]]], None] | None = None) -> None:
        self.library = library
        self.catalog = library.catalog
        self.settle = settle
        self.chunk = chunk
        self.nice = nice
        self.poll_roots = poll_roots
        self.on_root_online = on_root_online
        #: called after a scan of a watched folder with the symbolic links to folders it
        #: followed (the watcher watches their targets)
        self.on_links = on_links
        self._cond = threading.Condition()
        self._pending: dict[str, float] = {}  # path -> monotonic time when it may be embedded
        self._in_flight: set[str] = set()
        self._scan_requests: dict[str, None] = {}  # an ordered set: coalesced requests
        self._embed_turn = False  # after a scan, a batch of embedding goes first
        self._offline: set[str] = set()
        self._state = "idle"
        self._listeners: list[Listener] = []
        self._busy = False
        self._tasks: deque[tuple[Callable[[], object], Future]] = deque()  # run_exclusive
        self._worker = Worker("soundalike-indexer", self._run, wake=self._wake)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._worker.start()

    def stop(self, timeout: float = 10.0) -> bool:
        return self._worker.stop(timeout)

    def run_exclusive(self, fn: Callable[[], object]) -> Future:
        """Run ``fn`` on the worker's thread between two pieces of work (no batch in flight,
        nothing recorded meanwhile); its result or exception goes to the returned Future."""
        future: Future = Future()
        with self._cond:
            self._tasks.append((fn, future))
            self._cond.notify_all()
        return future

    def embed_again(self, paths: Iterable[str]) -> None:
        """Embed these files (again) soon, e.g. those a model switch left behind."""
        now = time.monotonic()
        with self._cond:
            for p in paths:
                self._pending[os.path.abspath(p)] = now
            self._cond.notify_all()

    def _run_tasks(self) -> None:
        while True:
            with self._cond:
                if not self._tasks:
                    return
                fn, future = self._tasks.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    @property
    def _stop(self) -> threading.Event:
        return self._worker.stopping

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _emit(self, event: str, *args) -> None:
        for listener in list(self._listeners):
            try:
                listener(event, args)
            except Exception:
                log.exception("event listener failed on %s", event)

    # -- roots ----------------------------------------------------------------------------
    def roots(self) -> list[str]:
        return [r.path for r in self.catalog.roots()]

    def offline_roots(self) -> list[str]:
        with self._cond:
            return sorted(self._offline)

    def add_root(self, root: str, origin: str = "osc") -> None:
        """Watch ``root`` from now on (persisted by the catalog) and scan it."""
        root = os.path.abspath(root)
        self.catalog.add_root(root, origin)
        self.request_scan([root])

    def remove_root(self, root: str) -> int:
        """Forget a root and drop its files from the index; returns how many were dropped.

        Files of the root being embedded right now are dropped by the catalog when their
        batch is recorded (they are under no watched folder any more)."""
        root = os.path.abspath(root)
        with self._cond:
            self._offline.discard(root)
            self._scan_requests.pop(root, None)
            for p in [p for p in self._pending if under(p, root)]:
                del self._pending[p]
        gone = self.catalog.forget_root(root)
        for p in gone:
            self._emit("removed", p)
        self._emit_progress()
        return len(gone)

    def request_scan(self, roots: Iterable[str] | None = None) -> None:
        """Reconcile ``roots`` (default: every watched folder) with the disk, soon; a request
        for a folder whose scan is already pending is merged into it."""
        with self._cond:
            for r in (roots or self.roots()):
                self._scan_requests[os.path.abspath(r)] = None
            self._cond.notify_all()

    def root_of(self, path: str) -> str | None:
        return self.catalog.root_of(path)

    def forget_dead(self, paths: Iterable[str]) -> None:
        """Files found deleted on the query path: remove them (or notice an unplugged drive).
        Called from query threads: the work is done by the worker, not here."""
        now = time.monotonic()
        with self._cond:
            for p in paths:
                self._pending[os.path.abspath(p)] = now  # the worker sees it is gone
            self._cond.notify_all()

    # -- the watcher's sink ---------------------------------------------------------------
    def file_changed(self, path: str, *, immediate: bool = False) -> None:
        path = os.path.abspath(path)
        if not is_audio_name(path) or hidden_path(path, self.root_of(path)):
            return  # the scan's rule (engine.folders.hidden): it would remove it again
        with self._cond:
            self._pending[path] = time.monotonic() + (0.0 if immediate else self.settle)
            self._cond.notify_all()

    def folder_appeared(self, path: str) -> None:
        for p in scan([path], should_stop=self._stop.is_set):
            self.file_changed(p)

    def deleted(self, path: str) -> None:
        path = os.path.abspath(path)
        root = self.root_of(path)
        if root is not None and not os.path.isdir(root):
            self._go_offline(root)
            return
        with self._cond:
            for p in [p for p in self._pending if under(p, path)]:
                del self._pending[p]
        for p in self.catalog.remove_under(path):
            self._emit("removed", p)

    def moved(self, src: str, dest: str) -> None:
        src, dest = os.path.abspath(src), os.path.abspath(dest)
        with self._cond:
            for p in [p for p in self._pending if under(p, src)]:
                del self._pending[p]
                self._pending[dest + p[len(src):]] = time.monotonic() + self.settle
            flying = [p for p in self._in_flight if under(p, src)]
            for p in flying:  # being embedded under its old name: embed again under the new
                self._pending[dest + p[len(src):]] = time.monotonic() + self.settle
            self._cond.notify_all()
        if self.root_of(dest) is None:  # moved out of every watched folder
            self.deleted(src)
            return
        if hidden_path(dest, self.root_of(dest)):  # renamed hidden: the scan skips it
            self.deleted(src)
            return
        if os.path.isdir(dest):
            for _, old, new in self.catalog.move(src, dest):
                self._emit("moved", old, new)
            self.folder_appeared(dest)  # anything not known yet (plan skips the rest)
            return
        if not is_audio_name(dest):
            self.deleted(src)
            return
        moved = self.catalog.move(src, dest)
        if moved:
            for _, old, new in moved:
                self._emit("moved", old, new)
        else:
            self.file_changed(dest)

    # -- status ---------------------------------------------------------------------------
    def status(self) -> dict:
        with self._cond:
            pending = len(self._pending) + len(self._in_flight)
            state = self._state
            if state == "idle" and self._scan_requests:
                state = "scanning"  # asked for; the worker may still be loading the model
            elif state == "idle" and pending:
                state = "indexing"  # files waiting for the worker (or their settle time)
        return {"pending": pending, "state": state}

    def scans_waiting(self) -> int:
        """Folders waiting for a rescan (requests are coalesced: at most one per folder)."""
        with self._cond:
            return len(self._scan_requests)

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is pending or being embedded (for tests and tools)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._in_flight or self._scan_requests or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # -- the worker -----------------------------------------------------------------------
    def _run(self, stop: threading.Event) -> None:
        _lower_priority(self.nice)
        try:
            self.library.warm_up()  # load and trace the model now, not for the first file
        except Exception as exc:
            log.error("cannot load the encoder (%s); indexing is disabled", exc)
        next_root_check = time.monotonic() + self.poll_roots
        while not stop.is_set():
            try:
                if time.monotonic() >= next_root_check:
                    self._check_offline_roots()
                    next_root_check = time.monotonic() + self.poll_roots
                self._run_tasks()
                scans, batch = self._next_work(next_root_check)
                if scans:
                    self._reconcile(scans)
                elif batch:
                    try:
                        self._embed(batch)
                    except StoreError as exc:  # disk full, read-only: keep the files pending
                        log.error("cannot store embeddings: %s (retrying in %ds)", exc,
                                  int(self.STORE_RETRY))
                        retry_at = time.monotonic() + self.STORE_RETRY
                        with self._cond:
                            for p in self._in_flight:
                                self._pending.setdefault(p, retry_at)
                        stop.wait(1.0)
            except Exception:  # the worker never dies: log and carry on
                log.exception("indexing error")
                stop.wait(0.5)
            finally:
                with self._cond:
                    self._busy = False
                    self._in_flight.clear()
                    if not self._pending and not self._scan_requests and self._state != "idle":
                        self._state = "idle"
                        self._emit_progress_locked()
                    self._cond.notify_all()

    def _next_work(self, wake_at: float) -> tuple[list[str], list[str]]:
        """Wait for work: (folders to scan, []) or ([], files to embed), or nothing by
        ``wake_at``.  Scanning and embedding take turns when both are waiting."""
        with self._cond:
            while not self._stop.is_set():
                if self._tasks:
                    return [], []
                now = time.monotonic()
                ready = [p for p, t in self._pending.items() if t <= now]
                if self._scan_requests and not (ready and self._embed_turn):
                    scans = list(self._scan_requests)
                    self._scan_requests.clear()
                    self._state, self._busy, self._embed_turn = "scanning", True, True
                    return scans, []
                if ready:
                    ready.sort(key=self._pending.__getitem__)
                    batch = ready[: self.chunk]
                    for p in batch:
                        del self._pending[p]
                    self._in_flight = set(batch)
                    self._state, self._busy, self._embed_turn = "indexing", True, False
                    return [], batch
                if now >= wake_at:
                    return [], []
                times = list(self._pending.values()) + [wake_at]
                self._cond.wait(max(0.0, min(times) - now))
            return [], []

    def _embed(self, paths: list[str]) -> None:
        # an unreadable file or folder (no permission) is not gone: its entry stays as it is
        gone = [p for p in paths if _missing(p)]
        for p in gone:  # deleted (or a dead result): remove it, or notice an unplugged drive
            self.deleted(p)
        todo, _ = self.library.plan(p for p in paths if os.path.isfile(p))

        def on_batch(done, failed):
            for p in done:
                self._emit("indexed", p)
            for p, reason in failed:
                log.warning("cannot index %s: %s", p, reason)
            with self._cond:
                self._in_flight.difference_update(done)
                self._in_flight.difference_update(p for p, _ in failed)
                self._emit_progress_locked()

        if todo:
            self.library.embed_and_record(todo, stop=self._stop, on_batch=on_batch)

    def _emit_progress(self) -> None:
        with self._cond:
            self._emit_progress_locked()

    def _emit_progress_locked(self) -> None:
        pending = len(self._pending) + len(self._in_flight)
        self._emit("progress", self.catalog.indexed_count(), pending, self._state)

    def _reconcile(self, roots: list[str]) -> None:
        watched = set(self.roots())
        for root in roots:
            if self._stop.is_set():
                return
            if root not in watched:
                continue  # removed since the request
            if not os.path.isdir(root):
                self._go_offline(root)
                continue
            self._come_online(root, rescan=False)
            self._reconcile_root(root)

    def _reconcile_root(self, root: str) -> None:
        links: list[tuple[str, str]] = []
        unreadable: list[str] = []
        on_disk = set(scan([root], should_stop=self._stop.is_set, links=links,
                           unreadable=unreadable))
        if self._stop.is_set():
            return
        if self.on_links is not None:
            self.on_links(root, links)
        known = {e.path: e for e in self.catalog.entries(under=root)}
        # a folder that could not be listed is like an unplugged drive: what it holds is
        # unknown, not gone; its entries stay as they are until a scan can list it again
        kept = {p for p in known if p not in on_disk and any(under(p, u) for u in unreadable)}
        for folder in unreadable:
            log.warning("cannot list %s (no permission?): its %d entries are kept as they are "
                        "and it is listed again at the next scan", folder,
                        sum(1 for p in kept if under(p, folder)))
        vanished = {p: e for p, e in known.items() if p not in on_disk and p not in kept}
        new = [p for p in on_disk if p not in known]
        if vanished and new:  # moved while we were not looking: keep their embeddings
            by_content = {(e.fingerprint, e.size): e for e in vanished.values()
                          if e.status == "ok"}
            for p in new:
                try:
                    st = stat_file(p)
                except OSError:
                    continue
                old = by_content.pop((st.fingerprint, st.size), None)
                if old is not None:
                    self.catalog.move(old.path, p)
                    vanished.pop(old.path, None)
                    self._emit("moved", old.path, p)
        for p in self.catalog.remove(vanished):
            self._emit("removed", p)
        todo, unchanged = self.library.plan(sorted(on_disk))
        log.info("%s: %d files, %d unchanged, %d to embed, %d gone", root, len(on_disk),
                 unchanged, len(todo), len(vanished))
        now = time.monotonic()
        with self._cond:
            for p in todo:
                self._pending.setdefault(p, now)
            self._cond.notify_all()

    def _go_offline(self, root: str) -> None:
        with self._cond:
            if root in self._offline:
                return
            self._offline.add(root)
            for p in [p for p in self._pending if under(p, root)]:
                del self._pending[p]
        n = self.catalog.set_offline(root, True)
        log.warning("%s is not available (unplugged drive?): %d entries kept offline", root, n)
        self._emit("offline", root)
        self._emit_progress()

    def _come_online(self, root: str, *, rescan: bool = True) -> None:
        with self._cond:
            was_offline = root in self._offline
            self._offline.discard(root)
        if self.catalog.set_offline(root, False) or was_offline:
            log.info("%s is back: its entries are online again", root)
            self._emit("online", root)
            self._emit_progress()
        if was_offline and self.on_root_online is not None:
            self.on_root_online(root)
        if rescan:
            self.request_scan([root])

    def _check_offline_roots(self) -> None:
        for root in self.offline_roots():
            if os.path.isdir(root):
                self._come_online(root)
        for root in self.roots():
            if root not in self._offline and not os.path.isdir(root):
                self._go_offline(root)


def _missing(path: str) -> bool:
    """Whether ``path`` is gone (or no file any more); False when it cannot be looked at
    (a folder on the way without permission: unknown, not gone)."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return not stat_mod.S_ISREG(st.st_mode)


def _lower_priority(nice: int) -> None:
    """Lower this thread's scheduling priority (Linux: per thread; elsewhere: the process)."""
    if nice <= 0:
        return
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, current + nice))
    except (AttributeError, OSError, PermissionError):
        pass
