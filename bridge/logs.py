"""Logging that a flood cannot turn against the log: repeats collapsed, lines kept whole.

- :class:`RepeatFilter` lets the first ``burst`` records of one kind through in each ``window``
  seconds (a kind: the logger, the level and the message *template*, so 10,000 "request from
  %s failed" with different addresses are one kind), drops the rest and counts them; the next
  record of that kind after the window says how many were left out.  So 10,000 bad requests
  write a handful of lines instead of rotating every earlier line out of the log file.
- :func:`log_warnings` sends Python warnings (watchdog's among them) to the ``py.warnings``
  logger, one kind per place that warns and each cut to ``MAX_WARNING`` characters, so the
  filter collapses them too (``logging.captureWarnings`` makes each message its own kind, and
  watchdog's name a whole watch table each).
- :class:`SafeFormatter` escapes control characters in the message (see bridge/text.py): a file
  name with a newline cannot forge a log line.  Tracebacks keep their own line breaks.
"""
from __future__ import annotations

import logging
import threading
import warnings
import time
from collections import OrderedDict
from typing import Callable

from .text import printable


class RepeatFilter(logging.Filter):
    def __init__(self, *, burst: int = 5, window: float = 60.0, max_kinds: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst, self.window, self.max_kinds = burst, window, max_kinds
        self._clock = clock
        self._kinds: OrderedDict[tuple, list] = OrderedDict()  # kind -> [start, seen, dropped]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        decided = getattr(record, "_sa_repeat", None)
        if decided is not None:  # one filter shared by several handlers: decide once
            return decided
        kind = (record.name, record.levelno, str(record.msg),
                record.exc_info[0] if record.exc_info else None)
        now = self._clock()
        with self._lock:
            state = self._kinds.get(kind)
            if state is None or now - state[0] >= self.window:
                dropped = state[2] if state is not None else 0
                self._kinds[kind] = [now, 1, 0]
                self._kinds.move_to_end(kind)
                while len(self._kinds) > self.max_kinds:
                    self._kinds.popitem(last=False)
                if dropped:
                    record.msg = f"{record.msg} [{dropped} more like this were not logged]"
                ok = True
            else:
                state[1] += 1
                ok = state[1] <= self.burst
                if not ok:
                    state[2] += 1
                elif state[1] == self.burst:
                    record.msg = (f"{record.msg} [repeated {self.burst} times in "
                                  f"{self.window:g} s: more like this are counted, not logged]")
        record._sa_repeat = ok
        return ok


class SafeFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)


MAX_WARNING = 500  # characters of one warning's message that are logged


def log_warnings() -> None:
    """Log Python warnings through ``py.warnings`` (see the module's docstring)."""
    logger = logging.getLogger("py.warnings")

    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if len(text) > MAX_WARNING:
            text = text[:MAX_WARNING] + f"... [{len(text) - MAX_WARNING} more characters]"
        where = f"{filename}:{lineno}: {category.__name__}: ".replace("%", "%%")
        logger.warning(where + "%s", text)

    warnings.showwarning = show
