"""Switching models without going empty: in-process (engine.switching, the store's shadow
embeddings and their recovery) and through a real daemon (`soundalike model use` while it
serves, polled over OSC all along, and a SIGKILL half-way)."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from tests.audiogen import kick, noise_burst, tone, write
from tests.daemon_proc import Daemon
from tests.waiting import wait_for

P = "/soundalike"


def _two_mfcc_models(data):
    """Two MFCC "trained" models in the data dir (different configurations and widths)."""
    from engine.model.mfcc import MfccEncoder

    ids = []
    for n in (13, 20):
        enc = MfccEncoder(n_mfcc=n)
        enc.save(data / "models" / enc.model_id)
        ids.append(enc.model_id)
    return ids


def _library(root, n):
    """``3 * n`` one-shots in three folders."""
    for i in range(n):
        write(root / "tones" / f"tone_{i}.wav", tone(150 + 7 * i, seconds=0.25))
        write(root / "noise" / f"hat_{i}.wav", noise_burst(i, seconds=0.2))
        write(root / "kicks" / f"kick_{i}.wav", kick(40 + 0.5 * i, seconds=0.25))
    return root


def _env(cli_env):
    env = dict(cli_env)
    env.pop("SOUNDALIKE_MODEL")  # the data dir's active model answers
    return env


def _cli(env, *args, check=True):
    proc = subprocess.run([sys.executable, "-m", "bridge", *args], env=env,
                          capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


def _cosine_ranking(model_dir, query, paths):
    """Scores of ``paths`` against ``query`` computed here, with the model at ``model_dir``."""
    from engine.model.registry import load_encoder
    from engine.service import Library  # noqa: F401 (engine set-up)
    from engine.audio import load_audio
    from engine.pipeline import embed_features

    enc = load_encoder(model_dir)
    vecs = {p: embed_features(enc, enc.features(load_audio(p))[None])[0]
            for p in [query, *paths]}
    return {p: float(np.dot(vecs[query], vecs[p])) for p in paths}


# -- in-process -------------------------------------------------------------------------------
def _indexed(data, lib_dir, model):
    from engine.models import activate_model
    from engine.service import Library

    activate_model(data, model)
    lib = Library(data)
    lib.index([str(lib_dir)])
    lib.close()


def test_a_switch_back_reuses_the_kept_embeddings_and_the_store_keeps_two_models(tmp_path):
    from engine.index.store import Store
    from engine.switching import switch_model

    data = tmp_path / "data"
    a, b = _two_mfcc_models(data)
    lib_dir = _library(tmp_path / "lib", 4)
    _indexed(data, lib_dir, a)
    assert switch_model(data, b)["reembedded"] == 12
    write(lib_dir / "tones" / "new.wav", tone(999, seconds=0.25))  # only b will know it
    from engine.service import Library

    lib = Library(data)
    assert lib.model_id == b and lib.index([str(lib_dir)]).indexed == 1
    lib.close()
    back = switch_model(data, a)
    assert back["reembedded"] == 1  # the other 12 kept their embeddings by a
    store = Store(data / "index.sqlite")
    try:
        assert store.counts(a)["indexed"] == 13 and store.counts(a)["stale"] == 0
        assert store.shadow_count(b) == 13 and store.shadow_count(a) == 0
    finally:
        store.close()
    # a third model: the kept embeddings are those of the model switched from, no more
    from engine.model.mfcc import MfccEncoder

    c = MfccEncoder(n_mfcc=16)
    c.save(data / "models" / c.model_id)
    assert switch_model(data, c.model_id)["reembedded"] == 13
    store = Store(data / "index.sqlite")
    try:
        assert store.shadow_count(b) == 0 and store.shadow_count(a) == 13
        assert store.counts(c.model_id)["indexed"] == 13
    finally:
        store.close()


def test_a_crash_between_the_swap_and_the_pointer_leaves_the_old_model_whole(tmp_path):
    """The swap's transaction committed, the process died before `models/active` moved: the
    next start takes the old model's embeddings back from the shadow table."""
    from engine.index.store import Store
    from engine.models import ActiveModel
    from engine.service import Library
    from engine.switching import reembed

    data = tmp_path / "data"
    a, b = _two_mfcc_models(data)
    lib_dir = _library(tmp_path / "lib", 4)
    _indexed(data, lib_dir, a)
    lib = Library(data)
    new = ActiveModel(data, model_dir=data / "models" / b)
    lib.catalog.prepare_switch(b)
    assert reembed(lib, new, lib.catalog.switch_todo(b))[0] == 12
    lib.catalog._store.adopt(b, marker=b)  # what switch_to commits first; then: the crash
    lib.catalog._store.close()
    store = Store(data / "index.sqlite")
    assert store.counts(b)["indexed"] == 12 and store.counts(a)["indexed"] == 0
    store.close()
    again = Library(data)  # the pointer still names a
    try:
        assert again.model_id == a and again.status()["indexed"] == 12
        assert again.status()["stale"] == 0
        q = str(lib_dir / "kicks" / "kick_0.wav")
        assert len(again.similar(q, 5)) == 5
    finally:
        again.close()


def test_a_failed_pointer_write_changes_nothing(tmp_path):
    from engine.models import ActiveModel
    from engine.service import Library

    data = tmp_path / "data"
    a, b = _two_mfcc_models(data)
    lib_dir = _library(tmp_path / "lib", 4)
    _indexed(data, lib_dir, a)
    lib = Library(data)
    try:
        q = str(lib_dir / "tones" / "tone_1.wav")
        before = lib.similar(q, 5)
        new = ActiveModel(data, model_dir=data / "models" / b)
        from engine.switching import reembed

        reembed(lib, new, lib.catalog.switch_todo(b))

        def fail():
            raise OSError(28, "No space left on device")

        with pytest.raises(OSError):
            lib.adopt_model(new, commit=fail)
        assert lib.model_id == a and lib.status()["indexed"] == 12
        assert lib.similar(q, 5) == before
        assert (data / "models" / "active").read_text().strip() == a
    finally:
        lib.close()


# -- through the daemon -------------------------------------------------------------------------
def _switching(daemon):
    """(status ,iis, the /model/switching args or None) from one /soundalike/status."""
    daemon.peer.send(daemon.port, f"{P}/status")
    st = daemon.peer.receive(5.0, f"{P}/status")
    assert st is not None
    extra = daemon.peer.receive(0.05, f"{P}/model/switching")
    return st[1], (extra[1] if extra else None)


def _similar(daemon, q, n=5):
    daemon.peer.send(daemon.port, f"{P}/similar", q, n)
    got = []
    while True:
        m = daemon.peer.receive(10.0)
        assert m is not None, "no answer to /soundalike/similar"
        if m[0] == f"{P}/error":
            raise AssertionError(f"similar failed: {m[1]}")
        if m[0] == f"{P}/result":
            got.append((m[1][1], m[1][2]))
        if m[0] == f"{P}/results/end":
            return got


def _model(daemon):
    daemon.peer.send(daemon.port, f"{P}/model")
    m = daemon.peer.receive(5.0, f"{P}/model")
    assert m is not None
    return tuple(m[1])


def test_model_use_through_the_daemon_never_goes_empty_and_rolls_back(cli_env, tmp_path):
    env = _env(cli_env)
    data = tmp_path / "data"
    a, b = _two_mfcc_models(data)
    _cli(env, "model", "use", a)
    lib_dir = _library(tmp_path / "lib", 60)
    n = 180
    d = Daemon(env, [lib_dir])
    try:
        d.start()
        d.wait_idle(indexed=n, timeout=300)
        assert _model(d) == (a, a)
        q = str(lib_dir / "kicks" / "kick_3.wav")
        with_a = dict(_similar(d, q))
        cli = subprocess.Popen([sys.executable, "-m", "bridge", "model", "use", b], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        polls, during, added = [], 0, []
        while cli.poll() is None:
            st, sw = _switching(d)
            results = _similar(d, q)
            polls.append((st[0], len(results)))
            if sw is not None:
                during += 1
                assert sw[0] == b and 0 <= sw[2] <= sw[3]
                if not added:  # files arriving during the switch: in the index after it
                    for i in range(3):
                        added.append(write(lib_dir / "tones" / f"late_{i}.wav",
                                           tone(900 + 50 * i, seconds=0.25)))
        out, err = cli.communicate()
        assert cli.returncode == 0, err
        assert f"now using {b} ({b}); re-embedded" in out and "by the daemon" in out
        assert during >= 1, "no status poll saw the switch in progress"
        assert all(indexed >= n and count == 5 for indexed, count in polls), polls
        # the new model answers, with its own embeddings of every file, the late ones too
        d.wait_idle(indexed=n + 3, timeout=120)
        assert _model(d) == (b, b) and _switching(d)[1] is None
        with_b = dict(_similar(d, q))
        assert with_b != with_a
        expected = _cosine_ranking(data / "models" / b, q, list(with_b))
        for p, score in with_b.items():
            assert score == pytest.approx(expected[p], abs=1e-4)
        late = _similar(d, str(added[0]), 3)
        assert len(late) == 3
        st = json.loads(_cli(env, "status", "--json").stdout)
        assert st["model_id"] == b and st["indexed"] == n + 3 and st["stale"] == 0
        # roll back to the shipped model, still through the daemon
        out = _cli(env, "model", "use", "default").stdout
        assert out.startswith("now using default (")
        from engine.model.registry import PACKAGED_DEFAULT, model_id_of

        default_id = model_id_of(PACKAGED_DEFAULT)
        assert _model(d) == ("default", default_id)
        st = json.loads(_cli(env, "status", "--json").stdout)
        assert st["model_id"] == default_id and st["indexed"] == n + 3 and st["stale"] == 0
        assert len(_similar(d, q)) == 5
        assert not (data / "models" / "active").exists()
    finally:
        d.close()


def test_a_daemon_killed_mid_switch_restarts_on_the_old_model_with_its_index(cli_env,
                                                                            tmp_path):
    env = _env(cli_env)
    data = tmp_path / "data"
    a, b = _two_mfcc_models(data)
    _cli(env, "model", "use", a)
    lib_dir = _library(tmp_path / "lib", 60)
    n = 180
    d = Daemon(env, [lib_dir])
    try:
        d.start()
        d.wait_idle(indexed=n, timeout=300)
        d.peer.send(d.port, f"{P}/model/use", b)
        assert d.peer.receive(10.0, f"{P}/model/use")[1] == [b, b]
        # half-way (a batch of 32 kept at least): a second switch is refused, then SIGKILL
        sw = wait_for(lambda: (lambda s: s if s and 40 <= s[2] < s[3] else None)(
            _switching(d)[1]), timeout=120, interval=0.005, message="the switch half-way")
        d.peer.send(d.port, f"{P}/model/use", "default")
        err = d.peer.receive(5.0, f"{P}/error")
        assert err[1][0] == f"{P}/model/use" and "in progress" in err[1][1]
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=10)
    finally:
        d.close()
    st = json.loads(_cli(env, "status", "--json").stdout)
    assert st["model_id"] == a and st["indexed"] == n and st["stale"] == 0
    again = Daemon(env, [lib_dir])
    try:
        again.start()
        assert _model(again) == (a, a)
        assert again.status()[0] == n
        q = str(lib_dir / "tones" / "tone_5.wav")
        assert len(_similar(again, q)) == 5
        # the switch asked again reuses what the killed one had kept
        out = _cli(env, "model", "use", b).stdout
        m = __import__("re").search(r"re-embedded (\d+) indexed files", out)
        assert m and int(m.group(1)) <= n - 32, out
        again.wait_idle(indexed=n, timeout=120)
        assert _model(again) == (b, b)
    finally:
        again.close()
    assert sw[0] == b


def test_a_daemon_given_a_model_refuses_to_switch(cli_env, tmp_path, library_dir):
    data = tmp_path / "data"
    a, _ = _two_mfcc_models(data)
    d = Daemon(cli_env, [library_dir])  # SOUNDALIKE_MODEL is set
    try:
        d.start()
        d.wait_idle(indexed=12, timeout=120)
        d.peer.send(d.port, f"{P}/model/use", a)
        err = d.peer.receive(5.0, f"{P}/error")
        assert "SOUNDALIKE_MODEL" in err[1][1]
        proc = _cli(cli_env, "model", "use", a, check=False)
        assert proc.returncode == 1 and "SOUNDALIKE_MODEL" in proc.stderr
        assert d.status()[0] == 12
    finally:
        d.close()


@pytest.mark.tf
def test_train_beside_a_daemon_switches_through_it_and_rolls_back(cli_env, tmp_path):
    """Training runs while the daemon serves; `--activate` switches through the daemon, and
    `model use default` goes back re-embedding nothing (the shipped model's embeddings were
    kept)."""
    import re

    env = _env(cli_env)  # the shipped default is the active model
    lib_dir = tmp_path / "lib"
    for i in range(6):
        write(lib_dir / "tones" / f"tone_{i}.wav", tone(200 + 40 * i))
        write(lib_dir / "noise" / f"hat_{i}.wav", noise_burst(i))
        write(lib_dir / "kicks" / f"kick_{i}.wav", kick(45 + 3 * i))
    d = Daemon(env, [lib_dir])
    try:
        d.start()
        d.wait_idle(indexed=18, timeout=300)
        before = _model(d)
        assert before[0] == "default"
        proc = _cli(env, "train", str(lib_dir), "--epochs", "1", "--members", "1",
                    "--activate")
        name = re.search(r"^  new      (\S+) ", proc.stdout, re.M).group(1)
        assert f"now using {name} (re-embedded 18 indexed files by the daemon)" in proc.stdout
        assert _model(d)[0] == name and d.status()[0] == 18
        out = _cli(env, "model", "use", "default").stdout
        assert "re-embedded 0 indexed files by the daemon" in out
        assert _model(d) == before and d.status()[0] == 18
        assert len(_similar(d, str(lib_dir / "kicks" / "kick_0.wav"))) == 5
    finally:
        d.close()
