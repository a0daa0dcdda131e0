"""Closed-form fold-in: exact against a direct least-squares solve, and sensible on structured data."""

import numpy as np
import pytest

from recaudit.models.foldin import FoldIn, median_norm


def test_matches_the_weighted_least_squares_solution() -> None:
    rng = np.random.default_rng(0)
    items = rng.normal(size=(30, 5))
    history = [3, 7, 7, 12]
    alpha, reg = 4.0, 0.5
    got = FoldIn(items, alpha=alpha, reg=reg).fit(history)
    # brute force: minimise sum_i c_i (p_i - u.v_i)^2 + reg |u|^2 as a stacked least-squares problem
    p = np.zeros(30)
    p[[3, 7, 12]] = 1
    c = 1 + alpha * p
    a = np.vstack([items * np.sqrt(c)[:, None], np.sqrt(reg) * np.eye(5)])
    b = np.concatenate([p * np.sqrt(c), np.zeros(5)])
    want = np.linalg.lstsq(a, b, rcond=None)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_history_items_score_above_other_clusters_and_norm_is_rescaled() -> None:
    rng = np.random.default_rng(1)
    centres = np.eye(4) * 3
    items = np.repeat(centres, 10, axis=0) + rng.normal(scale=0.3, size=(40, 4))
    fold = FoldIn(items, target_norm=2.0)
    user = fold.fit([0, 1, 2])  # items of cluster 0
    scores = items @ user
    assert scores[:10].min() > scores[10:].max()
    assert np.linalg.norm(user) == pytest.approx(2.0, rel=1e-5)


def test_empty_history_and_bad_rows() -> None:
    fold = FoldIn(np.ones((3, 2)))
    assert not fold.fit([]).any()
    with pytest.raises(ValueError, match="outside the catalogue"):
        fold.fit([5])
    assert median_norm(np.array([[3.0, 4.0], [0.0, 0.0], [6.0, 8.0]])) == pytest.approx(7.5)
