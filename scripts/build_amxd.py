#!/usr/bin/env python3
"""Build the Max for Live device (.amxd) from its text source (.maxpat).

An unfrozen .amxd is a sequence of chunks, each a 4-byte ASCII tag, a 32-bit little-endian
payload size and the payload (the layout Ableton's own amxd_textconv.py in
github.com/Ableton/maxdevtools reads):

    ampf  4 bytes: the device type, b"aaaa" audio effect, b"iiii" instrument, b"mmmm" MIDI effect
    meta  4 bytes: zero
    ptch  the patcher JSON, UTF-8, followed by a NUL byte

The [js] object's script (soundalike.js) is not inside the file: Max finds it next to the
device. To hand out a single file, open the device in Max and use "Freeze Device".

    python scripts/build_amxd.py            # writes max_for_live/Soundalike.amxd
    python scripts/build_amxd.py --check    # exit 1 if the committed .amxd is stale
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "max_for_live" / "Soundalike.maxpat"
TARGET = ROOT / "max_for_live" / "Soundalike.amxd"

DEVICE_TYPES = {"audio_effect": b"aaaa", "instrument": b"iiii", "midi_effect": b"mmmm"}


def chunk(tag: bytes, payload: bytes) -> bytes:
    """One chunk: tag, little-endian uint32 size, payload."""
    if len(tag) != 4:
        raise ValueError(f"chunk tag must be 4 bytes: {tag!r}")
    return tag + struct.pack("<I", len(payload)) + payload


def build(patcher_text: str, device_type: str = "audio_effect") -> bytes:
    """The .amxd bytes for a patcher's JSON text (validated, embedded byte for byte)."""
    json.loads(patcher_text)  # refuse to package a patcher that does not parse
    if not patcher_text.endswith("\n"):
        patcher_text += "\n"
    return (chunk(b"ampf", DEVICE_TYPES[device_type])
            + chunk(b"meta", struct.pack("<I", 0))
            + chunk(b"ptch", patcher_text.encode("utf-8") + b"\x00"))


def read_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split .amxd bytes into (tag, payload) pairs; raises ValueError on a malformed file."""
    chunks, offset = [], 0
    while offset < len(data):
        if offset + 8 > len(data):
            raise ValueError(f"truncated chunk header at byte {offset}")
        tag = data[offset:offset + 4]
        (size,) = struct.unpack("<I", data[offset + 4:offset + 8])
        payload = data[offset + 8:offset + 8 + size]
        if len(payload) != size:
            raise ValueError(f"chunk {tag!r} at byte {offset} is truncated")
        chunks.append((tag, payload))
        offset += 8 + size
    return chunks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--output", type=Path, default=TARGET)
    parser.add_argument("--device-type", choices=sorted(DEVICE_TYPES), default="audio_effect")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the output differs from a fresh build")
    args = parser.parse_args(argv)

    data = build(args.source.read_text(encoding="utf-8"), args.device_type)
    if args.check:
        if not args.output.exists() or args.output.read_bytes() != data:
            print(f"{args.output} is stale: run python scripts/build_amxd.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_bytes(data)
    print(f"wrote {args.output} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
