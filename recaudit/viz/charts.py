"""Pure chart builders: data in, plotly ``Figure`` out (no Streamlit, no CDN, no LaTeX).

Each builder takes plain arrays or a tidy DataFrame, never mutates it, and returns a
``plotly.graph_objects.Figure`` whose traces carry the data (so tests assert on ``fig.data``). Every builder
ends with :func:`recaudit.viz.layout.finish_layout`, the one layout that keeps legends, titles and tick labels
apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from recaudit.data.schema import DOMAIN
from recaudit.viz.layout import finish_layout

HEAD_COLOUR = "#0b6e4f"
TAIL_COLOUR = "#9aa5b1"
CUT_COLOUR = "#c0392b"
MAX_CURVE_POINTS = 2000


def head_size(counts: np.ndarray, head_share: float = 0.8) -> int:
    """Number of most-popular items that together hold at least ``head_share`` of all interactions.

    The short head of docs/metrics.md (Elliot): sort items by popularity φ(i) descending and take the
    smallest h with Σ_{r ≤ h} φ_(r) ≥ head_share · Σ_i φ(i). Returns 0 when there are no
    interactions. Only the count matters here, so ties need no item-id order.
    """
    if not 0.0 < head_share <= 1.0:
        raise ValueError(f"head_share must be in (0, 1], got {head_share}")
    ordered = np.sort(np.asarray(counts, dtype=np.float64).ravel())[::-1]
    total = ordered.sum()
    if total <= 0:
        return 0
    cumulative = np.cumsum(ordered)
    # a tiny tolerance keeps an exact 80% (e.g. 8 of 10) inside the head despite float sums
    return int(np.searchsorted(cumulative, head_share * total * (1 - 1e-12), side="left") + 1)


def log_spaced_indices(n: int, max_points: int) -> np.ndarray:
    """Indices 0..n-1 (of ranks 1..n) thinned to about ``max_points``, even on a log axis (ends kept)."""
    if n <= max_points:
        return np.arange(n)
    ranks = np.unique(np.geomspace(1, n, num=max_points).round().astype(np.int64))
    return ranks - 1


def popularity_curve(
    counts: np.ndarray,
    head_share: float = 0.8,
    title: str = "Item popularity (training interactions)",
    *,
    max_points: int = MAX_CURVE_POINTS,
) -> go.Figure:
    """Items ranked by popularity on log-log axes, the short head and long tail in two colours.

    Args:
        counts: training interactions per item φ(i), any order (item-row order from a bundle).
        head_share: the share of interactions the head holds (0.8: the 80% cut of docs/metrics.md).
        title: the figure title.
        max_points: above this many items the curve is thinned to log-spaced ranks (the shape on a
            log axis is kept; the cut rank and the totals are computed from every item).

    Returns:
        A figure with traces ``head`` (ranks 1..h), ``tail`` (ranks h+1..n with φ > 0) and
        ``cut`` (a vertical line at rank h); x is the 1-based rank, y the count. Items with no
        interactions cannot sit on a log axis; their number is given in the x-axis title.
    """
    values = np.asarray(counts, dtype=np.int64).ravel()
    if (values < 0).any():
        raise ValueError("popularity counts must be non-negative")
    ordered = np.sort(values)[::-1]
    n_zero = int((ordered == 0).sum())
    positive = ordered[ordered > 0]
    h = head_size(values, head_share)
    ranks = np.arange(1, len(positive) + 1)
    keep = log_spaced_indices(len(positive), max_points)
    head_idx = keep[keep < h]
    tail_idx = keep[keep >= h]
    total = max(int(positive.sum()), 1)
    share = np.cumsum(positive) / total

    def trace(idx: np.ndarray, name: str, colour: str) -> go.Scatter:
        return go.Scatter(
            x=ranks[idx],
            y=positive[idx],
            customdata=share[idx],
            mode="lines+markers" if len(idx) < 60 else "lines",
            name=name,
            line={"color": colour},
            hovertemplate="rank %{x}<br>%{y} interactions<br>cumulative share %{customdata:.1%}"
            "<extra></extra>",
        )

    fig = go.Figure()
    fig.add_trace(trace(head_idx, "head", HEAD_COLOUR))
    fig.add_trace(trace(tail_idx, "tail", TAIL_COLOUR))
    if h > 0:
        top = float(positive[0])
        fig.add_trace(
            go.Scatter(
                x=[h, h],
                y=[max(float(positive[-1]), 1.0), top],
                mode="lines",
                name="cut",
                line={"color": CUT_COLOUR, "dash": "dash"},
                hovertemplate=(
                    f"head: top {h} of {len(values)} items hold {head_share:.0%} of interactions"
                    "<extra></extra>"
                ),
            )
        )
    subtitle = f"head: {h} of {len(values)} items hold {head_share:.0%} of interactions"
    x_title = "item rank (most popular first)"
    if n_zero:
        x_title += f"; {n_zero} items without interactions not shown"
    fig.update_layout(
        title={"text": f"{title}<br><sup>{subtitle}</sup>"},
        xaxis={"type": "log", "title": {"text": x_title}},
        yaxis={"type": "log", "title": {"text": "training interactions"}},
    )
    return finish_layout(fig)


def domain_counts_bar(
    frame: pd.DataFrame,
    *,
    columns: list[str] | None = None,
    title: str = "Counts per domain",
) -> go.Figure:
    """Grouped bars: one trace per count column, one group per domain.

    Args:
        frame: one row per domain, a ``domain`` column and numeric count columns (e.g. ``users``,
            ``items``, ``train``, ``test``); a row named ``all`` (a total) is left out.
        columns: the count columns to draw (default: every numeric column).
        title: the figure title.
    """
    if DOMAIN not in frame.columns:
        raise ValueError(f"frame needs a '{DOMAIN}' column, has {list(frame.columns)}")
    rows = frame[frame[DOMAIN].astype(str) != "all"]
    if columns is None:
        columns = [
            c for c in rows.columns if c != DOMAIN and pd.api.types.is_numeric_dtype(rows[c])
        ]
    fig = go.Figure()
    for column in columns:
        fig.add_trace(
            go.Bar(
                x=rows[DOMAIN].astype(str).tolist(),
                y=pd.to_numeric(rows[column]).fillna(0).to_numpy(),
                name=column,
                hovertemplate="%{x}: %{y:,} " + column + "<extra></extra>",
            )
        )
    fig.update_layout(
        title={"text": title},
        barmode="group",
        yaxis={"type": "log", "title": {"text": "count (log)"}},
        xaxis={"title": {"text": DOMAIN}},
    )
    return finish_layout(fig)


def metric_comparison_bar(frame: pd.DataFrame, *, title: str = "Held-out accuracy") -> go.Figure:
    """Grouped bars comparing systems on each metric.

    Args:
        frame: one row per metric name (e.g. ``recall@10``) as the index, one column per system
            (e.g. ``model``, ``popularity``), values in [0, 1].
        title: the figure title.
    """
    fig = go.Figure()
    for system in frame.columns:
        fig.add_trace(
            go.Bar(
                x=[str(m) for m in frame.index],
                y=pd.to_numeric(frame[system]).to_numpy(dtype=np.float64),
                name=str(system),
                hovertemplate="%{x}: %{y:.4f}<extra>" + str(system) + "</extra>",
            )
        )
    fig.update_layout(
        title={"text": title},
        barmode="group",
        yaxis={"title": {"text": "value"}, "rangemode": "tozero"},
    )
    return finish_layout(fig)


def _epoch_line(part: pd.DataFrame, column: str, name: str, **style: object) -> go.Scatter:
    """``column`` of one training phase against its epochs, as lines and markers."""
    return go.Scatter(
        x=part["epoch"].to_numpy(),
        y=part[column].to_numpy(dtype=np.float64),
        mode="lines+markers",
        name=name,
        **style,
    )


def training_curve(history: list[dict], best_epoch: int | None = None) -> go.Figure:
    """Loss (left axis) and validation recall (right axis) per epoch, one line per training phase.

    Args:
        history: one dict per epoch as the trainer reports it (``phase``, ``epoch``, ``loss`` and
            optionally ``valid_recall``); a phase is e.g. ``fit`` (with validation) or ``refit``.
        best_epoch: the kept epoch of the ``fit`` phase, marked with a vertical dotted line.
    """
    frame = pd.DataFrame(history)
    fig = go.Figure()
    if frame.empty or "epoch" not in frame.columns:
        fig.update_layout(title={"text": "Training curve (no history)"})
        return finish_layout(fig)
    if "phase" not in frame.columns:
        frame["phase"] = "fit"
    for phase, part in frame.groupby("phase", sort=False):
        if "loss" in part.columns:
            fig.add_trace(_epoch_line(part, "loss", f"loss ({phase})"))
        if "valid_recall" in part.columns and part["valid_recall"].notna().any():
            name = f"validation recall ({phase})"
            fig.add_trace(_epoch_line(part, "valid_recall", name, yaxis="y2", line={"dash": "dot"}))
    if best_epoch:
        fig.add_vline(x=best_epoch, line={"dash": "dot", "color": CUT_COLOUR})
    fig.update_layout(
        title={"text": "Training curve" + (f" (best epoch {best_epoch})" if best_epoch else "")},
        xaxis={"title": {"text": "epoch"}, "dtick": 1},
        yaxis={"title": {"text": "loss"}},
        yaxis2={"title": {"text": "validation recall"}, "overlaying": "y", "side": "right"},
    )
    return finish_layout(fig)


def transfer_bucket_bars(
    rows: pd.DataFrame, *, value: str, title: str, percent: bool = True, colour: str = HEAD_COLOUR
) -> go.Figure:
    """Bars per target-interaction bucket with their bootstrap interval (``value``, ``value_low``,
    ``value_high`` columns; ``label`` names the bucket): the Cross-domain page's lift and negative-transfer
    charts. A zero line marks "no change"."""
    y = pd.to_numeric(rows[value]).to_numpy(np.float64)
    low = pd.to_numeric(rows[f"{value}_low"]).to_numpy(np.float64)
    high = pd.to_numeric(rows[f"{value}_high"]).to_numpy(np.float64)
    fmt = ".0%" if percent else ".3f"
    fig = go.Figure(
        go.Bar(
            x=rows["label"].astype(str).tolist(),
            y=y,
            marker_color=colour,
            error_y={"type": "data", "symmetric": False, "array": high - y, "arrayminus": y - low},
            hovertemplate="%{x}: %{y:" + fmt + "}<extra></extra>",
            name=value,
        )
    )
    fig.add_hline(y=0, line_color=TAIL_COLOUR, line_width=1)
    fig.update_layout(
        title={"text": title},
        showlegend=False,
        xaxis={"title": {"text": "training interactions in the target (users)"}},
        yaxis={"tickformat": fmt},
    )
    return finish_layout(fig)
