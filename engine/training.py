"""Training an encoder on a user's own samples (``soundalike train``).

:func:`train_checked` is what ``soundalike train`` does: it holds back part of every folder
(the folder names are the classes), fine-tunes the active model on the rest (or trains from
scratch when asked, or when the active model cannot be fine-tuned), saves the new model beside
the others, and scores the new model and the active one on the held-back files, so that the
caller switches only to a model that is better (:mod:`engine.switching`).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

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
#: kinds whose trainer can start from a trained model of the same kind (``init=``)
FINE_TUNABLE = ("contrastive",)
#: the share of each folder held back to compare the new model with the active one
HOLDOUT = 0.2
#: a folder needs this many files for some of them to be held back (the rest train)
MIN_FOLDER_FILES = 3
#: the per-model record of how it was trained and how it scored (in its folder)
TRAINING_JSON = "training.json"
#: results per held-back file whose (score, same folder) pairs fit the new model's calibration
CALIBRATION_K = 30
#: fewer pairs than this (or pairs of one kind only) fit no calibration
MIN_CALIBRATION_PAIRS = 100


class TrainingError(EngineError):
    """Training cannot start or failed (too few files, unknown kind)."""


def require_training_extra() -> None:
    """Raise TrainingError saying what to install when the ``train`` extra is missing."""
    if not all(importlib.util.find_spec(m) for m in TRAINING_MODULES):
        raise TrainingError(TRAINING_EXTRA_MISSING)


def train_model(kind: str, paths: list[str], *, epochs: int | None, models_dir: str | os.PathLike,
                on_epoch: Callable[[int, int, dict], None] | None = None,
                on_load: Callable[[int, int], None] | None = None,
                stop: threading.Event | None = None,
                members: int | None = None, init: Encoder | None = None,
                **options) -> tuple[str, Encoder]:
    """Train an encoder of ``kind`` on ``paths`` and save it under ``models_dir``.

    ``members`` (contrastive only): an ensemble of that many networks, None for the default.
    ``init``: fine-tune this trained encoder (its kind must be ``kind`` and fine-tunable).
    ``options`` go to the kind's trainer as they are.

    Returns (the model directory's name, the encoder).  The model is written to a temporary
    folder first and moved into place whole.
    """
    encoder = _train(kind, paths, epochs=epochs, members=members, init=init,
                     on_epoch=on_epoch, on_load=on_load, **options)
    return save_model(encoder, models_dir), encoder


def _train(kind: str, paths: Sequence[str], *, epochs: int | None, members: int | None,
           init: Encoder | None, on_epoch, on_load, **options) -> Encoder:
    """Run the trainer of ``kind`` (see :func:`train_model`); the encoder, not saved."""
    if kind not in TRAINERS:
        raise TrainingError(f"unknown model kind {kind!r} (kinds: {', '.join(sorted(TRAINERS))})")
    require_training_extra()
    if len(paths) < 2:
        raise TrainingError(f"need at least 2 audio files to train, found {len(paths)}")
    if members is not None and kind != "contrastive":
        raise TrainingError(f"--members applies to the contrastive kind, not {kind}")
    if init is not None and (kind not in FINE_TUNABLE or init.kind != kind):
        raise TrainingError(f"cannot fine-tune a {init.kind} model as a {kind} model")
    module_name, func = TRAINERS[kind].split(":")
    trainer = getattr(importlib.import_module(module_name), func)
    extra = dict(options)
    if epochs is not None:  # None: the kind's own default
        extra["epochs"] = epochs
    if members is not None:
        extra["members"] = members
    if init is not None:
        extra["init"] = init
    return trainer(list(paths), on_epoch=on_epoch, on_load=on_load, **extra)


def save_model(encoder: Encoder, models_dir: str | os.PathLike,
               info: Mapping | None = None, *, calibration_map: Mapping | None = None) -> str:
    """Save ``encoder`` as ``models_dir/<model id>`` (written aside, moved into place whole),
    with ``info`` as its :data:`TRAINING_JSON` and ``calibration_map`` as its
    ``calibration.json``; returns the folder's name."""
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".training-", dir=models_dir))
    try:
        encoder.save(tmp)
        if info is not None:
            write_info(tmp, info)
        if calibration_map is not None:
            from . import calibration

            calibration.save(tmp, calibration_map)
        name = encoder.model_id
        target = models_dir / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return name


def write_info(model_dir: str | os.PathLike, info: Mapping) -> None:
    path = Path(model_dir) / TRAINING_JSON
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_info(model_dir: str | os.PathLike) -> dict:
    """A model's :data:`TRAINING_JSON` (``{}`` when it has none or it is unreadable)."""
    try:
        info = json.loads((Path(model_dir) / TRAINING_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


# -- holding back files by folder ------------------------------------------------------------

@dataclass
class Holdout:
    """The user's files split for training and checking: ``labels`` maps every file to its
    folder (relative to the folders given, the class)."""
    train: list[str]
    held: list[str]
    labels: dict[str, str] = field(default_factory=dict)


def _stable_key(path: str) -> str:
    return hashlib.sha1(os.path.basename(path).encode("utf-8", "surrogateescape")).hexdigest()


def split_by_folder(paths: Sequence[str], *, fraction: float = HOLDOUT,
                    min_files: int = MIN_FOLDER_FILES) -> Holdout:
    """Hold back ``fraction`` of the files of every folder with ``min_files`` or more (at
    least one; which ones depends only on the file names, so the same files are held back
    from one run to the next).  Raises :class:`TrainingError` when fewer than two folders
    qualify: the check needs two classes."""
    by: dict[str, list[str]] = defaultdict(list)
    for p in paths:
        by[os.path.dirname(os.path.abspath(p))].append(os.path.abspath(p))
    root = os.path.commonpath(list(by)) if by else ""
    labels = {p: (os.path.relpath(d, os.path.dirname(root)) if len(by) == 1
                  else os.path.relpath(d, root))
              for d, ps in by.items() for p in ps}
    train, held, checked = [], [], 0
    for d in sorted(by):
        files = sorted(by[d], key=_stable_key)
        n_held = max(1, round(len(files) * fraction)) if len(files) >= min_files else 0
        checked += n_held > 0
        held += files[:n_held]
        train += files[n_held:]
    if checked < 2:
        big = sum(1 for ps in by.values() if len(ps) >= min_files)
        raise TrainingError(
            f"too few files to train and check a model: need at least 2 folders of "
            f"{min_files} or more audio files (the folder names are the classes, and part of "
            f"each folder is held back to check the new model), found {big} such folder"
            f"{'' if big == 1 else 's'} among {len(paths)} file{'' if len(paths) == 1 else 's'}")
    return Holdout(sorted(train), sorted(held), labels)


def score_on_files(encoder: Encoder, holdout: Holdout, *, k: int = 10,
                   work_dir: str | os.PathLike | None = None) -> dict:
    """How well ``encoder`` finds a held-back file's folder among all the user's files: the
    files are indexed with the daemon's code path (a temporary data dir), each held-back file
    asks for its ``k`` most similar, and a result is relevant when it is from the same folder.
    Returns ``{"P@1", "P@5", "mAP@10", "n"}`` (:func:`engine.evaluate.score`)."""
    return _check(encoder, holdout, k=k, work_dir=work_dir)[0]


def _check(encoder: Encoder, holdout: Holdout, *, k: int = 10,
           work_dir: str | os.PathLike | None = None) -> tuple[dict, dict]:
    """:func:`score_on_files` and the ``{"score": [...], "same": [...]}`` pairs of every
    held-back file's top :data:`CALIBRATION_K` results (the file itself left out), which a
    calibration is fitted on."""
    from .evaluate import add_pairs, score
    from .service import Library

    labels = {p: {"class": c, "source": p, "origin": "files"}
              for p, c in holdout.labels.items()}
    results: dict[str, list[str]] = {}
    pairs: dict[str, list] = {"score": [], "same": []}
    with tempfile.TemporaryDirectory(prefix="soundalike-check-", dir=work_dir) as tmp:
        lib = Library(Path(tmp) / "data", encoder=encoder)
        try:
            for folder in sorted({os.path.dirname(p) for p in labels}):
                lib.catalog.add_root(folder, "index")  # the index keeps files of its folders
            lib.embed_and_record(sorted(labels))
            indexed = set(lib.indexed_paths())
            for q in holdout.held:
                if q in indexed:
                    got = lib.similar(q, max(k, CALIBRATION_K))
                    results[q] = [r.path for r in got[:k]]
                    add_pairs(pairs, q, got[:CALIBRATION_K], labels)
        finally:
            lib.close()
    s = score(labels, results, [q for q in holdout.held if q in results])["all"]
    return ({"P@1": s["P@1"], "P@5": s["P@5"], "mAP@10": s["mAP@10"], "n": s["n"]}, pairs)


def fit_held_back(pairs: Mapping[str, Sequence]) -> tuple[dict | None, str]:
    """A calibration fitted on a new model's held-back pairs (:func:`_check`), so that its
    similarity is the chance that a result is from the query's folder on files it was not
    trained on; ``(None, why)`` when there are too few pairs, or pairs of one kind only."""
    from . import calibration

    n, pos = len(pairs["score"]), int(sum(pairs["same"]))
    if n < MIN_CALIBRATION_PAIRS:
        return None, (f"no calibrated similarity: {n} held-back pairs, fewer than "
                      f"{MIN_CALIBRATION_PAIRS}")
    if pos in (0, n):
        return None, ("no calibrated similarity: the held-back files' results are all of "
                      f"{'another' if pos == 0 else 'their own'} folder")
    return (calibration.fit(pairs["score"], pairs["same"]),
            f"similarity calibrated on {n} held-back pairs ({pos} of the query's folder)")


def is_better(new: Mapping, old: Mapping) -> bool:
    """Whether held-back scores ``new`` beat ``old``: higher P@5, or equal P@5 and higher
    mAP@10.  A tie keeps the current model."""
    if not np.isclose(new["P@5"], old["P@5"], atol=1e-9):
        return new["P@5"] > old["P@5"]
    return new["mAP@10"] > old["mAP@10"] + 1e-9


@dataclass
class Checked:
    """What :func:`train_checked` did: the saved model's name, both models' held-back scores,
    and whether the new one is better."""
    name: str
    new: dict
    current: dict
    current_id: str
    better: bool
    fine_tuned: bool
    holdout: Holdout


def train_checked(paths: Sequence[str], *, models_dir: str | os.PathLike,
                  current_dir: str | os.PathLike, kind: str | None = None,
                  epochs: int | None = None, members: int | None = None,
                  from_scratch: bool = False,
                  on_epoch: Callable[[int, int, dict], None] | None = None,
                  on_load: Callable[[int, int], None] | None = None,
                  say: Callable[[str], None] = lambda msg: None,
                  work_dir: str | os.PathLike | None = None) -> Checked:
    """Hold back files by folder, train (fine-tune the model in ``current_dir`` unless
    ``from_scratch``, or unless it is of another kind or cannot be fine-tuned), save the new
    model under ``models_dir`` with a :data:`TRAINING_JSON` record, and score both on the
    held-back files.  Activates nothing."""
    from .model.registry import load_encoder

    require_training_extra()  # before loading anything with Keras
    holdout = split_by_folder(paths)
    say(f"holding back {len(holdout.held)} of {len(paths)} files ({HOLDOUT:.0%} of each folder "
        f"of {MIN_FOLDER_FILES} or more) to compare the new model with the current one")
    current = load_encoder(current_dir)
    kind = kind or (current.kind if current.kind in TRAINERS else DEFAULT_KIND)
    init = None
    if not from_scratch:
        if kind in FINE_TUNABLE and current.kind == kind:
            from .model.contrastive import load_for_training

            init = load_for_training(current_dir)  # the Keras network, not its ONNX export
            say(f"fine-tuning the current model {current.model_id}")
        else:
            say(f"the current model ({current.kind}) cannot be fine-tuned as a {kind} model: "
                "training from scratch")
    else:
        say(f"training a {kind} model from scratch")
    options = {"validation_split": 0.0} if kind == "contrastive" else {}
    t0 = time.time()
    encoder = _train(kind, holdout.train, epochs=epochs, members=members, init=init,
                     on_epoch=on_epoch, on_load=on_load, **options)
    seconds = time.time() - t0
    say("scoring both models on the held-back files")
    new_scores, pairs = _check(encoder, holdout, work_dir=work_dir)
    cur_scores = score_on_files(current, holdout, work_dir=work_dir)
    fitted, about = fit_held_back(pairs)
    say(about)
    info = {"trained_at": time.strftime("%Y-%m-%d %H:%M:%S"), "kind": kind,
            "fine_tuned_from": current.model_id if init is not None else None,
            "files": len(holdout.train), "held_back": len(holdout.held),
            "folders": len(set(holdout.labels.values())),
            "epochs": epochs if epochs is not None else "the recipe's",
            "seconds": round(seconds, 1), "held_back_scores": new_scores,
            "compared_with": {"model_id": current.model_id, "scores": cur_scores},
            "calibration": about}
    name = save_model(encoder, models_dir, info, calibration_map=fitted)
    return Checked(name, new_scores, cur_scores, current.model_id,
                   is_better(new_scores, cur_scores), init is not None, holdout)


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
