"""Bursts and floods against the real daemon process."""
import os
import shutil
import sqlite3
import threading
import time

import numpy as np
import pytest

from tests.audiogen import noise_burst, write
from tests.daemon_proc import Daemon, OscPeer
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def daemon(cli_env, library_dir):
    d = Daemon(cli_env, [library_dir]).start()
    d.wait_idle(indexed=12)
    yield d
    d.close()


RATE = 5_000  # datagrams per second in the flood


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_burst_of_1000_files_indexed_exactly_once_while_answering(daemon, library_dir,
                                                                    tmp_path, cli_env):
    pack = tmp_path / "pack"
    for i in range(1000):
        write(pack / f"p{i:04d}.wav", noise_burst(i, seconds=0.05))
    query = str(library_dir / "kicks" / "kick_0.wav")
    peer = OscPeer()
    answered, asked = 0, 0
    shutil.move(str(pack), str(library_dir / "pack"))  # the whole pack dropped at once
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            peer.send(daemon.port, "/soundalike/similar", query, 3)
            asked += 1
            if peer.receive(5.0, "/soundalike/results/end") is not None:
                answered += 1
            st = daemon.status()
            if st and st[0] == 1012 and st[2] == "idle":
                break
        else:
            raise AssertionError(f"not all indexed: {daemon.status()}")
    finally:
        peer.close()
    assert answered == asked and asked > 1
    db = sqlite3.connect(os.path.join(cli_env["SOUNDALIKE_DATA_DIR"], "index.sqlite"))
    paths = [r[0] for r in db.execute("SELECT path FROM files")]
    db.close()
    assert len(paths) == len(set(paths)) == 1012


def test_flood_of_queries_and_garbage_keeps_status_answered(daemon, library_dir):
    rng = np.random.default_rng(7)
    garbage = [rng.bytes(int(n)) for n in rng.integers(1, 200, 500)]
    query = str(library_dir / "tones" / "tone_0.wav")
    stop = threading.Event()
    sent = [0]

    def flood():
        """5,000 datagrams a second: 2,500 garbage and 2,500 queries for 100 results each."""
        peer = OscPeer()
        try:
            t0 = time.monotonic()
            while not stop.is_set():
                for g in garbage[:25]:
                    peer.sock.sendto(g, ("127.0.0.1", daemon.port))
                for _ in range(25):
                    peer.send(daemon.port, "/soundalike/similar", query, 100)
                sent[0] += 50
                ahead = sent[0] / RATE - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        finally:
            peer.close()

    before = rss_kb(daemon.proc.pid)
    thread = threading.Thread(target=flood, name="flood")
    thread.start()
    asked, answered, first_try = 0, 0, 0
    try:
        deadline = time.monotonic() + 8  # flood for 8 s, asking for status all along
        while time.monotonic() < deadline:
            asked += 1
            # UDP under a flood: the kernel may drop any datagram (ours too) when the socket
            # buffer is full, so a client retries, as a controller polling status would
            for attempt in range(5):
                if daemon.status(timeout=1.0) is not None:
                    answered += 1
                    first_try += attempt == 0
                    break
    finally:
        stop.set()
        thread.join()
    assert sent[0] >= 6 * RATE
    assert answered == asked, f"{asked - answered} of {asked} status requests never answered"
    assert first_try >= asked * 0.8
    wait_for(lambda: daemon.status() is not None, timeout=10)
    growth_mb = (rss_kb(daemon.proc.pid) - before) / 1024
    assert growth_mb < 200, f"memory grew by {growth_mb:.0f} MB under the flood"
    assert daemon.proc.poll() is None
