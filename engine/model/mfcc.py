"""MFCC statistics: a small deterministic encoder with no TensorFlow (numpy alone).

Each file becomes the mean and standard deviation over time of 20 MFCCs plus the first-order
deltas' means and deviations (80 values).  It is the quality baseline and the fast encoder the
tests use; it needs no training, so its "weights" are its configuration.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import features as F
from ..audio import SAMPLE_RATE
from .base import Encoder
from .registry import write_spec


class MfccEncoder(Encoder):
    kind = "mfcc"

    def __init__(self, *, n_mfcc: int = 20, n_fft: int = 2048, hop_length: int = 512,
                 n_mels: int = 64, sr: int = SAMPLE_RATE) -> None:
        self.n_mfcc, self.n_fft, self.hop_length, self.n_mels, self.sr = (
            n_mfcc, n_fft, hop_length, n_mels, sr)

    @property
    def config(self) -> dict:
        return {"n_mfcc": self.n_mfcc, "n_fft": self.n_fft, "hop_length": self.hop_length,
                "n_mels": self.n_mels, "sr": self.sr}

    @property
    def model_id(self) -> str:
        import hashlib

        digest = hashlib.sha256(json.dumps(self.config, sort_keys=True).encode()).hexdigest()
        return f"mfcc-{digest[:12]}"

    @property
    def dim(self) -> int:
        return 4 * self.n_mfcc

    def features(self, y: np.ndarray) -> np.ndarray:
        return mfcc_stats(y, sr=self.sr, n_mfcc=self.n_mfcc, n_fft=self.n_fft,
                          hop_length=self.hop_length, n_mels=self.n_mels)

    def _embed(self, batch: np.ndarray) -> np.ndarray:
        # the statistics are the embedding (mfcc_stats already scaled MFCC 0 down)
        return batch.reshape(-1, self.dim).copy()

    def save(self, model_dir) -> None:
        write_spec(model_dir, {"kind": self.kind, "model_id": self.model_id, **self.config})


def mfcc_stats(y: np.ndarray, *, sr: int = SAMPLE_RATE, n_mfcc: int = 20, n_fft: int = 2048,
               hop_length: int = 512, n_mels: int = 64) -> np.ndarray:
    """Mean and standard deviation of MFCCs and their deltas.

    y : shape (n,) mono audio.  Returns shape (4 * n_mfcc,) float32; silence gives zeros.
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if y.size < n_fft:
        y = np.pad(y, (0, n_fft - y.size))
    if not np.any(np.abs(y) > 1e-8):
        return np.zeros(4 * n_mfcc, dtype=np.float32)
    m = F.mfcc(y, sr=sr, n_mfcc=n_mfcc, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)
    d = F.delta(m, width=min(9, m.shape[1] if m.shape[1] % 2 else m.shape[1] - 1)) \
        if m.shape[1] >= 3 else np.zeros_like(m)
    out = np.concatenate([m.mean(axis=1), m.std(axis=1), d.mean(axis=1), d.std(axis=1)])
    # MFCC 0 (loudness) would dominate the cosine: scale it down to the others' range
    out[0] /= 10.0
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def load(model_dir: Path) -> MfccEncoder:
    spec = json.loads((Path(model_dir) / "encoder.json").read_text(encoding="utf-8"))
    keys = ("n_mfcc", "n_fft", "hop_length", "n_mels", "sr")
    return MfccEncoder(**{k: int(spec[k]) for k in keys if k in spec})
