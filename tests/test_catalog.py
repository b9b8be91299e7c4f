"""The catalog, the index's one owner: watched folders with their origin, writes that keep the
store and the search index equal, folders removed mid-flight, and cheap status."""
import sqlite3
import threading

import numpy as np

from bridge.backend import DaemonBackend
from engine import Library
from engine.indexer import Indexer
from engine.index.store import FileStat
from engine.pipeline import Outcome
from tests.audiogen import tone, write


def outcome(path, seed=0, dim=8):
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return Outcome(FileStat(str(path), 1, 1, f"fp{seed}"), vector=v / np.linalg.norm(v))


def test_files_of_a_folder_removed_while_they_were_embedded_are_dropped(tmp_path, encoder):
    lib = Library(tmp_path / "data", encoder=encoder)
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.wav").touch()
    cat = lib.catalog
    cat.add_root(str(folder), "osc")
    in_flight = outcome(folder / "a.wav")  # embedded while the folder is removed ...
    cat.forget_root(str(folder))
    assert cat.record([in_flight]) == ([], [])  # ... never reaches the index
    assert cat.get(str(folder / "a.wav")) is None and cat.indexed_count() == 0
    lib.close()


def test_declared_folders_replace_their_origin_and_keep_the_hand_added(tmp_path, encoder):
    lib = Library(tmp_path / "data", encoder=encoder)
    cat = lib.catalog
    dirs = {}
    for name in ("a", "b", "c"):
        dirs[name] = tmp_path / name
        dirs[name].mkdir()
        (dirs[name] / "x.wav").touch()
    cat.declare_roots({str(dirs["a"]): "command line", str(dirs["b"]): "command line"},
                      {"command line"})
    cat.add_root(str(dirs["c"]), "osc")
    cat.record([outcome(dirs[n] / "x.wav", seed=i) for i, n in enumerate("abc")])
    assert cat.indexed_count() == 3
    gone = cat.declare_roots({str(dirs["a"]): "command line", str(dirs["c"]): "command line"},
                             {"command line"})
    assert gone == [str(dirs["b"] / "x.wav")]
    assert [(r.path, r.origin) for r in cat.roots()] == [
        (str(dirs["a"]), "command line"), (str(dirs["c"]), "osc")]
    assert cat.indexed_count() == 2 and not cat.is_indexed(str(dirs["b"] / "x.wav"))
    lib.close()
    again = Library(tmp_path / "data", encoder=encoder)  # persisted
    assert [r.origin for r in again.catalog.roots()] == ["command line", "osc"]
    again.close()


def test_a_nested_folder_removed_keeps_the_files_its_parent_covers(tmp_path, encoder):
    lib = Library(tmp_path / "data", encoder=encoder)
    outer, inner = tmp_path / "o", tmp_path / "o" / "i"
    inner.mkdir(parents=True)
    (inner / "x.wav").touch()
    lib.catalog.add_root(str(outer), "osc")
    lib.catalog.add_root(str(inner), "osc")
    lib.catalog.record([outcome(inner / "x.wav")])
    assert lib.catalog.forget_root(str(inner)) == []
    assert lib.catalog.is_indexed(str(inner / "x.wav"))
    lib.close()


def test_offline_in_place_and_status_never_waits_on_the_index_locks(tmp_path, encoder):
    lib = Library(tmp_path / "data", encoder=encoder)
    folder = tmp_path / "drive"
    for i in range(3):
        write(folder / f"t{i}.wav", tone(200 + 50 * i))
    lib.index([folder], origin="osc")
    indexer = Indexer(lib)  # not started: only its bookkeeping is used
    backend = DaemonBackend(lib, indexer)
    assert lib.catalog.set_offline(str(folder), True) == 3
    assert backend.status()["indexed"] == 0
    assert lib.catalog.set_offline(str(folder), False) == 3
    assert backend.status()["indexed"] == 3
    answered = threading.Event()
    with lib.catalog._write, lib.catalog._memory.lock:  # a write or a search in progress
        t = threading.Thread(target=lambda: (backend.status(), answered.set()))
        t.start()
        assert answered.wait(10), "status waited for the index"
    t.join()
    lib.close()


def test_rescan_requests_are_coalesced(tmp_path, encoder):
    lib = Library(tmp_path / "data", encoder=encoder)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        lib.catalog.add_root(str(tmp_path / name), "osc")
    indexer = Indexer(lib)  # not started: the requests pile up as they would behind a scan
    for _ in range(10_000):
        indexer.request_scan()
    assert indexer.scans_waiting() == 2
    lib.close()


def test_unreadable_embeddings_are_left_out_reported_and_embedded_again(tmp_path, encoder):
    folder = tmp_path / "lib"
    for i in range(4):
        write(folder / f"t{i}.wav", tone(200 + 60 * i))
    lib = Library(tmp_path / "data", encoder=encoder)
    lib.index([folder])
    lib.close()
    db = sqlite3.connect(tmp_path / "data" / "index.sqlite")
    with db:  # a NULL blob and a truncated one
        db.execute("UPDATE files SET embedding = NULL WHERE path = ?", (str(folder / "t1.wav"),))
        db.execute("UPDATE files SET embedding = substr(embedding, 1, 12) WHERE path = ?",
                   (str(folder / "t2.wav"),))
    db.close()

    reader = Library(tmp_path / "data", encoder=encoder, read_only=True)
    assert reader.indexed_count() == 2  # read-only: left out, nothing written
    assert sorted(p for p, _ in reader.catalog.damaged) == [str(folder / "t1.wav"),
                                                            str(folder / "t2.wav")]
    reader.close()

    lib = Library(tmp_path / "data", encoder=encoder)
    assert lib.indexed_count() == 2
    assert sorted(p for p, _ in lib.catalog.damaged) == [str(folder / "t1.wav"),
                                                         str(folder / "t2.wav")]
    assert "unreadable" in lib.catalog.damaged[0][1]
    hits = [r.path for r in lib.similar(str(folder / "t0.wav"), 5)]
    assert hits == [str(folder / "t3.wav")]  # searches what is readable
    assert lib.catalog.counts()["stale"] == 2  # queued: the next pass embeds them again
    summary = lib.index([folder])
    assert summary.indexed == 2 and lib.indexed_count() == 4
    lib.close()
    again = Library(tmp_path / "data", encoder=encoder)
    assert again.indexed_count() == 4 and again.catalog.damaged == []
    again.close()


def test_status_answers_while_the_index_loads_and_queries_wait_for_it(tmp_path, encoder):
    folder = tmp_path / "lib"
    for i in range(3):
        write(folder / f"t{i}.wav", tone(200 + 60 * i))
    lib = Library(tmp_path / "data", encoder=encoder)
    lib.index([folder])
    lib.close()

    lib = Library(tmp_path / "data", encoder=encoder)
    backend = DaemonBackend(lib, Indexer(lib))
    answered = threading.Event()
    results: list = []
    with lib.catalog._write:  # the load cannot finish while this is held
        lib.catalog.load_in_background()
        assert lib.catalog.loading
        assert backend.status()["indexed"] == 3  # at once, from the store
        query = threading.Thread(target=lambda: (
            results.extend(lib.similar(str(folder / "t0.wav"), 5)), answered.set()))
        query.start()
        assert not answered.wait(0.2)  # waits for the index
    assert answered.wait(10), "the query never got the index"
    query.join()
    assert sorted(r.path for r in results) == [str(folder / "t1.wav"), str(folder / "t2.wav")]
    assert not lib.catalog.loading and lib.indexed_count() == 3
    lib.close()


def test_a_move_onto_an_indexed_file_replaces_it_in_the_search_index_too(tmp_path, encoder):
    lib = Library(tmp_path / "data", encoder=encoder)
    folder = tmp_path / "f"
    folder.mkdir()
    a, b = folder / "a.wav", folder / "b.wav"
    a.touch()
    b.touch()
    cat = lib.catalog
    cat.add_root(str(folder), "osc")
    moved_one, replaced = outcome(a, seed=0), outcome(b, seed=1)
    cat.record([moved_one, replaced])
    assert cat.indexed_count() == 2
    generation = lib.catalog._store.generation()

    assert cat.move(str(a), str(b)) == [(cat.id_of(str(b)), str(a), str(b))]

    assert cat.indexed_count() == 1 and cat.indexed_paths() == [str(b)]
    hits = cat.search(replaced.vector, 5)  # the replaced row's vector finds nothing of its own
    assert [p for p, _ in hits] == [str(b)]
    assert np.allclose(cat.embedding(str(b)), moved_one.vector)
    assert lib.catalog._store.generation() > generation  # readers see the change
    lib.close()
