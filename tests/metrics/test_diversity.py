"""ILD and serendipity: hand-computed fixtures, a loop reference on random data, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recaudit.metrics.diversity import ild, serendipity
from recaudit.metrics.lists import RecLists
from tests.metrics.conftest import rec_lists as _lists
from tests.metrics.conftest import sets_matrix as _csr

# v0 = (1, 0), v1 = (0, 1), v2 = (1, 1), v3 = (0, 0): cos(0,1) = 0, cos(0,2) = cos(1,2) = 1/√2, v3 zero
VECTORS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
# categories: item0 {a}, item1 {a, b}, item2 {b}, item3 none -> cos(0,1) = cos(1,2) = 1/√2, cos(0,2) = 0
CATEGORIES = sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=np.float32))


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = math.sqrt(float(a @ a)), math.sqrt(float(b @ b))
    return 0.0 if na == 0 or nb == 0 else float(a @ b) / (na * nb)


def test_ild_hand_computed() -> None:
    lists = _lists([[0, 1, 2], [0, 3], [2], []], n_items=4)
    got = ild(lists, VECTORS)
    # list 0 1 2: distances 1, 1 - 1/√2, 1 - 1/√2 over 3 pairs (6 ordered pairs, same mean)
    assert got[0] == pytest.approx((3 - math.sqrt(2)) / 3)
    assert got[1] == pytest.approx(1.0)  # zero vector: cosine 0, distance 1
    assert math.isnan(got[2]) and math.isnan(got[3])  # fewer than two items: left out
    cat = ild(lists, CATEGORIES)
    # categories: distances 1 - 1/√2, 1, 1 - 1/√2
    assert cat[0] == pytest.approx((3 - math.sqrt(2)) / 3)
    assert cat[1] == pytest.approx(1.0)  # item 3 has no category


def test_serendipity_hand_computed() -> None:
    lists = _lists([[1, 2], [1, 2], [0, 1], [2], []], n_items=4)
    test = _csr([[2], [], [0], [2], [0]], n_items=4)
    train = _csr([[0], [0], [], [0, 1], [1]], n_items=4)
    train[0, 0] = 3.0  # repeated interaction: H_u is a set
    got = serendipity(lists, test, train, VECTORS)
    assert got[0] == pytest.approx(0.5 * (1 - 1 / math.sqrt(2)))  # item 2 relevant, history {0}
    assert got[1] == 0.0  # no test items: counts as 0
    assert got[2] == pytest.approx(0.5 * 1.0)  # empty history: unexpectedness 1
    assert got[3] == pytest.approx(1 - (1 / math.sqrt(2) + 1 / math.sqrt(2)) / 2)
    assert math.isnan(got[4])  # no list


def _ild_reference(items: np.ndarray, vectors: np.ndarray) -> float:
    row = [int(i) for i in items if i >= 0]
    pairs = [(a, b) for a in row for b in row if a != b]
    if not pairs:
        return float("nan")
    return float(np.mean([1 - _cos(vectors[a], vectors[b]) for a, b in pairs]))


def _serendipity_reference(
    items: np.ndarray, truth: set[int], history: set[int], vectors: np.ndarray
) -> float:
    row = [int(i) for i in items if i >= 0]
    if not row:
        return float("nan")
    total = 0.0
    for i in row:
        if i in truth:
            sims = [_cos(vectors[i], vectors[j]) for j in history]
            total += 1 - (float(np.mean(sims)) if sims else 0.0)
    return total / len(row)


def _random_case(seed: int, sparse: bool) -> tuple[RecLists, sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_users, n_items, k = 45, 20, 6

    def sets(most: int) -> list[list[int]]:
        sizes = rng.integers(0, most + 1, size=n_users)
        return [list(rng.choice(n_items, size=int(n), replace=False)) for n in sizes]

    lists = _lists(sets(k), n_items, k=k)
    test = _csr(sets(4), n_items)
    train = _csr(sets(5), n_items)
    if sparse:
        vectors = (rng.random((n_items, 5)) < 0.35).astype(float)
    else:
        vectors = rng.normal(size=(n_items, 4))
        vectors[3] = 0.0  # a zero vector
    return lists, test, train, vectors


@pytest.mark.parametrize("sparse", [False, True])
def test_random_data_matches_loop_reference(sparse: bool) -> None:
    lists, test, train, vectors = _random_case(5, sparse)
    arg = sp.csr_matrix(vectors) if sparse else vectors
    got_ild = ild(lists, arg, batch_size=7)
    got_ser = serendipity(lists, test, train, arg, batch_size=7)
    np.testing.assert_allclose(got_ild, ild(lists, arg), equal_nan=True)
    np.testing.assert_allclose(got_ser, serendipity(lists, test, train, arg), equal_nan=True)
    for u in range(lists.n_users):
        want = _ild_reference(lists.items[u], vectors)
        assert got_ild[u] == pytest.approx(want, nan_ok=True), u
        want = _serendipity_reference(lists.items[u], set(test[u].indices), set(train[u].indices), vectors)
        assert got_ser[u] == pytest.approx(want, nan_ok=True), u


def test_tiny_memory_block_still_exact() -> None:
    lists, test, train, vectors = _random_case(9, False)
    np.testing.assert_allclose(ild(lists, vectors, max_block=1), ild(lists, vectors), equal_nan=True)
    np.testing.assert_allclose(serendipity(lists, test, train, vectors, max_block=1),
                               serendipity(lists, test, train, vectors), equal_nan=True)


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError):
        ild(_lists([[0, 1]], n_items=4), VECTORS[:3])


@st.composite
def _case(draw: st.DrawFn) -> tuple[RecLists, np.ndarray, sp.csr_matrix, sp.csr_matrix]:
    n_items = draw(st.integers(2, 8))
    k = draw(st.integers(1, n_items))
    n_users = draw(st.integers(1, 8))
    rows = [draw(st.permutations(range(n_items)))[: draw(st.integers(0, k))] for _ in range(n_users)]
    vectors = draw(arrays(np.float64, (n_items, 3), elements=st.floats(-5, 5).map(lambda x: round(x, 3))))
    test = draw(arrays(np.bool_, (n_users, n_items)))
    train = draw(arrays(np.bool_, (n_users, n_items)))
    return _lists(rows, n_items, k=k), vectors, sp.csr_matrix(test), sp.csr_matrix(train)


@settings(max_examples=60, deadline=None)
@given(_case(), st.randoms(use_true_random=False), st.floats(0.1, 10))
def test_properties(case: tuple, rnd, scale: float) -> None:  # noqa: ANN001
    lists, vectors, test, train = case
    d = ild(lists, vectors)
    s = serendipity(lists, test, train, vectors)
    n = lists.lengths
    assert np.isnan(d[n < 2]).all() and not np.isnan(d[n >= 2]).any()
    assert ((d[n >= 2] >= -1e-9) & (d[n >= 2] <= 2 + 1e-9)).all()  # cosine distance in [0, 2]
    assert np.isnan(s[n == 0]).all()
    assert ((s[n > 0] >= -1e-9) & (s[n > 0] <= 2 + 1e-9)).all()
    # users without relevant recommendations score 0
    no_hit = (n > 0) & (np.asarray(test.multiply(sp.csr_matrix(_indicator(lists))).sum(axis=1)).ravel() == 0)
    assert (s[no_hit] == 0).all()
    # user order: permuting users permutes values
    perm = np.array(rnd.sample(range(lists.n_users), lists.n_users))
    shuffled = RecLists(lists.user_ids[perm], lists.items[perm], lists.item_ids)
    np.testing.assert_allclose(ild(shuffled, vectors), d[perm], equal_nan=True)
    again = serendipity(shuffled, test[perm], train[perm], vectors)
    np.testing.assert_allclose(again, s[perm], equal_nan=True)
    # scale invariance of cosine; ILD does not depend on the order within a list
    np.testing.assert_allclose(ild(lists, vectors * scale), d, equal_nan=True, atol=1e-9)
    reversed_items = np.array([np.r_[row[row >= 0][::-1], row[row < 0]] for row in lists.items])
    flipped = RecLists(lists.user_ids, reversed_items, lists.item_ids)
    np.testing.assert_allclose(ild(flipped, vectors), d, equal_nan=True, atol=1e-9)


def _indicator(lists: RecLists) -> np.ndarray:
    out = np.zeros((lists.n_users, lists.n_items))
    rows, cols = np.nonzero(lists.mask)
    out[rows, lists.items[rows, cols]] = 1
    return out


def test_category_ild_in_unit_interval() -> None:
    lists, _, _, vectors = _random_case(3, True)
    d = ild(lists, sp.csr_matrix(vectors))
    ok = ~np.isnan(d)
    assert ((d[ok] >= -1e-12) & (d[ok] <= 1 + 1e-12)).all()  # non-negative indicators: cosine in [0, 1]
