"""The shared chart layout (issue 8, item 5): every builder goes through ``finish_layout``; log ticks are
readable; long category labels are shortened in the ticks but kept whole in the data and the hover.

Whether the rendered boxes actually stay apart is checked in a real browser by
``tests/browser/test_chart_layout.py``; these tests pin the layout properties that make that so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recaudit.viz import audit_charts as ac
from recaudit.viz import charts
from recaudit.viz.layout import LABEL_CHARS, finish_layout, log_ticks, shorten_label, tick_label, wrap_title
from recaudit.viz.map_charts import MapOverlay, item_map_figure

LONG_NAMES = [
    "Metro-Goldwyn-Mayer Studios Incorporated",
    "Twentieth Century Fox Film Corporation",
    "Miramax",
    "Warner Bros. Entertainment Inc.",
]


def group_table(names: list[str]) -> pd.DataFrame:
    n = len(names)
    share = np.full(n, 1 / n)
    return pd.DataFrame(
        {
            "group": names, "n_items": np.arange(1, n + 1), "exposure": share * 10,
            "exposure_share": share, "catalog_share": share, "merit_share": share,
            "exposure_ratio": np.ones(n),
        }
    )


def _map(colour: bool) -> go.Figure:
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(30, 2))
    overlay = MapOverlay("history of u1", xy[:3], np.arange(3), "#111111")
    if colour:
        return item_map_figure(
            xy, np.arange(30), popularity=np.arange(30), colour_values=np.arange(30.0), overlays=[overlay]
        )
    return item_map_figure(
        xy, np.arange(30), popularity=np.arange(30), groups=["a", "b", "c"] * 10, overlays=[overlay]
    )


LIFT = pd.DataFrame(
    {
        "group": ["niche", "diverse", "blockbuster"], "n_users": [2, 5, 2],
        "gap_profile": [0.1, 0.2, 0.3], "gap_recommended": [0.2, 0.2, 0.2], "delta_gap": [1.0, 0.0, -1 / 3],
    }
)
HISTORY = [
    {"phase": "fit", "epoch": 1, "loss": 2.0, "valid_recall": 0.1},
    {"phase": "fit", "epoch": 2, "loss": 1.0, "valid_recall": 0.2},
]
BUILDERS: dict[str, Callable[[], go.Figure]] = {
    "popularity_curve": lambda: charts.popularity_curve(np.array([50, 30, 10, 5, 5, 0])),
    "domain_counts_bar": lambda: charts.domain_counts_bar(
        pd.DataFrame({"domain": ["movies", "books"], "items": [30, 20], "train": [1200, 90]})
    ),
    "metric_comparison_bar": lambda: charts.metric_comparison_bar(
        pd.DataFrame({"model": [0.3, 0.2], "popularity": [0.1, 0.05]}, index=["recall@10", "ndcg@10"])
    ),
    "training_curve": lambda: charts.training_curve(HISTORY, best_epoch=2),
    "training_curve_empty": lambda: charts.training_curve([]),
    "lorenz_chart": lambda: ac.lorenz_chart(np.array([2, 1, 0, 1])),
    "long_tail_chart": lambda: ac.long_tail_chart(
        np.array([7.0, 6, 5, 3, 1, 0]), np.array([10.09268, 4.5, 2.25, 1.125781, 0.5, 0.0]),
        head_mask=np.array([True, True, False, False, False, False]),
    ),
    "popularity_lift_chart": lambda: ac.popularity_lift_chart(LIFT),
    "miscalibration_hist": lambda: ac.miscalibration_hist(np.array([0.1, 0.2, 0.4, np.nan])),
    "category_bars": lambda: ac.category_bars(
        pd.DataFrame({"history": [0.5, 0.5], "recommended": [0.2, 0.8]}, index=["Film-Noir", "Children's"])
    ),
    "group_exposure_chart": lambda: ac.group_exposure_chart(group_table(LONG_NAMES)),
    "group_metric_chart": lambda: ac.group_metric_chart(
        pd.DataFrame(
            {"n_users": [3, 4], "ndcg@10": [0.1, 0.2]}, index=pd.Index(["cold", "heavy"], name="group")
        ),
        "ndcg@10",
    ),
    "frontier_chart": lambda: ac.frontier_chart(
        {"MMR": pd.DataFrame({"lambda": [0.0, 1.0], "ndcg@10": [0.2, 0.1], "gini@10": [0.9, 0.5]})},
        x="ndcg@10", y="gini@10",
    ),
    "item_map_figure": lambda: _map(colour=False),
    "item_map_figure_colour": lambda: _map(colour=True),
}


def axes(fig: go.Figure) -> dict[str, go.layout.XAxis | go.layout.YAxis]:
    full = fig.layout.to_plotly_json()
    return {key: fig.layout[key] for key in full if re.match(r"^(x|y)axis\d*$", key)}


def significant_digits(label: str) -> int:
    number = re.sub(r"([kMGT]|e-?\d+)$", "", label)
    digits = number.replace(".", "").lstrip("0")
    return len(digits if "." in number else digits.rstrip("0"))


# ------------------------------------------------------------------------- every builder uses the helper


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_builder_finishes_with_the_shared_layout(name: str) -> None:
    fig = BUILDERS[name]()
    layout = fig.layout
    assert layout.hoverlabel.namelength == -1, "hover labels must show whole trace names"
    assert axes(fig), "the helper sets every axis it finds"
    for key, axis in axes(fig).items():
        assert axis.automargin is True, f"{key}: tick labels and titles must push the margin"
    if layout.title.text:
        assert layout.title.automargin is True and layout.title.yref == "paper"
        assert layout.title.yanchor == "bottom" and layout.title.y == 1
    shown = sum(t.showlegend is not False for t in fig.data)
    if layout.showlegend is not False and shown > 1:
        legend = layout.legend
        at_bottom = legend.yref == "container" and legend.y == 0 and legend.yanchor == "bottom"
        at_right = legend.orientation == "v" and legend.x >= 1 and legend.xanchor == "left"
        assert at_bottom or at_right, f"{name}: legend {legend.to_plotly_json()} could sit on an axis title"
        if at_bottom:
            assert legend.orientation == "h"


@pytest.mark.parametrize("name", list(BUILDERS))
def test_the_layout_is_idempotent(name: str) -> None:
    fig = BUILDERS[name]()
    before = fig.layout.to_plotly_json()
    assert finish_layout(fig, legend="right" if name.startswith("item_map") else "bottom") is fig
    assert fig.layout.to_plotly_json() == before


def test_colour_bar_and_legend_of_the_map_sit_apart() -> None:
    fig = BUILDERS["item_map_figure_colour"]()
    assert fig.layout.legend.orientation == "v" and fig.layout.legend.x >= 1
    bar = fig.data[0].marker.colorbar
    assert bar.orientation == "h" and bar.yref == "container" and bar.y == 0
    # the grouped map has no colour bar and keeps its legend on the right
    grouped = BUILDERS["item_map_figure"]()
    assert grouped.layout.legend.x >= 1
    assert not any(getattr(t.marker, "showscale", None) for t in grouped.data)


# ------------------------------------------------------------------------------------------- log ticks


def test_long_tail_second_axis_gets_round_ticks_not_data_values() -> None:
    # exposure 0.5 .. 10.09268: plotly's own labels printed "10.09268" beside single digits
    fig = BUILDERS["long_tail_chart"]()
    y2 = fig.layout.yaxis2
    assert y2.type == "log" and y2.tickmode == "array"
    assert list(y2.tickvals) == [0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
    assert list(y2.ticktext) == ["0.2", "0.5", "1", "2", "5", "10", "20"]
    assert y2.showgrid is False  # one grid (the left axis's) is enough
    assert list(fig.layout.yaxis.ticktext) == ["0.5", "1", "2", "5", "10"]
    assert list(fig.layout.xaxis.ticktext) == ["0.5", "1", "2", "5", "10"]


def test_log_ticks_by_hand() -> None:
    # 1 .. 3400 spans more than three decades: one tick per decade, SI suffixes
    values, labels = log_ticks(1, 3400)
    assert values == [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]
    assert labels == ["0.1", "1", "10", "100", "1k", "10k"]
    # 1 .. 7: a single decade gets the 1-2-5 grid
    assert log_ticks(1, 7) == ([0.5, 1.0, 2.0, 5.0, 10.0], ["0.5", "1", "2", "5", "10"])
    # 3 .. 4: every mantissa
    assert log_ticks(3, 4) == ([2.0, 3.0, 4.0, 5.0], ["2", "3", "4", "5"])
    assert log_ticks(6040, 900_000)[1] == ["5k", "10k", "20k", "50k", "100k", "200k", "500k", "1M"]
    assert log_ticks(0, 0) == ([], []) and log_ticks(math.nan, 5) == ([], [])


@given(
    low=st.floats(min_value=1e-6, max_value=1e12, allow_nan=False),
    factor=st.floats(min_value=1.0, max_value=1e9, allow_nan=False),
)
def test_log_ticks_cover_the_range_with_short_labels(low: float, factor: float) -> None:
    high = low * factor
    values, labels = log_ticks(low, high)
    assert values == sorted(values) and len(values) == len(labels)
    assert values[0] <= low * (1 + 1e-9) and values[-1] >= high * (1 - 1e-9)
    inside = [v for v in values if low * (1 - 1e-9) <= v <= high * (1 + 1e-9)]
    near = [v for v in values if low / 1.06 <= v <= high * 1.06]  # the ends are rounded to 2 digits
    assert len(near) >= 1
    assert len(inside) >= 3 or factor < 10  # a decade or more always shows at least three ticks
    assert len(values) <= 12
    assert all(significant_digits(label) <= 3 for label in labels), labels


def test_tick_label_keeps_three_significant_digits() -> None:
    assert [tick_label(v) for v in (1, 20, 500, 1000, 2500, 1e6, 0.05, 1125.781, 1e15, 2e-5)] == [
        "1", "20", "500", "1k", "2.5k", "1M", "0.05", "1.13k", "1e15", "2e-5"
    ]


# ------------------------------------------------------------------------------------- category labels


def test_long_group_names_are_shortened_in_the_ticks_only() -> None:
    fig = BUILDERS["group_exposure_chart"]()
    x = fig.layout.xaxis
    names = list(fig.data[0].x)
    assert sorted(names) == sorted(LONG_NAMES)  # the data keep the full names
    assert x.type == "category" and x.tickmode == "array"
    assert list(x.tickvals) == names
    assert list(x.ticktext) == [shorten_label(n) for n in names]
    assert "Metro-Goldwyn…" in x.ticktext and "Miramax" in x.ticktext
    assert all(len(t) <= LABEL_CHARS for t in x.ticktext)
    assert all("%{x}" in trace.hovertemplate for trace in fig.data)  # the hover names the full group


def test_short_category_names_keep_plotly_ticks() -> None:
    fig = BUILDERS["category_bars"]()
    assert fig.layout.xaxis.type == "category"
    assert fig.layout.xaxis.ticktext is None and fig.layout.xaxis.tickvals is None


def test_shorten_label_counts_an_entity_as_one_character() -> None:
    assert shorten_label("Film-Noir") == "Film-Noir"
    assert shorten_label("Metro-Goldwyn-Mayer", 8) == "Metro-G…"
    # data escaped for plotly (recaudit.textsafe.plot_text): "&amp;" shows as one "&", never cut in half
    assert shorten_label("Tom &amp; Jerry Productions", 8) == "Tom &amp; J…"
    assert shorten_label("a&amp;b", 3) == "a&amp;b"
    with pytest.raises(ValueError):
        shorten_label("abc", 1)


def test_wrap_title_keeps_subtitle_tags_on_every_line() -> None:
    text = "A title<br><sup>" + " ".join(["word"] * 12) + "</sup>"
    wrapped = wrap_title(text, 20, 25)
    lines = wrapped.split("<br>")
    assert lines[0] == "A title"
    assert all(line.startswith("<sup>") and line.endswith("</sup>") for line in lines[1:])
    assert all(len(line) - len("<sup></sup>") <= 25 for line in lines[1:])
    assert wrapped.replace("</sup><br><sup>", " ") == text
    assert wrap_title(wrapped, 20, 25) == wrapped
    # a "; " clause (a finding) stays on one line when it fits
    finding = "<sup>exposure ratio = exposure share / merit share; 35 smaller groups not shown</sup>"
    assert wrap_title(finding, 60, 50).split("<br>") == [
        "<sup>exposure ratio = exposure share / merit share;</sup>", "<sup>35 smaller groups not shown</sup>"
    ]
