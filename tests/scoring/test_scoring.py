"""Tests for recaudit.scoring and its kernel recaudit.scoring._topk.

The reference everywhere is an independent float64 numpy brute force: score every item, set excluded
ones to -inf, order by (score descending, item row ascending), drop -inf, pad to k.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import recaudit.scoring._topk as topk_mod
import recaudit.scoring.scorers as scoring
from recaudit.errors import RecauditInputError
from recaudit.scoring import ExactScorer, FaissScorer, Recommendations, choose_device
from recaudit.scoring._topk import topk_inner_product

N_USERS, N_ITEMS, DIM = 120, 1500, 12


def brute_topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(values, rows) of the k best finite entries per row; ties go to the lower row."""
    n = scores.shape[0]
    vals = np.full((n, k), -np.inf)
    rows = np.full((n, k), -1, dtype=np.int64)
    for b in range(n):
        order = np.lexsort((np.arange(scores.shape[1]), -scores[b]))
        order = order[np.isfinite(scores[b, order])][:k]
        vals[b, : len(order)] = scores[b, order]
        rows[b, : len(order)] = order
    return vals, rows


def reference_scores(users, items, bias=None, score="dot") -> np.ndarray:
    u, v = users.astype(np.float64), items.astype(np.float64)
    if score == "cosine":
        nu = np.linalg.norm(u, axis=1, keepdims=True)
        nv = np.linalg.norm(v, axis=1, keepdims=True)
        u = np.divide(u, nu, out=np.zeros_like(u), where=nu > 0)
        v = np.divide(v, nv, out=np.zeros_like(v), where=nv > 0)
    s = u @ v.T
    return s + bias[None, :] if bias is not None else s


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(7)
    users = rng.standard_normal((N_USERS, DIM)).astype(np.float32)
    items = rng.standard_normal((N_ITEMS, DIM)).astype(np.float32)
    bias = rng.standard_normal(N_ITEMS).astype(np.float32)
    seen = sp.random(N_USERS, N_ITEMS, density=0.02, format="csr", random_state=3)
    seen.data[:] = 1.0
    user_ids = [f"u{i}" for i in range(N_USERS)]
    item_ids = [f"item-{i}" for i in range(N_ITEMS)]
    return {
        "users": users,
        "items": items,
        "bias": bias,
        "seen": seen,
        "user_ids": user_ids,
        "item_ids": item_ids,
    }


def make(world, cls=ExactScorer, **kw):
    kw.setdefault("seen", world["seen"])
    return cls(world["users"], world["items"], world["user_ids"], world["item_ids"], **kw)


def expected(world, k, *, score="dot", bias=False, exclude_seen=True, candidates=None):
    s = reference_scores(world["users"], world["items"], world["bias"] if bias else None, score)
    if exclude_seen:
        s[world["seen"].toarray() != 0] = -np.inf
    if candidates is not None:
        allowed = np.zeros(N_ITEMS, dtype=bool)
        allowed[candidates] = True
        s[:, ~allowed] = -np.inf
    return brute_topk(s, k)


# ---- exactness -----------------------------------------------------------------------------------
@pytest.mark.parametrize("score", ["dot", "cosine"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("block_items", [None, 97, 256])  # one block; odd; 128-col segments
def test_exact_matches_float64_brute_force(world, score, bias, block_items):
    scorer = make(
        world, score=score, item_bias=world["bias"] if bias else None, block_items=block_items
    )
    recs = scorer.recommend(world["user_ids"], k=10, batch_size=50)
    ref_vals, ref_rows = expected(world, 10, score=score, bias=bias)
    np.testing.assert_array_equal(recs.item_index, ref_rows)
    np.testing.assert_allclose(recs.scores, ref_vals, rtol=1e-5, atol=1e-5)
    assert recs.scores.dtype == np.float32 and recs.item_index.dtype == np.int64
    assert list(recs.user_ids) == world["user_ids"]
    assert recs.item_ids[3, 0] == world["item_ids"][ref_rows[3, 0]]


@pytest.mark.parametrize("method", ["blocked", "small", "small-torch", "small-one"])
def test_kernel_ties_exclusions_and_blocks_match_brute_force(method):
    """Small integer vectors give many exact ties; the lower item row must win every one.

    Block sizes cover the whole-row path (odd sizes, last blocks) and the 128-column segment path
    (multiples of 128), with and without exclusions and blocked items. The small-batch path runs on
    the same inputs (its block size is unused), with its numpy backend and with its torch backend
    (the one CUDA runs), over 1 to 19 queries, 1 to 900 items (one short group up to several
    128-column groups) and k past the number of eligible items. ``small-one`` is the scorer's CPU
    call for one query: :func:`topk_small_numpy` on a column-major table, whose single-row
    selection is its own code.
    """
    rng = np.random.default_rng(11)
    for trial in range(40):
        b, n, d, k = (
            int(rng.integers(1, 20)),
            int(rng.integers(1, 120 if trial % 2 else 900)),
            int(rng.integers(1, 5)),
            int(rng.integers(1, 12)),
        )
        block = int(rng.integers(1, 40)) if trial % 2 else int(rng.choice([128, 256]))
        q = rng.integers(-2, 3, (b, d)).astype(np.float32)
        v = rng.integers(-2, 3, (n, d)).astype(np.float32)
        n_ex = int(rng.integers(0, b * n // 2 + 1))
        er, ec = rng.integers(0, b, n_ex), rng.integers(0, n, n_ex)
        blocked = rng.random(n) < 0.2
        if method == "small-one":
            b, q = 1, q[:1]
            er, ec = np.zeros_like(er[er < 1]), ec[er < 1]
        args = dict(
            exclude_rows=torch.from_numpy(er),
            exclude_cols=torch.from_numpy(ec),
            blocked=torch.from_numpy(blocked),
        )
        if method == "small-one":
            vals_np, rows_np = topk_mod.topk_small_numpy(
                q, np.asfortranarray(v), k, (er, ec) if n_ex else None, blocked
            )
            vals, rows = torch.from_numpy(vals_np), torch.from_numpy(rows_np)
        elif method == "small-torch":
            vals, rows = topk_mod.topk_small_batch(
                torch.from_numpy(q), torch.from_numpy(v), k, backend="torch", **args
            )
        else:
            vals, rows = topk_inner_product(
                torch.from_numpy(q), torch.from_numpy(v), k, block_items=block, method=method, **args
            )
        s = q.astype(np.float64) @ v.astype(np.float64).T
        s[er, ec] = -np.inf
        s[:, blocked] = -np.inf
        ref_vals, ref_rows = brute_topk(s, k)
        np.testing.assert_array_equal(rows.numpy(), ref_rows)
        np.testing.assert_array_equal(vals.numpy(), ref_vals.astype(np.float32))


def test_single_query_pads_when_fewer_groups_than_k_are_live():
    """k = 5 of 8 groups, but only two items are eligible: the k-th largest group maximum is -inf,
    and the excluded entries it then admits must come back as padding, not as rows."""
    v = np.asfortranarray(np.arange(1000, dtype=np.float32)[:, None])
    blocked = np.ones(1000, dtype=bool)
    blocked[[3, 700]] = False
    vals, rows = topk_mod.topk_small_numpy(np.ones((1, 1), np.float32), v, 5, None, blocked)
    np.testing.assert_array_equal(rows, [[700, 3, -1, -1, -1]])
    np.testing.assert_array_equal(vals, [[700, 3, -np.inf, -np.inf, -np.inf]])


def test_zero_vector_under_cosine_scores_zero_and_ties_by_row(world):
    users = world["users"].copy()
    users[0] = 0.0
    scorer = ExactScorer(
        users, world["items"], world["user_ids"], world["item_ids"], score="cosine"
    )
    recs = scorer.recommend(["u0"], k=5, exclude_seen=False)
    np.testing.assert_array_equal(recs.item_index[0], np.arange(5))
    np.testing.assert_array_equal(recs.scores[0], np.zeros(5, np.float32))


def test_cosine_is_scale_free_even_for_huge_values(world):
    """Normalising 1e30-sized vectors must not overflow to zero (squares would exceed float32)."""
    plain = ExactScorer(
        world["users"], world["items"], world["user_ids"], world["item_ids"], score="cosine"
    )
    huge = ExactScorer(
        world["users"] * np.float32(1e30),
        world["items"] * np.float32(1e30),
        world["user_ids"],
        world["item_ids"],
        score="cosine",
    )
    a = plain.recommend(world["user_ids"][:20], k=10)
    b = huge.recommend(world["user_ids"][:20], k=10)
    np.testing.assert_array_equal(a.item_index, b.item_index)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)


def test_score_items_matches_formula(world):
    scorer = make(world, score="cosine", item_bias=world["bias"])
    got = scorer.score_items(["u3", "u5"], ["item-9", "item-0", "item-77"])
    ref = reference_scores(world["users"], world["items"], world["bias"], "cosine")
    np.testing.assert_allclose(got, ref[np.ix_([3, 5], [9, 0, 77])], rtol=1e-5, atol=1e-6)


# ---- exclusions, candidates, padding ------------------------------------------------------------
def test_seen_items_never_appear_and_can_be_kept(world):
    scorer = make(world)
    recs = scorer.recommend(world["user_ids"], k=20)
    dense_seen = world["seen"].toarray() != 0
    for b in range(N_USERS):
        assert not dense_seen[b, recs.item_index[b]].any()
    kept = scorer.recommend(world["user_ids"], k=20, exclude_seen=False)
    np.testing.assert_array_equal(kept.item_index, expected(world, 20, exclude_seen=False)[1])
    assert dense_seen[np.arange(N_USERS)[:, None], kept.item_index].any()


@pytest.mark.parametrize("fraction", [0.1, 0.9])  # gather path and blocked-mask path
@pytest.mark.parametrize("as_mask", [True, False])
def test_candidate_restriction_is_exact(world, fraction, as_mask):
    rng = np.random.default_rng(5)
    mask = rng.random(N_ITEMS) < fraction
    rows = np.flatnonzero(mask)
    scorer = make(world, block_items=128)
    recs = scorer.recommend(world["user_ids"], k=10, candidates=mask if as_mask else rows[::-1])
    np.testing.assert_array_equal(recs.item_index, expected(world, 10, candidates=rows)[1])
    assert mask[recs.item_index].all()


@pytest.mark.parametrize("cls", [ExactScorer, FaissScorer])
def test_padding_when_few_candidates_remain(world, cls):
    seen_row = world["seen"][0].indices
    unseen = np.setdiff1d(np.arange(N_ITEMS), seen_row)
    cand = np.array([seen_row[0], unseen[0], unseen[1]])
    scorer = make(world, cls=cls)
    recs = scorer.recommend(["u0"], k=5, candidates=cand)
    assert sorted(recs.item_index[0, :2]) == sorted(unseen[:2])
    np.testing.assert_array_equal(recs.item_index[0, 2:], [-1, -1, -1])
    assert list(recs.item_ids[0, 2:]) == [None, None, None]
    assert np.isneginf(recs.scores[0, 2:]).all() and np.isfinite(recs.scores[0, :2]).all()
    frame = recs.to_frame()
    assert list(frame.columns) == ["user_id", "item_id", "rank", "score"]
    assert list(frame["rank"]) == [1, 2] and list(frame["user_id"]) == ["u0", "u0"]
    empty = scorer.recommend(["u0", "u1"], k=3, candidates=np.zeros(N_ITEMS, dtype=bool))
    assert (empty.item_index == -1).all() and empty.to_frame().empty


def test_recommend_vectors_with_exclusions_and_labels(world):
    scorer = make(world)
    excl = [world["seen"][i].indices for i in range(4)]
    via_vec = scorer.recommend_vectors(world["users"][:4], k=10, exclude=excl)
    via_user = scorer.recommend(world["user_ids"][:4], k=10)
    np.testing.assert_array_equal(via_vec.item_index, via_user.item_index)
    assert list(via_vec.user_ids) == ["0", "1", "2", "3"]
    labelled = scorer.recommend_vectors(world["users"][:2], k=3, labels=["what-if", "cold"])
    assert list(labelled.to_frame()["user_id"].unique()) == ["what-if", "cold"]


def test_iter_recommend_all_covers_every_user_with_progress(world):
    scorer = make(world)
    calls: list[tuple[int, int]] = []
    parts = list(
        scorer.iter_recommend_all(k=5, batch_size=50, progress=lambda d, t: calls.append((d, t)))
    )
    assert [len(p) for p in parts] == [50, 50, 20]
    assert calls == [(50, N_USERS), (100, N_USERS), (120, N_USERS)]
    np.testing.assert_array_equal(
        np.concatenate([p.item_index for p in parts]), expected(world, 5)[1]
    )


# ---- small-batch (GEMV-shaped) path ----------------------------------------------------------------
@pytest.fixture(scope="module")
def exact_world(world):
    """A world whose scores are exact in float32 whatever the summation order, with many ties.

    Every user and item row holds exactly four entries of +-1 (the rest 0): cosine scales them to
    +-0.5 exactly, so every dot or cosine score is a small multiple of 0.25, and the bias is one
    too. Any BLAS routine then computes the same bits, and the two paths can be compared bit for
    bit: ids, ranks, scores and the order of ties.
    """
    rng = np.random.default_rng(21)

    def rows(n: int) -> np.ndarray:
        x = np.zeros((n, DIM), np.float32)
        cols = np.argsort(rng.random((n, DIM)), axis=1)[:, :4]
        np.put_along_axis(x, cols, rng.choice([-1.0, 1.0], (n, 4)).astype(np.float32), axis=1)
        return x

    return {
        **world,
        "users": rows(N_USERS),
        "items": rows(N_ITEMS),
        "bias": (rng.integers(-4, 5, N_ITEMS) / 4).astype(np.float32),
    }


def _blocked_only(monkeypatch) -> None:
    monkeypatch.setattr(topk_mod, "SMALL_BATCH", 0)


def test_small_batch_path_is_chosen_for_single_queries(world, monkeypatch):
    assert topk_mod.choose_method(1, 1_000_000) == "small"
    assert topk_mod.choose_method(topk_mod.SMALL_BATCH, N_ITEMS) == "small"
    assert topk_mod.choose_method(topk_mod.SMALL_BATCH + 1, N_ITEMS) == "blocked"
    assert topk_mod.choose_method(1024, N_ITEMS) == "blocked"
    calls: list[int] = []
    real = topk_mod.topk_small_numpy  # what the scorer calls on CPU, with no torch around it

    def spy(queries, *args, **kw):
        calls.append(int(queries.shape[0]))
        return real(queries, *args, **kw)

    monkeypatch.setattr(topk_mod, "topk_small_numpy", spy)
    scorer = make(world)
    scorer.recommend_vectors(world["users"][:1], k=10)
    scorer.recommend(["u3"], k=5)
    assert calls == [1, 1]
    scorer.recommend(world["user_ids"], k=5, batch_size=50)
    assert calls == [1, 1]


@pytest.mark.parametrize("score,bias", [("dot", False), ("dot", True), ("cosine", True)])
@pytest.mark.parametrize("cand", [None, "gather", "mask"])
@pytest.mark.parametrize("k", [10, 40])
def test_small_path_equals_blocked_path_bit_for_bit(exact_world, monkeypatch, score, bias, cand, k):
    """One user at a time and three at a time, through the small path and the blocked path alone:
    the same ids, ranks, scores and tie order, with seen items excluded, candidates as a gathered
    subset (2% of items, about 30) or as a blocked mask (90%), bias and cosine. k = 40 with the
    gathered subset leaves the lists short, so padding is compared too."""
    w = exact_world
    rng = np.random.default_rng(5)
    candidates = {
        None: None,
        "gather": np.flatnonzero(rng.random(N_ITEMS) < 0.02),
        "mask": rng.random(N_ITEMS) < 0.9,
    }[cand]
    scorer = make(w, score=score, item_bias=w["bias"] if bias else None)
    groups = [[u] for u in w["user_ids"][:40]] + [w["user_ids"][i : i + 3] for i in (40, 90)]
    small = [scorer.recommend(u, k=k, candidates=candidates) for u in groups]
    vec = scorer.recommend_vectors(w["users"][:1], k=k, exclude=[w["seen"][0].indices])
    with monkeypatch.context() as m:
        _blocked_only(m)
        blocked = [scorer.recommend(u, k=k, candidates=candidates) for u in groups]
        vec_blocked = scorer.recommend_vectors(
            w["users"][:1], k=k, exclude=[w["seen"][0].indices]
        )
    for a, b in [*zip(small, blocked, strict=True), (vec, vec_blocked)]:
        np.testing.assert_array_equal(a.item_index, b.item_index)
        assert a.scores.tobytes() == b.scores.tobytes()  # bit for bit, -inf padding included
        np.testing.assert_array_equal(a.item_ids, b.item_ids)
    got = np.concatenate([r.item_index for r in small[:40]])
    rows = np.flatnonzero(candidates) if cand == "mask" else candidates
    _, ref_rows = expected(w, k, score=score, bias=bias, candidates=rows)
    np.testing.assert_array_equal(got, ref_rows[:40])
    if cand == "gather" and k == 40:
        assert (got == -1).any()  # some lists are padded


@pytest.mark.parametrize("score,bias", [("dot", False), ("cosine", True)])
def test_small_path_matches_blocked_path_on_random_floats(world, monkeypatch, score, bias):
    """With random floats the two BLAS routines may round the last bit differently, as the blocked
    kernel's own [1, nb] and [1024, nb] products do: same ids, scores within float32 rounding."""
    scorer = make(world, score=score, item_bias=world["bias"] if bias else None)
    small = [scorer.recommend([u], k=10) for u in world["user_ids"]]
    with monkeypatch.context() as m:
        _blocked_only(m)
        blocked = [scorer.recommend([u], k=10) for u in world["user_ids"]]
    for a, b in zip(small, blocked, strict=True):
        np.testing.assert_array_equal(a.item_index, b.item_index)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6, atol=1e-6)
    _, ref_rows = expected(world, 10, score=score, bias=bias)
    np.testing.assert_array_equal(np.concatenate([r.item_index for r in small]), ref_rows)


def test_small_path_numpy_and_torch_backends_agree(world):
    """The CPU backend (numpy) and the one CUDA runs (torch) select the same lists."""
    q = torch.from_numpy(world["users"][:3])
    v = torch.from_numpy(world["items"])
    er, ec = torch.tensor([0, 0, 2]), torch.tensor([5, 9, 700])
    blocked = torch.from_numpy(np.arange(N_ITEMS) % 7 == 0)
    kw = dict(exclude_rows=er, exclude_cols=ec, blocked=blocked)
    a = topk_mod.topk_small_batch(q, v, 12, backend="numpy", **kw)
    b = topk_mod.topk_small_batch(q, v, 12, backend="torch", **kw)
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    np.testing.assert_allclose(a[0].numpy(), b[0].numpy(), rtol=1e-6, atol=1e-6)
    assert not np.isin(a[1][0].numpy(), [5, 9]).any() and 700 not in a[1][2].numpy()
    assert not blocked.numpy()[a[1].numpy()].any()


# ---- FAISS ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("score,bias", [("dot", False), ("cosine", True)])
def test_faiss_flat_equals_exact(world, score, bias, monkeypatch):
    monkeypatch.setattr(scoring, "_SMALL_CANDIDATES", 100)  # larger sets use the IDSelector
    kw = {"score": score, "item_bias": world["bias"] if bias else None}
    exact, flat = make(world, **kw), make(world, cls=FaissScorer, index="flat", **kw)
    big = np.random.default_rng(1).random(N_ITEMS) < 0.7
    for cand in (None, big, np.arange(40)):  # all items, IDSelector, small set scored exactly
        a = exact.recommend(world["user_ids"], k=10, candidates=cand)
        b = flat.recommend(world["user_ids"], k=10, candidates=cand)
        np.testing.assert_array_equal(a.item_index, b.item_index)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-5)


def test_faiss_overfetch_fallback_stays_exact(world, monkeypatch):
    """A history longer than the over-fetch bound sends the row to the exact fallback."""
    monkeypatch.setattr(scoring, "_MAX_OVERFETCH", 2)
    scores = reference_scores(world["users"], world["items"])
    seen = world["seen"].tolil()
    seen[0, np.argsort(-scores[0])[:30]] = 1.0  # user 0 has seen their 30 best items
    seen = seen.tocsr()
    exact = make(world, seen=seen)
    flat = make(world, cls=FaissScorer, index="flat", seen=seen)
    a, b = exact.recommend(world["user_ids"], k=10), flat.recommend(world["user_ids"], k=10)
    np.testing.assert_array_equal(a.item_index, b.item_index)
    assert not np.isin(b.item_index[0], seen[0].indices).any()


@pytest.mark.parametrize("index", ["hnsw", "ivf"])
def test_faiss_ann_recall_is_high_and_exclusions_exact(world, index):
    exact = make(world)
    ann = make(world, cls=FaissScorer, index=index, nprobe=16, seed=0)  # 16 of 38 lists
    a, b = exact.recommend(world["user_ids"], k=10), ann.recommend(world["user_ids"], k=10)
    recall = np.mean(
        [len(set(x) & set(y)) / 10 for x, y in zip(a.item_index, b.item_index, strict=True)]
    )
    assert recall >= 0.9
    dense_seen = world["seen"].toarray() != 0
    assert not dense_seen[np.arange(N_USERS)[:, None], b.item_index].any()
    assert (np.diff(b.scores, axis=1) <= 0).all()


# ---- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [ExactScorer, FaissScorer])
def test_unknown_ids_raise_naming_them(world, cls):
    scorer = make(world, cls=cls)
    with pytest.raises(RecauditInputError, match="nobody") as err:
        scorer.recommend(["u1", "nobody", "ghost"], k=3)
    assert "ghost" in str(err.value) and err.value.source == "user_ids"
    with pytest.raises(RecauditInputError, match="item-x"):
        scorer.item_index(["item-1", "item-x"])
    with pytest.raises(RecauditInputError, match="unknown"):
        scorer.score_items(["u1"], ["nope"])
    with pytest.raises(RecauditInputError):
        scorer.user_index([1])  # ints are never silently converted to string ids


BAD_INPUTS = [
    "dim",
    "nan",
    "3-d",
    "id count",
    "float ids",
    "duplicates",
    "bias shape",
    "seen shape",
    "score",
    "overflow",
]


def _bad_input(world, name: str) -> dict:
    w = world
    nan_items = w["items"].copy()
    nan_items[3, 2] = np.nan
    return {
        "dim": dict(user_emb=w["users"][:, :5]),
        "nan": dict(item_emb=nan_items),
        "3-d": dict(item_emb=w["items"][None]),
        "id count": dict(item_ids=w["item_ids"][:-1]),
        "float ids": dict(user_ids=[float(i) for i in range(N_USERS)]),
        "duplicates": dict(user_ids=["same"] * N_USERS),
        "bias shape": dict(item_bias=np.ones(3, np.float32)),
        "seen shape": dict(seen=sp.csr_matrix((2, 2))),
        "score": dict(score="euclid"),
        "overflow": dict(item_emb=w["items"] * np.float32(1e36)),
    }[name]


@pytest.mark.parametrize("cls", [ExactScorer, FaissScorer])
@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_constructor_inputs_are_rejected(world, cls, name):
    args = dict(
        user_emb=world["users"],
        item_emb=world["items"],
        user_ids=world["user_ids"],
        item_ids=world["item_ids"],
    )
    with pytest.raises(RecauditInputError):
        cls(**{**args, **_bad_input(world, name)})


def test_bad_call_arguments_are_rejected(world):
    scorer = make(world)
    with pytest.raises(RecauditInputError, match="k must be"):
        scorer.recommend(["u1"], k=0)
    with pytest.raises(RecauditInputError, match="candidates"):
        scorer.recommend(["u1"], candidates=np.array([N_ITEMS]))
    with pytest.raises(RecauditInputError, match="candidates"):
        scorer.recommend(["u1"], candidates=np.ones(3, dtype=bool))
    with pytest.raises(RecauditInputError, match="dimension"):
        scorer.recommend_vectors(np.ones((2, DIM + 1), np.float32))
    with pytest.raises(RecauditInputError, match="NaN"):
        scorer.recommend_vectors(np.full((1, DIM), np.nan, np.float32))
    with pytest.raises(RecauditInputError, match="exclusion lists"):
        scorer.recommend_vectors(np.ones((2, DIM), np.float32), exclude=[np.array([1])])
    with pytest.raises(RecauditInputError, match="one string"):
        scorer.recommend("u1")


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize(
    "name, value, match",
    [
        ("one NaN", np.nan, "NaN"),
        ("+inf", np.inf, "infinite"),
        ("-inf", -np.inf, "infinite"),
        ("past float32", 1e300, "overflow float32"),
        ("score overflow", -1e36, "scores would overflow"),
    ],
)
def test_bad_query_vectors_are_rejected(world, bias, name, value, match):
    """One bad entry among finite ones, either sign: the finiteness test and the overflow bound of
    recommend_vectors share one max and one min, so each sign must reach the error."""
    scorer = make(world, item_bias=world["bias"] if bias else None)
    q = np.ones((3, DIM), np.float64)
    q[1, 4] = value
    with pytest.raises(RecauditInputError, match=match):
        scorer.recommend_vectors(q)


def test_device_choice():
    assert choose_device("cpu") == torch.device("cpu")
    assert choose_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RecauditInputError, match="CUDA"):
            choose_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(world):
    cpu, gpu = make(world, device="cpu"), make(world, device="cuda")
    a, b = cpu.recommend(world["user_ids"], k=10), gpu.recommend(world["user_ids"], k=10)
    np.testing.assert_array_equal(a.item_index, b.item_index)
    for u in world["user_ids"][:10]:  # the small-batch path, torch backend on the GPU
        a, b = cpu.recommend([u], k=10), gpu.recommend([u], k=10)
        np.testing.assert_array_equal(a.item_index, b.item_index)


# ---- thread safety -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls,kw,n_users",
    [
        (ExactScorer, {}, 30),
        (ExactScorer, {}, 1),  # the small-batch path, as the app's pages call it
        (ExactScorer, {}, 3),
        (FaissScorer, {"index": "hnsw"}, 30),
        (FaissScorer, {"index": "ivf"}, 30),
    ],
)
def test_concurrent_recommend_matches_serial(world, cls, kw, n_users, monkeypatch):
    monkeypatch.setattr(scoring, "_SMALL_CANDIDATES", 100)  # candidate sets go through FAISS
    scorer = make(world, cls=cls, **kw)
    rng = np.random.default_rng(0)
    jobs = [
        (
            list(rng.choice(world["user_ids"], n_users)),
            int(rng.integers(1, 15)),
            None if j % 2 else np.flatnonzero(rng.random(N_ITEMS) < 0.6),
        )
        for j in range(24)
    ]
    serial = [scorer.recommend(u, k=k, candidates=c) for u, k, c in jobs]
    results: list[Recommendations | None] = [None] * len(jobs)
    n_threads = 8
    barrier = threading.Barrier(n_threads)

    def worker(t: int) -> None:
        barrier.wait()
        for j in range(t, len(jobs), n_threads):
            u, k, c = jobs[j]
            results[j] = scorer.recommend(u, k=k, candidates=c)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for got, want in zip(results, serial, strict=True):
        assert got is not None
        np.testing.assert_array_equal(got.item_index, want.item_index)
        np.testing.assert_array_equal(got.scores, want.scores)
