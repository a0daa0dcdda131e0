"""Tests for recaudit.views.projection: params, cache, validation, fallback, determinism, user
placement, sampling.

UMAP runs are tiny (n <= 300); the first one in the process pays numba's compile time once.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recaudit.errors import RecauditInputError
from recaudit.views import projection
from recaudit.views.projection import (
    ItemMap,
    ProjectionParams,
    default_cache_dir,
    effective_params,
    embedding_hash,
    place_users,
    popularity_deciles,
    primary_categories,
    project_items,
    sample_items,
)

PCA = ProjectionParams(method="pca")
SMALL_UMAP = ProjectionParams(method="umap", n_neighbors=10, min_dist=0.1, seed=3)


def clusters(
    n_per: int = 100, d: int = 16, n_clusters: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Well-separated Gaussian clusters: (table [n, d] float32, labels [n])."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, d)) * 5
    labels = np.repeat(np.arange(n_clusters), n_per)
    table = centres[labels] + rng.normal(size=(labels.size, d)) * 0.3
    return table.astype(np.float32), labels


def ids_for(n: int) -> list[str]:
    return [f"i{i:04d}" for i in range(n)]


def forbid_fitting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any recomputation (UMAP or PCA) fail loudly."""

    def boom(*_args: object, **_kw: object) -> None:
        raise AssertionError("recomputed although the map was cached")

    monkeypatch.setattr(projection, "_fit", boom)
    monkeypatch.setattr(projection, "_pca", boom)


# --------------------------------------------------------------------------- params and hash


def test_params_round_trip_and_key_is_stable() -> None:
    p = ProjectionParams()
    assert p.to_dict() == {
        "method": "umap", "n_neighbors": 15, "min_dist": 0.1, "metric": "cosine", "pca_dims": 50, "seed": 0,
    }
    assert ProjectionParams.from_dict({**p.to_dict(), "seconds": 3.2}) == p
    assert p.key() == "umap-nn15-md0.1-cosine-pca50-s0"
    assert json.loads(json.dumps(p.to_dict())) == p.to_dict()


@pytest.mark.parametrize(
    "change",
    [{"method": "pca"}, {"n_neighbors": 30}, {"min_dist": 0.5}, {"metric": "euclidean"}, {"pca_dims": 20},
     {"seed": 1}],
)
def test_key_changes_with_every_param(change: dict) -> None:
    assert ProjectionParams(**change).key() != ProjectionParams().key()


@pytest.mark.parametrize(
    "bad",
    [{"method": "tsne"}, {"metric": "hamming"}, {"n_neighbors": 1}, {"n_neighbors": 2.5}, {"min_dist": -0.1},
     {"min_dist": float("nan")}, {"pca_dims": 1}, {"seed": -1}, {"seed": True}],
)
def test_invalid_params_rejected(bad: dict) -> None:
    with pytest.raises(RecauditInputError):
        ProjectionParams(**bad)


def test_embedding_hash_tracks_values_shape_not_dtype() -> None:
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert embedding_hash(x) == embedding_hash(x.astype(np.float64))  # same float32 table
    assert embedding_hash(x) != embedding_hash(x.reshape(3, 4))  # same bytes, other shape
    y = x.copy()
    y[2, 1] += 1e-3
    assert embedding_hash(x) != embedding_hash(y)
    assert len(embedding_hash(x)) == 64


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECAUDIT_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("RECAUDIT_CACHE_DIR")
    assert default_cache_dir().parts[-2:] == (".cache", "projections")


# --------------------------------------------------------------------------- validation and fallback


def test_non_finite_rows_rejected_with_count() -> None:
    x = np.ones((50, 4), dtype=np.float32)
    x[7, 1] = np.nan
    x[9, 0] = np.inf
    x[9, 2] = np.nan  # same row: counted once
    with pytest.raises(RecauditInputError, match=r"2 of 50 rows .*first: row 7"):
        project_items(x, ids_for(50), PCA)


@pytest.mark.parametrize("bad", [np.zeros((0, 4)), np.zeros(5), np.zeros((3, 0)), [["a", "b"]]])
def test_bad_tables_rejected(bad: object) -> None:
    with pytest.raises(RecauditInputError):
        project_items(bad, ids_for(len(bad)), PCA)  # type: ignore[arg-type]


def test_id_count_must_match() -> None:
    with pytest.raises(RecauditInputError, match="3 ids for 4"):
        project_items(np.ones((4, 2)), ids_for(3), PCA)


def test_effective_params_fallback_boundary() -> None:
    # threshold max(n_neighbors + 1, 10)
    assert effective_params(ProjectionParams(n_neighbors=15), 15).method == "pca"
    assert effective_params(ProjectionParams(n_neighbors=15), 16).method == "umap"
    assert effective_params(ProjectionParams(n_neighbors=5), 9).method == "pca"
    assert effective_params(ProjectionParams(n_neighbors=5), 10).method == "umap"
    assert effective_params(PCA, 10_000) == PCA


def test_tiny_table_falls_back_to_pca_and_is_cached_under_pca(tmp_path: Path) -> None:
    x, _ = clusters(n_per=4, d=6)  # 12 rows < 16
    m = project_items(x, ids_for(12), ProjectionParams(), cache_dir=tmp_path)
    assert m.params == ProjectionParams(method="pca")
    assert m.xy.shape == (12, 2) and m.xy.dtype == np.float32
    assert [p.name.split("-", 1)[1] for p in sorted(tmp_path.glob("*.npy"))] == [f"{m.params.key()}.npy"]


def test_one_and_two_rows() -> None:
    one = project_items(np.array([[1.0, 2.0, 3.0]]), ["a"], ProjectionParams())
    np.testing.assert_array_equal(one.xy, [[0.0, 0.0]])
    euclid = ProjectionParams("pca", metric="euclidean")
    two = project_items(np.array([[1.0, 0.0], [-1.0, 0.0]]), ["a", "b"], euclid)
    np.testing.assert_allclose(two.xy, [[1.0, 0.0], [-1.0, 0.0]], atol=1e-6)


# --------------------------------------------------------------------------- PCA by hand


def test_pca_by_hand() -> None:
    # Centred already. Covariance (sum of outer products) = diag(1+1, 0.25+0.25) = diag(2, 0.5):
    # first component e1, second e2 (signs: largest loading positive), so the map is the input itself.
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.5], [0.0, -0.5]])
    m = project_items(x, ids_for(4), ProjectionParams(method="pca", metric="euclidean"))
    np.testing.assert_allclose(m.xy, x, atol=1e-6)
    # shifted by (10, 10): PCA centres, same map
    m2 = project_items(x + 10, ids_for(4), ProjectionParams(method="pca", metric="euclidean"))
    np.testing.assert_allclose(m2.xy, x, atol=1e-5)


def test_pca_cosine_uses_directions() -> None:
    # With cosine, rows are normalised first: (2, 0) and (1, 0) land on the same point.
    x = np.array([[2.0, 0.0], [1.0, 0.0], [0.0, 3.0], [-1.0, -1.0]])
    m = project_items(x, ids_for(4), PCA)
    np.testing.assert_allclose(m.xy[0], m.xy[1], atol=1e-6)


def test_pca_matches_svd_reference() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 8)) * np.arange(1, 9)
    got = projection._pca(x.astype(np.float32), 3).astype(np.float64)
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    ref = centred @ vt[:3].T
    for c in range(3):  # equal up to sign
        sign = np.sign(ref[:, c] @ got[:, c])
        np.testing.assert_allclose(got[:, c], sign * ref[:, c], rtol=1e-3, atol=1e-3)


# --------------------------------------------------------------------------- cache


@pytest.mark.parametrize("params", [PCA, SMALL_UMAP], ids=["pca", "umap"])
def test_cache_hit_returns_identical_coordinates_without_recomputing(
    params: ProjectionParams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, _ = clusters()
    first = project_items(x, ids_for(len(x)), params, cache_dir=tmp_path)
    assert not first.from_cache and first.seconds > 0
    assert len(list(tmp_path.glob(f"{first.embedding_hash}-{params.key()}.npy"))) == 1
    assert len(list(tmp_path.glob(f"{first.embedding_hash}-{params.key()}.json"))) == 1
    forbid_fitting(monkeypatch)
    second = project_items(x, ids_for(len(x)), params, cache_dir=tmp_path)
    assert second.from_cache and second.seconds == 0.0
    np.testing.assert_array_equal(second.xy, first.xy)
    assert second.params == first.params and second.embedding_hash == first.embedding_hash
    # the cache holds plain arrays: loadable without pickle
    stored = np.load(tmp_path / f"{first.embedding_hash}-{params.key()}.npy", allow_pickle=False)
    np.testing.assert_array_equal(stored, first.xy)


def test_cache_misses_on_other_params_or_embedding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x, _ = clusters(n_per=20)
    project_items(x, ids_for(len(x)), PCA, cache_dir=tmp_path)
    forbid_fitting(monkeypatch)
    with pytest.raises(AssertionError, match="recomputed"):
        project_items(x, ids_for(len(x)), ProjectionParams(method="pca", seed=1), cache_dir=tmp_path)
    changed = x.copy()
    changed[0, 0] += 1.0
    with pytest.raises(AssertionError, match="recomputed"):
        project_items(changed, ids_for(len(x)), PCA, cache_dir=tmp_path)
    # ids are not part of the key: same table, other ids -> hit, with the new ids
    hit = project_items(x, [f"z{i}" for i in range(len(x))], PCA, cache_dir=tmp_path)
    assert hit.from_cache and hit.item_ids[0] == "z0"


def test_corrupt_or_mismatched_cache_is_recomputed(tmp_path: Path) -> None:
    x, _ = clusters(n_per=20)
    first = project_items(x, ids_for(len(x)), PCA, cache_dir=tmp_path)
    npy = tmp_path / f"{first.embedding_hash}-{PCA.key()}.npy"
    npy.write_bytes(b"not an npy file")
    again = project_items(x, ids_for(len(x)), PCA, cache_dir=tmp_path)
    assert not again.from_cache
    np.testing.assert_array_equal(again.xy, first.xy)
    np.save(npy, np.zeros((3, 2), dtype=np.float32))  # wrong shape
    assert not project_items(x, ids_for(len(x)), PCA, cache_dir=tmp_path).from_cache
    assert project_items(x, ids_for(len(x)), PCA, cache_dir=tmp_path).from_cache


def test_no_cache_dir_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    x, _ = clusters(n_per=10)
    m = project_items(x, ids_for(len(x)), PCA)
    assert not m.from_cache and list(tmp_path.iterdir()) == []


def test_progress_reports_fractions(tmp_path: Path) -> None:
    seen: list[tuple[str, float]] = []
    x, _ = clusters(n_per=10)
    project_items(x, ids_for(len(x)), PCA, cache_dir=tmp_path, progress=lambda m, f: seen.append((m, f)))
    project_items(x, ids_for(len(x)), PCA, cache_dir=tmp_path, progress=lambda m, f: seen.append((m, f)))
    assert all(0.0 <= f <= 1.0 for _, f in seen)
    assert seen[-1] == ("map read from the cache", 1.0)


# --------------------------------------------------------------------------- UMAP behaviour


def test_umap_is_seeded_and_separates_clusters() -> None:
    x, labels = clusters(n_per=100, d=64)  # 64 > pca_dims = 50: the pre-reduction path
    a = project_items(x, ids_for(len(x)), SMALL_UMAP)
    b = project_items(x, ids_for(len(x)), SMALL_UMAP)
    np.testing.assert_array_equal(a.xy, b.xy)
    assert a.params.method == "umap" and a.xy.dtype == np.float32 and np.isfinite(a.xy).all()
    centroids = np.stack([a.xy[labels == c].mean(axis=0) for c in range(3)])
    nearest = np.linalg.norm(a.xy[:, None, :] - centroids[None], axis=2).argmin(axis=1)
    assert (nearest == labels).mean() > 0.99


def test_pca_is_deterministic() -> None:
    x, _ = clusters()
    first, second = project_items(x, ids_for(300), PCA), project_items(x, ids_for(300), PCA)
    np.testing.assert_array_equal(first.xy, second.xy)


# --------------------------------------------------------------------------- place_users


def toy_map(xy: np.ndarray) -> ItemMap:
    return ItemMap(np.array(ids_for(len(xy))), np.asarray(xy, dtype=np.float32), PCA, "h", 0.0, False)


def test_place_users_by_hand() -> None:
    items = np.array([[1.0, 0.0], [0.5, 0.0], [0.0, 1.0]])
    m = toy_map(np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]]))
    # dot: scores 1, 0.5, 0 -> top-2 = items 0, 1 with weights 1, 0.5 -> x = (0*1 + 2*0.5) / 1.5 = 2/3
    got = place_users(m, items, np.array([1.0, 0.0]), k=2, score="dot")
    np.testing.assert_allclose(got, [[2 / 3, 0.0]], atol=1e-6)
    # cosine: scores 1, 1, 0 -> weights 1, 1 -> x = (0 + 2) / 2 = 1
    got = place_users(m, items, np.array([[3.0, 0.0]]), k=2, score="cosine")
    np.testing.assert_allclose(got, [[1.0, 0.0]], atol=1e-6)
    # every top-k score <= 0 -> equal weights: user (-1, -1) scores -1, -0.5, -1 (dot), top-2 = item 1 and
    # one of items 0/2 (tie) -> k = 3 instead: mean of all three = (2/3, 2/3)
    got = place_users(m, items, np.array([[-1.0, -1.0]]), k=3, score="dot")
    np.testing.assert_allclose(got, [[2 / 3, 2 / 3]], atol=1e-6)
    # k larger than the catalogue is clipped; weights 1, 0.5, 0 -> (1/1.5, 0)
    got = place_users(m, items, [[1.0, 0.0]], k=99, score="dot")
    np.testing.assert_allclose(got, [[2 / 3, 0.0]], atol=1e-6)


def reference_place(xy: np.ndarray, items: np.ndarray, users: np.ndarray, k: int, score: str) -> np.ndarray:
    """Loop-based reference for place_users."""
    out = np.zeros((len(users), 2))
    for b, u in enumerate(users):
        s = np.array([
            (u @ v) / (np.linalg.norm(u) * np.linalg.norm(v)) if score == "cosine" else u @ v for v in items
        ])
        top = np.argsort(-s, kind="stable")[:k]
        w = np.maximum(s[top], 0)
        w = w / w.sum() if w.sum() > 0 else np.full(len(top), 1 / len(top))
        out[b] = w @ xy[top]
    return out


@pytest.mark.parametrize("score", ["dot", "cosine"])
def test_place_users_matches_reference(score: str) -> None:
    rng = np.random.default_rng(5)
    items = rng.normal(size=(80, 6))
    users = rng.normal(size=(25, 6))
    xy = rng.normal(size=(80, 2)).astype(np.float32)
    got = place_users(toy_map(xy), items, users, k=7, score=score, batch_size=4)
    np.testing.assert_allclose(got, reference_place(xy.astype(np.float64), items, users, 7, score), atol=1e-4)
    one_batch = place_users(toy_map(xy), items, users, k=7, score=score, batch_size=1000)
    # the same up to float rounding: BLAS picks its GEMM kernel (and summation order) by batch shape
    # and CPU, so the last bit of a score may differ between a 4-row and a 25-row batch
    np.testing.assert_allclose(got, one_batch, rtol=1e-6, atol=1e-7)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n_users=st.integers(1, 12), k=st.integers(1, 30))
def test_place_users_properties(seed: int, n_users: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    items = rng.normal(size=(20, 4))
    users = rng.normal(size=(n_users, 4))
    xy = rng.uniform(-5, 5, size=(20, 2)).astype(np.float32)
    got = place_users(toy_map(xy), items, users, k=k)
    assert got.shape == (n_users, 2) and got.dtype == np.float32
    # a convex combination of item positions: inside their bounding box
    assert (got >= xy.min(axis=0) - 1e-4).all() and (got <= xy.max(axis=0) + 1e-4).all()
    perm = rng.permutation(n_users)  # user order does not matter
    np.testing.assert_allclose(place_users(toy_map(xy), items, users[perm], k=k), got[perm], atol=1e-5)


def test_place_users_lands_in_its_cluster() -> None:
    x, labels = clusters(n_per=100, d=16)
    m = project_items(x, ids_for(len(x)), PCA)
    centres = np.stack([x[labels == c].mean(axis=0) for c in range(3)])
    placed = place_users(m, x, centres, k=15)
    map_centroids = np.stack([m.xy[labels == c].mean(axis=0) for c in range(3)])
    nearest = np.linalg.norm(placed[:, None, :] - map_centroids[None], axis=2).argmin(axis=1)
    np.testing.assert_array_equal(nearest, [0, 1, 2])


def test_place_users_validation() -> None:
    m = toy_map(np.zeros((3, 2)))
    items = np.eye(3)
    with pytest.raises(RecauditInputError, match="dimension"):
        place_users(m, items, np.ones((1, 2)))
    with pytest.raises(RecauditInputError, match="rows for a map"):
        place_users(m, np.eye(4), np.ones((1, 4)))
    with pytest.raises(RecauditInputError, match="NaN"):
        place_users(m, items, np.array([[np.nan, 0, 0]]))
    with pytest.raises(RecauditInputError):
        place_users(m, items, np.ones((1, 3)), k=0)
    with pytest.raises(RecauditInputError):
        place_users(m, items, np.ones((1, 3)), score="l2")  # type: ignore[arg-type]
    assert place_users(m, items, np.zeros((0, 3))).shape == (0, 2)


# --------------------------------------------------------------------------- sampling


def test_popularity_deciles_and_primary_categories_by_hand() -> None:
    # 20 items, popularity 0..19: ranks 1..20 -> decile floor(10 * (rank - 1) / 20) = rank // 2
    np.testing.assert_array_equal(popularity_deciles(np.arange(20)), np.arange(20) // 2)
    # ties share a decile: ten zeros have average rank 5.5 -> floor(10 * 4.5 / 20) = 2
    assert set(popularity_deciles(np.r_[np.zeros(10), np.arange(1, 11)])[:10]) == {2}
    assert list(primary_categories(["a|b", None, "", " c ", float("nan")], 5)) == ["a", "", "", "c", ""]
    assert list(primary_categories(None, 2)) == ["", ""]


def test_sample_all_when_cap_large() -> None:
    assert sample_items(ids_for(5), popularity=np.arange(5), categories=None, cap=5).all()
    assert sample_items(ids_for(5), popularity=np.arange(5), categories=None, cap=50).all()


def test_sample_keeps_tail_and_rare_category_proportionally() -> None:
    n = 10_000
    rng = np.random.default_rng(0)
    pop = rng.zipf(1.5, size=n).astype(float)
    cats = np.where(rng.random(n) < 0.995, "big", "rare").astype(object)  # ~50 rare items
    mask = sample_items(ids_for(n), popularity=pop, categories=list(cats), cap=1000, seed=1)
    assert mask.sum() == 1000
    assert (mask & (cats == "rare")).any()
    deciles = popularity_deciles(pop)
    for d in np.unique(deciles):  # each decile keeps about its share (within the 2 categories' rounding)
        share = (deciles == d).mean() * 1000
        assert abs(mask[deciles == d].sum() - share) <= 3
    again = sample_items(ids_for(n), popularity=pop, categories=list(cats), cap=1000, seed=1)
    np.testing.assert_array_equal(mask, again)
    assert not np.array_equal(mask, sample_items(ids_for(n), popularity=pop, categories=list(cats), cap=1000,
                                                 seed=2))


def test_sample_input_validation() -> None:
    with pytest.raises(RecauditInputError):
        sample_items(ids_for(3), popularity=np.arange(2), categories=None, cap=1)
    with pytest.raises(RecauditInputError):
        sample_items(ids_for(3), popularity=np.arange(3), categories=["a"], cap=1)
    with pytest.raises(RecauditInputError):
        sample_items(ids_for(3), popularity=np.arange(3), categories=None, cap=-1)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 300),
    n_cats=st.integers(1, 8),
    cap=st.integers(0, 350),
    n_force=st.integers(0, 20),
    seed=st.integers(0, 1000),
)
def test_sample_properties(n: int, n_cats: int, cap: int, n_force: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    ids = np.array(ids_for(n))
    pop = rng.integers(0, 50, size=n).astype(float)
    cats = [None if r < 0.1 else "|".join(f"c{c}" for c in rng.choice(n_cats, size=2)) for r in rng.random(n)]
    force = list(rng.choice(ids, size=min(n_force, n), replace=False)) + ["not-an-item"]
    mask = sample_items(ids, popularity=pop, categories=cats, cap=cap, force=force, seed=seed)
    assert mask.dtype == bool and mask.shape == (n,)
    primary = primary_categories(cats, n)
    deciles = popularity_deciles(pop)
    assert set(primary[mask]) == set(primary)  # every category stays
    assert set(deciles[mask]) == set(deciles)  # every popularity decile stays
    assert set(force[:-1]) <= set(ids[mask])  # every forced item stays
    n_strata = len({(d, c) for d, c in zip(deciles, primary, strict=True)})
    if cap >= n:
        assert mask.all()
    else:
        assert min(cap, n) <= mask.sum() <= max(cap, n_strata + len(force) - 1)
    again = sample_items(ids, popularity=pop, categories=cats, cap=cap, force=force, seed=seed)
    np.testing.assert_array_equal(mask, again)  # seeded: same call, same mask
