"""A messy library: every bad file is indexed correctly or recorded once with its reason."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from engine import Library
from tests.audiogen import tone, write


@pytest.fixture
def messy(tmp_path):
    d = tmp_path / "messy"
    d.mkdir()
    (d / "zero.wav").write_bytes(b"")
    good = write(d / "good.wav", tone(440, seconds=1.0))
    (d / "truncated.wav").write_bytes(good.read_bytes()[:40])
    (d / "text.wav").write_text("definitely not audio\n")
    (d / "random.flac").write_bytes(np.random.default_rng(0).bytes(5000))
    (d / "random.mp3").write_bytes(np.random.default_rng(1).bytes(5000))
    (d / "folder.aiff").mkdir()
    os.symlink(d, d / "folder.aiff" / "loop")
    write(d / "silent.wav", np.zeros(22_050, np.float32))
    write(d / "eight_bit.wav", tone(300), subtype="PCM_U8")
    sr = 96_000
    multi = np.tile(tone(200, seconds=0.5, sr=sr)[:, None], (1, 8))
    sf.write(str(d / "eight_channels.wav"), multi, sr, subtype="FLOAT")
    long = np.zeros(8_000 * 600, np.float32)
    long[:16_000] = tone(250, seconds=2.0, sr=8_000)
    sf.write(str(d / "ten_minutes.wav"), long, 8_000, subtype="PCM_16")
    for name in ("with space.wav", "quote's \"double\".wav", "accent é ñ ü.wav",
                 "emoji 🥁🎹.wav"):
        write(d / name, tone(350 + len(name)))
    return d


EXPECTED_FAILED = {"zero.wav", "truncated.wav", "text.wav", "random.flac", "random.mp3"}


def test_every_file_indexed_or_failed_once(tmp_path, encoder, messy):
    lib = Library(tmp_path / "data", encoder=encoder)
    s = lib.index([messy])
    failures = dict(lib.catalog.failures())
    assert {os.path.basename(p) for p in failures} == EXPECTED_FAILED
    assert all(reason for reason in failures.values())
    assert s.indexed == 9 and s.failed == 5
    # never twice: the second pass touches nothing, the counts do not grow
    before = encoder.embedded
    s2 = lib.index([messy])
    assert (s2.indexed, s2.failed) == (0, 5) and encoder.embedded == before  # as status counts
    assert lib.catalog.counts()["total"] == 14
    for p in lib.indexed_paths():
        for r in lib.similar(p, 20):
            assert math.isfinite(r.score) and -1.0 <= r.score <= 1.0
    lib.close()


def test_status_json_lists_failed_files_with_reasons(cli_env, messy):
    subprocess.run([sys.executable, "-m", "bridge", "index", str(messy)], env=cli_env,
                   check=True, capture_output=True)
    info = json.loads(subprocess.run([sys.executable, "-m", "bridge", "status", "--json"],
                                     env=cli_env, check=True, capture_output=True,
                                     text=True).stdout)
    assert {os.path.basename(f["path"]) for f in info["failures"]} == EXPECTED_FAILED
    assert info["indexed"] == 9


def test_unicode_names_round_trip_through_json(cli_env, messy):
    subprocess.run([sys.executable, "-m", "bridge", "index", str(messy)], env=cli_env,
                   check=True, capture_output=True)
    q = messy / "emoji 🥁🎹.wav"
    out = subprocess.run([sys.executable, "-m", "bridge", "similar", str(q), "-n", "20",
                          "--json", "--local"], env=cli_env, check=True, capture_output=True,
                         text=True).stdout
    line = json.loads(out)
    assert line["query"] == str(q)
    names = {os.path.basename(r["path"]) for r in line["results"]}
    assert "accent é ñ ü.wav" in names and "quote's \"double\".wav" in names
