"""Group exposure fairness (docs/metrics.md, "Group exposure fairness").

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

    For each group g (docs/metrics.md)::

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


MAX_NAMED_GROUPS = 3
""":func:`explain_disparity` names at most this many groups, then says how many more there are."""


def _share_text(share: float) -> str:
    """A share for a sentence: ``0`` exactly, ``0.04%`` / ``0.4%`` below 1% (two digits), else ``12.3%``."""
    if share == 0:
        return "0"
    if share < 0.01:
        return f"{share * 100:.2g}%"
    return f"{share:.1%}"


def explain_disparity(table: pd.DataFrame, group_by: str = "group") -> str | None:
    """Why :func:`exposure_disparity` of ``table`` is infinite or undefined, in one plain-text sentence.

    A bare ``∞`` or ``—`` on a card hides the finding: which group the model never shows although the
    test data say users want it. Reads the same columns and applies the same rules as
    :func:`exposure_disparity` (groups with ``merit_share > 0`` and a finite ``exposure_ratio``):

    * ``∞``: the groups with merit and exposure share 0, largest merit first, with both shares, e.g.
      ``"∞: category 'Film-Noir' has merit share 0.4% but exposure share 0"``;
    * undefined: no group has merit (no test interactions in the catalogue), no exposure was logged, or
      no group with merit gets any exposure (0 / 0).

    Returns ``None`` when the disparity is finite (nothing to explain). The text holds data values (group
    names) as they are: show it as plain text (``st.text``, escaped HTML), never as markdown.

    Args:
        table: a :func:`group_exposure` table.
        group_by: what the groups are (``"category"``, ``"provider"``), to name a group in the sentence.
    """
    value = exposure_disparity(table)
    if np.isfinite(value):
        return None
    merit = table["merit_share"].to_numpy(dtype=np.float64)
    exposure = table["exposure_share"].to_numpy(dtype=np.float64)
    ratio = table["exposure_ratio"].to_numpy(dtype=np.float64)
    has_merit = merit > 0
    if not has_merit.any():
        return (
            f"undefined: no {group_by} group has test interactions (merit share), so exposure cannot be "
            "compared with merit"
        )
    if not np.isfinite(exposure).any():
        return "undefined: the recommendation lists expose no item, so no group has an exposure share"
    if np.isnan(value):
        return f"undefined: no {group_by} group with test interactions (merit share > 0) gets any exposure"
    starved = table[has_merit & np.isfinite(ratio) & (ratio <= 0)]
    starved = starved.sort_values("merit_share", ascending=False, kind="stable")
    rows = list(starved.itertuples(index=False))
    if len(rows) == 1:
        row = rows[0]
        return (
            f"∞: {group_by} '{row.group}' has merit share {_share_text(float(row.merit_share))} but "
            f"exposure share {_share_text(float(row.exposure_share))}"
        )
    named = ", ".join(
        f"'{row.group}' (merit share {_share_text(float(row.merit_share))})"
        for row in rows[:MAX_NAMED_GROUPS]
    )
    more = f" and {len(rows) - MAX_NAMED_GROUPS} more" if len(rows) > MAX_NAMED_GROUPS else ""
    return f"∞: {len(rows)} {group_by} groups have test interactions but exposure share 0: {named}{more}"
