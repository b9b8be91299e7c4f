"""Pure feature functions: arrays in, arrays out (no file I/O here).

``mel_image`` is the original design's 256x256 mel-spectrogram image (see ORIGIN.md).

Everything here is numpy alone: the filter banks (:func:`mel_filters`, :func:`chroma_filters`),
the STFT power (:func:`stft_power`, one real FFT over framed audio), dB scaling and MFCCs
reproduce librosa's (0.10, 0.11) defaults to float32 precision -- the tests check them against
librosa, which is only a test dependency: it and what it pulls (numba, llvmlite, scipy) would
be most of a light install's size and a tenth of the daemon's memory.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .audio import SAMPLE_RATE


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default, ``htk=False``): linear below 1 kHz, log above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = np.log(6.4) / 27.0
    lin = f / f_sp
    log = min_log_hz / f_sp + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log, lin)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)),
                    f_sp * m)


@lru_cache(maxsize=16)
def mel_filters(*, sr: int = SAMPLE_RATE, n_fft: int = 2048, n_mels: int = 128,
                fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Slaney-normalised triangular mel filter bank ``(n_mels, 1 + n_fft // 2)`` float32, as
    ``librosa.filters.mel`` (``htk=False, norm="slaney"``).  Read-only (cached)."""
    fmax = float(sr) / 2.0 if fmax is None else float(fmax)
    fftfreqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    out = weights.astype(np.float32)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=16)
def chroma_filters(*, sr: int = SAMPLE_RATE, n_fft: int = 2048, n_chroma: int = 12,
                   ctroct: float = 5.0, octwidth: float = 2.0) -> np.ndarray:
    """Chroma filter bank ``(n_chroma, 1 + n_fft // 2)`` float32, C first, as
    ``librosa.filters.chroma`` (Gaussian bumps per FFT bin, columns L2-normalised, weighted
    by a Gaussian over octaves centred on octave ``ctroct``).  Read-only (cached)."""
    frequencies = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    frqbins = n_chroma * np.log2(frequencies / (440.0 / 16))
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidthbins = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1]))
    D = np.subtract.outer(frqbins, np.arange(0, n_chroma, dtype=np.float64)).T
    half = np.round(float(n_chroma) / 2)
    D = np.remainder(D + half + 10 * n_chroma, n_chroma) - half
    wts = np.exp(-0.5 * (2 * D / binwidthbins[None, :]) ** 2)
    norms = np.sqrt((wts ** 2).sum(axis=0, keepdims=True))
    wts = wts / np.where(norms < np.finfo(np.float64).tiny, 1.0, norms)
    wts *= np.exp(-0.5 * (((frqbins / n_chroma - ctroct) / octwidth) ** 2))[None, :]
    wts = np.roll(wts, -3 * (n_chroma // 12), axis=0)
    out = np.ascontiguousarray(wts[:, : int(1 + n_fft / 2)], dtype=np.float32)
    out.flags.writeable = False
    return out


def rfft_rows(frames: np.ndarray) -> np.ndarray:
    """The real FFT of each row of ``frames`` (float32 ``(n, n_fft)``), complex.

    ducc0 (the successor of the pocketfft that numpy and scipy use; a 3-4 MB wheel) is about
    three times as fast as ``numpy.fft`` here, whose float32 transform is not vectorised; the
    STFT is the largest part of the features' cost.  Without ducc0, numpy in float64."""
    try:
        import ducc0
    except ImportError:
        return np.fft.rfft(np.asarray(frames, dtype=np.float64), axis=1)
    return ducc0.fft.r2c(np.ascontiguousarray(frames, dtype=np.float32), axes=(1,), nthreads=1)


class BandedFilters:
    """A filter bank whose rows are each non-zero over one run of FFT bins (triangular
    filters), applied row by row to the bins it covers only: ``apply(power)`` equals
    ``basis @ power`` to float32 rounding at a fraction of the cost (the 64-bin log-frequency
    bank has 2,094 non-zero weights of 65,600: 0.2 ms a file instead of 2 ms)."""

    def __init__(self, basis: np.ndarray) -> None:
        basis = np.asarray(basis, dtype=np.float32)
        self.shape = basis.shape
        self._rows = []
        for row in basis:
            nz = np.flatnonzero(row)
            lo, hi = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
            self._rows.append((lo, hi, np.ascontiguousarray(row[lo:hi])))

    def apply(self, power: np.ndarray) -> np.ndarray:
        """``(n_bins, t)`` float32 from ``(1 + n_fft // 2, t)`` power."""
        power = np.ascontiguousarray(power, dtype=np.float32)
        if power.shape[0] != self.shape[1]:
            raise ValueError(f"power has {power.shape[0]} bins, the filters {self.shape[1]}")
        out = np.zeros((self.shape[0], power.shape[1]), np.float32)
        for i, (lo, hi, w) in enumerate(self._rows):
            if hi > lo:
                np.dot(w, power[lo:hi], out=out[i])
        return out


@lru_cache(maxsize=16)
def hann(n_fft: int) -> np.ndarray:
    """Periodic Hann window (librosa's and scipy's ``"hann"``), float32, read-only."""
    n = np.arange(n_fft)
    w = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)).astype(np.float32)
    w.flags.writeable = False
    return w


def stft_power(y: np.ndarray, *, n_fft: int = 2048, hop_length: int = 512) -> np.ndarray:
    """Centred (zero-padded by ``n_fft // 2``) periodic-Hann STFT power
    ``(1 + n_fft // 2, 1 + len(y) // hop_length)`` float32, as ``abs(librosa.stft(y)) ** 2``
    with ``pad_mode="constant"``.  ``y`` must hold at least one sample."""
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    y = np.pad(y, (n_fft // 2, n_fft // 2))
    n = 1 + (y.shape[0] - n_fft) // hop_length
    frames = np.lib.stride_tricks.as_strided(
        y, shape=(n, n_fft), strides=(y.strides[0] * hop_length, y.strides[0]), writeable=False)
    spec = rfft_rows(frames * hann(n_fft))
    return np.ascontiguousarray((spec.real ** 2 + spec.imag ** 2).T, dtype=np.float32)


def power_to_db(S: np.ndarray, *, ref: float | str = 1.0, amin: float = 1e-10,
                top_db: float | None = 80.0) -> np.ndarray:
    """``librosa.power_to_db``: ``10 log10(max(S, amin) / ref)`` floored ``top_db`` below the
    maximum; ``ref="max"`` is relative to the largest value."""
    S = np.asarray(S)
    ref_value = float(np.max(S)) if ref == "max" else float(ref)
    db = 10.0 * np.log10(np.maximum(amin, S))
    db -= 10.0 * np.log10(max(amin, ref_value))
    if top_db is not None:
        db = np.maximum(db, db.max() - top_db)
    return db


@lru_cache(maxsize=8)
def _dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II rows ``(n_out, n_in)`` (``scipy.fft.dct(norm="ortho")``)."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    m = np.sqrt(2.0 / n_in) * np.cos(np.pi * (n + 0.5) * k / n_in)
    m[0] /= np.sqrt(2.0)
    m.flags.writeable = False
    return m


def mfcc(y: np.ndarray, *, sr: int = SAMPLE_RATE, n_mfcc: int = 20, n_fft: int = 2048,
         hop_length: int = 512, n_mels: int = 128) -> np.ndarray:
    """MFCCs ``(n_mfcc, t)`` as ``librosa.feature.mfcc`` with these arguments (Slaney mel
    power in dB, top 80 dB, orthonormal DCT-II)."""
    power = stft_power(y, n_fft=n_fft, hop_length=hop_length)
    S = power_to_db(mel_filters(sr=sr, n_fft=n_fft, n_mels=n_mels) @ power)
    return (_dct_matrix(n_mfcc, n_mels) @ S).astype(np.float32)


def delta(data: np.ndarray, *, width: int = 9) -> np.ndarray:
    """First-order deltas along the last axis, as ``librosa.feature.delta(data, width=width,
    mode="nearest")``: the local least-squares slope over ``width`` (odd, >= 3) frames, the
    edges extended with their end values."""
    if width < 3 or width % 2 == 0:
        raise ValueError("width must be an odd integer >= 3")
    h = width // 2
    k = np.arange(-h, h + 1, dtype=np.float64)
    padded = np.pad(np.asarray(data, dtype=np.float64), [(0, 0)] * (data.ndim - 1) + [(h, h)],
                    mode="edge")
    t = data.shape[-1]
    out = sum(w * padded[..., h + j: h + j + t] for j, w in zip(range(-h, h + 1), k))
    return (out / (k ** 2).sum()).astype(data.dtype)


def mel_image(y: np.ndarray, *, sr: int = SAMPLE_RATE, n_mels: int = 256, n_fft: int = 4096,
              fmin: float = 20.0, fmax: float = 11_025.0, frames: int = 256,
              bits: int = 16) -> np.ndarray:
    """The original mel image of a mono signal.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
        Mono audio (2 s from where the sound starts: :func:`engine.audio.load_audio`).
        Shorter than ``n_fft`` is zero-padded to ``n_fft``.

    Returns
    -------
    np.ndarray, shape (n_mels, frames, 1), float32 in [0, 1]
        dB mel power relative to the maximum, cropped or padded to ``frames`` frames,
        quantised to ``bits`` bits, low frequencies at the bottom (row ``n_mels - 1``).
        A silent or constant signal gives an all-zero image (never NaN).
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    if y.size < n_fft:
        y = np.pad(y, (0, n_fft - y.size))
    hop = max(y.size // frames, 1)
    S = mel_filters(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax) @ stft_power(
        y, n_fft=n_fft, hop_length=hop)
    S_db = power_to_db(S, ref="max")
    if S_db.shape[1] >= frames:
        S_db = S_db[:, :frames]
    else:
        S_db = np.pad(S_db, ((0, 0), (0, frames - S_db.shape[1])), constant_values=S_db.min())
    return scale_image(S_db, bits=bits)[::-1, :, None].copy()


def scale_image(S: np.ndarray, *, bits: int = 16) -> np.ndarray:
    """Min-max scale a 2-D array to ``bits``-bit integer levels, returned as float32 in [0, 1].

    A constant array (max == min, e.g. silence) gives zeros instead of dividing by zero.
    """
    S = np.asarray(S, dtype=np.float64)
    lo, hi = float(np.min(S)), float(np.max(S))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo <= 1e-12:
        return np.zeros(S.shape, dtype=np.float32)
    levels = (1 << bits) - 1
    q = np.round((S - lo) / (hi - lo) * levels)
    return (q / levels).astype(np.float32)


def l2_normalise(x: np.ndarray, *, aspects=None, eps: float = 1e-12) -> np.ndarray:
    """L2-normalise each row of ``x`` (shape (n, dim)), per aspect slice when given.

    ``aspects``: iterable of ``(start, stop)``; each slice of each row gets unit norm, then the
    row is divided by sqrt(number of aspects) so that the whole row has unit norm too.
    A zero slice stays zero (never NaN).
    """
    x = np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    x = np.atleast_2d(x).copy()
    spans = list(aspects) if aspects is not None else [(0, x.shape[1])]
    for start, stop in spans:
        part = x[:, start:stop]
        norms = np.linalg.norm(part, axis=1, keepdims=True)
        x[:, start:stop] = np.where(norms > eps, part / np.maximum(norms, eps), 0.0)
    if len(spans) > 1:
        x /= np.sqrt(len(spans))
    return x
