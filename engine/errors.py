"""The engine's error family.

Every error a user can cause (a missing file, a folder that is not audio, a full disk, a model
that cannot be read, a data dir another process holds) is an ``EngineError``: its message says
what happened in plain words and what to do.  The command line catches ``EngineError`` in one
place (``bridge.cli.main``: one line, exit status 1) and the OSC handlers in one place
(``bridge.handlers.Handlers.handle``: a ``/soundalike/error`` reply); anything else is a bug and
is logged with its traceback.
"""
from __future__ import annotations


class EngineError(Exception):
    """Something the user can cause and fix; ``str()`` is the whole message."""


class QueryError(EngineError):
    """A query that cannot be answered (no such file, not audio, bad arguments)."""


class DataDirBusy(EngineError):
    """Another process holds the data dir (a running daemon, or an ``index`` in progress).

    ``pid`` is the holder's process id when it could be read (else None)."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid
