"""A calibrated similarity: the cosine score mapped to the chance that a result is of the
query's class.

The cosine of two embeddings says which files are closer, not how likely they are to be the
same kind of sound (unrelated sounds score 0.7-0.9 with the shipped model).  :func:`fit` learns
a monotone map from cosine to P(same class) on (query, result) pairs of a labelled corpus
(isotonic regression, pool-adjacent-violators), :func:`apply` evaluates it (a pure function,
linear between the fitted points), and the map lives in the model's folder as
``calibration.json`` (:func:`save`, :func:`load`): ``{"x": [cosines], "y": [probabilities],
...}``.  Because the map is monotone, results with a similarity of at least ``t`` are of the
query's class at least a share ``t`` of the time on the pairs it was fitted on.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

FILE = "calibration.json"
#: at most this many points are stored (neighbouring blocks are merged)
MAX_POINTS = 64


def isotonic(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray]:
    """Non-decreasing least-squares fit of ``y`` on ``x`` (pool adjacent violators):
    (block mean x, block value, block weight), sorted by x."""
    order = np.argsort(np.asarray(x, float), kind="stable")
    xs, ys = np.asarray(x, float)[order], np.asarray(y, float)[order]
    vals, wts, sx = [], [], []
    for xi, yi in zip(xs, ys):
        vals.append(yi)
        wts.append(1.0)
        sx.append(xi)
        while len(vals) > 1 and vals[-2] >= vals[-1]:
            w = wts[-2] + wts[-1]
            v = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / w
            s = sx[-2] + sx[-1]
            vals[-2:], wts[-2:], sx[-2:] = [v], [w], [s]
    w = np.array(wts)
    return np.array(sx) / w, np.array(vals), w


def fit(scores: Sequence[float], same: Sequence[bool], *,
        max_points: int = MAX_POINTS) -> dict:
    """Fit the map on pairs: ``scores`` (cosines) and whether each pair is of one class."""
    if len(scores) != len(same) or len(scores) < 2:
        raise ValueError("need at least two (score, same) pairs of equal count")
    bx, by, bw = isotonic(scores, np.asarray(same, float))
    while len(bx) > max_points:  # merge the lightest neighbouring pair (keeps monotone)
        i = int(np.argmin(bw[:-1] + bw[1:]))
        w = bw[i] + bw[i + 1]
        bx[i] = (bx[i] * bw[i] + bx[i + 1] * bw[i + 1]) / w
        by[i] = (by[i] * bw[i] + by[i + 1] * bw[i + 1]) / w
        bw[i] = w
        bx, by, bw = np.delete(bx, i + 1), np.delete(by, i + 1), np.delete(bw, i + 1)
    return {"kind": "isotonic", "x": [round(float(v), 6) for v in bx],
            "y": [round(float(v), 6) for v in by], "pairs": int(len(scores)),
            "positives": int(np.sum(same))}


def apply(calibration: Mapping, scores) -> np.ndarray:
    """P(same class) for cosine ``scores`` (an array or a number): linear between the fitted
    points, flat beyond the first and the last."""
    x, y = np.asarray(calibration["x"], float), np.asarray(calibration["y"], float)
    return np.clip(np.interp(np.asarray(scores, float), x, y), 0.0, 1.0)


def precision_above(scores: Sequence[float], same: Sequence[bool], calibration: Mapping,
                    thresholds: Iterable[float]) -> list[dict]:
    """For each threshold ``t``: how many pairs have a similarity of at least ``t`` and which
    share of them is of one class: ``[{"threshold", "pairs", "precision"}]``."""
    sim = apply(calibration, np.asarray(scores, float))
    same = np.asarray(same, bool)
    out = []
    for t in thresholds:
        hit = sim >= t
        out.append({"threshold": float(t), "pairs": int(hit.sum()),
                    "precision": float(same[hit].mean()) if hit.any() else None})
    return out


def save(model_dir: str | os.PathLike, calibration: Mapping) -> Path:
    path = Path(model_dir) / FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(calibration), indent=1, sort_keys=True) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
    return path


def load(model_dir: str | os.PathLike | None) -> dict | None:
    """The model's calibration, or None when it has none (or an unreadable one)."""
    if model_dir is None:
        return None
    try:
        cal = json.loads((Path(model_dir) / FILE).read_text(encoding="utf-8"))
        x, y = cal["x"], cal["y"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (isinstance(x, list) and isinstance(y, list) and len(x) == len(y) >= 1):
        return None
    return cal
