"""Thousands of deletes and moves in a watched folder reach the index in batches.

The real watchdog observer and the indexer on a temp folder of real (empty) files recorded with
random embeddings (as scripts/bench_deletes.py does, so nothing needs embedding).  Behaviour:
every deleted file leaves the store and the search index, every moved one keeps its row id and
embedding under its new name, and the order of changes is kept (a path deleted and then given
another file or a moved file ends up with the newer one).  Budget: the store transactions that
carry them are counted (batches, not one per event); no duration is asserted.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from engine import Library
from engine.index.store import FileStat
from engine.indexer import Indexer
from engine.pipeline import Outcome
from engine.watch import Watcher
from tests.audiogen import kick, write
from tests.waiting import wait_for

N = 3000


@pytest.fixture
def big(tmp_path, encoder):
    """A Library, indexer and watcher on a folder of ``N`` recorded empty files."""
    folder = tmp_path / "lib"
    folder.mkdir()
    lib = Library(tmp_path / "data", encoder=encoder)
    lib.catalog.add_root(str(folder), "osc")
    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((N, encoder.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    items = []
    for i, v in enumerate(vecs):
        p = folder / f"{i:05d}.wav"
        p.touch()
        items.append(Outcome(FileStat(str(p), 0, p.stat().st_mtime_ns, f"fp{i}"), vector=v))
    lib.catalog.record(items)
    indexer = Indexer(lib, settle=0.1, poll_roots=0.2)
    watcher = Watcher(indexer)
    events: list[tuple[str, tuple]] = []
    indexer.add_listener(lambda e, a: events.append((e, a)))
    indexer.start()
    watcher.start()
    try:
        watcher.add(str(folder))
        indexer.request_scan([str(folder)])
        assert indexer.wait_idle(60)
        assert lib.indexed_count() == N
        yield lib, indexer, folder, events
    finally:
        watcher.stop()
        indexer.stop()
        lib.close()


def count_write_transactions(lib: Library) -> list[int]:
    """A counter of the store's write transactions from now on (SQLite's trace callback)."""
    counter = [0]

    def trace(sql: str) -> None:
        if sql.startswith("BEGIN IMMEDIATE"):
            counter[0] += 1

    lib.catalog._store._db.set_trace_callback(trace)
    return counter


def test_mass_delete_leaves_the_index_in_batches(big):
    lib, indexer, folder, events = big
    doomed = sorted(folder.iterdir())[: N - 100]
    tx = count_write_transactions(lib)
    for p in doomed:
        os.unlink(p)
    wait_for(lambda: lib.indexed_count() == 100, timeout=120, message="100 files left")
    assert indexer.wait_idle(30)
    left = set(lib.indexed_paths())
    assert len(left) == 100 and not left & {str(p) for p in doomed}
    assert lib.catalog.counts()["total"] == 100  # gone from the store too, not only searched
    assert all(lib.catalog.get(str(p)) is None for p in doomed[::97])
    removed = [a[0] for e, a in events if e == "removed"]
    assert sorted(removed) == sorted(str(p) for p in doomed)  # each reported once
    # the remaining files are still found by a search that needs every vector
    vec = lib.catalog.vector(lib.catalog.id_of(sorted(left)[0]))
    assert {p for p, _ in lib.catalog.search(vec, 200)} == left
    assert tx[0] <= len(doomed) // 10, f"{tx[0]} write transactions for {len(doomed)} deletes"


def test_mass_move_keeps_rows_and_embeddings(big):
    lib, indexer, folder, events = big
    sub = folder / "moved"
    sub.mkdir()
    moving = sorted(folder.glob("*.wav"))[:1000]
    before = {p.name: (lib.catalog.id_of(str(p)), lib.catalog.embedding(str(p)))
              for p in moving[::50]}
    tx = count_write_transactions(lib)
    for p in moving:
        os.rename(p, sub / p.name)
    wait_for(lambda: all(lib.is_indexed(str(sub / p.name)) for p in moving[::25]) and
             all(lib.is_indexed(str(sub / p.name)) for p in moving), timeout=120,
             message="every moved file indexed under its new name")
    assert indexer.wait_idle(30)
    assert lib.indexed_count() == N and lib.catalog.counts()["total"] == N
    assert not any(lib.is_indexed(str(p)) for p in moving)
    for name, (rid, vec) in before.items():
        assert lib.catalog.id_of(str(sub / name)) == rid
        assert np.array_equal(lib.catalog.embedding(str(sub / name)), vec)
    assert sum(1 for e, _ in events if e == "moved") == len(moving)
    assert not any(e == "removed" for e, _ in events)
    assert lib.embedded == 0  # nothing re-embedded
    assert tx[0] <= len(moving) // 10, f"{tx[0]} write transactions for {len(moving)} moves"


def test_order_is_kept_within_a_batch(big, tmp_path):
    lib, indexer, folder, events = big
    # a path deleted, then given a real file: indexed with the new content
    target = folder / "00010.wav"
    os.unlink(target)
    write(target, kick(55))
    # a path deleted, then a recorded file moved onto it: the moved row (and embedding) wins
    dest, src = folder / "00020.wav", folder / "00021.wav"
    src_id, src_vec = lib.catalog.id_of(str(src)), lib.catalog.embedding(str(src))
    os.unlink(dest)
    os.rename(src, dest)
    # a file moved away and its old name deleted again in the same burst: nothing stale
    a, b = folder / "00030.wav", folder / "00031.wav"
    os.rename(a, tmp_path / "outside.wav")  # out of every watched folder
    os.unlink(b)
    # one read per poll: the old row may be removed between two reads
    wait_for(lambda: (e := lib.catalog.get(str(target))) is not None and e.size > 0
             and lib.is_indexed(str(target)), timeout=60, message="the new file at a deleted path")
    assert indexer.wait_idle(30)
    assert lib.catalog.id_of(str(dest)) == src_id
    assert np.array_equal(lib.catalog.embedding(str(dest)), src_vec)
    assert not lib.is_indexed(str(src)) and lib.catalog.get(str(src)) is None
    # (a move out of the watched tree reaches watchdog as a delete, once it gives up waiting
    # for the other half of the move)
    wait_for(lambda: lib.catalog.get(str(a)) is None and lib.catalog.get(str(b)) is None,
             timeout=30, message="the moved-away and deleted files to leave")
    assert lib.indexed_count() == N - 3  # 00020's old row, 00030 and 00031
    assert lib.catalog.counts()["total"] == N - 3
    # the search index has no row twice (a replaced row is gone from it too)
    assert len(lib.indexed_paths()) == len(set(lib.indexed_paths())) == N - 3
    vec = lib.catalog.vector(src_id)
    hits = [p for p, _ in lib.catalog.search(vec, N)]
    assert len(hits) == len(set(hits)) == N - 3
