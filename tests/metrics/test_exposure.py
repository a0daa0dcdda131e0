"""Exposure and catalogue metrics: hand-computed values, loop references, properties (docs/metrics.md)."""

from __future__ import annotations

import math
from itertools import permutations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recaudit.metrics.exposure import (
    coverage,
    entropy,
    entropy_norm,
    exposure_gini,
    gini,
    gini_at_k,
    gini_recommended_only,
    lorenz_curve,
    personalization,
)
from recaudit.metrics.lists import RecLists


def _lists(rows: list[list[int]], n_items: int) -> RecLists:
    items = np.array(rows, dtype=np.int64)
    return RecLists(np.array([f"u{u}" for u in range(len(rows))], dtype=object), items,
                    np.array([f"i{i}" for i in range(n_items)], dtype=object))


def random_lists(seed: int, n_users: int, n_items: int, k: int, pad: float = 0.3) -> RecLists:
    """Random lists without duplicates; some lists cut short (padded with -1), some empty."""
    rng = np.random.default_rng(seed)
    k = min(k, n_items)
    items = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :k].astype(np.int64)
    lengths = np.where(rng.random(n_users) < pad, rng.integers(0, k + 1, n_users), k)
    items[np.arange(k)[None, :] >= lengths[:, None]] = -1
    return _lists(items.tolist(), n_items)


# --- loop-based references, written straight from docs/metrics.md ---------------------------------------

def ref_gini(counts: list[float]) -> float:
    c = sorted(counts)
    n, total = len(c), sum(c)
    return sum((2 * j - n - 1) * c[j - 1] for j in range(1, n + 1)) / (n * total)


def ref_counts(lists: RecLists) -> list[int]:
    counts = [0] * lists.n_items
    for row in lists.items.tolist():
        for i in row:
            if i >= 0:
                counts[i] += 1
    return counts


def ref_personalization(lists: RecLists) -> float:
    sets = [set(i for i in row if i >= 0) for row in lists.items.tolist()]
    sets = [s for s in sets if s]
    pairs = [(a, b) for a, b in permutations(range(len(sets)), 2)]
    return 1 - sum(len(sets[a] & sets[b]) / lists.k for a, b in pairs) / len(pairs)


# --- by hand ---------------------------------------------------------------------------------------

def test_hand_computed_fixture() -> None:
    # lists: u0 = [0, 1], u1 = [1, 2], u2 = [1]; catalogue of 4 items (item 3 never shown)
    lists = _lists([[0, 1], [1, 2], [1, -1]], 4)
    # c = [1, 3, 1, 0]; 3 of 4 items recommended
    assert coverage(lists) == 0.75
    # sorted c = [0, 1, 1, 3], n = 4, Σc = 5: ((−3)·0 + (−1)·1 + 1·1 + 3·3) / (4·5) = 9/20
    assert gini_at_k(lists) == pytest.approx(0.45)
    # recommended only: [1, 1, 3], n = 3: ((−2)·1 + 0·1 + 2·3) / (3·5) = 4/15
    assert gini_recommended_only(lists.exposure_counts()) == pytest.approx(4 / 15)
    # x = [1, 1 + 1/log2(3) + 1, 1/log2(3), 0]; e2 = 1/log2(3)
    e2 = 1 / math.log2(3)
    x = [0.0, e2, 1.0, 2 + e2]  # sorted ascending
    total = sum(x)
    assert exposure_gini(lists) == pytest.approx((-3 * 0 - 1 * e2 + 1 * 1 + 3 * (2 + e2)) / (4 * total))
    # p = [1/5, 3/5, 1/5]: H = −(2 · 0.2 ln 0.2 + 0.6 ln 0.6)
    h = -(2 * 0.2 * math.log(0.2) + 0.6 * math.log(0.6))
    assert entropy(lists) == pytest.approx(h)
    assert entropy_norm(lists) == pytest.approx(h / math.log(4))
    # ordered pairs' overlaps: (0,1) 1, (0,2) 1, (1,2) 1, each twice: Σ = 6 = Σ c(c−1) = 3·2;
    # 1 − 6 / (3·2·k=2) = 0.5
    assert personalization(lists) == pytest.approx(0.5)
    x_axis, y_axis = lorenz_curve(lists.exposure_counts())
    np.testing.assert_allclose(x_axis, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(y_axis, [0, 0, 0.2, 0.4, 1])


def test_gini_extremes() -> None:
    assert gini(np.array([4, 4, 4, 4])) == 0.0
    assert gini(np.array([0, 0, 7, 0, 0])) == pytest.approx(4 / 5)  # (n − 1)/n
    assert gini(np.array([3.0])) == 0.0
    assert math.isnan(gini(np.zeros(3)))
    assert math.isnan(gini(np.array([])))
    # the default keeps never-recommended items; the variant drops them
    assert gini(np.array([0, 2, 2])) == pytest.approx(1 / 3)
    assert gini_recommended_only(np.array([0, 2, 2])) == 0.0


def test_personalization_divides_by_k_for_short_lists() -> None:
    # two identical lists of length 1 with k = 2: overlap 1/2, personalization 1 − 1/2
    assert personalization(_lists([[0, -1], [0, -1]], 3)) == pytest.approx(0.5)
    # identical full lists: 0; disjoint lists: 1
    assert personalization(_lists([[0, 1], [1, 0]], 3)) == pytest.approx(0.0)
    assert personalization(_lists([[0, 1], [2, 3]], 4)) == pytest.approx(1.0)
    # empty lists do not count as users; fewer than two users -> NaN
    assert personalization(_lists([[0, 1], [2, 3], [-1, -1]], 4)) == pytest.approx(1.0)
    assert math.isnan(personalization(_lists([[0, 1], [-1, -1]], 4)))


def test_empty_log_is_nan_not_error() -> None:
    lists = _lists([[-1, -1], [-1, -1]], 3)
    assert coverage(lists) == 0.0
    for metric in (gini_at_k, exposure_gini, entropy, entropy_norm, personalization):
        assert math.isnan(metric(lists))
    x, y = lorenz_curve(lists.exposure_counts())
    assert y[0] == 0 and np.isnan(y[1:]).all() and x[-1] == 1
    assert math.isnan(entropy_norm(_lists([[0]], 1)))


# --- against the loop references -------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_matches_loop_reference(seed: int) -> None:
    lists = random_lists(seed, n_users=30, n_items=25, k=6)
    counts = ref_counts(lists)
    assert lists.exposure_counts().tolist() == counts
    assert gini_at_k(lists) == pytest.approx(ref_gini(counts))
    assert gini_recommended_only(lists.exposure_counts()) == pytest.approx(ref_gini([c for c in counts if c]))
    x = [0.0] * lists.n_items
    for row in lists.items.tolist():
        for r, i in enumerate(row, start=1):
            if i >= 0:
                x[i] += 1 / math.log2(r + 1)
    assert exposure_gini(lists) == pytest.approx(ref_gini(x))
    total = sum(counts)
    h = -sum(c / total * math.log(c / total) for c in counts if c)
    assert entropy(lists) == pytest.approx(h)
    assert personalization(lists) == pytest.approx(ref_personalization(lists))
    assert coverage(lists) == pytest.approx(sum(1 for c in counts if c) / lists.n_items)


# --- properties ------------------------------------------------------------------------------------

lists_params = st.tuples(
    st.integers(0, 2**31 - 1), st.integers(1, 25), st.integers(1, 20), st.integers(1, 6)
)


@settings(max_examples=60, deadline=None)
@given(lists_params)
def test_properties(params: tuple[int, int, int, int]) -> None:
    seed, n_users, n_items, k = params
    lists = random_lists(seed, n_users, n_items, k)
    n = lists.n_items
    for value in (gini_at_k(lists), exposure_gini(lists)):
        assert math.isnan(value) or -1e-12 <= value <= 1 - 1 / n + 1e-12
    value = entropy_norm(lists)
    assert math.isnan(value) or -1e-12 <= value <= 1 + 1e-12
    assert 0 <= coverage(lists) <= 1
    value = personalization(lists)
    assert math.isnan(value) or -1e-12 <= value <= 1 + 1e-12
    # user order does not matter
    order = np.random.default_rng(seed).permutation(lists.n_users)
    shuffled = RecLists(lists.user_ids[order], lists.items[order], lists.item_ids)
    for metric in (coverage, gini_at_k, exposure_gini, entropy, entropy_norm, personalization):
        a, b = metric(lists), metric(shuffled)
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)
    # Gini is twice the area between the diagonal and the Lorenz curve
    counts = lists.exposure_counts()
    x, y = lorenz_curve(counts)
    if counts.sum() > 0:
        assert gini(counts) == pytest.approx(1 - np.sum(y[:-1] + y[1:]) / n, abs=1e-12)
        assert np.all(np.diff(y) >= -1e-12) and y[-1] == 1.0


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 50), st.integers(1, 100))
def test_uniform_and_concentrated_exposure(n: int, amount: int) -> None:
    assert gini(np.full(n, amount)) == pytest.approx(0.0, abs=1e-12)
    one_hot = np.zeros(n)
    one_hot[n // 2] = amount
    assert gini(one_hot) == pytest.approx((n - 1) / n)
    # every catalogue item shown once: maximal normalised entropy
    if n >= 2:
        lists = _lists([[i] for i in range(n)], n)
        assert entropy_norm(lists) == pytest.approx(1.0)
        assert personalization(lists) == pytest.approx(1.0)
