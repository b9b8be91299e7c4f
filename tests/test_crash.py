"""SIGKILL at any moment during indexing leaves the index consistent; restart resumes."""
import os
import re
import signal
import sqlite3
import subprocess
import sys

import pytest

from tests.audiogen import tone, write
from tests.waiting import wait_for

N_FILES = 160


def committed(db_path) -> set[str]:
    if not os.path.exists(db_path):
        return set()
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        try:
            return {r[0] for r in db.execute("SELECT path FROM files WHERE status = 'ok'")}
        finally:
            db.close()
    except sqlite3.OperationalError:
        return set()


def check_consistent(db_path) -> set[str]:
    if not os.path.exists(db_path):
        return set()  # killed before the index existed
    db = sqlite3.connect(str(db_path), timeout=5)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT path, status, length(embedding), model_id FROM files").fetchall()
    finally:
        db.close()
    paths = [r[0] for r in rows]
    assert len(paths) == len(set(paths))
    sizes = {r[2] for r in rows if r[1] == "ok"}
    assert len(sizes) <= 1 and all(r[3] for r in rows if r[1] == "ok")
    return {r[0] for r in rows if r[1] == "ok"}


@pytest.fixture
def big_folder(tmp_path):
    folder = tmp_path / "lib"
    for i in range(N_FILES):
        write(folder / f"s{i:03d}.wav", tone(80 + 11 * i, seconds=2.0))
    return folder


def test_sigkill_during_indexing_never_corrupts_or_loses(cli_env, big_folder):
    db_path = os.path.join(cli_env["SOUNDALIKE_DATA_DIR"], "index.sqlite")
    args = [sys.executable, "-m", "bridge", "index", str(big_folder)]
    survived: set[str] = set()
    for at_least in (0, 32, 64, 96):
        proc = subprocess.Popen(args, env=cli_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            wait_for(lambda: len(committed(db_path)) >= at_least or proc.poll() is not None,
                     timeout=120, interval=0.005, message=f"{at_least} files committed")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        now = check_consistent(db_path)
        assert survived <= now  # nothing committed is lost
        survived = now
    assert len(survived) < N_FILES, "killing came too late to test anything"
    proc = subprocess.run(args, env=cli_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    indexed = int(re.search(r"indexed (\d+)", proc.stdout).group(1))
    assert indexed == N_FILES - len(survived)  # resumes: embeds only what was not committed
    assert check_consistent(db_path) == {str(p) for p in big_folder.iterdir()}
