"""The real daemon process: start, index, signals, restart reconciliation, config errors."""
import os
import re
import signal
import subprocess
import sys

import pytest

from tests.audiogen import tone, write
from tests.daemon_proc import free_udp_port
from tests.waiting import wait_for

pytestmark = pytest.mark.skipif(
    not os.path.exists(os.path.join(os.path.dirname(__file__), "..", "bridge", "server.py")),
    reason="the OSC server is not there yet")


def embedded_this_run(daemon) -> int:
    m = re.findall(r"embedded (\d+) file", daemon.log())
    return int(m[-1]) if m else -1


def test_serve_indexes_and_stops_cleanly_on_sigterm(daemon_factory, library_dir, cli_env):
    d = daemon_factory([library_dir]).start()
    assert d.wait_idle(indexed=12)
    assert d.signal(signal.SIGTERM) == 0
    assert "Traceback" not in d.log()


def test_two_signals_at_once_exit_zero(daemon_factory, library_dir):
    # as when `timeout` forwards a `pkill` that also reached the daemon itself
    d = daemon_factory([library_dir]).start()
    assert d.wait_idle(indexed=12)
    d.proc.send_signal(signal.SIGTERM)
    assert d.signal(signal.SIGINT) == 0
    assert "stopping" in d.log() and "Traceback" not in d.log()


def test_signal_handlers_only_record_even_while_the_main_thread_holds_a_lock():
    # a handler runs between any two bytecodes of the main thread, also while it holds a lock
    # (inside Event.wait, or inside an earlier handler): one that took a lock hung for good
    script = """if True:
        import os, signal, threading
        from bridge.app import _install_signal_handlers, _restore_signal_handlers
        received = []
        previous = _install_signal_handlers(received)
        held = threading.Lock()
        with held:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGTERM):
                os.kill(os.getpid(), sig)
        _restore_signal_handlers(previous)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        print(sorted(set(received)))
    """
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(sorted({int(signal.SIGINT), int(signal.SIGTERM)}))


def test_sigint_in_the_middle_of_a_batch_exits_zero(daemon_factory, tmp_path):
    folder = tmp_path / "many"
    for i in range(300):
        write(folder / f"t{i:03d}.wav", tone(100 + 7 * i, seconds=2.0))
    d = daemon_factory([folder]).start()
    wait_for(lambda: (d.status() or [0, 0, ""])[2] == "indexing" or
             (d.status() or [0])[0] > 0, timeout=30, message="indexing to start")
    assert d.signal(signal.SIGINT) == 0
    assert "Traceback" not in d.log()


def test_restart_embeds_only_new_files(daemon_factory, library_dir, cli_env):
    d = daemon_factory([library_dir]).start()
    d.wait_idle(indexed=12)
    assert d.signal() == 0
    for i in range(5):
        write(library_dir / "new" / f"n{i}.wav", tone(500 + 40 * i))
    for name in ("tones/tone_0.wav", "noise/hat_2.flac", "kicks/kick_1.wav"):
        os.remove(library_dir / name)
    d2 = daemon_factory([library_dir], port=free_udp_port()).start()
    d2.wait_idle(indexed=14)
    assert d2.signal() == 0
    assert embedded_this_run(d2) == 5
    out = subprocess.run([sys.executable, "-m", "bridge", "status", "--json"], env=cli_env,
                         capture_output=True, text=True, check=True).stdout
    import json

    info = json.loads(out)
    assert info["indexed"] == 14 and info["failed"] == 0


def test_bad_config_names_every_wrong_key(cli_env, tmp_path, library_dir):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('folderz = ["x"]\n[osc]\nport = 99999\n[indexing]\nthreds = 2\n')
    env = dict(cli_env, SOUNDALIKE_CONFIG=str(cfg))
    proc = subprocess.run([sys.executable, "-m", "bridge", "serve", str(library_dir)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    for needle in ("folderz", "did you mean folders", "osc.port", "indexing.threds"):
        assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_folder_is_reported_not_fatal(daemon_factory, library_dir, tmp_path):
    d = daemon_factory([library_dir, tmp_path / "not-plugged-in"]).start()
    d.wait_idle(indexed=12)
    assert "not-plugged-in" in d.log()
    assert d.signal() == 0
