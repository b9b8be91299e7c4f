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


def test_similarity_over_osc_is_opt_in_and_follows_the_model_in_use(tmp_path,
                                                                       mfcc_model_dir):
    """/soundalike/similarity ,i 1: results and the cursor carry the calibrated similarity
    (,isff) for that client only; a model without calibration.json (or an encoder that is not
    the one in the data dir's model folder) gets none."""
    from bridge.backend import DaemonBackend
    from bridge.server import OscServer
    from engine import Library
    from engine.indexer import Indexer
    from osc_helpers import Client, make_samples

    cal = {"x": [0.0, 0.5, 1.0], "y": [0.0, 0.2, 0.9]}
    model = tmp_path / "model"
    model.mkdir()
    for f in mfcc_model_dir.iterdir():
        (model / f.name).write_bytes(f.read_bytes())
    C.save(model, cal)
    samples = make_samples(tmp_path / "samples")
    lib = Library(tmp_path / "data", model_dir=model)
    indexer = Indexer(lib, settle=0.05)
    indexer.start()
    try:
        indexer.add_root(str(tmp_path / "samples"))
        assert indexer.wait_idle(60)
        with OscServer(DaemonBackend(lib, indexer), port=0) as srv, \
                Client(srv.address) as plain, Client(srv.address) as wants:
            wants.send("/soundalike/similarity", 1)
            assert wants.expect("/soundalike/similarity").args == (1,)
            for client in (plain, wants):
                client.send("/soundalike/list", "")
                client.expect("/soundalike/list")
                client.send("/soundalike/similar", str(samples[0]), 5)
            _, rows = plain.results()
            assert rows and all(len(r) == 3 for r in rows)  # the contract's ,isf
            _, rows = wants.results()
            assert rows and all(len(r) == 4 for r in rows)
            for _, _, score, sim in rows:
                assert sim == pytest.approx(float(C.apply(cal, score)), abs=1e-4)
            wants.send("/soundalike/similarity", 0)
            assert wants.expect("/soundalike/similarity").args == (0,)
            wants.send("/soundalike/similar", str(samples[0]), 3)
            assert all(len(r) == 3 for r in wants.results()[1])
            wants.send("/soundalike/similarity", "yes")
            assert wants.expect("/soundalike/error").args[0] == "/soundalike/similarity"
    finally:
        indexer.stop()
        lib.close()
    from engine.model.mfcc import MfccEncoder

    other = Library(tmp_path / "data2", encoder=MfccEncoder())
    try:  # an encoder given without its folder: the default folder's calibration is not its
        assert other.model.calibration() is None
    finally:
        other.close()
