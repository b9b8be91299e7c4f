"""The composition root: ``soundalike serve``.

Loads the config, then starts the parts in dependency order (store and library, indexing worker,
folder watcher, OSC server) and stops them in reverse in one ``finally``.  SIGINT and SIGTERM
stop it cleanly with exit status 0.
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Mapping

from engine import Library, QueryError
from engine.indexer import Indexer
from engine.watch import Watcher

from . import paths
from .config import Config, load_config, with_overrides
from .errors import UserError

log = logging.getLogger("soundalike")


class DaemonBackend:
    """The Backend (see bridge/backend.py) over the running library, indexer and watcher."""

    def __init__(self, library: Library, indexer: Indexer, watcher: Watcher) -> None:
        self.library = library
        self.indexer = indexer
        self.watcher = watcher

    def similar(self, path: str, k: int, *, mode: str | None = None,
                weights: Mapping[str, float] | None = None):
        return self.library.similar(path, k, mode=mode, weights=weights)

    def status(self) -> dict:
        """Cheap (no database scan): OSC status requests are answered on the receiving thread."""
        info = {"indexed": self.library.indexed_count(), "model_id": self.library.model_id}
        info.update(self.indexer.status())
        info["offline_roots"] = self.indexer.offline_roots()
        info["folders"] = self.indexer.roots()
        info["embedded"] = self.library.embedded
        return info

    def folders(self) -> list[str]:
        return self.indexer.roots()

    def add_folder(self, path: str) -> None:
        path = os.path.abspath(os.path.expanduser(path))
        if not os.path.isdir(path):
            raise QueryError(f"no such folder: {path}")
        self.watcher.add(path)
        self.indexer.add_root(path)

    def remove_folder(self, path: str) -> None:
        path = os.path.abspath(os.path.expanduser(path))
        if path not in self.indexer.roots():
            raise QueryError(f"not a watched folder: {path}")
        self.watcher.discard(path)
        self.indexer.remove_root(path)

    def rescan(self) -> None:
        self.indexer.request_scan()

    def is_indexed(self, path: str) -> bool:
        return self.library.is_indexed(path)

    def is_allowed_query(self, path: str) -> bool:
        path = os.path.abspath(path)
        if self.library.store.get(path) is not None:
            return True
        return self.indexer.root_of(path) is not None

    def add_listener(self, listener) -> None:
        self.indexer.add_listener(listener)


def setup_logging(level: str, log_file: Path | None) -> list[logging.Handler]:
    from .logs import RepeatFilter, SafeFormatter

    fmt = SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    repeats = RepeatFilter()  # a flood of one kind of line cannot rotate the log away
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            handlers.append(logging.handlers.RotatingFileHandler(
                log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8"))
        except OSError as exc:
            print(f"soundalike: cannot write the log file {log_file}: {exc}", file=sys.stderr)
    root = logging.getLogger()
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(repeats)
        root.addHandler(h)
    for noisy in ("watchdog", "numba", "h5py", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handlers


def serve(args) -> int:
    config = with_overrides(load_config(paths.config_file()), folders=args.folders,
                            host=args.osc_host, port=args.osc_port,
                            reply_port=args.reply_port)
    handlers = setup_logging(config.log_level, paths.log_dir() / "soundalike.log")
    try:
        return run_daemon(config, data_dir=paths.data_dir(args.data_dir),
                          model_dir=paths.model_override())
    finally:
        for h in handlers:
            logging.getLogger().removeHandler(h)
            h.close()


def run_daemon(config: Config, *, data_dir: Path, model_dir: Path | None = None,
               stop: threading.Event | None = None) -> int:
    stop = stop or threading.Event()
    # switch threads every 1 ms instead of 5: the OSC receiving thread gets the interpreter
    # back quickly while the indexer and query workers compute
    sys.setswitchinterval(0.001)
    received: list[int] = []  # SIGINT/SIGTERM, as the handlers record them
    installed = _install_signal_handlers(received)
    started: list = []
    library = None
    try:
        library = Library(data_dir, model_dir=model_dir,
                          decode_threads=config.indexing.threads,
                          batch_size=config.indexing.batch_size)
        started.append(library.close)
        # load the search index before anything else competes for the interpreter (the worker
        # imports TensorFlow): queries for indexed files are answerable as soon as OSC listens
        log.info("data dir %s, model %s, %d files indexed", data_dir, library.model_id,
                 library.indexed_count())

        indexer = Indexer(library, settle=config.indexing.settle_seconds,
                          nice=config.indexing.nice)
        watcher = Watcher(indexer)
        indexer.on_root_online = watcher.add
        indexer.start()
        started.append(indexer.stop)
        watcher.start()
        started.append(watcher.stop)

        for folder in config.folders:
            if not os.path.isdir(folder):
                log.warning("folder %s does not exist (yet): it will be indexed when it "
                            "appears", folder)
            watcher.add(folder)
            indexer.add_root(folder)

        backend = DaemonBackend(library, indexer, watcher)
        server = _start_osc(backend, config)
        if server is not None:
            started.append(server.stop)
            host, port = server.address
            _write_daemon_file(data_dir, host, port)
            started.append(lambda: _remove_daemon_file(data_dir))
            log.info("answering OSC on %s:%d", host, port)
        log.info("watching %d folder(s)", len(config.folders))
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
    from .client import write_daemon_file

    write_daemon_file(data_dir, host, port)


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
