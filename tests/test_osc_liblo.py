"""A third-party client: liblo's ``oscsend`` and ``oscdump`` (Debian package liblo-tools)
drive a real server over UDP.  ``oscsend`` sends from a new port each time, so the server is
given ``reply_port`` = the port ``oscdump`` listens on, exactly as a user would run it."""
from __future__ import annotations

import queue
import shlex
import shutil
import socket
import subprocess
import threading
import time

import pytest

from bridge.server import OscServer

from osc_helpers import library_setup, no_leaked_threads  # noqa: F401

pytestmark = pytest.mark.skipif(not (shutil.which("oscsend") and shutil.which("oscdump")),
                                reason="liblo-tools (oscsend, oscdump) not installed")
P = "/soundalike"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dump:
    """``oscdump -L PORT`` in the background; ``expect(address)`` reads its lines."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen(["oscdump", "-L", str(self.port)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.lines: queue.Queue = queue.Queue()
        self.reader = threading.Thread(target=self._read, name="oscdump-reader", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)
        self.proc.stdout.close()

    def next(self, timeout: float = 10.0) -> tuple[str, str, list[str]] | None:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        parts = line.split(" ", 3)  # time tag, address, types, values
        values = shlex.split(parts[3]) if len(parts) > 3 else []
        return parts[1], parts[2] if len(parts) > 2 else "", values

    def expect(self, address: str, timeout: float = 10.0) -> tuple[str, list[str]]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.next(max(0.0, deadline - time.monotonic()))
            assert got is not None, f"oscdump saw no {address}"
            if got[0] == address:
                return got[1], got[2]
            assert got[0] == f"{P}/pong", f"expected {address}, oscdump saw {got}"


@pytest.fixture
def rig(library_setup, no_leaked_threads):
    dump = Dump()
    # oscsend exits before the daemon can see whose socket sent a request, so it counts as
    # another user's: the folder of the outside files is opened to it in the config's way
    srv = OscServer(library_setup[0], port=0, reply_port=dump.port,
                    query_paths=[str(library_setup[3].parent)]).start()
    port = srv.address[1]

    def send(address, types="", *values):
        args = ["oscsend", "127.0.0.1", str(port), address]
        if types:
            args += [types, *[v if isinstance(v, bytes) else str(v) for v in values]]
        subprocess.run(args, check=True, timeout=10)

    try:
        deadline = time.monotonic() + 10  # until oscdump is listening
        while True:
            send(f"{P}/ping", "i", 1)
            got = dump.next(0.2)
            if got and got[0] == f"{P}/pong":
                break
            assert time.monotonic() < deadline, "oscdump never answered"
        yield send, dump, library_setup
    finally:
        srv.stop()
        dump.close()


def test_status_with_liblo(rig):
    send, dump, setup = rig
    send(f"{P}/status")
    types, values = dump.expect(f"{P}/status")
    assert types == "iis" and values == [str(len(setup[2])), "0", "idle"]


def test_similar_with_liblo(rig):
    send, dump, setup = rig
    query = str(setup[2][0])
    send(f"{P}/similar", "si", query, 3)
    types, values = dump.expect(f"{P}/results/begin")
    assert types == "si" and values == [query, "3"]
    rows = [dump.expect(f"{P}/result") for _ in range(3)]
    assert [t for t, _ in rows] == ["isf"] * 3
    assert [v[0] for _, v in rows] == ["1", "2", "3"]
    scores = [float(v[2]) for _, v in rows]
    assert scores == sorted(scores, reverse=True)
    assert rows[0][1][1] == str(setup[2][1])
    assert dump.expect(f"{P}/results/end")[1] == [query, "3"]


def test_outside_file_with_liblo(rig):
    send, dump, setup = rig
    send(f"{P}/similar", "s", str(setup[3]))
    assert dump.expect(f"{P}/results/begin", 30)[1] == [str(setup[3]), "8"]


@pytest.mark.parametrize("address, types, values, needle", [
    (f"{P}/similar", "si", ("OUTSIDE/no-such-file.wav", 3), "no such file"),
    (f"{P}/similar", "f", (1.5,), "wrong arguments"),
    (f"{P}/similar", "sf", ("/a.wav", 2.0), "wrong arguments"),
    (f"{P}/status", "i", (1,), "wrong arguments"),
    (f"{P}/reply_to", "ii", (1, 2), "wrong arguments"),
    (f"{P}/similar", "s", (b"OUTSIDE/\xff\xfe.wav",), "no such file"),  # read as its bytes
    (f"{P}/nope", "", (), "unknown address"),
])
def test_errors_with_liblo(rig, address, types, values, needle):
    send, dump, setup = rig
    # a missing file where oscsend may ask (see the rig): its socket is gone, so elsewhere the
    # answer would be "not allowed" or "no such file" depending on how soon oscsend exits
    values = [str(setup[3].parent) + v[7:] if isinstance(v, str) and v.startswith("OUTSIDE")
              else bytes(setup[3].parent) + v[7:] if isinstance(v, bytes)
              and v.startswith(b"OUTSIDE") else v for v in values]
    send(address, types, *values)
    t, v = dump.expect(f"{P}/error")
    assert t == "ss" and v[0] == address and needle in v[1]


def test_not_audio_with_liblo(rig):
    send, dump, setup = rig
    send(f"{P}/similar", "si", str(setup[4]), 3)
    t, v = dump.expect(f"{P}/error")
    assert v[0] == f"{P}/similar" and v[1].startswith("not audio")


def test_subscription_and_cursor_with_liblo(rig):
    send, dump, setup = rig
    send(f"{P}/subscribe", "ii", dump.port, 2)
    assert dump.expect(f"{P}/subscribed")[1] == [str(dump.port), "2"]
    assert dump.expect(f"{P}/slot/1")[1] == ["", "0.000000"]  # no results yet: empty labels
    assert dump.expect(f"{P}/slot/2")[1] == ["", "0.000000"]
    send(f"{P}/similar", "si", str(setup[2][2]), 3)
    dump.expect(f"{P}/results/begin")
    rows = [dump.expect(f"{P}/result")[1] for _ in range(3)]
    dump.expect(f"{P}/results/end")  # sent once: the reply port is also the subscriber
    assert dump.expect(f"{P}/slot/1")[1][0] == "/".join(rows[0][1].split("/")[-2:])
    dump.expect(f"{P}/slot/2")
    assert dump.expect(f"{P}/cursor")[1][:2] == ["1", rows[0][1]]
    send(f"{P}/cursor/next", "f", 1.0)  # a TouchOSC button press
    assert dump.expect(f"{P}/cursor")[1][:2] == ["2", rows[1][1]]
    send(f"{P}/cursor/pick", "i", 3)
    assert dump.expect(f"{P}/cursor")[1][:2] == ["3", rows[2][1]]
    assert dump.next(0.3) is None  # one message each, no duplicate push
    send(f"{P}/unsubscribe", "i", dump.port)
    assert dump.expect(f"{P}/unsubscribed")[1] == [str(dump.port)]
