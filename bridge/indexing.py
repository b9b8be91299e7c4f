"""``soundalike index`` while a daemon runs: the folders are added to the daemon over OSC
(``/soundalike/folder/add``), and the command follows its pushes (``/soundalike/indexed``,
``/soundalike/progress``) until it is idle.  The daemon is the data dir's only writer; this
process only reads the index, to report what it holds for the folders."""
from __future__ import annotations

import os
import time
from pathlib import Path

from .client import P, DaemonConnection, read_daemon_file
from .errors import UserError

#: how long to wait for a daemon that holds the data dir to answer over OSC (it may be starting)
ANSWER_TIMEOUT = 30.0
#: how often the daemon is asked for its status while it indexes (pushes may be lost: UDP)
POLL = 0.5


def _under_any(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in folders)


def _connect(ddir: Path, holder: int | None, what: str = "index") -> DaemonConnection:
    from .app import busy_message

    deadline = time.monotonic() + ANSWER_TIMEOUT
    while True:
        info = read_daemon_file(ddir)
        if info is not None:
            try:
                return DaemonConnection(info["host"], info["port"], timeout=2.0)
            except (OSError, TimeoutError):
                pass
        if time.monotonic() > deadline:
            raise UserError(f"cannot {what} now: {busy_message(ddir, holder)} (it does not "
                            "answer over OSC)")
        time.sleep(0.2)


def index_through_daemon(ddir: Path, folders: list[str], *, holder: int | None = None, bar=None):
    """Have the daemon of ``ddir`` index ``folders``; returns an ``engine.Summary``."""
    from engine import Library, Summary

    from .paths import model_override

    indexed: set[str] = set()
    removed: set[str] = set()
    with _connect(ddir, holder) as conn:
        conn.send(f"{P}/subscribe", conn.port)
        conn.wait(lambda m: m.address == f"{P}/subscribed", 5.0)
        try:
            for f in folders:
                conn.send(f"{P}/folder/add", f)
                m = conn.wait(lambda m: (m.address == f"{P}/folder/added" and m.args[:1] == (f,))
                              or (m.address == f"{P}/error"
                                  and m.args[:1] == (f"{P}/folder/add",)), 60.0)
                if m is None:
                    raise UserError(f"the daemon did not acknowledge {f}")
                if m.address == f"{P}/error":
                    raise UserError(str(m.args[1]))
            next_poll = 0.0
            while True:
                if time.monotonic() >= next_poll:
                    conn.send(f"{P}/status")
                    next_poll = time.monotonic() + POLL
                m = conn.wait(lambda m: True, POLL)
                if m is None:
                    continue
                if m.address == f"{P}/indexed" and _under_any(str(m.args[0]), folders):
                    indexed.add(str(m.args[0]))
                elif m.address == f"{P}/removed" and _under_any(str(m.args[0]), folders):
                    removed.add(str(m.args[0]))
                elif m.address == f"{P}/status" and m.tags == "iis":
                    pending, state = int(m.args[1]), str(m.args[2])
                    if bar is not None:
                        bar.update(len(indexed), len(indexed) + pending)
                    if state == "idle" and pending == 0:
                        break
        finally:
            conn.send(f"{P}/unsubscribe", conn.port)
            if bar is not None:
                bar.close()
    lib = Library(ddir, model_dir=model_override(), read_only=True)
    try:
        summary = Summary(indexed=len(indexed), removed=len(removed))
        summary.failures = [f for folder in folders for f in lib.catalog.failures(under=folder)]
        summary.failed = len(summary.failures)
        ok = sum(1 for folder in folders for e in lib.catalog.entries(under=folder)
                 if e.status == "ok" and not e.offline)
        summary.unchanged = max(0, ok - summary.indexed)
    finally:
        lib.close()
    return summary
