"""Exposure and catalogue metrics (docs/metrics.md, "Exposure and catalogue").

Every metric here is computed over the *whole* catalogue ``I``, items that were never recommended
included (their exposure is 0). All are catalogue-level: they return a float, NaN meaning 'n/a' (an
empty log or an empty catalogue), never a division by zero.

Notation: ``c_i`` is the number of lists that contain item i (:meth:`RecLists.exposure_counts`),
``x_i = Σ_u Σ_r e(r) 1[L_u[r] = i]`` with ``e(r) = 1 / log2(r + 1)`` the position-weighted exposure
(:meth:`RecLists.position_exposure`).
"""

from __future__ import annotations

import numpy as np

from recaudit.metrics.lists import RecLists


def coverage(lists: RecLists) -> float:
    """Catalogue coverage ``coverage@k = |∪_u L_u| / |I|``.

    The share of catalogue items that appear in at least one list (RecBole ``ItemCoverage``, Elliot
    ``ItemCoverage`` divided by |I|). NaN for an empty catalogue.
    """
    if lists.n_items == 0:
        return float("nan")
    return float(np.count_nonzero(lists.exposure_counts()) / lists.n_items)


def gini(counts: np.ndarray) -> float:
    """Gini index of exposure over ALL items (RecBole ``GiniIndex``, LensKit ``gini``).

    Sort the counts ascending, ``c_(1) <= ... <= c_(n)`` with ``n = len(counts)`` (every catalogue
    item, zero exposure included)::

        G = Σ_j (2j − n − 1) · c_(j) / (n · Σ_j c_(j))

    0 when every item is equally exposed; ``1 − 1/n`` when one item gets all the exposure.
    NaN when there are no items or the total exposure is 0.
    """
    values = np.sort(np.asarray(counts, dtype=np.float64).ravel())
    n = values.size
    total = values.sum()
    if n == 0 or total <= 0:
        return float("nan")
    j = np.arange(1, n + 1, dtype=np.float64)
    return float(np.sum((2.0 * j - n - 1.0) * values) / (n * total))


def gini_recommended_only(counts: np.ndarray) -> float:
    """Variant of :func:`gini` over the items with positive exposure only (Evidently's convention).

    Same formula as :func:`gini`, with ``n`` the number of items with ``c_i > 0``. Not the default:
    it ignores the never-recommended part of the catalogue, so it is offered under its own name.
    """
    values = np.asarray(counts, dtype=np.float64).ravel()
    return gini(values[values > 0])


def gini_at_k(lists: RecLists) -> float:
    """``gini@k``: :func:`gini` of the exposure counts ``c_i`` over the whole catalogue."""
    return gini(lists.exposure_counts())


def exposure_gini(lists: RecLists) -> float:
    """``exposure_gini@k``: :func:`gini` of the position-weighted exposure ``x_i`` over the catalogue.

    ``x_i = Σ_u Σ_r e(r) · 1[L_u[r] = i]``, ``e(r) = 1 / log2(r + 1)`` (docs/metrics.md).
    """
    return gini(lists.position_exposure())


def _entropy(counts: np.ndarray) -> float:
    values = np.asarray(counts, dtype=np.float64).ravel()
    total = values.sum()
    if total <= 0:
        return float("nan")
    p = values[values > 0] / total
    return float(-np.sum(p * np.log(p)))


def entropy(lists: RecLists) -> float:
    """``entropy@k = −Σ_i p_i ln p_i`` with ``p_i = c_i / Σ_j c_j`` (RecBole ``ShannonEntropy``).

    Natural logarithm; items with ``c_i = 0`` contribute 0 (``0 ln 0 = 0``). NaN for an empty log.
    """
    return _entropy(lists.exposure_counts())


def entropy_norm(lists: RecLists) -> float:
    """``entropy_norm@k = entropy@k / ln |I|``, in [0, 1] (1 = uniform exposure over the catalogue).

    NaN for an empty log or a catalogue of fewer than two items (``ln |I| = 0``).
    """
    if lists.n_items < 2:
        return float("nan")
    return _entropy(lists.exposure_counts()) / float(np.log(lists.n_items))


def personalization(lists: RecLists) -> float:
    """``personalization@k = 1 − mean_{u ≠ v} |L_u ∩ L_v| / k``, computed from ``c`` in O(U k + I).

    Closed form: an item i in ``c_i`` lists lies in the intersection of ``c_i (c_i − 1)`` ordered pairs
    of distinct users, so ``Σ_{u ≠ v} |L_u ∩ L_v| = Σ_i c_i (c_i − 1)`` and, with ``U`` users::

        personalization = 1 − Σ_i c_i (c_i − 1) / (U (U − 1) k)

    ``U`` counts the users whose list is non-empty (an empty list is no recommendation). Every
    overlap is divided by ``k`` (the list width, ``lists.k``), as docs/metrics.md says, even for lists
    shorter than k: two identical lists of length ``m < k`` give overlap ``m / k``, not 1. Hence
    short lists read as more personalised; truncate or pad upstream if that matters.
    NaN when fewer than two users have a list.
    """
    n_users = int(np.count_nonzero(lists.lengths))
    if n_users < 2:
        return float("nan")
    c = lists.exposure_counts().astype(np.float64)
    overlap = float(np.sum(c * (c - 1.0)))
    return 1.0 - overlap / (n_users * (n_users - 1.0) * lists.k)


def lorenz_curve(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve of exposure, for charts: ``(x, y)`` arrays of length ``n + 1``.

    Items sorted by exposure ascending; ``x_j = j / n`` is the share of items, ``y_j`` the share of
    total exposure held by the ``j`` least exposed items (``x_0 = y_0 = 0``, ``x_n = y_n = 1``).
    :func:`gini` is exactly twice the area between the diagonal and this piecewise-linear curve
    (trapezoid rule): ``G = 1 − Σ_j (y_{j−1} + y_j) / n``. ``y`` is NaN after ``y_0 = 0`` when the
    total is 0.
    """
    values = np.sort(np.asarray(counts, dtype=np.float64).ravel())
    n = values.size
    x = np.arange(n + 1, dtype=np.float64) / max(n, 1)
    total = values.sum()
    y = np.zeros(n + 1, dtype=np.float64)
    if total > 0:
        y[1:] = np.cumsum(values) / total
        y[-1] = 1.0
    else:
        y[1:] = np.nan
    return x, y
