"""The real daemon (``python -m bridge serve``) driven over OSC by python-osc-free raw UDP and by
liblo's ``oscsend``/``oscdump``.  Skipped until the composition root (bridge.app) exists."""
from __future__ import annotations

import importlib.util
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from osc_helpers import Client, make_samples, write_wav

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("bridge.app") is None,
                       reason="bridge.app (soundalike serve) not there yet"),
]
P = "/soundalike"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    """One daemon for the module (starting one costs seconds); the SIGTERM test runs last."""
    from engine.model.mfcc import MfccEncoder

    tmp_path = tmp_path_factory.mktemp("daemon")
    model = tmp_path / "model"
    MfccEncoder().save(model)
    folder = tmp_path / "samples"
    samples = make_samples(folder)
    data = tmp_path / "data"
    port, reply = _free_port(), _free_port()
    env = {**os.environ, "SOUNDALIKE_MODEL": str(model),
           "SOUNDALIKE_CONFIG": str(tmp_path / "no-config.toml"), "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "serve", str(folder),
                             "--data-dir", str(data), "--osc-port", str(port),
                             "--reply-port", str(reply)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    client = Client(("127.0.0.1", port))
    try:
        client.send(f"{P}/reply_to", client.port)
        deadline = time.monotonic() + 60
        while True:  # until it answers and has indexed everything
            assert proc.poll() is None, proc.stderr.read().decode()
            client.send(f"{P}/reply_to", client.port)
            client.send(f"{P}/status")
            m = client.recv(0.5)
            if m is not None and m.address == f"{P}/status" and \
                    m.args == (len(samples), 0, "idle"):
                break
            assert time.monotonic() < deadline, "the daemon never became idle"
        client.drain(0.1)
        yield proc, client, port, reply, folder, samples, data
    finally:
        client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stderr.close()


def test_daemon_answers_queries_and_errors(daemon, tmp_path):
    proc, c, port, reply, folder, samples, data = daemon
    c.send(f"{P}/similar", str(samples[0]), 3)
    query, rows = c.results()
    assert query == str(samples[0]) and [r[0] for r in rows] == [1, 2, 3]
    outside = write_wav(tmp_path / "elsewhere" / "idea.wav", "square", 340)
    c.send(f"{P}/similar", str(outside), 2)
    assert c.results()[0] == str(outside)
    for args, needle in [(("/no/such.wav", 3), "no such file"), ((1.5,), "wrong arguments")]:
        c.send(f"{P}/similar", *args)
        assert needle in c.expect(f"{P}/error").args[1]
    c.send_raw(b"/soundalike/similar\x00,s\x00\x00/\xff\x00\x00")  # a path: read as its bytes
    assert c.expect(f"{P}/error").args[1] == "no such file: /\udcff"
    c.send_raw(b"/soundalike/\xff\x00\x00\x00,\x00\x00\x00")  # an address must be UTF-8
    assert "UTF-8" in c.expect(f"{P}/error").args[1]
    c.send(f"{P}/nope")
    assert "unknown address" in c.expect(f"{P}/error").args[1]


@pytest.mark.skipif(not shutil.which("oscsend"), reason="liblo-tools not installed")
def test_daemon_with_liblo_reply_port(daemon):
    proc, c, port, reply, folder, samples, data = daemon
    dump = subprocess.Popen(["oscdump", "-L", str(reply)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 10
        line = ""
        while "/soundalike/status" not in line:
            subprocess.run(["oscsend", "127.0.0.1", str(port), f"{P}/status"], check=True)
            import select

            ready, _, _ = select.select([dump.stdout], [], [], 0.3)
            if ready:
                line = dump.stdout.readline()
            assert time.monotonic() < deadline
        assert f'iis {len(samples)} 0 "idle"' in line
    finally:
        dump.terminate()
        dump.wait(5)
        dump.stdout.close()


def test_cli_similar_uses_the_daemon(daemon):
    proc, c, port, reply, folder, samples, data = daemon
    out = subprocess.run([sys.executable, "-m", "bridge", "similar", str(samples[0]), "-n", "2",
                          "--json", "--data-dir", str(data)], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr
    assert str(samples[0]) in out.stdout


def test_daemon_survives_garbage_then_sigterm_removes_its_state_file(daemon):
    proc, c, port, reply, folder, samples, data = daemon
    from bridge.client import read_daemon_file

    info = read_daemon_file(data)
    assert info is not None and info["port"] == port and info["pid"] == proc.pid
    rng = random.Random(7)
    for _ in range(3000):
        c.send_raw(rng.randbytes(rng.randrange(1, 120)))
    c.drain(0.3)
    c.send(f"{P}/status")
    assert c.expect(f"{P}/status", 10, skip=(f"{P}/error",)).tags == "iis"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert read_daemon_file(data) is None
