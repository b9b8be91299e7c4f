"""The contrastive encoder: its pure parts without TensorFlow, and one train/save/load round trip."""
from pathlib import Path

import numpy as np
import pytest

from engine.model import contrastive as C
from tests.audiogen import kick, noise_burst, tone


def test_features_layout_and_aspects():
    cfg = C.DEFAULT_CONFIG
    f = C.compute_features(tone(330, seconds=0.7), cfg)
    aspects = C.aspect_layout(cfg)
    n_mel = cfg["n_mels"] * 128
    assert f.shape == (n_mel + sum(b - a for a, b in aspects.values()) - cfg["timbre_dim"],)
    assert f.dtype == np.float32 and np.all(np.isfinite(f))
    assert list(aspects) == ["timbre", "envelope", "pitch", "spectrum"]
    assert aspects["timbre"] == (0, cfg["timbre_dim"])
    assert max(b for _, b in aspects.values()) <= 256


def test_features_of_silence_are_finite():
    assert np.all(np.isfinite(C.compute_features(np.zeros(5, np.float32))))


def test_augment_shapes_range_and_determinism(rng):
    v = np.stack([C.pitch_variants(y) for y in (tone(440), noise_burst(3), kick())])
    assert v.shape == (3, len(C.SEMITONES), 64, 128) and v.dtype == np.float16
    a = C.augment(v, np.random.default_rng(5))
    b = C.augment(v, np.random.default_rng(5))
    assert a.shape == (3, 64, 128) and np.array_equal(a, b)
    assert a.min() >= 0.0 and a.max() <= 1.0
    # with no augmentation and the unshifted variant, a view equals the file's features
    mid = len(C.SEMITONES) // 2
    plain = C.augment(v[:, mid:mid + 1], np.random.default_rng(0), strength=0.0)
    feats = C.compute_features(tone(440))[:64 * 128].reshape(64, 128)
    assert np.allclose(plain[0], feats, atol=2e-3)


def test_pitch_variant_moves_the_spectrum_up():
    v = C.pitch_variants(tone(440, seconds=1.0, decay=0.5)).astype(np.float32)
    peak_bin = v.mean(axis=2).argmax(axis=1)
    assert np.all(np.diff(peak_bin) >= 0) and peak_bin[0] < peak_bin[-1]


def test_folder_labels(tmp_path):
    paths = [str(tmp_path / d / f"{i}.wav") for d in ("kicks", "hats") for i in range(3)]
    labels = C.folder_labels(paths)
    assert labels is not None and len(set(labels)) == 2
    assert labels[0] == labels[1] != labels[3]
    assert C.folder_labels([str(tmp_path / f"{i}.wav") for i in range(5)]) is None


def test_batches_keep_group_pairs_and_cover_everything():
    groups = np.array([0, 0, 1, 1, 1, 2, 3, 3, 4, 5])
    seen = []
    for idx in C._batches(groups, 4, np.random.default_rng(0)):
        assert len(idx) <= 4
        seen += idx.tolist()
    assert sorted(seen) == sorted(set(seen)) and len(seen) >= 8


def _sounds():
    """Three tones and three noise bursts (the first three, then the others, one class each)."""
    return [tone(f) for f in (220, 247, 262)] + [noise_burst(i) for i in range(3)]


def _train_tiny(sounds, config, progress):
    """A tiny network (width 4, 8 timbre values), two epochs on ``sounds``."""
    return C.train(variants=np.stack([C.pitch_variants(y) for y in sounds]),
                   labels=["tone"] * 3 + ["noise"] * 3, epochs=2, batch_size=6,
                   config={"width": 4, "timbre_dim": 8, **config}, progress=progress)


@pytest.mark.tf
def test_train_save_load_embed_round_trip(tmp_path):
    from engine.model.registry import load_encoder, read_spec

    sounds, seen = _sounds(), []
    enc = _train_tiny(sounds, {}, lambda e, n, logs: seen.append((e, n, logs["loss"])))
    assert [e for e, _, _ in seen] == [1, 2] and all(np.isfinite(l) for *_, l in seen)
    feats = np.stack([enc.features(y) for y in sounds])
    emb = enc.embed(feats)
    assert emb.shape == (6, enc.dim) and enc.dim == 8 + 32 + 13 + 16
    enc.save(tmp_path / "m")
    spec = read_spec(tmp_path / "m")
    assert spec["kind"] == "contrastive" and spec["aspects"]["timbre"] == [0, 8]
    again = load_encoder(tmp_path / "m")
    assert again.model_id == enc.model_id and again.aspects == enc.aspects
    assert np.allclose(again.embed(feats), emb, atol=1e-5)


@pytest.mark.tf
def test_cli_train_reports_loss_and_both_models_held_back_scores(cli_env, library_dir):
    """`soundalike train` with the default kind, from scratch: per-epoch loss, then the new
    and the current model scored on the held-back files; the active model is then whichever
    scored better."""
    import json
    import re
    import subprocess
    import sys

    pytest.importorskip("tensorflow")
    env = dict(cli_env)
    env.pop("SOUNDALIKE_MODEL")
    proc = subprocess.run([sys.executable, "-m", "bridge", "train", str(library_dir),
                           "--epochs", "2", "--from-scratch"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    epochs = [line for line in proc.stderr.splitlines() if line.startswith("epoch ")]
    assert [e.split(":")[0] for e in epochs] == ["epoch 1/2", "epoch 2/2"]
    assert all("loss" in e and "nan" not in e for e in epochs)
    assert "holding back 3 of 12 files" in proc.stderr
    found = {m.group(1): (m.group(2), float(m.group(3))) for m in re.finditer(
        r"^  (current|new) +(\S+) +P@1 [\d.]+  P@5 ([\d.]+)", proc.stdout, re.M)}
    assert set(found) == {"current", "new"}, proc.stdout
    info = json.loads(subprocess.run([sys.executable, "-m", "bridge", "status", "--json"],
                                     env=env, capture_output=True, text=True).stdout)
    from engine.training import is_better, read_info

    record = read_info(Path(env["SOUNDALIKE_DATA_DIR"]) / "models" / found["new"][0])
    assert record["held_back_scores"]["P@5"] == pytest.approx(found["new"][1], abs=1e-3)
    better = is_better(record["held_back_scores"], record["compared_with"]["scores"])
    assert info["model_id"] == found["new" if better else "current"][0]


@pytest.mark.tf
def test_ensemble_members_are_trained_separately_and_averaged(tmp_path):
    from engine.model.registry import load_encoder

    sounds, seen = _sounds(), []
    enc = _train_tiny(sounds, {"members": 2},
                      lambda e, n, logs: seen.append((e, n, logs["member"], logs["members"])))
    assert seen == [(1, 4, 1, 2), (2, 4, 1, 2), (3, 4, 2, 2), (4, 4, 2, 2)]
    feats = np.stack([enc.features(y) for y in sounds])
    emb = enc.embed(feats)
    assert emb.shape == (6, 8 + 32 + 13 + 16)
    mels = feats[:, :enc.n_mel_values].reshape(6, 64, 128, 1)
    outs = [np.asarray(enc._net.get_layer(f"member{m}")(mels, training=False)) for m in (0, 1)]
    unit = [o / np.linalg.norm(o, axis=1, keepdims=True) for o in outs]
    assert not np.allclose(unit[0], unit[1], atol=1e-3)  # different seeds, different members
    assert np.allclose(emb[:, :8], (unit[0] + unit[1]) / 2, atol=1e-5)
    enc.save(tmp_path / "m")
    again = load_encoder(tmp_path / "m")
    assert again.config["members"] == 2
    assert np.allclose(again.embed(feats), emb, atol=1e-5)


def test_batches_put_sources_of_one_program_side_by_side():
    # sources 0-3 render program 7 (two soundfonts x two), 4-5 program 8, 6-9 no program
    groups = np.repeat(np.arange(10), 2)
    programs = np.array([7] * 8 + [8] * 4 + [-1] * 8)
    for seed in range(5):
        (order,) = [b.tolist() for b in C._batches(groups, 100, np.random.default_rng(seed),
                                                    programs)]
        assert sorted(order) == list(range(20))  # every file once
        pos = {j: order.index(j) for j in range(20)}
        for j in range(12):  # a program file has another source of its program within 3
            near = [k for k in range(12) if k // 2 != j // 2 and programs[k] == programs[j]
                    and abs(pos[k] - pos[j]) <= 3]
            assert near, (seed, j, order)
    # no file with a program: the batches without programs, draw for draw
    a = [b.tolist() for b in C._batches(groups, 4, np.random.default_rng(0))]
    b = [b.tolist() for b in C._batches(groups, 4, np.random.default_rng(0),
                                        np.full(20, -1))]
    assert a == b


@pytest.mark.tf
def test_program_term_adds_a_cross_source_positive():
    import tensorflow as tf

    z = tf.math.l2_normalize(tf.constant(np.random.default_rng(0).normal(size=(8, 4)),
                                         tf.float32), axis=1)
    yc = tf.constant([0, 0, 0, 0, 1, 1, 1, 1])
    yg = tf.constant([0, 1, 2, 3, 4, 5, 6, 7])
    yp = tf.constant([0, 0, 1, 1, 2, 2, 3, 3])
    kw = dict(class_weight=1.0, group_weight=1.0, temperature=0.1)
    base = float(C._pair_loss(z, yc, yg, yp, **kw))
    assert float(C._pair_loss(z, yc, yg, yp, program_weight=0.0, **kw)) == base
    with_term = float(C._pair_loss(z, yc, yg, yp, program_weight=0.5, **kw))
    assert with_term == pytest.approx(base + 0.5 * float(C.supcon_loss(z, yp, 0.1)), rel=1e-5)


@pytest.mark.tf
def test_fine_tuning_starts_every_member_from_the_given_model():
    sounds = _sounds()
    base = _train_tiny(sounds, {"members": 2}, None)
    variants = np.stack([C.pitch_variants(y) for y in sounds])
    tuned = C.train(variants=variants, labels=["tone"] * 3 + ["noise"] * 3, epochs=1,
                    batch_size=6, learning_rate=1e-9, init=base, config={"members": 2})
    assert tuned.config == base.config  # the base's features and network, members kept
    scratch = C.train(variants=variants, labels=["tone"] * 3 + ["noise"] * 3, epochs=1,
                      batch_size=6, learning_rate=1e-9, seed=5,
                      config={"width": 4, "timbre_dim": 8, "members": 2})
    for m in (0, 1):  # the first kernel: the base's (a learning rate of 1e-9), not a new one
        b = base._net.get_layer(f"member{m}").get_weights()[0]
        assert np.allclose(tuned._net.get_layer(f"member{m}").get_weights()[0], b, atol=1e-5)
        assert not np.allclose(scratch._net.get_layer(f"member{m}").get_weights()[0], b,
                               atol=1e-3)
