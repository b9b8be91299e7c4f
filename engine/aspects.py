"""Cheap spectral front-end and perceptual aspects: pure functions, arrays in, arrays out.

Everything here works on mono float32 audio at :data:`engine.audio.SAMPLE_RATE` (the first
2 s) with one single-precision real FFT over framed audio and cached filter banks, so a file's
features cost about a millisecond (the original 256-band, n_fft 4096 mel image costs ~12 ms).
Shapes follow librosa: spectrograms are ``(n_bins, n_frames)``.

The perceptual aspects (loudness envelope, pitch class and tonalness, spectral shape) are
small vectors meant to be compared by cosine similarity after L2 normalisation, each as one
named slice of an embedding (see :class:`engine.model.base.Encoder.aspects`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .audio import DURATION, SAMPLE_RATE
from .features import rfft_rows

N_SAMPLES = int(round(SAMPLE_RATE * DURATION))


def fix_length(y: np.ndarray, *, n_samples: int = N_SAMPLES) -> np.ndarray:
    """Crop or zero-pad mono audio ``(n,)`` to exactly ``(n_samples,)`` float32 (NaN -> 0)."""
    y = np.nan_to_num(np.asarray(y, dtype=np.float32).reshape(-1), nan=0.0, posinf=0.0,
                      neginf=0.0)
    if y.shape[0] >= n_samples:
        return y[:n_samples]
    return np.pad(y, (0, n_samples - y.shape[0]))


@lru_cache(maxsize=8)
def _hann(n_fft: int) -> np.ndarray:
    n = np.arange(n_fft)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)).astype(np.float32)  # periodic


@lru_cache(maxsize=8)
def mel_basis(*, sr: int = SAMPLE_RATE, n_fft: int = 2048, n_mels: int = 64,
              fmin: float = 20.0, fmax: float | None = None) -> np.ndarray:
    """Slaney-normalised mel filter bank ``(n_mels, 1 + n_fft // 2)`` float32 (librosa's)."""
    from .features import mel_filters

    return mel_filters(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
                       fmax=fmax if fmax else sr / 2.0)


@lru_cache(maxsize=8)
def logf_basis(*, sr: int = SAMPLE_RATE, n_fft: int = 2048, n_bins: int = 64,
               fmin: float = 40.0, fmax: float = 10_240.0,
               min_half_width: float = 2.0) -> np.ndarray:
    """Log-frequency filter bank ``(n_bins, 1 + n_fft // 2)`` float32.

    Triangular filters centred on ``n_bins`` geometrically spaced frequencies from ``fmin`` to
    ``fmax`` (the default: 8 octaves, 8 bins per octave), each with a half width of one bin
    spacing but at least ``min_half_width`` FFT bins, and unit area.  On this axis a pitch
    shift is a translation (an octave is ``n_bins / octaves`` bins), which a CNN with global
    pooling turns into near pitch invariance -- unlike the mel scale, linear below 1 kHz where
    most fundamentals lie.
    """
    freqs = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    centres = np.geomspace(fmin, fmax, n_bins)
    ratio = (fmax / fmin) ** (1.0 / max(n_bins - 1, 1))
    basis = np.zeros((n_bins, freqs.size), dtype=np.float64)
    for i, fc in enumerate(centres):
        half = max(fc * (ratio - 1.0), min_half_width * freqs[1])
        basis[i] = np.maximum(0.0, 1.0 - np.abs(freqs - fc) / half)
        basis[i] /= max(basis[i].sum(), 1e-12)
    basis = basis.astype(np.float32)
    basis.flags.writeable = False
    return basis


@lru_cache(maxsize=8)
def chroma_basis(*, sr: int = SAMPLE_RATE, n_fft: int = 2048) -> np.ndarray:
    """Chroma filter bank ``(12, 1 + n_fft // 2)`` float32 (librosa's), C first."""
    from .features import chroma_filters

    return chroma_filters(sr=sr, n_fft=n_fft)


def n_frames(*, n_samples: int = N_SAMPLES, hop_length: int = 345) -> int:
    """Number of frames :func:`power_spectrogram` returns."""
    return 1 + n_samples // hop_length


def power_spectrogram(y: np.ndarray, *, n_fft: int = 2048, hop_length: int = 345,
                      n_samples: int = N_SAMPLES) -> np.ndarray:
    """Centred periodic-Hann STFT power.

    y : shape (n,), cropped or zero-padded to ``n_samples`` first, so the output shape is fixed:
    ``(1 + n_fft // 2, 1 + n_samples // hop_length)`` float32.
    """
    y = np.pad(fix_length(y, n_samples=n_samples), (n_fft // 2, n_fft // 2))
    frames = np.lib.stride_tricks.as_strided(
        y, shape=(n_frames(n_samples=n_samples, hop_length=hop_length), n_fft),
        strides=(y.strides[0] * hop_length, y.strides[0]), writeable=False)
    spec = rfft_rows(frames * _hann(n_fft))  # float32 in, complex64 out
    return np.ascontiguousarray((spec.real ** 2 + spec.imag ** 2).T, dtype=np.float32)


def power_to_unit_db(power: np.ndarray, *, top_db: float = 80.0) -> np.ndarray:
    """Power (any shape) -> dB relative to its maximum, floored at ``-top_db``, mapped to 0..1.

    Gain-invariant.  Silence (all zeros) maps to all zeros, never NaN.  Batched input
    ``(n, ...)`` is scaled per item along all but the first axis when ``power.ndim == 3``.
    """
    db = 10.0 * np.log10(np.maximum(power, 1e-20))
    axes = tuple(range(1, db.ndim)) if db.ndim == 3 else None
    db = db - db.max(axis=axes, keepdims=axes is not None)
    return ((np.maximum(db, -top_db) + top_db) / top_db).astype(np.float32)


def log_mel(power: np.ndarray, *, basis: np.ndarray, top_db: float = 80.0) -> np.ndarray:
    """Log-mel spectrogram scaled to 0..1 (1 = the loudest cell, 0 = ``top_db`` below it).

    power : ``(1 + n_fft // 2, t)``; basis : ``(n_mels, 1 + n_fft // 2)``.
    Returns ``(n_mels, t)`` float32.
    """
    return power_to_unit_db(basis @ power, top_db=top_db)


def envelope(power: np.ndarray, *, n_points: int = 32, floor_db: float = 60.0) -> np.ndarray:
    """Loudness envelope over the 2 s: frame energy in dB relative to its maximum, floored at
    ``-floor_db``, mapped to 0..1 and averaged into ``n_points`` equal time blocks.

    power : ``(f, t)`` with ``t >= n_points``.  Returns ``(n_points,)`` float32 (zeros for
    silence).
    """
    e = power.sum(axis=0, dtype=np.float64)
    if not np.any(e > 0):
        return np.zeros(n_points, dtype=np.float32)
    db = 10.0 * np.log10(np.maximum(e, 1e-20))
    lin = (np.maximum(db - db.max(), -floor_db) + floor_db) / floor_db
    edges = np.linspace(0, lin.shape[0], n_points + 1).astype(int)
    return (np.add.reduceat(lin, edges[:-1]) / np.diff(edges)).astype(np.float32)


def pitch_profile(power: np.ndarray, *, basis: np.ndarray, frame_step: int = 4) -> np.ndarray:
    """Pitch class and tonalness: ``(f, t)`` power -> ``(13,)`` float32.

    The first 12 values are the energy-weighted mean chroma (C first), scaled to sum to the
    tonalness; the last is ``1 - tonalness``.  Noisy sounds (drums) therefore resemble each
    other and tonal ones compare by pitch class.  Tonalness is one minus the energy-weighted
    spectral flatness (geometric over arithmetic mean of the power spectrum).  ``basis``:
    ``(12, f)`` from :func:`chroma_basis`.  The flatness is estimated on every
    ``frame_step``-th frame (the logarithm of every cell was a fifth of the features' cost).
    """
    out = np.zeros(13, dtype=np.float32)
    w = power.sum(axis=0, dtype=np.float64)
    if not np.any(w > 0):
        out[12] = 1.0
        return out
    w = w / w.sum()
    step = max(1, int(frame_step))
    p = power[:, ::step] + np.float32(1e-12)  # float32 throughout: this is the costly line
    flatness = np.exp(np.log(p).mean(axis=0, dtype=np.float64)) / p.mean(axis=0,
                                                                          dtype=np.float64)
    ws = w[::step]
    tonal = float(np.clip(1.0 - (flatness * ws).sum() / max(ws.sum(), 1e-300), 0.0, 1.0))
    chroma = (basis @ power).astype(np.float64) @ w
    chroma = chroma / max(chroma.sum(), 1e-20)
    out[:12] = chroma * tonal
    out[12] = 1.0 - tonal
    return out


def spectral_shape(logmel: np.ndarray, *, n_bands: int = 16) -> np.ndarray:
    """Average spectrum shape: the time-mean of a 0..1 log-mel ``(n_mels, t)``, averaged into
    ``n_bands`` bands and centred (mean removed), so brightness and tilt compare by cosine.
    Returns ``(n_bands,)`` float32."""
    prof = logmel.mean(axis=1, dtype=np.float64)
    edges = np.linspace(0, prof.shape[0], n_bands + 1).astype(int)
    bands = np.add.reduceat(prof, edges[:-1]) / np.diff(edges)
    return (bands - bands.mean()).astype(np.float32)
