"""The new-user curve: held-out users' ndcg@k against the number of interactions revealed to the model.

Definition (shared/METRICS.md, "Cold start", new users): for n = 0, 1, 2, 5, 10, a held-out user's first n
interactions by time are revealed (the model gets them as a new user's history), the rest is T_u, the n
revealed items are excluded from L_u, and ndcg@k is computed as everywhere else
(:func:`recaudit.metrics.ranking.evaluate_lists`). n = 0 is the model's answer for an unknown user.

Which users are held out (:func:`held_out_histories`), for ``interactions`` (default: the bundle's test set):

1. the users of ``interactions`` the model does not know, if there are any (the sample world's planted cold
   users: pass ``sample_data/cold_interactions.parquet``; its warm users' rows are then ignored);
2. else every user of ``interactions``, treated as unknown: their training rows are ignored (neither
   revealed nor excluded). The item vectors were still trained on those rows, so this setting is
   optimistic; it is what a bundle without unknown users allows.

Rows of items outside the catalogue are dropped. Only users with more than max(n) remaining rows are kept,
so every n and every method is measured on the same users (a paired comparison) and T_u is never empty.

Methods: ``foldin`` (:class:`~recaudit.models.foldin.FoldIn`), ``meta`` (the learned prior,
:class:`~recaudit.models.newusers.PriorFoldIn`) and ``popularity`` (training interaction count, the
revealed items excluded). Each point carries a 95% percentile-bootstrap interval over users
(:func:`recaudit.metrics.stats.bootstrap_ci`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recaudit.bundle import Bundle
from recaudit.data.schema import ITEM_ID, TIMESTAMP, USER_ID
from recaudit.metrics.ranking import evaluate_lists
from recaudit.metrics.stats import bootstrap_ci
from recaudit.models.newusers import new_user_solver, row_lists
from recaudit.workflows.holdout import popularity_scorer

__all__ = ["CURVE_COLUMNS", "DEFAULT_NS", "held_out_histories", "new_user_curve"]

DEFAULT_NS: tuple[int, ...] = (0, 1, 2, 5, 10)
CURVE_COLUMNS = ("method", "n", "ndcg", "ci_low", "ci_high", "n_users")
METHODS: tuple[str, ...] = ("foldin", "meta", "popularity")


def held_out_histories(
    bundle: Bundle, interactions: pd.DataFrame | None = None, *, min_rows: int = 11
) -> tuple[dict[str, np.ndarray], str]:
    """The held-out users' item rows in time order, and which rule chose them (``"unknown"`` or ``"test"``).

    ``interactions`` (default: the bundle's test set) must have ``user_id, item_id`` and, for the order,
    ``timestamp`` (without it, file order). Users with fewer than ``min_rows`` catalogue rows are left out.

    Raises:
        ValueError: no interactions to hold out, or no user with enough rows.
    """
    frame = bundle.test if interactions is None else interactions
    if frame is None or frame.empty:
        raise ValueError("no held-out interactions: the bundle has no test set and none was given")
    frame = frame[[c for c in (USER_ID, ITEM_ID, TIMESTAMP) if c in frame.columns]].astype(
        {USER_ID: str, ITEM_ID: str}
    )
    unknown = ~frame[USER_ID].isin(bundle.user_row.index)
    rule = "unknown" if unknown.any() else "test"
    if unknown.any():
        frame = frame[unknown]
    frame = frame[frame[ITEM_ID].isin(bundle.item_row.index)]
    if TIMESTAMP in frame.columns:
        frame = frame.sort_values([USER_ID, TIMESTAMP], kind="mergesort")
    else:
        frame = frame.sort_values(USER_ID, kind="mergesort")
    frame = frame.drop_duplicates([USER_ID, ITEM_ID])  # a re-interaction is not a new item to find
    rows = bundle.item_row.loc[frame[ITEM_ID]].to_numpy(dtype=np.int64)
    users = frame[USER_ID].to_numpy(dtype=object)
    out: dict[str, np.ndarray] = {}
    if len(users):
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        ends = np.r_[starts[1:], len(users)]
        out = {str(users[s]): rows[s:e] for s, e in zip(starts, ends, strict=True) if e - s >= min_rows}
    if not out:
        raise ValueError(f"no held-out user has at least {min_rows} interactions with catalogue items")
    return out, rule


def new_user_curve(
    bundle: Bundle,
    interactions: pd.DataFrame | None = None,
    *,
    ns: Sequence[int] = DEFAULT_NS,
    k: int = 10,
    methods: Sequence[str] = METHODS,
    max_users: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """ndcg@k of held-out users against n revealed interactions, per method, with 95% bootstrap CIs.

    ``max_users`` keeps an evenly spaced subset of the held-out users (sorted by id) for speed. Returns a
    tidy frame with :data:`CURVE_COLUMNS` (one row per method and n); ``frame.attrs["held_out"]`` names the
    rule that chose the users (see the module docstring).

    Raises:
        ValueError: bad ``ns``/``methods``, or no held-out user (see :func:`held_out_histories`).
    """
    ns = sorted({int(n) for n in ns})
    if not ns or ns[0] < 0:
        raise ValueError(f"ns must be integers >= 0, got {ns}")
    unknown_methods = set(methods) - set(METHODS)
    if unknown_methods:
        raise ValueError(f"unknown methods {sorted(unknown_methods)}; use {METHODS}")
    histories, rule = held_out_histories(bundle, interactions, min_rows=ns[-1] + 1)
    users = np.asarray(sorted(histories), dtype=object)
    if max_users is not None and len(users) > max_users:
        users = users[np.unique(np.linspace(0, len(users) - 1, max_users).round().astype(np.int64))]
    scorer = bundle.exact_scorer("cpu")
    cosine = bundle.score == "cosine"
    trained = row_lists(bundle.seen.indptr, bundle.seen.indices)
    solvers = {
        m: new_user_solver(m, bundle.item_emb, bundle.user_emb, cosine=cosine, histories=trained)
        for m in methods if m != "popularity"
    }
    popularity = popularity_scorer(bundle) if "popularity" in methods else None
    records = []
    for n in ns:
        revealed = [histories[u][:n] for u in users]
        truth = pd.DataFrame({
            USER_ID: np.repeat(users, [len(histories[u]) - n for u in users]),
            ITEM_ID: bundle.item_ids[np.concatenate([histories[u][n:] for u in users])],
        })
        for method in methods:
            if method == "popularity":
                assert popularity is not None
                recs = popularity.recommend_vectors(
                    np.ones((len(users), 1), np.float32), k, exclude=revealed, labels=list(users)
                )
            else:
                vectors = np.stack([solvers[method].fit(r) for r in revealed])
                recs = scorer.recommend_vectors(vectors, k, exclude=revealed, labels=list(users))
            per_user = evaluate_lists(recs.to_frame(), truth, ks=(k,), metrics=("ndcg",), per_user=True)
            values = per_user[f"ndcg@{k}"].reindex(users).to_numpy(dtype=np.float64)
            mean, low, high = bootstrap_ci(values, n_boot=n_boot, seed=seed)
            records.append((method, n, mean, low, high, int(np.isfinite(values).sum())))
    curve = pd.DataFrame.from_records(records, columns=list(CURVE_COLUMNS))
    curve.attrs["held_out"] = rule
    curve.attrs["k"] = k
    return curve
