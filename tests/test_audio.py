import os
import time

import numpy as np
import pytest
import soundfile as sf

from engine.audio import (MAX_LEAD, SAMPLE_RATE, AudioError, file_fingerprint, load_audio,
                          sound_start)
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


def _onset(y, level=0.05):
    return int(np.argmax(np.abs(y) >= level))


@pytest.mark.parametrize("lead", [0.25, 1.0, 3.0])
def test_leading_silence_is_skipped(tmp_path, lead):
    """A pause before the hit (also one longer than the first 2 s) is skipped, leaving 5 ms."""
    sr = SAMPLE_RATE
    hit = tone(440, seconds=2.5, sr=sr, decay=1.0)
    plain = load_audio(write(tmp_path / "plain.wav", hit, sr=sr, subtype="FLOAT"))
    padded_path = write(tmp_path / "padded.wav", subtype="FLOAT",
                        y=np.concatenate([np.zeros(int(lead * sr), np.float32), hit]), sr=sr)
    padded = load_audio(padded_path)
    assert padded.size == plain.size == 2 * SAMPLE_RATE
    pre_roll, first = round(0.005 * sr), sound_start(hit, sr=sr, pre_roll=0.0)
    assert np.array_equal(padded[:pre_roll], np.zeros(pre_roll, np.float32))
    assert np.allclose(padded[pre_roll:], plain[first:first + plain.size - pre_roll], atol=1e-6)
    kept = load_audio(padded_path, skip_silence=False)  # the file as it is
    assert not np.any(kept[:int(min(lead, 2.0) * sr)])


def test_leading_silence_is_skipped_after_resampling(tmp_path):
    sr = 44_100
    hit = tone(440, seconds=1.0, sr=sr, decay=1.0)
    path = write(tmp_path / "p.wav", np.concatenate([np.zeros(sr // 2, np.float32), hit]), sr=sr)
    assert abs(_onset(load_audio(path)) - _onset(tone(440, sr=SAMPLE_RATE, decay=1.0))
               - round(0.005 * SAMPLE_RATE)) <= 2


def test_quiet_noise_before_the_hit_is_skipped_loud_noise_is_not(tmp_path):
    rng = np.random.default_rng(0)
    hit = tone(220, seconds=1.0, decay=2.0)
    quiet = (10 ** (-70 / 20) * rng.standard_normal(SAMPLE_RATE // 2)).astype(np.float32)
    out = load_audio(write(tmp_path / "q.wav", np.concatenate([quiet, hit])))
    assert _onset(out) <= int(0.006 * SAMPLE_RATE)
    loud = (0.05 * rng.standard_normal(SAMPLE_RATE // 2)).astype(np.float32)  # -26 dB: sound
    out = load_audio(write(tmp_path / "l.wav", np.concatenate([loud, hit])))
    assert np.allclose(out[:100], loud[:100], atol=1e-3)


def test_a_nan_sample_does_not_make_the_start_look_silent(tmp_path):
    y = tone(330, seconds=5.0, decay=0.2)
    y[1000] = np.nan
    out = load_audio(write(tmp_path / "nan.wav", y, subtype="FLOAT"))
    assert out[1000] == 0.0 and np.allclose(out[:900], y[:900])  # read from the start


def test_silence_longer_than_the_limit_and_silent_files_read_from_the_start(tmp_path):
    sr = 8_000
    late = np.zeros(int((MAX_LEAD + 1) * sr), np.float32)
    late = np.concatenate([late, tone(200, seconds=1.0, sr=sr)])
    out = load_audio(write(tmp_path / "late.wav", late, sr=sr))
    assert out.size == 2 * SAMPLE_RATE and not np.any(out)
    out = load_audio(write(tmp_path / "silent.wav", np.zeros(sr, np.float32), sr=sr))
    assert out.size == SAMPLE_RATE and not np.any(out)


def test_sound_start_is_pure_and_handles_channels():
    y = np.zeros(1000, np.float32)
    y[400:] = 0.5
    assert sound_start(y, sr=1000, pre_roll=0.1) == 300
    assert sound_start(y, sr=1000, pre_roll=1.0) == 0
    assert sound_start(np.zeros(50), sr=1000) is None
    assert sound_start(np.full(50, 1e-4), sr=1000) is None   # -80 dBFS: below the floor
    stereo = np.zeros((100, 2), np.float32)
    stereo[60:, 1] = 0.5                                      # sound on one channel only
    assert sound_start(stereo, sr=1000, pre_roll=0.0) == 60
    assert y[400] == 0.5 and y[:400].sum() == 0              # the input is left alone
    y[100] = np.nan                                           # as load_audio makes it: 0
    y[200] = np.inf
    assert sound_start(y, sr=1000, pre_roll=0.0) == 400


def test_not_audio_raises_clear_error(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio")
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert "not readable as audio" in info.value.reason and info.value.path == str(path)


def test_not_audio_with_mp3_name_is_not_called_missing(tmp_path):
    path = tmp_path / "notes.mp3"
    path.write_text("this is not audio")
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert "not readable as audio" in info.value.reason
    assert "not exist" not in info.value.reason


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


# -- headers that lie: bounded work whatever they claim ------------------------------------

def _lying_wav(path, *, rate: int, channels: int, data_bytes: int = 1 << 30,
               payload: bytes = b"") -> str:
    """A 16-bit PCM WAV whose header claims ``rate`` Hz, ``channels`` channels and a data
    chunk of ``data_bytes``; on disk only the header and ``payload`` (the rest is a hole)."""
    import struct

    block = 2 * channels
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * block) & 0xFFFFFFFF,
                      block & 0xFFFF, 16)
    header = (b"RIFF" + struct.pack("<I", (36 + data_bytes) & 0xFFFFFFFF) + b"WAVE"
              + b"fmt " + struct.pack("<I", len(fmt)) + fmt
              + b"data" + struct.pack("<I", data_bytes & 0xFFFFFFFF))
    with open(path, "wb") as f:
        f.write(header + payload)
        f.truncate(len(header) + data_bytes)  # sparse: a few KB on disk
    return str(path)


def _peak_bytes(fn) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        try:
            fn()
        except AudioError:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("rate,channels,why", [
    (2**31 - 1, 1, "sample rate"), (2**31 - 1, 2, "sample rate"), (400_000, 1, "sample rate"),
    (999, 1, "sample rate"), (44_100, 65, "channels"), (48_000, 1024, "channels"),
])
def test_absurd_headers_are_refused_before_decoding(tmp_path, rate, channels, why):
    path = _lying_wav(tmp_path / "lie.wav", rate=rate, channels=channels,
                      payload=bytes(range(256)) * 48)
    with pytest.raises(AudioError, match=why) as err:
        load_audio(path)
    assert "Soundalike reads" in err.value.reason
    assert _peak_bytes(lambda: load_audio(path)) < 1 << 20


@pytest.mark.parametrize("rate,channels", [(384_000, 64), (384_000, 1), (48_000, 2),
                                           (1_000, 7)])
def test_the_largest_headers_accepted_decode_within_the_budget(tmp_path, rate, channels):
    """A sparse 1 GB data chunk (silence, then a burst in the first block) at the most
    channels and highest rate accepted: what is decoded stays within decode_budget()."""
    from engine.audio import decode_budget

    rng = np.random.default_rng(0)
    payload = (rng.integers(-2**14, 2**14, 4096, dtype=np.int16)).tobytes()
    for name, body in (("burst.wav", payload), ("silent.wav", b"")):
        path = _lying_wav(tmp_path / name, rate=rate, channels=channels, payload=body)
        assert os.stat(path).st_blocks * 512 < 1 << 20  # the hole takes no disk
        y = load_audio(path)
        assert y.dtype == np.float32 and y.size == 2 * SAMPLE_RATE
        assert _peak_bytes(lambda: load_audio(path)) <= decode_budget()
    assert decode_budget() < 14 << 20


@pytest.mark.parametrize("fmt,subtype", [("AIFF", "PCM_16"), ("FLAC", "PCM_16"),
                                         ("WAV", "FLOAT")])
def test_other_formats_with_absurd_rates_are_refused(tmp_path, fmt, subtype):
    """libsndfile writes what it is told: the same limits hold for every format it reads."""
    path = tmp_path / f"x.{fmt.lower()}"
    try:
        sf.write(str(path), np.zeros((100, 1), np.float32), 600_000, format=fmt,
                 subtype=subtype)
    except (sf.LibsndfileError, RuntimeError, ValueError):
        pytest.skip(f"libsndfile cannot write {fmt} at 600 kHz")
    with pytest.raises(AudioError, match="sample rate"):
        load_audio(path)


def test_lead_search_is_bounded_in_samples_not_seconds():
    from engine.audio import MAX_LEAD_SAMPLES, lead_limit

    assert lead_limit(44_100, 2) == int(MAX_LEAD * 44_100)  # common files: MAX_LEAD seconds
    assert lead_limit(384_000, 64) * 64 <= MAX_LEAD_SAMPLES
