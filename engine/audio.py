"""Audio file reading: the only module in Soundalike that opens audio files.

Everything libsndfile reads (WAV at any bit depth, AIFF, FLAC, OGG/Vorbis/Opus, MP3 with
libsndfile >= 1.1) is loaded as mono float32 at :data:`SAMPLE_RATE`, and only the first
:data:`DURATION` seconds are ever decoded, so a ten-minute file costs about what a two-second one
does.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

SAMPLE_RATE = 22_050
DURATION = 2.0

#: file name extensions Soundalike indexes (lower case, with the dot)
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".aif", ".aiff", ".aifc", ".flac", ".ogg", ".oga", ".opus", ".mp3"}
)


class AudioError(Exception):
    """A file could not be read as audio; ``reason`` says why in plain words."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def is_audio_name(path: str | os.PathLike) -> bool:
    """True when the file name has an audio extension Soundalike indexes."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def load_audio(path: str | os.PathLike, *, sr: int = SAMPLE_RATE,
               duration: float = DURATION) -> np.ndarray:
    """Read the first ``duration`` seconds of ``path`` as mono float32 at ``sr`` Hz.

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
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise AudioError(path, f"not readable as audio ({_sf_reason(exc)})") from None
    except OSError as exc:
        raise AudioError(path, _os_reason(exc)) from None
    if data.shape[0] == 0:
        raise AudioError(path, "contains no audio frames")
    y = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    if native_sr != sr:
        y = resample(y, orig_sr=native_sr, target_sr=sr)
    return np.ascontiguousarray(y[: int(round(duration * sr))], dtype=np.float32)


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


def _sf_reason(exc: Exception) -> str:
    msg = str(exc).strip()
    # libsndfile's message is prefixed with the path; keep the part that says why
    if "Error opening" in msg and ":" in msg:
        msg = msg.rsplit(":", 1)[-1].strip()
    return msg or type(exc).__name__


def _os_reason(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else str(exc)
