"""Exposure-over-time charts: the tables of :class:`recaudit.metrics.windows.WindowedAudit` in, plotly out.

One x axis for all three, the window's first day; each line is one metric, item group or user group, with the
same definitions as the whole-log audit (docs/metrics.md "Comparing two models, and time windows"). Pure
builders, like :mod:`recaudit.viz.audit_charts`: they never mutate their input, and the traces carry the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from recaudit.viz.layout import finish_layout

__all__ = ["window_lift_chart", "window_metrics_chart", "window_shares_chart"]

X_AXIS = {
    "title": {"text": "window (first day, UTC)"}, "type": "category", "categoryorder": "category ascending",
}
"""Windows as categories in date order (``YYYY-MM-DD`` sorts as time), so a line missing a window keeps
the others' order."""
MAX_GROUPS = 8
"""Item groups drawn one line each (the largest by total exposure); the rest are summed as "other"."""


def _axis_dates(frame: pd.DataFrame) -> list[str]:
    return pd.to_datetime(frame["window"]).dt.strftime("%Y-%m-%d").tolist()


def window_metrics_chart(metrics: pd.DataFrame, names: Sequence[str], *, title: str) -> go.Figure:
    """One line per catalogue metric (``names``, columns of ``metrics``) over the windows, with each
    window's number of lists in the hover."""
    missing = {"window", "lists", *names} - set(metrics.columns)
    if missing:
        raise ValueError(f"window metrics lack columns {sorted(missing)}")
    ordered = metrics.sort_values("window")
    x = _axis_dates(ordered)
    fig = go.Figure()
    for name in names:
        fig.add_trace(
            go.Scatter(
                x=x, y=ordered[name].to_numpy(dtype=np.float64), name=name, mode="lines+markers",
                customdata=ordered["lists"].to_numpy(),
                hovertemplate=f"{name} %{{y:.4f}}<br>from %{{x}} (%{{customdata}} lists)<extra></extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        title={"text": title}, xaxis=X_AXIS,
        yaxis={"title": {"text": "value"}, "rangemode": "tozero"},
    )  # fmt: skip
    return finish_layout(fig)


def window_shares_chart(groups: pd.DataFrame, column: str, *, title: str) -> go.Figure:
    """Each item group's position-weighted exposure share per window (lines), for the groups of ``column``;
    beyond :data:`MAX_GROUPS` groups the smaller ones are summed as "other"."""
    rows = groups[groups["column"] == column]
    if rows.empty:
        raise ValueError(f"no group shares for column {column!r}")
    totals = rows.groupby("group")["exposure_share"].sum().sort_values(ascending=False)
    kept = list(totals.index[:MAX_GROUPS])
    labelled = rows.assign(group=rows["group"].where(rows["group"].isin(kept), "other"))
    shares = labelled.pivot_table(index="window", columns="group", values="exposure_share", aggfunc="sum")
    shares = shares.sort_index()
    x = pd.to_datetime(pd.Series(shares.index)).dt.strftime("%Y-%m-%d").tolist()
    fig = go.Figure()
    for group in [*kept, *(["other"] if "other" in shares.columns else [])]:
        fig.add_trace(
            go.Scatter(
                x=x, y=shares[group].fillna(0.0).to_numpy(dtype=np.float64), name=str(group),
                mode="lines+markers",
                hovertemplate="%{fullData.name}: %{y:.1%} of exposure<br>%{x}<extra></extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        title={"text": title}, xaxis=X_AXIS,
        yaxis={"title": {"text": "exposure share"}, "tickformat": ".0%", "rangemode": "tozero"},
    )  # fmt: skip
    return finish_layout(fig)


def window_lift_chart(lift: pd.DataFrame, *, title: str) -> go.Figure:
    """ΔGAP per user group over the windows (Abdollahpouri et al. 2020; > 0: the lists are more popular
    than the group's taste), with each group's number of users in the hover."""
    missing = {"window", "group", "delta_gap"} - set(lift.columns)
    if missing:
        raise ValueError(f"window lift lacks columns {sorted(missing)}")
    fig = go.Figure()
    for group, rows in lift.sort_values("window").groupby("group", sort=False):
        users = rows["n_users"].to_numpy() if "n_users" in rows.columns else np.full(len(rows), np.nan)
        fig.add_trace(
            go.Scatter(
                x=_axis_dates(rows), y=rows["delta_gap"].to_numpy(dtype=np.float64), name=str(group),
                mode="lines+markers", customdata=users,
                hovertemplate="%{fullData.name}: ΔGAP %{y:.1%} (%{customdata} users)<br>%{x}"
                "<extra></extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        title={"text": title}, xaxis=X_AXIS,
        yaxis={"title": {"text": "ΔGAP"}, "tickformat": ".0%"},
    )  # fmt: skip
    return finish_layout(fig)
