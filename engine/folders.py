"""Which folders may be watched, and which names the library skips: one rule for each.

``refuse_folder(path, mounts)`` says why a folder must not be watched (``None``: it may be),
from the path and the file system it is on: system roots (``/``, ``/proc``, ``/usr``,
``C:\\Windows`` ...) and pseudo file systems (proc, sysfs, devtmpfs, cgroup, a tmpfs under
``/run`` or ``/dev`` ...) hold no samples, and watching them costs gigabytes (``/proc/*/root``
leads back to ``/`` once per process).  ``read_mounts()`` is the I/O at the edge
(``/proc/self/mounts`` on Linux; elsewhere no mounts and the list of system roots decides).

``hidden(name)`` is the one rule for names the scan and the watcher both skip.
"""
from __future__ import annotations

import ntpath
import os
import posixpath
import sys
from typing import Iterable, Sequence

#: (mount point, file system type)
Mount = tuple[str, str]

#: file systems that are views of the kernel, not files on a disk
PSEUDO_FS = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "securityfs", "debugfs",
    "tracefs", "pstore", "bpf", "configfs", "fusectl", "mqueue", "hugetlbfs", "binfmt_misc",
    "efivarfs", "selinuxfs", "rpc_pipefs", "nsfs", "autofs", "ramfs", "nfsd",
})
#: under these folders a memory file system (tmpfs) is the system's, not a user's
SYSTEM_TMPFS_UNDER = ("/run", "/dev", "/sys", "/proc")
#: folders that are the system's on POSIX systems, refused themselves (not what is inside,
#: except for the pseudo trees below)
POSIX_SYSTEM_ROOTS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
    "/run", "/sbin", "/sys", "/usr", "/var", "/snap",
    # macOS
    "/System", "/Library", "/private", "/cores",
})
#: trees refused with everything inside them
POSIX_PSEUDO_TREES = ("/proc", "/sys", "/dev")
#: Windows: folders refused on any drive (with the drive root of the system)
WINDOWS_SYSTEM = ("windows", "program files", "program files (x86)", "programdata",
                  "$recycle.bin", "system volume information")


def hidden(name: str) -> bool:
    """Whether a file or folder name is skipped, with everything inside a folder so named:
    a leading dot (``.DS_Store``, ``._AppleDouble`` files, ``.git``, ``.Trash``, editors'
    and copy tools' temporary files)."""
    return name.startswith(".")


def hidden_path(path: str, root: str | None = None) -> bool:
    """Whether ``path`` is skipped: its name or a folder name between ``root`` (when given)
    and it is hidden.  The scan and the watcher both decide with this."""
    rel = os.path.relpath(path, root) if root else os.path.basename(path)
    if rel.startswith(os.pardir):
        rel = os.path.basename(path)
    return any(hidden(part) for part in rel.split(os.sep) if part not in ("", os.curdir))


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


_ADD = "add the folder that holds your samples"


def refuse_folder(path: str, mounts: Sequence[Mount] = (), *,
                  platform: str = sys.platform, system_drive: str = "C:") -> str | None:
    """Why the folder ``path`` must not be watched (a message naming it), or None.
    ``mounts``: the mounted file systems (see :func:`read_mounts`), to find the one ``path``
    is on.  On Windows the root of ``system_drive`` and the system folders of any drive are
    refused (the root of another drive, a sample drive, is not)."""
    if platform.startswith("win"):
        p = ntpath.normpath(path)
        drive, rest = ntpath.splitdrive(p)
        parts = [x for x in rest.replace("/", "\\").split("\\") if x]
        if not parts and drive.rstrip("\\").lower() == system_drive.rstrip("\\").lower():
            return f"refusing to watch {path}: the root of the system drive; {_ADD}"
        if parts and parts[0].lower() in WINDOWS_SYSTEM:
            return f"refusing to watch {path}: a system folder; {_ADD}"
        return None
    p = posixpath.normpath(path)
    if p.startswith("//"):
        p = "/" + p.lstrip("/")
    for tree in POSIX_PSEUDO_TREES:
        if _under(p, tree):
            return (f"refusing to watch {path}: inside {tree}, a view of the system, not "
                    f"files on a disk; {_ADD}")
    if p in POSIX_SYSTEM_ROOTS:
        return f"refusing to watch {path}: a system folder; {_ADD}"
    on = [m for m in mounts if _under(p, m[0])]
    if on:
        point, fstype = max(on, key=lambda m: len(m[0]))
        if fstype in PSEUDO_FS or fstype.startswith("cgroup"):
            return (f"refusing to watch {path}: on a {fstype} file system, a view of the "
                    f"system, not files on a disk; {_ADD}")
        if fstype == "tmpfs" and any(_under(point, s) for s in SYSTEM_TMPFS_UNDER):
            return (f"refusing to watch {path}: on the system's memory file system "
                    f"({fstype} on {point}); {_ADD}")
    return None


def parse_mounts(text: str) -> list[Mount]:
    """``/proc/self/mounts`` text -> [(mount point, type)] (octal escapes such as ``\\040``
    for a space decoded)."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            point = fields[1]
            if "\\" in point:
                point = point.encode("latin-1", "backslashreplace").decode(
                    "unicode_escape").encode("latin-1").decode("utf-8", "surrogateescape")
            out.append((point, fields[2]))
    return out


def read_mounts() -> list[Mount]:
    """The mounted file systems (Linux); [] where they cannot be read."""
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="surrogateescape") as f:
            return parse_mounts(f.read())
    except OSError:
        return []


def check_folders(paths: Iterable[str]) -> list[tuple[str, str]]:
    """``[(path, reason), ...]`` for the folders of ``paths`` that must not be watched (the
    path or, for a symbolic link, its target)."""
    mounts = read_mounts()
    out = []
    drive = os.environ.get("SystemDrive", "C:")
    for p in paths:
        path, real = os.path.abspath(p), os.path.realpath(p)
        why = refuse_folder(path, mounts, system_drive=drive)
        if why is None and real != path:  # a link to / or /proc
            why = refuse_folder(real, mounts, system_drive=drive)
            if why is not None:
                why = why.replace(f"refusing to watch {real}:",
                                  f"refusing to watch {path} (a link to {real}):", 1)
        if why is not None:
            out.append((p, why))
    return out
