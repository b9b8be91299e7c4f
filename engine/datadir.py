"""The data dir: created private to the user, and held by one writer at a time.

``DataDirLock`` is an exclusive OS lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on
the file ``lock`` in the data dir, held for the writer's lifetime: the daemon, or a foreground
``soundalike index`` when no daemon runs.  The OS releases it when the process ends, however it
ends, so a crash never leaves a stale lock behind (the pid written into the file is only
information for the message a second writer gets).
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import DataDirBusy

LOCK_FILE = "lock"


def ensure_private_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) readable by the user only."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    return path


class DataDirLock:
    """``acquire()`` raises :class:`DataDirBusy` at once when another process holds it."""

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.path = Path(data_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> "DataDirLock":
        """Take the lock.  A data dir where the lock file cannot even be created (read-only,
        or a full disk) cannot be written by anyone either: the store says so when it tries,
        so that is no reason to refuse here."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return self
        try:
            _lock(fd)
        except OSError:
            os.close(fd)
            pid = holder_pid(self.path.parent)
            raise DataDirBusy(f"the data dir {self.path.parent} is in use by another "
                              f"Soundalike process{f' (pid {pid})' if pid else ''}",
                              pid) from None
        try:  # information for the message a second writer gets; best effort (disk full)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    def __enter__(self) -> "DataDirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def holder_pid(data_dir: str | os.PathLike) -> int | None:
    """The pid the current holder wrote into the lock file (None if unreadable)."""
    try:
        return int((Path(data_dir) / LOCK_FILE).read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def is_locked(data_dir: str | os.PathLike) -> bool:
    """Whether some process holds the data dir's lock now (probes without keeping it)."""
    path = Path(data_dir) / LOCK_FILE
    if not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        _lock(fd)
    except OSError:
        return True
    finally:
        os.close(fd)  # releases the probe's lock, if it got it
    return False


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
