"""One layout for every figure: nothing collides with a label at the widths the app and the report use.

Every builder in :mod:`recaudit.viz` ends with :func:`finish_layout`, so the rules live in one place:

* **Legend in its own strip.** By default a horizontal legend anchored to the bottom of the figure
  (``yref="container"``): plotly reserves that strip on top of the margin the x axis needs, so the legend
  sits below the x-axis title and never covers it or the tick labels, however many rows it wraps to.
  A figure whose height matters more than its width (the embedding map) takes ``legend="right"``.
* **Titles that push the margins.** The chart title sits above the plot area with ``automargin`` (so its
  subtitle lines are never cut), and every axis has ``automargin`` (tick labels and axis titles push the
  plot area in instead of spilling out of the SVG). Long title lines are wrapped.
* **Readable log ticks.** A log axis gets explicit ticks on a 1-2-5 (or decade) grid covering its data,
  labelled ``1, 2, 5, 10, …, 1k, 10k, 1M``: plotly's automatic labels on a short log range print values
  such as ``1,125.781`` or ``10.09268`` beside single digits. A second (overlaying) y axis gets its own
  round ticks and no second grid (Streamlit's theme would sync it to the first axis: ``0.2375``).
* **Short category labels.** Category tick labels longer than ``max_label_chars`` are shortened with an
  ellipsis in ``ticktext``; the trace keeps the full name as its x value, so the hover (``%{x}``) shows
  it in full. Hover labels never cut trace names (``hoverlabel.namelength = -1``).
* **Colour bar beside the legend.** When a figure has both, the colour bar is laid horizontally in a
  strip of its own (below the plot when the legend is on the right; vertical at the right otherwise).

The functions here are pure: a figure in, the same figure (changed in place and returned) out.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go

__all__ = [
    "LABEL_CHARS",
    "finish_layout",
    "log_ticks",
    "shorten_label",
    "tick_label",
    "wrap_title",
]

LABEL_CHARS = 14
"""Category tick labels longer than this are shortened (``"Metro-Goldwyn…"``); the hover shows them whole."""
TITLE_CHARS = 60
"""Main title lines are wrapped at this many characters (fits a half-width column at 1400 px)."""
SUBTITLE_CHARS = 84
"""``<sup>`` subtitle lines (smaller font) are wrapped at this many characters."""
X_TITLE_CHARS = 60
Y_TITLE_CHARS = 40
"""A y-axis title runs along the plot's height, which is shorter than its width."""
ELLIPSIS = "…"
MANTISSA_GRIDS: tuple[tuple[int, ...], ...] = ((1,), (1, 2, 5), (1, 2, 3, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9))
"""Log tick grids, coarsest first: decades, then 1-2-5, 1-2-3-5, then every integer mantissa."""
MIN_LOG_TICKS = 3
MAX_LOG_TICKS = 10
SUFFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_AXIS_KEY = re.compile(r"^(x|y)axis(\d*)$")
_SUP = re.compile(r"^<sup>(.*)</sup>$", re.DOTALL)
_VISIBLE_CHAR = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);|.", re.DOTALL)
"""One character as plotly shows it: an HTML entity or a single code point."""


def tick_label(value: float) -> str:
    """A short tick label: ``1``, ``20``, ``500``, ``1k``, ``2.5M``, ``0.05`` (at most 3 significant digits).

    Values of a thousand and more take an SI suffix (k, M, G, T), so a log axis never prints ``1,000,000``;
    beyond 10^15 and below 10^-4 the label is scientific (``1e15``, ``2e-5``).
    """
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1e15 or 0 < magnitude < 1e-4:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{float(mantissa):.3g}e{int(exponent)}"
    for scale, suffix in SUFFIXES:
        if magnitude >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _grid(low: float, high: float, mantissas: tuple[int, ...]) -> list[float]:
    """``m · 10^e`` for every mantissa and every decade of ``low..high``, one decade beyond each end
    (decades alone are thinned to every n-th, aligned, so that at most :data:`MAX_LOG_TICKS` remain)."""
    first, last = math.floor(math.log10(low)), math.floor(math.log10(high))
    step = 1
    if len(mantissas) == 1:
        step = max(1, math.ceil((last - first + 3) / MAX_LOG_TICKS))
    start, stop = (first // step) * step - step, (last // step) * step + step
    return [float(f"{m}e{e}") for e in range(start, stop + 1, step) for m in mantissas]


def log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Tick values and labels for a log axis showing ``low..high`` (both > 0).

    Takes the coarsest grid of :data:`MANTISSA_GRIDS` (decades 1, 10, 100…; then 1, 2, 5, 10, 20…; then
    1, 2, 3, 5…; then every integer mantissa) that puts at least :data:`MIN_LOG_TICKS` ticks inside
    ``[low, high]`` (a range too narrow for even the finest grid also gets its two ends, rounded to two
    significant digits), and
    adds the nearest grid tick beyond each end, so the padding plotly adds around the data still gets a
    labelled tick. Returns two empty lists when the range has no positive finite part (plotly then keeps
    its automatic ticks).
    """
    if not (math.isfinite(low) and math.isfinite(high)) or high <= 0:
        return [], []
    low = min(low, high) if low > 0 else high
    lo, hi = low * (1 - 1e-9), high * (1 + 1e-9)
    values: list[float] = []
    inside: list[float] = []
    for mantissas in MANTISSA_GRIDS:
        values = _grid(low, high, mantissas)
        inside = [v for v in values if lo <= v <= hi]
        if len(inside) >= MIN_LOG_TICKS:
            break
    if len(inside) < 2:
        inside = sorted({*inside, float(f"{low:.2g}"), float(f"{high:.2g}")})
    below = [v for v in values if v < min(lo, inside[0])][-1:]
    above = [v for v in values if v > max(hi, inside[-1])][:1]
    kept = below + inside + above
    return kept, [tick_label(v) for v in kept]


def shorten_label(text: str, max_chars: int = LABEL_CHARS) -> str:
    """``text`` cut to ``max_chars`` visible characters with a trailing ellipsis (unchanged when it fits).

    An HTML entity (``&amp;``, ``&lt;``, ``&#39;``: data escaped for plotly, which decodes them) counts as
    the one character it shows and is never cut in half.
    """
    if max_chars < 2:
        raise ValueError(f"max_chars must be at least 2, got {max_chars}")
    shown = _VISIBLE_CHAR.findall(text)
    if len(shown) <= max_chars:
        return text
    return "".join(shown[: max_chars - 1]).rstrip() + ELLIPSIS


def _pack(text: str, limit: int) -> list[str]:
    """``text`` in lines of at most ``limit`` characters: whole ``"; "`` clauses first (a finding such as
    "35 smaller groups not shown" stays on one line), words within a clause that is longer on its own."""
    lines: list[str] = []
    current = ""
    for clause in text.split("; "):
        candidate = f"{current}; {clause}" if current else clause
        if current and len(candidate) > limit:
            lines.append(current + ";")
            current = clause
        else:
            current = candidate
    lines.append(current)
    out: list[str] = []
    for line in lines:
        out.extend(textwrap.wrap(line, limit, break_long_words=False, break_on_hyphens=False) or [line])
    return out


def wrap_title(text: str, width: int, sub_width: int | None = None) -> str:
    """Wrap each ``<br>``-separated line of a plotly title at ``width`` characters (``<sup>`` lines at
    ``sub_width``), keeping a ``<sup>…</sup>`` line's tags on each of its wrapped pieces.

    Lines break between ``"; "`` clauses where possible, else between words (a longer word stays whole),
    so markup inside a line is kept; joining the pieces with a space gives the original line back.
    """
    sub_width = sub_width or width
    out: list[str] = []
    for line in text.split("<br>"):
        sup = _SUP.match(line)
        inner, limit = (sup.group(1), sub_width) if sup else (line, width)
        out.extend(f"<sup>{p}</sup>" if sup else p for p in _pack(inner, limit))
    return "<br>".join(out)


def _axis_names(fig: go.Figure) -> list[str]:
    """Layout keys of every cartesian axis the figure uses (``xaxis``, ``yaxis``, ``yaxis2``…)."""
    names = {"xaxis", "yaxis"}
    names.update(key for key in fig.layout.to_plotly_json() if _AXIS_KEY.match(key))
    for trace in fig.data:
        for letter in ("x", "y"):
            ref = getattr(trace, f"{letter}axis", None) if f"{letter}axis" in trace else None
            if ref:
                names.add(f"{letter}axis{ref[1:]}")
    return sorted(names)


def _axis_values(fig: go.Figure, axis: str) -> list[Any]:
    """The data of every trace drawn against ``axis`` (its x values for an x axis, y for a y axis)."""
    letter, number = _AXIS_KEY.match(axis).groups()
    ref = letter + number
    values: list[Any] = []
    for trace in fig.data:
        if f"{letter}axis" not in trace:
            continue
        if (getattr(trace, f"{letter}axis") or letter) != ref:
            continue
        data = getattr(trace, letter, None)
        if data is not None:
            values.extend(np.asarray(data, dtype=object).ravel().tolist())
    return values


def _positive_range(values: Iterable[Any]) -> tuple[float, float] | None:
    numbers = []
    for value in values:
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number) and number > 0:
            numbers.append(number)
    return (min(numbers), max(numbers)) if numbers else None


def _categories(values: list[Any]) -> list[str]:
    """The distinct string values in first-seen order, or ``[]`` when any value is not a string."""
    if not values or not all(isinstance(v, str) for v in values):
        return []
    return list(dict.fromkeys(values))


def _legend_entries(fig: go.Figure) -> int:
    return sum(1 for trace in fig.data if trace.showlegend is not False)


def _has_colorbar(fig: go.Figure) -> list[Any]:
    bars = []
    for trace in fig.data:
        marker = getattr(trace, "marker", None)
        if marker is not None and getattr(marker, "showscale", None):
            bars.append(marker)
    return bars


def finish_layout(
    fig: go.Figure,
    *,
    legend: Literal["bottom", "right"] = "bottom",
    max_label_chars: int = LABEL_CHARS,
) -> go.Figure:
    """Apply the shared collision-free layout (module docstring) to ``fig`` and return it.

    Args:
        fig: a finished figure of one of the builders (title, axes and traces set).
        legend: ``"bottom"`` (a horizontal legend in a strip below the x-axis title) or ``"right"`` (a
            vertical legend right of the plot, for tall figures with many legend entries).
        max_label_chars: category tick labels longer than this are shortened in ``ticktext``.

    Idempotent: applying it twice gives the same layout.
    """
    layout = fig.layout
    title = layout.title.text if layout.title is not None else None
    if title:
        fig.update_layout(
            title={
                "text": wrap_title(title, TITLE_CHARS, SUBTITLE_CHARS),
                "x": 0, "xanchor": "left", "xref": "paper",
                "y": 1, "yanchor": "bottom", "yref": "paper",
                "automargin": True, "pad": {"b": 12},
            }
        )
    margin = layout.margin.to_plotly_json() if layout.margin is not None else {}
    base = 10
    fig.update_layout(
        margin={"l": margin.get("l", base), "r": margin.get("r", base), "t": base, "b": base},
        hoverlabel={"namelength": -1},
    )

    shows_legend = layout.showlegend is not False and (
        layout.showlegend is True or _legend_entries(fig) > 1
    )
    if shows_legend and legend == "bottom":
        fig.update_layout(
            legend={
                "orientation": "h", "x": 0, "xanchor": "left", "xref": "paper",
                "y": 0, "yanchor": "bottom", "yref": "container",
            }
        )
    elif shows_legend:
        fig.update_layout(
            legend={
                "orientation": "v", "x": 1.02, "xanchor": "left", "xref": "paper",
                "y": 1, "yanchor": "top", "yref": "paper",
            }
        )
    for marker in _has_colorbar(fig):
        if shows_legend and legend == "right":
            marker.colorbar.update(
                orientation="h", x=0.5, xanchor="center", xref="paper", y=0, yanchor="bottom",
                yref="container", thickness=12, len=0.6, title={"side": "top"},
            )
        else:
            marker.colorbar.update(x=1.02, xanchor="left", xref="paper")

    for name in _axis_names(fig):
        axis = layout[name]
        update: dict[str, Any] = {"automargin": True}
        if axis.overlaying:
            # its own round ticks (Streamlit's theme syncs them to the first axis: 0.2375, 0.175...)
            # and no second grid on other tick values
            update.update(showgrid=False, tickmode="auto")
        axis_title = axis.title.text if axis.title is not None else None
        if axis_title:
            width = X_TITLE_CHARS if name.startswith("x") else Y_TITLE_CHARS
            update["title"] = {"text": wrap_title(axis_title, width)}
        values = _axis_values(fig, name)
        if axis.type == "log":
            span = _positive_range(values)
            if span is not None:
                ticks, labels = log_ticks(*span)
                update.update(tickmode="array", tickvals=ticks, ticktext=labels)
        elif axis.showticklabels is not False and (names := _categories(values)):
            update["type"] = "category"
            if any(len(n) > max_label_chars for n in names):
                update.update(
                    tickmode="array", tickvals=names,
                    ticktext=[shorten_label(n, max_label_chars) for n in names],
                )
        axis.update(update)
    return fig
