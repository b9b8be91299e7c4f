"""Pure feature functions: arrays in, arrays out (no file I/O here).

``mel_image`` is the original design's 256x256 mel-spectrogram image (see ORIGIN.md).
"""
from __future__ import annotations

import numpy as np

from .audio import SAMPLE_RATE


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
    import librosa

    y = np.asarray(y, dtype=np.float32).reshape(-1)
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    if y.size < n_fft:
        y = np.pad(y, (0, n_fft - y.size))
    hop = max(y.size // frames, 1)
    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels,
                                       fmin=fmin, fmax=fmax)
    S_db = librosa.power_to_db(S, ref=np.max)
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
