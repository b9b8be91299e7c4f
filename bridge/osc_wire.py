"""OSC 1.0 on the wire: decoding datagrams strictly, encoding replies.

Pure functions over bytes (no sockets, no engine): the server and the command-line client share
them, and the client imports nothing heavier than :mod:`struct`.

python-osc's own parser drops bad datagrams with a log line, skips unknown type tags (shifting
the arguments after them) and lets ``UnicodeDecodeError`` escape; Soundalike has to *answer* every
request it cannot serve, with the request's address when it can be read, so it decodes here and
turns every problem into :class:`DecodeError`.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Iterable

BUNDLE_TAG = b"#bundle\x00"
#: nested bundles deeper than this are refused (a datagram could nest thousands)
MAX_BUNDLE_DEPTH = 8
#: messages handled from one datagram; the rest of a bigger bundle is refused
MAX_MESSAGES = 64
#: arguments of one message: a longer type tag string is refused before any argument is read,
#: so that decoding a datagram costs a bounded amount of work (no request needs more than ~20)
MAX_ARGS = 128
#: arguments of all the messages of one datagram (a bundle) together
MAX_DATAGRAM_ARGS = 512

_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT64 = struct.Struct(">q")
_UINT64 = struct.Struct(">Q")
_FLOAT = struct.Struct(">f")
_DOUBLE = struct.Struct(">d")
#: argument types that are one big-endian number: int32, float32, int64, float64, time tag,
#: RGBA colour and MIDI message (the last two as their 32 bits)
_NUMBERS = {"i": _INT32, "f": _FLOAT, "h": _INT64, "d": _DOUBLE, "t": _UINT64,
            "r": _UINT32, "m": _UINT32}
#: argument types that carry no data
_CONSTANTS = {"T": True, "F": False, "N": None, "I": float("inf")}


class DecodeError(Exception):
    """A datagram (or one message of a bundle) that is not valid OSC.

    ``address`` is the request's address when it could be read (else ``""``); ``reason`` says
    what is wrong in plain words.
    """

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"{address or '(no address)'}: {reason}")
        self.address = address
        self.reason = reason


@dataclass(frozen=True)
class Message:
    """One decoded OSC message: ``tags`` is the type tag string without its comma."""
    address: str
    tags: str
    args: tuple


# -- decoding -----------------------------------------------------------------------------
def decode(data: bytes) -> list[Message | DecodeError]:
    """The messages of a datagram (a message or a bundle, nested bundles flattened in order).

    A bundle's messages are returned in order and at once (time tags are not scheduled); one bad
    message in a bundle gives a :class:`DecodeError` in its place and leaves the others.  Raises
    :class:`DecodeError` when the datagram as a whole is not OSC.
    """
    data = bytes(data)
    if data.startswith(b"#bundle"):
        out: list[Message | DecodeError] = []
        _decode_bundle(data, 0, out, [MAX_DATAGRAM_ARGS])
        return out
    if data.startswith(b"/"):
        return [decode_message(data)]
    raise DecodeError("", "not an OSC message (an address starts with '/') or bundle")


def _decode_bundle(data: bytes, depth: int, out: list, budget: list[int]) -> None:
    if depth >= MAX_BUNDLE_DEPTH:
        raise DecodeError("", f"bundles nested deeper than {MAX_BUNDLE_DEPTH}")
    if len(data) < 16 or not data.startswith(BUNDLE_TAG):
        raise DecodeError("", "truncated bundle header")
    pos = 16  # "#bundle\0" + 8-byte time tag (ignored: everything is handled at once)
    while pos < len(data):
        if pos + 4 > len(data):
            raise DecodeError("", "truncated bundle element size")
        (size,) = _INT32.unpack_from(data, pos)
        pos += 4
        if size <= 0 or size % 4 or pos + size > len(data):
            raise DecodeError("", f"bad bundle element size {size}")
        element = data[pos:pos + size]
        pos += size
        if element.startswith(b"#bundle"):
            _decode_bundle(element, depth + 1, out, budget)
        elif len(out) >= MAX_MESSAGES:
            raise DecodeError("", f"more than {MAX_MESSAGES} messages in one datagram")
        elif element.startswith(b"/"):
            try:
                msg = decode_message(element, max_args=min(MAX_ARGS, budget[0]))
                budget[0] -= len(msg.tags)
                out.append(msg)
            except DecodeError as exc:
                out.append(exc)
        else:
            out.append(DecodeError("", "bundle element is neither a message nor a bundle"))


def _read_string(data: bytes, pos: int, what: str, address: str, *,
                 lossless: bool = False) -> tuple[str, int]:
    """The OSC string at ``pos`` and the position after its padding.  ``lossless`` (string
    arguments): bytes that are not UTF-8 are kept as surrogate escapes, as ``os.fsdecode``
    keeps them in a file name, so a path comes in exactly as the client's bytes spell it
    (and goes out so again: :func:`_pad_string`); else they are refused."""
    end = data.find(b"\x00", pos)
    if end < 0:
        raise DecodeError(address, f"truncated {what} (no terminating zero byte)")
    raw = data[pos:end]
    nxt = (end + 4) & ~3  # the zero byte plus padding to a multiple of 4
    if nxt > len(data):
        raise DecodeError(address, f"truncated {what} (padding missing)")
    try:
        return raw.decode("utf-8", "surrogateescape" if lossless else "strict"), nxt
    except UnicodeDecodeError:
        if not address:  # the address itself: quote it as well as we can
            raise DecodeError(raw.decode("utf-8", "replace"),
                              "the address is not valid UTF-8") from None
        raise DecodeError(address, f"{what} is not valid UTF-8") from None


def _need(data: bytes, pos: int, n: int, what: str, address: str) -> None:
    if pos + n > len(data):
        raise DecodeError(address, f"truncated {what}")


def decode_message(data: bytes, *, max_args: int = MAX_ARGS) -> Message:
    """Decode one OSC message (raises :class:`DecodeError`).

    The work is linear in the datagram's size and bounded: a type tag string of more than
    ``max_args`` tags is refused before any argument is read.  ``S`` (an OSC symbol) is read as
    a string: it appears as ``s`` in :attr:`Message.tags`, so every handler treats both alike.
    """
    address, pos = _read_string(data, 0, "address", "")
    if not address.startswith("/"):
        raise DecodeError(address, "the address must start with '/'")
    if pos >= len(data):
        return Message(address, "", ())  # no type tag string: no arguments (old senders)
    tag_string, pos = _read_string(data, pos, "type tag string", address)
    if not tag_string.startswith(","):
        raise DecodeError(address, "the type tag string must start with ','")
    tags = tag_string[1:]
    if len(tags) > max_args:
        raise DecodeError(address, f"too many arguments ({len(tags)}; at most {max_args})")
    if "S" in tags:
        tags = tags.replace("S", "s")
    args: list[Any] = []
    for n, tag in enumerate(tags, 1):
        if tag in _NUMBERS:
            number = _NUMBERS[tag]
            _need(data, pos, number.size, f"argument {n} ({tag})", address)
            args.append(number.unpack_from(data, pos)[0])
            pos += number.size
        elif tag in _CONSTANTS:
            args.append(_CONSTANTS[tag])
        elif tag == "s":
            value, pos = _read_string(data, pos, f"string argument {n}", address,
                                      lossless=True)
            args.append(value)
        elif tag == "b":
            _need(data, pos, 4, f"argument {n} ({tag})", address)
            (size,) = _INT32.unpack_from(data, pos)
            pos += 4
            padded = (size + 3) & ~3
            if size < 0 or pos + padded > len(data):
                raise DecodeError(address, f"truncated blob argument {n}")
            args.append(data[pos:pos + size])
            pos += padded
        elif tag == "c":
            _need(data, pos, 4, f"argument {n} ({tag})", address)
            code = _UINT32.unpack_from(data, pos)[0]
            pos += 4
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise DecodeError(address, f"argument {n} is not a character")
            args.append(chr(code))
        else:
            raise DecodeError(address, f"unsupported argument type {tag!r}")
    if pos != len(data):
        raise DecodeError(address, f"{len(data) - pos} bytes after the last argument")
    return Message(address, tags, tuple(args))


# -- encoding -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Typed:
    """An argument to encode with an explicit OSC type tag (as decoded: see :func:`typed`)."""
    tag: str
    value: Any


def typed(tags: str, args: Iterable[Any]) -> tuple[Typed, ...]:
    """Decoded arguments with their type tags, to send back exactly as received (ping's echo)."""
    return tuple(Typed(t, v) for t, v in zip(tags, args))


_F32_MAX = 3.4028234663852886e38


def _encode_typed(arg: Typed, tags: list[str], body: list[bytes]) -> None:
    tag, value = arg.tag, arg.value
    if tag in _NUMBERS:
        body.append(_NUMBERS[tag].pack(value))
    elif tag in _CONSTANTS:
        pass
    elif tag in "sS":
        body.append(_pad_string(value))
    elif tag == "b":
        body.append(_INT32.pack(len(value)) + bytes(value) + b"\x00" * (-len(value) % 4))
    elif tag == "c":
        body.append(_UINT32.pack(ord(value)))
    else:
        raise ValueError(f"unsupported OSC type tag {tag!r}")
    tags.append(tag)


def _pad_string(text: str) -> bytes:
    # surrogateescape: a path with undecodable bytes (possible on Linux) goes out as its bytes
    raw = text.encode("utf-8", "surrogateescape")
    if b"\x00" in raw:
        raw = raw.replace(b"\x00", b"")
    return raw + b"\x00" * (4 - len(raw) % 4)


def encode(address: str, *args: Any) -> bytes:
    """One OSC message: ``int`` -> i (h beyond 32 bits), ``float`` -> f (d beyond float32's
    range), ``str`` -> s, ``bytes`` -> b, ``bool`` -> T/F, ``None`` -> N, :class:`Typed` -> its
    own tag.  Raises ValueError for an int beyond 64 bits (OSC has no such type)."""
    tags = [","]
    body: list[bytes] = []
    for value in args:
        if isinstance(value, Typed):
            _encode_typed(value, tags, body)
        elif isinstance(value, bool):
            tags.append("T" if value else "F")
        elif isinstance(value, int):
            if -2**31 <= value < 2**31:
                tags.append("i")
                body.append(_INT32.pack(value))
            elif -2**63 <= value < 2**63:
                tags.append("h")
                body.append(_INT64.pack(value))
            else:
                raise ValueError(f"integer {value} does not fit OSC's 64 bits")
        elif isinstance(value, float):
            if abs(value) > _F32_MAX and value != float("inf") and value != float("-inf"):
                tags.append("d")
                body.append(_DOUBLE.pack(value))
            else:
                tags.append("f")
                body.append(_FLOAT.pack(value))
        elif isinstance(value, str):
            tags.append("s")
            body.append(_pad_string(value))
        elif isinstance(value, (bytes, bytearray)):
            tags.append("b")
            body.append(_INT32.pack(len(value)) + bytes(value)
                        + b"\x00" * (-len(value) % 4))
        elif value is None:
            tags.append("N")
        else:
            raise TypeError(f"cannot encode {type(value).__name__} in OSC")
    return _pad_string(address) + _pad_string("".join(tags)) + b"".join(body)


def encode_bundle(messages: Iterable[bytes], timetag: int = 1) -> bytes:
    """A bundle of already-encoded messages (time tag 1 = immediately)."""
    parts = [BUNDLE_TAG, _UINT64.pack(timetag)]
    for m in messages:
        parts.append(_INT32.pack(len(m)))
        parts.append(m)
    return b"".join(parts)
