"""The daemon's configuration: TOML -> typed, validated config.

Every problem in the file is collected and reported at once (with "did you mean" for misspelt
keys); nothing is read at import time.
"""
from __future__ import annotations

import difflib
import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

EXAMPLE = """\
# Soundalike configuration (TOML). Every key is optional.

# Folders to index and watch (recursively). More can be given on the command line.
folders = ["~/Samples"]

[osc]
host = "127.0.0.1"        # listen address; anything but loopback needs `allow`
port = 9000               # requests come here
# reply_port = 9001       # send replies here instead of the request's source port
# allow = ["192.168.1.20"]  # client addresses (or networks, "192.168.1.0/24") allowed over LAN
# query_paths = ["~/Music/Ableton"]  # folders outside the library any allowed client may query

[indexing]
threads = 1               # decoding threads (the encoder has its own bounded pool)
batch_size = 32           # files embedded per encoder call
nice = 10                 # niceness of the indexing threads (0 = normal priority)
settle_seconds = 0.3      # a file is embedded once it has not changed for this long

[log]
level = "info"            # debug, info, warning or error
"""


@dataclass(frozen=True)
class OscConfig:
    host: str = "127.0.0.1"
    port: int = 9000
    reply_port: int | None = None
    allow: tuple[str, ...] = ()
    query_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class IndexingConfig:
    threads: int = 1
    batch_size: int = 32
    nice: int = 10
    settle_seconds: float = 0.3


@dataclass(frozen=True)
class Config:
    folders: tuple[str, ...] = ()
    osc: OscConfig = field(default_factory=OscConfig)
    indexing: IndexingConfig = field(default_factory=IndexingConfig)
    log_level: str = "info"
    source: str | None = None  # the file it came from


_SCHEMA: dict[str, Any] = {
    "folders": "folders",
    "osc": {"host": "host", "port": "port", "reply_port": "port", "allow": "allow",
            "query_paths": "folders"},
    "indexing": {"threads": (1, 16), "batch_size": (1, 1024), "nice": (0, 19),
                 "settle_seconds": "seconds"},
    "log": {"level": "level"},
}
_LEVELS = ("debug", "info", "warning", "error")


def load_config(path: str | os.PathLike | None) -> Config:
    """Read and validate ``path``; a missing file gives the defaults."""
    if path is None or not Path(path).exists():
        return Config()
    try:
        # utf-8-sig: a byte-order mark (Windows editors write one) is not part of the text
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML: tables or arrays nested too deeply") \
            from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: "
                          f"{exc.object[exc.start:exc.start + 1]!r})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_config(raw, source=str(path))


def parse_config(raw: dict, *, source: str = "config") -> Config:
    errors: list[str] = []
    values: dict[str, Any] = {}
    _walk(raw, _SCHEMA, "", errors, values)
    osc = OscConfig(
        host=values.get("osc.host", "127.0.0.1"),
        port=values.get("osc.port", 9000),
        reply_port=values.get("osc.reply_port"),
        allow=tuple(values.get("osc.allow", ())),
        query_paths=tuple(values.get("osc.query_paths", ())),
    )
    if not _is_loopback(osc.host) and not osc.allow:
        errors.append("osc.host: listening on a non-loopback address needs osc.allow "
                      "(the client addresses allowed)")
    if len(errors) == 1:
        raise ConfigError(f"{source}: {errors[0]}")
    if errors:
        raise ConfigError(f"{source}: {len(errors)} problem(s):\n  " + "\n  ".join(errors))
    idx = IndexingConfig(**{k.split(".", 1)[1]: v for k, v in values.items()
                            if k.startswith("indexing.")})
    return Config(folders=tuple(values.get("folders", ())), osc=osc, indexing=idx,
                  log_level=values.get("log.level", "info"), source=source)


def _walk(raw: dict, schema: dict, prefix: str, errors: list[str], out: dict) -> None:
    if not isinstance(raw, dict):
        errors.append(f"{prefix.rstrip('.')}: expected a table")
        return
    for key, value in raw.items():
        name = prefix + key
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema), n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            errors.append(f"{name}: unknown key{hint}")
            continue
        rule = schema[key]
        if isinstance(rule, dict):
            _walk(value, rule, name + ".", errors, out)
            continue
        ok, result = _check(rule, value)
        if ok:
            out[name] = result
        elif isinstance(result, list):  # one problem per bad item of a list
            errors.extend(f"{name}[{i}]: {why}" for i, why in result)
        else:
            errors.append(f"{name}: {result}")


def _check(rule, value) -> tuple[bool, Any]:
    if isinstance(rule, tuple):
        lo, hi = rule
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            return False, f"expected a whole number from {lo} to {hi}, got {value!r}"
        return True, value
    if rule == "folders":
        if not isinstance(value, list):
            return False, f"expected a list of folder paths, got {_short(value)}"
        bad = [(i, _folder_problem(v)) for i, v in enumerate(value)]
        bad = [(i, why) for i, why in bad if why]
        if bad:
            return False, bad
        return True, [str(Path(v).expanduser()) for v in value]
    if rule == "port":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            return False, f"expected a port number from 1 to 65535, got {value!r}"
        return True, value
    if rule == "host":
        if not isinstance(value, str):
            return False, f"expected an address such as \"127.0.0.1\", got {value!r}"
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if value != "localhost":
                return False, f"expected an IP address such as \"127.0.0.1\", got {value!r}"
        return True, value
    if rule == "allow":
        if not isinstance(value, list):
            return False, f"expected a list of addresses, got {_short(value)}"
        bad = [(i, f"expected an address or network such as \"192.168.1.20\" or "
                   f"\"192.168.1.0/24\", got {_short(v)}")
               for i, v in enumerate(value) if not isinstance(v, str) or not _is_network(v)]
        if bad:
            return False, bad
        return True, value
    if rule == "seconds":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 60:
            return False, f"expected seconds from 0 to 60, got {value!r}"
        return True, float(value)
    if rule == "level":
        if value not in _LEVELS:
            return False, f"expected one of {', '.join(_LEVELS)}, got {value!r}"
        return True, value
    raise AssertionError(rule)


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (a problem names the item, not a page)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _folder_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"expected a folder path (a string), got {_short(value)}"
    if not value.strip():
        return "empty folder path"
    if "\x00" in value:
        return f"a folder path cannot contain a NUL character: {_short(value)}"
    return None


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
        return True
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def with_overrides(config: Config, *, folders=(), host=None, port=None,
                   reply_port=None) -> Config:
    """The config with command-line values applied (folders are added, not replaced)."""
    osc = config.osc
    if host is not None:
        osc = replace(osc, host=host)
    if port is not None:
        osc = replace(osc, port=port)
    if reply_port is not None:
        osc = replace(osc, reply_port=reply_port)
    if not _is_loopback(osc.host) and not osc.allow:
        raise ConfigError(f"--osc-host {osc.host}: listening beyond this machine needs an "
                          "allow-list of client addresses (osc.allow in the config file)")
    merged = list(config.folders)
    for f in folders:
        f = os.path.abspath(os.path.expanduser(f))
        if f not in merged:
            merged.append(f)
    merged = [os.path.abspath(f) for f in merged]
    return replace(config, osc=osc, folders=tuple(dict.fromkeys(merged)))
