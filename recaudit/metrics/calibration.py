"""Miscalibration of recommendation lists against the history (Steck 2018, "Calibrated recommendations").

Definitions (docs/metrics.md):

- ``p(g|i) = 1 / |genres(i)|`` for each category g of item i (0 otherwise);
- ``p(g|u) = mean_{i ∈ H_u} p(g|i)`` (history), ``q(g|u) = mean_{i ∈ L_u} p(g|i)`` (list), uniform weights;
- ``C_KL(p, q) = Σ_g p(g|u) · ln(p(g|u) / q̃(g|u))`` with ``q̃ = (1 − α) q + α p``, ``α = 0.01``; terms with
  ``p(g|u) = 0`` are 0. Reported as ``mean_u C_KL`` (``np.nanmean``).

Conventions:
    - ``H_u`` is a set: any stored non-zero in ``train`` marks the item, repeats count once.
    - **Items without categories are skipped**: they have no genre distribution, so they are left out of
      both means (the denominators count categorised items only) and both distributions sum to 1.
    - Users whose history or list holds no categorised item (including empty histories and empty lists)
      get NaN and are left out of the mean.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recaudit.metrics.lists import RecLists

__all__ = ["category_distributions", "genre_weights", "miscalibration"]

MAX_BLOCK = 1 << 24  # float64 elements per dense intermediate (128 MiB)


def genre_weights(categories: sp.spmatrix) -> sp.csr_matrix:
    """``[I, G]`` matrix of ``p(g|i) = 1 / |genres(i)|`` (rows of uncategorised items stay zero)."""
    csr = sp.csr_matrix(categories, dtype=np.float64, copy=True)
    csr.eliminate_zeros()
    csr.data[:] = 1.0
    counts = np.diff(csr.indptr)
    csr.data /= np.repeat(counts, counts)
    return csr


def _distribution(indicator: sp.csr_matrix, weights: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Mean genre distribution per row of a 0/1 ``[B, I]`` indicator over categorised items only.

    Returns ``(dist [B, G], n_categorised [B])``; rows with no categorised item are all zero.
    """
    categorised = (np.diff(weights.indptr) > 0).astype(np.float64)
    n = indicator @ categorised
    sums = indicator @ weights
    sums = sums.toarray() if sp.issparse(sums) else np.asarray(sums)
    return sums / np.maximum(n, 1)[:, None], n


def _kl(p: np.ndarray, q: np.ndarray, alpha: float) -> np.ndarray:
    """``Σ_g p ln(p / ((1 − α) q + α p))`` row-wise, ``0 ln 0 = 0``."""
    mixed = (1.0 - alpha) * q + alpha * p
    ratio = np.divide(p, mixed, out=np.ones_like(p), where=p > 0)
    return (p * np.log(ratio)).sum(axis=1)


def _list_indicator(items: np.ndarray, n_items: int) -> sp.csr_matrix:
    mask = items >= 0
    rows = np.repeat(np.arange(items.shape[0]), mask.sum(axis=1))
    return sp.csr_matrix(
        (np.ones(len(rows)), (rows, items[mask])), shape=(items.shape[0], n_items)
    )


def miscalibration(
    lists: RecLists,
    train: sp.spmatrix,
    categories: sp.spmatrix,
    alpha: float = 0.01,
    *,
    batch_size: int = 65536,
    max_block: int = MAX_BLOCK,
) -> np.ndarray:
    """Per-user Steck (2018) miscalibration ``C_KL(p(·|u), q(·|u))`` (module docstring for the formula).

    Args:
        lists: top-k lists, ``[U, k]``.
        train: ``[U, I]`` training interactions ``H_u``, aligned with the lists' users and the catalogue.
        categories: ``[I, G]`` 0/1 category membership (``membership_matrix``).
        alpha: the smoothing weight α in ``q̃ = (1 − α) q + α p`` (0 < α ≤ 1; docs/metrics.md fixes 0.01).

    Returns:
        ``[U]`` float64, NaN for users whose history or list has no categorised item.
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    n_users = lists.n_users
    if train.shape != (n_users, lists.n_items):
        raise ValueError(f"train has shape {train.shape}, expected {(n_users, lists.n_items)}")
    if categories.shape[0] != lists.n_items:
        raise ValueError(f"categories have {categories.shape[0]} rows, catalogue has {lists.n_items}")
    weights = genre_weights(categories)
    history = sp.csr_matrix(train, dtype=np.float64, copy=True)
    history.eliminate_zeros()
    history.data[:] = 1.0
    out = np.full(n_users, np.nan)
    step = max(1, min(batch_size, max_block // max(2 * weights.shape[1], 1)))
    for start in range(0, n_users, step):
        stop = min(start + step, n_users)
        p, n_h = _distribution(history[start:stop], weights)
        q, n_l = _distribution(_list_indicator(lists.items[start:stop], lists.n_items), weights)
        out[start:stop] = np.where((n_h > 0) & (n_l > 0), _kl(p, q, alpha), np.nan)
    return out


def category_distributions(
    history: Sequence[int] | np.ndarray,
    recommended: Sequence[int] | np.ndarray,
    categories: sp.spmatrix,
    names: Sequence[str] | None = None,
    alpha: float = 0.01,
) -> pd.DataFrame:
    """``p(g|u)`` (history) and ``q(g|u)`` (recommendations) of ONE user, for a history-vs-list chart.

    Args:
        history: catalogue rows of ``H_u`` (repeats count once; ``-1`` ignored).
        recommended: catalogue rows of ``L_u`` (e.g. ``lists.items[u]``; ``-1`` pads ignored).
        categories: ``[I, G]`` 0/1 category membership.
        names: the G category names (default ``"0", "1", ...``).
        alpha: smoothing weight for the ``kl_term`` column.

    Returns:
        One row per category (index ``category``) with columns ``history`` = p(g|u), ``recommended`` =
        q(g|u) and ``kl_term`` = p ln(p / ((1 − α) q + α p)) (their sum is the user's ``miscalibration``).
        Each column of distributions is all zeros when its side has no categorised item.
    """
    weights = genre_weights(categories)
    n_items, n_groups = weights.shape
    labels = [str(g) for g in range(n_groups)] if names is None else [str(n) for n in names]
    if len(labels) != n_groups:
        raise ValueError(f"{len(labels)} names for {n_groups} categories")
    rows = []
    for items in (history, recommended):
        ids = np.unique(np.asarray(items, dtype=np.int64))
        ids = ids[ids >= 0]
        rows.append(_list_indicator(ids[None, :], n_items) if len(ids) else sp.csr_matrix((1, n_items)))
    p, _ = _distribution(rows[0], weights)
    q, _ = _distribution(rows[1], weights)
    mixed = (1.0 - alpha) * q[0] + alpha * p[0]
    ratio = np.divide(p[0], mixed, out=np.ones(n_groups), where=p[0] > 0)
    return pd.DataFrame(
        {"history": p[0], "recommended": q[0], "kl_term": p[0] * np.log(ratio)},
        index=pd.Index(labels, name="category"),
    )
