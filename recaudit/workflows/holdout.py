"""Held-out evaluation of a bundle against a popularity baseline (the numbers of the Overview and model card).

Protocol (docs/metrics.md, ranx conventions): every user with at least one test item is evaluated; each user's
training items are excluded from their list; test items the model cannot recommend still count in |T_u|;
users unknown to the model count with zeros. The popularity baseline ranks the catalogue by training
interactions φ(i) (ties: lower item row first) and applies the same exclusion. The metrics are the
catalogue's ``headline`` set (:func:`recaudit.metrics.registry.metric_names`).

A bundle whose items span two or more domains is evaluated **per domain** (docs/metrics.md,
"Cross-domain"): each test item is ranked within its own domain's catalogue, by the model restricted to
that domain's items and by popularity within that domain, so a big domain's popular items cannot crowd
out a small domain's. Each (user, domain) pair with test items in the domain is one evaluated unit;
``domains`` holds one table per domain and ``model`` / ``popularity`` are the means over every unit. A
test item's domain is its catalogue row's, else the test file's ``domain`` column; test rows with
neither are left out and counted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from recaudit.bundle import Bundle
from recaudit.data.schema import DOMAIN, ITEM_ID, USER_ID
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
    candidates: np.ndarray | None = None,
) -> pd.DataFrame:
    """Top-k (seen items excluded) for the given known users as a ``user_id,item_id,rank,score`` frame;
    ``candidates`` (item rows) restricts the lists to those items."""
    frames = []
    for start in range(0, len(users), batch_size):
        chunk = users[start : start + batch_size]
        frames.append(
            scorer.recommend(list(chunk), k=k, exclude_seen=True, candidates=candidates).to_frame()
        )
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

    Returns ``{"k": [...], "n_users": N, "n_unknown_users": M, "model": {...}, "popularity": {...}}``; for a
    multi-domain bundle also ``"protocol": "per-domain"``, ``"n_units"`` (evaluated user-domain pairs),
    ``"n_rows_without_domain"`` and ``"domains": {domain: {"n_users", "n_unknown_users", "model",
    "popularity"}}``.

    Raises:
        ValueError: the bundle has no test interactions.
    """
    if bundle.test is None or bundle.test.empty:
        raise ValueError("the bundle has no held-out test interactions")
    test_users = np.sort(bundle.test[USER_ID].astype(str).unique())
    known_users = set(bundle.user_ids.tolist())
    k_max = max(ks)
    names = tuple(metric_names(set="headline")) if metrics is None else metrics
    results: dict[str, object] = {
        "k": list(ks),
        "n_users": int(len(test_users)),
        "n_unknown_users": int(sum(u not in known_users for u in test_users)),
    }
    systems = (("model", scorer), ("popularity", popularity_scorer(bundle)))
    if len(bundle.domains) < 2:
        known = test_users[_known(test_users, known_users)]
        for name, candidate in systems:
            recs = recommend_users(candidate, known, k_max)
            scores = evaluate_lists(recs, bundle.test, ks=ks, metrics=names)
            results[name] = _rounded(scores)
        return results
    test, item_domain = _test_domains(bundle)
    results["protocol"] = "per-domain"
    results["n_rows_without_domain"] = int(test[DOMAIN].isna().sum())
    per_unit: dict[str, list[pd.DataFrame]] = {name: [] for name, _ in systems}
    results["domains"] = {}
    for domain in bundle.domains:
        part = test[test[DOMAIN] == domain]
        if part.empty:
            continue
        users = np.sort(part[USER_ID].unique())
        known = users[_known(users, known_users)]
        rows = np.flatnonzero(item_domain == domain)
        table: dict[str, object] = {
            "n_users": int(len(users)),
            "n_unknown_users": int(len(users) - len(known)),
        }
        for name, candidate in systems:
            recs = recommend_users(candidate, known, k_max, candidates=rows)
            frame = evaluate_lists(recs, part, ks=ks, metrics=names, per_user=True)
            assert isinstance(frame, pd.DataFrame)
            per_unit[name].append(frame)
            table[name] = _rounded(frame.mean().to_dict())
        results["domains"][domain] = table
    results["n_units"] = int(sum(len(f) for f in per_unit["model"]))
    for name, frames in per_unit.items():
        results[name] = _rounded(pd.concat(frames).mean().to_dict()) if frames else {}
    return results


def _known(users: np.ndarray, known_users: set) -> np.ndarray:
    """Mask of ``users`` in ``known_users`` by set lookup: ``np.isin`` over object id arrays compares
    pairwise, which took minutes at 100k users."""
    return np.fromiter((u in known_users for u in users), bool, len(users))


def _test_domains(bundle: Bundle) -> tuple[pd.DataFrame, np.ndarray]:
    """The test rows with a ``domain`` column (catalogue row's, else the file's, else missing) and the
    catalogue's domain per item row."""
    assert bundle.test is not None
    item_domain = bundle.items[DOMAIN].astype(str).to_numpy(dtype=object)
    by_item = pd.Series(item_domain, index=bundle.item_ids.astype(str))
    test = bundle.test.assign(
        **{USER_ID: bundle.test[USER_ID].astype(str), ITEM_ID: bundle.test[ITEM_ID].astype(str)}
    )
    domain = test[ITEM_ID].map(by_item)
    if DOMAIN in test.columns:
        domain = domain.fillna(test[DOMAIN].astype("string").astype(object))
    return test.assign(**{DOMAIN: domain}), item_domain


def _rounded(scores: dict) -> dict[str, float]:
    return {str(key): round(float(value), 6) for key, value in scores.items()}
