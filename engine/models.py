"""The model's life cycle: which model is active, loading its encoder, warming it up, and what
its aspects are.

``ActiveModel`` loads the encoder lazily (answering a query for an indexed file never needs it,
nor TensorFlow) through ``engine.model.registry.load_encoder``, and serialises calls into it with
one lock (``lock``), shared with the indexing pipeline.
"""
from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path
from typing import Mapping

import numpy as np

from . import calibration
from .audio import SAMPLE_RATE, AudioError, load_audio
from .datadir import ensure_private_dir
from .errors import QueryError
from .model.base import Encoder
from .model.registry import PACKAGED_DEFAULT, ModelError, load_encoder, model_id_of, read_spec
from .pipeline import embed_features


def active_model_dir(data_dir: str | os.PathLike) -> Path:
    """The user's trained model (``models/active`` names it) or the packaged default."""
    pointer = Path(data_dir) / "models" / "active"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except OSError:
        return PACKAGED_DEFAULT
    candidate = Path(data_dir) / "models" / name
    return candidate if (candidate / "encoder.json").is_file() else PACKAGED_DEFAULT


def activate_model(data_dir: str | os.PathLike, name: str) -> None:
    """Make ``models/NAME`` the model later indexing and queries use."""
    models = ensure_private_dir(Path(data_dir) / "models")
    tmp = models / "active.tmp"
    tmp.write_text(name + "\n", encoding="utf-8")
    os.replace(tmp, models / "active")

_UNREAD = object()  # ActiveModel._calibration before calibration.json was read


class ActiveModel:
    """The encoder of one data dir (given, or the active model dir's), loaded on first use."""

    def __init__(self, data_dir: str | os.PathLike, *, encoder: Encoder | None = None,
                 model_dir: str | os.PathLike | None = None) -> None:
        self._encoder = encoder
        self.model_dir = Path(model_dir) if model_dir else active_model_dir(data_dir)
        self.model_id = encoder.model_id if encoder is not None else model_id_of(self.model_dir)
        #: held around every call into the encoder (queries and the indexing pipeline)
        self.lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._calibration = _UNREAD

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    def encoder(self) -> Encoder:
        """The encoder, loaded on first use (this may import TensorFlow)."""
        with self._load_lock:
            if self._encoder is None:
                encoder = load_encoder(self.model_dir)
                if encoder.model_id != self.model_id:
                    raise ModelError(f"the model at {self.model_dir} changed while in use "
                                     f"({encoder.model_id}, expected {self.model_id}): restart")
                self._encoder = encoder
            return self._encoder

    def warm_up(self) -> None:
        """Load the encoder and let it prepare for its first call."""
        encoder = self.encoder()
        encoder.features(np.zeros(SAMPLE_RATE // 2, dtype=np.float32))  # caches (filter banks)
        with self.lock:
            encoder.warm_up()

    def embed_file(self, path: str) -> np.ndarray:
        """Embed one file that need not be indexed (raises QueryError)."""
        if not os.path.exists(path):
            raise QueryError(f"no such file: {path}")
        try:
            y = load_audio(path)
        except AudioError as exc:
            raise QueryError(f"not audio: {exc.reason}") from None
        encoder = self.encoder()
        with self.lock:
            return embed_features(encoder, encoder.features(y)[None])[0]

    def close(self) -> None:
        if self._encoder is not None:
            self._encoder.close()

    # -- calibrated similarity ------------------------------------------------------------
    def calibration(self) -> dict | None:
        """The model's ``calibration.json`` (engine/calibration.py), read once; None if none."""
        with self._load_lock:
            if self._calibration is _UNREAD:  # only the calibration of the model in use
                try:
                    own = model_id_of(self.model_dir) == self.model_id
                except ModelError:
                    own = False
                self._calibration = calibration.load(self.model_dir) if own else None
            return self._calibration

    def calibrated(self, results: list) -> list:
        """``results`` (engine.service.Result) with their calibrated similarity filled in
        (unchanged when the model has no calibration)."""
        cal = self.calibration()
        if cal is None or not results:
            return results
        sims = calibration.apply(cal, [r.score for r in results])
        return [dataclasses.replace(r, similarity=round(float(v), 4))
                for r, v in zip(results, sims)]

    # -- aspects ---------------------------------------------------------------------------
    def aspects(self) -> dict[str, tuple[int, int]]:
        if self._encoder is not None:
            return dict(self._encoder.aspects)
        spec = read_spec(self.model_dir)
        if "aspects" in spec:
            return {k: (int(v[0]), int(v[1])) for k, v in spec["aspects"].items()}
        return dict(self.encoder().aspects)

    def default_weights(self) -> dict[str, float]:
        """Aspect weights of a plain query: what the model's ``encoder.json`` (or the loaded
        encoder) says; ``{}`` (equal weights) when it says nothing.  Never loads a model."""
        if self._encoder is not None:
            return {k: float(v) for k, v in self._encoder.default_weights.items()}
        spec = read_spec(self.model_dir)
        return {k: float(v) for k, v in (spec.get("default_weights") or {}).items()}

    def weights_vector(self, *, mode: str | None = None,
                       weights: Mapping[str, float] | None = None) -> np.ndarray | None:
        """Per-dimension query weights for a mode or aspect weights (None: plain cosine)."""
        default = self.default_weights()
        if mode in (None, "", "default") and not weights and len(set(default.values())) <= 1:
            return None  # equal weights: plain cosine
        aspects = self.aspects()
        if mode not in (None, "", "default"):
            if mode not in aspects:
                raise QueryError(f"unknown mode {mode!r} (modes: default, "
                                 + ", ".join(sorted(aspects)) + ")")
            w = {name: (1.0 if name == mode else 0.0) for name in aspects}
        else:
            w = {name: default.get(name, 1.0) for name in aspects}
        for name, value in (weights or {}).items():
            if name not in aspects:
                raise QueryError(f"unknown aspect {name!r} (aspects: "
                                 + ", ".join(sorted(aspects)) + ")")
            if not np.isfinite(value) or value < 0:
                raise QueryError(f"aspect weight for {name!r} must be a number >= 0")
            w[name] = float(value)
        total = sum(w.values())
        if total <= 0:
            raise QueryError("at least one aspect weight must be above 0")
        dim = max(stop for _, stop in aspects.values())
        vec = np.zeros(dim, dtype=np.float32)
        for name, (start, stop) in aspects.items():
            vec[start:stop] = w[name] * len(aspects) / total
        return vec
