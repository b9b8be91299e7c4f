"""The composition root: ``soundalike serve``.

Loads the config, takes the data dir's lock (one writer per data dir: a second daemon exits at
once, naming the first), then starts the parts in dependency order (library, watched folders,
indexing worker, folder watcher, OSC server) and stops them in reverse in one ``finally``.
SIGINT and SIGTERM stop it cleanly with exit status 0.

A data dir that cannot be written (a read-only folder or file system, a full disk) does not stop
it: the index is served read-only, the start-up writes (the declared folders) wait, and the
indexing worker holds its writes until the data dir can be written again (docs/reliability.md,
"A read-only or full data dir").
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Sequence

from engine import DataDirBusy, Library, StoreError
from engine.datadir import DataDirLock, ensure_private_dir
from engine.folders import check_folders
from engine.indexer import Indexer
from engine.switching import ModelSwitcher
from engine.watch import Watcher

from . import paths
from .backend import DaemonBackend
from .config import Config, load_config, with_overrides
from .errors import UserError

log = logging.getLogger("soundalike")


def setup_logging(level: str, log_file: Path | None) -> list[logging.Handler]:
    from .logs import RepeatFilter, SafeFormatter, log_warnings

    fmt = SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    repeats = RepeatFilter()  # a flood of one kind of line cannot rotate the log away
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            handlers.append(logging.handlers.RotatingFileHandler(
                log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8",
                errors="backslashreplace"))  # a traceback may quote a name that is not UTF-8
        except OSError as exc:
            print(f"soundalike: cannot write the log file {log_file}: {exc}", file=sys.stderr)
    root = logging.getLogger()
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(repeats)
        root.addHandler(h)
    # Python warnings (watchdog's among them) go through the same handlers and filter: one
    # kind of warning cannot fill the log whatever its text
    log_warnings()
    for noisy in ("watchdog", "numba", "h5py", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handlers


def serve(args) -> int:
    config = with_overrides(load_config(paths.config_file()), host=args.osc_host,
                            port=args.osc_port, reply_port=args.reply_port)
    handlers = setup_logging(config.log_level, paths.log_dir() / "soundalike.log")
    try:
        return run_daemon(config, data_dir=paths.data_dir(args.data_dir),
                          cli_folders=args.folders, model_dir=paths.model_override())
    finally:
        for h in handlers:
            logging.getLogger().removeHandler(h)
            h.close()


def hold_data_dir(data_dir: Path) -> DataDirLock:
    """The data dir's lock, or a UserError naming the process that holds it."""
    ensure_private_dir(data_dir)
    try:
        return DataDirLock(data_dir).acquire()
    except DataDirBusy as exc:
        raise UserError(busy_message(data_dir, exc.pid)) from None


def busy_message(data_dir: Path, pid: int | None) -> str:
    from .client import read_daemon_file

    info = read_daemon_file(data_dir)
    if info is not None:
        return (f"a daemon already runs on the data dir {data_dir} (pid {info['pid']}, OSC "
                f"{info['host']}:{info['port']}); stop it first, or give another --data-dir")
    return (f"the data dir {data_dir} is in use by another Soundalike process"
            f"{f' (pid {pid})' if pid else ''}: a daemon starting up, or an `index` in "
            "progress; wait for it or stop it")


def declared_folders(config: Config, cli_folders: Sequence[str]) -> tuple[dict, set]:
    """``({folder: origin}, origins replaced)``: what the config file and the command line
    declare (docs/config.md, "Watched folders").  The config file always states its folders;
    the command line states its own only when it names any (a bare ``serve`` keeps those of
    the last start)."""
    declared = {os.path.abspath(f): "config" for f in config.folders}
    for f in cli_folders:
        declared.setdefault(os.path.abspath(os.path.expanduser(f)), "command line")
    return declared, {"config"} | ({"command line"} if cli_folders else set())


def run_daemon(config: Config, *, data_dir: Path, cli_folders: Sequence[str] = (),
               model_dir: Path | None = None, stop: threading.Event | None = None) -> int:
    stop = stop or threading.Event()
    # switch threads every 1 ms instead of 5: the OSC receiving thread gets the interpreter
    # back quickly while the indexer and query workers compute
    sys.setswitchinterval(0.001)
    received: list[int] = []  # SIGINT/SIGTERM, as the handlers record them
    installed = _install_signal_handlers(received)
    started: list = []
    library = None
    try:
        lock = hold_data_dir(data_dir)
        started.append(lock.release)
        library = Library(data_dir, model_dir=model_dir,
                          decode_threads=config.indexing.threads,
                          batch_size=config.indexing.batch_size)
        started.append(library.close)
        catalog = library.catalog
        declared, replaced = declared_folders(config, cli_folders)
        refused = check_folders(declared)  # system roots, pseudo file systems
        if refused:
            raise UserError("; ".join(
                f"{why} (from the {declared[p]}{' file' if declared[p] == 'config' else ''})"
                for p, why in refused))

        def settle_roots() -> None:
            """The start-up writes: the watched folders become the declared ones."""
            lock.acquire()  # a data dir that had no lock file while read-only: take it now
            lock.write_pid()
            dropped = catalog.declare_roots(declared, replaced)
            for root, why in check_folders([r.path for r in catalog.roots()]):
                log.error("%s (added by %s earlier): it is no longer watched", why,
                          next(r.origin for r in catalog.roots() if r.path == root))
                dropped += catalog.forget_root(root)
            orphans = catalog.prune_outside_roots()
            if dropped or orphans:
                log.info("removed %d files of folders no longer watched",
                         len(dropped) + len(orphans))

        # a read-only or full data dir: serve what is indexed, write nothing until it can be
        unwritable = library.write_problem()
        if unwritable is None:
            try:
                settle_roots()
            except StoreError as exc:
                unwritable = str(exc)
        if unwritable is not None:
            waiting = [p for p in declared if p not in {r.path for r in catalog.roots()}]
            if waiting:
                log.warning("not watched until the data dir can be written: %s",
                            ", ".join(waiting))
        # load the search index on its own thread: OSC listens meanwhile (status answers at
        # once; queries wait for the index)
        catalog.load_in_background()
        log.info("data dir %s, model %s, %d files indexed", data_dir, library.model_id,
                 library.indexed_count())

        indexer = Indexer(library, settle=config.indexing.settle_seconds,
                          nice=config.indexing.nice)
        watcher = Watcher(indexer)
        indexer.on_root_online = watcher.add
        indexer.on_links = watcher.follow_links
        library.on_dead = indexer.forget_dead
        address: list[tuple[str, int]] = []  # the OSC server's, once it listens

        def writable_again() -> None:
            known = {r.path for r in catalog.roots()}
            settle_roots()
            for root in catalog.roots():
                if root.path not in known:
                    watcher.add(root.path)
            if address:
                _write_daemon_file(data_dir, *address[0])

        indexer.start()
        started.append(indexer.stop)
        watcher.start()
        started.append(watcher.stop)
        if unwritable is not None:
            indexer.on_writable.append(writable_again)
            indexer.hold_writes(unwritable)

        # answer first (the index is loaded), then set up the watches (a large folder takes a
        # while); the worker reconciles the folders with the disk once its model is loaded
        indexer.request_scan()
        switcher = ModelSwitcher(library, indexer.run_exclusive,
                                 embed_again=indexer.embed_again,
                                 fixed=model_dir is not None, nice=config.indexing.nice)
        backend = DaemonBackend(library, indexer, watcher, switcher)
        switcher.listener = backend.on_switch_event
        started.append(switcher.stop)
        server = _start_osc(backend, config)
        if server is not None:
            started.append(server.stop)
            host, port = server.address
            address.append((host, port))
            _write_daemon_file(data_dir, host, port)
            started.append(lambda: _remove_daemon_file(data_dir))
            log.info("answering OSC on %s:%d", host, port)
        for root in catalog.roots():
            if not os.path.isdir(root.path):
                log.warning("folder %s does not exist (yet): it will be indexed when it "
                            "appears", root.path)
            watcher.add(root.path)
        log.info("watching %d folder(s): %s", len(catalog.roots()),
                 ", ".join(f"{r.path} ({r.origin})" for r in catalog.roots()) or "none")
        while not received and not stop.wait(0.5):
            pass
        log.info("stopping")
        return 0
    finally:
        for stop_part in reversed(started):
            try:
                stop_part()
            except Exception:
                log.exception("error while stopping")
        if library is not None:
            log.info("stopped; embedded %d files this run", library.embedded)
        _restore_signal_handlers(installed)


def _start_osc(backend, config: Config):
    from .server import OscServer

    server = OscServer(backend, host=config.osc.host, port=config.osc.port,
                       reply_port=config.osc.reply_port, allow=list(config.osc.allow),
                       query_paths=list(config.osc.query_paths),
                       logger=logging.getLogger("soundalike.osc"))
    try:
        server.start()
    except OSError as exc:
        raise UserError(f"cannot listen on {config.osc.host}:{config.osc.port}: "
                        f"{exc.strerror or exc}") from None
    return server


def _write_daemon_file(data_dir: Path, host: str, port: int) -> None:
    """``daemon.json`` in the data dir; where that cannot be written, in the user's private
    fallback folder (bridge.client.fallback_daemon_file); where neither can, clients do not
    find the daemon and work in-process: logged, never fatal."""
    from .client import remove_daemon_file, write_daemon_file, write_fallback_daemon_file

    try:
        write_daemon_file(data_dir, host, port)
    except OSError as exc:
        try:
            path = write_fallback_daemon_file(data_dir, host, port)
        except OSError as exc2:
            log.warning("cannot write %s (%s), nor a fallback (%s): clients will not find "
                        "this daemon; they read the index themselves", data_dir / "daemon.json",
                        exc.strerror or exc, exc2.strerror or exc2)
        else:
            log.info("cannot write %s (%s): clients find this daemon through %s",
                     data_dir / "daemon.json", exc.strerror or exc, path)
        return
    remove_daemon_file(data_dir, fallback_only=True)  # one written while it was read-only


def _remove_daemon_file(data_dir: Path) -> None:
    from .client import remove_daemon_file

    remove_daemon_file(data_dir)


def _install_signal_handlers(received: list[int]) -> dict:
    """SIGINT and SIGTERM append their number to ``received`` (the main loop polls it);
    returns the handlers they replace.  A handler runs in the main thread between any two
    bytecodes, also while that thread holds a lock (inside ``stop.wait()``, or inside an
    earlier handler when two signals come at once, as from ``timeout`` forwarding a
    ``pkill``): setting the stop event there took that event's lock again and hung the
    daemon for good, so the handler takes no lock at all."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda signum, frame: received.append(signum))
    return previous


def _restore_signal_handlers(previous) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
