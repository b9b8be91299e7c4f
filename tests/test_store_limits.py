"""The index cannot be written: a file size limit (``ulimit -f``) below what it needs.

A real daemon, its RLIMIT_FSIZE lowered from outside (``prlimit``) to just above its index's
files, so that the next write fails as it does for a user whose shell or service set
``ulimit -f``: SQLite says "disk I/O error" (Python ignores SIGXFSZ; the write fails with
EFBIG).  The daemon must say so once, clearly, keep the files pending (each counted once),
retry without repeating itself, and resume by itself when the limit is raised.
"""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.audiogen import noise_burst, write
from tests.daemon_proc import OscPeer, free_udp_port
from tests.waiting import wait_for

pytestmark = pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="no prlimit here")

FSIZE_LINE = "the file size limit (ulimit -f)"


class LoggedDaemon:
    """`python -m bridge serve` whose stderr is read through a pipe (a pipe is not subject to
    the file size limit, so every log line arrives whatever the limit)."""

    def __init__(self, env: dict, folder: Path) -> None:
        self.port = free_udp_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", str(folder), "--osc-port", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            errors="replace", start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, name="test-stderr", daemon=True)
        self._reader.start()
        self.peer = OscPeer()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def ask(self, address: str):
        assert self.proc.poll() is None, "\n".join(self.lines[-40:])
        reply = self.peer.request(self.port, address, timeout=1.0)
        return reply[1] if reply else None

    def count(self, text: str) -> int:
        return sum(1 for line in list(self.lines) if text in line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        self.peer.close()


@pytest.fixture
def daemon_env(cli_env, tmp_path):
    env = dict(cli_env)
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    # the log file: /dev/null (a device, where no file size limit applies); stderr is read
    log_dir = tmp_path / "state" / "soundalike" / "log"
    log_dir.mkdir(parents=True)
    (log_dir / "soundalike.log").symlink_to(os.devnull)
    # debug: each retry that fails again says so at debug level, so the test can see them
    Path(env["SOUNDALIKE_CONFIG"]).write_text('[log]\nlevel = "debug"\n')
    return env


def test_file_size_limit_is_named_once_counted_once_and_recovers(daemon_env, library_dir,
                                                                  tmp_path):
    data = Path(daemon_env["SOUNDALIKE_DATA_DIR"])
    daemon = LoggedDaemon(daemon_env, library_dir)
    try:
        wait_for(lambda: (st := daemon.ask("/soundalike/status")) and st[0] == 12
                 and st[1] == 0 and st[2] == "idle", timeout=60, message="idle with 12 files")
        assert daemon.ask("/soundalike/problems") == []
        sizes = [p.stat().st_size for p in data.glob("index.sqlite*")]
        limit = max(sizes) + 1024  # below the next write of the write-ahead log
        hard = resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE)[1]
        resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE, (limit, hard))

        new = [write(tmp_path / "src" / f"late_{i}.wav", noise_burst(300 + i)) for i in range(4)]
        for f in new:
            shutil.copy(f, library_dir / f.name)  # this process has no limit

        problems = wait_for(lambda: daemon.ask("/soundalike/problems"), timeout=30,
                            message="the daemon to report why it cannot store")
        assert len(problems) == 1
        assert FSIZE_LINE in problems[0] and f"{limit} bytes" in problems[0], problems
        assert "raise it" in problems[0]
        status = subprocess.run([sys.executable, "-m", "bridge", "status"], env=daemon_env,
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        assert f"problem  {FSIZE_LINE} of {limit} bytes" in status.stdout, status.stdout
        # a check that fails again (the recovery thread): logged at debug level only;
        # meanwhile the four files are pending, each counted once
        seen: list[int] = []

        def retried() -> bool:
            st = daemon.ask("/soundalike/status")
            if st:
                seen.append(st[1])
                assert st[0] == 12 and st[2] != "idle", st
            return daemon.count("the index still cannot be written") >= 1

        wait_for(retried, timeout=60, interval=0.05, message="a retry")
        assert seen and max(seen) <= 4 and seen[-1] == 4, seen
        errors = [line for line in daemon.lines if "cannot write the index" in line]
        assert len(errors) == 1, errors  # the cause once, not at every retry
        assert FSIZE_LINE in errors[0] and f"{limit} bytes" in errors[0]
        assert daemon.count("disk I/O error") == 0
        assert daemon.count("Traceback") == 0

        # the limit raised: the daemon notices (no restart, no rescan asked) and resumes
        resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
        wait_for(lambda: (st := daemon.ask("/soundalike/status")) and st[0] == 16
                 and st[1] == 0 and st[2] == "idle", timeout=60, message="16 files indexed")
        assert daemon.ask("/soundalike/problems") == []
        assert daemon.count("the index can be written again") == 1
        assert sum(1 for line in daemon.lines if "cannot write the index" in line) == 1
    finally:
        daemon.close()
    assert daemon.proc.returncode == 0, "\n".join(daemon.lines[-40:])
