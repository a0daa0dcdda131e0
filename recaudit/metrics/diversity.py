"""Intra-list diversity and serendipity over item vectors (docs/metrics.md, "Diversity and serendipity").

Item vectors are either dense embeddings ``[I, d]`` or sparse category indicators ``csr [I, G]`` (from
:func:`recaudit.metrics.lists.membership_matrix`); the latter give ``ild_category`` and
``serendipity_category``. Cosine similarity is ``cos(a, b) = a·b / (‖a‖ ‖b‖)``; **a zero vector (an item
without embedding signal or without any category) has cosine 0 with every vector, itself included**, so it
counts as maximally distant (1 − cos = 1) from everything.

Users are processed in batches whose dense blocks (``[B, k, d]`` gathered vectors) stay under
``max_block`` float64 elements, so memory is bounded for millions of users.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recaudit.metrics.lists import RecLists

__all__ = ["ild", "serendipity", "unit_rows"]

MAX_BLOCK = 1 << 24  # float64 elements per dense intermediate (128 MiB)


def unit_rows(vectors: np.ndarray | sp.spmatrix) -> np.ndarray | sp.csr_matrix:
    """Rows scaled to unit L2 norm; zero rows stay zero (so their cosine with anything is 0)."""
    if sp.issparse(vectors):
        csr = sp.csr_matrix(vectors, dtype=np.float64)
        norms = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=1)).ravel())
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        return sp.csr_matrix(sp.diags(scale) @ csr)
    dense = np.asarray(vectors, dtype=np.float64)
    if dense.ndim != 2:
        raise ValueError(f"item vectors must be [I, d], got shape {dense.shape}")
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0)


def _gather(unit: np.ndarray | sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Dense float64 rows of ``unit`` (pads, ``-1``, give zero rows)."""
    flat = rows.ravel()
    safe = np.maximum(flat, 0)
    out = unit[safe].toarray() if sp.issparse(unit) else unit[safe]
    out = np.where((flat >= 0)[:, None], out, 0.0)
    return out.reshape(*rows.shape, unit.shape[1])


def _batch(batch_size: int, per_user: int, max_block: int) -> int:
    return max(1, min(batch_size, max_block // max(per_user, 1)))


def _check(lists: RecLists, vectors: np.ndarray | sp.spmatrix) -> None:
    if vectors.shape[0] != lists.n_items:
        raise ValueError(f"item vectors have {vectors.shape[0]} rows, catalogue has {lists.n_items}")


def ild(
    lists: RecLists,
    item_vectors: np.ndarray | sp.spmatrix,
    *,
    batch_size: int = 65536,
    max_block: int = MAX_BLOCK,
) -> np.ndarray:
    """Intra-list diversity per user: ``ILD(L_u) = mean_{i ≠ j ∈ L_u} (1 − cos(v_i, v_j))``.

    Mean over ordered pairs of distinct list positions (equal to the mean over unordered pairs). Source:
    Ziegler et al. 2005 "Improving recommendation lists through topic diversification"; RecTools
    ``IntraListDiversity`` with cosine distance. With category indicator vectors (csr ``[I, G]``) this is
    ``ild_category``. Computed without pairwise blocks: with unit rows ``v̂``,
    ``Σ_{i≠j} cos(v_i, v_j) = ‖Σ_i v̂_i‖² − Σ_i ‖v̂_i‖²``, so ``ILD = 1 − that / (n (n − 1))``.
    Lists with fewer than two items get NaN (left out of the mean); zero vectors have cosine 0 (module
    docstring).

    Returns:
        ``[U]`` float64.
    """
    _check(lists, item_vectors)
    unit = unit_rows(item_vectors)
    n_users, k = lists.items.shape
    out = np.full(n_users, np.nan)
    step = _batch(batch_size, k * unit.shape[1], max_block)
    for start in range(0, n_users, step):
        items = lists.items[start : start + step]
        vecs = _gather(unit, items)  # [B, k, d], zero rows for pads
        n = (items >= 0).sum(axis=1)
        total = vecs.sum(axis=1)
        # Σ_{i≠j} cos(v_i, v_j) = ‖Σ_i v̂_i‖² − Σ_i ‖v̂_i‖²  (no [B, k, k] block needed)
        cos_sum = np.einsum("bd,bd->b", total, total) - np.einsum("bkd,bkd->b", vecs, vecs)
        n_pairs = n * (n - 1)
        out[start : start + step] = np.where(n_pairs > 0, 1.0 - cos_sum / np.maximum(n_pairs, 1), np.nan)
    return out


def serendipity(
    lists: RecLists,
    test: sp.spmatrix,
    train: sp.spmatrix,
    item_vectors: np.ndarray | sp.spmatrix,
    *,
    batch_size: int = 65536,
    max_block: int = MAX_BLOCK,
) -> np.ndarray:
    """Serendipity per user: ``(1/|L_u|) Σ_{i ∈ L_u} 1[i ∈ T_u] · (1 − mean_{j ∈ H_u} cos(v_i, v_j))``.

    Source: Zhang et al. 2012 "Auralist" (unexpectedness = 1 − mean cosine similarity to the history);
    MS Recommenders ``serendipity``. With category vectors this is ``serendipity_category``.

    Conventions:
        - ``H_u`` and ``T_u`` are sets: any stored non-zero in ``train`` / ``test`` (``[U, I]``, aligned
          with the lists' users and the catalogue) marks membership, repeats count once.
        - Users without test items score 0 (docs/metrics.md: every user with a list is averaged).
        - Users with an empty history: the mean over ``H_u`` is taken as 0 (nothing in the history is
          similar), so each relevant recommendation has unexpectedness 1. This matches the zero-vector
          convention: the history centroid is the zero vector.
        - Users with an empty list get NaN (no list, nothing to average).

    ``mean_{j ∈ H_u} cos(v_i, v_j) = v̂_i · (Σ_{j ∈ H_u} v̂_j) / |H_u|`` with ``v̂`` the unit rows, so the
    history enters through one centroid per user.

    Returns:
        ``[U]`` float64.
    """
    from recaudit.metrics.accuracy import relevance

    _check(lists, item_vectors)
    n_users, k = lists.items.shape
    for name, matrix in (("test", test), ("train", train)):
        if matrix.shape != (n_users, lists.n_items):
            raise ValueError(f"{name} has shape {matrix.shape}, expected {(n_users, lists.n_items)}")
    unit = unit_rows(item_vectors)
    history = sp.csr_matrix(train, dtype=np.float64, copy=True)
    history.eliminate_zeros()
    history.data[:] = 1.0
    sizes = np.diff(history.indptr)
    rel = relevance(lists, test, batch_size=batch_size)
    lengths = lists.lengths
    out = np.full(n_users, np.nan)
    step = _batch(batch_size, (k + 1) * unit.shape[1], max_block)
    for start in range(0, n_users, step):
        stop = min(start + step, n_users)
        centroid = history[start:stop] @ unit  # [B, d] sums of unit history vectors
        centroid = centroid.toarray() if sp.issparse(centroid) else np.asarray(centroid)
        centroid = centroid / np.maximum(sizes[start:stop], 1)[:, None]
        vecs = _gather(unit, lists.items[start:stop])  # [B, k, d]
        mean_cos = np.einsum("bkd,bd->bk", vecs, centroid)
        score = np.where(rel[start:stop], 1.0 - mean_cos, 0.0).sum(axis=1)
        n = lengths[start:stop]
        out[start:stop] = np.where(n > 0, score / np.maximum(n, 1), np.nan)
    return out
