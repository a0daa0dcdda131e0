"""Density aggregation and region drill-down for maps too large to draw point by point.

Why: a browser draws 1M WebGL points slowly and heavily (measured in headless Chromium on 2 CPUs, software
GL: about 21 s to the drawn chart and 400-670 MB of JS heap, against about 3.6 s for a 256 x 256 density grid
under a 20k-point sample; ``benchmarks/README.md``, "The 1M-item map"). Above :func:`density_threshold`
points the map therefore draws:

* :func:`density_grid`: the number of points per cell of a regular 2-D grid over all points (an
  ``np.histogram2d``), sent as one small heatmap whatever the number of points;
* a seeded sample of points on top (for colours and selection);
* a drill-down: a box or lasso drawn on that overview is a :class:`Region`, and :func:`region_rows` finds
  every actual point inside it, to draw them as points in a second chart.

Pure numpy (no Streamlit, no plotly), so pages, reports and tests share it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "DENSITY_BINS",
    "DENSITY_THRESHOLD",
    "OVERVIEW_POINTS",
    "DensityGrid",
    "Region",
    "density_grid",
    "density_threshold",
    "region_mask",
    "region_rows",
]

DENSITY_THRESHOLD = 200_000
"""Maps of more points than this draw a density grid under a sample instead of points alone."""
THRESHOLD_ENV = "RECAUDIT_MAP_DENSITY_THRESHOLD"
"""Environment override of :data:`DENSITY_THRESHOLD` (for tests: the density path on a few points)."""
OVERVIEW_POINTS = 20_000
"""Points drawn over the density grid at most (the drill-down chart draws up to the point cap)."""
DENSITY_BINS = 256
"""Cells per axis of the density grid (256 x 256 cells: about 0.3 MB as float32, any number of points)."""


def density_threshold() -> int:
    """:data:`DENSITY_THRESHOLD`, or the integer in ``$RECAUDIT_MAP_DENSITY_THRESHOLD`` when set (>= 0)."""
    raw = os.environ.get(THRESHOLD_ENV, "").strip()
    if raw:
        try:
            return max(int(raw), 0)
        except ValueError:
            pass
    return DENSITY_THRESHOLD


@dataclass(frozen=True)
class DensityGrid:
    """Points per cell of a regular grid.

    Attributes:
        counts: ``[ny, nx]`` int64, ``counts[j, i]`` points with x in cell i and y in cell j (heatmap order).
        x_edges: ``[nx + 1]`` cell edges along x.
        y_edges: ``[ny + 1]`` cell edges along y.
    """

    counts: np.ndarray
    x_edges: np.ndarray
    y_edges: np.ndarray

    @property
    def total(self) -> int:
        """Number of points counted."""
        return int(self.counts.sum())

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres along x and y (float32)."""
        x, y = self.x_edges, self.y_edges
        return ((x[:-1] + x[1:]) / 2).astype(np.float32), ((y[:-1] + y[1:]) / 2).astype(np.float32)


def density_grid(xy: np.ndarray, bins: int | None = None) -> DensityGrid:
    """Count the points ``xy`` [n, 2] in a ``bins`` x ``bins`` grid spanning their extent.

    By default ``bins`` grows with the number of points, ``sqrt(n) / 2`` clipped to [16, :data:`DENSITY_BINS`]
    (256 from about 260k points on), so a small map's cells stay large enough to see.

    A degenerate extent (all points on one line or one spot) is widened by ±0.5 so each axis has width.
    An empty ``xy`` gives an all-zero grid over [0, 1]².
    """
    points = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(points):
        low, high = points.min(axis=0), points.max(axis=0)
    else:
        low, high = np.zeros(2), np.ones(2)
    if bins is None:
        bins = int(np.clip(np.sqrt(len(points)) / 2, 16, DENSITY_BINS))
    flat = high - low <= 0
    low, high = np.where(flat, low - 0.5, low), np.where(flat, high + 0.5, high)
    counts, x_edges, y_edges = np.histogram2d(
        points[:, 0], points[:, 1], bins=int(bins), range=[[low[0], high[0]], [low[1], high[1]]]
    )
    return DensityGrid(counts.T.astype(np.int64), x_edges, y_edges)


@dataclass(frozen=True)
class Region:
    """An area drawn on a map: a ``"box"`` (``xs = [x0, x1]``, ``ys = [y0, y1]``) or a ``"lasso"``
    (polygon vertices ``xs``, ``ys``, closed implicitly)."""

    kind: Literal["box", "lasso"]
    xs: tuple[float, ...]
    ys: tuple[float, ...]

    def describe(self) -> str:
        """A short text for captions, e.g. ``box x 0.12 … 0.53, y -1.2 … 0.4``."""
        if self.kind == "box":
            (x0, x1), (y0, y1) = sorted(self.xs), sorted(self.ys)
            return f"box x {x0:.3g} … {x1:.3g}, y {y0:.3g} … {y1:.3g}"
        return f"lasso of {len(self.xs)} vertices"


def region_mask(xy: np.ndarray, region: Region) -> np.ndarray:
    """[n] bool: whether each point of ``xy`` [n, 2] lies in ``region`` (box edges included; lasso by the
    even-odd ray-casting rule, tested only on the points inside the polygon's bounding box)."""
    points = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    x, y = points[:, 0], points[:, 1]
    xs, ys = np.asarray(region.xs, dtype=np.float64), np.asarray(region.ys, dtype=np.float64)
    if xs.size == 0 or xs.size != ys.size:
        return np.zeros(len(points), dtype=bool)
    inside = (x >= xs.min()) & (x <= xs.max()) & (y >= ys.min()) & (y <= ys.max())
    if region.kind == "box" or xs.size < 3:
        return inside if region.kind == "box" else np.zeros(len(points), dtype=bool)
    candidates = np.flatnonzero(inside)
    px, py = x[candidates], y[candidates]
    odd = np.zeros(candidates.size, dtype=bool)
    for j in range(xs.size):
        xa, ya, xb, yb = xs[j - 1], ys[j - 1], xs[j], ys[j]
        crosses = (ya > py) != (yb > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = xa + (py - ya) * (xb - xa) / (yb - ya)
        odd ^= crosses & (px < x_at)
    out = np.zeros(len(points), dtype=bool)
    out[candidates[odd]] = True
    return out


def region_rows(xy: np.ndarray, region: Region, rows: np.ndarray | None = None) -> np.ndarray:
    """The rows (of ``rows``, default all rows of ``xy``) whose points lie in ``region``, ascending."""
    if rows is None:
        return np.flatnonzero(region_mask(xy, region))
    rows = np.asarray(rows, dtype=np.int64)
    return np.sort(rows[region_mask(np.asarray(xy)[rows], region)])
