"""Embedding audits: hand-computed cases, loop-based references, planted structure and properties."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import skew, spearmanr

from recaudit.errors import RecauditInputError
from recaudit.metrics.embedding import (
    HELP,
    anisotropy,
    effective_dimensionality,
    embedding_audit,
    hubness,
    knn_rows,
    norm_popularity_correlation,
)

# ---------------------------------------------------------------- references (plain loops, no faiss)


def ref_k_occurrence(x: np.ndarray, k: int, metric: str) -> np.ndarray:
    """N_k by brute force: for each row, similarities to every other row, top k, count."""
    n = len(x)
    v = x / np.linalg.norm(x, axis=1, keepdims=True) if metric == "cosine" else x
    counts = np.zeros(n, dtype=int)
    for i in range(n):
        sims = [(float(v[i] @ v[j]), j) for j in range(n) if j != i]
        sims.sort(key=lambda t: -t[0])
        for _, j in sims[:k]:
            counts[j] += 1
    return counts


def ref_anisotropy(x: np.ndarray) -> float:
    vals = []
    for i in range(len(x)):
        for j in range(len(x)):
            if i != j:
                vals.append(float(x[i] @ x[j]) / (np.linalg.norm(x[i]) * np.linalg.norm(x[j])))
    return float(np.mean(vals))


def ref_participation_ratio(x: np.ndarray) -> float:
    lam = np.linalg.eigvalsh(np.cov(x, rowvar=False))
    return float(lam.sum() ** 2 / (lam**2).sum())


def sphere(n: int, d: int, seed: int) -> np.ndarray:
    g = np.random.default_rng(seed).standard_normal((n, d))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def unit(polar_deg: float, azimuth_deg: float) -> list[float]:
    t, p = math.radians(polar_deg), math.radians(azimuth_deg)
    return [math.sin(t) * math.cos(p), math.sin(t) * math.sin(p), math.cos(t)]


# ---------------------------------------------------------------- hubness


def test_hubness_dot_by_hand():
    # 1-D, dot similarity x_i * x_j, k = 1: rows 0, 1, 2 (values 1, 2, 3) all pick row 3 (value 10);
    # row 3 picks row 2 (30 > 20 > 10; itself excluded). N_1 = [0, 0, 1, 3], mean 1,
    # centred [-1, -1, 0, 2]: m2 = (1 + 1 + 0 + 4) / 4 = 1.5, m3 = (-1 - 1 + 0 + 8) / 4 = 1.5,
    # skewness = 1.5 / 1.5 ** 1.5 = 1 / sqrt(1.5).
    x = np.array([[1.0], [2.0], [3.0], [10.0]])
    out = hubness(x, k=1, metric="dot")
    assert out["skewness"] == pytest.approx(1 / math.sqrt(1.5))
    assert out["top_hubs"] == [(3, 3), (2, 1), (0, 0), (1, 0)]
    assert (out["k"], out["n_items"], out["n_used"]) == (1, 4, 4)
    assert knn_rows(x, 1, metric="dot")[:, 0].tolist() == [3, 3, 3, 2]


def test_hubness_cosine_by_hand():
    # On the unit sphere: A = north pole; B, C, D at polar angles 30°, 35°, 40° (azimuths 0°, 120°, 240°,
    # pairwise > 50° apart) so each has A as nearest neighbour; A's nearest is B (30°). E at polar 150°,
    # azimuth 0°: 120° from B, 150° from A and more from C, D -> picks B.
    # N_1 = [3, 2, 0, 0, 0], mean 1, centred [2, 1, -1, -1, -1]: m2 = 8/5, m3 = (8 + 1 - 3) / 5 = 6/5,
    # skewness = 1.2 / 1.6 ** 1.5.
    x = np.array([unit(0, 0), unit(30, 0), unit(35, 120), unit(40, 240), unit(150, 0)])
    x *= np.arange(1, 6)[:, None]  # norms do not matter for cosine
    out = hubness(x, k=1)
    assert out["skewness"] == pytest.approx(1.2 / 1.6**1.5)
    assert out["top_hubs"][:2] == [(0, 3), (1, 2)]
    assert knn_rows(x, 1)[:, 0].tolist() == [1, 0, 0, 0, 1]


def test_hubness_constant_k_occurrence_is_zero():
    # 3 items, k = 2: every item is a neighbour of both others, N_2 = [2, 2, 2], no asymmetry.
    out = hubness(np.eye(3), k=2)
    assert out["skewness"] == 0.0
    assert [c for _, c in out["top_hubs"]] == [2, 2, 2]


@pytest.mark.parametrize("metric", ["cosine", "dot"])
@pytest.mark.parametrize("seed", [0, 1])
def test_hubness_matches_loop_reference(metric, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((60, 7)) + rng.standard_normal(7)
    k = 4
    counts = ref_k_occurrence(x, k, metric)
    out = hubness(x, k=k, metric=metric, top=60)
    got = np.zeros(60, dtype=int)
    for row, c in out["top_hubs"]:
        got[row] = c
    np.testing.assert_array_equal(got, counts)
    assert out["skewness"] == pytest.approx(float(skew(counts, bias=True)), rel=1e-9)
    assert out["mean_k_occurrence"] == pytest.approx(k)


def test_planted_hub_tops_the_list():
    # Positive-orthant data in 50 dims: the all-ones direction is closer (cos ~ sqrt(2/pi) ~ 0.8) to every
    # item than items are to each other (cos ~ 2/pi ~ 0.64), so it is in (almost) every item's kNN.
    rng = np.random.default_rng(3)
    x = np.abs(rng.standard_normal((400, 50)))
    x = np.vstack([x[:123], np.ones((1, 50)), x[123:]])
    out = hubness(x, k=5)
    row, count = out["top_hubs"][0]
    assert row == 123
    assert count > 0.9 * 400
    assert out["skewness"] > 5


def test_hubness_grows_with_dimension():
    # Radovanović et al. 2010: i.i.d. uniform data shows hubness in high, not in low dimension.
    # Hypercube [0, 1]^d (the paper's setting, with a data centre): strong in d = 100, none in d = 3.
    cube_low = hubness(np.random.default_rng(0).uniform(size=(1500, 3)), k=10)["skewness"]
    cube_high = hubness(np.random.default_rng(0).uniform(size=(1500, 100)), k=10)["skewness"]
    assert abs(cube_low) < 0.5
    assert cube_high > 2.0
    # Uniform on the sphere has no centre, so the effect is weak, but still grows with d
    # (measured: 0.06 in d = 3, 0.24 in d = 100 for this seed).
    sphere_low = hubness(sphere(1500, 3, 0), k=10)["skewness"]
    sphere_high = hubness(sphere(1500, 100, 0), k=10)["skewness"]
    assert abs(sphere_low) < 0.2
    assert sphere_high > sphere_low + 0.1


def test_hubness_sampling_keeps_catalogue_rows():
    x = np.random.default_rng(5).standard_normal((300, 6))
    out = hubness(x, k=3, max_items=80, seed=7, top=80)
    assert (out["n_items"], out["n_used"]) == (300, 80)
    rows = np.sort(np.random.default_rng(7).choice(300, 80, replace=False))
    direct = hubness(x[rows], k=3, top=80)
    assert out["skewness"] == pytest.approx(direct["skewness"])
    assert sorted(out["top_hubs"]) == sorted((int(rows[r]), c) for r, c in direct["top_hubs"])
    assert out == hubness(x, k=3, max_items=80, seed=7, top=80)


def test_knn_excludes_self_with_duplicates():
    # Four identical vectors plus one other: each row's neighbours are other rows, never itself.
    x = np.array([[1.0, 0.0]] * 4 + [[0.0, 1.0]])
    nn = knn_rows(x, 3)
    assert all(i not in nn[i] for i in range(5))
    assert set(nn[0]) == {1, 2, 3}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(5, 40), d=st.integers(2, 12), k=st.integers(1, 4))
def test_hubness_properties(seed, n, d, k):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    out = hubness(x, k=k, top=n)
    counts = np.zeros(n, dtype=int)
    for row, c in out["top_hubs"]:
        counts[row] = c
    assert counts.sum() == n * k
    assert counts.max() <= n - 1
    perm = rng.permutation(n)
    moved = hubness(x[perm], k=k, top=n)
    moved_counts = np.zeros(n, dtype=int)
    for row, c in moved["top_hubs"]:
        moved_counts[row] = c
    np.testing.assert_array_equal(moved_counts, counts[perm])
    assert moved["skewness"] == pytest.approx(out["skewness"], abs=1e-9)


# ---------------------------------------------------------------- norm / popularity


def test_norm_popularity_by_hand():
    # norms [1, 2, 3, 4] -> ranks [1, 2, 3, 4]; popularity [10, 20, 20, 5] -> ranks [2, 3.5, 3.5, 1].
    # centred: [-1.5, -.5, .5, 1.5] and [-.5, 1, 1, -1.5]; dot = .75 - .5 + .5 - 2.25 = -1.5;
    # |a|^2 = 5, |b|^2 = 4.5 -> rho = -1.5 / sqrt(22.5).
    emb = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [0.0, -4.0]])
    pop = np.array([10, 20, 20, 5])
    assert norm_popularity_correlation(emb, pop) == pytest.approx(-1.5 / math.sqrt(22.5))
    assert norm_popularity_correlation(emb, pop) == pytest.approx(spearmanr([1, 2, 3, 4], pop).statistic)


def test_norms_equal_to_popularity():
    pop = np.random.default_rng(0).permutation(np.arange(1.0, 201.0))  # distinct, so no rounding ties
    directions = sphere(200, 16, 1)
    assert norm_popularity_correlation(directions * pop[:, None], pop) == pytest.approx(1.0)
    assert norm_popularity_correlation(directions / pop[:, None], pop) == pytest.approx(-1.0)
    # a monotone transform of popularity changes nothing
    assert norm_popularity_correlation(directions * np.log1p(pop)[:, None], pop) == pytest.approx(1.0)


def test_norm_popularity_constant_is_nan():
    assert math.isnan(norm_popularity_correlation(np.eye(10) * 2.0, np.arange(10)))
    assert math.isnan(norm_popularity_correlation(np.arange(10.0)[:, None], np.full(10, 3)))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 50))
def test_norm_popularity_properties(seed, n):
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((n, 3))
    pop = rng.integers(0, 5, size=n)
    rho = norm_popularity_correlation(emb, pop)
    ref = spearmanr(np.linalg.norm(emb, axis=1), pop).statistic if len(set(pop)) > 1 else math.nan
    if math.isnan(ref):
        assert math.isnan(rho)
    else:
        assert -1 <= rho <= 1
        assert rho == pytest.approx(ref)
        perm = rng.permutation(n)
        assert norm_popularity_correlation(emb[perm], pop[perm]) == pytest.approx(rho)


# ---------------------------------------------------------------- anisotropy


def test_anisotropy_by_hand():
    # (1,0), (0,1), (1,1): cosines 0, 1/sqrt2, 1/sqrt2 -> mean sqrt2 / 3; the zero row is left out.
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    assert anisotropy(x) == pytest.approx(math.sqrt(2) / 3)
    assert anisotropy(np.array([[1.0, 0.0], [-2.0, 0.0]])) == pytest.approx(-1.0)


def test_anisotropy_identical_directions_is_one():
    direction = np.random.default_rng(0).standard_normal(32)
    x = np.outer(np.linspace(0.1, 5.0, 50), direction)
    assert anisotropy(x) == pytest.approx(1.0)


def test_anisotropy_random_high_dim_is_near_zero():
    assert abs(anisotropy(sphere(400, 2000, 0))) < 0.005


def test_anisotropy_matches_pair_loop():
    x = np.random.default_rng(2).standard_normal((30, 5)) + 0.7
    assert anisotropy(x) == pytest.approx(ref_anisotropy(x))


def test_anisotropy_too_few_rows_is_nan():
    assert math.isnan(anisotropy(np.array([[1.0, 2.0]])))
    assert math.isnan(anisotropy(np.array([[1.0, 2.0], [0.0, 0.0]])))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 40), d=st.integers(1, 10))
def test_anisotropy_properties(seed, n, d):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    a = anisotropy(x)
    assert -1 / (n - 1) - 1e-9 <= a <= 1 + 1e-9
    assert anisotropy(x[rng.permutation(n)]) == pytest.approx(a, abs=1e-12)
    assert anisotropy(x * rng.uniform(0.1, 10, size=(n, 1))) == pytest.approx(a, abs=1e-9)


# ---------------------------------------------------------------- effective dimensionality


def test_effective_dimensionality_by_hand():
    # rows (±1, 0), (0, ±2): mean 0, scatter diag(2, 8) -> PR = (2 + 8)^2 / (4 + 64) = 100 / 68.
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    assert effective_dimensionality(x) == pytest.approx(100 / 68)


def test_effective_dimensionality_isotropic_gaussian():
    x = np.random.default_rng(0).standard_normal((40_000, 8))
    assert effective_dimensionality(x, batch_size=7_000) == pytest.approx(8, abs=0.1)


def test_effective_dimensionality_rank_one():
    rng = np.random.default_rng(1)
    x = np.outer(rng.standard_normal(100), rng.standard_normal(16)) + rng.standard_normal(16)
    assert effective_dimensionality(x) == pytest.approx(1.0)


def test_effective_dimensionality_degenerate_is_nan():
    assert math.isnan(effective_dimensionality(np.ones((5, 3))))
    assert math.isnan(effective_dimensionality(np.ones((1, 3))))


@pytest.mark.parametrize("shape", [(200, 6), (5, 30)])  # covariance branch and Gram branch (n < d)
def test_effective_dimensionality_matches_eigenvalues(shape):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape) * rng.uniform(0.1, 3, size=shape[1])
    assert effective_dimensionality(x) == pytest.approx(ref_participation_ratio(x))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 40), d=st.integers(1, 10))
def test_effective_dimensionality_properties(seed, n, d):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) * rng.uniform(0.1, 2, size=d)
    pr = effective_dimensionality(x)
    assert 1 - 1e-9 <= pr <= min(n - 1, d) + 1e-9
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    moved = (x[rng.permutation(n)] @ q) * 3.5 + rng.standard_normal(d)
    assert effective_dimensionality(moved) == pytest.approx(pr, rel=1e-7)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "call",
    [
        lambda x: hubness(x),
        lambda x: anisotropy(x),
        lambda x: effective_dimensionality(x),
        lambda x: norm_popularity_correlation(x, np.ones(len(x))),
        lambda x: embedding_audit(x, None),
    ],
)
def test_non_finite_rows_rejected(call):
    x = np.random.default_rng(0).standard_normal((20, 4))
    x[3, 1] = np.nan
    x[7, 0] = np.inf
    with pytest.raises(RecauditInputError, match="2 of 20 rows"):
        call(x)


def test_bad_inputs_rejected():
    x = np.random.default_rng(0).standard_normal((5, 3))
    with pytest.raises(RecauditInputError, match="k"):
        hubness(x, k=5)  # k >= n
    with pytest.raises(RecauditInputError, match="k"):
        hubness(x, k=0)
    with pytest.raises(RecauditInputError, match="at least 2 rows"):
        hubness(x[:1], k=1)
    with pytest.raises(RecauditInputError, match="metric"):
        hubness(x, k=2, metric="l2")
    with pytest.raises(RecauditInputError, match="2-D"):
        anisotropy(np.ones(4))
    with pytest.raises(RecauditInputError, match="shape"):
        norm_popularity_correlation(x, np.ones(4))
    with pytest.raises(RecauditInputError, match="max_items"):
        hubness(x, k=1, max_items=1)
    with pytest.raises(RecauditInputError, match="at least 2 rows"):
        embedding_audit(x[:1], None)


# ---------------------------------------------------------------- embedding_audit


def test_embedding_audit_is_json_and_complete():
    pop = np.random.default_rng(0).permutation(np.arange(1.0, 121.0))
    emb = sphere(120, 16, 0) * pop[:, None]
    out = embedding_audit(emb, pop, k=5)
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out
    assert out["norm_popularity_correlation"] == pytest.approx(1.0)
    assert out["hubness"]["k"] == 5
    assert out["hubness"]["skewness"] == pytest.approx(hubness(emb, k=5)["skewness"])
    assert out["anisotropy"] == pytest.approx(anisotropy(emb))
    assert out["effective_dimensionality"] == pytest.approx(effective_dimensionality(emb))
    assert (
        set(out["help"])
        == set(HELP)
        == {
            "hubness",
            "norm_popularity_correlation",
            "anisotropy",
            "effective_dimensionality",
        }
    )
    assert (out["n_items"], out["dim"]) == (120, 16)


def test_embedding_audit_small_catalogue_and_missing_popularity():
    x = np.ones((3, 2))  # k lowered to 2; constant popularity -> None; zero variance -> None
    out = embedding_audit(x, np.ones(3), k=10)
    json.dumps(out, allow_nan=False)
    assert out["hubness"]["k"] == 2
    assert out["norm_popularity_correlation"] is None
    assert out["effective_dimensionality"] is None
    assert out["anisotropy"] == pytest.approx(1.0)
    assert embedding_audit(x, None)["norm_popularity_correlation"] is None
