"""Audit chart builders: metric results in, plotly ``Figure`` out (no Streamlit, no CDN, no LaTeX).

Every builder is pure: it reads plain arrays or the tidy frames of an :class:`~recaudit.metrics.AuditResult`
(``values``, ``per_user``, ``user_groups``, ``item_groups``, ``popularity_lift``), never mutates them, and
returns a ``plotly.graph_objects.Figure`` whose traces carry the data, so tests assert on ``fig.data``.
Large inputs are thinned before they reach a trace (a curve over a million items keeps a few thousand
points; per-user values are binned), so figures stay small enough for a page and an HTML report. Every builder
ends with :func:`recaudit.viz.layout.finish_layout` (legend strip, readable log ticks, shortened categories).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from recaudit.formatting import format_value
from recaudit.metrics import registry
from recaudit.metrics.engine import AuditResult
from recaudit.metrics.exposure import gini as gini_index
from recaudit.metrics.exposure import lorenz_curve
from recaudit.viz.charts import CUT_COLOUR, HEAD_COLOUR, MAX_CURVE_POINTS, log_spaced_indices
from recaudit.viz.layout import finish_layout

__all__ = [
    "category_bars",
    "frontier_chart",
    "group_exposure_chart",
    "group_metric_chart",
    "long_tail_chart",
    "lorenz_chart",
    "metric_cards_frame",
    "metric_help",
    "miscalibration_hist",
    "popularity_lift_chart",
]

MAX_BARS = 30
HISTORY_COLOUR = "#4c72b0"
RECOMMENDED_COLOUR = "#dd8452"
MERIT_COLOUR = "#55a868"
EQUALITY_COLOUR = "#9aa5b1"

CARD_COLUMNS = ("metric", "value", "ci_low", "ci_high", "help")


def _curve_indices(y: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of a monotone curve thinned to about ``max_points``: even in x AND in y, ends kept.

    Even spacing in x alone would flatten a Lorenz curve whose exposure sits in its last few items;
    adding the points where y crosses even steps keeps that sharp rise.
    """
    n = y.size
    if n <= max_points:
        return np.arange(n)
    half = max(max_points // 2, 2)
    in_x = np.linspace(0, n - 1, half).round().astype(np.int64)
    finite = np.nan_to_num(y, nan=0.0)
    in_y = np.searchsorted(finite, np.linspace(finite[0], finite[-1], half), side="left")
    return np.unique(np.concatenate([in_x, np.clip(in_y, 0, n - 1), [0, n - 1]]))


def lorenz_chart(
    counts: np.ndarray,
    gini: float | None = None,
    title: str = "Lorenz curve of exposure",
    *,
    max_points: int = MAX_CURVE_POINTS,
) -> go.Figure:
    """Lorenz curve of item exposure with the line of equality.

    Items are sorted by exposure ascending (:func:`recaudit.metrics.exposure.lorenz_curve`): x is the share
    of catalogue items, y the share of all exposure the x least exposed items hold. The Gini index
    (RecBole ``GiniIndex``: ``G = Σ_j (2j − n − 1) c_(j) / (n Σ c)``) is twice the area between the
    diagonal and the curve; it is shown in the title (computed from ``counts`` when not given).

    Args:
        counts: exposure per catalogue item, zeros included (``c_i`` or ``x_i``).
        gini: the reported Gini, to show the exact audited number.
        title: the figure title.
        max_points: above this many items the curve keeps about this many points (even in x and in y).

    Returns:
        Traces ``equality`` (the diagonal) and ``lorenz`` (the curve); with no exposure at all the
        curve is empty and the title says so.
    """
    values = np.asarray(counts, dtype=np.float64).ravel()
    x, y = lorenz_curve(values)
    if gini is None:
        gini = gini_index(values)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0.0, 1.0], y=[0.0, 1.0], mode="lines", name="equality",
            line={"color": EQUALITY_COLOUR, "dash": "dash"}, hoverinfo="skip",
        )
    )
    empty = values.size == 0 or not np.isfinite(y[-1])
    keep = np.arange(0) if empty else _curve_indices(y, max_points)
    fig.add_trace(
        go.Scatter(
            x=x[keep], y=y[keep], mode="lines", name="lorenz",
            line={"color": HEAD_COLOUR},
            hovertemplate="least exposed %{x:.1%} of items<br>hold %{y:.1%} of exposure<extra></extra>",
        )
    )
    if empty:
        subtitle = "no exposure logged"
    else:
        subtitle = f"{values.size:,} items; Gini = {format_value(gini)}"
    fig.update_layout(
        title={"text": f"{title}<br><sup>{subtitle}</sup>"},
        xaxis={
            "title": {"text": "share of items (least exposed first)"}, "range": [0, 1], "tickformat": ".0%"
        },
        yaxis={"title": {"text": "share of exposure"}, "range": [0, 1], "tickformat": ".0%"},
    )
    return finish_layout(fig)


def long_tail_chart(
    item_popularity: np.ndarray,
    exposure: np.ndarray,
    head_mask: np.ndarray | None = None,
    *,
    title: str = "Long tail: training popularity vs exposure",
    max_points: int = MAX_CURVE_POINTS,
) -> go.Figure:
    """Items ordered by training popularity rank; their popularity φ(i) and their exposure, on log axes.

    Items are ranked by φ descending (head items first among ties, then catalogue row order), so the
    head of docs/metrics.md (Elliot's short head: the fewest most popular items holding 80% of interactions)
    is ranks 1..h. Above ``max_points`` items both curves keep log-spaced ranks (exact values at those
    ranks), and a third trace ``exposure (bin mean)`` gives the mean exposure of all the items between
    consecutive kept ranks, so exposure of the unshown tail items is not lost. Zeros cannot sit on a log
    axis: the items they leave out are counted in the x-axis title.

    Args:
        item_popularity: φ(i) per catalogue item (training interactions).
        exposure: exposure per catalogue item (``c_i`` list counts or position-weighted ``x_i``).
        head_mask: the short head (``AuditInputs.head_mask``); draws the cut and the head's exposure share.
        title: the figure title.
        max_points: thinning threshold.

    Returns:
        Traces ``training popularity`` (y, left log axis) and ``exposure`` (y2, right log axis), x the
        1-based popularity rank; ``exposure (bin mean)`` when thinned; ``cut`` when ``head_mask`` has
        head items.
    """
    pop = np.asarray(item_popularity, dtype=np.float64).ravel()
    exp = np.asarray(exposure, dtype=np.float64).ravel()
    if pop.shape != exp.shape:
        raise ValueError(f"item_popularity and exposure differ in length: {pop.size} vs {exp.size}")
    head = np.zeros(pop.size, dtype=bool) if head_mask is None else np.asarray(head_mask, dtype=bool).ravel()
    if head.shape != pop.shape:
        raise ValueError("head_mask must have one entry per item")
    n = pop.size
    order = np.lexsort((np.arange(n), ~head, -pop))
    pop_sorted, exp_sorted = pop[order], exp[order]
    ranks = np.arange(1, n + 1)
    keep = log_spaced_indices(n, max_points)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=ranks[keep], y=pop_sorted[keep], mode="lines", name="training popularity",
            line={"color": HEAD_COLOUR},
            hovertemplate="rank %{x}<br>%{y:,} training interactions<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=ranks[keep], y=exp_sorted[keep], mode="markers", name="exposure", yaxis="y2",
            marker={"color": RECOMMENDED_COLOUR, "size": 4},
            hovertemplate="rank %{x}<br>exposure %{y:,.3g}<extra></extra>",
        )
    )
    if keep.size < n:
        starts = keep
        sums = np.add.reduceat(exp_sorted, starts)
        widths = np.diff(np.append(starts, n))
        fig.add_trace(
            go.Scatter(
                x=ranks[starts], y=sums / widths, mode="lines", name="exposure (bin mean)", yaxis="y2",
                line={"color": RECOMMENDED_COLOUR, "width": 1},
                customdata=widths,
                hovertemplate="ranks %{x} + %{customdata} items<br>mean exposure %{y:,.3g}<extra></extra>",
            )
        )
    h = int(head.sum())
    subtitle = f"{n:,} items"
    if h and n:
        total = exp.sum()
        share = exp[head].sum() / total if total > 0 else math.nan
        subtitle += f"; head: {h:,} items, {_pct(share)} of exposure"
        top = float(pop_sorted[0]) if pop_sorted[0] > 0 else 1.0
        fig.add_trace(
            go.Scatter(
                x=[h, h], y=[1.0, top], mode="lines", name="cut",
                line={"color": CUT_COLOUR, "dash": "dash"},
                hovertemplate=f"short head: ranks 1..{h}<extra></extra>",
            )
        )
    hidden = [f"{int((pop <= 0).sum()):,} items without training interactions",
              f"{int((exp <= 0).sum()):,} never exposed"]
    fig.update_layout(
        title={"text": f"{title}<br><sup>{subtitle}</sup>"},
        xaxis={"type": "log", "title": {"text": f"popularity rank (zeros not drawn: {', '.join(hidden)})"}},
        yaxis={"type": "log", "title": {"text": "training interactions φ(i)"}},
        yaxis2={"type": "log", "title": {"text": "exposure"}, "overlaying": "y", "side": "right"},
    )
    return finish_layout(fig)


def metric_help(name: str) -> str:
    """The one-line help of a metric name such as ``"ndcg@10"`` or ``"exposure_disparity[provider]@10"``
    (:func:`recaudit.metrics.registry.metric_help`, the catalogue's)."""
    return registry.metric_help(name)


def metric_cards_frame(result: AuditResult, names: Sequence[str]) -> pd.DataFrame:
    """One row per requested metric: ``metric, value, ci_low, ci_high, help`` (for cards and tables).

    Metrics absent from ``result.values`` get NaN values and, when the audit skipped them, the reason
    (``"skipped: needs item_emb"``) as help; catalogue metrics have NaN CI bounds.
    """
    rows = []
    for name in names:
        low, high = result.ci.get(name, (math.nan, math.nan))
        if name in result.values:
            value, text = float(result.values[name]), metric_help(name)
        else:
            value = math.nan
            reason = result.skipped.get(name)
            text = f"skipped: {reason}" if reason else "not computed"
        rows.append(
            {"metric": name, "value": value, "ci_low": float(low), "ci_high": float(high), "help": text}
        )
    return pd.DataFrame(rows, columns=list(CARD_COLUMNS))


def popularity_lift_chart(lift: pd.DataFrame, *, title: str = "Popularity lift per user group") -> go.Figure:
    """GAP of the users' profiles vs of their recommendations per group, ΔGAP as bar labels.

    Abdollahpouri et al. 2020: ``φ′(i) = users(i) / n_users``; ``GAP_x(G)`` the group mean of the mean φ′
    of ``x_u`` (history ``H_u`` or list ``L_u``); ``ΔGAP = (GAP_L − GAP_H) / GAP_H`` (> 0: recommendations
    more popular than the group's taste).

    Args:
        lift: ``group, n_users, gap_profile, gap_recommended, delta_gap`` (``AuditResult.popularity_lift``).
    """
    missing = {"group", "gap_profile", "gap_recommended", "delta_gap"} - set(lift.columns)
    if missing:
        raise ValueError(f"lift table lacks columns {sorted(missing)}")
    groups = lift["group"].astype(str).tolist()
    n_users = lift["n_users"].to_numpy() if "n_users" in lift.columns else np.full(len(lift), np.nan)
    delta = lift["delta_gap"].to_numpy(dtype=np.float64)
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=groups, y=lift["gap_profile"].to_numpy(dtype=np.float64), name="profile (history)",
            marker={"color": HISTORY_COLOUR}, customdata=n_users,
            hovertemplate="%{x} (%{customdata} users)<br>GAP of histories %{y:.4f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            x=groups, y=lift["gap_recommended"].to_numpy(dtype=np.float64), name="recommended",
            marker={"color": RECOMMENDED_COLOUR}, customdata=n_users,
            text=[f"ΔGAP {_signed_pct(d)}" for d in delta], textposition="outside",
            hovertemplate="%{x} (%{customdata} users)<br>GAP of lists %{y:.4f}<br>%{text}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": f"{title}<br><sup>ΔGAP = (GAP recommended − GAP profile) / GAP profile</sup>"},
        barmode="group",
        xaxis={"title": {"text": "user group (share of head items in the history)"}},
        yaxis={"title": {"text": "GAP: mean users(i) / n_users"}, "rangemode": "tozero"},
    )
    return finish_layout(fig)


def miscalibration_hist(
    per_user: np.ndarray, title: str = "Miscalibration per user (Steck 2018)", *, bins: int = 30
) -> go.Figure:
    """Histogram of per-user miscalibration C_KL, pre-binned (bars of counts, so 1M users stay small).

    NaN values (users the definition leaves out) are dropped and counted in the subtitle; a dashed line
    marks the mean, the reported ``miscalibration@k``.

    Returns:
        Trace ``users`` (x bin centres, y counts, ``width`` the bin width) and ``mean`` (vertical line).
    """
    values = np.asarray(per_user, dtype=np.float64).ravel()
    finite = values[np.isfinite(values)]
    fig = go.Figure()
    if finite.size:
        low, high = float(finite.min()), float(finite.max())
        if high <= low:
            high = low + 1.0
        counts, edges = np.histogram(finite, bins=bins, range=(low, high))
        centres = (edges[:-1] + edges[1:]) / 2
        fig.add_trace(
            go.Bar(
                x=centres, y=counts, width=np.diff(edges), name="users", marker={"color": HISTORY_COLOUR},
                customdata=np.stack([edges[:-1], edges[1:]], axis=1),
                hovertemplate="C_KL %{customdata[0]:.3f}–%{customdata[1]:.3f}<br>%{y} users<extra></extra>",
            )
        )
        mean = float(finite.mean())
        fig.add_trace(
            go.Scatter(
                x=[mean, mean], y=[0, int(counts.max())], mode="lines", name="mean",
                line={"color": CUT_COLOUR, "dash": "dash"},
                hovertemplate=f"mean C_KL {mean:.4f}<extra></extra>",
            )
        )
        subtitle = f"{finite.size:,} users, mean {mean:.4f}"
    else:
        subtitle = "no user with a categorised history and list"
    if finite.size < values.size:
        subtitle += f"; {values.size - finite.size:,} users left out (no categorised history or list)"
    fig.update_layout(
        title={"text": f"{title}<br><sup>{subtitle}</sup>"},
        xaxis={"title": {"text": "C_KL(history ‖ recommendations), nats"}},
        yaxis={"title": {"text": "users"}},
        bargap=0.02,
        showlegend=False,
    )
    return finish_layout(fig)


def category_bars(
    distributions: pd.DataFrame,
    title: str = "Categories: history vs recommendations",
    *,
    max_categories: int = MAX_BARS,
) -> go.Figure:
    """Grouped bars of p(g|u) (history) and q(g|u) (recommendations) per category (Steck 2018).

    Args:
        distributions: from :func:`recaudit.metrics.calibration.category_distributions` (index
            ``category``; columns ``history``, ``recommended``, optional ``kl_term``).
        max_categories: categories are sorted by ``max(history, recommended)`` descending and only the
            first ones are drawn; the title says how many were left out.
    """
    missing = {"history", "recommended"} - set(distributions.columns)
    if missing:
        raise ValueError(f"distributions lack columns {sorted(missing)}")
    frame = distributions.copy()
    frame["_size"] = frame[["history", "recommended"]].max(axis=1)
    frame = frame[frame["_size"] > 0].sort_values("_size", ascending=False, kind="stable")
    shown = frame.iloc[:max_categories]
    names = [str(c) for c in shown.index]
    kl = (
        shown["kl_term"].to_numpy(dtype=np.float64) if "kl_term" in shown.columns
        else np.full(len(shown), np.nan)
    )
    fig = go.Figure()
    for column, label, colour in (("history", "history p(g|u)", HISTORY_COLOUR),
                                  ("recommended", "recommended q(g|u)", RECOMMENDED_COLOUR)):
        fig.add_trace(
            go.Bar(
                x=names, y=shown[column].to_numpy(dtype=np.float64), name=label, marker={"color": colour},
                customdata=kl,
                hovertemplate="%{x}: %{y:.1%}<br>KL term %{customdata:.4f}<extra>" + label + "</extra>",
            )
        )
    subtitle = f"{len(frame) - len(shown)} smaller categories not shown" if len(frame) > len(shown) else ""
    fig.update_layout(
        title={"text": title + (f"<br><sup>{subtitle}</sup>" if subtitle else "")},
        barmode="group",
        xaxis={"title": {"text": "category"}},
        yaxis={"title": {"text": "share"}, "tickformat": ".0%", "rangemode": "tozero"},
    )
    return finish_layout(fig)


def group_exposure_chart(
    table: pd.DataFrame, title: str = "Exposure vs catalogue vs merit share", *, max_groups: int = MAX_BARS
) -> go.Figure:
    """Grouped bars per item group: exposure share, catalogue share and merit share (docs/metrics.md).

    ``exposure_share = Σ_{i∈g} x_i / Σ x_i`` (position-weighted), ``catalog_share = |g ∩ I| / |I|``,
    ``merit_share`` the share of test interactions; hover shows ``exposure_ratio`` (exposure / merit).
    The merit trace is left out when no merit is known (no test data).

    Args:
        table: ``group, n_items, exposure, exposure_share, catalog_share, merit_share, exposure_ratio``
            (``AuditResult.item_groups[...]``).
        max_groups: groups are sorted by their largest share and only the first are drawn.
    """
    missing = {"group", "exposure_share", "catalog_share"} - set(table.columns)
    if missing:
        raise ValueError(f"group table lacks columns {sorted(missing)}")
    frame = table.copy()
    if "merit_share" not in frame.columns:
        frame["merit_share"] = np.nan
    if "exposure_ratio" not in frame.columns:
        frame["exposure_ratio"] = np.nan
    shares = ["exposure_share", "catalog_share", "merit_share"]
    frame["_size"] = frame[shares].max(axis=1).fillna(0.0)
    frame = frame.sort_values("_size", ascending=False, kind="stable")
    shown = frame.iloc[:max_groups]
    names = shown["group"].astype(str).tolist()
    ratio = shown["exposure_ratio"].to_numpy(dtype=np.float64)
    fig = go.Figure()
    series = [
        ("exposure_share", "exposure", RECOMMENDED_COLOUR), ("catalog_share", "catalogue", EQUALITY_COLOUR)
    ]
    if shown["merit_share"].notna().any():
        series.append(("merit_share", "merit (test)", MERIT_COLOUR))
    for column, label, colour in series:
        fig.add_trace(
            go.Bar(
                x=names, y=shown[column].to_numpy(dtype=np.float64), name=label, marker={"color": colour},
                customdata=ratio,
                hovertemplate="%{x}: %{y:.1%} of " + label
                + "<br>exposure ratio %{customdata:.3f}<extra></extra>",
            )
        )
    subtitle = "exposure ratio = exposure share / merit share (1 = proportional to merit)"
    if len(frame) > len(shown):
        subtitle += f"; {len(frame) - len(shown)} smaller groups not shown"
    fig.update_layout(
        title={"text": f"{title}<br><sup>{subtitle}</sup>"},
        barmode="group",
        xaxis={"title": {"text": "group"}},
        yaxis={"title": {"text": "share"}, "tickformat": ".0%", "rangemode": "tozero"},
    )
    return finish_layout(fig)


def _ci_bounds(ci: pd.DataFrame, groups: list[str]) -> tuple[np.ndarray, np.ndarray]:
    for low_col, high_col in (("ci_low", "ci_high"), ("low", "high")):
        if {low_col, high_col} <= set(ci.columns):
            frame = ci.set_index("group") if "group" in ci.columns else ci
            frame = frame.set_axis(frame.index.astype(str)).reindex(groups)
            return frame[low_col].to_numpy(dtype=np.float64), frame[high_col].to_numpy(dtype=np.float64)
    raise ValueError("ci needs columns ci_low/ci_high (or low/high), indexed by group")


def group_metric_chart(
    user_groups: pd.DataFrame, metric: str, ci: pd.DataFrame | None = None, *, title: str | None = None
) -> go.Figure:
    """Bars of one user-level metric per user group, with group sizes and optional 95% CI error bars.

    Args:
        user_groups: ``AuditResult.user_groups[name]``: index ``group`` (or a ``group`` column),
            ``n_users`` and one column per user-level metric (the group mean over users with a value).
        metric: the column to draw, e.g. ``"ndcg@10"``.
        ci: optional interval per group: ``ci_low``/``ci_high`` (or ``low``/``high``) columns, indexed by
            group (or with a ``group`` column).
    """
    frame = user_groups.set_index("group") if "group" in user_groups.columns else user_groups
    if metric not in frame.columns:
        raise ValueError(f"no column {metric!r} in the group table; has {list(frame.columns)}")
    groups = [str(g) for g in frame.index]
    values = frame[metric].to_numpy(dtype=np.float64)
    n_users = frame["n_users"].to_numpy() if "n_users" in frame.columns else np.full(len(frame), np.nan)
    error_y = None
    if ci is not None:
        low, high = _ci_bounds(ci, groups)
        error_y = {
            "type": "data", "symmetric": False,
            "array": np.nan_to_num(high - values, nan=0.0),
            "arrayminus": np.nan_to_num(values - low, nan=0.0),
        }
    fig = go.Figure(
        go.Bar(
            x=groups, y=values, name=metric, error_y=error_y, customdata=n_users,
            marker={"color": HISTORY_COLOUR},
            text=[f"n={int(n)}" if np.isfinite(n) else "" for n in n_users.astype(np.float64)],
            textposition="auto",
            hovertemplate="%{x} (%{customdata} users)<br>" + metric + " %{y:.4f}<extra></extra>",
        )
    )
    index_name = frame.index.name if frame.index.name and frame.index.name != "group" else "user group"
    fig.update_layout(
        title={"text": title or f"{metric} per user group"},
        xaxis={"title": {"text": index_name}},
        yaxis={"title": {"text": metric}, "rangemode": "tozero"},
        showlegend=False,
    )
    return finish_layout(fig)


def frontier_chart(
    frontiers: dict[str, pd.DataFrame], x: str, y: str, *, title: str | None = None
) -> go.Figure:
    """Trade-off frontier of re-rankers: one line per re-ranker through its λ values, λ as point labels.

    Args:
        frontiers: re-ranker name -> frame with a ``lambda`` column and metric columns (one row per λ,
            as ``recaudit.workflows.audit.rerank_frontier`` returns).
        x, y: metric columns for the axes, e.g. ``"gini@10"`` and ``"ndcg@10"``.
    """
    fig = go.Figure()
    for name, frame in frontiers.items():
        for column in (x, y):
            if column not in frame.columns:
                raise ValueError(f"frontier {name!r} has no column {column!r}")
        part = frame.sort_values("lambda", kind="stable") if "lambda" in frame.columns else frame
        lambdas = (
            part["lambda"].to_numpy(dtype=np.float64) if "lambda" in part.columns
            else np.full(len(part), np.nan)
        )
        fig.add_trace(
            go.Scatter(
                x=part[x].to_numpy(dtype=np.float64), y=part[y].to_numpy(dtype=np.float64),
                mode="lines+markers+text", name=str(name),
                text=[f"λ={lam:g}" for lam in lambdas], textposition="top center", customdata=lambdas,
                hovertemplate="λ=%{customdata:g}<br>" + x + " %{x:.4f}<br>" + y + " %{y:.4f}",
            )
        )
    fig.update_layout(
        title={"text": title or f"Re-ranking trade-off: {y} vs {x}"},
        xaxis={"title": {"text": x}},
        yaxis={"title": {"text": y}},
    )
    return finish_layout(fig)


def _pct(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.1%}"


def _signed_pct(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:+.1%}"


def difference_chart(table: pd.DataFrame, *, title: str) -> go.Figure:
    """A forest plot of a comparison: each metric's B − A as a dot with its 95% interval as a bar, a line
    at 0; significant differences (p < 0.05) in the accent colour.

    Args:
        table: :attr:`recaudit.workflows.compare.Comparison.table` rows (``metric``, ``delta``,
            ``ci_low``, ``ci_high``, ``p_value``), one metric family at a time (their scales differ).
    """
    rows = table.iloc[::-1]  # the first metric on top
    delta = rows["delta"].to_numpy(np.float64)
    low = rows["ci_low"].to_numpy(np.float64)
    high = rows["ci_high"].to_numpy(np.float64)
    significant = rows["p_value"].to_numpy(np.float64) < 0.05
    names = [str(m) for m in rows["metric"]]
    fig = go.Figure()
    for flag, label, colour in (
        (False, "p ≥ 0.05", EQUALITY_COLOUR),
        (True, "p < 0.05", RECOMMENDED_COLOUR),
    ):
        pick = significant == flag
        if not pick.any():
            continue
        fig.add_trace(
            go.Scatter(
                x=delta[pick], y=[names[i] for i in np.flatnonzero(pick)], mode="markers", name=label,
                marker={"color": colour, "size": 9},
                error_x={"type": "data", "symmetric": False, "array": np.nan_to_num(high[pick] - delta[pick]),
                         "arrayminus": np.nan_to_num(delta[pick] - low[pick]), "color": colour},
                hovertemplate="%{y}: B − A = %{x:.4f}<extra></extra>",
            )
        )  # fmt: skip
    fig.add_vline(x=0, line={"color": "#616e7c", "width": 1})
    fig.update_layout(
        title=title,
        xaxis_title="B − A (95% interval)",
        height=max(260, 34 * len(names) + 140),
        yaxis={"categoryorder": "array", "categoryarray": names}, showlegend=True,
    )
    return finish_layout(fig)
