"""The learned prior over user vectors (PriorFoldIn): known answers, the stated objective, determinism."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from recaudit.models.foldin import FoldIn
from recaudit.models.newusers import PriorFoldIn, ledoit_wolf, new_user_solver, row_lists


def _world(seed: int = 0, n_items: int = 60, d: int = 5, n_users: int = 200) -> tuple[np.ndarray, ...]:
    """Clustered items, users who each like one cluster, their vectors the (scaled) fold-ins."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, d)) * 2
    cluster = np.arange(n_items) % 4
    items = centres[cluster] + rng.normal(scale=0.5, size=(n_items, d))
    histories = []
    for u in range(n_users):
        pool = np.flatnonzero(cluster == u % 4)
        histories.append(np.sort(rng.choice(pool, size=5, replace=False)))
    fold = FoldIn(items)
    users = np.stack([fold.fit(h) for h in histories]).astype(np.float64) / 3.0
    return items, users, histories


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_empty_history_gives_the_prior_mean() -> None:
    items, users, histories = _world()
    prior = PriorFoldIn(items, users, histories)
    np.testing.assert_allclose(prior.fit([]), users.mean(axis=0), rtol=1e-5, atol=1e-6)
    # cosine: the mean of the unit-normalised trained users
    unit = users / np.linalg.norm(users, axis=1, keepdims=True)
    cosine = PriorFoldIn(items, users, histories, cosine=True)
    np.testing.assert_allclose(cosine.fit([]), unit.mean(axis=0), rtol=1e-5, atol=1e-6)


def test_scale_is_the_slope_of_the_trained_users_fold_ins() -> None:
    items, users, histories = _world()
    assert PriorFoldIn(items, users, histories).scale == pytest.approx(3.0, rel=1e-5)


def test_map_estimate_minimises_the_stated_objective() -> None:
    """u*/s with u* = argmin (u − sμ)ᵀP(u − sμ) + Σ_H [α(u·v)² − 2(1 + α)u·v], by a stacked least squares."""
    items, users, histories = _world(seed=3)
    alpha = 4.0
    prior = PriorFoldIn(items, users, histories, alpha=alpha)
    history = [2, 9, 9, 30]
    s, mu = prior.scale, prior.mean
    precision = np.linalg.inv(prior.cov) / s**2
    root = np.linalg.cholesky(precision).T  # rootᵀroot = P
    vh = items[[2, 9, 30]]
    # α(u·v)² − 2(1 + α)u·v = α (u·v − (1 + α)/α)² + const
    a = np.vstack([root, np.sqrt(alpha) * vh])
    b = np.concatenate([root @ (s * mu), np.full(3, np.sqrt(alpha) * (1 + alpha) / alpha)])
    want = np.linalg.lstsq(a, b, rcond=None)[0] / s
    np.testing.assert_allclose(prior.fit(history), want, rtol=1e-4, atol=1e-5)


def test_with_many_interactions_the_estimate_approaches_the_fold_in() -> None:
    """The history term α V_HᵀV_H outgrows the prior's precision: the directions converge (faster for a
    larger α; with the default α = 10 they agree to 0.99 once the whole catalogue is revealed)."""
    items, users, histories = _world(seed=1)
    order = np.random.default_rng(7).permutation(len(items))
    for alpha, sizes, floor in ((100.0, (15, 30, 60), 0.9999), (10.0, (15, 30, 60), 0.99)):
        prior, fold = PriorFoldIn(items, users, histories, alpha=alpha), FoldIn(items, alpha=alpha)
        agreement = [_cosine(prior.fit(order[:n]), fold.fit(order[:n])) for n in sizes]
        assert agreement == sorted(agreement) and agreement[-1] > floor, (alpha, agreement)


def test_one_revealed_item_moves_the_prior_towards_its_cluster() -> None:
    items, users, histories = _world(seed=2)
    prior = PriorFoldIn(items, users, histories)
    user = prior.fit([0])  # an item of cluster 0
    scores = items @ user
    cluster = np.arange(len(items)) % 4
    assert scores[cluster == 0].mean() > max(scores[cluster == c].mean() for c in (1, 2, 3))


def test_deterministic_and_safe_to_share_between_threads() -> None:
    items, users, histories = _world(seed=4)
    a, b = PriorFoldIn(items, users, histories), PriorFoldIn(items, users, histories)
    queries = [histories[u][: 1 + u % 5] for u in range(64)]
    sequential = np.stack([a.fit(q) for q in queries])
    np.testing.assert_array_equal(sequential, np.stack([b.fit(q) for q in queries]))
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = np.stack(list(pool.map(a.fit, queries)))
    np.testing.assert_array_equal(sequential, threaded)


def test_ledoit_wolf_matches_scikit_learn() -> None:
    covariance = pytest.importorskip("sklearn.covariance")
    x = np.random.default_rng(5).normal(size=(30, 8)) @ np.diag(np.arange(1, 9))
    got, delta = ledoit_wolf(x)
    want, want_delta = covariance.ledoit_wolf(x)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert delta == pytest.approx(want_delta)


def test_errors_and_the_solver_factory() -> None:
    items, users, histories = _world()
    prior = PriorFoldIn(items, users, histories)
    with pytest.raises(ValueError, match="outside the catalogue"):
        prior.fit([len(items)])
    with pytest.raises(ValueError, match="at least two"):
        PriorFoldIn(items, users[:1], histories[:1])
    with pytest.raises(ValueError, match="no trained user has a training history"):
        PriorFoldIn(items, users, [np.zeros(0, np.int64)] * len(users))
    with pytest.raises(ValueError, match="histories for"):
        PriorFoldIn(items, users, histories[:-1])
    assert isinstance(new_user_solver("foldin", items, users, cosine=False), FoldIn)
    assert isinstance(new_user_solver("meta", items, users, cosine=False, histories=histories), PriorFoldIn)
    with pytest.raises(ValueError, match="needs the trained users"):
        new_user_solver("meta", items, users, cosine=False)
    with pytest.raises(ValueError, match="unknown new-user method"):
        new_user_solver("maml", items, users, cosine=False)


def test_row_lists_splits_a_csr_matrix() -> None:
    lists = row_lists(np.array([0, 2, 2, 3]), np.array([4, 1, 0]))
    assert [x.tolist() for x in lists] == [[4, 1], [], [0]]
