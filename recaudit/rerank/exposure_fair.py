"""Exposure-fair re-ranking (a soft group exposure-share constraint) on the framework of :mod:`.greedy`."""

from __future__ import annotations

from typing import Unpack

import numpy as np
import scipy.sparse as sp

from recaudit.errors import RecauditInputError
from recaudit.metrics.lists import RecLists
from recaudit.rerank.greedy import SOURCE, RunOptions, indicator_rows, run_greedy


class _ExposureLedger:
    """Position-weighted exposure per group of the lists built so far, over all users (shared by batches)."""

    def __init__(self, membership: sp.csr_matrix, target: np.ndarray) -> None:
        self.membership = membership
        self.target = target
        self.headroom = np.where(target < 1.0, 1.0 - target, 1.0)
        self.exposure = np.zeros(len(target))
        self.total = 0.0

    def overshoot(self) -> np.ndarray:
        """``[G]`` ``max(0, share_g − target_g) / (1 − target_g)`` in [0, 1]; 0 before any exposure."""
        if self.total <= 0:
            return np.zeros_like(self.target)
        share = self.exposure / self.total
        return np.clip((share - self.target) / self.headroom, 0.0, 1.0)


class _ExposureState:
    """``gain_t(i) = −max_{g ∋ i} overshoot_g`` from the shared ledger (0 for items in no group)."""

    def __init__(self, ledger: _ExposureLedger, cand: np.ndarray) -> None:
        self.ledger = ledger
        self.cand = cand
        self.n_batch, self.n = cand.shape
        self.rows = ledger.membership[np.maximum(cand, 0).ravel()]  # pads read row 0; never available

    def gain(self, t: int) -> np.ndarray:
        over = self.ledger.overshoot()
        if not over.any():
            return np.zeros((self.n_batch, self.n))
        penalty = self.rows.multiply(over[None, :]).tocsr().max(axis=1).toarray().ravel()
        return -penalty.reshape(self.n_batch, self.n)

    def update(self, t: int, pos: np.ndarray, ok: np.ndarray) -> None:
        rows = np.flatnonzero(ok)
        weight = 1.0 / np.log2(t + 2.0)
        items = self.cand[rows, pos[rows]]
        self.ledger.exposure += weight * np.asarray(self.ledger.membership[items].sum(axis=0)).ravel()
        self.ledger.total += weight * len(rows)


def _group_membership(membership: np.ndarray | sp.spmatrix, n_groups: int) -> sp.csr_matrix:
    """``[I, G]`` 0/1 csr from a membership matrix or from per-item group labels."""
    if sp.issparse(membership):
        m = membership
    else:
        labels = np.asarray(membership)
        if labels.ndim == 2:
            m = sp.csr_matrix(labels.astype(np.float64))
        elif labels.ndim == 1:
            if np.issubdtype(labels.dtype, np.integer):
                codes = labels.astype(np.int64)
                if codes.size and codes.max() >= n_groups:
                    raise RecauditInputError(SOURCE, f"group labels must be codes in [-1, {n_groups})")
            else:
                _, codes = np.unique(labels.astype(str), return_inverse=True)
            has = codes >= 0
            m = sp.csr_matrix(
                (np.ones(int(has.sum())), (np.flatnonzero(has), codes[has])), shape=(len(labels), n_groups)
            )
        else:
            raise RecauditInputError(SOURCE, "membership must be [items, groups] or one label per item")
    if m.shape[1] != n_groups:
        raise RecauditInputError(SOURCE, f"membership has {m.shape[1]} groups, target_share {n_groups}")
    return indicator_rows(m)[0]


def exposure_fair(
    candidates: np.ndarray,
    scores: np.ndarray,
    membership: np.ndarray | sp.spmatrix,
    target_share: np.ndarray,
    k: int,
    lambda_: float,
    **options: Unpack[RunOptions],
) -> RecLists:
    """Exposure-fair re-ranking: a greedy, soft group exposure-share constraint.

    The idea follows fair exposure (Singh & Joachims 2018, "Fairness of Exposure in Rankings": exposure
    allocated to groups by a target, position weight ``e(r) = 1/log2(r + 1)``) enforced greedily position by
    position like FA*IR (Zehlike et al. 2017). Exact rule: positions r = 1..k are filled in turn for all the
    users of a batch at once; before position r, with ``E_g`` the position-weighted exposure
    ``Σ e(r')·1[item ∈ g]`` of the items placed so far (all earlier positions of this batch and every
    position of earlier batches) and ``E`` the same over all placed items, each group's overshoot is
    ``o_g = max(0, E_g / E − t_g) / (1 − t_g)`` (in [0, 1]; 0 while E = 0, and for t_g = 1), and each user
    picks ``argmax_i (1 − λ)·rel(i) − λ·max_{g ∋ i} o_g`` (items in no group: penalty 0). Shares follow
    docs/metrics.md (``exposure_share = Σ_{i ∈ g} x_i / Σ_i x_i``), so with overlapping groups the shares may
    sum above 1. The result depends on the order of the batches (a global constraint), not on the user order
    within one batch.

    Args:
        candidates, scores, k, lambda_, options: see :func:`recaudit.rerank.mmr`.
        membership: csr ``[I, G]`` 0/1 group membership (:func:`~recaudit.metrics.lists.membership_matrix`),
            or one label per item: integer codes in [-1, G) (-1 = no group) or strings, whose groups are
            the sorted distinct labels.
        target_share: ``[G]`` target exposure share per group, in [0, 1].
    """
    target = np.asarray(target_share, dtype=np.float64)
    if target.ndim != 1 or not np.isfinite(target).all() or ((target < 0) | (target > 1)).any():
        raise RecauditInputError(SOURCE, "target_share must be a 1-d array of shares in [0, 1]")
    ledger = _ExposureLedger(_group_membership(membership, len(target)), target)
    return run_greedy(
        candidates, scores, k, lambda_, ledger.membership.shape[0],
        lambda batch, c, valid: _ExposureState(ledger, c),
        **options,
    )
