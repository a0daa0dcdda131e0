"""Cold-start metrics (docs/metrics.md, "Cold start"): how a log treats items without training interactions.

Notation as in :mod:`recaudit.metrics.accuracy`; ``C`` is the set of *cold* items, the catalogue items with
no training interactions (φ(i) = 0, :func:`cold_items`). Test items outside the catalogue are never in C.

- ``cold_item_recall@k`` = mean over users u with T_u ∩ C ≠ ∅ of |L_u ∩ T_u ∩ C| / |T_u ∩ C|, with L_u
  ranked over the full catalogue (warm and cold items compete in one list).
- ``cold_item_recall_among_cold@k``: the same formula with L_u ranked over C only (the content path
  alone). A recommendation log cannot give these lists; :func:`cold_item_recall_among_cold` takes them,
  and ``recaudit audit`` ranks them from a bundle by restricting the scorer's candidates to C.
- ``cold_exposure_share@k`` = Σ_u |L_u ∩ C| / Σ_u |L_u|, the share of all list slots held by cold items.
- Settings (ColdRec, Zhu et al.'s cold-start benchmark): every accuracy metric reported for ``all`` (T_u
  as is, the headline numbers), ``warm`` (T_u ∩ (I \\ C)) and ``cold`` (T_u ∩ C) (:func:`settings_table`).
  ``warm`` and ``cold`` count catalogue items only, so a test item outside the catalogue counts in ``all``
  alone; the ``cold`` setting's recall equals ``cold_item_recall``.
- Item buckets by training interaction count φ(i): ``0``, ``1-10``, ``11-50``, ``51+`` (the blend schedule
  of issue 10): accuracy with T_u restricted to the bucket's items (:func:`bucket_accuracy_table`) and
  exposure of the bucket's items in L_u (:func:`bucket_exposure_table`).

Source: docs/metrics.md "Cold start" (the project's cold-start definitions); ColdRec for the three
settings. NaN policy: a user whose restricted T_u is empty is left out (NaN), as accuracy does for users
without test items; a user with cold test items but an empty list scores 0; shares are NaN for an empty
log. Intervals are the 95% percentile bootstrap over users of :func:`recaudit.metrics.stats.bootstrap_ci`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recaudit.metrics.accuracy import relevance
from recaudit.metrics.lists import RecLists
from recaudit.metrics.stats import bootstrap_ci

__all__ = [
    "BUCKETS",
    "bucket_accuracy_table",
    "bucket_exposure_table",
    "cold_exposure_share",
    "cold_item_recall",
    "cold_item_recall_among_cold",
    "cold_items",
    "item_buckets",
    "restrict_test",
    "settings_table",
]

AccuracyFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""An accuracy metric on a ``[U, k]`` relevance matrix and ``|T_u|`` (:mod:`recaudit.metrics.accuracy`)."""

BUCKETS: tuple[tuple[str, int, float], ...] = (
    ("0", 0, 0), ("1-10", 1, 10), ("11-50", 11, 50), ("51+", 51, np.inf),
)
"""``(label, lowest φ, highest φ)`` of the item buckets by training interaction count (both ends included)."""


def cold_items(item_popularity: np.ndarray) -> np.ndarray:
    """``[I]`` bool: the catalogue items with no training interactions (φ(i) = 0), the set C."""
    return np.asarray(item_popularity) == 0


def item_buckets(item_popularity: np.ndarray) -> dict[str, np.ndarray]:
    """``{label: [I] bool}`` of :data:`BUCKETS`: every catalogue item is in exactly one bucket."""
    phi = np.asarray(item_popularity)
    return {label: (phi >= low) & (phi <= high) for label, low, high in BUCKETS}


def restrict_test(test: sp.spmatrix, keep: np.ndarray) -> sp.csr_matrix:
    """``T_u ∩ S`` for every user: the ``[U, I]`` test matrix with the columns outside ``keep`` zeroed."""
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != (test.shape[1],):
        raise ValueError(f"item mask has shape {keep.shape}, expected ({test.shape[1]},)")
    out = sp.csr_matrix(test, copy=True) @ sp.diags(keep.astype(np.float32))
    out = sp.csr_matrix(out)
    out.eliminate_zeros()
    return out


def _restricted_recall(lists: RecLists, test: sp.spmatrix, keep: np.ndarray) -> np.ndarray:
    """``|L_u ∩ T_u ∩ S| / |T_u ∩ S|`` per user, NaN where T_u ∩ S = ∅."""
    sub = restrict_test(test, keep)
    n_rel = np.diff(sub.indptr).astype(np.float64)
    hits = relevance(lists, sub).sum(axis=1)
    return np.where(n_rel > 0, hits / np.where(n_rel > 0, n_rel, 1.0), np.nan)


def cold_item_recall(lists: RecLists, test: sp.spmatrix, cold: np.ndarray) -> np.ndarray:
    """``cold_item_recall@k = |L_u ∩ T_u ∩ C| / |T_u ∩ C|`` per user (``[U]``, NaN where T_u ∩ C = ∅).

    ``lists`` are ranked over the full catalogue; ``test`` is the ``[U, I]`` test matrix aligned with them;
    ``cold`` the ``[I]`` mask of C (:func:`cold_items`). Source: docs/metrics.md "Cold start".
    """
    return _restricted_recall(lists, test, cold)


def cold_item_recall_among_cold(cold_lists: RecLists, test: sp.spmatrix, cold: np.ndarray) -> np.ndarray:
    """``cold_item_recall_among_cold@k``: :func:`cold_item_recall` of lists ranked over C only.

    Measures the content path alone: warm items do not compete. ``cold_lists`` must hold cold items only
    (a list with a warm item was not ranked over C).

    Raises:
        ValueError: a list holds an item outside C.
    """
    cold = np.asarray(cold, dtype=bool)
    shown = cold_lists.items[cold_lists.mask]
    if shown.size and not cold[shown].all():
        raise ValueError(
            f"{int((~cold[shown]).sum())} list slots hold warm items: lists ranked among cold items "
            "must hold cold items only"
        )
    return _restricted_recall(cold_lists, test, cold)


def cold_exposure_share(lists: RecLists, cold: np.ndarray) -> float:
    """``cold_exposure_share@k = Σ_u |L_u ∩ C| / Σ_u |L_u|`` (NaN for an empty log)."""
    shown = lists.items[lists.mask]
    return float(np.asarray(cold, dtype=bool)[shown].mean()) if shown.size else float("nan")


def _accuracy_rows(
    lists: RecLists,
    test: sp.spmatrix,
    n_relevant: np.ndarray,
    keep: np.ndarray | None,
    metrics: Mapping[str, AccuracyFn],
    *,
    ci: bool,
    n_boot: int,
    seed: int,
) -> list[dict[str, object]]:
    """One row per accuracy metric: mean, CI and users evaluated with T_u restricted to ``keep``."""
    if keep is None:
        sub, n_rel = test, np.asarray(n_relevant)
    else:
        sub = restrict_test(test, keep)
        n_rel = np.diff(sub.indptr)
    rel = relevance(lists, sub)
    rows = []
    for name, fn in metrics.items():
        values = np.asarray(fn(rel, n_rel), dtype=np.float64)
        finite = values[np.isfinite(values)]
        mean = float(finite.mean()) if finite.size else float("nan")
        low = high = float("nan")
        if ci and finite.size:
            _, low, high = bootstrap_ci(values, n_boot=n_boot, seed=seed)
        rows.append({
            "metric": f"{name}@{lists.k}", "n_users": int(finite.size), "value": mean,
            "ci_low": low, "ci_high": high,
        })
    return rows


def settings_table(
    lists: RecLists,
    test: sp.spmatrix,
    n_relevant: np.ndarray,
    cold: np.ndarray,
    metrics: Mapping[str, AccuracyFn],
    *,
    ci: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """ColdRec's three settings: every metric of ``metrics`` (``{name: fn(rel, n_relevant)}``, the
    catalogue's :func:`~recaudit.metrics.registry.relevance_functions`) for ``all`` (T_u as is, the headline
    numbers), ``warm`` (T_u ∩ (I \\ C)) and ``cold`` (T_u ∩ C).

    Returns:
        long frame ``setting, metric, n_users, value, ci_low, ci_high`` (``n_users``: users with a value;
        NaN value when none, CI NaN without ``ci``).
    """
    cold = np.asarray(cold, dtype=bool)
    rows = []
    for setting, keep in (("all", None), ("warm", ~cold), ("cold", cold)):
        for row in _accuracy_rows(lists, test, n_relevant, keep, metrics, ci=ci, n_boot=n_boot, seed=seed):
            rows.append({"setting": setting, **row})
    return pd.DataFrame(rows, columns=["setting", "metric", "n_users", "value", "ci_low", "ci_high"])


def bucket_accuracy_table(
    lists: RecLists,
    test: sp.spmatrix,
    item_popularity: np.ndarray,
    metrics: Mapping[str, AccuracyFn],
    *,
    ci: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Accuracy by the bucket of the items in T_u: each metric with T_u restricted to a bucket's items.

    Returns:
        long frame ``bucket, metric, n_users, value, ci_low, ci_high`` in :data:`BUCKETS` order.
    """
    rows = []
    for bucket, keep in item_buckets(item_popularity).items():
        for row in _accuracy_rows(lists, test, np.zeros(0), keep, metrics, ci=ci, n_boot=n_boot, seed=seed):
            rows.append({"bucket": bucket, **row})
    return pd.DataFrame(rows, columns=["bucket", "metric", "n_users", "value", "ci_low", "ci_high"])


def bucket_exposure_table(
    lists: RecLists, item_popularity: np.ndarray, *, ci: bool = True, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Exposure by the bucket of the items in L_u, one row per bucket b:

    - ``n_items`` = |b|, ``catalog_share`` = |b| / |I|;
    - ``slot_share`` = Σ_u |L_u ∩ b| / Σ_u |L_u| (for b = ``0`` this is ``cold_exposure_share``);
    - ``exposure_share`` = Σ_{i ∈ b} x_i / Σ_i x_i (position-weighted, docs/metrics.md);
    - ``list_share`` = mean_u |L_u ∩ b| / |L_u| over users with a non-empty list, with its bootstrap CI.

    Shares are NaN for an empty log.
    """
    mask = lists.mask
    shown = lists.items[mask]
    weights = lists.position_exposure()
    total = float(weights.sum())
    lengths = lists.lengths.astype(np.float64)
    rows = []
    for bucket, keep in item_buckets(item_popularity).items():
        in_bucket = np.where(mask, keep[np.maximum(lists.items, 0)], False)
        per_user = np.where(lengths > 0, in_bucket.sum(axis=1) / np.where(lengths > 0, lengths, 1.0), np.nan)
        finite = per_user[np.isfinite(per_user)]
        low = high = float("nan")
        if ci and finite.size:
            _, low, high = bootstrap_ci(per_user, n_boot=n_boot, seed=seed)
        rows.append({
            "bucket": bucket,
            "n_items": int(keep.sum()),
            "catalog_share": float(keep.mean()) if keep.size else float("nan"),
            "slot_share": float(keep[shown].mean()) if shown.size else float("nan"),
            "exposure_share": float(weights[keep].sum() / total) if total > 0 else float("nan"),
            "list_share": float(finite.mean()) if finite.size else float("nan"),
            "list_share_ci_low": low,
            "list_share_ci_high": high,
        })
    return pd.DataFrame(rows)
