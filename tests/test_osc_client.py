"""``soundalike similar``/``status`` asking a running daemon over OSC (bridge.client)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from bridge.client import (DAEMON_FILE, ask_daemon, daemon_status, read_daemon_file,
                           remove_daemon_file, write_daemon_file)
from bridge.errors import UserError
from bridge.server import OscServer

from osc_helpers import library_setup, no_leaked_threads  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def daemon(library_setup, tmp_path, no_leaked_threads):
    """A server in this process, announced in a data dir as a daemon would (reply port set,
    so the client must register its own with /soundalike/reply_to)."""
    data = tmp_path / "data"
    data.mkdir()
    with OscServer(library_setup[0], port=0, reply_port=9) as srv:
        write_daemon_file(data, *srv.address)
        yield str(data), library_setup


def test_daemon_file_round_trip(tmp_path):
    path = write_daemon_file(tmp_path, "127.0.0.1", 9000)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    info = read_daemon_file(tmp_path)
    assert (info["pid"], info["host"], info["port"]) == (os.getpid(), "127.0.0.1", 9000)
    remove_daemon_file(tmp_path, pid=os.getpid() + 1)  # not ours: kept
    assert path.exists()
    remove_daemon_file(tmp_path)
    assert not path.exists() and read_daemon_file(tmp_path) is None


def test_stale_or_corrupt_daemon_file_is_ignored(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    write_daemon_file(tmp_path, "127.0.0.1", 9000, pid=int(proc.stdout))  # exited
    assert read_daemon_file(tmp_path) is None
    (tmp_path / DAEMON_FILE).write_text("{not json")
    assert read_daemon_file(tmp_path) is None
    (tmp_path / DAEMON_FILE).write_text(json.dumps({"pid": os.getpid(), "host": "x"}))
    assert read_daemon_file(tmp_path) is None


def test_ask_daemon(daemon):
    data, (backend, _, samples, outside, junk) = daemon
    answers = ask_daemon([str(samples[0]), str(outside)], 3, data_dir_arg=data)
    assert [q for q, _ in answers] == [str(samples[0]), str(outside)]
    for q, results in answers:
        expected = backend.similar(q, 3)
        assert [p for p, _, _ in results] == [r.path for r in expected]
        assert [s for _, s, _ in results] == pytest.approx([r.score for r in expected],
                                                            abs=1e-6)
        assert [sim for _, _, sim in results] == [None] * len(results)  # no calibration
    assert daemon_status(data_dir_arg=data) == {"indexed": len(samples), "pending": 0,
                                                "state": "idle", "problems": []}


def test_ask_daemon_errors_are_user_errors(daemon):
    data, setup = daemon
    with pytest.raises(UserError, match="no such file"):
        ask_daemon(["/no/such.wav"], 3, data_dir_arg=data)
    with pytest.raises(UserError, match="^not audio"):
        ask_daemon([str(setup[4])], 3, data_dir_arg=data)
    with pytest.raises(UserError, match="unknown mode"):
        ask_daemon([str(setup[2][0])], 3, data_dir_arg=data, mode="nonsense")


def test_more_than_the_cap_works_in_process(daemon):
    data, setup = daemon
    assert ask_daemon([str(setup[2][0])], 101, data_dir_arg=data) is None


def test_no_daemon_is_none_quickly(tmp_path):
    assert ask_daemon(["/a.wav"], 3, data_dir_arg=str(tmp_path)) is None
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a port nobody answers on
        s.bind(("127.0.0.1", 0))
        write_daemon_file(tmp_path, "127.0.0.1", s.getsockname()[1])
        t0 = time.monotonic()
        assert ask_daemon(["/a.wav"], 3, data_dir_arg=str(tmp_path)) is None
        assert daemon_status(data_dir_arg=str(tmp_path)) is None
    assert time.monotonic() - t0 < 2.5


def test_cli_answers_from_the_daemon_without_librosa(daemon):
    data, setup = daemon
    q = str(setup[2][2])
    code = ("import sys\n"
            "from bridge.cli import main\n"
            f"rc = main(['similar', {q!r}, '-n', '2', '--json', '--data-dir', {data!r}])\n"
            "heavy = sorted(m for m in ('librosa', 'tensorflow', 'engine') if m in sys.modules)\n"
            "print('HEAVY', heavy, file=sys.stderr)\n"
            "sys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr
    (line,) = proc.stdout.splitlines()
    answer = json.loads(line)
    assert answer["query"] == q
    expected = setup[0].similar(q, 2)
    assert [r["path"] for r in answer["results"]] == [r.path for r in expected]


def test_a_connection_puts_its_settings_back_for_the_next_program_on_its_port(daemon):
    """The daemon keeps a client's result list and similarity setting by source port; the
    CLI's connection resets them when it is done, so a program that is given the same port
    later (a DAW companion, a controller) starts from the defaults: the shared "daw" list."""
    from bridge.client import DaemonConnection, read_daemon_file
    from osc_helpers import Client

    data, (_, _, samples, _, _) = daemon
    info = read_daemon_file(data)
    with DaemonConnection(info["host"], info["port"]) as conn:
        with conn.settings(list_name="", similarity=True):
            assert conn.similar(str(samples[0]), 3)
        port = conn.port
    with Client((info["host"], info["port"]), port=port) as later:  # the same source port
        later.send("/soundalike/reply_to", port)  # the daemon was given --reply-port 9
        # the resets' own replies may still arrive here first (sent to this port before it)
        later.expect("/soundalike/reply_to", skip=("/soundalike/similarity", "/soundalike/list"))
        later.send("/soundalike/list")
        assert later.expect("/soundalike/list").args == ("daw",)
        later.send("/soundalike/similar", str(samples[0]), 3)
        _, rows = later.results()
        assert rows and all(len(r) == 3 for r in rows)
