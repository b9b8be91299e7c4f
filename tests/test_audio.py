import time

import numpy as np
import pytest
import soundfile as sf

from engine.audio import SAMPLE_RATE, AudioError, file_fingerprint, load_audio
from tests.audiogen import tone, write


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_wav_bit_depths_load_as_float_mono(tmp_path, subtype):
    y = tone(440, seconds=0.5, sr=44_100)
    path = write(tmp_path / "t.wav", y, sr=44_100, subtype=subtype)
    out = load_audio(path)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(out.size - int(0.5 * SAMPLE_RATE)) <= 2
    assert 0.3 < np.max(np.abs(out)) < 0.7


@pytest.mark.parametrize("fmt,ext", [("AIFF", "aiff"), ("FLAC", "flac"), ("OGG", "ogg"),
                                     ("MP3", "mp3")])
def test_other_formats(tmp_path, fmt, ext):
    y = tone(330, seconds=0.6, sr=44_100)
    path = tmp_path / f"t.{ext}"
    sf.write(str(path), y, 44_100, format=fmt)
    out = load_audio(path)
    assert out.size > 0.4 * SAMPLE_RATE
    assert np.all(np.isfinite(out))


def test_multichannel_is_mixed_to_mono(tmp_path):
    y = tone(440, seconds=0.3, sr=96_000)
    stereo = np.stack([y, -y, y, y, y, y, y, y], axis=1)  # 8 channels
    path = tmp_path / "multi.wav"
    sf.write(str(path), stereo, 96_000, subtype="FLOAT")
    out = load_audio(path)
    assert out.ndim == 1
    assert np.allclose(np.max(np.abs(out)), 0.75 * np.max(np.abs(y)), atol=0.05)


def test_only_first_two_seconds_are_decoded(tmp_path):
    sr = 8_000
    ten_minutes = np.zeros(sr * 600, dtype=np.float32)
    ten_minutes[: sr * 2] = tone(200, seconds=2, sr=sr)
    path = tmp_path / "long.wav"
    sf.write(str(path), ten_minutes, sr, subtype="PCM_16")
    out = load_audio(path)
    assert out.size == 2 * SAMPLE_RATE


def test_not_audio_raises_clear_error(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio")
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert "not readable as audio" in info.value.reason and info.value.path == str(path)


def test_empty_file_and_directory_and_missing(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "dir.wav").mkdir()
    with pytest.raises(AudioError, match="empty file"):
        load_audio(tmp_path / "empty.wav")
    with pytest.raises(AudioError, match="directory"):
        load_audio(tmp_path / "dir.wav")
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav")


def test_truncated_wav_fails_or_loads_partial(tmp_path):
    path = write(tmp_path / "t.wav", tone(440, seconds=1.0))
    data = path.read_bytes()
    path.write_bytes(data[:30])
    with pytest.raises(AudioError):
        load_audio(path)


def test_fingerprint_changes_with_content(tmp_path):
    a = write(tmp_path / "a.wav", tone(440))
    b = write(tmp_path / "b.wav", tone(441))
    assert file_fingerprint(a) == file_fingerprint(a)
    assert file_fingerprint(a) != file_fingerprint(b)
