"""File paths as ``file://`` URIs (RFC 8089): an ASCII-only, lossless form of any path.

A file name is bytes; OSC strings are meant to be UTF-8, and a name written by another system
may not be (``b"kick\\xff.wav"``).  The daemon sends such a name as its raw bytes, which clients
that read bytes (liblo, Lua in REAPER and TouchOSC, Max) take as they are, but a client that
insists on UTF-8 (python-osc) cannot decode.  As a URI, every byte that is not a plain ASCII
path character is percent-encoded (``file:///x/kick%FF.wav``), so the path is ASCII and comes
back byte for byte: :func:`to_uri` and :func:`from_uri` are inverses for every absolute path.
Pure functions, no I/O.
"""
from __future__ import annotations

import os
import re
from urllib.parse import quote, unquote_to_bytes

#: path characters left as they are in a URI (RFC 3986 ``pchar`` less ``%``, plus ``/``)
_SAFE = "/-._~!$&'()*+,;=:@"
_DRIVE = re.compile(r"/[A-Za-z]:")


class BadURI(ValueError):
    """A string that starts like a file URI but is not one this machine can open."""


def is_uri(text: str) -> bool:
    """Whether ``text`` is meant as a file URI (it starts with ``file:``, in any case)."""
    return text[:5].lower() == "file:"


def to_uri(path: str) -> str:
    """``file://`` + the percent-encoded bytes of the absolute ``path`` (an undecodable byte of
    a name, kept in ``path`` as a surrogate escape, becomes ``%XX``)."""
    raw = os.fsencode(path)
    if os.name == "nt":  # C:\x\y.wav -> file:///C:/x/y.wav
        raw = b"/" + raw.replace(b"\\", b"/") if raw[1:2] == b":" else raw.replace(b"\\", b"/")
    return "file://" + quote(raw, safe=_SAFE)


def from_uri(uri: str) -> str:
    """The path of a file URI: ``file:///abs/path``, ``file://localhost/abs/path`` or
    ``file:/abs/path``, percent-escapes decoded to bytes and those to the path as
    ``os.fsdecode`` would give it.  Raises :class:`BadURI` for another host, a relative
    path, a query or fragment part (``?``, ``#``: write them as ``%3F``, ``%23``) or an
    escape that encodes a zero byte."""
    if not is_uri(uri):
        raise BadURI(f"not a file URI: {uri}")
    rest = uri[5:]
    if rest.startswith("//"):
        host, slash, rest = rest[2:].partition("/")
        if host.lower() not in ("", "localhost"):
            raise BadURI(f"a file URI of another host ({host}): {uri}")
        rest = slash + rest
    if not rest.startswith("/"):
        raise BadURI(f"a file URI must hold an absolute path: {uri}")
    if "?" in rest or "#" in rest:
        raise BadURI(f"a file URI with a query or fragment ('?' or '#'; write them as %3F, "
                     f"%23 in a name): {uri}")
    raw = unquote_to_bytes(rest)
    if b"\x00" in raw:
        raise BadURI(f"a file URI with a zero byte (%00): {uri}")
    if os.name == "nt" and _DRIVE.match(raw.decode("latin-1")):
        raw = raw[1:]
    return os.fsdecode(raw)
