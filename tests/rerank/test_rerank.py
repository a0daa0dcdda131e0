"""Re-rankers: hand-computed cases, loop references on random data, Hypothesis properties, effects.

The properties every re-ranker shares (λ = 0, duplicate-free padded subsets, determinism) are the
contract of ``contract.py``, run by ``test_contract.py``; the ones here are specific.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recaudit.errors import RecauditInputError
from recaudit.rerank import (
    calibrated,
    exposure_fair,
    history_distribution,
    mmr,
    normalise_scores,
    parse_spec,
    popularity_aware,
    rerank,
    tail_preference,
    top_k,
)
from tests.rerank.contract import (
    N_GROUPS,
    N_ITEMS,
    candidate_lists,
    candidate_sets,
    item_world,
    valid_prefix,
    world_inputs,
)

# ----------------------------------------------------------------------------------------- fixtures


def _run_all(cand: np.ndarray, scores: np.ndarray, k: int, lam: float, **kw: object) -> dict:
    """The re-rankers whose inputs do not depend on the user row, on the contract's world."""
    world = world_inputs(cand.shape[0])
    return {
        "mmr": mmr(cand, scores, world["item_vectors"], k, lam, **kw),
        "mmr_cat": mmr(cand, scores, world["categories"], k, lam, **kw),
        "none": top_k(cand, scores, N_ITEMS, k, **kw),
    }


# --------------------------------------------------------------------------------- loop references


def _rel(scores: np.ndarray) -> np.ndarray:
    lo, hi = scores.min(), scores.max()
    return np.ones_like(scores) if hi == lo else (scores - lo) / (hi - lo)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return 0.0 if na == 0 or nb == 0 else float(a @ b / (na * nb))


def _greedy_user(items: list[int], rel: np.ndarray, k: int, lam: float, gain) -> list[int]:
    chosen: list[int] = []
    left = list(range(len(items)))
    while left and len(chosen) < k:
        values = [(1 - lam) * rel[j] + lam * gain(items[j], [items[c] for c in chosen]) for j in left]
        best = left[int(np.argmax(values))]
        chosen.append(best)
        left.remove(best)
    return [items[c] for c in chosen]


def _per_user_reference(
    cand: np.ndarray, scores: np.ndarray, k: int, lam: float, gain_for_user
) -> np.ndarray:
    out = np.full((cand.shape[0], k), -1)
    for u in range(cand.shape[0]):
        valid = cand[u] >= 0
        items = cand[u][valid].tolist()
        if not items:
            continue
        picked = _greedy_user(items, _rel(scores[u][valid]), k, lam, gain_for_user(u))
        out[u, : len(picked)] = picked
    return out


def _mmr_reference(cand, scores, vectors, k, lam):
    def gain_for_user(u):
        return lambda i, chosen: -max((_cos(vectors[i], vectors[j]) for j in chosen), default=0.0)

    return _per_user_reference(cand, scores, k, lam, gain_for_user)


def _ckl(p: np.ndarray, q: np.ndarray, alpha: float) -> float:
    total = 0.0
    for g in range(len(p)):
        if p[g] > 0:
            total += p[g] * math.log(p[g] / ((1 - alpha) * q[g] + alpha * p[g]))
    return total


def _calibrated_reference(cand, scores, p, cats, k, lam, alpha=0.01):
    dense = cats.toarray()
    pgi = dense / np.maximum(dense.sum(axis=1, keepdims=True), 1)

    def gain_for_user(u):
        def gain(i, chosen):
            q = pgi[[*chosen, i]].mean(axis=0)
            return -_ckl(p[u], q, alpha)

        return gain

    return _per_user_reference(cand, scores, k, lam, gain_for_user)


def _xquad_reference(cand, scores, head, pref, k, lam):
    def gain_for_user(u):
        def gain(i, chosen):
            total = 0.0
            for category, p_c in ((True, 1 - pref[u]), (False, pref[u])):
                p_i = float(head[i] == category)
                total += p_c * p_i * math.prod(1 - float(head[j] == category) for j in chosen)
            return total

        return gain

    return _per_user_reference(cand, scores, k, lam, gain_for_user)


def _exposure_reference(cand, scores, labels, target, k, lam):
    """Loop over positions, then users; the ledger is updated after each position (one batch)."""
    n_users = cand.shape[0]
    out = np.full((n_users, k), -1)
    exposure, total = np.zeros(len(target)), 0.0
    left = [[j for j in range(cand.shape[1]) if cand[u, j] >= 0] for u in range(n_users)]
    rels = [_rel(scores[u][cand[u] >= 0]) if left[u] else None for u in range(n_users)]
    for t in range(k):
        if total > 0:
            over = [max(0.0, exposure[g] / total - target[g]) / (1 - target[g]) for g in range(len(target))]
        else:
            over = [0.0] * len(target)
        picks = []
        for u in range(n_users):
            if not left[u]:
                continue
            values = [(1 - lam) * rels[u][j] - lam * over[labels[cand[u, j]]] for j in left[u]]
            best = left[u][int(np.argmax(values))]
            left[u].remove(best)
            out[u, t] = cand[u, best]
            picks.append(cand[u, best])
        for item in picks:
            exposure[labels[item]] += 1 / math.log2(t + 2)
            total += 1 / math.log2(t + 2)
    return out


@pytest.mark.parametrize("lam", [0.3, 0.7, 1.0])
def test_every_reranker_matches_its_loop_reference(lam: float) -> None:
    world = item_world(2)
    rng = np.random.default_rng(3)
    cand, scores = candidate_lists(rng, 25, 12)
    k = 6
    p = rng.dirichlet(np.ones(N_GROUPS), 25)
    p[0] = 0.0  # a user without history
    pref = rng.random(25)
    target = np.array([0.5, 0.3, 0.2])
    np.testing.assert_array_equal(
        mmr(cand, scores, world["emb"], k, lam, batch_size=7).items,
        _mmr_reference(cand, scores, world["emb"], k, lam),
    )
    np.testing.assert_array_equal(
        mmr(cand, scores, world["cats"], k, lam).items,
        _mmr_reference(cand, scores, world["cats"].toarray(), k, lam),
    )
    np.testing.assert_array_equal(
        calibrated(cand, scores, p, world["cats"], k, lam, batch_size=4).items,
        _calibrated_reference(cand, scores, p, world["cats"], k, lam),
    )
    np.testing.assert_array_equal(
        popularity_aware(cand, scores, world["head"], pref, k, lam, batch_size=5).items,
        _xquad_reference(cand, scores, world["head"], pref, k, lam),
    )
    np.testing.assert_array_equal(
        exposure_fair(cand, scores, world["labels"], target, k, lam).items,
        _exposure_reference(cand, scores, world["labels"], target, k, lam),
    )


# ------------------------------------------------------------------------------------- hand cases
# Three candidates a=0, b=1, c=2 with scores 3, 2, 1: rel = (3-1)/2, (2-1)/2, 0 = 1, 0.5, 0.

CAND = np.array([[0, 1, 2]])
SCORES = np.array([[3.0, 2.0, 1.0]])


@pytest.mark.parametrize("sparse", [False, True])
def test_mmr_hand_case(sparse: bool) -> None:
    # v_a = v_b = (1, 0), v_c = (0, 1): cos(a, b) = 1, cos(a, c) = 0.
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    vectors = sp.csr_matrix(vectors) if sparse else vectors
    # λ = 0.5: pick 1: gain 0, objective 0.5·rel -> a. pick 2: b = 0.5·0.5 − 0.5·1 = −0.25,
    # c = 0.5·0 − 0.5·0 = 0 -> c. Then b.
    assert mmr(CAND, SCORES, vectors, 3, 0.5).items.tolist() == [[0, 2, 1]]
    # λ = 1: first pick ties at gain 0 -> base rank a; then the most dissimilar item c.
    assert mmr(CAND, SCORES, vectors, 3, 1.0).items.tolist() == [[0, 2, 1]]
    # λ = 0.2: pick 2: b = 0.8·0.5 − 0.2·1 = 0.2 > c = 0 -> b.
    assert mmr(CAND, SCORES, vectors, 3, 0.2).items.tolist() == [[0, 1, 2]]
    assert mmr(CAND, SCORES, vectors, 3, 0.0).items.tolist() == [[0, 1, 2]]


def test_calibrated_hand_case() -> None:
    # a, b in g0; c in g1; p(g|u) = (0.5, 0.5), α = 0.01.
    cats = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    p = np.array([[0.5, 0.5]])
    # S∪{i} = {a}: q = (1, 0), q̃ = (0.995, 0.005), C_KL = 0.5 ln(0.5/0.995) + 0.5 ln(0.5/0.005)
    one_sided = 0.5 * math.log(0.5 / 0.995) + 0.5 * math.log(100.0)
    assert one_sided == pytest.approx(0.5 * math.log(50 / 0.995))  # ≈ 1.9585
    # λ = 0.5, pick 1: a = 0.5·1 − 0.5·1.9585, c = 0 − 0.5·1.9585 -> a.
    # pick 2: b -> q = (1, 0): 0.25 − 0.5·1.9585 = −0.729; c -> q = (0.5, 0.5) = p, C_KL = 0: 0 -> c.
    assert calibrated(CAND, SCORES, p, cats, 3, 0.5).items.tolist() == [[0, 2, 1]]
    # λ = 0.2, pick 2: b = 0.8·0.5 − 0.2·1.9585 = 0.0083 > c = 0 -> b.
    assert 0.8 * 0.5 - 0.2 * one_sided > 0
    assert calibrated(CAND, SCORES, p, cats, 3, 0.2).items.tolist() == [[0, 1, 2]]
    # no history: C_KL = 0 for everything -> base ranking at any λ
    assert calibrated(CAND, SCORES, np.zeros((1, 2)), cats, 3, 1.0).items.tolist() == [[0, 1, 2]]


def test_popularity_aware_hand_case() -> None:
    head = np.array([True, True, False])  # a, b head; c tail; P(tail|u) = 0.8
    pref = np.array([0.8])
    # λ = 0.5, pick 1: a = 0.5·1 + 0.5·0.2 = 0.6, b = 0.25 + 0.1 = 0.35, c = 0 + 0.5·0.8 = 0.4 -> a.
    # pick 2 (head covered): b = 0.25 + 0 = 0.25, c = 0.4 -> c. Then b.
    assert popularity_aware(CAND, SCORES, head, pref, 3, 0.5).items.tolist() == [[0, 2, 1]]
    # λ = 1, pick 1: a = b = 0.2, c = 0.8 -> c first.
    assert popularity_aware(CAND, SCORES, head, pref, 3, 1.0).items.tolist() == [[2, 0, 1]]
    # P(tail|u) = 0: tail never promoted.
    assert popularity_aware(CAND, SCORES, head, np.array([0.0]), 3, 1.0).items.tolist() == [[0, 1, 2]]


def test_exposure_fair_hand_case() -> None:
    cand = np.repeat(CAND, 2, axis=0)
    scores = np.repeat(SCORES, 2, axis=0)
    labels = np.array([0, 0, 1])  # a, b in group 0; c in group 1; target (0.5, 0.5)
    target = np.array([0.5, 0.5])
    # position 1: no exposure yet -> both users take a. Then E_0 = 2·e(1) = 2, E = 2, share_0 = 1,
    # overshoot_0 = (1 − 0.5)/(1 − 0.5) = 1, overshoot_1 = 0.
    # position 2, λ = 1: b = −1, c = 0 -> c. λ = 0.4: b = 0.6·0.5 − 0.4 = −0.1 < c = 0 -> c.
    assert exposure_fair(cand, scores, labels, target, 2, 1.0).items.tolist() == [[0, 2], [0, 2]]
    assert exposure_fair(cand, scores, labels, target, 2, 0.4).items.tolist() == [[0, 2], [0, 2]]
    # λ = 0.3: b = 0.7·0.5 − 0.3 = 0.05 > c = 0 -> b.
    assert exposure_fair(cand, scores, labels, target, 2, 0.3).items.tolist() == [[0, 1], [0, 1]]
    # labels as strings and as a membership matrix give the same
    names = np.array(["x", "x", "y"])
    member = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    assert exposure_fair(cand, scores, names, target, 2, 1.0).items.tolist() == [[0, 2], [0, 2]]
    assert exposure_fair(cand, scores, member, target, 2, 1.0).items.tolist() == [[0, 2], [0, 2]]


def test_exposure_fair_ledger_carries_across_batches() -> None:
    cand = np.repeat(CAND, 2, axis=0)
    scores = np.repeat(SCORES, 2, axis=0)
    labels, target = np.array([0, 0, 1]), np.array([0.5, 0.5])
    # batch 1 = user 0 -> [a, c] (E_0 = 1, E_1 = 1/log2 3 ≈ 0.63: share_0 ≈ 0.61 > 0.5). User 1 then
    # starts with overshoot_0 = (0.613 − 0.5)/0.5 ≈ 0.23 at λ = 1: a = −0.23, c = 0 -> c first.
    out = exposure_fair(cand, scores, labels, target, 2, 1.0, batch_size=1).items
    assert out.tolist() == [[0, 2], [2, 0]]


# ---------------------------------------------------------------------------------- properties


@settings(max_examples=25, deadline=None)
@given(candidate_sets(), st.floats(0.0, 1.0), st.integers(1, 4))
def test_per_user_rerankers_are_user_order_and_batch_size_equivariant(
    data: tuple, lam: float, bs: int
) -> None:
    cand, scores, k, seed = data
    perm = np.random.default_rng(seed).permutation(cand.shape[0])
    base = _run_all(cand, scores, k, lam)
    moved = _run_all(cand[perm], scores[perm], k, lam, batch_size=bs)
    for name in ("mmr", "mmr_cat", "none"):  # their inputs do not depend on the user row
        np.testing.assert_array_equal(moved[name].items, base[name].items[perm], err_msg=name)
    p = np.random.default_rng(seed).dirichlet(np.ones(N_GROUPS), cand.shape[0])
    world = item_world(0)
    a = calibrated(cand, scores, p, world["cats"], k, lam).items
    b = calibrated(cand[perm], scores[perm], p[perm], world["cats"], k, lam, batch_size=bs).items
    np.testing.assert_array_equal(b, a[perm])
    # exposure-fair within one batch: the user order does not matter
    labels, target = world["labels"], np.array([0.5, 0.3, 0.2])
    a = exposure_fair(cand, scores, labels, target, k, lam).items
    b = exposure_fair(cand[perm], scores[perm], labels, target, k, lam).items
    np.testing.assert_array_equal(b, a[perm])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=8))
def test_normalised_scores_are_in_unit_interval_and_monotone(values: list[float]) -> None:
    s = -np.sort(-np.array(values))[None, :]
    rel = normalise_scores(s, np.ones_like(s, dtype=bool))
    assert ((rel >= 0) & (rel <= 1)).all()
    assert (np.diff(rel[0]) <= 0).all()
    if s.max() > s.min():
        assert rel[0, 0] == 1.0 and rel[0, -1] == 0.0
    else:
        assert (rel == 1.0).all()


# -------------------------------------------------------------------------------------- effects


def _ild(items: np.ndarray, vectors: np.ndarray) -> float:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    values = []
    for row in items:
        row = row[row >= 0]
        sims = unit[row] @ unit[row].T
        n = len(row)
        values.append((n * n - sims.sum()) / (n * (n - 1)))  # mean over i ≠ j of 1 − cos (diagonal is 1)
    return float(np.mean(values))


def test_mmr_raises_intra_list_diversity() -> None:
    world = item_world(4)
    rng = np.random.default_rng(5)
    cand, scores = candidate_lists(rng, 60, 20, short=False)
    ild = {lam: _ild(mmr(cand, scores, world["emb"], 5, lam).items, world["emb"]) for lam in (0.0, 0.5, 0.9)}
    assert ild[0.9] > ild[0.5] > ild[0.0]


def _mean_ckl(items: np.ndarray, p: np.ndarray, cats: sp.csr_matrix) -> float:
    dense = cats.toarray()
    pgi = dense / dense.sum(axis=1, keepdims=True)
    return float(np.mean([_ckl(p[u], pgi[row[row >= 0]].mean(axis=0), 0.01) for u, row in enumerate(items)]))


def test_calibrated_lowers_miscalibration() -> None:
    world = item_world(6)
    rng = np.random.default_rng(7)
    cand, scores = candidate_lists(rng, 50, 20, short=False)
    train = sp.csr_matrix((rng.random((50, N_ITEMS)) < 0.2).astype(float))
    p = history_distribution(train, world["cats"])
    cost = {lam: _mean_ckl(calibrated(cand, scores, p, world["cats"], 6, lam).items, p, world["cats"])
            for lam in (0.0, 0.5, 0.99)}
    assert cost[0.99] < cost[0.5] < cost[0.0]


def test_popularity_aware_raises_the_tail_share() -> None:
    world = item_world(8)
    head = world["head"]
    rng = np.random.default_rng(9)
    # base scores favour head items (rows 0..7): they lead every candidate list
    cand = np.array([np.concatenate([rng.permutation(8), 8 + rng.permutation(22)])[:16] for _ in range(40)])
    scores = -np.sort(-rng.normal(size=cand.shape), axis=1)
    pref = rng.uniform(0.3, 1.0, 40)

    def tail_share(lam: float) -> float:
        items = popularity_aware(cand, scores, head, pref, 5, lam).items
        return float((~head[items]).mean())

    assert tail_share(0.0) == 0.0
    assert tail_share(0.9) > tail_share(0.0)


def test_exposure_fair_moves_group_shares_toward_the_target() -> None:
    world = item_world(10)
    labels = world["labels"]
    rng = np.random.default_rng(11)
    cand, scores = candidate_lists(rng, 80, 20, short=False)
    # base scores favour group 0
    boosted = scores + 2.0 * (labels[cand] == 0)
    order = np.argsort(-boosted, axis=1, kind="stable")
    cand, scores = np.take_along_axis(cand, order, 1), np.take_along_axis(boosted, order, 1)
    target = np.array([1 / 3, 1 / 3, 1 / 3])

    def distance(lam: float) -> float:
        lists = exposure_fair(cand, scores, labels, target, 10, lam)
        x = lists.position_exposure()
        share = np.bincount(labels, weights=x, minlength=3) / x.sum()
        return float(np.abs(share - target).sum())

    assert distance(0.8) < distance(0.3) < distance(0.0)


# ------------------------------------------------------------------------------ helpers and errors


def test_history_distribution_and_tail_preference_by_hand() -> None:
    train = sp.csr_matrix(np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))
    cats = sp.csr_matrix(np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]]))
    # user 0: H = {item 0 (p = 0.5, 0.5), item 1 (p = 1, 0)} -> (0.75, 0.25); user 1: no history -> 0.
    np.testing.assert_allclose(history_distribution(train, cats), [[0.75, 0.25], [0.0, 0.0]])
    # head = {item 0}: user 0 has 1 tail item of 2.
    np.testing.assert_allclose(tail_preference(train, np.array([True, False, False])), [0.5, 0.0])


def test_rerank_dispatches_by_spec() -> None:
    world = item_world(0)
    rng = np.random.default_rng(12)
    cand, scores = candidate_lists(rng, 10, 8)
    everything = {
        "item_vectors": world["emb"], "head_mask": world["head"], "user_tail_pref": rng.random(10),
        "n_items": N_ITEMS, "user_ids": np.array([f"u{i}" for i in range(10)]),
    }
    got = rerank("mmr:0.3", cand, scores, 4, **everything)
    np.testing.assert_array_equal(got.items, mmr(cand, scores, world["emb"], 4, 0.3).items)
    assert got.user_ids[0] == "u0"
    got = rerank(" Popularity-Aware : 1 ", cand, scores, 4, **everything)
    expected = popularity_aware(cand, scores, world["head"], everything["user_tail_pref"], 4, 1.0)
    np.testing.assert_array_equal(got.items, expected.items)
    np.testing.assert_array_equal(rerank("none", cand, scores, 4, **everything).items, valid_prefix(cand, 4))
    assert parse_spec("calibrated:0.5") == ("calibrated", 0.5)
    assert parse_spec("exposure_fair:0") == ("exposure_fair", 0.0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [("foo:0.3", "unknown re-ranker"), ("mmr:1.5", "λ must be in"), ("mmr:-0.1", "λ must be in"),
     ("mmr", "lacks λ"), ("mmr:abc", "not a number"), ("mmr:nan", "λ must be in")],
)
def test_bad_specs_raise_input_errors(spec: str, message: str) -> None:
    with pytest.raises(RecauditInputError, match=message):
        parse_spec(spec)


def test_bad_inputs_raise_input_errors() -> None:
    world = item_world(0)
    with pytest.raises(RecauditInputError, match="needs item_vectors"):
        rerank("mmr:0.3", CAND, SCORES, 2)
    with pytest.raises(RecauditInputError, match="same item twice"):
        mmr(np.array([[0, 1, 0]]), SCORES, world["emb"], 2, 0.5)
    with pytest.raises(RecauditInputError, match="candidate rows"):
        mmr(np.array([[0, 1, N_ITEMS]]), SCORES, world["emb"], 2, 0.5)
    with pytest.raises(RecauditInputError, match="finite"):
        mmr(CAND, np.array([[1.0, np.nan, 0.0]]), world["emb"], 2, 0.5)
    with pytest.raises(RecauditInputError, match="λ must be in"):
        mmr(CAND, SCORES, world["emb"], 2, 1.2)
    with pytest.raises(RecauditInputError, match="k must be"):
        mmr(CAND, SCORES, world["emb"], 0, 0.5)
    with pytest.raises(RecauditInputError, match="history_dist"):
        calibrated(CAND, SCORES, np.ones((2, N_GROUPS)) / N_GROUPS, world["cats"], 2, 0.5)
    with pytest.raises(RecauditInputError, match="user_tail_pref"):
        popularity_aware(CAND, SCORES, world["head"], np.array([1.5]), 2, 0.5)
    with pytest.raises(RecauditInputError, match="codes in"):
        exposure_fair(CAND, SCORES, world["labels"], np.array([0.5, 0.5]), 2, 0.5)
    with pytest.raises(RecauditInputError, match="target_share"):
        exposure_fair(CAND, SCORES, world["labels"], np.array([0.5, 0.3, 1.2]), 2, 0.5)
    with pytest.raises(RecauditInputError, match="membership has 2 groups"):
        exposure_fair(CAND, SCORES, sp.csr_matrix(np.ones((N_ITEMS, 2))), np.array([0.5, 0.3, 0.2]), 2, 0.5)


def test_frontier_scores_once_and_matches_one_audit_per_lambda(tiny_bundle_dir: Path) -> None:
    """rerank_frontier re-ranks one set of candidate pools at every λ: each row must equal the audit of
    bundle_recommendations with that λ's spec, and progress names every λ."""
    from recaudit.bundle import load_bundle
    from recaudit.metrics import evaluate
    from recaudit.workflows.audit import audit_inputs, bundle_recommendations, rerank_frontier

    bundle = load_bundle(tiny_bundle_dir / "alpha")
    users = [f"u{u:02d}" for u in range(0, 30, 2)]
    metrics = ["ndcg@5", "ild_category@5", "coverage@5"]
    heard: list[str] = []
    frame = rerank_frontier(bundle, 5, "mmr", [0.0, 0.5, 1.0], users=users, metrics=metrics,
                            progress=lambda step, _fraction: heard.append(step))
    for row in frame.itertuples(index=False):
        recs = bundle_recommendations(bundle, 5, rerank=f"mmr:{row[0]:g}", users=users)
        expected = evaluate(audit_inputs(bundle, recs, k=5, users=users), metrics, ci=False).values
        assert list(row[1:]) == pytest.approx([expected[m] for m in metrics])
    steps = [h for h in heard if h.startswith("mmr:")]
    assert steps == ["mmr:0 (1 of 3)", "mmr:0.5 (2 of 3)", "mmr:1 (3 of 3)"]
