"""Inference without TensorFlow: the ONNX export of the contrastive encoder, what loads it,
and the commands that must never import TensorFlow (real subprocesses, real UDP)."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.audiogen import kick, noise_burst, tone, write
from tests.daemon_proc import Daemon

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "keras", "librosa", "scipy", "numba")

#: imported by every Python process started with this folder on PYTHONPATH: at exit it writes
#: which heavy top-level modules the process had imported
SITECUSTOMIZE = f"""
import atexit, os, sys

def _report():
    heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
    with open(os.path.join(os.environ["HEAVY_REPORT_DIR"], f"{{os.getpid()}}.json"), "w") as f:
        f.write(__import__("json").dumps({{"argv": sys.argv, "heavy": heavy}}))

atexit.register(_report)
"""


def _sounds() -> list[np.ndarray]:
    return [tone(220), tone(440, decay=1.0), tone(97, seconds=1.8, decay=0.5),
            noise_burst(1), noise_burst(2, seconds=1.2), kick(50), kick(62),
            np.zeros(22_050, np.float32), tone(3000, seconds=0.05)]


@pytest.fixture
def light_env(tmp_path):
    """Subprocess environment with the shipped default model (no SOUNDALIKE_MODEL) and a
    sitecustomize that reports heavy imports into ``tmp_path / "reports"``."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    reports = tmp_path / "reports"
    reports.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("SOUNDALIKE_MODEL",
                                                            "SOUNDALIKE_RUNTIME")}
    env.update(SOUNDALIKE_DATA_DIR=str(tmp_path / "data"), HEAVY_REPORT_DIR=str(reports),
               SOUNDALIKE_CONFIG=str(tmp_path / "no-config.toml"),
               PYTHONPATH=os.pathsep.join([str(hook), str(ROOT), os.environ.get("PYTHONPATH",
                                                                                 "")]))
    return env


def _reports(env) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(Path(env["HEAVY_REPORT_DIR"]).iterdir())]


def _cli(env, *args, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "bridge", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_index_similar_evaluate_and_serve_never_import_tensorflow(light_env, tmp_path,
                                                                   library_dir):
    outside = write(tmp_path / "elsewhere" / "query.wav", tone(330, decay=2.0))
    _cli(light_env, "index", str(library_dir))
    out = _cli(light_env, "similar", str(outside), "--json", "-n", "3").stdout
    assert len(json.loads(out)["results"]) == 3
    corpus = tmp_path / "corpus"
    rows = []
    for cls, make in (("tone", lambda s, k: tone(200 + 60 * s + 5 * k)),
                      ("noise", lambda s, k: noise_burst(10 * s + k)),
                      ("kick", lambda s, k: kick(45 + 5 * s + k))):
        for s in range(3):
            for k in range(2):
                rows.append((write(corpus / f"{cls}{s}{k}.wav", make(s, k)).name, cls,
                             f"{cls}:{s}", "drums" if cls != "tone" else "melodic"))
    with open(corpus / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "class", "source", "origin"), *rows])
    report = _cli(light_env, "evaluate", str(corpus)).stdout
    assert "| default | all |" in report

    daemon = Daemon(dict(light_env, SOUNDALIKE_DATA_DIR=str(tmp_path / "daemon-data")),
                    [library_dir]).start()
    try:
        daemon.wait_idle(indexed=12)
        begin = daemon.peer.request(daemon.port, "/soundalike/similar", str(outside), 2,
                                    reply="/soundalike/results/begin", timeout=60)
        assert begin is not None and begin[1] == [str(outside), 2]
        assert daemon.signal() == 0
    finally:
        daemon.close()
    reports = _reports(light_env)
    commands = {r["argv"][1] if len(r["argv"]) > 1 else "" for r in reports}
    assert {"index", "similar", "evaluate", "serve"} <= commands, reports
    assert all(r["heavy"] == [] for r in reports), reports


def test_model_without_export_and_without_tensorflow_is_a_clear_error(tmp_path, monkeypatch):
    import shutil

    from engine.model import contrastive
    from engine.model.registry import PACKAGED_DEFAULT, ModelError, load_encoder

    model = tmp_path / "m"
    shutil.copytree(PACKAGED_DEFAULT, model)
    (model / "timbre.onnx").unlink()
    monkeypatch.setattr(contrastive, "_has_tensorflow", lambda: False)
    with pytest.raises(ModelError, match=r"no ONNX export .*soundalike\[train\]"):
        load_encoder(model)
    monkeypatch.setenv("SOUNDALIKE_RUNTIME", "onnx")
    with pytest.raises(ModelError, match="timbre.onnx missing"):
        load_encoder(model)
    monkeypatch.setenv("SOUNDALIKE_RUNTIME", "bogus")
    with pytest.raises(ModelError, match="SOUNDALIKE_RUNTIME"):
        load_encoder(PACKAGED_DEFAULT)
    monkeypatch.setenv("SOUNDALIKE_RUNTIME", "onnx")
    (model / "timbre.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        load_encoder(model)


def test_shipped_model_loads_on_onnxruntime():
    from engine.model.registry import PACKAGED_DEFAULT, load_encoder, model_id_of

    enc = load_encoder(PACKAGED_DEFAULT)
    assert enc.runtime == "onnx" and enc.model_id == model_id_of(PACKAGED_DEFAULT)
    feats = np.stack([enc.features(y) for y in _sounds()])
    emb = enc.embed(feats)
    assert emb.shape == (len(feats), enc.dim) and np.all(np.isfinite(emb))
    # one file alone and in a batch: the same embedding
    assert np.allclose(enc.embed(feats[3:4]), emb[3:4], atol=1e-6)


def test_train_without_the_train_extra_says_what_to_install(cli_env, library_dir, tmp_path):
    """A Python whose import system cannot find TensorFlow: one line naming the extra."""
    hook = tmp_path / "hide"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(  # None in sys.modules: "not installed"
        "import sys\nsys.modules['tensorflow'] = sys.modules['keras'] = None\n")
    env = dict(cli_env, PYTHONPATH=os.pathsep.join([str(hook), cli_env["PYTHONPATH"]]))
    env.pop("SOUNDALIKE_MODEL")
    proc = subprocess.run([sys.executable, "-m", "bridge", "train", str(library_dir)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert "soundalike[train]" in lines[-1] and "TensorFlow" in lines[-1]
    assert not (Path(env["SOUNDALIKE_DATA_DIR"]) / "models").exists() or not any(
        (Path(env["SOUNDALIKE_DATA_DIR"]) / "models").iterdir())


@pytest.mark.tf
def test_onnx_export_matches_keras_on_synthesized_audio(monkeypatch):
    """The shipped model on ONNX Runtime and on Keras: cosine >= 0.9999 for every file."""
    pytest.importorskip("tensorflow")
    from engine.model.registry import PACKAGED_DEFAULT, load_encoder

    light = load_encoder(PACKAGED_DEFAULT)
    monkeypatch.setenv("SOUNDALIKE_RUNTIME", "keras")
    heavy = load_encoder(PACKAGED_DEFAULT)
    assert (light.runtime, heavy.runtime) == ("onnx", "keras")
    rng = np.random.default_rng(7)
    sounds = _sounds() + [rng.standard_normal(44_100).astype(np.float32) * g
                          for g in (1e-4, 0.1, 3.0)]
    feats = np.stack([light.features(y) for y in sounds])
    a, b = light.embed(feats).astype(np.float64), heavy.embed(feats).astype(np.float64)
    t = slice(*light.aspects["timbre"])
    cos = (a[:, t] * b[:, t]).sum(1) / (np.linalg.norm(a[:, t], axis=1)
                                        * np.linalg.norm(b[:, t], axis=1))
    assert cos.min() >= 0.9999, cos
    assert np.allclose(a[:, t.stop:], b[:, t.stop:])  # the aspects are the same numpy code


@pytest.mark.tf
def test_export_refuses_a_layer_it_does_not_know():
    pytest.importorskip("tensorflow")
    import keras

    from engine.model.onnx_export import ExportError, network_to_onnx

    inp = keras.Input((8, 8, 1))
    net = keras.Model(inp, keras.layers.Dense(4)(keras.layers.Flatten()(
        keras.layers.Conv2D(2, 3, activation="tanh")(inp))))
    with pytest.raises(ExportError, match="activation"):
        network_to_onnx(net, (8, 8, 1))


def test_the_model_loads_after_the_approximate_index():
    """usearch imported before onnxruntime crashed the process at onnxruntime's import (a
    segmentation fault): the approximate index imports onnxruntime first."""
    code = ("import numpy as np\n"
            "from engine.index.ann import ApproxIndex\n"
            "index = ApproxIndex(8)\n"
            "index.add(np.arange(4), np.eye(4, 8, dtype=np.float32))\n"
            "from engine.model.registry import PACKAGED_DEFAULT, load_encoder\n"
            "enc = load_encoder(PACKAGED_DEFAULT)\n"
            "print(enc.runtime, enc.embed(enc.features(np.zeros(100, np.float32))[None]).shape)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[0] == "onnx"
