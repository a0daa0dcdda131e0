"""The embedding map figure: WebGL traces, float32 coordinates, integer customdata, overlays, selection."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recaudit.viz.map_charts import (
    OTHER,
    MapOverlay,
    exposure_sizes,
    focus_range,
    group_labels,
    item_map_figure,
    selected_rows,
)


def small_map() -> dict:
    xy = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 1.0], [2.0, 2.0]])
    return {
        "xy": xy,
        "rows": np.array([10, 11, 12, 13, 14]),
        "popularity": np.array([5, 0, 2, 9, 1]),
        "groups": np.array(["drama", "comedy", "drama", None, "comedy"], dtype=object),
        "exposure": np.array([0, 4, 1, 16, 0]),
        "titles": np.array(["A", "B", "C", "D", "E"], dtype=object),
    }


def small_map_figure(**kwargs: object) -> go.Figure:
    """:func:`item_map_figure` of :func:`small_map`'s points, rows and popularity, with ``kwargs``."""
    m = small_map()
    return item_map_figure(m["xy"], m["rows"], popularity=m["popularity"], **kwargs)


def test_one_webgl_trace_per_group_with_integer_customdata() -> None:
    m = small_map()
    fig = small_map_figure(groups=m["groups"], exposure=m["exposure"], titles=m["titles"])
    names = [t.name for t in fig.data]
    assert names == ["(none)", "comedy", "drama"]  # label order; a missing category is "(none)"
    assert all(t.type == "scattergl" for t in fig.data)
    drama = fig.data[2]
    assert drama.x.dtype == np.float32 and drama.y.dtype == np.float32
    # customdata rows: [row, popularity, exposure] of items 10 and 12
    assert np.asarray(drama.customdata).tolist() == [[10, 5, 0], [12, 2, 1]]
    assert np.asarray(drama.customdata).dtype == np.int64
    assert list(drama.text) == ["A", "C"]  # small map: titles in the hover
    assert "%{customdata[1]}" in drama.hovertemplate and "%{customdata[2]}" in drama.hovertemplate
    # the payload is base64 typed arrays, not lists of numbers
    spec = json.loads(pio.to_json(fig, validate=False))
    assert spec["data"][2]["x"]["dtype"] == "f4"


def test_large_maps_send_no_per_point_titles() -> None:
    fig = small_map_figure(titles=small_map()["titles"], hover_titles=False)
    assert fig.data[0].text is None and "%{text}" not in fig.data[0].hovertemplate


def test_continuous_colour_and_size_by_exposure() -> None:
    exposure = small_map()["exposure"]
    fig = small_map_figure(colour_values=exposure, exposure=exposure, size_by_exposure=True)
    (trace,) = fig.data
    assert np.asarray(trace.marker.color).tolist() == [0, 4, 1, 16, 0]
    assert trace.marker.showscale
    # size = 3 + 11 * sqrt(e / 16): e = 0, 4, 1, 16, 0 -> 3, 8.5, 5.75, 14, 3
    np.testing.assert_allclose(trace.marker.size, [3.0, 8.5, 5.75, 14.0, 3.0], rtol=1e-6)


def test_overlays_are_drawn_last_and_zoom_focuses() -> None:
    m = small_map()
    overlays = [
        MapOverlay("history", m["xy"][[0, 2]], np.array([10, 12]), "#111111", labels=["A", "C"]),
        MapOverlay("user", np.array([[0.5, 0.5]]), np.array([-1]), "#ffd700", symbol="star"),
    ]
    fig = small_map_figure(overlays=overlays, focus=(1.0, 0.0))
    assert [t.name for t in fig.data] == ["items", "history", "user"]
    assert np.asarray(fig.data[1].customdata).ravel().tolist() == [10, 12]
    assert fig.data[2].marker.symbol == "star"
    # span = max(ptp x, ptp y) = 3, radius = 0.08 * 3 = 0.24 around (1, 0)
    np.testing.assert_allclose(fig.layout.xaxis.range, [0.76, 1.24])
    np.testing.assert_allclose(fig.layout.yaxis.range, [-0.24, 0.24])


def test_mismatched_lengths_raise() -> None:
    m = small_map()
    with pytest.raises(ValueError, match="rows"):
        item_map_figure(m["xy"], m["rows"][:3], popularity=m["popularity"])
    with pytest.raises(ValueError, match="overlay"):
        small_map_figure(overlays=[MapOverlay("x", m["xy"][:2], np.array([1]), "#000000")])


def test_group_labels_keep_the_most_frequent() -> None:
    values = ["a", "b", "b", "c", "c", "c", None, "d"]
    # counts: c 3, b 2, then a, d, (none) 1 each -> two kept: c, b
    assert group_labels(values, max_groups=2).tolist() == [OTHER, "b", "b", "c", "c", "c", OTHER, OTHER]
    assert group_labels(values, max_groups=10).tolist() == ["a", "b", "b", "c", "c", "c", "(none)", "d"]


def test_selected_rows_reads_customdata_with_dict_access() -> None:
    event = {
        "selection": {
            "points": [
                {"customdata": [12, 2, 1]},
                {"customdata": 10},
                {"customdata": [-1]},
                {"x": 1.0},
                {"customdata": [12, 2, 1]},
            ],
            "point_indices": [0, 1, 2, 3, 4],
        }
    }
    assert selected_rows(event).tolist() == [12, 10]
    assert selected_rows(None).size == 0
    assert selected_rows({"selection": {"points": []}}).size == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=50))
def test_exposure_sizes_bounds_and_order(exposure: list[int]) -> None:
    sizes = exposure_sizes(np.array(exposure))
    assert sizes.min() >= 3.0 - 1e-6 and sizes.max() <= 14.0 + 1e-6
    order = np.argsort(exposure, kind="stable")
    assert np.all(np.diff(sizes[order]) >= -1e-6)  # monotone in exposure


@settings(max_examples=30, deadline=None)
@given(
    st.integers(min_value=1, max_value=40).flatmap(
        lambda n: st.tuples(
            st.lists(st.sampled_from(["x", "y", "z", "w"]), min_size=n, max_size=n),
            st.permutations(list(range(n))),
        )
    )
)
def test_every_point_in_exactly_one_group_trace(data: tuple[list[str], list[int]]) -> None:
    groups, perm = data
    n = len(groups)
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(n, 2))
    rows = np.array(perm) + 100
    fig = item_map_figure(xy, rows, popularity=np.zeros(n), groups=groups, max_groups=2)
    got = np.concatenate([np.asarray(t.customdata)[:, 0] for t in fig.data])
    assert sorted(got.tolist()) == sorted(rows.tolist())
    assert len(fig.data) <= 3
    extent = focus_range(xy, (0.0, 0.0))
    assert extent[0][0] < 0 < extent[0][1]


def test_overlay_names_reach_the_hover_by_reference_not_as_template_text() -> None:
    """A user id such as ``%{x}`` in an overlay's name must show literally, not be filled in by plotly."""
    xy = np.zeros((3, 2), dtype=np.float32)
    overlay = MapOverlay(name="history of %{x}", xy=xy[:1], rows=np.array([0]), colour="#000",
                         symbol="circle", size=8, labels=["t"])
    fig = item_map_figure(xy, np.arange(3), popularity=np.ones(3), overlays=[overlay])
    trace = next(t for t in fig.data if t.name == "history of %{x}")
    assert trace.meta == "history of %{x}"
    assert "%{x}" not in trace.hovertemplate and "%{meta}" in trace.hovertemplate
