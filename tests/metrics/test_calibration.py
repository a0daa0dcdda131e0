"""Steck miscalibration: hand-computed fixtures, a loop reference on random data, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recaudit.metrics.calibration import category_distributions, genre_weights, miscalibration
from recaudit.metrics.lists import RecLists
from tests.metrics.conftest import rec_lists as _lists
from tests.metrics.conftest import sets_matrix as _csr

# item0 {x}, item1 {x, y}, item2 {y}, item3 no category, item4 {x}
CATEGORIES = sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 1], [0, 0], [1, 0]], dtype=np.float32))


def test_genre_weights() -> None:
    want = [[1, 0], [0.5, 0.5], [0, 1], [0, 0], [1, 0]]
    np.testing.assert_allclose(genre_weights(CATEGORIES).toarray(), want)


def test_hand_computed() -> None:
    lists = _lists([[0, 1, 2], [3], [0, 4], [1], []], n_items=5)
    train = _csr([[3, 4], [0], [0, 2], [], [0]], n_items=5)
    got = miscalibration(lists, train, CATEGORIES)
    # u0: history {3 (skipped), 4} -> p = (1, 0); list -> q = ((1 + .5) / 3, (.5 + 1) / 3) = (.5, .5)
    #     C = 1 · ln(1 / (.99 · .5 + .01 · 1)) = ln(1 / .505)
    assert got[0] == pytest.approx(math.log(1 / 0.505))
    assert math.isnan(got[1])  # list holds only an uncategorised item
    # u2: p = (.5, .5), q = (1, 0): C = .5 ln(.5 / (.99 + .005)) + .5 ln(.5 / .005)
    assert got[2] == pytest.approx(0.5 * math.log(0.5 / 0.995) + 0.5 * math.log(0.5 / 0.005))
    assert math.isnan(got[3]) and math.isnan(got[4])  # empty history, empty list
    # alpha = 1 makes q~ = p: no miscalibration
    np.testing.assert_allclose(miscalibration(lists, train, CATEGORIES, alpha=1.0)[[0, 2]], 0.0, atol=1e-12)


def test_category_distributions_for_one_user() -> None:
    frame = category_distributions([3, 4, 4], [0, 1, 2, -1], CATEGORIES, names=["x", "y"])
    assert frame.index.tolist() == ["x", "y"]
    np.testing.assert_allclose(frame["history"], [1.0, 0.0])
    np.testing.assert_allclose(frame["recommended"], [0.5, 0.5])
    assert frame["kl_term"].sum() == pytest.approx(math.log(1 / 0.505))
    empty = category_distributions([], [0], CATEGORIES)
    assert empty["history"].tolist() == [0.0, 0.0] and empty["kl_term"].sum() == 0.0


def _reference(lst: list[int], history: set[int], cats: np.ndarray, alpha: float) -> float:
    def dist(items: list[int]) -> np.ndarray | None:
        rows = [cats[i] / cats[i].sum() for i in items if cats[i].sum() > 0]
        return np.mean(rows, axis=0) if rows else None

    p, q = dist(sorted(history)), dist(lst)
    if p is None or q is None:
        return float("nan")
    return sum(p[g] * math.log(p[g] / ((1 - alpha) * q[g] + alpha * p[g])) for g in range(len(p)) if p[g] > 0)


@pytest.mark.parametrize("alpha", [0.01, 0.3])
def test_random_data_matches_loop_reference(alpha: float) -> None:
    rng = np.random.default_rng(4)
    n_users, n_items, n_groups, k = 50, 25, 6, 5
    cats = (rng.random((n_items, n_groups)) < 0.3).astype(float)
    items = [list(rng.choice(n_items, size=int(n), replace=False)) for n in rng.integers(0, k + 1, n_users)]
    history = [list(rng.choice(n_items, size=int(n), replace=False)) for n in rng.integers(0, 7, n_users)]
    lists, train = _lists(items, n_items, k=k), _csr(history, n_items)
    got = miscalibration(lists, train, sp.csr_matrix(cats), alpha=alpha, batch_size=8)
    small = miscalibration(lists, train, sp.csr_matrix(cats), alpha=alpha, max_block=1)
    np.testing.assert_allclose(got, small, equal_nan=True)
    for u in range(n_users):
        want = _reference(items[u], set(history[u]), cats, alpha)
        assert got[u] == pytest.approx(want, nan_ok=True), u
        if not math.isnan(want):
            frame = category_distributions(history[u], lists.items[u], sp.csr_matrix(cats), alpha=alpha)
            assert frame["kl_term"].sum() == pytest.approx(want)
            assert frame["history"].sum() == pytest.approx(1.0)
            assert frame["recommended"].sum() == pytest.approx(1.0)


def test_bad_alpha_is_refused() -> None:
    with pytest.raises(ValueError):
        miscalibration(_lists([[0]], 5), _csr([[0]], 5), CATEGORIES, alpha=0.0)


@st.composite
def _case(draw: st.DrawFn) -> tuple[RecLists, sp.csr_matrix, sp.csr_matrix]:
    n_items = draw(st.integers(1, 8))
    k = draw(st.integers(1, n_items))
    n_users = draw(st.integers(1, 8))
    rows = [draw(st.permutations(range(n_items)))[: draw(st.integers(0, k))] for _ in range(n_users)]
    cats = draw(arrays(np.bool_, (n_items, draw(st.integers(1, 4)))))
    train = draw(arrays(np.bool_, (n_users, n_items)))
    return _lists(rows, n_items, k=k), sp.csr_matrix(train), sp.csr_matrix(cats)


@settings(max_examples=60, deadline=None)
@given(_case(), st.randoms(use_true_random=False), st.sampled_from([0.01, 0.1, 0.5]))
def test_properties(case: tuple[RecLists, sp.csr_matrix, sp.csr_matrix], rnd, alpha: float) -> None:  # noqa: ANN001
    lists, train, cats = case
    got = miscalibration(lists, train, cats, alpha=alpha)
    ok = ~np.isnan(got)
    # KL between two distributions: non-negative, and at most ln(1 / alpha) since q~ >= alpha p
    assert (got[ok] >= -1e-12).all() and (got[ok] <= math.log(1 / alpha) + 1e-9).all()
    assert np.isnan(got[lists.lengths == 0]).all()
    assert np.isnan(got[np.diff(train.indptr) == 0]).all()
    perm = np.array(rnd.sample(range(lists.n_users), lists.n_users))
    shuffled = RecLists(lists.user_ids[perm], lists.items[perm], lists.item_ids)
    again = miscalibration(shuffled, train[perm], cats, alpha=alpha)
    np.testing.assert_allclose(again, got[perm], equal_nan=True)
    # recommending exactly the history gives 0
    history_lists = np.full((lists.n_users, lists.n_items), -1, dtype=np.int64)
    rows, cols = train.nonzero()
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    starts = np.r_[0, np.cumsum(np.bincount(rows, minlength=lists.n_users))][:-1]
    history_lists[rows, np.arange(len(rows)) - starts[rows]] = cols
    same = miscalibration(RecLists(lists.user_ids, history_lists, lists.item_ids), train, cats, alpha=alpha)
    np.testing.assert_allclose(same[~np.isnan(same)], 0.0, atol=1e-12)
