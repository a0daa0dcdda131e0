"""Ranking accuracy on :class:`RecLists` arrays with binary relevance (docs/metrics.md, ranx conventions).

For a user u with top-k list ``L_u`` (ranks 1..k, possibly shorter than k) and relevant test items ``T_u``:

- ``precision@k`` = |L_u ∩ T_u| / k
- ``recall@k`` = |L_u ∩ T_u| / |T_u|
- ``hit_rate@k`` = 1 if |L_u ∩ T_u| > 0 else 0
- ``mrr@k`` = 1 / (rank of the first relevant item in L_u), 0 if none
- ``ndcg@k`` = DCG / IDCG, DCG = Σ_{r ≤ k, L_u[r] ∈ T_u} 1 / log2(r + 1), IDCG the DCG of min(k, |T_u|)
  relevant items at the top (Järvelin & Kekäläinen 2002; ranx ``ndcg``)
- ``map@k`` = Σ_{r ≤ k, L_u[r] ∈ T_u} precision@r / min(k, |T_u|)

Source: docs/metrics.md "Ranking accuracy"; ranx (Bassani 2022) for precision, recall, hit_rate, mrr and ndcg.
Note: ranx's ``map@k`` divides by |T_u|, docs/metrics.md by min(k, |T_u|); the two agree when |T_u| ≤ k.

Every function returns per-user values ``[U]`` (float64). Users with ``n_relevant == 0`` are not evaluated
(docs/metrics.md: accuracy evaluates the users with at least one test item) and get NaN, so ``np.nanmean``
is the reported mean. A user with test items but an empty list scores 0. ``n_relevant`` counts test items
outside the catalogue too (they can never be hit but still count in |T_u|).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recaudit.metrics.lists import RecLists

__all__ = [
    "hit_rate",
    "map_at_k",
    "mrr",
    "ndcg",
    "precision",
    "recall",
    "relevance",
]


def relevance(lists: RecLists, test: sp.spmatrix, *, batch_size: int = 65536) -> np.ndarray:
    """``rel[u, r] = L_u[r + 1] ∈ T_u``: a ``[U, k]`` bool matrix (pads are never relevant).

    ``test`` is a ``[U, I]`` sparse matrix aligned with the lists' users and the catalogue; any stored
    non-zero value marks the item relevant. The gather is a sorted-key lookup (``searchsorted``) on the
    csr entries, done in batches of ``batch_size`` users to bound memory.
    """
    n_users, k = lists.items.shape
    if test.shape != (n_users, lists.n_items):
        raise ValueError(f"test has shape {test.shape}, expected {(n_users, lists.n_items)}")
    csr = sp.csr_matrix(test, copy=True)
    csr.eliminate_zeros()
    csr.sort_indices()
    rel = np.zeros((n_users, k), dtype=bool)
    n_items = np.int64(max(lists.n_items, 1))
    for start in range(0, n_users, batch_size):
        stop = min(start + batch_size, n_users)
        lo, hi = csr.indptr[start], csr.indptr[stop]
        if lo == hi:
            continue
        rows = np.repeat(np.arange(stop - start, dtype=np.int64), np.diff(csr.indptr[start : stop + 1]))
        keys = rows * n_items + csr.indices[lo:hi].astype(np.int64)  # sorted: rows, then sorted columns
        items = lists.items[start:stop]
        query = np.arange(stop - start, dtype=np.int64)[:, None] * n_items + np.maximum(items, 0)
        pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        rel[start:stop] = (keys[pos] == query) & (items >= 0)
    return rel


def _checked(rel: np.ndarray, n_relevant: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rel = np.asarray(rel, dtype=bool)
    if rel.ndim != 2:
        raise ValueError(f"rel must be [U, k], got shape {rel.shape}")
    n_rel = np.asarray(n_relevant, dtype=np.float64)
    if n_rel.shape != (rel.shape[0],):
        raise ValueError(f"n_relevant must have shape ({rel.shape[0]},), got {n_rel.shape}")
    return rel, n_rel, n_rel > 0


def _leave_out(values: np.ndarray, evaluated: np.ndarray) -> np.ndarray:
    return np.where(evaluated, values, np.nan)


def precision(rel: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """``precision@k = |L_u ∩ T_u| / k`` (k the list width, also for shorter lists; ranx ``precision``)."""
    rel, n_rel, ok = _checked(rel, n_relevant)
    return _leave_out(rel.sum(axis=1) / max(rel.shape[1], 1), ok)


def recall(rel: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """``recall@k = |L_u ∩ T_u| / |T_u|`` (ranx ``recall``)."""
    rel, n_rel, ok = _checked(rel, n_relevant)
    return _leave_out(rel.sum(axis=1) / np.where(ok, n_rel, 1.0), ok)


def hit_rate(rel: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """``hit_rate@k = 1 if |L_u ∩ T_u| > 0 else 0`` (ranx ``hit_rate``)."""
    rel, _, ok = _checked(rel, n_relevant)
    return _leave_out(rel.any(axis=1).astype(np.float64), ok)


def mrr(rel: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """``mrr@k = 1 / rank of the first relevant item in L_u``, 0 if none (ranx ``mrr``)."""
    rel, _, ok = _checked(rel, n_relevant)
    first = rel.argmax(axis=1) + 1
    return _leave_out(np.where(rel.any(axis=1), 1.0 / first, 0.0), ok)


def ndcg(rel: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """``ndcg@k = DCG / IDCG`` with ``DCG = Σ_{r ≤ k, L_u[r] ∈ T_u} 1 / log2(r + 1)``.

    IDCG is the DCG of ``min(k, |T_u|)`` relevant items at ranks 1.. (Järvelin & Kekäläinen 2002; ranx
    ``ndcg``).
    """
    rel, n_rel, ok = _checked(rel, n_relevant)
    k = rel.shape[1]
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal_cum = np.concatenate([[1.0], np.cumsum(discount)])  # index 0 unused (users left out)
    ideal_n = np.minimum(n_rel, k).astype(np.int64)
    idcg = ideal_cum[np.where(ok, ideal_n, 0)]
    return _leave_out((rel * discount).sum(axis=1) / idcg, ok)


def map_at_k(rel: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """``map@k = Σ_{r ≤ k, L_u[r] ∈ T_u} precision@r / min(k, |T_u|)`` (per-user average precision).

    docs/metrics.md divides by ``min(k, |T_u|)`` (so a perfect top-k scores 1); ranx ``map`` divides by
    ``|T_u|``; they agree whenever ``|T_u| ≤ k``.
    """
    rel, n_rel, ok = _checked(rel, n_relevant)
    k = rel.shape[1]
    precision_at_r = np.cumsum(rel, axis=1) / np.arange(1, k + 1)
    denom = np.where(ok, np.minimum(n_rel, k), 1.0)
    return _leave_out((precision_at_r * rel).sum(axis=1) / denom, ok)

