"""Density grids, drawn regions and the k-NN placement behind maps of a million points."""

from __future__ import annotations

import numpy as np
import pytest

from recaudit.views.density import THRESHOLD_ENV, Region, density_grid, density_threshold, region_rows
from recaudit.views.projection import fit_sample_rows, place_by_neighbours
from recaudit.viz.map_charts import density_trace, selected_region


def test_density_grid_counts_every_point_once() -> None:
    xy = np.random.default_rng(0).normal(size=(5_000, 2))
    grid = density_grid(xy, bins=16)
    assert grid.counts.shape == (16, 16) and grid.total == 5_000
    # heatmap order: counts[j, i] has y in cell j, x in cell i
    top_right = (xy[:, 0] >= grid.x_edges[8]) & (xy[:, 1] >= grid.y_edges[8])
    assert grid.counts[8:, 8:].sum() == top_right.sum()
    assert density_grid(np.zeros((3, 2))).total == 3  # a degenerate extent still counts


def test_density_trace_is_log_shaded_with_exact_counts_and_transparent_gaps() -> None:
    grid = density_grid(np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]), bins=2)
    trace = density_trace(grid)
    assert np.asarray(trace.customdata).sum() == 3
    assert np.isnan(np.asarray(trace.z, dtype=float)).sum() == 2  # the two empty cells


def test_box_and_lasso_regions() -> None:
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.9, 0.1], [0.1, 0.9]])
    assert region_rows(xy, Region("box", (0.5, 2.5), (0.5, 2.5))).tolist() == [1, 2]
    triangle = Region("lasso", (-0.5, 1.3, -0.5), (-0.5, -0.5, 1.3))  # below the line x + y = 0.8
    assert region_rows(xy, triangle).tolist() == [0]
    assert region_rows(xy, Region("box", (0.5, 2.5), (0.5, 2.5)), np.array([2, 3])).tolist() == [2]


def test_selected_region_reads_streamlits_box_and_lasso() -> None:
    box = {"xref": "x", "yref": "y", "x": [2, 0], "y": [0, 1]}
    assert selected_region({"selection": {"box": [box], "lasso": []}}) == Region(
        "box", (2.0, 0.0), (0.0, 1.0)
    )
    lasso = {"x": [0, 1, 0], "y": [0, 0, 1]}
    assert selected_region({"selection": {"box": [], "lasso": [lasso]}}).kind == "lasso"
    assert selected_region({"selection": {"box": [{"x": [], "y": []}], "lasso": []}}) is None
    assert selected_region(None) is None


def test_threshold_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(THRESHOLD_ENV, "12")
    assert density_threshold() == 12


def test_knn_placement_puts_each_row_among_its_nearest_fitted_rows() -> None:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 8)) * 10
    fitted = np.repeat(centres, 50, axis=0) + rng.normal(size=(150, 8))
    fitted_xy = np.repeat(np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]), 50, axis=0)
    rest = centres + rng.normal(size=(3, 8)) * 0.1
    placed = place_by_neighbours(fitted, fitted_xy, rest, k=5)
    np.testing.assert_allclose(placed, [[0, 0], [10, 0], [0, 10]], atol=1e-4)
    assert fit_sample_rows(100, 200, 0) is None
    sample = fit_sample_rows(100, 30, 0)
    assert sample.size == 30 and np.array_equal(sample, np.sort(np.unique(sample)))
