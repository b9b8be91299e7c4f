"""Training an encoder on a user's own samples (``soundalike train``)."""
from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from .model.base import Encoder
from .errors import EngineError

#: kind -> "module:function" with signature train_files(paths, *, epochs, on_epoch, on_load)
TRAINERS: dict[str, str] = {
    "autoencoder": "engine.model.autoencoder:train_files",
    "contrastive": "engine.model.contrastive:train_files",
}
#: contrastive: folder names as weak labels when present, else augmentation-only (SimCLR-style)
DEFAULT_KIND = "contrastive"
#: what training imports beyond the light install (the ``train`` extra)
TRAINING_MODULES = ("tensorflow", "keras", "onnx", "scipy")
TRAINING_EXTRA_MISSING = ("training needs TensorFlow, which the light install leaves out: "
                          "install the train extra, pip install 'soundalike[train]' "
                          "(in a clone: .venv/bin/pip install '.[train]')")


class TrainingError(EngineError):
    """Training cannot start or failed (too few files, unknown kind)."""


def train_model(kind: str, paths: list[str], *, epochs: int | None, models_dir: str | os.PathLike,
                on_epoch: Callable[[int, int, dict], None] | None = None,
                on_load: Callable[[int, int], None] | None = None,
                stop: threading.Event | None = None,
                members: int | None = None) -> tuple[str, Encoder]:
    """Train an encoder of ``kind`` on ``paths`` and save it under ``models_dir``.

    ``members`` (contrastive only): an ensemble of that many networks, None for the default.

    Returns (the model directory's name, the encoder).  The model is written to a temporary
    folder first and moved into place whole.
    """
    if kind not in TRAINERS:
        raise TrainingError(f"unknown model kind {kind!r} (kinds: {', '.join(sorted(TRAINERS))})")
    if not all(importlib.util.find_spec(m) for m in TRAINING_MODULES):
        raise TrainingError(TRAINING_EXTRA_MISSING)
    if len(paths) < 2:
        raise TrainingError(f"need at least 2 audio files to train, found {len(paths)}")
    if members is not None and kind != "contrastive":
        raise TrainingError(f"--members applies to the contrastive kind, not {kind}")
    module_name, func = TRAINERS[kind].split(":")
    trainer = getattr(importlib.import_module(module_name), func)
    extra = {} if epochs is None else {"epochs": epochs}  # None: the kind's own default
    if members is not None:
        extra["members"] = members
    encoder = trainer(paths, on_epoch=on_epoch, on_load=on_load, **extra)
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".training-", dir=models_dir))
    try:
        encoder.save(tmp)
        name = encoder.model_id
        target = models_dir / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return name, encoder


def load_features(paths: list[str], featurise: Callable[[np.ndarray], np.ndarray], *,
                  on_load: Callable[[int, int], None] | None = None
                  ) -> tuple[np.ndarray, list[str]]:
    """Decode and featurise ``paths``, skipping unreadable files; (features, used paths)."""
    from .audio import AudioError, load_audio

    feats, used = [], []
    for i, p in enumerate(paths, 1):
        try:
            feats.append(featurise(load_audio(p)))
            used.append(p)
        except AudioError:
            pass
        if on_load is not None:
            on_load(i, len(paths))
    if len(feats) < 2:
        raise TrainingError(f"need at least 2 readable audio files to train, found {len(feats)}")
    return np.stack(feats).astype(np.float32), used
