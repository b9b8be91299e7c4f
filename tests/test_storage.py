"""A full disk or a read-only data dir: a clear message and an intact index.

Uses a private mount namespace (`unshare -rm`) to mount a tiny tmpfs as the data dir; skipped
where the kernel does not allow that.
"""
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.audiogen import noise_burst, write


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt || "
                           "mount -t tmpfs tmpfs /tmp"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _can_unshare(), reason="no private mount namespaces here")


def run_in_namespace(script: str, env) -> str:
    proc = subprocess.run(["unshare", "-rm", "bash", "-c", script], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_disk_full_and_read_only(cli_env, library_dir, tmp_path):
    more = tmp_path / "more"
    for i in range(30):
        write(more / f"n{i}.wav", noise_burst(100 + i, seconds=1.0))
    data = tmp_path / "mnt"
    data.mkdir()
    py = sys.executable
    script = textwrap.dedent(f"""
        set -u; exec 2>&1
        sa() {{ "{py}" -m bridge "$@" --data-dir "{data}/d"; echo "rc=$?"; }}
        mount -t tmpfs -o size=300k tmpfs "{data}"
        echo "== first"; sa index "{library_dir}"
        dd if=/dev/zero of="{data}/fill" bs=4k 2>/dev/null
        echo "== full"; sa index "{library_dir}" "{more}"
        rm "{data}/fill"
        echo "== after"; sa status --json
        "{py}" -c "import sqlite3; print('integrity', sqlite3.connect('{data}/d/index.sqlite').execute('PRAGMA integrity_check').fetchone()[0])"
        mount -o remount,ro "{data}"
        echo "== readonly"; sa index "{more}"
        echo "== ro-status"; sa status --json
        echo "== ro-similar"; sa similar "{library_dir}/kicks/kick_0.wav" -n 3 --json --local
    """)
    out = run_in_namespace(script, cli_env)
    sections = dict(part.split("\n", 1) for part in out.split("== ")[1:])
    assert "indexed 12" in sections["first"] and "rc=0" in sections["first"]
    assert "no space left" in sections["full"] and "rc=1" in sections["full"]
    assert '"indexed": 12' in sections["after"]  # the last good state, intact
    assert "integrity ok" in sections["after"]
    assert "read-only" in sections["readonly"] and "rc=1" in sections["readonly"]
    assert '"indexed": 12' in sections["ro-status"] and "rc=0" in sections["ro-status"]
    assert '"results"' in sections["ro-similar"] and "rc=0" in sections["ro-similar"]
    assert "Traceback" not in out
