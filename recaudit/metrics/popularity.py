"""Popularity-bias metrics (docs/metrics.md, "Popularity bias").

``φ(i)`` is the number of training interactions of item i (``item_popularity``), ``users(i)`` its
number of distinct training users (``item_users``), ``n_users`` the number of distinct training users.
User-level metrics return ``[U]`` float64 arrays, NaN for users with an empty list; the reported value
is ``np.nanmean`` of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recaudit.metrics.lists import RecLists

NICHE, DIVERSE, BLOCKBUSTER, NO_HISTORY = "niche", "diverse", "blockbuster", "no_history"
POPULARITY_GROUPS = (NICHE, DIVERSE, BLOCKBUSTER)


def list_mean(lists: RecLists, values: np.ndarray, *, batch_size: int = 65536) -> np.ndarray:
    """``(1/|L_u|) Σ_{i ∈ L_u} values[i]`` for every user: ``[U]`` float64, NaN for empty lists.

    Users are processed in batches of ``batch_size`` rows, so the ``[batch, k]`` gather stays bounded.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (lists.n_items,):
        raise ValueError(f"values must have shape ({lists.n_items},), got {values.shape}")
    out = np.full(lists.n_users, np.nan)
    for start in range(0, lists.n_users, batch_size):
        rows = lists.items[start : start + batch_size]
        mask = rows >= 0
        if values.size:
            gathered = np.where(mask, values[np.where(mask, rows, 0)], 0.0)
        else:
            gathered = np.zeros(rows.shape)
        n = mask.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + batch_size] = np.where(n > 0, gathered.sum(axis=1) / n, np.nan)
    return out


def head_items(
    item_popularity: np.ndarray, share: float = 0.8, *, item_ids: np.ndarray | None = None
) -> np.ndarray:
    """Short-head mask ``[I]``: the smallest set of most popular items holding ``share`` of interactions.

    Items are ordered by ``φ`` descending, ties broken by item id ascending (ids compared as strings,
    the form recaudit stores them in; row order when ``item_ids`` is None); the head is the shortest
    prefix of that order whose ``Σ φ`` is at least ``share · Σ_i φ(i)`` (Elliot's short head with
    ``share = 0.8``). The tail ``Γ`` is every other catalogue item. Items with ``φ = 0`` are never in the
    head; with no training interactions at all the head is empty.
    """
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share}")
    pop = np.asarray(item_popularity, dtype=np.float64).ravel()
    head = np.zeros(pop.size, dtype=bool)
    total = pop.sum()
    if pop.size == 0 or total <= 0:
        return head
    if item_ids is None:
        id_rank = np.arange(pop.size)
    else:
        ids = np.asarray(item_ids, dtype=object).astype(str)
        if ids.shape != pop.shape:
            raise ValueError("item_ids and item_popularity must have the same length")
        id_rank = np.empty(pop.size, dtype=np.int64)
        id_rank[np.argsort(ids, kind="stable")] = np.arange(pop.size)
    order = np.lexsort((id_rank, -pop))
    cumulative = np.cumsum(pop[order])
    # tolerance for float rounding of share * total (φ are integer counts in practice)
    n_head = int(np.searchsorted(cumulative, share * total * (1.0 - 1e-12), side="left")) + 1
    head[order[: min(n_head, pop.size)]] = True
    return head & (pop > 0)


def arp(lists: RecLists, item_popularity: np.ndarray, *, batch_size: int = 65536) -> np.ndarray:
    """Average recommendation popularity ``arp@k = (1/|L_u|) Σ_{i ∈ L_u} φ(i)`` per user.

    Abdollahpouri et al.; Elliot ``ARP``, RecBole ``AveragePopularity``, RecTools ``AvgRecPopularity``.
    ``[U]`` float64, NaN for empty lists.
    """
    return list_mean(lists, item_popularity, batch_size=batch_size)


def aplt(lists: RecLists, head_mask: np.ndarray, *, batch_size: int = 65536) -> np.ndarray:
    """Average percentage of long tail ``aplt@k = |L_u ∩ Γ| / |L_u|`` per user (Abdollahpouri; Elliot).

    ``Γ`` = catalogue items outside the head (``~head_mask``, see :func:`head_items`). ``[U]`` float64,
    NaN for empty lists.
    """
    tail = ~np.asarray(head_mask, dtype=bool)
    return list_mean(lists, tail.astype(np.float64), batch_size=batch_size)


def novelty(
    lists: RecLists, item_users: np.ndarray, n_users: int, *, batch_size: int = 65536
) -> np.ndarray:
    """Mean inverse user frequency (RecTools ``MeanInvUserFreq``) per user.

    ``novelty@k = (1/|L_u|) Σ_{i ∈ L_u} −log2(max(users(i), 1) / n_users)``. ``[U]`` float64, NaN for
    empty lists, all NaN when ``n_users < 1`` (no training users).
    """
    if n_users < 1:
        return np.full(lists.n_users, np.nan)
    users = np.maximum(np.asarray(item_users, dtype=np.float64), 1.0)
    return list_mean(lists, -np.log2(users / float(n_users)), batch_size=batch_size)


def _binary(matrix: sp.spmatrix) -> sp.csr_matrix:
    out = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    out.data = (out.data > 0).astype(np.float64)
    out.eliminate_zeros()
    return out


def popularity_groups(
    train: sp.spmatrix, head_mask: np.ndarray, user_ids: np.ndarray, *, fraction: float = 0.2
) -> np.ndarray:
    """User groups by the share of head items in ``H_u`` (Abdollahpouri et al. 2020): ``[U]`` labels.

    ``share_u = |H_u ∩ head| / |H_u|`` with ``H_u`` the distinct items of the user's training row
    (``train`` rows are the users of ``user_ids``). docs/metrics.md: the ``n`` users with a history are ranked
    by ``(share_u, user id compared as a string)``; the lowest ``round(fraction · n)`` are ``niche``, the
    highest ``round(fraction · n)`` ``blockbuster``, the rest ``diverse``. Ties at a boundary are split by
    id, never dropped, so each extreme group holds its 20% even when many users share the maximum share
    (on ml-latest-small 144 of 610 users have share 1.0). ``round`` is half up (for 0.2 · n with integer
    n no half occurs). Users with an empty history are ``no_history``.

    Shares are exact ratios of integers computed by one IEEE division each, so equal ratios (1/2, 2/4)
    compare equal and the ranking never depends on summation order.
    """
    if not 0.0 < fraction < 0.5:
        raise ValueError(f"fraction must be in (0, 0.5), got {fraction}")
    binary = _binary(train)
    ids = np.asarray(user_ids, dtype=object).astype(str)
    if ids.shape != (binary.shape[0],):
        raise ValueError(f"need one user id per train row: {ids.shape[0]} ids for {binary.shape[0]} rows")
    head = np.asarray(head_mask, dtype=np.float64)
    size = np.asarray(binary.sum(axis=1)).ravel()
    in_head = binary @ head
    labels = np.full(binary.shape[0], NO_HISTORY, dtype=object)
    has = np.flatnonzero(size > 0)
    n = int(has.size)
    if n == 0:
        return labels
    share = in_head[has] / size[has]
    size_each = int(np.floor(fraction * n + 0.5))
    order = has[np.lexsort((ids[has], share))]  # ascending by share, then by id as a string
    labels[has] = DIVERSE
    if size_each:
        labels[order[:size_each]] = NICHE
        labels[order[n - size_each :]] = BLOCKBUSTER
    return labels


def _ordered_groups(labels: np.ndarray) -> list[str]:
    present = pd.unique(pd.Series(labels, dtype=object))
    known = [g for g in POPULARITY_GROUPS if g in set(present)]
    return known + sorted(str(g) for g in present if g not in POPULARITY_GROUPS)


def popularity_lift(
    lists: RecLists,
    train: sp.spmatrix,
    item_users: np.ndarray,
    n_users: int,
    groups: np.ndarray,
    *,
    batch_size: int = 65536,
) -> pd.DataFrame:
    """Popularity lift per user group (Abdollahpouri et al. 2020, "The unfairness of popularity bias").

    ``φ′(i) = users(i) / n_users``; for a set ``x_u`` of items ``GAP_x(G) = mean_{u ∈ G} (1/|x_u|)
    Σ_{i ∈ x_u} φ′(i)`` with ``x_u = H_u`` (distinct training items, ``gap_profile``) or ``L_u``
    (``gap_recommended``); ``ΔGAP(G) = (GAP_L(G) − GAP_H(G)) / GAP_H(G)`` (``delta_gap``; > 0 means the
    recommendations are more popular than the group's taste). Each mean is over the users of G for
    whom ``x_u`` is non-empty. Columns: ``group, n_users, gap_profile, gap_recommended, delta_gap``;
    one row per label in ``groups`` (niche, diverse, blockbuster first). NaN where undefined.
    """
    labels = np.asarray(groups, dtype=object)
    if labels.shape != (lists.n_users,) or train.shape[0] != lists.n_users:
        raise ValueError("groups and train must have one row per list user")
    if n_users >= 1:
        phi = np.asarray(item_users, dtype=np.float64) / float(n_users)
    else:
        phi = np.full(lists.n_items, np.nan)
    binary = _binary(train)
    size = np.asarray(binary.sum(axis=1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        profile = np.where(size > 0, (binary @ np.nan_to_num(phi)) / size, np.nan)
    if n_users < 1:
        profile[:] = np.nan
    recommended = list_mean(lists, phi, batch_size=batch_size)
    frame = pd.DataFrame({"group": labels, "profile": profile, "recommended": recommended})
    stats = frame.groupby("group", sort=False).agg(
        n_users=("group", "size"), gap_profile=("profile", "mean"), gap_recommended=("recommended", "mean")
    )
    stats = stats.reindex(_ordered_groups(labels))
    with np.errstate(invalid="ignore", divide="ignore"):
        gh = stats["gap_profile"].to_numpy(dtype=np.float64)
        gl = stats["gap_recommended"].to_numpy(dtype=np.float64)
        delta = np.where(gh > 0, (gl - gh) / np.where(gh > 0, gh, 1.0), np.nan)
    stats["delta_gap"] = delta
    return stats.rename_axis("group").reset_index()
