"""The indexing worker: one background thread keeps the index true to the watched folders.

It owns the embedding of files (in batches, at low priority, with bounded threads), applies
removals and moves at once (a move keeps the embedding), reconciles roots with the disk at
start-up and on request, and notices unplugged drives (their entries stay, marked offline, and
come back without re-embedding).  Queries never go through it: the Library answers them
directly, sharing the encoder between batches.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable, Iterable

from .audio import is_audio_name
from .index.store import StoreError
from .pipeline import scan, stat_file
from .service import Library

log = logging.getLogger(__name__)

Listener = Callable[[str, tuple], None]


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class Indexer:
    """Pending files, a worker thread, and the daemon's state (scanning / indexing / idle)."""

    STORE_RETRY = 10.0  # seconds before files that could not be stored are tried again

    def __init__(self, library: Library, *, settle: float = 0.3, chunk: int = 256,
                 nice: int = 10, poll_roots: float = 2.0,
                 on_root_online: Callable[[str], None] | None = None) -> None:
        self.library = library
        self.settle = settle
        self.chunk = chunk
        self.nice = nice
        self.poll_roots = poll_roots
        self.on_root_online = on_root_online
        self._cond = threading.Condition()
        self._pending: dict[str, float] = {}  # path -> monotonic time when it may be embedded
        self._in_flight: set[str] = set()
        self._scan_requests: list[str] = []
        self._roots: list[str] = []
        self._offline: set[str] = set()
        self._state = "idle"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[Listener] = []
        self._busy = False

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="soundalike-indexer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

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
        with self._cond:
            return list(self._roots)

    def offline_roots(self) -> list[str]:
        with self._cond:
            return sorted(self._offline)

    def add_root(self, root: str) -> None:
        root = os.path.abspath(root)
        with self._cond:
            if root not in self._roots:
                self._roots.append(root)
            self._scan_requests.append(root)
            self._cond.notify_all()

    def remove_root(self, root: str) -> int:
        """Forget a root and drop its files from the index; returns how many were dropped."""
        root = os.path.abspath(root)
        with self._cond:
            if root in self._roots:
                self._roots.remove(root)
            self._offline.discard(root)
            for p in [p for p in self._pending if _under(p, root)]:
                del self._pending[p]
        gone = [e.path for e in self.library.store.entries(under=root)]
        self.library.remove_paths(gone)
        for p in gone:
            self._emit("removed", p)
        return len(gone)

    def request_scan(self, roots: Iterable[str] | None = None) -> None:
        with self._cond:
            self._scan_requests.extend(os.path.abspath(r) for r in (roots or self._roots))
            self._cond.notify_all()

    def root_of(self, path: str) -> str | None:
        with self._cond:
            matches = [r for r in self._roots if _under(path, r)]
        return max(matches, key=len) if matches else None

    # -- the watcher's sink ---------------------------------------------------------------
    def file_changed(self, path: str, *, immediate: bool = False) -> None:
        path = os.path.abspath(path)
        if not is_audio_name(path):
            return
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
            for p in [p for p in self._pending if _under(p, path)]:
                del self._pending[p]
        removed = self.library.store.entries(under=path)
        entry = self.library.store.get(path)
        paths = [e.path for e in removed] + ([entry.path] if entry else [])
        if paths:
            self.library.remove_paths(paths)
            for p in paths:
                self._emit("removed", p)

    def moved(self, src: str, dest: str) -> None:
        src, dest = os.path.abspath(src), os.path.abspath(dest)
        with self._cond:
            for p in [p for p in self._pending if _under(p, src)]:
                del self._pending[p]
                self._pending[dest + p[len(src):]] = time.monotonic() + self.settle
            flying = [p for p in self._in_flight if _under(p, src)]
            for p in flying:  # being embedded under its old name: embed again under the new
                self._pending[dest + p[len(src):]] = time.monotonic() + self.settle
            self._cond.notify_all()
        if self.root_of(dest) is None:  # moved out of every watched folder
            self.deleted(src)
            return
        if os.path.isdir(dest):
            for _, old, new in self.library.move(src, dest):
                self._emit("moved", old, new)
            self.folder_appeared(dest)  # anything not known yet (plan skips the rest)
            return
        if not is_audio_name(dest) or os.path.basename(dest).startswith("."):
            self.deleted(src)
            return
        moved = self.library.move(src, dest)
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
    def _run(self) -> None:
        _lower_priority(self.nice)
        try:
            self.library.warm_up()  # load and trace the model now, not for the first file
        except Exception:
            log.exception("cannot load the encoder; indexing is disabled")
        next_root_check = time.monotonic() + self.poll_roots
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_root_check:
                    self._check_offline_roots()
                    next_root_check = time.monotonic() + self.poll_roots
                with self._cond:
                    scans, self._scan_requests = self._scan_requests, []
                    if scans:
                        self._state = "scanning"
                        self._busy = True
                if scans:
                    self._reconcile(list(dict.fromkeys(scans)))
                    continue
                batch = self._take_ready(next_root_check)
                if batch:
                    try:
                        self._embed(batch)
                    except StoreError as exc:  # disk full, read-only: keep the files pending
                        log.error("cannot store embeddings: %s (retrying in %ds)", exc,
                                  int(self.STORE_RETRY))
                        retry_at = time.monotonic() + self.STORE_RETRY
                        with self._cond:
                            for p in self._in_flight:
                                self._pending.setdefault(p, retry_at)
                        self._stop.wait(1.0)
            except Exception:  # the worker never dies: log and carry on
                log.exception("indexing error")
                time.sleep(0.5)
            finally:
                with self._cond:
                    self._busy = False
                    self._in_flight.clear()
                    if not self._pending and not self._scan_requests:
                        if self._state != "idle":
                            self._state = "idle"
                            self._emit_progress_locked()
                    self._cond.notify_all()

    def _take_ready(self, wake_at: float) -> list[str]:
        with self._cond:
            while not self._stop.is_set() and not self._scan_requests:
                now = time.monotonic()
                ready = [p for p, t in self._pending.items() if t <= now]
                if ready:
                    ready.sort(key=self._pending.__getitem__)
                    batch = ready[: self.chunk]
                    for p in batch:
                        del self._pending[p]
                    self._in_flight = set(batch)
                    self._state = "indexing"
                    self._busy = True
                    return batch
                times = [t for t in self._pending.values()] + [wake_at]
                self._cond.wait(max(0.0, min(times) - now))
                if time.monotonic() >= wake_at:
                    return []
            return []

    def _embed(self, paths: list[str]) -> None:
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

    def _emit_progress_locked(self) -> None:
        pending = len(self._pending) + len(self._in_flight)
        indexed = self.library.indexed_count()
        self._emit("progress", indexed, pending, self._state)

    def _reconcile(self, roots: list[str]) -> None:
        for root in roots:
            if self._stop.is_set():
                return
            if not os.path.isdir(root):
                self._go_offline(root)
                continue
            self._come_online(root, rescan=False)
            self._reconcile_root(root)

    def _reconcile_root(self, root: str) -> None:
        lib = self.library
        on_disk = set(scan([root], should_stop=self._stop.is_set))
        if self._stop.is_set():
            return
        known = {e.path: e for e in lib.store.entries(under=root)}
        vanished = {p: e for p, e in known.items() if p not in on_disk}
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
                    lib.move(old.path, p)
                    vanished.pop(old.path, None)
                    self._emit("moved", old.path, p)
        if vanished:
            lib.remove_paths(vanished)
            for p in vanished:
                self._emit("removed", p)
        todo, unchanged = lib.plan(sorted(on_disk))
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
            for p in [p for p in self._pending if _under(p, root)]:
                del self._pending[p]
        n = self.library.store.set_offline(root, True)
        self.library.reload()
        log.warning("%s is not available (unplugged drive?): %d entries kept offline", root, n)
        self._emit("offline", root)

    def _come_online(self, root: str, *, rescan: bool = True) -> None:
        with self._cond:
            was_offline = root in self._offline
            self._offline.discard(root)
        if self.library.store.set_offline(root, False) or was_offline:
            self.library.reload()
            log.info("%s is back: its entries are online again", root)
            self._emit("online", root)
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
