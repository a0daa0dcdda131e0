"""Confidence intervals and paired comparisons for per-user metric values.

Every user-level metric returns ``[U]`` per-user values (NaN = user left out); the reported value is their
mean. These functions put an uncertainty on that mean by resampling users (the unit of analysis), fully
vectorised: resamples are drawn as ``[b, n]`` index (or sign) matrices, ``b`` resamples at a time so memory
stays under ``max_block`` elements.

Sources: Efron & Tibshirani 1993 "An Introduction to the Bootstrap" (percentile interval, ch. 13; paired
bootstrap); Smucker, Allan & Carterette 2007 "A comparison of statistical significance tests for information
retrieval evaluation" (randomisation / sign-flip permutation test for paired per-query scores).
"""

from __future__ import annotations

import numpy as np

__all__ = ["bootstrap_ci", "paired_test"]

MAX_BLOCK = 1 << 22  # elements per resampling block


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def _bootstrap_means(values: np.ndarray, n_boot: int, rng: np.random.Generator, max_block: int) -> np.ndarray:
    """``n_boot`` means of resamples of ``values`` drawn with replacement (``[n_boot]``)."""
    n = len(values)
    means = np.empty(n_boot)
    step = max(1, min(n_boot, max_block // max(n, 1)))
    for start in range(0, n_boot, step):
        b = min(step, n_boot - start)
        idx = rng.integers(0, n, size=(b, n))
        means[start : start + b] = values[idx].mean(axis=1)
    return means


def bootstrap_ci(
    values: np.ndarray,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    *,
    max_block: int = MAX_BLOCK,
) -> tuple[float, float, float]:
    """Mean of per-user values and its percentile-bootstrap confidence interval.

    NaN values (users the metric leaves out) are dropped first, so the mean equals ``np.nanmean``. Users
    are resampled with replacement ``n_boot`` times; the interval is the ``(1 − level)/2`` and
    ``(1 + level)/2`` quantiles of the resampled means (Efron & Tibshirani 1993, percentile method).

    Returns:
        ``(mean, low, high)``; all NaN when no value is left, ``(v, v, v)`` for a single value.
    """
    _check_level(level)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    means = _bootstrap_means(x, n_boot, np.random.default_rng(seed), max_block)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(x.mean()), float(low), float(high)


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    n_boot: int = 10000,
    level: float = 0.95,
    seed: int = 0,
    *,
    max_block: int = MAX_BLOCK,
) -> dict[str, float]:
    """Compare two models' per-user values on the same users: ``d_u = a_u − b_u``.

    - ``mean_diff`` = mean_u d_u over the pairs where both values are defined (NaN pairs dropped).
    - ``ci_low``, ``ci_high``: paired percentile bootstrap of the mean difference (users resampled with
      replacement, each keeping its pair, so the correlation between the models is respected).
    - ``p_value``: two-sided sign-flip permutation (randomisation) test of H0 "the two models are
      exchangeable for each user", i.e. each d_u is symmetric about 0. Each resample flips the sign of every
      d_u independently with probability 1/2; ``p = (1 + #{|mean*| ≥ |mean_diff|}) / (n_boot + 1)``.

    Why a sign-flip test for the p-value: it is exact in finite samples under H0 (no normality or
    large-sample assumption, unlike a paired t-test), is the test recommended for IR evaluation by Smucker
    et al. 2007, and a bootstrap interval does not itself give a calibrated p-value. The bootstrap is kept
    for the interval because the permutation distribution is centred on 0, not on the observed difference.

    Returns:
        ``{"mean_diff", "ci_low", "ci_high", "p_value", "n_pairs"}``; NaNs when no pair is left.
        ``p_value`` is 1 when every difference is 0.
    """
    _check_level(level)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same length, got {x.shape} and {y.shape}")
    keep = ~(np.isnan(x) | np.isnan(y))
    d = x[keep] - y[keep]
    n = len(d)
    if n == 0:
        nan = float("nan")
        return {"mean_diff": nan, "ci_low": nan, "ci_high": nan, "p_value": nan, "n_pairs": 0}
    rng = np.random.default_rng(seed)
    observed = float(d.mean())
    _, low, high = bootstrap_ci(d, n_boot=n_boot, level=level, seed=seed, max_block=max_block)
    # Sign flips, in blocks; a tolerance keeps ties (e.g. all-zero differences) counted as extreme.
    extreme = 0
    tol = 1e-12 * max(1.0, abs(observed))
    step = max(1, min(n_boot, max_block // n))
    for start in range(0, n_boot, step):
        size = min(step, n_boot - start)
        signs = rng.integers(0, 2, size=(size, n), dtype=np.int8) * 2 - 1
        flipped = (signs * d).mean(axis=1)
        extreme += int((np.abs(flipped) >= abs(observed) - tol).sum())
    return {
        "mean_diff": observed,
        "ci_low": low,
        "ci_high": high,
        "p_value": (1 + extreme) / (n_boot + 1),
        "n_pairs": n,
    }
