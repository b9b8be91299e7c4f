import os
import shutil

import numpy as np
import pytest

from engine import Library, QueryError
from engine.audio import write_with_lead
from tests.audiogen import tone, write


@pytest.fixture
def lib(tmp_path, encoder):
    library = Library(tmp_path / "data", encoder=encoder)
    yield library
    library.close()


def test_index_then_similar(lib, library_dir):
    summary = lib.index([library_dir])
    assert (summary.indexed, summary.failed, summary.unchanged) == (12, 0, 0)
    query = str(library_dir / "kicks" / "kick_1.wav")
    results = lib.similar(query, 5)
    assert len(results) == 5
    assert query not in [r.path for r in results]
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    assert all("kick" in r.path for r in results[:3])


def test_second_pass_embeds_nothing(lib, library_dir, encoder):
    lib.index([library_dir])
    before = encoder.embedded
    summary = lib.index([library_dir])
    assert (summary.indexed, summary.unchanged) == (0, 12)
    assert encoder.embedded == before


def test_copy_outside_library_finds_original_first(lib, library_dir, tmp_path):
    lib.index([library_dir])
    copy = tmp_path / "elsewhere" / "copy.wav"
    copy.parent.mkdir()
    shutil.copy(library_dir / "tones" / "tone_2.wav", copy)
    results = lib.similar(str(copy), 3)
    assert results[0].path == str(library_dir / "tones" / "tone_2.wav")
    assert results[0].score >= 0.99
    assert lib.status()["indexed"] == 12  # the query was not added


def test_a_pause_before_the_sound_finds_the_same_neighbours(lib, library_dir, tmp_path):
    lib.index([library_dir])
    original = library_dir / "kicks" / "kick_1.wav"
    padded = tmp_path / "kick_1 (bounced).wav"
    write_with_lead(original, padded, seconds=0.4)
    got = [(r.path, round(r.score, 2)) for r in lib.similar(str(padded), 4)]
    assert got[0] == (str(original), 1.0)
    assert got[1:] == [(r.path, round(r.score, 2)) for r in lib.similar(str(original), 3)]


def test_changed_and_removed_files(lib, library_dir):
    lib.index([library_dir])
    write(library_dir / "tones" / "tone_0.wav", tone(500))  # same path, new content
    os.remove(library_dir / "noise" / "hat_0.flac")
    summary = lib.index([library_dir])
    assert (summary.indexed, summary.removed, summary.unchanged) == (1, 1, 10)


def test_touched_but_unchanged_file_is_not_reembedded(lib, library_dir, encoder):
    lib.index([library_dir])
    p = library_dir / "tones" / "tone_1.wav"
    os.utime(p, ns=(1, 1))
    before = encoder.embedded
    assert lib.index([library_dir]).indexed == 0
    assert encoder.embedded == before


def test_bad_files_are_recorded_once_and_retried_only_when_changed(lib, library_dir, encoder):
    bad = library_dir / "bad.wav"
    bad.write_text("not audio")
    (library_dir / "folder.wav").mkdir()
    (library_dir / "silent.wav").write_bytes(b"")
    s1 = lib.index([library_dir])
    assert s1.failed == 2
    reasons = dict(lib.catalog.failures())
    assert "not readable as audio" in reasons[str(bad)]
    s2 = lib.index([library_dir])
    assert (s2.indexed, s2.failed) == (0, 2)  # not retried while unchanged, still counted
    assert s2.failed == lib.status()["failed"]  # as status counts them
    write(bad, tone(300))
    s3 = lib.index([library_dir])
    assert (s3.indexed, s3.failed) == (1, 1)


def test_silent_file_scores_are_finite(lib, library_dir):
    write(library_dir / "silence.wav", np.zeros(22_050, np.float32))
    lib.index([library_dir])
    for r in lib.similar(str(library_dir / "silence.wav"), 5):
        assert np.isfinite(r.score)


def test_query_errors(lib, library_dir, tmp_path):
    lib.index([library_dir])
    with pytest.raises(QueryError, match="no such file"):
        lib.similar(str(tmp_path / "missing.wav"), 3)
    text = tmp_path / "x.wav"
    text.write_text("hello")
    with pytest.raises(QueryError, match="not audio"):
        lib.similar(str(text), 3)
    with pytest.raises(QueryError, match="count"):
        lib.similar(str(library_dir / "kicks" / "kick_0.wav"), 0)


def test_switching_model_reembeds(tmp_path, library_dir):
    from engine.model.mfcc import MfccEncoder

    a = Library(tmp_path / "d", encoder=MfccEncoder(n_mfcc=20))
    a.index([library_dir])
    a.close()
    other = MfccEncoder(n_mfcc=13)
    b = Library(tmp_path / "d", encoder=other)
    assert b.status()["stale"] == 12 and b.status()["indexed"] == 0
    assert b.index([library_dir]).indexed == 12
    assert other.embedded == 12
    b.close()


def test_symlink_loop_is_harmless(lib, library_dir):
    os.symlink(library_dir, library_dir / "tones" / "loop")
    assert lib.index([library_dir]).indexed == 12


def test_data_dir_is_private(tmp_path, encoder):
    Library(tmp_path / "private", encoder=encoder).close()
    assert (os.stat(tmp_path / "private").st_mode & 0o777) == 0o700
