"""Maximal Marginal Relevance (Carbonell & Goldstein 1998) on the greedy framework of :mod:`.greedy`."""

from __future__ import annotations

from typing import Unpack

import numpy as np
import scipy.sparse as sp

from recaudit.errors import RecauditInputError
from recaudit.metrics.lists import RecLists
from recaudit.rerank.greedy import SOURCE, RunOptions, run_greedy
from recaudit.vectors import unit_rows, unit_rows_sparse


class _MMRState:
    """``gain_t(i) = −max_{j ∈ S} cos(v_i, v_j)`` (0 while S is empty)."""

    def __init__(self, unit: np.ndarray | sp.csr_matrix, cand: np.ndarray) -> None:
        self.n_batch, self.n = cand.shape
        flat = np.maximum(cand, 0).ravel()  # pads read row 0: they are never available, so never matter
        self.sparse = sp.issparse(unit)
        self.vectors = unit[flat] if self.sparse else unit[flat].reshape(self.n_batch, self.n, -1)
        self.max_sim = np.zeros((self.n_batch, self.n))
        self.any_chosen = np.zeros(self.n_batch, dtype=bool)

    def gain(self, t: int) -> np.ndarray:
        return np.where(self.any_chosen[:, None], -self.max_sim, 0.0)

    def update(self, t: int, pos: np.ndarray, ok: np.ndarray) -> None:
        rows = np.arange(self.n_batch)
        if self.sparse:
            picked = self.vectors[np.repeat(rows * self.n + pos, self.n)]
            sim = np.asarray(self.vectors.multiply(picked).sum(axis=1)).reshape(self.n_batch, self.n)
        else:
            sim = np.einsum("bnd,bd->bn", self.vectors, self.vectors[rows, pos])
        first = ok & ~self.any_chosen
        self.max_sim[first] = sim[first]
        more = ok & self.any_chosen
        self.max_sim[more] = np.maximum(self.max_sim[more], sim[more])
        self.any_chosen |= ok


def mmr(
    candidates: np.ndarray,
    scores: np.ndarray,
    item_vectors: np.ndarray | sp.spmatrix,
    k: int,
    lambda_: float,
    **options: Unpack[RunOptions],
) -> RecLists:
    """Maximal Marginal Relevance (Carbonell & Goldstein 1998).

    Greedily picks ``argmax_{i ∉ S} (1 − λ)·rel(i) − λ·max_{j ∈ S} cos(v_i, v_j)`` where ``rel`` is the
    min-max normalised base score (:mod:`recaudit.rerank.greedy`) and S the items chosen so far (the max is
    0 for the first pick, so the first item is always the top candidate). ``λ = 1`` picks, after the first,
    the item least similar to the list so far. Cosine of a zero vector is 0.

    Args:
        candidates: ``[U, n]`` catalogue rows sorted by base score (descending), ``-1`` padded.
        scores: ``[U, n]`` base scores (higher is better).
        item_vectors: ``[I, d]`` dense item embeddings, or a csr ``[I, G]`` category indicator matrix.
        k: output list length.
        lambda_: diversity weight in [0, 1].
        options: ``batch_size``, ``user_ids``, ``item_ids`` (:class:`~recaudit.rerank.greedy.RunOptions`);
            a batch holds ``batch · n · d`` floats for dense vectors.
    """
    if sp.issparse(item_vectors):
        unit = unit_rows_sparse(item_vectors)
    else:
        dense = np.asarray(item_vectors, dtype=np.float64)
        if dense.ndim != 2:
            raise RecauditInputError(SOURCE, "item_vectors must be a 2-d [items, dim] array")
        if not np.isfinite(dense).all():
            raise RecauditInputError(SOURCE, "item_vectors hold NaN or infinite values")
        unit = unit_rows(dense)
    return run_greedy(
        candidates, scores, k, lambda_, unit.shape[0],
        lambda batch, cand, valid: _MMRState(unit, cand),
        **options,
    )
