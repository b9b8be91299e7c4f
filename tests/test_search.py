import numpy as np

from engine.index.search import ExactIndex, top_k


def _unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_search_matches_full_cosine_matrix(rng):
    x = _unit(rng, 200, 16)
    index = ExactIndex(16)
    index.add(np.arange(200), x)
    full = x @ x.T  # the original notebook's N x N matrix
    for q in range(0, 200, 17):
        keys, scores = index.search(x[q], 10, exclude=frozenset({q}))
        row = full[q].copy()
        row[q] = -np.inf
        expected = np.argsort(-row, kind="stable")[:10]
        assert keys.tolist() == expected.tolist()
        assert np.allclose(scores, full[q, expected], atol=1e-5)
        assert np.all(np.diff(scores) <= 1e-7)


def test_add_replace_remove(rng):
    x = _unit(rng, 50, 8)
    index = ExactIndex(8, capacity=4)
    index.add(np.arange(50), x)
    index.remove(np.array([0, 10, 49, 999]))
    assert len(index) == 47
    keys, _ = index.search(x[10], 47)
    assert {0, 10, 49}.isdisjoint(keys.tolist())
    index.add(np.array([5]), x[10:11])  # replace key 5's vector
    keys, scores = index.search(x[10], 1)
    assert keys[0] == 5 and scores[0] > 0.999
    assert len(index) == 47


def test_weights_change_ranking():
    index = ExactIndex(4)
    index.add(np.array([1, 2]), np.array([[1, 0, 0, 0], [0, 0, 1, 0]], dtype=np.float32))
    q = np.array([0.6, 0, 0.8, 0], dtype=np.float32)
    assert index.search(q, 1)[0][0] == 2
    assert index.search(q, 1, weights=np.array([1, 1, 0, 0], np.float32))[0][0] == 1


def test_top_k_orders_and_handles_small_n():
    s = np.array([0.1, 0.9, 0.5, 0.9])
    assert top_k(s, 3).tolist() == [1, 3, 2]
    assert top_k(s, 10).tolist() == [1, 3, 2, 0]
    assert top_k(s, 0).size == 0


def test_batches_with_known_keys_and_a_taken_matrix_hold_what_one_at_a_time_does(rng):
    x = _unit(rng, 60, 8)
    batched = ExactIndex.of(np.arange(0, 60, 2), x[:30].copy())  # takes the matrix
    one = ExactIndex(8, capacity=2)
    for k, v in zip(range(0, 60, 2), x[:30]):
        one.add(np.array([k]), v[None])
    # a batch mixing replacements and new keys, then one with a key twice (the last wins)
    for index in (batched, one):
        index.add(np.array([4, 61, 0, 63]), x[30:34])
        index.add(np.array([5, 5]), x[34:36])
        index.remove(np.array([2, 61]))
    assert len(batched) == len(one) == 31
    assert sorted(batched.keys().tolist()) == sorted(one.keys().tolist())
    for k in one.keys().tolist():
        assert np.array_equal(batched.vector(k), one.vector(k))
    assert np.array_equal(batched.vector(5), x[35]) and np.array_equal(batched.vector(0), x[32])
    for q in x[::7]:
        assert batched.search(q, 5)[0].tolist() == one.search(q, 5)[0].tolist()
    assert len(ExactIndex.of(np.arange(0), np.zeros((0, 8), np.float32))) == 0
