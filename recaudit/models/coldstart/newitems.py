"""A new item's first interactions: its collaborative vector from them, and whether it reaches top-k lists.

The item-side mirror of the new-user fold-in, shared by the learned gate
(:func:`recaudit.models.coldstart.train.train_coldstart` with ``blend="learned"``) and the new-item curve
(:func:`recaudit.workflows.coldstart.new_item_curve`), so both judge a blend by the same rule.

**Collaborative vector from n users** (:func:`centroid_vectors`): the mean of the n revealed users'
vectors (unit vectors under ``cosine``), which is the direction v maximising Σ_r s(u_r, v) over vectors of
one norm; under ``dot`` it is rescaled to ``target_norm`` (the warm items' median norm). Not the ridge
fold-in that new users get: solved against the gram matrix of *all* users it whitens away the direction
that every user shares with every warm item, and the folded-in item then scores below the k-th item of
almost every list (on the sample world, recall@20 0.008 against 0.16 for the mean at n = 10).

**A newcomer's blend** (:func:`newcomer_blend`): its vector is w(n) content and 1 - w(n) that mean, as
the catalogue's blend; its bias stays the content bias. The collaborative model learns an item's bias
only when it is retrained with the item; until then there is no collaborative bias to mix in, and a
placeholder (the median warm bias) would drag every newcomer down: on the sample world the blend's
recall@20 at n = 10 is 0.175 with the placeholder mixed in and 0.248 without.

**Reaching a list** (:func:`kth_other_scores`, :func:`pair_hits`): a pair (u, i) is a hit when the item's
score for u is strictly above u's k-th best score over the rest of the catalogue (u's training items and
the item itself excluded): the item would enter u's top-k list where warm and cold items compete.
Per-user hit shares averaged over users give recall@k as ``cold_item_recall@k`` averages it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recaudit.data.schema import ITEM_ID, TIMESTAMP, USER_ID
from recaudit.vectors import unit_rows

__all__ = [
    "centroid_vectors",
    "item_histories",
    "kth_other_scores",
    "newcomer_blend",
    "pair_hits",
    "revealed_pairs",
]


def item_histories(frame: pd.DataFrame, user_row: pd.Series, min_rows: int) -> dict[str, np.ndarray]:
    """Each item's users (their rows, ``user_row`` mapping user id -> row) in time order, counted once at
    their first interaction, for the items with at least ``min_rows`` of them; keys sorted by item id.
    ``frame`` has ``user_id, item_id`` and, for the order, ``timestamp`` (without it, file order); every
    user in it must be in ``user_row``."""
    order = [ITEM_ID, TIMESTAMP] if TIMESTAMP in frame.columns else [ITEM_ID]
    frame = frame.sort_values(order, kind="mergesort").drop_duplicates([ITEM_ID, USER_ID])
    users = user_row.loc[frame[USER_ID]].to_numpy(dtype=np.int64)
    items = frame[ITEM_ID].to_numpy(dtype=object)
    if not len(items):
        return {}
    starts = np.flatnonzero(np.r_[True, items[1:] != items[:-1]])
    ends = np.r_[starts[1:], len(items)]
    return {str(items[a]): users[a:b] for a, b in zip(starts, ends, strict=True) if b - a >= min_rows}


def centroid_vectors(
    user_emb: np.ndarray,
    histories: Sequence[np.ndarray],
    n: int,
    *,
    cosine: bool,
    target_norm: float | None,
) -> np.ndarray:
    """``[len(histories), d]`` float32: each item's vector from the first ``n`` user rows of its history
    (see the module docstring); the zero vector at n = 0."""
    users = unit_rows(user_emb) if cosine else np.asarray(user_emb, np.float32)
    out = np.zeros((len(histories), users.shape[1]), np.float32)
    if n <= 0:
        return out
    for j, rows in enumerate(histories):
        out[j] = users[np.asarray(rows[:n], np.int64)].mean(axis=0)
    if not cosine and target_norm is not None:
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = out * (target_norm / np.where(norms > 0, norms, 1.0))
    return out.astype(np.float32)


def newcomer_blend(
    content: np.ndarray,
    content_bias: np.ndarray | None,
    collab: np.ndarray,
    share: float,
    *,
    cosine: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Newcomers' blended vectors ``[m, d]`` (content share ``share``) and biases (the content ones)."""
    from recaudit.models.coldstart.blend import blend

    shares = np.full(len(content), share, np.float32)
    vectors, _ = blend(content, collab, shares, cosine=cosine)
    return vectors, None if content_bias is None else np.asarray(content_bias, np.float32)


def revealed_pairs(histories: Sequence[np.ndarray], n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """``(pair_item, pair_user)``: every user after each item's first ``n_max`` (item positions in
    ``histories`` and user rows), the same evaluated pairs whatever n <= n_max is revealed."""
    if not len(histories):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pair_item = np.concatenate([np.full(len(h) - n_max, j, np.int64) for j, h in enumerate(histories)])
    pair_user = np.concatenate([np.asarray(h[n_max:], np.int64) for h in histories])
    return pair_item, pair_user


def kth_other_scores(top_items: np.ndarray, top_scores: np.ndarray, items: np.ndarray, k: int) -> np.ndarray:
    """Each pair's bar: the user's k-th best score without the pair's item.

    ``top_items``/``top_scores`` ``[P, k + 1]`` are the pair's user's top k + 1 (training items excluded),
    ``items`` ``[P]`` the pair's item row: when the item is among the top k, the bar is the (k+1)-th score,
    else the k-th."""
    in_top_k = (top_items[:, :k] == np.asarray(items)[:, None]).any(axis=1)
    scores = np.asarray(top_scores, np.float64)
    return np.where(in_top_k, scores[:, k], scores[:, k - 1])


def pair_hits(
    queries: np.ndarray,
    vectors: np.ndarray,
    bias: np.ndarray | None,
    pair_user: np.ndarray,
    pair_item: np.ndarray,
    bar: np.ndarray,
    *,
    cosine: bool,
) -> np.ndarray:
    """Per-user hit shares (users in sorted row order): the share of each user's pairs whose item scores
    strictly above the bar. ``queries``: the user vectors (normalised here under ``cosine``, as the
    scorer does); ``vectors``/``bias``: one row per item position."""
    users = unit_rows(queries) if cosine else np.asarray(queries, np.float32)
    items = unit_rows(vectors) if cosine else np.asarray(vectors, np.float32)
    scores = np.einsum("pd,pd->p", users[pair_user], items[pair_item]).astype(np.float64)
    if bias is not None:
        scores = scores + np.asarray(bias, np.float64)[pair_item]
    hit = (scores > bar).astype(np.float64)
    return pd.Series(hit).groupby(pair_user).mean().to_numpy()
