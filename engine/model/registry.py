"""Finding, loading and saving encoders without importing TensorFlow until a model needs it.

A saved model is a directory holding ``encoder.json`` (``{"kind": ..., ...}``) and whatever
weight files its kind writes.  ``KINDS`` maps a kind to ``"module:function"`` loading it.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path
from typing import Any

from .base import Encoder
from ..errors import EngineError

KINDS: dict[str, str] = {
    "mfcc": "engine.model.mfcc:load",
    "autoencoder": "engine.model.autoencoder:load",
    "contrastive": "engine.model.contrastive:load",
}

#: the model shipped inside the package (trained on the dev corpus)
PACKAGED_DEFAULT = Path(__file__).resolve().parent.parent / "models" / "default"


class ModelError(EngineError):
    """A model directory is missing, unreadable or of an unknown kind."""


def read_spec(model_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(model_dir) / "encoder.json"
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"no model at {model_dir} (encoder.json missing)") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from None
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        raise ModelError(f"{path}: unknown model kind {spec.get('kind')!r}"
                         if isinstance(spec, dict) else f"{path}: not a model description")
    return spec


def model_id_of(model_dir: str | os.PathLike) -> str:
    """The model id recorded in ``encoder.json`` (cheap: no weights are loaded)."""
    spec = read_spec(model_dir)
    return str(spec.get("model_id") or f"{spec['kind']}-unversioned")


def load_encoder(model_dir: str | os.PathLike) -> Encoder:
    spec = read_spec(model_dir)
    module_name, func = KINDS[spec["kind"]].split(":")
    loader = getattr(importlib.import_module(module_name), func)
    return loader(Path(model_dir))


def weights_hash(*paths: str | os.PathLike, extra: str = "") -> str:
    """A short hash of weight files and a configuration string, for model ids."""
    h = hashlib.sha256(extra.encode())
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:12]


def write_spec(model_dir: str | os.PathLike, spec: dict[str, Any]) -> None:
    """Write ``encoder.json`` atomically (temp file + rename)."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = model_dir / "encoder.json.tmp"
    tmp.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, model_dir / "encoder.json")
