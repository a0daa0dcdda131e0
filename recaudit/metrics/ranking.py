"""Ranking accuracy with binary relevance, as defined in METRICS.md (ranx conventions).

For a user u with top-k list ``L_u`` (ranks 1..k, possibly shorter than k) and relevant test items ``T_u``:

- ``precision@k`` = |L_u ∩ T_u| / k
- ``recall@k`` = |L_u ∩ T_u| / |T_u|
- ``hit_rate@k`` = 1 if |L_u ∩ T_u| > 0 else 0
- ``mrr@k`` = 1 / (rank of the first relevant item in L_u), 0 if none
- ``ndcg@k`` = DCG / IDCG, DCG = Σ_{r ≤ k, L_u[r] ∈ T_u} 1 / log2(r + 1), IDCG the DCG of min(k, |T_u|)
  relevant items at the top
- ``map@k`` = Σ_{r ≤ k, L_u[r] ∈ T_u} precision@r / min(k, |T_u|)

Means are plain (macro) means over the evaluated users: users with at least one test item. A user with
test items but no list counts with zeros. Test items the model cannot recommend still count in |T_u|.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from recaudit.data.schema import ITEM_ID, RANK, USER_ID

RANKING_METRICS = ("precision", "recall", "hit_rate", "mrr", "ndcg", "map")


def relevance_matrix(
    recs: pd.DataFrame, test: pd.DataFrame, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binary relevance of each evaluated user's top-k.

    Args:
        recs: ``user_id, item_id, rank`` rows (rank 1-based); ranks above k are ignored.
        test: ``user_id, item_id`` rows, the relevant items (duplicates count once).
        k: the cut-off.

    Returns:
        ``(users, rel, n_relevant)``: the evaluated users (sorted), a ``[n_users, k]`` bool matrix with
        ``rel[u, r-1]`` true when the item at rank r is relevant, and ``|T_u|`` per user.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    truth = test[[USER_ID, ITEM_ID]].astype(str).drop_duplicates()
    n_relevant_s = truth.groupby(USER_ID).size().sort_index()
    users = n_relevant_s.index.to_numpy()
    row_of = pd.Series(np.arange(len(users)), index=users)
    rel = np.zeros((len(users), k), dtype=bool)
    top = recs[recs[RANK] <= k][[USER_ID, ITEM_ID, RANK]].astype({USER_ID: str, ITEM_ID: str})
    hits = top.merge(truth, on=[USER_ID, ITEM_ID], how="inner")
    if len(hits):
        rows = row_of.loc[hits[USER_ID]].to_numpy()
        rel[rows, hits[RANK].to_numpy(dtype=np.int64) - 1] = True
    return users, rel, n_relevant_s.to_numpy()


def _per_user(rel: np.ndarray, n_relevant: np.ndarray) -> dict[str, np.ndarray]:
    """Per-user values of every ranking metric from a relevance matrix."""
    n_users, k = rel.shape
    ranks = np.arange(1, k + 1)
    discount = 1.0 / np.log2(ranks + 1)
    n_hits = rel.sum(axis=1)
    ideal_n = np.minimum(n_relevant, k)
    idcg = np.cumsum(discount)[np.maximum(ideal_n, 1) - 1]
    first_hit = np.where(rel.any(axis=1), rel.argmax(axis=1) + 1, 0)
    precision_at_r = np.cumsum(rel, axis=1) / ranks
    with np.errstate(divide="ignore", invalid="ignore"):
        mrr = np.where(first_hit > 0, 1.0 / np.maximum(first_hit, 1), 0.0)
    return {
        "precision": n_hits / k,
        "recall": n_hits / n_relevant,
        "hit_rate": (n_hits > 0).astype(float),
        "mrr": mrr,
        "ndcg": (rel * discount).sum(axis=1) / idcg,
        "map": (precision_at_r * rel).sum(axis=1) / ideal_n,
    }


def evaluate_lists(
    recs: pd.DataFrame,
    test: pd.DataFrame,
    ks: tuple[int, ...] = (10,),
    metrics: tuple[str, ...] = RANKING_METRICS,
    per_user: bool = False,
) -> dict[str, float] | pd.DataFrame:
    """Mean ranking metrics of recommendation lists against test interactions.

    Returns ``{"ndcg@10": 0.12, ...}``; with ``per_user=True`` a frame with one row per evaluated user
    and one column per metric instead. With no evaluated user the means are NaN (undefined, not 0).
    """
    unknown = set(metrics) - set(RANKING_METRICS)
    if unknown:
        raise ValueError(f"unknown ranking metrics {sorted(unknown)}; known: {RANKING_METRICS}")
    out: dict[str, np.ndarray] = {}
    users = np.array([], dtype=object)
    for k in ks:
        users, rel, n_relevant = relevance_matrix(recs, test, k)
        values = _per_user(rel, n_relevant)
        for name in metrics:
            out[f"{name}@{k}"] = values[name]
    if per_user:
        return pd.DataFrame(out, index=pd.Index(users, name=USER_ID))
    mean: Callable[[np.ndarray], float] = lambda v: float(v.mean()) if len(v) else float("nan")  # noqa: E731
    return {name: mean(v) for name, v in out.items()}
