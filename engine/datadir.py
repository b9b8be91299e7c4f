"""The data dir: created private to the user, and held by one writer at a time.

``DataDirLock`` is an exclusive OS lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on
the file ``lock`` in the data dir, held for the writer's lifetime: the daemon, or a foreground
``soundalike index`` when no daemon runs.  The OS releases it when the process ends, however it
ends, so a crash never leaves a stale lock behind (the pid written into the file is only
information for the message a second writer gets).
"""
from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

from .errors import DataDirBusy

LOCK_FILE = "lock"

log = logging.getLogger(__name__)


def ensure_private_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) readable by the user only.

    A folder that already exists keeps the mode its user gave it (a data dir made read-only
    with ``chmod 555`` stays so: the daemon then serves it read-only); one that others may
    write is used too, with a warning."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not st.st_mode & stat.S_ISVTX:
            log.warning("the folder %s may be written by other users (mode %04o): they can "
                        "change or replace its index; `chmod go-w` it", path,
                        stat.S_IMODE(st.st_mode))
        return path
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)  # just created here: a umask cannot make it wider, nor narrower
    except OSError:
        pass
    return path


class DataDirLock:
    """``acquire()`` raises :class:`DataDirBusy` at once when another process holds it."""

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.path = Path(data_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> "DataDirLock":
        """Take the lock.  In a data dir that cannot be written (read-only, or a full disk)
        the lock file is opened for reading: ``flock`` works on such a descriptor too, so a
        second daemon serving the same read-only index is still refused.  Where there is no
        lock file and none can be created, no one can write the data dir either: ``held`` is
        False and ``acquire()`` is called again before the first write (a no-op once held)."""
        if self._fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            try:
                fd = os.open(self.path, os.O_RDONLY)
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
        self._fd = fd
        self.write_pid()
        return self

    @property
    def held(self) -> bool:
        return self._fd is not None

    def write_pid(self) -> None:
        """Write this process's pid into the lock file (information for the message a
        second writer gets); best effort: a read-only or full data dir keeps it empty.  The
        lock's own descriptor where it was opened for writing, else one of its own (the lock
        stays with the descriptor ``acquire`` opened)."""
        if self._fd is None:
            return
        for fd in (self._fd, None):
            opened = fd is None
            try:
                if opened:
                    fd = os.open(self.path, os.O_WRONLY)
                try:
                    os.ftruncate(fd, 0)
                    os.lseek(fd, 0, os.SEEK_SET)
                    os.write(fd, f"{os.getpid()}\n".encode())
                    return
                finally:
                    if opened:
                        os.close(fd)
            except OSError:
                continue

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
        try:  # a read-only data dir: flock works on a descriptor opened for reading
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return False
    try:
        _lock(fd)
    except OSError:
        return True
    finally:
        os.close(fd)  # releases the probe's lock, if it got it
    return False


#: bytes the write probe writes: room for a few pages of the index's write-ahead log
PROBE_BYTES = 64 * 1024


def write_problem(data_dir: str | os.PathLike) -> str | None:
    """Why files cannot be written into ``data_dir`` now, in plain words (None: they can).

    Writes, syncs and removes a small probe file: a read-only folder or file system, a full
    disk, a quota or a file size limit all show up here, as they would for the index."""
    probe = Path(data_dir) / f".write-probe.{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, bytes(PROBE_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        return describe_unwritable(exc, data_dir)
    finally:
        try:
            os.unlink(probe)
        except OSError:
            pass
    return None


def describe_unwritable(exc: OSError, data_dir: str | os.PathLike) -> str:
    """An OSError met writing into ``data_dir``, as what the user can act on."""
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return f"no space left on the disk holding {data_dir} ({exc.strerror})"
    if code == getattr(errno, "EFBIG", -1):
        return f"a file size limit stops writes into {data_dir} ({exc.strerror})"
    if code == errno.EROFS:
        return f"{data_dir} is on a read-only file system"
    if code in (errno.EACCES, errno.EPERM):
        return f"{data_dir} is read-only for this user ({exc.strerror})"
    return f"cannot write into {data_dir}: {exc.strerror or exc}"


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
