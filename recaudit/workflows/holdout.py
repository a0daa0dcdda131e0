"""Held-out evaluation of a bundle against a popularity baseline (the numbers of the Overview and model card).

Protocol (docs/metrics.md, ranx conventions): every user with at least one test item is evaluated; each user's
training items are excluded from their list; test items the model cannot recommend still count in |T_u|;
users unknown to the model count with zeros. The popularity baseline ranks the catalogue by training
interactions φ(i) (ties: lower item row first) and applies the same exclusion. The metrics are the
catalogue's ``headline`` set (:func:`recaudit.metrics.registry.metric_names`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from recaudit.bundle import Bundle
from recaudit.data.schema import USER_ID
from recaudit.metrics.ranking import evaluate_lists
from recaudit.metrics.registry import metric_names
from recaudit.scoring import ExactScorer


def popularity_scorer(bundle: Bundle, device: str = "cpu") -> ExactScorer:
    """A scorer whose score is the item's training popularity φ(i): a 1-D 'embedding' per item."""
    n_users = len(bundle.users)
    return ExactScorer(
        np.ones((n_users, 1), dtype=np.float32),
        bundle.item_popularity.astype(np.float32)[:, None],
        bundle.user_ids,
        bundle.item_ids,
        seen=bundle.seen,
        device=device,
    )


def recommend_users(
    scorer: ExactScorer,
    users: np.ndarray,
    k: int,
    *,
    batch_size: int = 1024,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Top-k (seen items excluded) for the given known users as a ``user_id,item_id,rank,score`` frame."""
    frames = []
    for start in range(0, len(users), batch_size):
        chunk = users[start : start + batch_size]
        frames.append(scorer.recommend(list(chunk), k=k, exclude_seen=True).to_frame())
        if progress is not None:
            progress(min(start + batch_size, len(users)), len(users))
    if not frames:
        return pd.DataFrame(columns=["user_id", "item_id", "rank", "score"])
    return pd.concat(frames, ignore_index=True)


def holdout_evaluation(
    bundle: Bundle,
    scorer: ExactScorer,
    ks: tuple[int, ...] = (10, 20),
    metrics: tuple[str, ...] | None = None,
) -> dict[str, object]:
    """Model vs popularity on the bundle's test interactions (``metrics`` default: the ``headline`` set).

    Returns ``{"k": [...], "n_users": N, "n_unknown_users": M, "model": {...}, "popularity": {...}}``.

    Raises:
        ValueError: the bundle has no test interactions.
    """
    if bundle.test is None or bundle.test.empty:
        raise ValueError("the bundle has no held-out test interactions")
    test_users = np.sort(bundle.test[USER_ID].astype(str).unique())
    known = test_users[np.isin(test_users, bundle.user_ids)]
    k_max = max(ks)
    names = tuple(metric_names(set="headline")) if metrics is None else metrics
    results: dict[str, object] = {
        "k": list(ks),
        "n_users": int(len(test_users)),
        "n_unknown_users": int(len(test_users) - len(known)),
    }
    for name, candidate in (("model", scorer), ("popularity", popularity_scorer(bundle))):
        recs = recommend_users(candidate, known, k_max)
        scores = evaluate_lists(recs, bundle.test, ks=ks, metrics=names)
        results[name] = {key: round(float(value), 6) for key, value in scores.items()}
    return results
