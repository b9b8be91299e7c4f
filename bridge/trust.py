"""The local trust model: which client may ask about which path (see docs/security.md).

- The **library** (files inside a watched folder, or indexed) may be queried by every allowed
  client, local or remote, but only through paths that stay inside a watched folder once
  symlinks are resolved: a link inside the library that points outside it opens nothing.
- **Anything else** on the disk is answered only to the **daemon's own user** (a client on this
  machine whose socket belongs to the daemon's uid), or when it lies under one of the
  ``osc.query_paths`` of the config (folders the user opens to every allowed client).
- For everyone else such a path is refused with one message, ``not allowed: PATH is not in the
  library``, decided before the file is touched: a missing file, a folder, an unreadable file,
  a file that is not audio and a real sample all answer the same.

Who owns a client's socket: on Linux, the UDP socket tables ``/proc/net/udp`` and
``/proc/net/udp6`` give the uid of the socket bound to the request's source address and port
(the same answer ``ss -uap`` gives).  Where there is no such table (macOS), ``lsof`` (part of
macOS) is asked for the socket's owner instead.  Where neither answers (Windows, or no lsof)
the owner is unknown and the client is treated as another user: list the folders it may query
in ``osc.query_paths``.
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import struct
import subprocess
import threading
import time
from collections import OrderedDict
from typing import Callable, Iterable

UDP_TABLES = ("/proc/net/udp", "/proc/net/udp6")

_Ip = ipaddress.IPv4Address | ipaddress.IPv6Address


def _table_address(text: str) -> _Ip | None:
    """A /proc/net/udp address: hex words, each printed in the machine's byte order."""
    try:
        raw = b"".join(struct.pack("=I", int(text[i:i + 8], 16))
                       for i in range(0, len(text), 8))
        ip = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def host_ip(host: str) -> _Ip | None:
    """A client's address as an IP (a scope suffix dropped, IPv4-mapped IPv6 as IPv4), or
    None when ``host`` is not an IP address."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def socket_owner(host: str, port: int, tables: Iterable[str] = UDP_TABLES) -> int | None:
    """The uid of the UDP socket on this machine that sends from ``host``:``port``.

    A socket bound to the wildcard address (``0.0.0.0``, ``::``) on that port counts.  None when
    no table can be read, no socket matches, or sockets of different users match.
    """
    ip = host_ip(host)
    if ip is None:
        return None
    uids: set[int] = set()
    readable = False
    for table in tables:
        try:
            with open(table, encoding="ascii", errors="replace") as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            if len(fields) < 8:
                continue
            addr, _, hexport = fields[1].rpartition(":")
            try:
                if int(hexport, 16) != port:
                    continue
                uid = int(fields[7])
            except ValueError:
                continue
            local = _table_address(addr)
            if local is not None and (local == ip or local.is_unspecified):
                uids.add(uid)
    if not readable:
        return lsof_owner(port)
    return uids.pop() if len(uids) == 1 else None


def lsof_owner(port: int, *, lsof: str | None = None) -> int | None:
    """The uid of the UDP socket on ``port`` as ``lsof`` reports it (macOS has no
    /proc/net/udp); None without lsof, when it fails, or when sockets of several users match."""
    lsof = lsof or shutil.which("lsof") or ("/usr/sbin/lsof" if os.path.exists("/usr/sbin/lsof")
                                            else None)
    if lsof is None or not 0 < port < 65536:
        return None
    try:
        out = subprocess.run([lsof, "-nP", f"-iUDP:{port}", "-Fu"], capture_output=True,
                             text=True, timeout=2.0, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    uids = {int(line[1:]) for line in out.splitlines()
            if line.startswith("u") and line[1:].isdigit()}
    return uids.pop() if len(uids) == 1 else None


def _inside(path: str, folder: str) -> bool:
    folder = folder.rstrip(os.sep) or os.sep
    return path == folder or path.startswith(folder if folder == os.sep else folder + os.sep)


class TrustPolicy:
    """Decides :meth:`may_query` and :meth:`is_owner` (thread-safe; owner answers cached 1 s).

    ``query_paths``: folders outside the library whose files any allowed client may query.
    ``uid``: the daemon's user (default: the effective uid).  ``owner_of(host, port)``: the uid
    of a client's socket, or None (default :func:`socket_owner`).
    """

    def __init__(self, query_paths: Iterable[str] = (), *, uid: int | None = None,
                 owner_of: Callable[[str, int], int | None] = socket_owner,
                 cache_seconds: float = 1.0) -> None:
        self.query_paths = tuple(os.path.abspath(os.path.expanduser(p)) for p in query_paths)
        self.uid = os.geteuid() if uid is None and hasattr(os, "geteuid") else uid
        self._owner_of = owner_of
        self._cache_seconds = cache_seconds
        self._cache: OrderedDict[tuple, tuple[float, bool]] = OrderedDict()
        self._lock = threading.Lock()

    def is_owner(self, sender: tuple, local: bool = True) -> bool:
        """Whether the client at ``sender`` is on this machine and runs as the daemon's user."""
        if not local or self.uid is None:
            return False
        key = (sender[0], sender[1])
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self._cache_seconds:
                return hit[1]
        owner = self._owner_of(sender[0], int(sender[1]))
        answer = owner is not None and owner == self.uid
        with self._lock:
            self._cache[key] = (now, answer)
            self._cache.move_to_end(key)
            while len(self._cache) > 1024:
                self._cache.popitem(last=False)
        return answer

    def may_query(self, backend, path: str, sender: tuple, local: bool) -> bool:
        """Whether the client may query (or select) ``path`` (absolute and normalised).

        Decided from the path alone and the client (never from the file), so the refusal is the
        same whatever is (or is not) at ``path``.
        """
        if local and self.is_owner(sender, local):  # cached: the common case stays cheap
            return True
        if self.in_library(backend, path):
            return True
        return bool(self.query_paths) and self._under(path, self.query_paths)

    def in_library(self, backend, path: str) -> bool:
        """Inside the library by its name (indexed, or under a watched folder) *and* once its
        symlinks are resolved (under a watched folder's real path)."""
        try:
            if not backend.is_allowed_query(path):
                return False
            return self._under(path, backend.folders())
        except Exception:  # a backend problem must not open anything
            return False

    @staticmethod
    def _under(path: str, folders: Iterable[str]) -> bool:
        """``path`` under one of ``folders``, both by name and with symlinks resolved."""
        real = os.path.realpath(path)
        for folder in folders:
            folder = os.path.abspath(folder)
            if _inside(real, os.path.realpath(folder)) and \
                    (_inside(path, folder) or _inside(path, os.path.realpath(folder))):
                return True
        return False
