"""Log and console output under abuse: repeats collapsed (a flood cannot rotate the log away),
control characters in file names escaped (no forged lines), odd pings answered, not logged."""
from __future__ import annotations

import logging
import subprocess
import sys

from bridge.app import setup_logging
from bridge.logs import RepeatFilter
from bridge.text import printable

from tests.daemon_proc import Daemon, OscPeer


def test_printable_escapes_what_could_break_a_line():
    assert printable("/samples/kick 01 é 🥁.wav") == "/samples/kick 01 é 🥁.wav"
    assert printable("/x/a\nindexed 5000\r\t\x1b[2J\x7f\x85\u2028\u202e.wav") == \
        "/x/a\\nindexed 5000\\r\\t\\x1b[2J\\x7f\\x85\\u2028\\u202e.wav"
    raw = b"/x/\xff\xfe.wav".decode("utf-8", "surrogateescape")  # a name that is not UTF-8
    assert printable(raw) == "/x/\\xff\\xfe.wav"
    assert "\n" not in printable("".join(map(chr, range(0x110000))).replace("\ud800", ""))


def test_ten_thousand_failures_do_not_rotate_the_log_away(tmp_path):
    log_file = tmp_path / "log" / "soundalike.log"
    level = logging.getLogger().level
    handlers = setup_logging("info", log_file)
    log = logging.getLogger("soundalike.osc")
    try:
        logging.getLogger("soundalike").info("the first line")
        for i in range(10_000):
            try:
                raise ValueError(f"bad value {i}")
            except ValueError:
                log.exception("OSC /soundalike/ping from %s failed", ("127.0.0.1", 40000 + i))
        log.warning("a file called %s", "evil\n2026-01-01 00:00:00 INFO forged line.wav")
    finally:
        for h in handlers:
            logging.getLogger().removeHandler(h)
            h.close()
        logging.getLogger().setLevel(level)
    text = log_file.read_text()
    lines = text.splitlines()
    assert "the first line" in lines[0]
    assert not (tmp_path / "log" / "soundalike.log.1").exists()  # nothing rotated
    assert text.count("Traceback") == 5  # the first five of the kind, then counted
    assert "more like this are counted, not logged" in text
    assert lines[-1].endswith("a file called evil\\n2026-01-01 00:00:00 INFO forged line.wav")
    assert len(lines) < 60


def test_a_kind_of_record_is_let_through_again_after_its_window():
    now = [0.0]
    flt = RepeatFilter(burst=2, window=10, clock=lambda: now[0])

    def record(i):
        return logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %d", (i,), None)

    passed = [flt.filter(record(i)) for i in range(100)]
    assert passed == [True, True] + [False] * 98
    now[0] = 11.0
    again = record(100)
    assert flt.filter(again) and "[98 more like this were not logged]" in again.getMessage()
    other = logging.LogRecord("x", logging.ERROR, __file__, 1, "another %d", (1,), None)
    assert flt.filter(other)  # another kind is not affected


def test_pings_with_extreme_numbers_are_answered_and_not_logged(cli_env, library_dir):
    d = Daemon(cli_env, [library_dir]).start()
    peer = OscPeer()
    try:
        d.wait_idle(indexed=12)
        from bridge.osc_wire import Typed, decode, encode

        pings = [encode("/soundalike/ping", Typed("d", 1e300)),
                 encode("/soundalike/ping", Typed("t", 2 ** 63)),
                 encode("/soundalike/ping", Typed("h", -2 ** 63)),
                 encode("/soundalike/ping", Typed("d", float("-inf")))]
        peer.sock.settimeout(5)
        answered, wrong = 0, []
        for batch in range(50):  # 10,000 pings, 200 in flight at a time
            for i in range(200):
                peer.sock.sendto(pings[i % 4], ("127.0.0.1", d.port))
            for _ in range(200):
                m = decode(peer.sock.recv(65536))[0]
                if m.address == "/soundalike/pong" and m.tags in "dthd":
                    answered += 1
                else:
                    wrong.append(m)
        assert answered == 10_000 and wrong == []
        assert d.status() is not None
        log = d.stderr_path.read_text()
        assert "Traceback" not in log and "internal error" not in log
    finally:
        peer.close()
        d.close()


def test_index_and_status_print_one_line_per_file_whatever_its_name(cli_env, library_dir):
    evil = library_dir / "evil\nindexed 5000, skipped 0 unchanged\x1b[2J.wav"
    evil.write_bytes(b"not audio " * 20)
    proc = subprocess.run([sys.executable, "-m", "bridge", "index", str(library_dir)],
                          env=cli_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (failed,) = [line for line in proc.stderr.splitlines() if line.startswith("failed:")]
    assert "evil\\nindexed 5000, skipped 0 unchanged\\x1b[2J.wav" in failed
    assert "\x1b" not in proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("indexed 12,")
    status = subprocess.run([sys.executable, "-m", "bridge", "status"], env=cli_env,
                            capture_output=True, text=True, timeout=60).stdout
    assert [line for line in status.splitlines() if "evil" in line] == [
        f"failed: {library_dir}/evil\\nindexed 5000, skipped 0 unchanged\\x1b[2J.wav: "
        + failed.split(".wav: ", 1)[1]]
