"""Approximate search agrees with exact search and stays correct through updates and reloads."""
from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("usearch")

from engine.index.ann import ApproxIndex, StaleIndexError, keys_checksum  # noqa: E402
from engine.index.auto import AutoIndex, load_or_build  # noqa: E402
from engine.index.search import ExactIndex  # noqa: E402

DIM = 32


def unit(rng: np.random.Generator, n: int, dim: int = DIM, clusters: int = 20) -> np.ndarray:
    """Clustered unit vectors, like embeddings of families of sounds."""
    centers = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centers[rng.integers(0, clusters, n)] + 0.5 * rng.standard_normal((n, dim)).astype(
        np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def make(**kw) -> ApproxIndex:
    return ApproxIndex(DIM, threads=1, **kw)


def recall(a: ApproxIndex | AutoIndex, e: ExactIndex, queries: np.ndarray, k: int = 10,
           **kw) -> float:
    hits = 0
    for q in queries:
        got = set(a.search(q, k, **kw)[0].tolist())
        hits += len(got & set(e.search(q, k, **kw)[0].tolist()))
    return hits / (k * len(queries))


def pair(rng, n=1000, **kw) -> tuple[ApproxIndex, ExactIndex, np.ndarray, np.ndarray]:
    keys = rng.permutation(10 * n)[:n].astype(np.int64)          # sparse, shuffled row ids
    vecs = unit(rng, n)
    a, e = make(**kw), ExactIndex(DIM)
    a.add(keys, vecs)
    e.add(keys, vecs)
    return a, e, keys, vecs


def test_agrees_with_exact_on_small_data(rng):
    a, e, keys, vecs = pair(rng)
    queries = unit(rng, 50)
    assert len(a) == len(e) == 1000
    assert recall(a, e, queries) >= 0.99
    # scores are cosines (float16 storage: about 3 decimal digits)
    got_k, got_s = a.search(queries[0], 10)
    np.testing.assert_allclose(got_s, e.scores(queries[0])[[e._row[k] for k in got_k]],
                               atol=2e-3)
    assert np.all(np.diff(got_s) <= 1e-6)                           # best first


@pytest.mark.parametrize("dtype", ["f32", "f16", "i8"])
def test_storage_types(rng, dtype):
    a, e, keys, vecs = pair(rng, n=500, dtype=dtype)
    assert recall(a, e, unit(rng, 30)) >= (0.9 if dtype == "i8" else 0.99)


def test_query_for_an_indexed_item_finds_itself(rng):
    a, e, keys, vecs = pair(rng)
    for i in range(0, 1000, 97):
        assert a.search(vecs[i], 1)[0][0] == keys[i]


def test_additions_replacements_and_removals(rng):
    a, e, keys, vecs = pair(rng, n=800)
    # more items
    more_keys = np.arange(20_000, 20_400, dtype=np.int64)
    more = unit(rng, 400)
    a.add(more_keys, more)
    e.add(more_keys, more)
    # replace 100 existing vectors with new ones
    rep = keys[:100]
    new = unit(rng, 100)
    a.add(rep, new)
    e.add(rep, new)
    assert len(a) == len(e) == 1200
    np.testing.assert_allclose(a.vector(int(rep[5])), new[5], atol=2e-3)
    assert a.search(new[7], 1)[0][0] == rep[7]
    # remove 300, including some replaced and some never-present keys
    gone = np.concatenate([keys[50:300], more_keys[:50], np.array([999_999, -3])])
    a.remove(gone)
    e.remove(gone)
    assert len(a) == len(e) == 900
    gone_set = set(gone.tolist())
    queries = np.concatenate([unit(rng, 40), vecs[50:90]])          # incl. removed items' vectors
    for q in queries:
        got = a.search(q, 20)[0]
        assert not gone_set & set(got.tolist())
        assert len(got) == 20
    assert recall(a, e, queries) >= 0.97
    for key in gone[:5]:
        assert key not in a
    # re-adding a removed key brings it back
    a.add(gone[:1], vecs[50:51])
    assert a.search(vecs[50], 1)[0][0] == gone[0]
    assert set(a.keys().tolist()) == set(e.keys().tolist()) | {int(gone[0])}


def test_duplicates_in_one_batch_last_wins(rng):
    a = make()
    v = unit(rng, 3)
    a.add(np.array([5, 6, 5]), v)
    assert len(a) == 2
    np.testing.assert_allclose(a.vector(5), v[2], atol=2e-3)
    assert a.checksum() == keys_checksum(np.array([5, 6]))


def test_negative_keys_rejected(rng):
    with pytest.raises(ValueError):
        make().add(np.array([-1]), unit(rng, 1))


def test_empty_and_small(rng):
    a = make()
    k, s = a.search(unit(rng, 1)[0], 10)
    assert len(k) == len(s) == 0
    a.add(np.array([3, 4]), unit(rng, 2))
    assert len(a.search(unit(rng, 1)[0], 10)[0]) == 2
    assert len(a.search(unit(rng, 1)[0], 0)[0]) == 0


def test_exclude(rng):
    a, e, keys, vecs = pair(rng)
    q = vecs[0]
    top = a.search(q, 10)[0]
    assert top[0] == keys[0]
    excl = frozenset(int(x) for x in top[:5])
    got = a.search(q, 10, exclude=excl)[0]
    assert len(got) == 10
    assert not excl & set(got.tolist())
    np.testing.assert_array_equal(got[:5], top[5:10])
    assert recall(a, e, vecs[:30], exclude=frozenset(keys[:30].tolist())) >= 0.97


def test_weights_match_exact(rng):
    a, e, keys, vecs = pair(rng)
    w = np.ones(DIM, dtype=np.float32)
    w[: DIM // 2] = 0.0                          # one aspect switched off
    w[DIM // 2:] = 2.0
    queries = unit(rng, 30)
    assert recall(a, e, queries, weights=w) >= 0.97
    ak, as_ = a.search(queries[0], 10, weights=w)
    ek, es = e.search(queries[0], 10, weights=w)
    assert np.all(np.diff(as_) <= 1e-6)
    np.testing.assert_allclose(as_[:3], es[:3], atol=5e-3)
    # weights change the answer, and agree with exact when they do
    assert set(a.search(queries[0], 10)[0].tolist()) != set(ak.tolist())


def test_save_load_round_trip(rng, tmp_path):
    a, e, keys, vecs = pair(rng)
    a.remove(keys[:10])
    path = tmp_path / "index.bin"
    a.save(path, generation=7)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    b = ApproxIndex.load(path, dim=DIM, generation=7, keys=keys[10:])
    assert len(b) == len(a) == 990
    assert b.checksum() == a.checksum() == keys_checksum(keys[10:])
    assert (b.dtype, b.connectivity, b.expansion_search) == (a.dtype, a.connectivity,
                                                             a.expansion_search)
    for q in unit(rng, 10):
        np.testing.assert_array_equal(a.search(q, 10)[0], b.search(q, 10)[0])
    # search-time settings come from the caller, not from the file; the graph's own stay
    c = ApproxIndex.load(path, expansion_search=40, threads=1)
    assert c.expansion_search == 40
    with pytest.raises(TypeError):
        ApproxIndex.load(path, connectivity=8)
    narrow = make(expansion_search=16, connectivity=8)
    narrow.add(keys[:50], vecs[:50])
    narrow.save(path)
    d = ApproxIndex.load(path)
    assert (d.expansion_search, d.connectivity) == (ApproxIndex(DIM).expansion_search, 8)
    # the loaded index keeps working
    b.add(np.array([77_777]), vecs[:1])
    b.remove(keys[10:20])
    assert len(b) == 981 and 77_777 in b


def test_stale_file_is_detected(rng, tmp_path):
    a, e, keys, vecs = pair(rng, n=300)
    path = tmp_path / "index.bin"
    with pytest.raises(StaleIndexError):
        ApproxIndex.load(path)                                         # missing
    a.save(path, generation=3)
    with pytest.raises(StaleIndexError):
        ApproxIndex.load(path, generation=4)                           # store moved on
    with pytest.raises(StaleIndexError):
        ApproxIndex.load(path, keys=keys[1:])                          # a row went away
    with pytest.raises(StaleIndexError):
        ApproxIndex.load(path, keys=np.append(keys[1:], 10**9))        # same count, other keys
    with pytest.raises(StaleIndexError):
        ApproxIndex.load(path, dim=DIM * 2)
    ApproxIndex.load(path, generation=3, keys=keys[::-1])              # order does not matter
    data = path.read_bytes()
    path.write_bytes(data[:-100])                                      # truncated
    with pytest.raises(StaleIndexError):
        ApproxIndex.load(path)
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))             # one flipped byte
    with pytest.raises(StaleIndexError):
        ApproxIndex.load(path)
    path.write_bytes(b"not an index")
    with pytest.raises(StaleIndexError):
        ApproxIndex.load(path)


def test_auto_switches_and_keeps_semantics(rng, tmp_path):
    keys = np.arange(600, dtype=np.int64) * 2
    vecs = unit(rng, 600)
    auto, e = AutoIndex(DIM, threshold=400, threads=1), ExactIndex(DIM)
    auto.add(keys[:300], vecs[:300])
    e.add(keys[:300], vecs[:300])
    assert auto.kind == "exact"
    path = tmp_path / "auto.bin"
    auto.save(path, generation=1)
    back = AutoIndex.load(path, generation=1, keys=keys[:300])
    assert back.kind == "exact" and len(back) == 300
    np.testing.assert_array_equal(back.search(vecs[3], 5)[0], auto.search(vecs[3], 5)[0])

    auto.add(keys[300:], vecs[300:])
    e.add(keys[300:], vecs[300:])
    assert auto.kind == "approx" and len(auto) == 600
    assert auto.checksum() == keys_checksum(keys)
    queries = unit(rng, 30)
    w = np.linspace(0.0, 2.0, DIM, dtype=np.float32)
    assert recall(auto, e, queries) >= 0.99
    assert recall(auto, e, queries, weights=w) >= 0.97
    ex = frozenset(keys[:3].tolist())
    assert not ex & set(auto.search(vecs[0], 10, exclude=ex)[0].tolist())
    auto.save(path, generation=2)
    back = AutoIndex.load(path, generation=2, keys=keys)
    assert back.kind == "approx"
    np.testing.assert_array_equal(back.search(vecs[9], 10)[0], auto.search(vecs[9], 10)[0])

    # removals below threshold // 2 go back to exact, with the same contents
    auto.remove(keys[:450])
    e.remove(keys[:450])
    assert auto.kind == "exact" and len(auto) == 150
    assert auto.checksum() == keys_checksum(keys[450:])
    assert recall(auto, e, queries) == 1.0


def test_load_or_build(rng, tmp_path):
    keys = np.arange(200, dtype=np.int64)
    vecs = unit(rng, 200)
    path = tmp_path / "i.bin"
    calls = []

    def fetch():
        calls.append(1)
        return keys, vecs

    idx, rebuilt = load_or_build(path, DIM, generation=5, keys=keys, fetch=fetch, threads=1)
    assert rebuilt and len(idx) == 200 and calls == [1]
    idx.save(path, generation=5)
    idx2, rebuilt = load_or_build(path, DIM, generation=5, keys=keys, fetch=fetch, threads=1)
    assert not rebuilt and len(idx2) == 200 and calls == [1]
    idx3, rebuilt = load_or_build(path, DIM, generation=6, keys=keys, fetch=fetch, threads=1)
    assert rebuilt and calls == [1, 1]
