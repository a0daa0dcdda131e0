"""Cross-domain transfer metrics (docs/metrics.md, "Cross-domain"): what transfer from a source domain does
to a target domain's users, measured against the target-only model, and how alike users' tastes are across
domains.

Definitions (the source of truth is ``METRICS.md``; formulas repeated here):

- a user is **cold** in the target when they have no training interaction there, **warm** otherwise;
- ``transfer_lift = (mean_u ndcg_transfer(u) − mean_u ndcg_target_only(u)) / mean_u ndcg_target_only(u)`` over
  a group of the target domain's test users (a ratio of means: one user's relative change is undefined when
  their target-only ndcg is 0, which is common for cold users);
- ``negative_transfer_rate = mean_u [ndcg_transfer(u) < ndcg_target_only(u)]`` (ties are not negative);
- ``preference_correlation = mean over users active in both domains of Pearson(p_a(·|u), p_b(·|u))``, the
  users' category distributions (``p(g|i) = 1/|genres(i)|``, as in calibration) in each domain, over the
  categories present in both domains' catalogues. A user whose distribution is constant over those
  categories in either domain has no correlation and is left out.

Intervals: the percentile bootstrap over users (the users are resampled together for both models, so the
interval of the lift accounts for the pairing). Groups: cold, warm, and buckets of the user's number of
training interactions in the target domain (:data:`TARGET_BUCKET_EDGES`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recaudit.metrics.calibration import genre_weights

__all__ = [
    "TARGET_BUCKET_EDGES",
    "bucket_names",
    "negative_transfer_rate",
    "preference_correlation",
    "target_bucket_labels",
    "transfer_lift",
    "transfer_table",
]

TARGET_BUCKET_EDGES: tuple[int, ...] = (0, 1, 3, 6, 11, 21)
"""Lower edges of the target-interaction buckets: 0 (cold), 1-2, 3-5, 6-10, 11-20, 21+."""


def target_bucket_labels(counts: np.ndarray, edges: Sequence[int] = TARGET_BUCKET_EDGES) -> np.ndarray:
    """The bucket label of each user's target-domain training interaction count (``"0"``, ``"1-2"``, ...)."""
    counts = np.asarray(counts, dtype=np.int64)
    if (counts < 0).any():
        raise ValueError("interaction counts must be >= 0")
    names = bucket_names(edges)
    return np.asarray(names, dtype=object)[np.searchsorted(np.asarray(edges), counts, side="right") - 1]


def bucket_names(edges: Sequence[int] = TARGET_BUCKET_EDGES) -> list[str]:
    """Labels of the buckets with lower edges ``edges``: ``"0"``, ``"1-2"``, ..., ``"21+"``."""
    names = []
    for lo, hi in zip(edges, [*edges[1:], None], strict=True):
        if hi is None:
            names.append(f"{lo}+")
        elif hi - lo == 1:
            names.append(str(lo))
        else:
            names.append(f"{lo}-{hi - 1}")
    return names


def transfer_lift(ndcg_transfer: np.ndarray, ndcg_target_only: np.ndarray) -> float:
    """``(mean transfer − mean target-only) / mean target-only``; NaN with no user or a zero denominator."""
    t, o = _paired(ndcg_transfer, ndcg_target_only)
    base = o.mean() if len(o) else 0.0
    return float((t.mean() - base) / base) if base > 0 else float("nan")


def negative_transfer_rate(ndcg_transfer: np.ndarray, ndcg_target_only: np.ndarray) -> float:
    """Share of users whose ndcg is strictly lower with transfer (ties are not negative); NaN with no user."""
    t, o = _paired(ndcg_transfer, ndcg_target_only)
    return float((t < o).mean()) if len(t) else float("nan")


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"{len(a)} transfer values for {len(b)} target-only values")
    keep = ~(np.isnan(a) | np.isnan(b))
    return a[keep], b[keep]


def transfer_table(
    ndcg_transfer: np.ndarray,
    ndcg_target_only: np.ndarray,
    target_counts: np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Lift and negative-transfer rate with bootstrap intervals for cold, warm and each target bucket.

    Args:
        ndcg_transfer, ndcg_target_only: per-user ndcg@k of the two models on the same target test users.
        target_counts: each user's number of training interactions in the target domain (0 = cold).

    Returns:
        One row per group (``group`` = ``cold``, ``warm``, then the bucket labels, empty groups left out) with
        ``n_users``, ``ndcg_target_only``, ``ndcg_transfer``, ``transfer_lift`` (+ ``_low``/``_high``),
        ``negative_transfer_rate`` (+ ``_low``/``_high``).
    """
    t, o = np.asarray(ndcg_transfer, np.float64), np.asarray(ndcg_target_only, np.float64)
    counts = np.asarray(target_counts, np.int64)
    if not (len(t) == len(o) == len(counts)):
        raise ValueError(f"{len(t)} transfer, {len(o)} target-only values and {len(counts)} counts")
    buckets = target_bucket_labels(counts)
    groups: list[tuple[str, np.ndarray]] = [("cold", counts == 0), ("warm", counts > 0)]
    groups += [(name, buckets == name) for name in bucket_names(TARGET_BUCKET_EDGES)]
    rng = np.random.default_rng(seed)
    tail = (1.0 - level) / 2.0
    rows = []
    for name, mask in groups:
        tg, og = _paired(t[mask], o[mask])
        if not len(tg):
            continue
        idx = rng.integers(0, len(tg), size=(n_boot, len(tg)))
        mean_t, mean_o = tg[idx].mean(1), og[idx].mean(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            lifts = np.where(mean_o > 0, (mean_t - mean_o) / mean_o, np.nan)
        rates = (tg[idx] < og[idx]).mean(1)
        lift_lo, lift_hi = _quantiles(lifts, tail)
        rate_lo, rate_hi = _quantiles(rates, tail)
        rows.append(
            {
                "group": name,
                "n_users": int(len(tg)),
                "ndcg_target_only": float(og.mean()),
                "ndcg_transfer": float(tg.mean()),
                "transfer_lift": transfer_lift(tg, og),
                "transfer_lift_low": lift_lo,
                "transfer_lift_high": lift_hi,
                "negative_transfer_rate": negative_transfer_rate(tg, og),
                "negative_transfer_rate_low": rate_lo,
                "negative_transfer_rate_high": rate_hi,
            }
        )
    return pd.DataFrame(rows)


def _quantiles(values: np.ndarray, tail: float) -> tuple[float, float]:
    values = values[~np.isnan(values)]
    if not len(values):
        return float("nan"), float("nan")
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def preference_correlation(
    user_rows: np.ndarray,
    item_rows: np.ndarray,
    item_domain: np.ndarray,
    categories: sp.spmatrix,
    domains: tuple[str, str],
) -> tuple[float, pd.Series]:
    """Mean Pearson correlation of users' category distributions in two domains (users active in both).

    Args:
        user_rows, item_rows: the interactions as user and catalogue rows (repeats count once).
        item_domain: ``[I]`` domain of each catalogue row.
        categories: ``[I, G]`` 0/1 category membership.
        domains: the two domains ``(a, b)``.

    Returns:
        ``(mean, per_user)``: ``per_user`` is indexed by user row (NaN where the correlation is undefined);
        the mean is over the defined values (NaN when none is).
    """
    weights = genre_weights(categories)
    item_domain = np.asarray(item_domain, dtype=object)
    users = np.asarray(user_rows, np.int64)
    items = np.asarray(item_rows, np.int64)
    present = []
    for d in domains:
        in_domain = item_domain == d
        present.append(np.asarray(weights[in_domain].sum(axis=0)).ravel() > 0)
    shared = present[0] & present[1]
    dists = []
    active = []
    n_users = int(users.max()) + 1 if len(users) else 0
    for d in domains:
        keep = item_domain[items] == d
        pairs = np.unique(np.stack([users[keep], items[keep]]), axis=1)
        indicator = sp.csr_matrix(
            (np.ones(pairs.shape[1]), (pairs[0], pairs[1])), shape=(n_users, weights.shape[0])
        )
        categorised = (np.diff(weights.indptr) > 0).astype(np.float64)
        n = indicator @ categorised
        sums = np.asarray((indicator @ weights).todense())
        dists.append(sums / np.maximum(n, 1)[:, None])
        active.append(n > 0)
    both = np.flatnonzero(active[0] & active[1])
    a, b = dists[0][both][:, shared], dists[1][both][:, shared]
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    denom = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(denom > 0, (a * b).sum(1) / denom, np.nan)
    per_user = pd.Series(r, index=pd.Index(both, name="user_row"), name="preference_correlation")
    valid = r[~np.isnan(r)]
    return (float(valid.mean()) if len(valid) else float("nan")), per_user
