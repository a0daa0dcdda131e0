"""Chart builders: the figures carry the right traces and data (hand-computed expectations)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from recaudit.viz import (
    domain_counts_bar,
    head_size,
    metric_comparison_bar,
    popularity_curve,
    training_curve,
)
from tests.viz.conftest import traces


def test_head_size_by_hand() -> None:
    # sorted 50, 30, 10, 5, 5 of 100: the top 2 hold 80% exactly, so the head has 2 items
    assert head_size(np.array([5, 50, 10, 30, 5])) == 2
    # 40, 30, 20, 10: top 2 hold 70% < 80%, top 3 hold 90%
    assert head_size(np.array([10, 20, 30, 40])) == 3
    assert head_size(np.array([10, 20, 30, 40]), head_share=0.4) == 1
    assert head_size(np.array([10, 20, 30, 40]), head_share=1.0) == 4
    assert head_size(np.zeros(3)) == 0
    with pytest.raises(ValueError):
        head_size(np.array([1, 2]), head_share=0.0)


def test_popularity_curve_ranks_items_and_marks_the_cut() -> None:
    counts = np.array([5, 0, 50, 10, 30, 5, 0])
    fig = popularity_curve(counts, title="Pop")
    named = traces(fig)
    assert set(named) == {"head", "tail", "cut"}
    assert list(named["head"].x) == [1, 2] and list(named["head"].y) == [50, 30]
    assert list(named["tail"].x) == [3, 4, 5] and list(named["tail"].y) == [10, 5, 5]
    assert list(named["cut"].x) == [2, 2]
    assert np.allclose(named["head"].customdata, [0.5, 0.8])
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert "2 items without interactions" in fig.layout.xaxis.title.text.replace("<br>", " ")
    assert fig.layout.title.text.startswith("Pop")
    assert "head: 2 of 7 items hold 80%" in fig.layout.title.text


def test_popularity_curve_thins_long_curves_on_a_log_grid() -> None:
    counts = np.arange(1, 100_001)  # 100k items, rank r has count 100_001 - r
    fig = popularity_curve(counts, max_points=500)
    x = np.concatenate([traces(fig)["head"].x, traces(fig)["tail"].x])
    y = np.concatenate([traces(fig)["head"].y, traces(fig)["tail"].y])
    assert len(x) <= 500 and x[0] == 1 and x[-1] == 100_000
    assert np.array_equal(y, 100_001 - x)  # every kept point is the exact (rank, count)
    # the cut is computed on all items: Σ_{r ≤ h} (100001 − r) ≥ 0.8 Σ
    total = counts.sum()
    cumulative = np.cumsum(np.sort(counts)[::-1])
    assert traces(fig)["cut"].x[0] == int(np.argmax(cumulative >= 0.8 * total)) + 1


def test_popularity_curve_without_interactions_has_no_cut() -> None:
    fig = popularity_curve(np.zeros(4, dtype=int))
    assert "cut" not in traces(fig)
    assert len(traces(fig)["head"].x) == 0 and len(traces(fig)["tail"].x) == 0


def test_popularity_curve_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        popularity_curve(np.array([3, -1]))


def test_domain_counts_bar_one_trace_per_count_column() -> None:
    counts = pd.DataFrame(
        {
            "domain": ["books", "movies", "all"],
            "items": [30, 20, 50],
            "users": [7, 9, 12],
            "train": [100, 140, 240],
        }
    )
    fig = domain_counts_bar(counts)
    assert [t.name for t in fig.data] == ["items", "users", "train"]
    assert all(isinstance(t, go.Bar) for t in fig.data)
    assert list(fig.data[0].x) == ["books", "movies"]  # the 'all' total is left out
    assert list(fig.data[2].y) == [100, 140]
    assert fig.layout.barmode == "group"
    only = domain_counts_bar(counts, columns=["users"])
    assert [t.name for t in only.data] == ["users"] and list(only.data[0].y) == [7, 9]
    with pytest.raises(ValueError):
        domain_counts_bar(counts.drop(columns="domain"))


def test_metric_comparison_bar() -> None:
    table = pd.DataFrame(
        {"model": [0.3, 0.2], "popularity": [0.1, 0.05]}, index=["recall@10", "ndcg@10"]
    )
    fig = metric_comparison_bar(table)
    assert [t.name for t in fig.data] == ["model", "popularity"]
    assert list(fig.data[0].x) == ["recall@10", "ndcg@10"]
    assert np.allclose(fig.data[1].y, [0.1, 0.05])


def test_training_curve_one_line_per_phase_and_the_best_epoch() -> None:
    history = [
        {"phase": "fit", "epoch": 1, "loss": 3.0, "valid_recall": 0.1},
        {"phase": "fit", "epoch": 2, "loss": 2.0, "valid_recall": 0.3},
        {"phase": "fit", "epoch": 3, "loss": 1.5, "valid_recall": 0.2},
        {"phase": "refit", "epoch": 1, "loss": 2.5, "valid_recall": None},
        {"phase": "refit", "epoch": 2, "loss": 1.8, "valid_recall": None},
    ]
    fig = training_curve(history, best_epoch=2)
    named = traces(fig)
    assert list(named) == ["loss (fit)", "validation recall (fit)", "loss (refit)"]
    assert list(named["loss (fit)"].y) == [3.0, 2.0, 1.5]
    assert list(named["validation recall (fit)"].y) == [0.1, 0.3, 0.2]
    assert named["validation recall (fit)"].yaxis == "y2"
    assert list(named["loss (refit)"].x) == [1, 2]
    assert [shape.x0 for shape in fig.layout.shapes] == [2]
    assert len(training_curve([]).data) == 0
