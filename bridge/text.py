"""Text for people: file names and messages made safe to print one per line.

A file name may hold any byte but ``/`` and NUL: a newline in a name would forge a line in the
output of ``index``, ``status`` or the log (``failed: /x\nindexed 5000``), an escape sequence
would drive the terminal.  :func:`printable` writes such characters as Python-style escapes
(``\\n``, ``\\x1b``, ``\\u2028``); bytes that are not UTF-8 (kept in a path as surrogate
escapes) come out as ``\\xNN``.  Backslashes are left as they are (a name may really hold
``\\n`` as two characters: the output is for reading, the JSON outputs are exact).
"""
from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, the Unicode line and paragraph separators, bidi overrides,
# and lone surrogates (undecodable bytes of a file name)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                     "\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: one undecodable byte
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def printable(text: object) -> str:
    """``text`` (any object, as ``str()``) with every character that could break a line or
    drive a terminal escaped; plain text is returned unchanged."""
    text = text if isinstance(text, str) else str(text)
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(_escape, text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(value: object, **kwargs) -> str:
    """``json.dumps(value, ensure_ascii=False, **kwargs)``, safe to write as UTF-8: a path's
    undecodable bytes (surrogate escapes) are written as JSON escapes (``"\\udcff"``), so the
    output is valid JSON and UTF-8, and ``json.loads`` gives back the very same ``str``
    (``os.fsencode`` of it: the name's bytes).  Other text stays as it is (``"é"``)."""
    import json

    text = json.dumps(value, ensure_ascii=False, **kwargs)
    if not _SURROGATE.search(text):
        return text
    # a lone surrogate can only be inside a JSON string, where its escape means the same
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
