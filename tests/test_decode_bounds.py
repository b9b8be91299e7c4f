"""Files whose headers lie about their size, rate or channels, in a real daemon: indexed ones
and queries from outside the library are refused or decoded within a bounded memory."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.audiogen import write_library
from tests.daemon_proc import Daemon
from tests.test_audio import _lying_wav


def _hwm_bytes(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_lying_headers_in_the_library_and_as_queries_keep_the_daemon_small(cli_env, tmp_path):
    library = write_library(tmp_path / "samples")
    liars = library / "liars"
    liars.mkdir()
    _lying_wav(liars / "rate.wav", rate=2**31 - 1, channels=2, payload=bytes(4096))
    _lying_wav(liars / "channels.wav", rate=44_100, channels=1000, payload=bytes(4096))
    _lying_wav(liars / "huge_silence.wav", rate=384_000, channels=64, payload=bytes(4096))
    outside = tmp_path / "outside"
    outside.mkdir()
    q_rate = _lying_wav(outside / "q_rate.wav", rate=2**31 - 1, channels=1,
                        payload=bytes(range(256)) * 40)
    q_big = _lying_wav(outside / "q_big.wav", rate=384_000, channels=64,
                       payload=bytes(range(256)) * 40)
    daemon = Daemon(cli_env, [library]).start()
    try:
        daemon.wait_idle(indexed=13)  # 12 samples and the silent 64-channel file
        before = _hwm_bytes(daemon.proc.pid)
        for _ in range(2):
            err = daemon.peer.request(daemon.port, "/soundalike/similar", q_rate,
                                      reply="/soundalike/error", timeout=30)
            assert err is not None and "sample rate" in err[1][1], err
            begin = daemon.peer.request(daemon.port, "/soundalike/similar", q_big, 3,
                                        reply="/soundalike/results/begin", timeout=30)
            assert begin is not None and begin[1] == [q_big, 3], begin
        grown = _hwm_bytes(daemon.proc.pid) - before
        assert grown < 64 << 20, f"peak resident memory grew by {grown >> 20} MB"
        assert daemon.status()[:2] == [13, 0]
    finally:
        daemon.close()
    status = json.loads(subprocess.run([sys.executable, "-m", "bridge", "status", "--json"],
                                       env=cli_env, capture_output=True, text=True,
                                       timeout=60).stdout)
    reasons = {f["path"].rsplit("/", 1)[-1]: f["reason"] for f in status["failures"]}
    assert "sample rate" in reasons["rate.wav"] and "channels" in reasons["channels.wav"]
