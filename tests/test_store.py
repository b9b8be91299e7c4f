import os
import sqlite3
import stat

import numpy as np
import pytest

from engine.index.store import FileStat, Store, StoreError


def _st(path, size=10, mtime=1, fp="f"):
    return FileStat(path, size, mtime, fp)


def test_roundtrip_and_stable_ids(tmp_path):
    s = Store(tmp_path / "i.sqlite")
    [a] = s.put_embeddings([(_st("/x/a.wav"), np.ones(3, np.float32))], "m1")
    [a2] = s.put_embeddings([(_st("/x/a.wav", mtime=2), np.zeros(3, np.float32))], "m1")
    assert a == a2
    assert np.array_equal(s.embedding("/x/a.wav", "m1"), np.zeros(3, np.float32))
    assert s.embedding("/x/a.wav", "other") is None
    s.close()
    s = Store(tmp_path / "i.sqlite")
    assert s.get("/x/a.wav").mtime_ns == 2


def test_failures_and_counts(tmp_path):
    s = Store(tmp_path / "i.sqlite")
    s.put_embeddings([(_st("/x/a.wav"), np.ones(3, np.float32))], "m1")
    s.put_embeddings([(_st("/x/b.wav"), np.ones(3, np.float32))], "m0")
    s.put_failures([(_st("/x/c.wav"), "not audio")])
    assert s.counts("m1") == {"indexed": 1, "failed": 1, "offline": 0, "stale": 1, "total": 3}
    assert s.failures() == [("/x/c.wav", "not audio")]


def test_move_folder_keeps_ids_and_embeddings(tmp_path):
    s = Store(tmp_path / "i.sqlite")
    ids = s.put_embeddings([(_st("/x/a/1.wav"), np.ones(2, np.float32)),
                            (_st("/x/a/2.wav"), np.ones(2, np.float32)),
                            (_st("/x/ab.wav"), np.ones(2, np.float32))], "m")
    moved = s.move("/x/a", "/y/z")
    assert sorted((m[0], m[2]) for m in moved) == [(ids[0], "/y/z/1.wav"), (ids[1], "/y/z/2.wav")]
    assert s.get("/x/ab.wav") is not None  # a sibling sharing the prefix is untouched


def test_failed_write_rolls_back(tmp_path):
    s = Store(tmp_path / "i.sqlite")
    s.put_embeddings([(_st("/x/a.wav"), np.ones(2, np.float32))], "m")

    class Boom(Exception):
        pass

    def items():
        yield _st("/x/b.wav"), np.ones(2, np.float32)
        raise Boom

    with pytest.raises(Boom):
        s.put_embeddings(items(), "m")
    assert s.get("/x/b.wav") is None and s.get("/x/a.wav") is not None


def test_offline_rows_are_left_out_of_search(tmp_path):
    s = Store(tmp_path / "i.sqlite")
    s.put_embeddings([(_st("/drive/a.wav"), np.ones(2, np.float32)),
                      (_st("/home/b.wav"), np.ones(2, np.float32))], "m")
    assert len(s.set_offline("/drive", True)) == 1
    [(ids, paths, _)] = list(s.iter_embeddings("m"))
    assert paths == ["/home/b.wav"]
    s.set_offline("/drive", False)
    assert len(list(s.iter_embeddings("m"))[0][1]) == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_index_gives_clear_error(tmp_path):
    s = Store(tmp_path / "i.sqlite")
    s.close()
    for f in tmp_path.iterdir():
        f.chmod(stat.S_IRUSR)
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(StoreError, match="read-only|readonly|unable to open"):
            Store(tmp_path / "i.sqlite").put_failures([(_st("/a.wav"), "x")])
    finally:
        tmp_path.chmod(stat.S_IRWXU)
