"""Asking a running daemon over OSC, and the state file that says where it listens.

The daemon writes ``daemon.json`` (pid, host, port) into its data dir when its OSC server is up
(:func:`write_daemon_file`) and removes it on a clean shutdown (:func:`remove_daemon_file`).
``soundalike similar`` and ``soundalike status`` read it and ask the daemon; when there is no
file, its process is gone, or it does not answer a ping within :data:`PING_TIMEOUT`, they work
in-process instead.  A daemon whose data dir cannot be written (read-only, a full disk) writes
the same file into a private folder of the user's instead (:func:`fallback_daemon_file`),
where readers look when the data dir has none.  This module imports neither the engine nor python-osc: asking a daemon
costs a few milliseconds.
"""
from __future__ import annotations

import ipaddress
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from .errors import UserError
from .osc_wire import DecodeError, Message, decode, encode

DAEMON_FILE = "daemon.json"
#: how long to wait for a daemon to acknowledge us before working in-process
PING_TIMEOUT = 0.5
#: how long one query may take (embedding an outside file may load the model first)
QUERY_TIMEOUT = 120.0
#: the daemon's cap on results per query (bridge.routes.MAX_COUNT; larger asks work in-process)
DAEMON_MAX_COUNT = 100
P = "/soundalike"


# -- the state file -----------------------------------------------------------------------
def write_daemon_file(data_dir: str | os.PathLike, host: str, port: int, *,
                      pid: int | None = None) -> Path:
    """Record where this daemon's OSC server listens (atomically, readable by the user only)."""
    return _write_state(Path(data_dir) / DAEMON_FILE, {
        "pid": pid or os.getpid(), "host": host, "port": int(port), "started": time.time()})


def _write_state(path: Path, info: dict) -> Path:
    """Write a state file atomically, readable by the user only."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(info, f)
        f.write("\n")
    os.replace(tmp, path)
    return path


def write_fallback_daemon_file(data_dir: str | os.PathLike, host: str, port: int) -> Path:
    """``write_daemon_file`` for a data dir that cannot be written: into the user's private
    folder (:func:`fallback_daemon_file`); raises OSError when there is none either."""
    path = fallback_daemon_file(data_dir, create=True)
    if path is None:
        raise OSError("no private folder for the state file")
    return _write_state(path, {"pid": os.getpid(), "host": host, "port": int(port),
                               "started": time.time(),
                               "data_dir": os.fsdecode(os.path.abspath(data_dir))})


def fallback_daemon_file(data_dir: str | os.PathLike, *, create: bool = False) -> Path | None:
    """Where the daemon of a data dir it cannot write says where it listens: a file named
    after the data dir in ``$XDG_RUNTIME_DIR/soundalike``, else ``soundalike-UID`` in the
    temporary folder; used only when that folder is the user's own and others cannot write
    it.  None where there is no such folder (or no user ids: Windows)."""
    import hashlib
    import stat
    import tempfile

    if not hasattr(os, "getuid"):
        return None
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(runtime) / "soundalike" if runtime else \
        Path(tempfile.gettempdir()) / f"soundalike-{os.getuid()}"
    if create:
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
        except OSError:
            return None
    try:
        st = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or \
            st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    key = hashlib.sha256(os.fsencode(os.path.abspath(data_dir))).hexdigest()[:24]
    return folder / f"daemon-{key}.json"


def remove_daemon_file(data_dir: str | os.PathLike, *, pid: int | None = None,
                       fallback_only: bool = False) -> None:
    """Remove the state file if it is this process's (or ``pid``'s), and its fallback (only
    that with ``fallback_only``)."""
    paths = [] if fallback_only else [Path(data_dir) / DAEMON_FILE]
    for path in paths + [fallback_daemon_file(data_dir)]:
        if path is None:
            continue
        info = _load(path)
        if info is not None and info["pid"] == (pid or os.getpid()):
            try:
                path.unlink()
            except OSError:
                pass


def _load(path: Path) -> dict | None:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        pid, host, port = int(info["pid"]), str(info["host"]), int(info["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid <= 0 or not 1 <= port <= 65535:
        return None
    return {**info, "pid": pid, "host": host, "port": port}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def read_daemon_file(data_dir: str | os.PathLike) -> dict | None:
    """``{"pid", "host", "port", ...}`` of the daemon of ``data_dir``; None when there is no
    file, it is unreadable, or its process is gone."""
    info = _load(Path(data_dir) / DAEMON_FILE)
    if info is not None and _alive(info["pid"]):
        return info
    fallback = fallback_daemon_file(data_dir)
    info = _load(fallback) if fallback is not None else None
    if info is None or not _alive(info["pid"]) or \
            info.get("data_dir") != os.fsdecode(os.path.abspath(data_dir)):
        return None
    return info


# -- talking to it ----------------------------------------------------------------------------
def receive(sock: socket.socket, accept: Callable[[Message], bool],
            timeout: float) -> Message | None:
    """The first OSC message arriving on ``sock`` that ``accept`` says yes to, or None when
    none has by the deadline.  Datagrams that are not OSC are skipped."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(65535)
        except socket.timeout:
            return None
        except ConnectionResetError:
            return None  # Windows: the port is closed
        try:
            items = decode(data)
        except DecodeError:
            continue
        for m in items:
            if isinstance(m, Message) and accept(m):
                return m


class DaemonConnection:
    """A UDP socket that registered itself with ``/soundalike/reply_to`` (so replies come back
    to it whatever ``--reply-port`` the daemon was given)."""

    def __init__(self, host: str, port: int, *, timeout: float = PING_TIMEOUT) -> None:
        host = _reachable(host)
        family, _, _, _, self.server = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            except OSError:
                pass
            self.sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0)
                           if _is_loopback(host) else ("", 0))
            self.port = self.sock.getsockname()[1]
            self.send(f"{P}/reply_to", self.port)
            ack = self.wait(lambda m: m.address == f"{P}/reply_to", timeout)
            if ack is None:
                raise TimeoutError("the daemon did not answer")
        except BaseException:
            self.sock.close()
            raise

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "DaemonConnection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, address: str, *args) -> None:
        self.sock.sendto(encode(address, *args), self.server)

    def wait(self, accept, timeout: float) -> Message | None:
        """The first message ``accept`` says yes to (None at the deadline)."""
        return receive(self.sock, accept, timeout)

    @contextmanager
    def settings(self, *, list_name: str = "daw", similarity: bool = False) -> Iterator[None]:
        """This connection's result list and similarity setting (docs/osc.md) for the block,
        put back to the defaults after it: the daemon keeps such settings by source port, and
        a later program given the same port must not inherit them."""
        if list_name != "daw":
            self.send(f"{P}/list", list_name)
        if similarity:
            self.send(f"{P}/similarity", 1)
        try:
            yield
        finally:
            if similarity:
                self.send(f"{P}/similarity", 0)
            if list_name != "daw":
                self.send(f"{P}/list", "daw")

    def similar(self, path: str, count: int, *, mode: str | None = None,
                weights: Mapping[str, float] | None = None,
                timeout: float = QUERY_TIMEOUT
                ) -> list[tuple[str, float, float | None]] | None:
        """The daemon's answer for ``path``: ``(path, score, similarity)`` triples (the
        similarity is None unless asked for with ``/soundalike/similarity``, and for a model
        without a calibration); None when it is busy or the answer got lost.

        Raises UserError with the daemon's message when it cannot answer (no such file, ...).
        """
        args: list = [path, count]
        if mode or weights:
            args.append(mode or "")
            for name, value in (weights or {}).items():
                args += [name, float(value)]
        self.send(f"{P}/similar", *args)

        def mine(m: Message) -> bool:
            if m.address == f"{P}/error":
                return m.args[:1] == (f"{P}/similar",)
            return m.address.startswith(f"{P}/result")

        results: list[tuple[str, float, float | None]] = []
        begun = False
        deadline = time.monotonic() + timeout
        while True:
            m = self.wait(mine, deadline - time.monotonic())
            if m is None:
                return None
            if m.address == f"{P}/error":
                message = str(m.args[1]) if len(m.args) > 1 else "error"
                if message.startswith("busy"):
                    return None
                raise UserError(message)
            if m.address == f"{P}/results/begin":
                begun = m.args[:1] == (path,)
                results = []
            elif m.address == f"{P}/result" and begun and m.tags in ("isf", "isff"):
                sim = float(m.args[3]) if m.tags == "isff" else None
                results.append((m.args[1], float(m.args[2]), sim))
            elif m.address == f"{P}/results/end" and begun and m.args[:1] == (path,):
                return results if len(results) == m.args[1] else None

    def status(self, timeout: float = 2.0) -> dict | None:
        self.send(f"{P}/status")
        m = self.wait(lambda m: m.address == f"{P}/status" and m.tags == "iis", timeout)
        if m is None:
            return None
        return {"indexed": m.args[0], "pending": m.args[1], "state": m.args[2]}

    def problems(self, timeout: float = 2.0) -> list[str] | None:
        """What keeps the daemon from working (``[]``: nothing); None when it did not answer
        (or is older than ``/soundalike/problems``)."""
        self.send(f"{P}/problems")
        m = self.wait(lambda m: m.address == f"{P}/problems" or (
            m.address == f"{P}/error" and m.args[:1] == (f"{P}/problems",)), timeout)
        if m is None or m.address != f"{P}/problems":
            return None
        return [str(a) for a in m.args]

    def storage(self, timeout: float = 2.0) -> dict | None:
        """``{"state": "writable" | "read-only", "reason"}``; None when it does not say (a
        daemon from before ``/soundalike/storage``)."""
        self.send(f"{P}/storage")
        m = self.wait(lambda m: m.address == f"{P}/storage" and m.tags == "ss", timeout)
        return {"state": m.args[0], "reason": m.args[1]} if m is not None else None

    def model(self, timeout: float = 2.0) -> dict | None:
        """``{"name", "model_id", "switching"}`` (``switching``: ``{"name", "model_id",
        "done", "total"}`` while a switch runs, else None); None when there is no answer."""
        self.send(f"{P}/model")
        switching = None
        deadline = time.monotonic() + timeout
        while True:
            m = self.wait(lambda m: m.address in (f"{P}/model", f"{P}/model/switching") or (
                m.address == f"{P}/error" and m.args[:1] == (f"{P}/model",)),
                deadline - time.monotonic())
            if m is None or m.address == f"{P}/error":
                return None
            if m.address == f"{P}/model/switching" and m.tags == "ssii":
                switching = dict(zip(("name", "model_id", "done", "total"), m.args))
            elif m.address == f"{P}/model" and m.tags == "ss":
                return {"name": m.args[0], "model_id": m.args[1], "switching": switching}


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _reachable(host: str) -> str:
    """Where to send to reach a daemon bound to ``host`` from this machine."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host or "127.0.0.1"
    if ip.is_unspecified:
        return "::1" if ip.version == 6 else "127.0.0.1"
    return host


def connect(data_dir_arg=None, *, timeout: float = PING_TIMEOUT) -> DaemonConnection | None:
    """A connection to the running daemon of the data dir, or None when none answers."""
    from .paths import data_dir

    info = read_daemon_file(data_dir(data_dir_arg))
    if info is None:
        return None
    try:
        return DaemonConnection(info["host"], info["port"], timeout=timeout)
    except (OSError, TimeoutError, IndexError):
        return None


def ask_daemon_each(queries: Sequence[str], count: int, *, data_dir_arg=None, mode=None,
                    weights=None, list_name: str = ""
                    ) -> dict[str, list[tuple[str, float, float | None]] | str] | None:
    """``{query: [(path, score, similarity), ...] or the daemon's error message}`` from a
    running daemon (the calibrated similarity, None for a model without a calibration),
    None when there is none (or more than 100 results are asked).  A query the daemon could
    not answer in time (busy, lost datagrams) is left out: the caller answers it in-process.

    ``list_name``: the result list the queries are answered in (docs/osc.md, "Result lists");
    ``""`` (the default): none, so that they touch no other client's results or cursor."""
    if count > DAEMON_MAX_COUNT:
        return None
    conn = connect(data_dir_arg)
    if conn is None:
        return None
    answers: dict[str, list[tuple[str, float, float | None]] | str] = {}
    with conn, conn.settings(list_name=list_name, similarity=True):
        for q in queries:
            try:
                results = conn.similar(q, count, mode=mode, weights=weights or None)
            except UserError as exc:
                answers[q] = str(exc)
                continue
            if results is not None:
                answers[q] = results
    return answers


def ask_daemon(queries: Sequence[str], count: int, *, data_dir_arg=None, mode=None,
               weights=None, list_name: str = ""
               ) -> list[tuple[str, list[tuple[str, float, float | None]]]] | None:
    """``[(query, [(path, score, similarity), ...]), ...]`` from a running daemon, or None
    when there is none (or it could not answer: busy, lost datagrams, more than 100 results
    asked).
    Raises UserError with the daemon's message for a query it cannot serve."""
    answers = ask_daemon_each(queries, count, data_dir_arg=data_dir_arg, mode=mode,
                              weights=weights, list_name=list_name)
    if answers is None or any(q not in answers for q in queries):
        return None
    for q in queries:
        if isinstance(answers[q], str):
            raise UserError(answers[q])
    return [(q, answers[q]) for q in queries]


def select_in_daemon(path: str, *, data_dir_arg=None, list_name: str = "daw",
                     timeout: float = 2.0) -> str:
    """Tell the running daemon that ``path`` is the DAW's selection (``""`` clears it), in
    result list ``list_name``; returns the path the daemon selected.

    Raises UserError when no daemon runs, it does not answer, or it refuses."""
    conn = connect(data_dir_arg)
    if conn is None:
        raise UserError("no Soundalike daemon is running for this data folder "
                        "(start it with `soundalike serve`)")
    with conn:
        if list_name != "daw":
            conn.send(f"{P}/list", list_name)
        conn.send(f"{P}/select", path)

        def answer(m: Message) -> bool:
            if m.address == f"{P}/error":
                return m.args[:1] in ((f"{P}/select",), (f"{P}/list",))
            return m.address == f"{P}/selected" and m.tags == "s"

        m = conn.wait(answer, timeout)
    if m is None:
        raise UserError("the Soundalike daemon did not answer")
    if m.address == f"{P}/error":
        raise UserError(str(m.args[1]) if len(m.args) > 1 else "the daemon refused")
    return str(m.args[0])


def daemon_status(*, data_dir_arg=None, storage: bool = False) -> dict | None:
    """``{"indexed", "pending", "state", "problems"}`` from a running daemon, or None; with
    ``storage``, also ``"storage"`` (see ``DaemonConnection.storage``; None when it does not
    say); with ``"switching"`` too while it switches models (see ``DaemonConnection.model``)."""
    conn = connect(data_dir_arg)
    if conn is None:
        return None
    with conn:
        st = conn.status()
        if st is not None:
            st["problems"] = conn.problems() or []
            if storage:
                st["storage"] = conn.storage()
            model = conn.model()
            if model is not None and model["switching"] is not None:
                st["switching"] = model["switching"]
        return st
