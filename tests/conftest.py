"""Shared fixtures: seeded randomness, tiny synthesized audio, a fast deterministic encoder,
and a guard that fails any test leaving threads behind."""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.audiogen import write_library  # noqa: E402

# onnxruntime must be loaded before usearch (engine.model.runtime.import_before_usearch): test
# modules import usearch when they are collected, before any test loads a model
from engine.model.runtime import import_before_usearch  # noqa: E402

import_before_usearch()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def encoder():
    from engine.model.mfcc import MfccEncoder

    return MfccEncoder()


@pytest.fixture
def mfcc_model_dir(tmp_path_factory):
    """A saved MFCC model directory (for subprocesses: SOUNDALIKE_MODEL=...)."""
    from engine.model.mfcc import MfccEncoder

    d = tmp_path_factory.mktemp("model")
    MfccEncoder().save(d)
    return d


@pytest.fixture
def library_dir(tmp_path):
    """A folder of tiny synthesized one-shots: tones, noise bursts, kicks."""
    return write_library(tmp_path / "samples")


@pytest.fixture
def cli_env(mfcc_model_dir, tmp_path):
    """Environment for running the CLI in a subprocess with the fast encoder."""
    env = dict(os.environ)
    env["SOUNDALIKE_MODEL"] = str(mfcc_model_dir)
    env["SOUNDALIKE_DATA_DIR"] = str(tmp_path / "data")
    env["SOUNDALIKE_CONFIG"] = str(tmp_path / "no-config.toml")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test that leaves a thread running (watchdog's own tests do the same)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5.0
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()
                  and not t.name.startswith(("ThreadPoolExecutor", "asyncio"))]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"


@pytest.fixture
def daemon_factory(cli_env):
    """``make(folders, **kw)``: a tests.daemon_proc.Daemon on ``cli_env``, closed after the
    test."""
    from tests.daemon_proc import Daemon

    made = []

    def make(folders, **kw):
        d = Daemon(cli_env, folders, **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()

