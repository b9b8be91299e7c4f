"""The real Keras autoencoder: trained on a handful of files, saved, reloaded."""
import numpy as np
import pytest

pytest.importorskip("tensorflow")

pytestmark = pytest.mark.tf


def test_train_save_reload_and_index(tmp_path, library_dir):
    from engine import Library
    from engine.model.autoencoder import train_files
    from engine.model.registry import load_encoder
    from engine.pipeline import scan

    paths = sorted(scan([library_dir]))[:8]
    epochs_seen = []
    enc = train_files(paths, epochs=2, on_epoch=lambda e, n, logs: epochs_seen.append(
        (e, n, logs["val_loss"])))
    assert [e for e, _, _ in epochs_seen] == [1, 2]
    assert all(np.isfinite(v) for _, _, v in epochs_seen)
    enc.save(tmp_path / "model")
    again = load_encoder(tmp_path / "model")
    assert again.model_id == enc.model_id and again.model_id.startswith("autoencoder-")
    feats = np.stack([again.features(np.zeros(100, np.float32)),
                      enc.features(np.ones(5000, np.float32) * 0.1)])
    assert np.allclose(again.embed(feats), enc.embed(feats), atol=1e-5)
    assert again.embed(feats).shape == (2, 4096)

    lib = Library(tmp_path / "data", model_dir=tmp_path / "model")
    assert lib.index([library_dir]).indexed == 12
    results = lib.similar(str(library_dir / "kicks" / "kick_0.wav"), 3)
    assert len(results) == 3 and all(np.isfinite(r.score) for r in results)
    lib.close()


def test_cli_train_activates_model(cli_env, library_dir, tmp_path):
    import json
    import subprocess
    import sys

    env = dict(cli_env)
    env.pop("SOUNDALIKE_MODEL")
    # --activate: switch to it whether or not it beats the shipped model on the held-back files
    proc = subprocess.run([sys.executable, "-m", "bridge", "train", str(library_dir),
                           "--epochs", "1", "--kind", "autoencoder", "--activate"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "epoch 1/1" in proc.stderr and "val_loss" in proc.stderr
    assert "training from scratch" in proc.stderr and "now using autoencoder-" in proc.stdout
    info = json.loads(subprocess.run([sys.executable, "-m", "bridge", "status", "--json"],
                                     env=env, capture_output=True, text=True).stdout)
    assert info["model_id"].startswith("autoencoder-")
