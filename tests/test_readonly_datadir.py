"""A data dir that cannot be written at start-up: the daemon serves its index read-only, says
so, keeps the folder's mode, and resumes indexing by itself once it can write again.

Real daemon processes, real UDP on 127.0.0.1, real files.  The read-only data dir is a folder
made 0555, with the daemon run without root's capabilities to write anything (``setpriv``); the
full disk is a 300 KB tmpfs in a private mount namespace (``unshare -rm``), as in
tests/test_storage.py.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap

import pytest

from tests.audiogen import tone, write
from tests.daemon_proc import OscPeer, free_udp_port
from tests.waiting import wait_for

P = "/soundalike"


def without_root_powers(d):
    """Run the daemon so that permissions apply to it: as root, without the capabilities that
    let root write or read anything (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    if os.geteuid() != 0:
        return d
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    d.args = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", *d.args]
    return d


def cli(env, *args):
    return subprocess.run([sys.executable, "-m", "bridge", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def storage(peer, port):
    reply = peer.request(port, f"{P}/storage", timeout=2.0)
    return tuple(reply[1]) if reply else None


def status(peer, port):
    reply = peer.request(port, f"{P}/status", timeout=2.0)
    return reply[1] if reply else None


def result_count(peer, port, query) -> int | None:
    peer.send(port, f"{P}/similar", str(query), 5)
    begin = peer.receive(20, f"{P}/results/begin")
    return begin[1][1] if begin else None


def test_a_read_only_data_dir_is_served_read_only_and_recovers(daemon_factory, cli_env,
                                                               library_dir):
    data = cli_env["SOUNDALIKE_DATA_DIR"]
    out = cli(cli_env, "index", str(library_dir))
    assert out.returncode == 0, out.stderr
    os.chmod(data, 0o555)
    try:
        d = without_root_powers(daemon_factory([library_dir])).start()
        # the index is readable: status and queries are answered from it
        assert d.wait_idle(indexed=12)
        assert result_count(d.peer, d.port, library_dir / "kicks" / "kick_0.wav") == 5
        state, reason = storage(d.peer, d.port)
        assert state == "read-only" and f"{data} is read-only" in reason, reason
        assert "Serving its index read-only" in d.log() and "Traceback" not in d.log()
        # the user's mode is kept
        assert stat.S_IMODE(os.stat(data).st_mode) == 0o555
        assert not os.path.exists(os.path.join(data, "daemon.json"))
        # clients still find the daemon (a fallback state file) and show why
        st = json.loads(cli(cli_env, "status", "--json").stdout)
        assert st["daemon"] is True and st["indexed"] == 12
        assert st["storage"] == {"state": "read-only", "reason": reason}
        text = cli(cli_env, "status").stdout
        assert f"storage  read-only: {reason}" in text
        # a second daemon on the same read-only data dir is still refused (the lock holds)
        second = without_root_powers(daemon_factory([library_dir]))
        second.start(wait=False)
        assert second.proc.wait(timeout=60) == 1
        assert "in use" in second.log() or "already runs" in second.log(), second.log()
        # a file dropped meanwhile waits; nothing is written
        write(library_dir / "new" / "early.wav", tone(1234))
        wait_for(lambda: (status(d.peer, d.port) or [0, 0])[1] >= 1, timeout=30,
                 message="the new file to be pending")
        assert status(d.peer, d.port)[0] == 12
        # writable again: it resumes by itself, the files dropped before and after included
        os.chmod(data, 0o755)
        write(library_dir / "new" / "late.wav", tone(1500))
        wait_for(lambda: (storage(d.peer, d.port) or ("",))[0] == "writable", timeout=60,
                 message="the daemon to notice the data dir is writable")
        assert d.wait_idle(indexed=14)
        assert os.path.exists(os.path.join(data, "daemon.json"))
        assert "can be written again" in d.log()
        assert d.signal() == 0
        assert "Traceback" not in d.log()
        assert "embedded 2 files this run" in d.log()  # the 12 already indexed stay as they are
        assert stat.S_IMODE(os.stat(data).st_mode) == 0o755
    finally:
        os.chmod(data, 0o755)


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt || "
                           "mount -t tmpfs tmpfs /tmp"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="no private mount namespaces here")
def test_a_full_disk_at_start_up_is_served_read_only_and_recovers(cli_env, library_dir,
                                                                  tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    data = mnt / "d"
    env = dict(cli_env, SOUNDALIKE_DATA_DIR=str(data))
    port = free_udp_port()
    log = tmp_path / "daemon.log"
    # the namespace's shell fills the disk, starts the daemon, then fills or frees the disk
    # when told (a line on its stdin) and exits with the daemon's status
    script = textwrap.dedent(f"""
        set -u
        mount -t tmpfs -o size=300k tmpfs "{mnt}" || exit 3
        "{sys.executable}" -m bridge index "{library_dir}" >/dev/null 2>>"{log}" || exit 4
        dd if=/dev/zero of="{mnt}/fill" bs=4k 2>/dev/null
        "{sys.executable}" -m bridge serve "{library_dir}" --osc-port {port} 2>>"{log}" &
        daemon=$!
        echo "pid $daemon"
        while read -r cmd; do
            case "$cmd" in
                fill) dd if=/dev/zero of="{mnt}/fill" bs=4k 2>/dev/null; echo filled ;;
                free) rm -f "{mnt}/fill"; echo freed ;;
            esac
        done
        wait $daemon
    """)
    proc = subprocess.Popen(["unshare", "-rm", "bash", "-c", script], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    peer = OscPeer()
    try:
        first = proc.stdout.readline()
        assert first.startswith("pid "), (first, log.read_text() if log.exists() else "")
        pid = int(first.split()[1])

        def logged() -> str:
            return log.read_text(errors="replace")

        wait_for(lambda: status(peer, port) is not None, timeout=60,
                 message=f"the daemon to answer ({log})")
        assert wait_for(lambda: (status(peer, port) or [0])[0] == 12, timeout=30)
        assert result_count(peer, port, library_dir / "kicks" / "kick_0.wav") == 5
        state, reason = storage(peer, port)
        assert state == "read-only" and "no space left" in reason, reason
        write(library_dir / "new" / "early.wav", tone(1234))
        wait_for(lambda: (status(peer, port) or [0, 0])[1] >= 1, timeout=30,
                 message="the new file to be pending")
        assert status(peer, port)[0] == 12

        def tell(cmd: str, answer: str) -> None:
            proc.stdin.write(cmd + "\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == answer

        tell("free", "freed")
        wait_for(lambda: (storage(peer, port) or ("",))[0] == "writable", timeout=60,
                 message=f"the daemon to notice the space ({logged()[-2000:]})")
        wait_for(lambda: status(peer, port) == [13, 0, "idle"], timeout=60,
                 message="the new file to be indexed")
        # the first round's promise: a disk that fills while running loses nothing either;
        # the files that could not be stored wait, and go in once there is room
        tell("fill", "filled")
        for i in range(3):
            write(library_dir / "later" / f"l{i}.wav", tone(1600 + 150 * i))
        wait_for(lambda: (storage(peer, port) or ("",))[0] == "read-only", timeout=60,
                 message=f"writes to be held ({logged()[-2000:]})")
        assert status(peer, port)[0] == 13
        tell("free", "freed")
        wait_for(lambda: status(peer, port) == [16, 0, "idle"], timeout=60,
                 message=f"the files to be stored ({logged()[-2000:]})")
        assert storage(peer, port) == ("writable", "")
        os.kill(pid, signal.SIGTERM)
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0, logged()
        assert "Serving its index read-only" in logged()
        assert "can be written again" in logged() and "Traceback" not in logged()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        peer.close()


def test_an_existing_data_dir_keeps_its_mode_and_a_new_one_is_private(tmp_path, caplog):
    from engine.datadir import ensure_private_dir

    chosen = tmp_path / "chosen"
    chosen.mkdir()
    os.chmod(chosen, 0o555)
    try:
        assert ensure_private_dir(chosen) == chosen
        assert stat.S_IMODE(os.stat(chosen).st_mode) == 0o555
    finally:
        os.chmod(chosen, 0o755)
    new = ensure_private_dir(tmp_path / "a" / "new")
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with caplog.at_level("WARNING", logger="engine.datadir"):
        ensure_private_dir(shared)
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o777
    assert "may be written by other users (mode 0777)" in caplog.text
