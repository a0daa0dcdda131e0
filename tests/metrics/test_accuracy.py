"""Array-based ranking accuracy: hand-computed fixtures, ranx, a loop reference and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recaudit.metrics.accuracy import (
    hit_rate,
    map_at_k,
    mrr,
    ndcg,
    precision,
    recall,
    relevance,
)
from recaudit.metrics.lists import RecLists
from recaudit.metrics.registry import relevance_functions

ACCURACY_METRICS = relevance_functions()  # the catalogue's accuracy entries, as the engine runs them


def _lists(items: list[list[int]], n_items: int) -> RecLists:
    k = max(len(r) for r in items)
    arr = np.full((len(items), k), -1, dtype=np.int64)
    for u, row in enumerate(items):
        arr[u, : len(row)] = row
    return RecLists(np.array([f"u{u}" for u in range(len(items))], dtype=object), arr,
                    np.array([f"i{j}" for j in range(n_items)], dtype=object))


def _csr(sets: list[list[int]], n_items: int) -> sp.csr_matrix:
    rows = [u for u, s in enumerate(sets) for _ in s]
    cols = [i for s in sets for i in s]
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(sets), n_items))


def test_hand_computed_fixture() -> None:
    # u0: list 0 1 2 3, relevant {1, 3} plus one test item outside the catalogue -> |T| = 3, k = 4
    # u1: list 4 (short list), relevant {4}; u2: empty list, relevant {0}; u3: no test items (left out)
    lists = _lists([[0, 1, 2, 3], [4], [], [2, 0]], n_items=5)
    test = _csr([[1, 3], [4], [0], []], n_items=5)
    n_rel = np.array([3, 1, 1, 0])
    rel = relevance(lists, test)
    assert rel.tolist() == [[False, True, False, True], [True, False, False, False], [False] * 4, [False] * 4]
    dcg0 = 1 / math.log2(3) + 1 / math.log2(5)
    idcg0 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    expected = {
        "precision": [2 / 4, 1 / 4, 0.0],  # divided by k = 4 even for the short list
        "recall": [2 / 3, 1.0, 0.0],
        "hit_rate": [1.0, 1.0, 0.0],
        "mrr": [1 / 2, 1.0, 0.0],
        "ndcg": [dcg0 / idcg0, 1.0, 0.0],
        "map": [(1 / 2 + 2 / 4) / 3, 1.0, 0.0],  # min(k, |T|) = 3
    }
    for name, fn in ACCURACY_METRICS.items():
        got = fn(rel, n_rel)
        np.testing.assert_allclose(got[:3], expected[name], err_msg=name)
        assert math.isnan(got[3]), name


def test_map_divides_by_min_k_and_t() -> None:
    # k = 2, both items relevant, |T| = 5: docs/metrics.md map = (1 + 1) / min(2, 5) = 1 (ranx would give 2/5)
    rel = np.array([[True, True]])
    assert map_at_k(rel, np.array([5]))[0] == pytest.approx(1.0)
    assert ndcg(rel, np.array([5]))[0] == pytest.approx(1.0)


def test_relevance_ignores_pads_and_batches_agree() -> None:
    rng = np.random.default_rng(0)
    lists, test, _ = _random_world(rng, n_users=57, n_items=23, k=6)
    full = relevance(lists, test)
    assert np.array_equal(full, relevance(lists, test, batch_size=5))
    dense = test.toarray() > 0
    want = np.where(lists.mask, dense[np.arange(lists.n_users)[:, None], np.maximum(lists.items, 0)], False)
    assert np.array_equal(full, want)
    assert not full[~lists.mask].any()


def _random_world(
    rng: np.random.Generator, n_users: int, n_items: int, k: int
) -> tuple[RecLists, sp.csr_matrix, np.ndarray]:
    items = [
        list(rng.choice(n_items, size=int(rng.integers(0, k + 1)), replace=False)) for _ in range(n_users)
    ]
    truth = [list(rng.choice(n_items, size=int(rng.integers(0, 9)), replace=False)) for _ in range(n_users)]
    lists = _lists(items + [list(range(k))], n_items)  # one full list so the width is k
    truth.append([0])
    outside = rng.integers(0, 2, size=n_users + 1)  # test items outside the catalogue
    n_rel = np.array([len(t) for t in truth]) + np.where(np.array([len(t) for t in truth]) > 0, outside, 0)
    return lists, _csr(truth, n_items), n_rel


def _reference(lst: list[int], truth: set[int], n_rel: int, k: int) -> dict[str, float]:
    """Independent loop implementation of docs/metrics.md for one user."""
    hits = [i in truth for i in lst[:k]]
    dcg = sum(1 / math.log2(r + 2) for r, h in enumerate(hits) if h)
    idcg = sum(1 / math.log2(r + 2) for r in range(min(k, n_rel)))
    first = next((r + 1 for r, h in enumerate(hits) if h), None)
    return {
        "precision": sum(hits) / k,
        "recall": sum(hits) / n_rel,
        "hit_rate": float(any(hits)),
        "mrr": 1 / first if first else 0.0,
        "ndcg": dcg / idcg,
        "map": sum(sum(hits[: r + 1]) / (r + 1) for r, h in enumerate(hits) if h) / min(k, n_rel),
    }


def test_random_data_matches_loop_reference() -> None:
    rng = np.random.default_rng(7)
    lists, test, n_rel = _random_world(rng, n_users=80, n_items=30, k=10)
    for k in (1, 3, 10):
        cut = lists.truncate(k)
        rel = relevance(cut, test)
        for u in range(cut.n_users):
            lst = [int(i) for i in cut.items[u] if i >= 0]
            truth = set(test[u].indices.tolist())
            for name, fn in ACCURACY_METRICS.items():
                got = fn(rel[u : u + 1], n_rel[u : u + 1])[0]
                if n_rel[u] == 0:
                    assert math.isnan(got)
                else:
                    assert got == pytest.approx(_reference(lst, truth, int(n_rel[u]), k)[name]), (name, k, u)


def test_random_data_matches_ranx() -> None:
    ranx = pytest.importorskip("ranx")
    rng = np.random.default_rng(11)
    lists, test, _ = _random_world(rng, n_users=60, n_items=25, k=8)
    n_rel = np.diff(test.indptr)  # ranx only knows in-catalogue test items
    k = lists.k
    evaluated = np.flatnonzero(n_rel > 0)
    qrels = ranx.Qrels({f"q{u:05d}": {f"d{i}": 1 for i in test[u].indices} for u in evaluated})
    run_dict = {}
    for u in evaluated:
        row = [int(i) for i in lists.items[u] if i >= 0]
        run_dict[f"q{u:05d}"] = {f"d{i}": float(k - r) for r, i in enumerate(row)} or {"none": 0.0}
    run = ranx.Run(run_dict)
    rel = relevance(lists, test)
    # ranx compiles each metric with numba (about 7 s each on a fresh machine): the two whose definitions
    # differ most between tools; every metric is checked against the hand-computed reference above
    for name in ("ndcg", "mrr"):  # same names in ranx
        want = ranx.evaluate(qrels, run, f"{name}@{k}")
        assert np.nanmean(ACCURACY_METRICS[name](rel, n_rel)) == pytest.approx(want, abs=1e-9), name
    # ranx's map divides by |T_u|; rescale it per user to docs/metrics.md's min(k, |T_u|)
    ap = ranx.evaluate(qrels, run, f"map@{k}", return_mean=False)
    per_user = np.asarray(ap) * n_rel[evaluated] / np.minimum(n_rel[evaluated], k)
    np.testing.assert_allclose(map_at_k(rel, n_rel)[evaluated], per_user, atol=1e-9)


@st.composite
def _rel_case(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n_users = draw(st.integers(1, 12))
    k = draw(st.integers(1, 8))
    rel = np.array(draw(st.lists(st.lists(st.booleans(), min_size=k, max_size=k), min_size=n_users,
                                 max_size=n_users)))
    extra = np.array(draw(st.lists(st.integers(0, 5), min_size=n_users, max_size=n_users)))
    n_rel = rel.sum(axis=1) + extra
    return rel, n_rel


@settings(max_examples=60, deadline=None)
@given(_rel_case(), st.randoms(use_true_random=False))
def test_properties(case: tuple[np.ndarray, np.ndarray], rnd) -> None:  # noqa: ANN001
    rel, n_rel = case
    perm = np.array(rnd.sample(range(len(n_rel)), len(n_rel)))
    for name, fn in ACCURACY_METRICS.items():
        values = fn(rel, n_rel)
        ok = n_rel > 0
        assert np.isnan(values[~ok]).all(), name
        assert ((values[ok] >= 0) & (values[ok] <= 1 + 1e-12)).all(), name
        np.testing.assert_array_equal(fn(rel[perm], n_rel[perm]), values[perm])
    hits = rel.sum(axis=1)
    ok = n_rel > 0
    # no hit -> every metric is 0; hit_rate is the indicator of a hit
    for fn in (precision, recall, hit_rate, mrr, ndcg, map_at_k):
        assert (fn(rel, n_rel)[ok & (hits == 0)] == 0).all()
    np.testing.assert_array_equal(hit_rate(rel, n_rel)[ok], (hits[ok] > 0).astype(float))
    # a perfect list (all top-min(k,|T|) relevant) has ndcg = map = 1
    k = rel.shape[1]
    perfect = np.arange(k)[None, :] < np.minimum(n_rel, k)[:, None]
    np.testing.assert_allclose(ndcg(perfect, n_rel)[ok], 1.0)
    np.testing.assert_allclose(map_at_k(perfect, n_rel)[ok], 1.0)
    # the reciprocal rank never exceeds hit_rate
    assert (mrr(rel, n_rel)[ok] <= hit_rate(rel, n_rel)[ok]).all()
