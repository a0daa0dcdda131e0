"""Tables the audit pages show, without Streamlit: seeded user samples, per-group means with
bootstrap intervals, before/after comparisons, and the re-ranker spec a page's widgets name."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from recaudit.metrics import AuditResult
from recaudit.metrics import groups as metric_groups
from recaudit.metrics.stats import bootstrap_ci


def rerank_spec(name: str | None, lambda_: float) -> str | None:
    """``("mmr", 0.3)`` -> ``"mmr:0.3"``; None or ``"none"`` -> None (the base lists)."""
    if name is None or name == "none":
        return None
    return f"{name}:{float(lambda_):g}"


def sample_users(users: Sequence[str], n: int, seed: int = 0) -> tuple[str, ...]:
    """A seeded sample of ``n`` users (all of them when there are at most ``n``), sorted."""
    users = sorted(users)
    if n >= len(users):
        return tuple(users)
    picked = np.random.default_rng(seed).choice(len(users), size=n, replace=False)
    return tuple(users[i] for i in sorted(picked))


def group_ci_table(
    per_user: np.ndarray,
    labels: np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    order: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Mean of a per-user metric per group with a percentile-bootstrap CI over the group's users.

    Columns ``group, n_users, n, mean, ci_low, ci_high, gap``: ``n`` users with a value (NaN = left out by
    the metric), ``mean`` their plain mean, the interval from :func:`recaudit.metrics.stats.bootstrap_ci`
    (Efron & Tibshirani 1993), ``gap = mean − overall mean`` (the overall mean over every user with a
    value). Loops over groups only (a handful), never over users.
    """
    values = np.asarray(per_user, dtype=np.float64).ravel()
    keys = np.asarray(labels, dtype=object).ravel().astype(str)
    base = metric_groups.group_means(values, keys, order=order)
    finite = values[np.isfinite(values)]
    overall = float(finite.mean()) if finite.size else math.nan
    lows, highs = [], []
    for group in base["group"]:
        _, low, high = bootstrap_ci(values[keys == group], n_boot=n_boot, level=level, seed=seed)
        lows.append(low)
        highs.append(high)
    return pd.DataFrame(
        {
            "group": base["group"],
            "n_users": base["n_users"],
            "n": base["n"],
            "mean": base["mean"],
            "ci_low": lows,
            "ci_high": highs,
            "gap": base["mean"] - overall,
        }
    )


def comparison_table(base: AuditResult, other: AuditResult, names: Sequence[str]) -> pd.DataFrame:
    """``metric, base, reranked, change`` for the metrics in both results (``change`` = reranked − base)."""
    rows = []
    for name in names:
        if name in base.values and name in other.values:
            a, b = float(base.values[name]), float(other.values[name])
            rows.append({"metric": name, "base": a, "reranked": b, "change": b - a})
    return pd.DataFrame(rows, columns=["metric", "base", "reranked", "change"])
