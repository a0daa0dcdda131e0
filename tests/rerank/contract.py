"""The re-ranker contract: what every re-ranker guarantees, whatever its gain term, and inputs to check it.

:class:`RerankerContract` holds the properties; a subclass supplies the class-scoped fixture ``reranker``, a
callable ``(candidates, scores, k, lambda_, **common) -> RecLists`` (``common``: ``batch_size``). In
``test_contract.py`` one subclass is parametrised over :data:`recaudit.rerank.RERANKERS`, so a newly
registered re-ranker runs the contract with no test code of its own; it reaches the re-ranker through
:func:`recaudit.rerank.rerank` with :func:`world_inputs`, so a re-ranker needing an input that is not there
fails with "needs ..." until the input is added to :func:`world_inputs`.

The properties, on Hypothesis-drawn candidate sets with coarse scores (many ties), short and empty sets and
``k`` beyond the candidates:

- ``λ = 0`` reproduces the input ranking: the first ``k`` valid candidates, in order.
- Every list is a duplicate-free subset of the user's valid candidates, of length ``min(valid, k)``,
  padded with ``-1`` at the end to ``k`` columns.
- Runs are deterministic (the same call twice gives the same lists) and leave the inputs unchanged.

The builders here (:func:`item_world`, :func:`candidate_lists`, :func:`valid_prefix`,
:func:`candidate_sets`) are shared with ``test_rerank.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recaudit.metrics.lists import RecLists

N_ITEMS, N_GROUPS, DIM = 30, 4, 5

RunReranker = Callable[..., RecLists]
"""``(candidates, scores, k, lambda_, **common) -> RecLists``: the re-ranker under contract."""


def item_world(seed: int = 0) -> dict[str, object]:
    """Item side inputs of every re-ranker over a catalogue of N_ITEMS items."""
    rng = np.random.default_rng(seed)
    cats = (rng.random((N_ITEMS, N_GROUPS)) < 0.35).astype(float)
    cats[np.arange(N_ITEMS), rng.integers(0, N_GROUPS, N_ITEMS)] = 1.0
    return {
        "emb": rng.normal(size=(N_ITEMS, DIM)),
        "cats": sp.csr_matrix(cats),
        "head": np.arange(N_ITEMS) < 8,
        "labels": rng.integers(0, 3, N_ITEMS),
    }


def world_inputs(n_users: int, seed: int = 0) -> dict[str, object]:
    """Every input a registered re-ranker takes, by :func:`recaudit.rerank.rerank` keyword, for ``n_users``.

    A re-ranker with a new kind of input gets it here.
    """
    world = item_world(seed)
    rng = np.random.default_rng(seed + 1)
    return {
        "item_vectors": world["emb"],
        "history_dist": rng.dirichlet(np.ones(N_GROUPS), n_users),
        "categories": world["cats"],
        "head_mask": world["head"],
        "user_tail_pref": rng.random(n_users),
        "membership": world["labels"],
        "target_share": np.array([0.5, 0.3, 0.2]),
        "n_items": N_ITEMS,
    }


def candidate_lists(
    rng: np.random.Generator, n_users: int, n: int, short: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Unique candidates per user, scores sorted descending, some users with trailing pads."""
    cand = np.argsort(rng.random((n_users, N_ITEMS)), axis=1)[:, :n].astype(np.int64)
    scores = -np.sort(-rng.normal(size=(n_users, n)), axis=1)
    if short:
        lengths = rng.integers(0, n + 1, n_users)
        pad = np.arange(n)[None, :] >= lengths[:, None]
        cand[pad] = -1
        scores[pad] = -np.inf
    return cand, scores


def valid_prefix(cand: np.ndarray, k: int) -> np.ndarray:
    """The first k valid candidates of every row, -1 padded to width k."""
    out = np.full((cand.shape[0], k), -1)
    for u, row in enumerate(cand):
        row = row[row >= 0][:k]
        out[u, : len(row)] = row
    return out


@st.composite
def candidate_sets(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(candidates, scores, k, seed)``: up to 6 users, up to 8 candidates, coarse (tied) scores."""
    n_users = draw(st.integers(1, 6))
    n = draw(st.integers(0, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    cand, _ = candidate_lists(rng, n_users, n)
    # coarse scores: many ties, to check that ties keep the base order
    raw = draw(
        st.lists(st.integers(-3, 3), min_size=n_users * n, max_size=n_users * n).map(
            lambda xs: np.array(xs, dtype=float).reshape(n_users, n)
        )
    )
    scores = -np.sort(-raw, axis=1)
    scores[cand < 0] = -np.inf
    k = draw(st.integers(1, n + 2))
    return cand, scores, k, seed


class RerankerContract:
    """The properties every re-ranker has; subclass and supply the class-scoped ``reranker`` fixture."""

    @pytest.fixture(scope="class")
    @classmethod
    def reranker(cls) -> RunReranker:
        """The re-ranker under contract (a subclass overrides this)."""
        raise NotImplementedError("a RerankerContract subclass supplies the `reranker` fixture")

    @settings(max_examples=40, deadline=None)
    @given(candidate_sets())
    def test_lambda_zero_reproduces_the_input_ranking(self, reranker: RunReranker, data: tuple) -> None:
        cand, scores, k, _ = data
        np.testing.assert_array_equal(reranker(cand, scores, k, 0.0).items, valid_prefix(cand, k))

    @settings(max_examples=40, deadline=None)
    @given(candidate_sets(), st.floats(0.0, 1.0))
    def test_lists_are_duplicate_free_subsets_padded_with_minus_one(
        self, reranker: RunReranker, data: tuple, lam: float
    ) -> None:
        cand, scores, k, _ = data
        lists = reranker(cand, scores, k, lam)
        n_valid = (cand >= 0).sum(axis=1)
        assert lists.items.shape == (cand.shape[0], k)
        np.testing.assert_array_equal(lists.lengths, np.minimum(n_valid, k))
        for u, row in enumerate(lists.items):
            got = row[row >= 0]
            assert (row[len(got):] == -1).all()  # pads only at the end
            assert len(set(got.tolist())) == len(got)
            assert set(got.tolist()) <= set(cand[u][cand[u] >= 0].tolist())

    @settings(max_examples=20, deadline=None)
    @given(candidate_sets(), st.floats(0.0, 1.0), st.integers(1, 4))
    def test_runs_are_deterministic_and_leave_the_inputs_alone(
        self, reranker: RunReranker, data: tuple, lam: float, batch_size: int
    ) -> None:
        cand, scores, k, _ = data
        before = cand.copy(), scores.copy()
        first = reranker(cand, scores, k, lam, batch_size=batch_size)
        again = reranker(cand, scores, k, lam, batch_size=batch_size)
        np.testing.assert_array_equal(first.items, again.items)
        np.testing.assert_array_equal(first.user_ids, again.user_ids)
        np.testing.assert_array_equal(cand, before[0])
        np.testing.assert_array_equal(scores, before[1])
