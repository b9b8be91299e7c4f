"""The calibrated similarity: a monotone map from cosine to P(same class)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from engine import calibration as C


def _pairs(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0.6, 1.0, n)
    same = rng.random(n) < (scores - 0.6) / 0.4  # P(same) rises linearly from 0 to 1
    return scores, same


def test_isotonic_fit_is_monotone_and_follows_the_rate():
    scores, same = _pairs()
    cal = C.fit(scores, same)
    assert len(cal["x"]) <= C.MAX_POINTS and cal["pairs"] == 4000
    assert np.all(np.diff(cal["x"]) > 0) and np.all(np.diff(cal["y"]) >= 0)
    got = C.apply(cal, [0.7, 0.8, 0.9])
    assert np.allclose(got, [0.25, 0.5, 0.75], atol=0.08)
    assert C.apply(cal, 0.0) == pytest.approx(cal["y"][0])  # flat beyond the ends
    assert C.apply(cal, 2.0) == pytest.approx(cal["y"][-1])


def test_pool_adjacent_violators_on_a_hand_example():
    x, y, w = C.isotonic([1, 2, 3, 4], [0, 1, 0, 1])
    assert y.tolist() == [0.0, 0.5, 1.0] and w.tolist() == [1, 2, 1]
    assert x.tolist() == [1.0, 2.5, 4.0]


def test_precision_above_a_threshold_is_at_least_the_threshold_on_the_fitted_pairs():
    scores, same = _pairs(seed=1)
    cal = C.fit(scores, same)
    rows = C.precision_above(scores, same, cal, (0.5, 0.9))
    for row in rows:
        assert row["pairs"] > 0 and row["precision"] >= row["threshold"]
    assert rows[0]["pairs"] > rows[1]["pairs"]
    assert C.precision_above(scores, same, cal, (1.01,))[0]["precision"] is None


def test_saved_calibration_round_trips_and_bad_files_are_ignored(tmp_path):
    cal = C.fit(*_pairs(500))
    C.save(tmp_path, cal)
    assert C.load(tmp_path)["x"] == cal["x"]
    (tmp_path / C.FILE).write_text("{not json")
    assert C.load(tmp_path) is None
    assert C.load(tmp_path / "missing") is None and C.load(None) is None


def test_similar_json_adds_the_calibrated_similarity_next_to_the_score(cli_env,
                                                                       library_dir,
                                                                       mfcc_model_dir):
    env = dict(cli_env)

    def similar():
        out = subprocess.run([sys.executable, "-m", "bridge", "similar", "--local", "--json",
                              str(library_dir / "kicks" / "kick_0.wav")], env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)["results"]

    subprocess.run([sys.executable, "-m", "bridge", "index", str(library_dir)], env=env,
                   check=True, capture_output=True, timeout=120)
    plain = similar()
    assert all(set(r) == {"path", "score"} for r in plain)  # no calibration: as before
    C.save(mfcc_model_dir, {"x": [0.0, 1.0], "y": [0.0, 1.0]})  # similarity = cosine
    try:
        got = similar()
    finally:
        (mfcc_model_dir / C.FILE).unlink()
    assert [r["path"] for r in got] == [r["path"] for r in plain]
    for r in got:
        assert r["similarity"] == pytest.approx(min(max(r["score"], 0.0), 1.0), abs=1e-4)


def test_the_cli_reads_and_applies_the_calibration_like_the_engine(tmp_path, monkeypatch):
    """bridge.cli maps scores without importing the engine; it must agree with it."""
    import argparse

    from bridge import cli

    cal = C.fit(*_pairs(800, seed=3))
    model = tmp_path / "model"
    model.mkdir()
    C.save(model, cal)
    monkeypatch.setenv("SOUNDALIKE_MODEL", str(model))
    got = cli._calibration(argparse.Namespace(data_dir=str(tmp_path / "data")))
    scores = [-1.0, 0.0, 0.61, 0.7, 0.83, 0.9, 0.999, 1.0, 2.0]
    assert np.allclose(cli._similarities(got, scores), C.apply(cal, scores), atol=1e-9)
    monkeypatch.delenv("SOUNDALIKE_MODEL")
    default = cli._calibration(argparse.Namespace(data_dir=str(tmp_path / "data")))
    from pathlib import Path

    shipped = C.load(Path(__file__).resolve().parent.parent / "engine" / "models" / "default")
    assert (default is None) == (shipped is None)
