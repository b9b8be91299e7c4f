"""A large library: exact answers at once, the approximate index built in the background,
saved on close, loaded at the next start when it matches the store, rebuilt when it does not."""
import threading

import numpy as np
import pytest

from engine import Library
from engine.index import ann, memory
from engine.index.store import FileStat
from engine.pipeline import Outcome
from tests.waiting import wait_for

N, DIM = 400, 32


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setattr(memory, "exact_limit", lambda dim: 100)
    monkeypatch.setattr(ann, "exact_limit", lambda dim: 100)


@pytest.fixture
def folder(tmp_path):
    f = tmp_path / "lib"
    f.mkdir()
    return f


def fill(lib, folder, rng, start=0, n=N):
    """n real (empty) files recorded with random unit embeddings."""
    lib.catalog.add_root(str(folder), "index")
    vecs = rng.standard_normal((n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    outcomes = []
    for i, v in enumerate(vecs):
        p = folder / f"{start + i:05d}.wav"
        p.touch()
        outcomes.append(Outcome(FileStat(str(p), 0, p.stat().st_mtime_ns, f"f{start + i}"),
                                vector=v))
    lib.catalog.record(outcomes)
    return vecs


def test_background_build_save_and_reload(tmp_path, folder, encoder, rng, small_limit):
    lib = Library(tmp_path / "d", encoder=encoder)
    vecs = fill(lib, folder, rng)
    q = str(folder / "00007.wav")
    first = lib.similar(q, 5)  # answered at once (exact)
    assert len(first) == 5 and q not in [r.path for r in first]
    wait_for(lambda: lib.catalog.search_kind == "approx" and not lib.catalog.building,
             message="the approximate index")
    expected = np.argsort(-(vecs @ vecs[7]))[1:6]
    got = [int(r.path[-9:-4]) for r in lib.similar(q, 5)]
    assert len(set(got) & set(expected.tolist())) >= 4
    lib.close()
    assert (tmp_path / "d" / f"search-{lib.model_id}.idx").exists()

    again = Library(tmp_path / "d", encoder=encoder)
    again.similar(q, 5)
    assert again.catalog.search_kind == "approx" and not again.catalog.building  # loaded
    fill(again, folder, rng, start=N, n=10)  # changes, then no clean close (a crash)...
    again.catalog._memory.close()

    third = Library(tmp_path / "d", encoder=encoder)
    third.similar(q, 5)
    assert third.catalog.search_kind == "exact" and third.catalog.building  # ... stale: rebuilt
    wait_for(lambda: third.catalog.search_kind == "approx", message="the rebuild")
    assert third.indexed_count() == N + 10
    third.close()


def test_changes_during_the_build_are_not_lost(tmp_path, folder, encoder, rng, small_limit,
                                              monkeypatch):
    started, release = threading.Event(), threading.Event()
    real_add = ann.ApproxIndex.add

    def slow_add(self, keys, vectors):  # hold the background build until the test has written
        started.set()
        release.wait(10)
        real_add(self, keys, vectors)

    monkeypatch.setattr(ann.ApproxIndex, "add", slow_add)
    lib = Library(tmp_path / "d", encoder=encoder)
    fill(lib, folder, rng)
    q = str(folder / "00000.wav")
    lib.similar(q, 1)  # loads the index: exact now, approximate being built
    assert started.wait(10)
    gone = str(folder / "00003.wav")
    lib.catalog.remove([gone])
    fill(lib, folder, rng, start=N, n=1)
    release.set()
    wait_for(lambda: lib.catalog.search_kind == "approx", message="the approximate index")
    assert lib.indexed_count() == N
    assert lib.catalog.get(gone) is None
    assert gone not in [r.path for r in lib.similar(q, 50)]
    assert lib.is_indexed(str(folder / f"{N:05d}.wav"))
    assert len(lib.catalog._memory._index) == N
    lib.close()


def test_a_one_shot_library_searches_exactly_and_leaves_the_saved_index_alone(
        tmp_path, folder, encoder, rng, small_limit):
    lib = Library(tmp_path / "d", encoder=encoder)
    vecs = fill(lib, folder, rng)
    wait_for(lambda: lib.catalog.search_kind == "approx" and not lib.catalog.building,
             message="the approximate index")
    lib.close()
    saved = tmp_path / "d" / f"search-{lib.model_id}.idx"
    before = saved.read_bytes()

    once = Library(tmp_path / "d", encoder=encoder, approximate=False)
    fill(once, folder, rng, start=N, n=10)  # above the limit, changed: still no build
    got = once.similar(str(folder / "00007.wav"), 5)
    assert once.catalog.search_kind == "exact" and not once.catalog.building
    expected = [f"{i:05d}.wav" for i in np.argsort(-(vecs @ vecs[7]))[1:6]]
    assert [r.path[-9:] for r in got] == expected  # exact: the true neighbours, in order
    once.close()
    assert saved.read_bytes() == before
