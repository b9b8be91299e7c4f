"""`soundalike select` and `soundalike similar --list/--output` against a running daemon (an
OscServer in this process, announced in a data dir as `serve` does)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


from osc_helpers import (Client, library_setup, no_leaked_threads,  # noqa: F401
                         served_data_dir)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
P = "/soundalike"


@pytest.fixture
def daemon(served_data_dir):
    return served_data_dir


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120)


def test_select_sets_the_daw_selection_and_subscribers_follow(daemon):
    srv, data, samples = daemon
    with Client(srv.address) as sub:
        sub.send(f"{P}/subscribe", sub.port)
        sub.expect(f"{P}/subscribed")
        proc = cli("select", samples[3], "--data-dir", data)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == f"selected {samples[3]}"
        assert sub.expect(f"{P}/selected").args == (samples[3],)
        sub.send(f"{P}/similar")  # "Find similar" of a controller: the selection
        query, _ = sub.results()
        assert query == samples[3]
        proc = cli("select", "--clear", "--data-dir", data)
        assert proc.returncode == 0 and proc.stdout.strip() == "selection cleared"
        assert sub.expect(f"{P}/selected", skip=(f"{P}/cursor",)).args == ("",)


def test_select_refuses_plainly(daemon, tmp_path):
    _, data, samples = daemon
    proc = cli("select", str(tmp_path / "nope.wav"), "--data-dir", data)
    assert proc.returncode == 1 and proc.stderr.startswith("soundalike: no such file")
    proc = cli("select", "--data-dir", data)
    assert proc.returncode == 1 and "--clear" in proc.stderr
    proc = cli("select", samples[0], "--data-dir", str(tmp_path / "other"))
    assert proc.returncode == 1 and "no Soundalike daemon is running" in proc.stderr
    proc = cli("select", samples[0], "--list", "bad name", "--data-dir", data)
    assert proc.returncode == 2 and "not a list name" in proc.stderr


def test_similar_touches_no_list_unless_told(daemon):
    srv, data, samples = daemon
    with Client(srv.address) as sub:
        sub.send(f"{P}/subscribe", sub.port, 2)
        sub.expect(f"{P}/subscribed")
        sub.drain()
        proc = cli("similar", "--json", "-n", "3", samples[0], "--data-dir", data)
        assert proc.returncode == 0, proc.stderr
        assert len(json.loads(proc.stdout)["results"]) == 3
        assert sub.drain() == []
        proc = cli("similar", "--json", "-n", "3", samples[0], "--list", "daw",
                   "--data-dir", data)
        assert proc.returncode == 0, proc.stderr
        query, rows = sub.results()
        assert query == samples[0]
        assert [r[1] for r in rows] == [r["path"] for r in json.loads(proc.stdout)["results"]]


def test_similar_output_file_holds_the_answer_or_the_error(daemon, tmp_path):
    _, data, samples = daemon
    out = tmp_path / "answer.json"
    proc = cli("similar", "-n", "2", samples[1], "--output", str(out), "--data-dir", data)
    assert proc.returncode == 0 and proc.stdout == ""
    answer = json.loads(out.read_text(encoding="utf-8"))
    assert answer["query"] == samples[1] and len(answer["results"]) == 2
    proc = cli("similar", str(tmp_path / "missing.wav"), "--output", str(out),
               "--data-dir", data)
    assert proc.returncode == 1
    assert json.loads(out.read_text(encoding="utf-8"))["error"].startswith("no such file")
    assert not list(tmp_path.glob("*.tmp"))  # written atomically, nothing left behind
