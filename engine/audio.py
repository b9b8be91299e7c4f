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
    :data:`MAX_LEAD` seconds, and at most :data:`MAX_LEAD_SAMPLES` decoded samples, are
    skipped), else at the start of the file.
    Returns a 1-D array of at most ``round(duration * sr)`` samples (shorter files stay
    shorter; padding is the features' business).  Non-finite samples are replaced by 0.

    Whatever a header claims, the work is bounded: a sample rate outside
    :data:`MIN_SAMPLE_RATE`..:data:`MAX_SAMPLE_RATE` or more than :data:`MAX_CHANNELS`
    channels is refused before anything is decoded, frames are decoded in chunks of at most
    :data:`CHUNK_SAMPLES` samples and mixed to mono as they come, and no more frames are
    asked for than ``duration`` (plus the skipped lead) needs -- never the frame count the
    header states.  Memory per call is a few megabytes (:func:`decode_budget`).

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
        with sf.SoundFile(_sf_name(path)) as f:
            native_sr, channels = int(f.samplerate), int(f.channels)
            check_header(path, samplerate=native_sr, channels=channels)
            want = int(math.ceil(duration * native_sr))
            reader = _MonoReader(f, channels)
            y = reader.read(want)
            if skip_silence:
                y = _from_sound_start(reader, y, want=want, sr=native_sr,
                                      limit=lead_limit(native_sr, channels))
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, MemoryError) as exc:
        raise AudioError(path, f"not readable as audio ({_sf_reason(exc, path)})") from None
    except OSError as exc:
        raise AudioError(path, _os_reason(exc)) from None
    if y.shape[0] == 0:
        raise AudioError(path, "contains no audio frames")
    if native_sr != sr:
        y = resample(y, orig_sr=native_sr, target_sr=sr)
    return np.ascontiguousarray(y[: int(round(duration * sr))], dtype=np.float32)


#: sample rates Soundalike decodes (Hz): 384 kHz is the highest rate audio interfaces and
#: DAWs record; a header claiming more (or less than 1 kHz) describes no real sample
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 384_000
#: at most this many channels (third-order ambisonics has 16, 9.1.6 surround 16; libsndfile
#: itself allows 1,024): 2 s at 384 kHz of 64 channels is the most one file costs to decode
MAX_CHANNELS = 64
#: frames are decoded and mixed to mono in chunks of at most this many samples (1 MiB)
CHUNK_SAMPLES = 1 << 18
#: leading silence is skipped over at most this many decoded samples (all channels), so an
#: exotic file cannot make the skip cost more than a common one: 10 s of 96 kHz stereo
MAX_LEAD_SAMPLES = int(MAX_LEAD * 96_000 * 2)


def check_header(path: str | os.PathLike, *, samplerate: int, channels: int) -> None:
    """Refuse (:class:`AudioError`) a sample rate or channel count no real sample has."""
    if channels <= 0:
        raise AudioError(path, "no audio channels")
    if channels > MAX_CHANNELS:
        raise AudioError(path, f"{channels} channels: more than the {MAX_CHANNELS} "
                               "Soundalike reads")
    if not MIN_SAMPLE_RATE <= samplerate <= MAX_SAMPLE_RATE:
        raise AudioError(path, f"sample rate {samplerate} Hz is outside what Soundalike reads "
                               f"({MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz)")


def lead_limit(samplerate: int, channels: int) -> int:
    """Frames of leading silence that may be skipped: :data:`MAX_LEAD` seconds, fewer when
    that would decode more than :data:`MAX_LEAD_SAMPLES` samples."""
    return int(min(MAX_LEAD * samplerate, MAX_LEAD_SAMPLES // max(channels, 1)))


def decode_budget(*, duration: float = DURATION) -> int:
    """An upper bound of the bytes one :func:`load_audio` call holds in decoded audio at
    once, whatever the file claims (under 14 MB): the mono window twice (the first block is
    kept while the lead is searched) and one window's per-frame peaks, one chunk and its
    temporaries, and the resampled output."""
    window = int(math.ceil(duration * MAX_SAMPLE_RATE))
    return 4 * (3 * window + 4 * CHUNK_SAMPLES + int(math.ceil(duration * SAMPLE_RATE)) * 2)


class _MonoReader:
    """Reads an open SoundFile in bounded chunks, mixed to mono as they come.

    ``peak`` of the last :meth:`read` is each frame's largest absolute sample over the
    channels (what :func:`sound_start` looks at: channels in opposite phase do not cancel)."""

    def __init__(self, f, channels: int) -> None:
        self.f = f
        self.channels = channels
        self.chunk = max(1, CHUNK_SAMPLES // channels)
        self.peak = np.zeros(0, np.float32)

    def read(self, frames: int) -> np.ndarray:
        """Up to ``frames`` frames from the current position (fewer at the end)."""
        self.peak = np.zeros(0, np.float32)  # the last read's peaks are not needed any more
        mono = np.empty(max(frames, 0), np.float32)
        peak = np.empty_like(mono)
        got = 0
        while got < frames:
            block = self.f.read(frames=min(self.chunk, frames - got), dtype="float32",
                                always_2d=True)
            n = block.shape[0]
            if n == 0:
                break
            np.nan_to_num(block, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            if self.channels > 1:
                mono[got:got + n] = block.mean(axis=1, dtype=np.float32)
                peak[got:got + n] = np.abs(block).max(axis=1)
            else:
                mono[got:got + n] = block[:, 0]
                peak[got:got + n] = np.abs(block[:, 0])
            got += n
        self.peak = peak[:got]
        return mono[:got]


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


def _from_sound_start(reader: _MonoReader, first: np.ndarray, *, want: int, sr: int,
                      limit: int) -> np.ndarray:
    """``want`` frames of the open file from where its sound starts; ``first`` is the file's
    first ``want`` frames (mono), already read.  Silent windows are read past up to frame
    ``limit``; a file without sound before it is read from its start."""
    n, pos = len(first), 0
    while (start := sound_start(reader.peak, sr=sr)) is None:
        pos += n
        if n < want or pos >= limit:
            return first
        n = len(reader.read(min(want, limit - pos)))  # only its peaks are looked at
    start += pos
    if start == 0:
        return first
    if pos == 0 and len(first) < want:  # the whole file is in ``first``
        return first[start:]
    try:
        reader.f.seek(start)
        return reader.read(want)
    except (RuntimeError, ValueError):  # a stream libsndfile cannot seek in: keep what we have
        return first[start:] if pos == 0 else first


def write_with_lead(src: str | os.PathLike, dst: str | os.PathLike, *, seconds: float) -> None:
    """Copy the audio of ``src`` to a float WAV ``dst`` with ``seconds`` of digital silence
    before it (same rate and channels): a query as a producer's bounce with a pause might be."""
    import soundfile as sf

    data, rate = sf.read(_sf_name(src), dtype="float32", always_2d=True)
    lead = np.zeros((int(round(seconds * rate)), data.shape[1]), dtype=np.float32)
    sf.write(_sf_name(dst), np.concatenate([lead, data]), rate, subtype="FLOAT", format="WAV")


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


def _sf_name(path: str | os.PathLike) -> str | bytes:
    """The name to give soundfile: the OS's bytes on POSIX (soundfile encodes a ``str``
    strictly, and a file name need not be UTF-8: its undecodable bytes are surrogate escapes
    in Python), the ``str`` on Windows (opened as UTF-16 there)."""
    return os.fspath(path) if os.name == "nt" else os.fsencode(path)


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
