"""The indexing worker and the real watchdog observer on temp folders."""
import os
import shutil
import threading

import numpy as np
import pytest

from engine import Library
from engine.indexer import Indexer
from engine.watch import Watcher
from tests.audiogen import kick, tone, write
from tests.waiting import wait_for


@pytest.fixture
def daemon(tmp_path, encoder, library_dir):
    lib = Library(tmp_path / "data", encoder=encoder)
    indexer = Indexer(lib, settle=0.1, poll_roots=0.2)
    watcher = Watcher(indexer)
    indexer.on_root_online = watcher.add
    events = []
    indexer.add_listener(lambda e, a: events.append((e, a)))
    indexer.start()
    watcher.start()
    try:
        watcher.add(str(library_dir))
        indexer.add_root(str(library_dir))
        assert indexer.wait_idle(30)
        yield lib, indexer, watcher, events
    finally:
        watcher.stop()
        indexer.stop()
        lib.close()


def indexed(lib):
    return set(lib.indexed_paths())


def test_initial_scan_indexes_everything(daemon, library_dir):
    lib, indexer, _, events = daemon
    assert len(indexed(lib)) == 12
    assert indexer.status() == {"pending": 0, "state": "idle"}
    assert sum(1 for e, _ in events if e == "indexed") == 12


def test_file_written_in_chunks_is_indexed_once_complete(daemon, library_dir, tmp_path):
    lib, _, _, _ = daemon
    src = write(tmp_path / "src.wav", tone(330, seconds=1.5))
    data = src.read_bytes()
    dest = library_dir / "new.wav"
    with open(dest, "wb") as f:
        for i in range(0, len(data), 8192):  # as a copy does
            f.write(data[i:i + 8192])
            f.flush()
    wait_for(lambda: str(dest) in indexed(lib), message="the new file")
    results = lib.similar(str(src), 1)
    assert results[0].path == str(dest) and results[0].score > 0.99


def test_delete_rename_and_move_follow(daemon, library_dir, encoder):
    lib, indexer, _, _ = daemon
    before = encoder.embedded
    os.remove(library_dir / "noise" / "hat_0.flac")
    wait_for(lambda: str(library_dir / "noise" / "hat_0.flac") not in indexed(lib))
    old = library_dir / "tones" / "tone_1.wav"
    vec = lib.catalog.embedding(str(old))
    renamed = library_dir / "tones" / "renamed.wav"
    os.rename(old, renamed)
    wait_for(lambda: str(renamed) in indexed(lib) and str(old) not in indexed(lib))
    (library_dir / "sub").mkdir()
    moved = library_dir / "sub" / "renamed.wav"
    os.rename(renamed, moved)
    wait_for(lambda: str(moved) in indexed(lib) and str(renamed) not in indexed(lib))
    assert np.array_equal(lib.catalog.embedding(str(moved)), vec)
    assert indexer.wait_idle(10)
    assert encoder.embedded == before  # moves and renames re-embed nothing


def test_folder_moved_and_deleted(daemon, library_dir):
    lib, indexer, _, _ = daemon
    os.rename(library_dir / "kicks", library_dir / "bd")
    wait_for(lambda: {str(library_dir / "bd" / f"kick_{i}.wav") for i in range(4)}
             <= indexed(lib))
    shutil.rmtree(library_dir / "bd")
    wait_for(lambda: not any("/bd/" in p for p in indexed(lib)))
    assert len(indexed(lib)) == 8


def test_burst_of_files_is_indexed(daemon, library_dir, tmp_path):
    lib, indexer, _, _ = daemon
    pack = tmp_path / "pack"
    for i in range(60):
        write(pack / f"k{i}.wav", kick(40 + i))
    shutil.move(str(pack), str(library_dir / "pack"))
    wait_for(lambda: len(indexed(lib)) == 72, timeout=30, message="72 files")
    assert indexer.wait_idle(10)


def test_new_folder_with_files_and_directory_named_like_audio(daemon, library_dir):
    lib, indexer, _, _ = daemon
    (library_dir / "weird.wav").mkdir()
    write(library_dir / "weird.wav" / "inside.wav", tone(600))
    wait_for(lambda: str(library_dir / "weird.wav" / "inside.wav") in indexed(lib))
    assert str(library_dir / "weird.wav") not in indexed(lib)


def test_unplugged_root_goes_offline_and_comes_back_without_reembedding(
        tmp_path, encoder, library_dir):
    lib = Library(tmp_path / "data", encoder=encoder)
    drive = tmp_path / "drive"
    shutil.copytree(library_dir / "kicks", drive / "kicks")
    lib.index([str(library_dir), str(drive)])
    embedded = encoder.embedded
    hidden = tmp_path / "unplugged"
    os.rename(drive, hidden)  # the drive disappears while the daemon is down
    indexer = Indexer(lib, settle=0.05, poll_roots=0.1)
    indexer.start()
    try:
        indexer.add_root(str(library_dir))
        indexer.add_root(str(drive))
        assert indexer.wait_idle(20)
        assert indexer.offline_roots() == [str(drive)]
        assert lib.status()["offline"] == 4
        assert not any(p.startswith(str(drive)) for p in lib.indexed_paths())
        results = lib.similar(str(library_dir / "kicks" / "kick_0.wav"), 20)
        assert not any(r.path.startswith(str(drive)) for r in results)
        os.rename(hidden, drive)  # plugged back in
        wait_for(lambda: indexer.offline_roots() == [], message="the drive back online")
        assert indexer.wait_idle(20)
        assert sum(p.startswith(str(drive)) for p in lib.indexed_paths()) == 4
        assert encoder.embedded == embedded
    finally:
        indexer.stop()
        lib.close()


def test_reconcile_after_offline_changes(tmp_path, encoder, library_dir):
    lib = Library(tmp_path / "data", encoder=encoder)
    lib.index([str(library_dir)])
    base = encoder.embedded
    for i in range(5):
        write(library_dir / "added" / f"a{i}.wav", tone(700 + 50 * i))
    for name in ("tones/tone_0.wav", "noise/hat_1.flac", "kicks/kick_3.wav"):
        os.remove(library_dir / name)
    os.rename(library_dir / "tones" / "tone_2.wav", library_dir / "moved.wav")
    indexer = Indexer(lib, settle=0.05)
    indexer.start()
    try:
        indexer.add_root(str(library_dir))
        assert indexer.wait_idle(20)
    finally:
        indexer.stop()
    on_disk = {os.path.join(d, f) for d, _, fs in os.walk(library_dir) for f in fs}
    assert set(lib.indexed_paths()) == on_disk
    assert encoder.embedded - base == 5  # the moved file kept its embedding
    lib.close()


def test_state_says_work_is_waiting_while_the_model_loads(tmp_path, encoder, library_dir):
    """Before the worker has loaded the model, a controller must not read 'idle'."""
    lib = Library(tmp_path / "data", encoder=encoder)
    loading, release = threading.Event(), threading.Event()
    warm_up = lib.warm_up

    def slow_warm_up():
        loading.set()
        release.wait(30)
        warm_up()

    lib.warm_up = slow_warm_up
    indexer = Indexer(lib, settle=0.05)
    indexer.start()
    try:
        assert loading.wait(10)
        assert indexer.status() == {"pending": 0, "state": "idle"}
        dropped = str(library_dir / "tones" / "tone_0.wav")
        indexer.file_changed(dropped, immediate=True)
        assert indexer.status() == {"pending": 1, "state": "indexing"}
        indexer.add_root(str(library_dir))
        assert indexer.status()["state"] == "scanning"
        release.set()
        assert indexer.wait_idle(20)
        assert indexer.status() == {"pending": 0, "state": "idle"}
        assert dropped in set(lib.indexed_paths())
    finally:
        release.set()
        indexer.stop()
        lib.close()
