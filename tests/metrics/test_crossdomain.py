"""Cross-domain metrics against hand-computed values and independent computations (numpy, scipy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.stats import pearsonr

from recaudit.metrics.crossdomain import (
    negative_transfer_rate,
    preference_correlation,
    target_bucket_labels,
    transfer_lift,
    transfer_table,
)


def test_target_buckets() -> None:
    counts = np.array([0, 1, 2, 3, 5, 6, 10, 11, 20, 21, 100])
    assert target_bucket_labels(counts).tolist() == [
        "0", "1-2", "1-2", "3-5", "3-5", "6-10", "6-10", "11-20", "11-20", "21+", "21+",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        target_bucket_labels(np.array([-1]))


def test_lift_is_a_ratio_of_means_and_ties_are_not_negative() -> None:
    assert transfer_lift(np.array([0.2, 0.4]), np.array([0.1, 0.3])) == pytest.approx(0.5)
    # a user with target-only 0 does not make the lift infinite: (0.3 - 0.1) / 0.1
    assert transfer_lift(np.array([0.0, 0.3]), np.array([0.0, 0.1])) == pytest.approx(2.0)
    assert np.isnan(transfer_lift(np.array([0.5]), np.array([0.0])))
    rate = negative_transfer_rate(np.array([0.1, 0.5, 0.3]), np.array([0.2, 0.5, 0.1]))
    assert rate == pytest.approx(1 / 3)
    assert np.isnan(negative_transfer_rate(np.array([]), np.array([])))
    with pytest.raises(ValueError):
        transfer_lift(np.array([0.1]), np.array([0.1, 0.2]))


def test_table_groups_cold_warm_and_buckets_with_intervals() -> None:
    rng = np.random.default_rng(0)
    counts = np.array([0] * 40 + [2] * 30 + [15] * 30)
    target = rng.uniform(0.0, 0.5, size=100)
    transfer = target + np.where(counts == 0, 0.2, -0.05 * (rng.uniform(size=100) < 0.5))
    table = transfer_table(transfer, target, counts, n_boot=500, seed=1).set_index("group")
    assert table.index.tolist() == ["cold", "warm", "0", "1-2", "11-20"]
    cold, warm = table.loc["cold"], table.loc["warm"]
    assert cold["n_users"] == 40 and warm["n_users"] == 60
    expected = (transfer[:40].mean() - target[:40].mean()) / target[:40].mean()
    assert cold["transfer_lift"] == pytest.approx(expected)
    assert cold["negative_transfer_rate"] == 0.0 and cold["negative_transfer_rate_high"] == 0.0
    assert warm["negative_transfer_rate"] == pytest.approx(np.mean(transfer[40:] < target[40:]))
    for _, row in table.iterrows():
        assert row["transfer_lift_low"] <= row["transfer_lift"] <= row["transfer_lift_high"]
        assert row["negative_transfer_rate_low"] <= row["negative_transfer_rate"]
        assert row["negative_transfer_rate"] <= row["negative_transfer_rate_high"]
    assert cold["transfer_lift_low"] > 0 and warm["transfer_lift_high"] < 0
    # the cold row and the "0" bucket are the same users
    assert table.loc["0", "transfer_lift"] == cold["transfer_lift"]


def _world() -> tuple[np.ndarray, np.ndarray, np.ndarray, sp.csr_matrix]:
    """Items 0-3 in domain a, 4-7 in b; categories x, y, z (z only in a: left out of the correlation)."""
    item_domain = np.array(["a"] * 4 + ["b"] * 4, dtype=object)
    membership = np.array(
        [[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0]]
    )
    # user 0: a -> items 0, 2 (x 1.5, y 0.5); b -> 4, 6, 5 (x 2, y 1): same direction, r = 1
    # user 1: a -> item 0 (x); b -> item 5 (y): opposite, r = -1
    # user 2: a -> 2 (x 0.5, y 0.5: constant over x, y): undefined
    # user 3: only domain a: not active in both
    pairs = [(0, 0), (0, 2), (0, 4), (0, 6), (0, 5), (1, 0), (1, 5), (2, 2), (2, 4), (3, 1), (0, 0)]
    users, items = (np.array(col) for col in zip(*pairs, strict=True))
    return users, items, item_domain, sp.csr_matrix(membership)


def test_preference_correlation_hand_computed() -> None:
    users, items, item_domain, categories = _world()
    mean, per_user = preference_correlation(users, items, item_domain, categories, ("a", "b"))
    assert per_user.index.tolist() == [0, 1, 2]
    assert per_user.loc[0] == pytest.approx(1.0)
    assert per_user.loc[1] == pytest.approx(-1.0)
    assert np.isnan(per_user.loc[2])
    assert mean == pytest.approx(0.0)


def test_preference_correlation_matches_scipy_on_random_data() -> None:
    rng = np.random.default_rng(3)
    n_users, n_items, n_cats = 50, 60, 6
    item_domain = np.where(np.arange(n_items) < 30, "a", "b").astype(object)
    membership = (rng.uniform(size=(n_items, n_cats)) < 0.35).astype(int)
    membership[np.arange(n_items), rng.integers(0, n_cats, n_items)] = 1  # every item has a category
    users = rng.integers(0, n_users, 600)
    items = rng.integers(0, n_items, 600)
    mean, per_user = preference_correlation(users, items, item_domain, sp.csr_matrix(membership), ("a", "b"))
    weights = membership / membership.sum(1, keepdims=True)
    expected = {}
    for u in range(n_users):
        dist = []
        for d in ("a", "b"):
            rows = np.unique(items[(users == u) & (item_domain[items] == d)])
            dist.append(weights[rows].mean(0) if len(rows) else None)
        if dist[0] is not None and dist[1] is not None:
            expected[u] = pearsonr(dist[0], dist[1]).statistic
    assert per_user.index.tolist() == sorted(expected)
    np.testing.assert_allclose(per_user.to_numpy(), pd.Series(expected).to_numpy(), atol=1e-9)
    assert mean == pytest.approx(np.mean(list(expected.values())))
