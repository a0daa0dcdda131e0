"""Calibrated recommendations (Steck 2018) on the greedy framework of :mod:`.greedy`."""

from __future__ import annotations

from typing import Unpack

import numpy as np
import scipy.sparse as sp

from recaudit.errors import RecauditInputError
from recaudit.metrics.lists import RecLists
from recaudit.rerank.greedy import (
    SOURCE,
    RunOptions,
    check_user_rows,
    divide_rows,
    indicator_rows,
    run_greedy,
)


def _row_stochastic(categories: sp.spmatrix) -> sp.csr_matrix:
    """``p(g|i) = 1 / |genres(i)|`` for each category g of item i (Steck 2018); rows without one stay 0."""
    return divide_rows(*indicator_rows(categories))


def history_distribution(train: sp.spmatrix, categories: sp.spmatrix) -> np.ndarray:
    """``p(g|u) = mean_{i ∈ H_u} p(g|i)``, ``p(g|i) = 1/|genres(i)|`` (Steck 2018; docs/metrics.md
    miscalibration).

    Args:
        train: ``[U, I]`` training interactions (any positive count marks ``i ∈ H_u``; H_u is a set).
        categories: ``[I, G]`` 0/1 category indicators.

    Returns:
        ``[U, G]`` float64; rows of users without history are 0.
    """
    h, sizes = indicator_rows(train)
    dist = np.asarray((h @ _row_stochastic(categories)).todense())
    return dist / np.where(sizes > 0, sizes, 1.0)[:, None]


class _CalibratedState:
    """``gain_t(i) = −C_KL(p, q̃(S ∪ {i}))`` with uniform weights, over the nonzeros of p(g|i)."""

    def __init__(self, p: np.ndarray, pgi: sp.csr_matrix, cand: np.ndarray, alpha: float) -> None:
        self.n_batch, self.n = cand.shape
        self.p = p
        self.alpha = alpha
        self.positive = p > 0
        self.plogp = np.where(self.positive, p * np.log(np.where(self.positive, p, 1.0)), 0.0).sum(axis=1)
        self.rows_pgi = pgi[np.maximum(cand, 0).ravel()].tocoo()  # pads read row 0; never available
        self.user_of = self.rows_pgi.row // max(self.n, 1)
        self.pgi = pgi
        self.cand = cand
        self.mass = np.zeros_like(p)  # Σ_{j ∈ S} p(g|j)

    def gain(self, t: int) -> np.ndarray:
        size = t + 1  # |S ∪ {i}|
        base = (1.0 - self.alpha) * self.mass / size + self.alpha * self.p  # q̃ without i's own mass
        log_base = np.where(self.positive, np.log(np.where(self.positive, base, 1.0)), 0.0)
        cross = (self.p * log_base).sum(axis=1)  # Σ_g p ln q̃ when i adds nothing
        b, g, v = self.user_of, self.rows_pgi.col, self.rows_pgi.data
        pb = self.p[b, g]
        keep = pb > 0
        extra = pb[keep] * np.log1p((1.0 - self.alpha) * v[keep] / size / base[b[keep], g[keep]])
        correction = np.bincount(
            self.rows_pgi.row[keep], weights=extra, minlength=self.n_batch * self.n
        ).reshape(self.n_batch, self.n)
        kl = self.plogp[:, None] - cross[:, None] - correction
        return -kl

    def update(self, t: int, pos: np.ndarray, ok: np.ndarray) -> None:
        rows = np.flatnonzero(ok)
        items = self.cand[rows, pos[rows]]
        self.mass[rows] += self.pgi[items].toarray()


def calibrated(
    candidates: np.ndarray,
    scores: np.ndarray,
    history_dist: np.ndarray,
    categories: sp.spmatrix,
    k: int,
    lambda_: float,
    alpha: float = 0.01,
    **options: Unpack[RunOptions],
) -> RecLists:
    """Calibrated recommendations (Steck 2018, "Calibrated Recommendations", greedy optimisation).

    Maximises ``(1 − λ)·Σ_{i ∈ S} rel(i) − λ·C_KL(p, q̃(S))`` greedily: at each position it adds
    ``argmax_i (1 − λ)·rel(i) − λ·C_KL(p, q̃(S ∪ {i}))`` (``Σ_{j ∈ S} rel(j)`` is the same for every i), with
    ``rel`` the min-max normalised base score, the docs/metrics.md miscalibration definitions
    ``p(g|i) = 1/|genres(i)|``, ``q(g|S) = mean_{j ∈ S} p(g|j)`` (uniform weights),
    ``q̃ = (1 − α)·q + α·p`` and ``C_KL(p, q̃) = Σ_{g: p(g|u) > 0} p(g|u)·ln(p(g|u) / q̃(g))``. A user without
    history (p = 0) has ``C_KL = 0`` and keeps the base ranking.

    Args:
        candidates, scores, k, lambda_, options: see :func:`recaudit.rerank.mmr`.
        history_dist: ``[U, G]`` ``p(g|u)`` (e.g. :func:`history_distribution`).
        categories: ``[I, G]`` 0/1 category indicators (csr); rows are made ``p(g|i)`` here.
        alpha: the smoothing α in (0, 1] (Steck: 0.01).
    """
    if not 0.0 < float(alpha) <= 1.0:
        raise RecauditInputError(SOURCE, f"alpha must be in (0, 1], got {alpha!r}")
    if not sp.issparse(categories):
        categories = sp.csr_matrix(np.asarray(categories))
    pgi = _row_stochastic(categories)
    p_all = (
        history_dist.toarray() if sp.issparse(history_dist) else np.asarray(history_dist, dtype=np.float64)
    )
    if p_all.ndim != 2 or p_all.shape[1] != pgi.shape[1]:
        raise RecauditInputError(
            SOURCE, f"history_dist must be [users, {pgi.shape[1]} categories], got shape {p_all.shape}"
        )
    check_user_rows(p_all, candidates, "history_dist")
    if not np.isfinite(p_all).all() or (p_all < 0).any():
        raise RecauditInputError(SOURCE, "history_dist must hold finite, non-negative p(g|u)")
    return run_greedy(
        candidates, scores, k, lambda_, pgi.shape[0],
        lambda batch, c, valid: _CalibratedState(p_all[batch].astype(np.float64), pgi, c, float(alpha)),
        **options,
    )
