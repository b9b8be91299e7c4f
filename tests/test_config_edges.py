"""Config files that are odd rather than wrong-keyed: each gets a one-line message naming the
item, never a traceback (real files; one real `soundalike serve`)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from bridge.config import load_config
from bridge.errors import ConfigError


def problem(tmp_path, text: str | bytes) -> str:
    cfg = tmp_path / "config.toml"
    cfg.write_bytes(text.encode() if isinstance(text, str) else text)
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    return str(exc.value)


@pytest.mark.parametrize("text", ["x = " + "[" * 5000 + "]" * 5000,
                                  "x = " + "{a = " * 3000 + "1" + "}" * 3000])
def test_deep_nesting_is_a_config_error(tmp_path, text):
    msg = problem(tmp_path, text)
    assert msg.endswith("config.toml: not valid TOML: tables or arrays nested too deeply")


def test_one_bad_allow_entry_is_named_alone(tmp_path):
    msg = problem(tmp_path, '[osc]\nallow = ["10.0.0.1", "10.0.0.0/8", "nonsense", "::1"]\n')
    assert msg.splitlines() == [f"{tmp_path / 'config.toml'}: osc.allow[2]: expected an address "
                                "or network such as \"192.168.1.20\" or \"192.168.1.0/24\", "
                                "got 'nonsense'"]
    two = problem(tmp_path, '[osc]\nallow = [5, "10.0.0.1", "x"]\n').splitlines()
    assert two[0].endswith("2 problem(s):")
    assert two[1].strip().startswith("osc.allow[0]:") and two[1].endswith("got 5")
    assert two[2].strip().startswith("osc.allow[2]:") and two[2].endswith("got 'x'")


def test_an_empty_folder_entry_is_named(tmp_path):
    msg = problem(tmp_path, 'folders = ["/a", "", "  "]\n[osc]\nquery_paths = [""]\n')
    lines = [line.strip() for line in msg.splitlines()[1:]]
    assert lines == ["folders[1]: empty folder path", "folders[2]: empty folder path",
                     "osc.query_paths[0]: empty folder path"]


def test_a_byte_order_mark_is_accepted_and_other_bytes_are_named(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_bytes("\ufefffolders = [\"/samples\"]\n".encode("utf-8"))
    assert load_config(cfg).folders == ("/samples",)
    msg = problem(tmp_path, b'folders = ["/a\xff"]\n')
    assert msg.endswith("config.toml: not UTF-8 text (byte 14: b'\\xff')")


def test_query_paths_are_read(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[osc]\nquery_paths = ["/projects", "~/Live"]\n')
    paths = load_config(cfg).osc.query_paths
    assert paths[0] == "/projects" and paths[1].endswith("/Live") and "~" not in paths[1]


def test_serve_with_a_deeply_nested_config_exits_1_with_one_line(cli_env, tmp_path,
                                                                  library_dir):
    cfg = tmp_path / "deep.toml"
    cfg.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    env = dict(cli_env, SOUNDALIKE_CONFIG=str(cfg))
    proc = subprocess.run([sys.executable, "-m", "bridge", "serve", str(library_dir)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"soundalike: {cfg}: not valid TOML: tables or arrays nested too deeply"]
