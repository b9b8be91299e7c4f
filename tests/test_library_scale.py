"""A large library: exact answers at once, the approximate index built in the background,
saved on close, loaded at the next start when it matches the store, rebuilt when it does not."""
import numpy as np
import pytest

import engine.service as service
from engine import Library
from engine.index.store import FileStat
from tests.waiting import wait_for

N, DIM = 400, 32


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(service, "exact_limit", lambda dim: 100)


def fill(lib, rng, start=0, n=N):
    vecs = rng.standard_normal((n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    lib.store.put_embeddings(((FileStat(f"/lib/{start + i:05d}.wav", 10, 1, f"f{start + i}"), v)
                              for i, v in enumerate(vecs)), lib.model_id)
    return vecs


def test_background_build_save_and_reload(tmp_path, encoder, rng, small_limit):
    lib = Library(tmp_path / "d", encoder=encoder)
    vecs = fill(lib, rng)
    first = lib.similar("/lib/00007.wav", 5)  # answered at once (exact)
    assert len(first) == 5 and "/lib/00007.wav" not in [r.path for r in first]
    wait_for(lambda: lib._index.kind == "approx", message="the approximate index")
    assert lib._build_thread is not None
    lib._build_thread.join()
    expected = np.argsort(-(vecs @ vecs[7]))[1:6]
    got = [int(r.path[5:10]) for r in lib.similar("/lib/00007.wav", 5)]
    assert len(set(got) & set(expected.tolist())) >= 4
    lib.close()
    assert (tmp_path / "d" / f"search-{lib.model_id}.idx").exists()

    again = Library(tmp_path / "d", encoder=encoder)
    again.similar("/lib/00007.wav", 5)
    assert again._index.kind == "approx" and again._build_thread is None  # loaded, not rebuilt
    fill(again, rng, start=N, n=10)  # the store changes behind the saved file...
    again.close()

    third = Library(tmp_path / "d", encoder=encoder)
    third.store.remove(["/lib/00001.wav"])  # ... and again without this Library's index
    third.similar("/lib/00007.wav", 5)
    assert third._build_thread is not None  # stale file: rebuilt in the background
    third.close()


def test_changes_during_the_build_are_not_lost(tmp_path, encoder, rng, small_limit,
                                              monkeypatch):
    import threading

    from engine.index import ann

    started, release = threading.Event(), threading.Event()
    real_add = ann.ApproxIndex.add

    def slow_add(self, keys, vectors):  # hold the background build until the test has written
        started.set()
        release.wait(10)
        real_add(self, keys, vectors)

    monkeypatch.setattr(ann.ApproxIndex, "add", slow_add)
    lib = Library(tmp_path / "d", encoder=encoder)
    fill(lib, rng)
    lib.similar("/lib/00000.wav", 1)  # loads the index: exact now, approximate being built
    assert started.wait(10)
    lib.remove_paths(["/lib/00003.wav"])
    [new_id] = lib.store.put_embeddings([(FileStat("/lib/new.wav", 1, 1, "n"),
                                          np.eye(DIM, dtype=np.float32)[0])], lib.model_id)
    lib._index_add([new_id], [FileStat("/lib/new.wav", 1, 1, "n")],
                   np.eye(DIM, dtype=np.float32)[:1])
    release.set()
    lib._build_thread.join()
    assert lib._index.kind == "approx"
    keys = set(lib._index.keys().tolist())
    assert len(keys) == N and new_id in keys
    assert lib.store.get("/lib/00003.wav") is None
    assert "/lib/00003.wav" not in [r.path for r in lib.similar("/lib/00000.wav", 50)]
    assert lib.similar("/lib/00000.wav", 1, ) and lib.is_indexed("/lib/new.wav")
    lib.close()
