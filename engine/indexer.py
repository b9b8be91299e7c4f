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

Deletes and moves seen by the watcher are queued and applied in order, in batches: a second
thread ("soundalike-changes") takes everything queued (after ``COALESCE`` s, so a burst gathers)
and applies it in one transaction and one removal from the search index (``Catalog.
apply_changes``), so deleting 19,000 files costs one pass over them, not one scan of the index
per file.  The worker applies what is queued before it plans a batch, so a file deleted and
created again is never judged by its old row.

Writes are held (``hold_writes``) when the index cannot be written: a read-only folder or file
system, a full disk, a file size limit (``ulimit -f``) below what the database needs, at start
or while running.  Nothing is written and nothing is lost: changed files wait as pending,
deletions and moves wait for the rescan that follows, and a recovery thread checks with a
backoff (``RECOVER_FIRST`` doubling up to ``RECOVER_MAX`` seconds, sooner after a file event)
until a write goes through, then runs ``on_writable`` and rescans every watched folder.  The
cause (``Catalog.store_problem``, else the data dir's write probe) is logged once, and once
more when the index can be written again; ``status()["problem"]`` says it meanwhile.
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

    COALESCE = 0.05  # seconds a burst of deletes and moves gathers before it is applied
    CHANGES_BATCH = 20_000  # at most this many deletes and moves in one transaction
    RECOVER_FIRST = 1.0  # seconds before a held data dir is first checked again ...
    RECOVER_MAX = 30.0  # ... the wait doubling up to this

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
        #: files left over from a batch that failed in a way nobody expected: each is tried
        #: again in a batch of its own, so one bad file cannot take its batch-mates with it
        self._alone: set[str] = set()
        self._scan_requests: dict[str, None] = {}  # an ordered set: coalesced requests
        self._embed_turn = False  # after a scan, a batch of embedding goes first
        self._offline: set[str] = set()
        self._state = "idle"
        self._listeners: list[Listener] = []
        self._busy = False
        self._held: str | None = None  # why writes are held (None: they are not)
        self._recover_delay = self.RECOVER_FIRST
        self._recovery: Worker | None = None
        self._nudged = False  # a file event or rescan while held: check again soon
        #: called on the recovery thread once the data dir can be written again, before
        #: indexing resumes (an exception keeps the writes held, and is tried again later)
        self.on_writable: list[Callable[[], None]] = []
        self._tasks: deque[tuple[Callable[[], object], Future]] = deque()  # run_exclusive
        self._worker = Worker("soundalike-indexer", self._run, wake=self._wake)
        #: deletes and moves from the watcher, applied in order and in batches
        self._changes_cond = threading.Condition()
        self._changes: list[tuple] = []
        self._applying = 0
        self._apply_lock = threading.Lock()  # one batch at a time: changes stay in order
        self._applier = Worker("soundalike-changes", self._apply_loop,
                               wake=self._wake_changes)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._applier.start()
        self._worker.start()

    def stop(self, timeout: float = 10.0) -> bool:
        self._stop.set()  # first: no recovery thread starts after this
        with self._cond:
            recovery = self._recovery
        stopped = recovery.stop(timeout) if recovery is not None else True
        stopped = self._worker.stop(timeout) and stopped
        stopped = self._applier.stop(timeout) and stopped
        if self.held is None:
            try:
                self.apply_changes()  # what the watcher saw last is not lost
            except Exception:
                log.exception("cannot apply the last deletes and moves")
        return stopped

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

    def _wake_changes(self) -> None:
        with self._changes_cond:
            self._changes_cond.notify_all()

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
            if self._held is not None:  # the rescan that follows recovery covers it
                self._nudged = True
                self._cond.notify_all()
                return
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
            if self._held is not None:
                self._nudged = True
            self._cond.notify_all()

    def folder_appeared(self, path: str) -> None:
        for p in scan([path], should_stop=self._stop.is_set):
            self.file_changed(p)

    def deleted(self, path: str) -> None:
        """A file or folder is gone: what waits for embedding under it is dropped now, its
        rows are removed with the next batch of changes (``apply_changes``)."""
        path = os.path.abspath(path)
        root = self.root_of(path)
        with self._cond:
            held = self._held is not None
        if held:  # the rescan after recovery removes it (or marks its folder offline)
            with self._cond:
                for p in [p for p in self._pending if under(p, path)]:
                    del self._pending[p]
            return
        if root is not None and not os.path.isdir(root):
            self._go_offline(root)
            return
        with self._cond:
            self._pending.pop(path, None)
            if not is_audio_name(path):  # a folder (or a file the scan skips)
                for p in [p for p in self._pending if under(p, path)]:
                    del self._pending[p]
        self._queue(("delete", path))

    def moved(self, src: str, dest: str) -> None:
        src, dest = os.path.abspath(src), os.path.abspath(dest)
        settle = time.monotonic() + self.settle
        with self._cond:
            if src in self._pending:
                del self._pending[src]
                self._pending[dest] = settle
            if not is_audio_name(src):  # a folder: what waits under it moves with it
                for p in [p for p in self._pending if under(p, src)]:
                    del self._pending[p]
                    self._pending[dest + p[len(src):]] = settle
            flying = [p for p in self._in_flight if under(p, src)]
            for p in flying:  # being embedded under its old name: embed again under the new
                self._pending[dest + p[len(src):]] = settle
            self._in_flight.difference_update(flying)  # one file, counted once
            held = self._held is not None
            self._cond.notify_all()
        if held:  # the rescan after recovery finds it (by content: embeddings are kept)
            return
        if self.root_of(dest) is None:  # moved out of every watched folder
            self.deleted(src)
        elif hidden_path(dest, self.root_of(dest)):  # renamed hidden: the scan skips it
            self.deleted(src)
        elif os.path.isdir(dest) or is_audio_name(dest):
            self._queue(("move", src, dest))
        else:
            self.deleted(src)

    # -- deletes and moves, in batches ----------------------------------------------------
    def _queue(self, change: tuple) -> None:
        with self._changes_cond:
            self._changes.append(change)
            self._changes_cond.notify_all()

    def changes_waiting(self) -> int:
        """Deletes and moves seen by the watcher, not yet applied to the index."""
        with self._changes_cond:
            return len(self._changes) + self._applying

    def _apply_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            with self._changes_cond:
                while not self._changes and not stop.is_set():
                    self._changes_cond.wait()
            if stop.is_set():
                return
            stop.wait(self.COALESCE)  # let a burst gather: one transaction for all of it
            try:
                self.apply_changes()
            except Exception:  # the thread never dies: log and carry on
                log.exception("error applying deletes and moves")
                stop.wait(0.5)

    def apply_changes(self) -> int:
        """Apply the queued deletes and moves now, in order (``CHANGES_BATCH`` per
        transaction); returns how many were applied.  Called by the changes thread, and by
        the worker before it plans a batch."""
        done = 0
        with self._apply_lock:
            while True:
                with self._changes_cond:
                    batch = self._changes[:self.CHANGES_BATCH]
                    del self._changes[:len(batch)]
                    self._applying = len(batch)
                if not batch:
                    return done
                try:
                    self._apply(batch)
                finally:
                    with self._changes_cond:
                        self._applying = 0
                        self._changes_cond.notify_all()
                    with self._cond:
                        self._cond.notify_all()  # wait_idle
                done += len(batch)

    def _apply(self, batch: list[tuple]) -> None:
        try:
            results = self.catalog.apply_changes(batch)
        except StoreError as exc:  # the rescan after the recovery applies them
            self.hold_writes(self.catalog.store_problem() or str(exc))
            return
        removed = 0
        for change, rows in zip(batch, results):
            if change[0] == "delete":
                removed += len(rows)
                for _, p in rows:
                    self._emit("removed", p)
                continue
            _, src, dest = change
            for _, old, new in rows:
                self._emit("moved", old, new)
            if os.path.isdir(dest):
                self.folder_appeared(dest)  # anything not known yet (plan skips the rest)
            elif not rows:
                self.file_changed(dest)  # not indexed under its old name: a new file
        if removed:
            self._emit_progress()

    # -- status ---------------------------------------------------------------------------
    def status(self) -> dict:
        changes = self.changes_waiting()
        with self._cond:
            pending = self._pending_count_locked()
            state = self._state
            if state == "idle" and self._scan_requests:
                state = "scanning"  # asked for; the worker may still be loading the model
            elif state == "idle" and (pending or changes):
                state = "indexing"  # files waiting for the worker (or their settle time)
            problem = self._held
        out = {"pending": pending, "state": state}
        if problem is not None:
            out["problem"] = problem  # why the index cannot be written (retried meanwhile)
        return out

    def _pending_count_locked(self) -> int:
        """Distinct files waiting or being embedded (a file changed again while it is being
        embedded, or put back after a failed store, is both: counted once)."""
        return len(self._pending) + sum(1 for p in self._in_flight if p not in self._pending)

    # -- writes held (a read-only or full data dir) -----------------------------------------------
    @property
    def held(self) -> str | None:
        """Why writes are held (None: they are not)."""
        with self._cond:
            return self._held

    def storage(self) -> dict:
        """``{"state": "writable" | "read-only", "reason": why ("" when writable)}``."""
        with self._cond:
            held = self._held
        return {"state": "read-only" if held else "writable", "reason": held or ""}

    def hold_writes(self, reason: str) -> None:
        """Write nothing from now on: the data dir cannot be written (``reason``).  Queries
        and status go on; changed files wait (pending); a recovery thread checks with a
        backoff and resumes indexing by itself once a write goes through."""
        with self._cond:
            first = self._held is None
            self._held = reason
            self._scan_requests.clear()  # the rescan after recovery covers them
            recovery = None
            if first and not self._stop.is_set():
                recovery = self._recovery = Worker("soundalike-recovery", self._recover,
                                                   wake=self._wake)
            self._cond.notify_all()
        if not first:
            return
        log.error("cannot write the index in %s: %s. Serving its index read-only: queries and "
                  "status are answered, new and changed files wait. Make the folder writable, "
                  "free some space or lift the limit: indexing resumes by itself (checked "
                  "every %d s at most); logged once, and again when it can be written",
                  self.library.data_dir, reason, int(self.RECOVER_MAX))
        self._emit("storage", "read-only", reason)
        self._emit_progress()
        if recovery is not None:
            recovery.start()

    def _recover(self, stop: threading.Event) -> None:
        """Check whether the data dir can be written again: after ``delay`` (doubling up to
        ``RECOVER_MAX``), or ``RECOVER_FIRST`` after the last check when a file event or a
        rescan request came meanwhile (the user may just have made room)."""
        with self._cond:
            delay = self._recover_delay
            self._nudged = False
        last = time.monotonic()
        while True:
            with self._cond:
                while not stop.is_set():
                    now = time.monotonic()
                    due = last + (self.RECOVER_FIRST if self._nudged else delay)
                    if now >= due:
                        break
                    self._cond.wait(due - now)
                if stop.is_set():
                    return
                nudged, self._nudged = self._nudged, False
            problem = self.library.write_problem() or self.catalog.store_problem()
            if problem is None:
                try:
                    for ready in list(self.on_writable):
                        ready()
                except Exception as exc:  # e.g. written meanwhile by another process
                    problem = str(exc) or type(exc).__name__
            last = time.monotonic()
            if problem is None:
                break
            if not nudged:
                delay = min(delay * 2, self.RECOVER_MAX)
            with self._cond:  # the reason said stays (what this check saw is logged)
                self._recover_delay = delay
            log.debug("the index still cannot be written (%s); next try in %d s",
                      problem, int(delay))
        with self._cond:
            self._held = None
            # a failure soon after comes back to this wait, not to the first (the next
            # batch stored resets it)
            self._recover_delay = min(delay * 2, self.RECOVER_MAX)
            self._cond.notify_all()
        log.info("the index can be written again (data dir %s): indexing resumes",
                 self.library.data_dir)
        self._emit("storage", "writable", "")
        self.request_scan()

    def scans_waiting(self) -> int:
        """Folders waiting for a rescan (requests are coalesced: at most one per folder)."""
        with self._cond:
            return len(self._scan_requests)

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is pending or being embedded (for tests and tools)."""
        deadline = time.monotonic() + timeout
        while True:
            changes = self.changes_waiting()
            with self._cond:
                if not (changes or self._pending or self._in_flight or self._scan_requests
                        or self._busy):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1) if changes else left)

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
                    if self.held is None:
                        self._check_offline_roots()
                    next_root_check = time.monotonic() + self.poll_roots
                self._run_tasks()
                scans, batch = self._next_work(next_root_check)
                try:
                    if scans or batch:
                        self.apply_changes()  # deletes seen before this work come first
                    if scans:
                        self._reconcile(scans)
                    elif batch:
                        self._embed(batch)
                except StoreError as exc:  # disk full, read-only: keep the work, hold writes
                    with self._cond:
                        now = time.monotonic()
                        for p in self._in_flight:
                            self._pending.setdefault(p, now)
                        self._in_flight.clear()
                        for r in scans:
                            self._scan_requests[r] = None
                    self.hold_writes(self.catalog.store_problem() or str(exc))
                with self._cond:
                    self._alone.difference_update(batch)
            except Exception:  # the worker never dies: log and carry on
                log.exception("indexing error")
                self._isolate()
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
        ``wake_at``.  Scanning and embedding take turns when both are waiting; neither is
        handed out while a store failure is waited out."""
        with self._cond:
            while not self._stop.is_set():
                if self._tasks:
                    return [], []
                now = time.monotonic()
                if self._held is not None:  # writes held: wait for the recovery
                    if now >= wake_at:
                        return [], []
                    self._cond.wait(wake_at - now)
                    continue
                ready = [p for p, t in self._pending.items() if t <= now]
                if self._scan_requests and not (ready and self._embed_turn):
                    scans = list(self._scan_requests)
                    self._scan_requests.clear()
                    self._state, self._busy, self._embed_turn = "scanning", True, True
                    return scans, []
                if ready:
                    ready.sort(key=self._pending.__getitem__)
                    alone = [p for p in ready if p in self._alone]
                    batch = alone[:1] or ready[: self.chunk]
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

    def _isolate(self) -> None:
        """After an unexpected error in a batch: its files not done yet go back to the queue,
        each to be embedded alone; one that fails alone too is given up (logged; the next
        scan tries it again)."""
        now = time.monotonic()
        with self._cond:
            left = sorted(self._in_flight)
            if len(left) == 1 and left[0] in self._alone:
                self._alone.discard(left[0])
                log.error("giving up on %s for now (see the error above); the next scan tries "
                          "it again", left[0])
                return
            for p in left:
                self._alone.add(p)
                self._pending.setdefault(p, now)

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
                self._recover_delay = self.RECOVER_FIRST  # stored: writes work again
                self._emit_progress_locked()

        if todo:
            self.library.embed_and_record(todo, stop=self._stop, on_batch=on_batch)

    def _emit_progress(self) -> None:
        with self._cond:
            self._emit_progress_locked()

    def _emit_progress_locked(self) -> None:
        pending = self._pending_count_locked()
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
        back = self.catalog.set_offline(root, False)
        if rescan:
            self.request_scan([root])
        with self._cond:  # said online only once its entries are, and its rescan is asked for
            self._offline.discard(root)
            self._cond.notify_all()
        if back or was_offline:
            log.info("%s is back: its entries are online again", root)
            self._emit("online", root)
            self._emit_progress()
        if was_offline and self.on_root_online is not None:
            self.on_root_online(root)

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
