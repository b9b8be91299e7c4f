"""Audio file reading: the only module in Soundalike that opens audio files.

Everything libsndfile reads (WAV at any bit depth, AIFF, FLAC, OGG/Vorbis/Opus, MP3 with
libsndfile >= 1.1) is loaded as mono float32 at :data:`SAMPLE_RATE`, and only
:data:`DURATION` seconds are ever decoded, so a ten-minute file costs about what a two-second one
does.  Those seconds start where the sound does: leading silence (up to :data:`MAX_LEAD`
seconds of it) is skipped, so a sample exported with a pause before the hit is heard like the
trimmed one.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .errors import EngineError

SAMPLE_RATE = 22_050
DURATION = 2.0
#: at most this much leading silence (seconds) is skipped; a file silent for longer is read
#: from its start
MAX_LEAD = 10.0

#: file name extensions Soundalike indexes (lower case, with the dot)
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".aif", ".aiff", ".aifc", ".flac", ".ogg", ".oga", ".opus", ".mp3"}
)


class AudioError(EngineError):
    """A file could not be read as audio; ``reason`` says why in plain words."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def is_audio_name(path: str | os.PathLike) -> bool:
    """True when the file name has an audio extension Soundalike indexes."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def load_audio(path: str | os.PathLike, *, sr: int = SAMPLE_RATE,
               duration: float = DURATION, skip_silence: bool = True) -> np.ndarray:
    """Read ``duration`` seconds of ``path`` as mono float32 at ``sr`` Hz.

    With ``skip_silence`` they start 5 ms before the sound does (:func:`sound_start`; at most
    :data:`MAX_LEAD` seconds are skipped), else at the start of the file.
    Returns a 1-D array of at most ``round(duration * sr)`` samples (shorter files stay
    shorter; padding is the features' business).  Non-finite samples are replaced by 0.

    Raises :class:`AudioError` for anything that is not readable audio.
    """
    import soundfile as sf

    path = os.fspath(path)
    if os.path.isdir(path):
        raise AudioError(path, "is a directory, not an audio file")
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise AudioError(path, _os_reason(exc)) from None
    if size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        with sf.SoundFile(path) as f:
            native_sr = int(f.samplerate)
            if native_sr <= 0:
                raise AudioError(path, "invalid sample rate")
            want = int(math.ceil(duration * native_sr))
            frames = f.frames
            if 0 < frames < want:
                want = frames
            data = f.read(frames=want, dtype="float32", always_2d=True)
            if skip_silence:
                data = _from_sound_start(f, data, want=want, limit=int(MAX_LEAD * native_sr))
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise AudioError(path, f"not readable as audio ({_sf_reason(exc, path)})") from None
    except OSError as exc:
        raise AudioError(path, _os_reason(exc)) from None
    if data.shape[0] == 0:
        raise AudioError(path, "contains no audio frames")
    y = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    if native_sr != sr:
        y = resample(y, orig_sr=native_sr, target_sr=sr)
    return np.ascontiguousarray(y[: int(round(duration * sr))], dtype=np.float32)


def sound_start(y: np.ndarray, *, sr: int, threshold_db: float = -40.0,
                floor_db: float = -60.0, pre_roll: float = 0.005) -> int | None:
    """Where the sound starts in ``y`` (1-D, or ``(n, channels)``): the index of the first
    sample within ``threshold_db`` of the peak and above ``floor_db`` dBFS, less ``pre_roll``
    seconds (not below 0); None when nothing reaches the floor (silence).  Non-finite
    samples count as silence, as :func:`load_audio` makes them.  Pure."""
    a = np.abs(np.nan_to_num(np.asarray(y, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0))
    if a.ndim == 2:
        a = a.max(axis=1)
    floor = 10.0 ** (floor_db / 20.0)
    if a.size == 0 or not a.max() >= floor:
        return None
    first = int(np.argmax(a >= max(a.max() * 10.0 ** (threshold_db / 20.0), floor)))
    return max(0, first - int(round(pre_roll * sr)))


def _from_sound_start(f, first: np.ndarray, *, want: int, limit: int) -> np.ndarray:
    """``want`` frames of the open SoundFile ``f`` from where its sound starts; ``first`` is
    the file's first ``want`` frames, already read.  Silent windows are read past up to frame
    ``limit``; a file without sound before it is read from its start."""
    block, pos = first, 0
    while (start := sound_start(block, sr=int(f.samplerate))) is None:
        pos += len(block)
        if len(block) < want or pos >= limit:
            return first
        block = f.read(frames=want, dtype="float32", always_2d=True)
    start += pos
    if start == 0:
        return first
    if pos == 0 and 0 < f.frames <= len(first):  # the whole file is in ``first``
        return first[start:]
    try:
        f.seek(start)
        return f.read(frames=want, dtype="float32", always_2d=True)
    except (RuntimeError, ValueError):  # a stream libsndfile cannot seek in: keep what we have
        return first[start:] if pos == 0 else first


def write_with_lead(src: str | os.PathLike, dst: str | os.PathLike, *, seconds: float) -> None:
    """Copy the audio of ``src`` to a float WAV ``dst`` with ``seconds`` of digital silence
    before it (same rate and channels): a query as a producer's bounce with a pause might be."""
    import soundfile as sf

    data, rate = sf.read(os.fspath(src), dtype="float32", always_2d=True)
    lead = np.zeros((int(round(seconds * rate)), data.shape[1]), dtype=np.float32)
    sf.write(os.fspath(dst), np.concatenate([lead, data]), rate, subtype="FLOAT", format="WAV")


def resample(y: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling (soxr, high quality) of a 1-D float32 signal."""
    import soxr

    if orig_sr == target_sr or y.size == 0:
        return y.astype(np.float32, copy=False)
    return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def file_fingerprint(path: str | os.PathLike, *, size: int | None = None,
                     block: int = 1 << 16) -> str:
    """A content fingerprint: BLAKE2b of the size, the first and the last 64 KiB.

    Cheap for huge files, and it changes when the audio that Soundalike looks at changes.
    """
    import hashlib

    path = os.fspath(path)
    if size is None:
        size = os.path.getsize(path)
    h = hashlib.blake2b(digest_size=16)
    h.update(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(block))
        if size > block:
            f.seek(max(size - block, block))
            h.update(f.read(block))
    return h.hexdigest()


def _sf_reason(exc: Exception, path: str) -> str:
    msg = str(exc).strip()
    # libsndfile's message is prefixed with the path; keep the part that says why
    if "Error opening" in msg and ":" in msg:
        msg = msg.rsplit(":", 1)[-1].strip()
    if "does not exist" in msg and os.path.isfile(path):
        # libsndfile says this of a regular file its MPEG reader finds no frames in
        msg = "not a recognised audio format"
    return msg or type(exc).__name__


def _os_reason(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else str(exc)
