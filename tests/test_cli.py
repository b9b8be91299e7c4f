import json
import shutil
import subprocess
import sys

import pytest


def run(env, *args, check=True):
    proc = subprocess.run([sys.executable, "-m", "bridge", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


def test_index_similar_json_contract(cli_env, library_dir, tmp_path):
    out = run(cli_env, "index", str(library_dir)).stdout
    assert "indexed 12, skipped 0 unchanged, failed 0" in out
    again = run(cli_env, "index", str(library_dir)).stdout
    assert "indexed 0, skipped 12 unchanged" in again

    copy = tmp_path / "copy.wav"
    shutil.copy(library_dir / "kicks" / "kick_2.wav", copy)
    query = library_dir / "tones" / "tone_1.wav"
    proc = run(cli_env, "similar", str(copy), str(query), "-n", "5", "--json", "--local")
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["query"] for line in lines] == [str(copy), str(query)]
    for line in lines:
        assert len(line["results"]) == 5
        scores = [r["score"] for r in line["results"]]
        assert scores == sorted(scores, reverse=True)
        assert line["query"] not in [r["path"] for r in line["results"]]
    assert lines[0]["results"][0]["path"] == str(library_dir / "kicks" / "kick_2.wav")
    assert lines[0]["results"][0]["score"] >= 0.99


def test_status_json_lists_failures(cli_env, library_dir):
    (library_dir / "broken.wav").write_bytes(b"RIFF\x00\x00")
    run(cli_env, "index", str(library_dir))
    info = json.loads(run(cli_env, "status", "--json").stdout)
    assert info["indexed"] == 12 and info["failed"] == 1
    assert info["failures"][0]["path"].endswith("broken.wav")
    assert info["failures"][0]["reason"]
    assert info["model_id"].startswith("mfcc-")


@pytest.mark.parametrize("args,code,needle", [
    (["similar", "/definitely/missing.wav", "--local"], 1, "no such file"),
    (["index", "/definitely/missing"], 1, "no such folder"),
    (["similar", "x.wav", "-n", "zero"], 2, "not a whole number"),
    (["frobnicate"], 2, "invalid choice"),
])
def test_errors_are_one_line_without_traceback(cli_env, args, code, needle):
    proc = run(cli_env, *args, check=False)
    assert proc.returncode == code
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("content,needle", [
    ("path,class,source,origin\n", "lists no files"),
    ("path,class\nx.wav,kick\n", "missing columns origin, source"),
    ("path,class,source,origin\nx.wav,kick,,drums\n", "empty fields on line 2"),
])
def test_evaluate_bad_labels_is_one_line_without_traceback(cli_env, tmp_path, content, needle):
    (tmp_path / "labels.csv").write_text(content)
    proc = run(cli_env, "evaluate", str(tmp_path), "--mfcc", check=False)
    assert proc.returncode == 1 and needle in proc.stderr
    assert "Traceback" not in proc.stderr


def test_train_members_is_for_the_contrastive_kind(cli_env, library_dir):
    proc = run(cli_env, "train", str(library_dir), "--kind", "autoencoder", "--members", "2",
               check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "--members applies to the contrastive kind" in proc.stderr
    proc = run(cli_env, "train", str(library_dir), "--members", "0", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_help_does_not_import_tensorflow(cli_env):
    code = ("import sys, runpy; sys.argv=['soundalike','--help'];\n"
            "try:\n runpy.run_module('bridge', run_name='__main__')\n"
            "except SystemExit: pass\n"
            "assert 'tensorflow' not in sys.modules and 'librosa' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], env=cli_env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "usage: soundalike" in proc.stdout


def test_data_dirs_never_share_state(cli_env, library_dir, tmp_path):
    run(cli_env, "index", str(library_dir), "--data-dir", str(tmp_path / "a"))
    info = json.loads(run(cli_env, "status", "--json", "--data-dir", str(tmp_path / "b")).stdout)
    assert info["indexed"] == 0
