"""One way to run and stop a background thread.

A ``Worker`` runs ``target(stop)`` on a named daemon thread, where ``stop`` is a
``threading.Event`` the target checks (and waits on) between steps.  ``stop()`` sets the event,
calls ``wake`` (so a target blocked on its own condition or queue notices), and joins with a
timeout; it reports whether the thread really ended, and never hangs the caller.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, name: str, target: Callable[[threading.Event], None], *,
                 wake: Callable[[], None] | None = None) -> None:
        self.name = name
        self._target = target
        self._wake = wake
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "Worker":
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._target(self.stopping)
        except Exception:  # a worker that dies says so; its owner keeps working without it
            log.exception("%s stopped on an error", self.name)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the thread to stop and wait up to ``timeout`` s; True when it has ended."""
        self.stopping.set()
        if self._wake is not None:
            self._wake()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        if thread.is_alive():
            log.warning("%s did not stop within %.0f s", self.name, timeout)
            return False
        return True
