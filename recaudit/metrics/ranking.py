"""Ranking accuracy of a recommendation log given as a frame (``user_id, item_id, rank``).

A thin frame-level entry to :mod:`recaudit.metrics.accuracy`, where the formulas live (docs/metrics.md,
ranx conventions; ``map@k`` divides by min(k, |T_u|) as docs/metrics.md defines it). The evaluated users are
the users with at least one test item; a user with test items but no list counts with zeros; test items that
no list contains still count in |T_u|. The metrics it knows are the catalogue's accuracy entries
(:func:`recaudit.metrics.registry.relevance_functions`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recaudit.data.schema import ITEM_ID, USER_ID
from recaudit.metrics import accuracy
from recaudit.metrics.lists import RecLists, interaction_matrix
from recaudit.metrics.registry import relevance_functions


def evaluate_lists(
    recs: pd.DataFrame,
    test: pd.DataFrame,
    ks: tuple[int, ...] = (10,),
    metrics: Sequence[str] | None = None,
    per_user: bool = False,
) -> dict[str, float] | pd.DataFrame:
    """Mean ranking metrics of recommendation lists against test interactions.

    ``metrics`` are catalogue accuracy names (default: all of them, in catalogue order). Returns
    ``{"ndcg@10": 0.12, ...}``; with ``per_user=True`` a frame with one row per evaluated user and one
    column per metric instead. With no evaluated user the means are NaN (undefined, not 0).
    """
    functions = relevance_functions()
    wanted = tuple(functions) if metrics is None else tuple(metrics)
    unknown = set(wanted) - set(functions)
    if unknown:
        raise ValueError(f"unknown ranking metrics {sorted(unknown)}; known: {tuple(functions)}")
    if any(k < 1 for k in ks):
        raise ValueError(f"k must be >= 1, got {ks}")
    truth = test[[USER_ID, ITEM_ID]].astype(str).drop_duplicates()
    n_relevant_s = truth.groupby(USER_ID).size().sort_index()
    users = n_relevant_s.index.to_numpy(dtype=object)
    # every item any list or test row mentions: T_u is then complete, so |T_u| = row sums of the matrix
    item_ids = np.union1d(truth[ITEM_ID].unique(), recs[ITEM_ID].astype(str).unique()).astype(object)
    lists = RecLists.from_frame(recs, item_ids, k=max(ks), users=users)
    test_matrix = interaction_matrix(truth, users, item_ids)
    n_relevant = n_relevant_s.to_numpy(dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        rel = accuracy.relevance(lists.truncate(k) if k < lists.k else lists, test_matrix)
        if rel.shape[1] < k:  # every list is shorter than k: pad with misses
            rel = np.pad(rel, ((0, 0), (0, k - rel.shape[1])))
        for name in wanted:
            out[f"{name}@{k}"] = functions[name](rel, n_relevant)
    if per_user:
        return pd.DataFrame(out, index=pd.Index(users, name=USER_ID))
    return {name: float(v.mean()) if len(v) else float("nan") for name, v in out.items()}
