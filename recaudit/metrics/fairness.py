"""Group exposure fairness (METRICS.md, "Group exposure fairness").

Items are grouped by provider, category or any item column (``membership``: a 0/1 ``[I, G]`` matrix,
see :func:`recaudit.metrics.lists.membership_matrix`). Exposure is position-weighted:
``x_i = Σ_u Σ_r e(r) 1[L_u[r] = i]``, ``e(r) = 1 / log2(r + 1)``.

Multi-membership: an item in several groups (e.g. categories ``"drama|comedy"``) counts in full for
each of its groups, in exposure, catalogue and merit alike. Shares are taken against the totals over
*items* (not over groups), so with multi-membership they can sum to more than 1 over groups, and to
less than 1 when some items belong to no group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recaudit.metrics.lists import RecLists

GROUP_EXPOSURE_COLUMNS = (
    "group", "n_items", "exposure", "exposure_share", "catalog_share", "merit_share", "exposure_ratio"
)


def group_exposure(
    lists: RecLists,
    membership: sp.spmatrix,
    names: Sequence[str],
    test: sp.spmatrix | None = None,
) -> pd.DataFrame:
    """Exposure, catalogue and merit shares per item group, one row per group.

    For each group g (METRICS.md)::

        exposure_share = Σ_{i ∈ g} x_i / Σ_i x_i
        catalog_share  = |g ∩ I| / |I|
        merit_share    = Σ_{i ∈ g} t_i / Σ_i t_i     (t_i = Σ_u test[u, i], test interactions of item i)
        exposure_ratio = exposure_share / merit_share (1 = exposure proportional to merit)

    ``test`` values are counted as given (counts per pair from ``interaction_matrix``; binarise it first
    to count (user, item) pairs). Without ``test`` (or with an empty one) ``merit_share`` and
    ``exposure_ratio`` are NaN; ``exposure_ratio`` is NaN where ``merit_share = 0`` and
    ``exposure_share`` NaN for an empty log. Columns: ``GROUP_EXPOSURE_COLUMNS``.
    """
    member = sp.csr_matrix(membership, dtype=np.float64)
    member.data = (member.data > 0).astype(np.float64)
    if member.shape != (lists.n_items, len(names)):
        raise ValueError(f"membership must have shape ({lists.n_items}, {len(names)}), got {member.shape}")
    x = lists.position_exposure()
    exposure = member.T @ x
    total = float(x.sum())
    n_items = np.asarray(member.sum(axis=0)).ravel()
    exposure_share = exposure / total if total > 0 else np.full(len(names), np.nan)
    catalog_share = n_items / lists.n_items if lists.n_items else np.full(len(names), np.nan)
    merit_share = np.full(len(names), np.nan)
    if test is not None:
        if test.shape[1] != lists.n_items:
            raise ValueError("test must have one column per catalogue item")
        per_item = np.asarray(test.sum(axis=0), dtype=np.float64).ravel()
        merit_total = float(per_item.sum())
        if merit_total > 0:
            merit_share = (member.T @ per_item) / merit_total
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.where(merit_share > 0, merit_share, 1.0)
        ratio = np.where(merit_share > 0, exposure_share / safe, np.nan)
    return pd.DataFrame(
        {
            "group": [str(n) for n in names],
            "n_items": n_items.astype(np.int64),
            "exposure": exposure,
            "exposure_share": exposure_share,
            "catalog_share": catalog_share,
            "merit_share": merit_share,
            "exposure_ratio": ratio,
        },
        columns=list(GROUP_EXPOSURE_COLUMNS),
    )


def exposure_disparity(table: pd.DataFrame) -> float:
    """``exposure_disparity = max_g exposure_ratio / min_g exposure_ratio`` over groups with merit_share > 0.

    1 = every group with merit gets exposure in proportion to it. ``inf`` when such a group gets no
    exposure at all (ratio 0) while another gets some; NaN when no group has merit (or no exposure was
    logged, so the ratios are NaN).
    """
    keep = (table["merit_share"] > 0).to_numpy() & np.isfinite(table["exposure_ratio"].to_numpy(dtype=float))
    ratios = table["exposure_ratio"].to_numpy(dtype=np.float64)[keep]
    if ratios.size == 0:
        return float("nan")
    low, high = float(ratios.min()), float(ratios.max())
    if low <= 0:
        return float("inf") if high > 0 else float("nan")
    return high / low
