"""`soundalike train` that cannot make things worse, and `soundalike model list/use`."""
import json
import os
import re
import subprocess
import sys

import pytest

from engine.training import (HOLDOUT, MIN_FOLDER_FILES, TrainingError, is_better,
                             split_by_folder)
from tests.audiogen import kick, noise_burst, tone, write


def run(env, *args, check=True, timeout=600):
    proc = subprocess.run([sys.executable, "-m", "bridge", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


def _folders(root, n=6):
    """Three clearly different folders of ``n`` one-shots each."""
    for i in range(n):
        write(root / "tones" / f"tone_{i}.wav", tone(200 + 40 * i))
        write(root / "noise" / f"hat_{i}.wav", noise_burst(i))
        write(root / "kicks" / f"kick_{i}.wav", kick(45 + 3 * i))
    return root


def _paths(root):
    return sorted(str(p) for p in root.rglob("*.wav"))


def test_split_by_folder_holds_back_part_of_every_folder_the_same_way(tmp_path):
    root = _folders(tmp_path / "lib", n=10)
    write(root / "tiny" / "one.wav", tone(500))  # too small a folder: trains only
    paths = _paths(root)
    h = split_by_folder(paths)
    assert sorted(h.train + h.held) == paths and not set(h.train) & set(h.held)
    assert {h.labels[p] for p in h.held} == {"tones", "noise", "kicks"}
    for cls in ("tones", "noise", "kicks"):
        assert sum(h.labels[p] == cls for p in h.held) == round(10 * HOLDOUT)
    assert all(h.labels[p] == "tiny" for p in h.train if "tiny" in p)
    # the same files are held back when the library grows elsewhere or is listed differently
    write(root / "kicks" / "kick_new.wav", kick(80))
    again = split_by_folder(list(reversed(_paths(root))))
    assert {p for p in again.held if "kicks" not in p} == {p for p in h.held if "kicks" not in p}


def test_split_by_folder_needs_two_folders_to_check(tmp_path):
    root = tmp_path / "lib"
    for i in range(8):
        write(root / "only" / f"t{i}.wav", tone(200 + 30 * i))
    for i in range(MIN_FOLDER_FILES - 1):
        write(root / "small" / f"k{i}.wav", kick(50 + i))
    with pytest.raises(TrainingError, match="at least 2 folders of 3 or more"):
        split_by_folder(_paths(root))


def test_a_tie_or_worse_keeps_the_current_model():
    cur = {"P@5": 0.6, "mAP@10": 0.5}
    assert not is_better({"P@5": 0.6, "mAP@10": 0.5}, cur)
    assert not is_better({"P@5": 0.58, "mAP@10": 0.9}, cur)
    assert is_better({"P@5": 0.6, "mAP@10": 0.51}, cur)
    assert is_better({"P@5": 0.62, "mAP@10": 0.1}, cur)


def test_train_on_too_few_files_is_a_one_line_error(cli_env, tmp_path):
    lib = tmp_path / "few"
    for i in range(4):
        write(lib / f"t{i}.wav", tone(220 + 20 * i))
    proc = run(cli_env, "train", str(lib), check=False, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines == ["training on 4 files", lines[1]] and "Traceback" not in proc.stderr
    assert lines[1].startswith("soundalike: too few files to train and check a model")
    assert not (tmp_path / "data" / "models" / "active").exists()


def test_train_help_states_the_engine_defaults(cli_env):
    from engine.model import contrastive as C

    text = run(cli_env, "train", "--help").stdout
    flat = " ".join(text.split())
    ft, scratch = C.FINETUNE_TRAINING, C.DEFAULT_TRAINING
    assert f"{HOLDOUT * 100:.0f} % of the files of every folder with {MIN_FOLDER_FILES} or more" \
        in flat
    for recipe in (ft, scratch):
        rate = f"{recipe['learning_rate']:.0e}".replace("e-0", "e-")
        assert f"({recipe['epochs']} epochs, learning rate {rate})" in flat
    assert f"default: {ft['epochs']} when fine-tuning, {scratch['epochs']} from scratch" in flat
    assert "model use default" in flat


def _status(env):
    return json.loads(run(env, "status", "--json").stdout)


def _two_mfcc_models(data):
    """Two MFCC "trained" models in the data dir (different configurations, different ids)."""
    from engine.model.mfcc import MfccEncoder

    ids = []
    for n in (13, 20):
        enc = MfccEncoder(n_mfcc=n)
        enc.save(data / "models" / enc.model_id)
        ids.append(enc.model_id)
    return ids


def test_model_use_re_embeds_before_switching_and_lists_models(cli_env, library_dir, tmp_path):
    env = dict(cli_env)
    env.pop("SOUNDALIKE_MODEL")
    data = tmp_path / "data"
    a, b = _two_mfcc_models(data)
    assert "now using " + a in run(env, "model", "use", a).stdout
    run(env, "index", str(library_dir))
    before = _status(env)
    assert before["model_id"] == a and before["indexed"] == 12
    out = run(env, "model", "use", b[:10]).stdout  # a unique prefix will do
    assert f"now using {b} ({b}); re-embedded 12 indexed files" in out
    after = _status(env)
    assert after["model_id"] == b and after["indexed"] == 12 and after["stale"] == 0
    q = str(library_dir / "tones" / "tone_0.wav")
    got = json.loads(run(env, "similar", "--local", "--json", q).stdout)
    assert len(got["results"]) == 10
    listed = json.loads(run(env, "model", "list", "--json").stdout)
    assert [m["name"] for m in listed] == ["default", a, b]
    assert [m["active"] for m in listed] == [False, False, True]
    text = run(env, "model", "list").stdout
    assert re.search(rf"^\* {b} +mfcc ", text, re.M) and text.startswith("  default ")
    bad = run(env, "model", "use", "nosuchmodel", check=False)
    assert bad.returncode == 1 and "no model 'nosuchmodel'" in bad.stderr
    assert _status(env)["model_id"] == b  # nothing changed


def test_switching_keeps_the_old_embeddings_answering_until_the_new_ones_exist(
        library_dir, tmp_path):
    from engine.index.store import Store
    from engine.models import activate_model
    from engine.service import Library
    from engine.switching import switch_model

    data = tmp_path / "data"
    a, b = _two_mfcc_models(data)
    activate_model(data, a)
    lib = Library(data)
    lib.index([str(library_dir)])
    lib.close()
    seen = []

    def check(done, total):  # while the new model embeds: the old one still has every file
        store = Store(data / "index.sqlite")
        try:
            seen.append((store.counts(a)["indexed"], store.counts(b)["indexed"]))
        finally:
            store.close()

    done = switch_model(data, b, progress=check)
    assert done["reembedded"] == 12 and len(seen) == 12
    assert all(old == 12 and new == 0 for old, new in seen)
    lib = Library(data)
    try:
        assert lib.model_id == b and lib.status()["indexed"] == 12
    finally:
        lib.close()


@pytest.mark.tf
def test_train_never_activates_a_model_that_is_not_better_and_rolls_back(cli_env, tmp_path):
    """The shipped model finds every held-back file's folder mates (P@5 1.0), so a new model
    cannot beat it: it is saved, not activated; `model use` switches and rolls back."""
    env = dict(cli_env)
    env.pop("SOUNDALIKE_MODEL")  # the shipped default is the active model
    lib = _folders(tmp_path / "lib")
    run(env, "index", str(lib))
    assert _status(env)["indexed"] == 18
    proc = run(env, "train", str(lib), "--epochs", "1", "--members", "2")
    assert [line.split(":")[0] for line in proc.stderr.splitlines()
            if line.startswith("epoch ")] == ["epoch 1/1 (network 1 of 2)",
                                              "epoch 1/1 (network 2 of 2)"]
    current = re.search(r"^  current  (\S+) +P@1 [\d.]+  P@5 ([\d.]+)", proc.stdout, re.M)
    new = re.search(r"^  new      (\S+) +P@1 [\d.]+  P@5 ([\d.]+)", proc.stdout, re.M)
    assert current and new, proc.stdout
    assert float(current.group(2)) == 1.0  # precondition: nothing can score better
    assert "fine-tuning the current model" in proc.stderr
    assert "does not score better" in proc.stdout
    name = new.group(1)
    st = _status(env)
    assert st["model_id"] == current.group(1) and st["indexed"] == 18
    assert not (tmp_path / "data" / "models" / "active").exists()
    info = json.loads((tmp_path / "data" / "models" / name / "training.json").read_text())
    assert info["held_back"] == 3 and info["compared_with"]["scores"]["P@5"] == 1.0
    # switch anyway, then roll back: the index is complete at every step
    run(env, "model", "use", name)
    st = _status(env)
    assert st["model_id"] == name and st["indexed"] == 18
    run(env, "model", "use", "default")
    st = _status(env)
    assert st["model_id"] == current.group(1) and st["indexed"] == 18
    q = str(lib / "kicks" / "kick_0.wav")
    assert len(json.loads(run(env, "similar", "--local", "--json", q).stdout)["results"]) == 10


def test_a_trained_models_similarity_is_calibrated_on_its_held_back_files(tmp_path, encoder):
    """The pairs are every held-back file's top results with whether each is from its folder;
    the calibration fitted on them goes into the saved model's folder, where the daemon
    reads it (engine.models.ActiveModel), and a similarity of 0.5 or more is right at least
    half the time on those pairs (the map is monotone)."""
    from engine import calibration
    from engine.training import CALIBRATION_K, _check, fit_held_back, save_model

    lib = _folders(tmp_path / "lib", n=12)
    holdout = split_by_folder(_paths(lib))
    scores, pairs = _check(encoder, holdout)
    n = len(holdout.held)
    assert scores["n"] == n == 6  # two of each folder's twelve
    assert len(pairs["score"]) == len(pairs["same"]) == n * CALIBRATION_K
    fitted, about = fit_held_back(pairs)
    assert fitted is not None and f"calibrated on {n * CALIBRATION_K} held-back pairs" in about
    sim = calibration.apply(fitted, pairs["score"])
    same = [s for s, v in zip(pairs["same"], sim) if v >= 0.5]
    assert same and sum(same) / len(same) >= 0.5
    name = save_model(encoder, tmp_path / "models", {"kind": encoder.kind},
                      calibration_map=fitted)
    assert calibration.load(tmp_path / "models" / name) == fitted


def test_too_few_held_back_pairs_fit_no_calibration():
    from engine.training import MIN_CALIBRATION_PAIRS, fit_held_back

    few = {"score": [0.5] * (MIN_CALIBRATION_PAIRS - 1), "same": [True, False] * 49 + [True]}
    assert fit_held_back(few)[0] is None and "fewer than" in fit_held_back(few)[1]
    one_kind = {"score": [0.1 * (i % 10) for i in range(200)], "same": [False] * 200}
    fitted, about = fit_held_back(one_kind)
    assert fitted is None and "all of another folder" in about
