"""Every registered re-ranker passes :class:`~tests.rerank.contract.RerankerContract`, and so do the
base ranking (``top_k``) and MMR on category vectors (a sparse input path)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from recaudit.metrics.lists import RecLists
from recaudit.rerank import RERANKERS, mmr, parse_spec, rerank, top_k
from tests.rerank.contract import N_ITEMS, RerankerContract, RunReranker, item_world, world_inputs


class TestRegisteredRerankers(RerankerContract):
    """Each :data:`RERANKERS` entry, called by spec through :func:`rerank` as the pages and the CLI do."""

    @pytest.fixture(scope="class", params=sorted(RERANKERS))
    @classmethod
    def reranker(cls, request: pytest.FixtureRequest) -> RunReranker:
        name = request.param

        def run(cand: np.ndarray, scores: np.ndarray, k: int, lam: float, **common: object) -> RecLists:
            return rerank(f"{name}:{lam!r}", cand, scores, k, **world_inputs(cand.shape[0]), **common)

        return run


class TestTopK(RerankerContract):
    """``"none"``: the base ranking, whatever λ."""

    @pytest.fixture(scope="class")
    @classmethod
    def reranker(cls) -> RunReranker:
        return lambda cand, scores, k, lam, **common: top_k(cand, scores, N_ITEMS, k, **common)


class TestMMROnCategories(RerankerContract):
    """MMR with a sparse category matrix as the item vectors."""

    @pytest.fixture(scope="class")
    @classmethod
    def reranker(cls) -> RunReranker:
        cats = item_world(0)["cats"]
        return lambda cand, scores, k, lam, **common: mmr(cand, scores, cats, k, lam, **common)


@pytest.mark.parametrize("name", sorted(RERANKERS))
def test_registry_entries_name_real_parameters_and_parse(name: str) -> None:
    """What an entry declares is what its function takes, and its name round-trips through a spec."""
    entry = RERANKERS[name]
    parameters = inspect.signature(entry.function).parameters
    for key in (*entry.inputs, *entry.optional, "k", "lambda_"):
        assert key in parameters, f"{name} declares {key!r}, which its function does not take"
    assert [p.kind for p in parameters.values()][-1] is inspect.Parameter.VAR_KEYWORD  # **RunOptions
    assert parse_spec(f"{name}:0.5") == (name, 0.5)
    assert parse_spec(f"{name.replace('_', '-').upper()}:1") == (name, 1.0)
