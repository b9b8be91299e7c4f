"""Shared pieces of the OSC tests: tiny synthesized WAVs, a library on the MFCC encoder, a real
server on 127.0.0.1, a raw UDP client, and a fixture that fails a test leaking a thread.

Imported by tests/test_osc_*.py (fixtures are imported by name into each module, so this file
needs no conftest.py).
"""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from bridge.client import receive
from bridge.osc_wire import DecodeError, Message, decode, encode

SR = 22_050


def write_wav(path: Path, kind: str, freq: float = 440.0, seconds: float = 0.5,
              seed: int = 0) -> Path:
    """A tiny WAV: 'sine', 'square', 'noise', 'chirp' or 'silence'."""
    import soundfile as sf

    t = np.arange(int(SR * seconds)) / SR
    rng = np.random.default_rng(seed)
    if kind == "sine":
        y = np.sin(2 * np.pi * freq * t)
    elif kind == "square":
        y = np.sign(np.sin(2 * np.pi * freq * t))
    elif kind == "noise":
        y = rng.standard_normal(t.size) * 0.3
    elif kind == "chirp":
        y = np.sin(2 * np.pi * (freq + 2000 * t) * t)
    else:
        y = np.zeros_like(t)
    y = (0.5 * y * np.exp(-2 * t)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, SR, subtype="PCM_16")
    return path


def make_samples(folder: Path) -> list[Path]:
    """Eight small samples of four kinds (two close variants of each)."""
    out = []
    for i, (kind, freq) in enumerate([("sine", 220), ("sine", 233), ("square", 330),
                                      ("square", 350), ("noise", 0), ("noise", 1),
                                      ("chirp", 300), ("chirp", 320)]):
        out.append(write_wav(folder / f"{i:02d}_{kind}_{freq}.wav", kind, freq, seed=i))
    return out


@pytest.fixture
def no_leaked_threads():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5.0
    while True:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not extra, f"leaked threads: {[t.name for t in extra]}"


@contextmanager
def indexed_backend(data: Path, folder: Path):
    """A DaemonBackend (MFCC encoder, real Indexer) on data dir ``data`` watching ``folder``,
    once ``folder`` is indexed; stopped and closed on exit."""
    from bridge.backend import DaemonBackend
    from engine import Library
    from engine.indexer import Indexer
    from engine.model.mfcc import MfccEncoder

    lib = Library(data, encoder=MfccEncoder())
    indexer = Indexer(lib, settle=0.05)
    indexer.start()
    try:
        backend = DaemonBackend(lib, indexer)
        indexer.add_root(str(folder))
        assert indexer.wait_idle(60)
        yield backend
    finally:
        indexer.stop()
        lib.close()


@pytest.fixture(scope="module")
def library_setup(tmp_path_factory):
    """(backend, samples folder, sample paths, an outside WAV, a not-audio file)."""
    root = tmp_path_factory.mktemp("osc")
    folder = root / "samples"
    samples = make_samples(folder)
    outside = write_wav(root / "outside" / "query tone é.wav", "sine", 225, seed=99)
    junk = root / "outside" / "junk.wav"
    junk.write_bytes(b"this is not audio at all" * 10)
    with indexed_backend(root / "data", folder) as backend:
        yield backend, folder, samples, outside, junk


@pytest.fixture
def served_data_dir(library_setup, tmp_path, no_leaked_threads):
    """A server on library_setup's backend, named in a data dir's daemon.json (as a running
    daemon is, for the CLI to find): (server, data dir, sample paths)."""
    from bridge.client import write_daemon_file
    from bridge.server import OscServer

    data = tmp_path / "data"
    data.mkdir()
    with OscServer(library_setup[0], port=0) as srv:
        write_daemon_file(data, *srv.address)
        yield srv, str(data), [str(p) for p in library_setup[2]]


@pytest.fixture
def server(library_setup, no_leaked_threads):
    from bridge.server import OscServer

    backend = library_setup[0]
    srv = OscServer(backend, host="127.0.0.1", port=0)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


class Client:
    """A raw OSC-over-UDP client on 127.0.0.1 (receives on its own source port)."""

    def __init__(self, server_address, *, port: int = 0) -> None:
        self.server = server_address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, address: str, *args) -> None:
        self.sock.sendto(encode(address, *args), self.server)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def recv(self, timeout: float = 5.0) -> Message | None:
        """The next message (None when nothing arrives before the deadline)."""
        return receive(self.sock, lambda m: True, timeout)

    def expect(self, address: str, timeout: float = 10.0, *, skip: tuple = ()) -> Message:
        """The next message, which must have ``address`` (messages in ``skip`` are passed)."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(max(0.0, deadline - time.monotonic()))
            assert m is not None, f"no {address} before the deadline"
            if m.address in skip:
                continue
            assert m.address == address, f"expected {address}, got {m}"
            return m

    def results(self, timeout: float = 20.0) -> tuple[str, list[tuple[int, str, float]]]:
        """One full answer: (query, [(rank, path, score), ...]); checks begin/end framing."""
        begin = self.expect("/soundalike/results/begin", timeout)
        query, count = begin.args
        rows = [self.expect("/soundalike/result", timeout).args for _ in range(count)]
        end = self.expect("/soundalike/results/end", timeout)
        assert end.args == (query, count)
        return query, rows

    def drain(self, quiet: float = 0.2) -> list[Message]:
        out = []
        while (m := self.recv(quiet)) is not None:
            out.append(m)
        return out
