"""Tiny deterministic audio for tests (never a corpus)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def tone(freq: float, *, seconds: float = 0.5, sr: int = 22_050, decay: float = 4.0,
         amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    y = amp * np.sin(2 * np.pi * freq * t) * np.exp(-decay * t)
    y += 0.3 * amp * np.sin(2 * np.pi * 2 * freq * t) * np.exp(-2 * decay * t)
    return y.astype(np.float32)


def noise_burst(seed: int, *, seconds: float = 0.3, sr: int = 22_050,
                decay: float = 20.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * rng.standard_normal(t.size) * np.exp(-decay * t)).astype(np.float32)


def kick(freq: float = 55.0, *, seconds: float = 0.4, sr: int = 22_050) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    f = freq * (1 + 3 * np.exp(-t * 40))
    phase = 2 * np.pi * np.cumsum(f) / sr
    return (0.8 * np.sin(phase) * np.exp(-t * 8)).astype(np.float32)


def write(path: Path, y: np.ndarray, *, sr: int = 22_050, subtype: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, sr, subtype=subtype)
    return path


def write_library(folder: Path) -> Path:
    """12 one-shots in three families, in a nested folder, several formats."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate((220, 247, 262, 294)):
        write(folder / "tones" / f"tone_{i}.wav", tone(f))
    for i in range(4):
        write(folder / "noise" / f"hat_{i}.flac", noise_burst(i))
    for i, f in enumerate((45, 50, 55, 60)):
        write(folder / "kicks" / f"kick_{i}.wav", kick(f), subtype="PCM_24")
    return folder
