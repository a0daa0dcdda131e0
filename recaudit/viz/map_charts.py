"""The embedding map as a plotly figure: item points in 2-D, the selected user's items on top.

Pure (no Streamlit): arrays in, ``go.Figure`` out, so the page, the report and the tests share it. Built for
tens of thousands of points (notes/streamlit.md §5):

* every trace is a ``go.Scattergl`` (one WebGL context per chart);
* coordinates travel as float32 and the per-point hover data as one integer ``customdata`` array
  ``[row, popularity, exposure]`` (plotly 7 sends numpy arrays base64-encoded, typed);
* the category/domain/provider/decile a point is coloured by is its trace's name (one trace per group), so
  the hover needs no per-point category string; titles are sent as per-point text only for small maps
  (``hover_titles``, at most :data:`MAX_HOVER_TITLES` points by default), the selection table shows them
  for any size.

A selection on the chart is mapped back to catalogue rows with :func:`selected_rows`, which reads the
``customdata`` of each selected point (never its position in a trace). Maps too large to draw point by point
(:mod:`recaudit.views.density`) add a density layer (``density=``: one ``go.Heatmap`` of points per cell,
log-shaded, under the points) and read the box or lasso drawn on it with :func:`selected_region`, to drill
down to the actual points of that region. The same builder draws user maps (``hover_labels``). The legend
sits right of the map and a colour bar below it (:func:`recaudit.viz.layout.finish_layout`), so the two
never overlap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from recaudit.views.density import DensityGrid, Region
from recaudit.viz.layout import finish_layout

__all__ = [
    "MAX_HOVER_TITLES",
    "OTHER",
    "MapOverlay",
    "density_trace",
    "exposure_sizes",
    "focus_range",
    "group_labels",
    "item_map_figure",
    "selected_region",
    "selected_rows",
    "zoom_to",
]

MAX_HOVER_TITLES = 20_000
"""Above this many points the main cloud's hover shows row, group, popularity and exposure, not titles."""
OTHER = "other"
"""The label of the groups beyond ``max_groups`` (the rarest ones), merged into one trace."""
NO_GROUP = "(none)"
PALETTE = (
    "#4c72b0",
    "#dd8452",
    "#55a868",
    "#c44e52",
    "#8172b3",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
    "#ccb974",
    "#64b5cd",
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
)
OTHER_COLOUR = "#c7c7c7"
MIN_SIZE, MAX_SIZE, BASE_SIZE = 3.0, 14.0, 4.0


@dataclass(frozen=True)
class MapOverlay:
    """Points drawn on top of the item cloud (the user's history, recommendations, a found item, the user).

    ``rows`` are the catalogue rows of the points (``-1`` for a point that is no item, e.g. the user's
    position; such a point is never reported by :func:`selected_rows`); ``labels`` are short hover texts,
    one per point (an overlay is small, so per-point text is fine here).
    """

    name: str
    xy: np.ndarray
    rows: np.ndarray
    colour: str
    symbol: str = "circle"
    size: float = 10.0
    labels: Sequence[str] | None = None
    line_colour: str = "#222222"


def group_labels(values: Sequence[Any] | np.ndarray, max_groups: int = 12) -> np.ndarray:
    """String labels for colouring: the ``max_groups`` most frequent values kept, the rest :data:`OTHER`.

    Missing values (None/NaN/empty) become ``"(none)"``. Ties in frequency are broken by label so the
    result does not depend on row order.
    """
    raw = np.asarray(values, dtype=object).ravel()
    labels = np.array(
        [NO_GROUP if v is None or (isinstance(v, float) and v != v) or str(v) == "" else str(v) for v in raw],
        dtype=object,
    )
    if labels.size == 0:
        return labels
    names, counts = np.unique(labels.astype(str), return_counts=True)
    if names.size <= max_groups:
        return labels
    order = sorted(range(names.size), key=lambda i: (-counts[i], names[i]))
    keep = set(names[order[:max_groups]].tolist())
    return np.where(np.isin(labels.astype(str), list(keep)), labels, OTHER)


def exposure_sizes(
    exposure: np.ndarray, min_size: float = MIN_SIZE, max_size: float = MAX_SIZE
) -> np.ndarray:
    """Marker sizes growing with the square root of exposure (area ∝ exposure), in [min_size, max_size].

    size = min_size + (max_size − min_size) · √(e / max e); all ``min_size`` when nothing is exposed.
    """
    values = np.clip(np.asarray(exposure, dtype=np.float64).ravel(), 0.0, None)
    top = values.max() if values.size else 0.0
    if top <= 0:
        return np.full(values.size, min_size, dtype=np.float32)
    return (min_size + (max_size - min_size) * np.sqrt(values / top)).astype(np.float32)


def focus_range(
    xy: np.ndarray, centre: tuple[float, float], share: float = 0.08
) -> tuple[list[float], list[float]]:
    """Axis ranges of a zoom around ``centre``: ± ``share`` of the larger data span (at least 1e-6)."""
    points = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    span = float(np.ptp(points, axis=0).max()) if len(points) else 1.0
    radius = max(share * span, 1e-6)
    x, y = float(centre[0]), float(centre[1])
    return [x - radius, x + radius], [y - radius, y + radius]


def _customdata(rows: np.ndarray, popularity: np.ndarray, exposure: np.ndarray | None) -> np.ndarray:
    """``[n, 3]`` int64: catalogue row, popularity, exposure (−1 when unknown)."""
    out = np.full((rows.size, 3), -1, dtype=np.int64)
    out[:, 0] = rows
    out[:, 1] = np.rint(popularity).astype(np.int64)
    if exposure is not None:
        out[:, 2] = np.rint(exposure).astype(np.int64)
    return out


def _hovertemplate(
    with_titles: bool,
    with_exposure: bool,
    group_name: str | None,
    labels: tuple[str, str] = ("popularity", "exposure"),
) -> str:
    lines = ["<b>%{text}</b>"] if with_titles else []
    lines.append("row %{customdata[0]}")
    if group_name:
        lines.append(f"{group_name}: %{{fullData.name}}")
    lines.append(f"{labels[0]} %{{customdata[1]}}")
    if with_exposure:
        lines.append(f"{labels[1]} %{{customdata[2]}}")
    return "<br>".join(lines) + "<extra></extra>"


def density_trace(grid: DensityGrid, what: str = "items") -> go.Heatmap:
    """The density layer: one heatmap cell per grid cell, shaded by log10(count), empty cells transparent.

    The shade is log-scaled (a few dense clusters would otherwise hide the long tail); the hover says the
    exact count. No colour scale is shown (the legend and a colour bar of the points keep their places);
    the page's caption says what the shade means. float32 z and int32 counts keep the payload small
    (256 x 256 cells: about 0.5 MB whatever the number of points).
    """
    counts = np.asarray(grid.counts)
    shade = np.where(counts > 0, np.log10(np.maximum(counts, 1)) + 0.3, np.nan).astype(np.float32)
    x, y = grid.centres()
    return go.Heatmap(
        z=shade,
        x=x,
        y=y,
        customdata=counts.astype(np.int32),
        colorscale=[[0.0, "#eef1f5"], [1.0, "#3b4252"]],
        zmin=0.0,
        showscale=False,
        name=f"density of all {what}",
        hovertemplate=f"%{{customdata:,}} {what} in this cell<extra></extra>",
        hoverongaps=False,
    )


def item_map_figure(
    xy: np.ndarray,
    rows: np.ndarray,
    *,
    popularity: np.ndarray,
    groups: Sequence[Any] | np.ndarray | None = None,
    group_name: str = "category",
    colour_values: np.ndarray | None = None,
    colour_label: str = "exposure",
    exposure: np.ndarray | None = None,
    size_by_exposure: bool = False,
    titles: Sequence[str] | np.ndarray | None = None,
    hover_titles: bool | None = None,
    overlays: Sequence[MapOverlay] = (),
    focus: tuple[float, float] | None = None,
    max_groups: int = 12,
    title: str = "",
    colours: Mapping[str, str] | None = None,
    height: int = 650,
    density: DensityGrid | None = None,
    density_of: str = "items",
    hover_labels: tuple[str, str] = ("popularity", "exposure"),
    base_name: str = "items",
    dragmode: str | None = None,
) -> go.Figure:
    """The embedding map: a density layer when given, one Scattergl trace per colour group, then the
    overlays on top.

    Args:
        xy: ``[n, 2]`` map coordinates of the shown items (sent as float32).
        rows: ``[n]`` their catalogue rows (the selection is mapped back through them).
        popularity: ``[n]`` training interactions φ(i) of each shown item (hover).
        groups: ``[n]`` labels to colour by (category, domain, provider, decile...): one trace per label,
            the ``max_groups`` most frequent kept and the rest merged into :data:`OTHER`.
        group_name: what ``groups`` are, for the hover.
        colour_values: ``[n]`` numbers to colour by instead (e.g. exposure): one trace with a colour bar.
            Ignored when ``groups`` is given.
        colour_label: the colour bar's title.
        exposure: ``[n]`` exposure (number of recommendation lists holding the item), for hover and size.
        size_by_exposure: marker size from :func:`exposure_sizes` (needs ``exposure``).
        titles: ``[n]`` item titles; shown in the hover when ``hover_titles`` (default: when
            n ≤ :data:`MAX_HOVER_TITLES`).
        overlays: :class:`MapOverlay` traces drawn above the cloud, in order.
        focus: a point to zoom to (axis ranges from :func:`focus_range`).
        max_groups: groups kept before merging into :data:`OTHER`.
        title: figure title.
        colours: fixed colours per group label (others from a palette, in label order).
        height: figure height in px.
        density: a :class:`~recaudit.views.density.DensityGrid` of all points, drawn under the shown ones
            (:func:`density_trace`); the drag mode then defaults to a box (the drill-down gesture).
        density_of: what the grid counts, for its hover (``"items"``, ``"users"``).
        hover_labels: names of ``popularity`` and ``exposure`` in the hover (a user map passes
            ``("interactions", "mean item popularity")``).
        base_name: the trace name of an uncoloured cloud.
        dragmode: plotly drag mode (default ``"lasso"``, ``"select"`` with a density layer).
    """
    colours = colours or {}
    points = np.asarray(xy, dtype=np.float32).reshape(-1, 2)
    rows = np.asarray(rows, dtype=np.int64).ravel()
    pop = np.asarray(popularity, dtype=np.float64).ravel()
    n = len(points)
    if rows.size != n or pop.size != n:
        raise ValueError(f"xy has {n} points but rows has {rows.size} and popularity {pop.size}")
    expo = None if exposure is None else np.asarray(exposure, dtype=np.float64).ravel()
    if expo is not None and expo.size != n:
        raise ValueError(f"exposure has {expo.size} values for {n} points")
    with_titles = titles is not None and (hover_titles if hover_titles is not None else n <= MAX_HOVER_TITLES)
    text = np.asarray(titles, dtype=object).astype(str) if with_titles else None
    custom = _customdata(rows, pop, expo)
    sizes = exposure_sizes(expo) if size_by_exposure and expo is not None else None

    def marker(index: np.ndarray, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"size": BASE_SIZE if sizes is None else sizes[index], "opacity": 0.7}
        out.update(extra)
        return out

    fig = go.Figure()
    if density is not None:
        fig.add_trace(density_trace(density, density_of))
    if groups is not None:
        labels = group_labels(groups, max_groups=max_groups)
        if labels.size != n:
            raise ValueError(f"groups has {labels.size} labels for {n} points")
        names = sorted(set(labels.tolist()) - {OTHER})
        palette = {name: colours.get(name, PALETTE[i % len(PALETTE)]) for i, name in enumerate(names)}
        if OTHER in set(labels.tolist()):
            names.append(OTHER)
            palette[OTHER] = colours.get(OTHER, OTHER_COLOUR)
        for name in names:
            index = np.flatnonzero(labels == name)
            fig.add_trace(
                go.Scattergl(
                    x=points[index, 0],
                    y=points[index, 1],
                    mode="markers",
                    name=str(name),
                    customdata=custom[index],
                    text=None if text is None else text[index],
                    marker=marker(index, color=palette[name]),
                    hovertemplate=_hovertemplate(with_titles, expo is not None, group_name, hover_labels),
                )
            )
    else:
        index = np.arange(n)
        extra: dict[str, Any] = {"color": "#4c72b0"}
        if colour_values is not None:
            values = np.asarray(colour_values, dtype=np.float32).ravel()
            if values.size != n:
                raise ValueError(f"colour_values has {values.size} values for {n} points")
            extra = {
                "color": values,
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": {"text": colour_label}},
            }
        fig.add_trace(
            go.Scattergl(
                x=points[:, 0],
                y=points[:, 1],
                mode="markers",
                name=base_name,
                customdata=custom,
                text=text,
                marker=marker(index, **extra),
                hovertemplate=_hovertemplate(with_titles, expo is not None, None, hover_labels),
            )
        )
    for overlay in overlays:
        over_xy = np.asarray(overlay.xy, dtype=np.float32).reshape(-1, 2)
        over_rows = np.asarray(overlay.rows, dtype=np.int64).ravel()
        if over_rows.size != len(over_xy):
            raise ValueError(f"overlay {overlay.name!r}: {len(over_xy)} points, {over_rows.size} rows")
        labels_ = list(overlay.labels) if overlay.labels is not None else [overlay.name] * len(over_xy)
        fig.add_trace(
            go.Scattergl(
                x=over_xy[:, 0],
                y=over_xy[:, 1],
                mode="markers",
                name=overlay.name,
                customdata=over_rows.reshape(-1, 1),
                text=labels_,
                marker={
                    "size": overlay.size,
                    "color": overlay.colour,
                    "symbol": overlay.symbol,
                    "line": {"width": 1, "color": overlay.line_colour},
                },
                meta=overlay.name,  # by reference: an id holding "%{x}" must not become a template field
                hovertemplate="<b>%{text}</b><br>%{meta}<extra></extra>",
            )
        )
    fig.update_layout(
        title=title or None,
        height=height,
        dragmode=dragmode or ("select" if density is not None else "lasso"),
        hovermode="closest",
        legend={"itemsizing": "constant"},
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        xaxis={"showticklabels": False, "zeroline": False, "title": None},
        yaxis={"showticklabels": False, "zeroline": False, "title": None},
    )
    if focus is not None:
        xr, yr = focus_range(points if n else np.asarray([focus]), focus)
        fig.update_xaxes(range=xr)
        fig.update_yaxes(range=yr)
    return finish_layout(fig, legend="right")


def selected_rows(event: Mapping[str, Any] | None) -> np.ndarray:
    """Catalogue rows of the items selected on the map (unique, in selection order).

    Reads ``event["selection"]["points"][j]["customdata"]`` with dict access (a selection seeded through
    ``session_state`` is a plain dict), taking the first customdata entry (the row); points without
    customdata or with row −1 (the user's position) are skipped.
    """
    if not event:
        return np.zeros(0, dtype=np.int64)
    selection = event.get("selection") or {}
    found: list[int] = []
    for point in selection.get("points") or []:
        data = point.get("customdata") if isinstance(point, Mapping) else None
        if data is None:
            continue
        value = data[0] if isinstance(data, (list, tuple, np.ndarray)) else data
        try:
            row = int(value)
        except (TypeError, ValueError):
            continue
        if row >= 0:
            found.append(row)
    return np.asarray(list(dict.fromkeys(found)), dtype=np.int64)


def selected_region(event: Mapping[str, Any] | None) -> Region | None:
    """The last box or lasso drawn on a chart, as a :class:`~recaudit.views.density.Region`; None without.

    Reads ``event["selection"]["box"]`` (``{"x": [x0, x1], "y": [y0, y1]}``) and ``["lasso"]``
    (``{"x": [...], "y": [...]}``), the shapes Streamlit reports; a box wins when both are present (the
    drill-down is drawn as one). Malformed or empty shapes are ignored.
    """
    if not event:
        return None
    selection = event.get("selection") or {}
    for kind, minimum in (("box", 2), ("lasso", 3)):
        shapes = selection.get(kind) or []
        for shape in reversed(shapes):
            if not isinstance(shape, Mapping):
                continue
            try:
                xs = tuple(float(v) for v in shape.get("x") or [])
                ys = tuple(float(v) for v in shape.get("y") or [])
            except (TypeError, ValueError):
                continue
            if len(xs) >= minimum and len(xs) == len(ys) and np.isfinite(xs + ys).all():
                return Region(kind, xs, ys)  # type: ignore[arg-type]
    return None


def zoom_to(fig: go.Figure, region: Region, margin: float = 0.03) -> go.Figure:
    """Set the axes of ``fig`` to the bounding box of ``region`` (± ``margin`` of its span), so a
    drill-down chart shows its region even when overlays (the user's items) lie outside it."""
    for xs, axis in ((region.xs, fig.update_xaxes), (region.ys, fig.update_yaxes)):
        low, high = float(min(xs)), float(max(xs))
        pad = max((high - low) * margin, 1e-9)
        axis(range=[low - pad, high + pad])
    return fig
