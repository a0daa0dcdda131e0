"""Audit chart builders: traces carry the hand-computed data; large inputs are thinned; inputs untouched."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recaudit.metrics import AuditInputs, evaluate
from recaudit.metrics.calibration import category_distributions
from recaudit.viz.audit_charts import (
    category_bars,
    frontier_chart,
    group_exposure_chart,
    group_metric_chart,
    long_tail_chart,
    lorenz_chart,
    metric_cards_frame,
    miscalibration_hist,
    popularity_lift_chart,
)
from tests.audit_fixtures import audit_frames
from tests.viz.conftest import traces


def _frames() -> dict[str, pd.DataFrame]:
    return audit_frames()


# --- Lorenz ---------------------------------------------------------------------------------------------


def test_lorenz_by_hand() -> None:
    # counts sorted [0, 1, 1, 2], total 4: y = 0, 0, 1/4, 2/4, 4/4 at x = 0, 1/4, 2/4, 3/4, 1
    # Gini = Σ (2j − n − 1) c_(j) / (n Σ c) = (−3·0 − 1·1 + 1·1 + 3·2) / (4·4) = 6/16 = 0.375
    fig = lorenz_chart(np.array([2, 1, 0, 1]), title="Exposure")
    named = traces(fig)
    assert list(named["equality"].x) == [0, 1] and list(named["equality"].y) == [0, 1]
    assert np.allclose(named["lorenz"].x, [0, 0.25, 0.5, 0.75, 1.0])
    assert np.allclose(named["lorenz"].y, [0, 0, 0.25, 0.5, 1.0])
    assert "Gini = 0.3750" in fig.layout.title.text and fig.layout.title.text.startswith("Exposure")
    # a given Gini (the audited number) is shown as given
    assert "Gini = 0.1234" in lorenz_chart(np.array([2, 1, 0, 1]), gini=0.1234).layout.title.text


def test_lorenz_without_exposure_is_empty_not_nan() -> None:
    fig = lorenz_chart(np.zeros(5))
    assert len(traces(fig)["lorenz"].x) == 0
    assert "no exposure" in fig.layout.title.text


def test_lorenz_thins_a_million_items_but_keeps_the_steep_end() -> None:
    counts = np.zeros(1_000_000)
    counts[-100:] = np.arange(1, 101)  # all exposure in the last 0.01% of items
    fig = lorenz_chart(counts, max_points=1000)
    curve = traces(fig)["lorenz"]
    x, y = np.asarray(curve.x), np.asarray(curve.y)
    assert len(x) <= 1100 and x[0] == 0 and x[-1] == 1 and y[-1] == pytest.approx(1)
    assert np.all(np.diff(x) > 0) and np.all(np.diff(y) >= 0)
    # the rise happens within the last 100 items; thinning by x only would keep ~1 point there
    assert int(((x > 1 - 100 / 1e6) & (y > 0)).sum()) >= 50
    # every kept point is an exact point of the full curve
    full_y = np.concatenate([[0], np.cumsum(np.sort(counts)) / counts.sum()])
    idx = np.rint(x * 1_000_000).astype(int)
    assert np.allclose(y, full_y[idx])


# --- long tail ------------------------------------------------------------------------------------------


def test_long_tail_by_hand() -> None:
    pop = np.array([5, 50, 10, 30, 0])
    exposure = np.array([1, 7, 0, 3, 2])
    head = np.array([False, True, False, True, False])  # 50 + 30 = 80 of 95 >= 80%
    before = pop.copy(), exposure.copy()
    fig = long_tail_chart(pop, exposure, head)
    named = traces(fig)
    # popularity order: rows 1 (50), 3 (30), 2 (10), 0 (5), 4 (0)
    assert list(named["training popularity"].x) == [1, 2, 3, 4, 5]
    assert list(named["training popularity"].y) == [50, 30, 10, 5, 0]
    assert list(named["exposure"].y) == [7, 3, 0, 1, 2]
    assert named["exposure"].yaxis == "y2"
    assert list(named["cut"].x) == [2, 2]
    # head exposure share: (7 + 3) / 13
    assert f"{10 / 13:.1%} of exposure" in fig.layout.title.text
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"
    x_title = fig.layout.xaxis.title.text.replace("<br>", " ")  # long titles are wrapped for the page
    assert "1 items without training interactions" in x_title
    assert "1 never exposed" in x_title
    assert np.array_equal(pop, before[0]) and np.array_equal(exposure, before[1])


def test_long_tail_ties_put_head_items_first() -> None:
    # rows 0 and 1 tie at φ = 10; the head (by item id) holds row 1: it must come first
    fig = long_tail_chart(np.array([10, 10, 1]), np.array([0, 5, 1]), np.array([False, True, False]))
    assert list(traces(fig)["exposure"].y) == [5, 0, 1]
    assert "cut" in traces(fig) and "exposure (bin mean)" not in traces(fig)


def test_long_tail_thins_large_catalogues_and_keeps_bin_means() -> None:
    n = 200_000
    pop = np.arange(n, 0, -1)  # row r has rank r + 1
    exposure = np.ones(n)
    exposure[::2] = 3.0  # alternating 3, 1: any bin of even width has mean 2
    fig = long_tail_chart(pop, exposure, max_points=400)
    named = traces(fig)
    x = np.asarray(named["training popularity"].x)
    assert len(x) <= 400 and x[0] == 1 and x[-1] == n
    assert np.array_equal(np.asarray(named["training popularity"].y), n + 1 - x)
    binned = named["exposure (bin mean)"]
    widths = np.asarray(binned.customdata)
    assert widths.sum() == n
    # the mean per bin is the exact mean of the items in that bin
    starts = np.asarray(binned.x) - 1
    expected = np.add.reduceat(exposure, starts) / widths
    assert np.allclose(binned.y, expected)
    assert "cut" not in named


def test_long_tail_rejects_misaligned_inputs() -> None:
    with pytest.raises(ValueError):
        long_tail_chart(np.ones(3), np.ones(4))


# --- metric cards ---------------------------------------------------------------------------------------


def test_metric_cards_frame_from_an_audit() -> None:
    f = _frames()
    inputs = AuditInputs.from_frames(f["recs"], f["train"], test=f["test"], items=f["items"])
    result = evaluate(inputs, ks=(2,), n_boot=50)
    cards = metric_cards_frame(result, ["recall@2", "gini@2", "ild@2", "nope@2"])
    assert list(cards.columns) == ["metric", "value", "ci_low", "ci_high", "help"]
    rows = cards.set_index("metric")
    assert rows.loc["recall@2", "value"] == pytest.approx(1 / 3)  # users a (hit), b, c (no hit)
    assert rows.loc["recall@2", "ci_low"] <= 1 / 3 <= rows.loc["recall@2", "ci_high"]
    assert rows.loc["recall@2", "help"] == "|L∩T| / |T|"
    assert rows.loc["gini@2", "value"] == pytest.approx(0.375) and math.isnan(rows.loc["gini@2", "ci_low"])
    assert math.isnan(rows.loc["ild@2", "value"]) and rows.loc["ild@2", "help"].startswith("skipped: needs")
    assert rows.loc["nope@2", "help"] == "not computed"


# --- popularity lift ------------------------------------------------------------------------------------


def test_popularity_lift_chart_by_hand() -> None:
    lift = pd.DataFrame(
        {
            "group": ["niche", "diverse", "blockbuster"],
            "n_users": [2, 6, 2],
            "gap_profile": [0.1, 0.2, 0.4],
            "gap_recommended": [0.15, 0.2, 0.3],
            "delta_gap": [0.5, 0.0, -0.25],
        }
    )
    fig = popularity_lift_chart(lift)
    named = traces(fig)
    assert list(named["profile (history)"].x) == ["niche", "diverse", "blockbuster"]
    assert list(named["profile (history)"].y) == [0.1, 0.2, 0.4]
    assert list(named["recommended"].y) == [0.15, 0.2, 0.3]
    assert list(named["recommended"].text) == ["ΔGAP +50.0%", "ΔGAP +0.0%", "ΔGAP -25.0%"]
    assert list(named["recommended"].customdata) == [2, 6, 2]
    with pytest.raises(ValueError):
        popularity_lift_chart(lift.drop(columns="delta_gap"))


# --- miscalibration -------------------------------------------------------------------------------------


def test_miscalibration_hist_bins_and_mean() -> None:
    values = np.array([0.0, 0.1, 0.1, 0.9, 1.0, np.nan])
    fig = miscalibration_hist(values, bins=2)
    named = traces(fig)
    # range [0, 1] in 2 bins: [0, 0.5) holds 0, 0.1, 0.1; [0.5, 1] holds 0.9, 1.0
    assert np.allclose(named["users"].x, [0.25, 0.75]) and list(named["users"].y) == [3, 2]
    assert np.allclose(named["users"].width, [0.5, 0.5])
    assert np.allclose(named["mean"].x, [0.42, 0.42])  # (0 + .1 + .1 + .9 + 1) / 5
    assert "5 users" in fig.layout.title.text and "1 users left out" in fig.layout.title.text


def test_miscalibration_hist_all_nan_and_constant() -> None:
    empty = miscalibration_hist(np.full(3, np.nan))
    assert len(empty.data) == 0 and "3 users left out" in empty.layout.title.text
    constant = traces(miscalibration_hist(np.full(4, 0.2), bins=5))
    assert int(np.sum(constant["users"].y)) == 4


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 10) | st.just(math.nan), min_size=1, max_size=200), st.integers(1, 40))
def test_miscalibration_hist_counts_every_finite_user(values: list[float], bins: int) -> None:
    array = np.asarray(values)
    fig = miscalibration_hist(array, bins=bins)
    n_finite = int(np.isfinite(array).sum())
    if n_finite:
        assert int(np.sum(traces(fig)["users"].y)) == n_finite
        assert len(traces(fig)["users"].x) == bins
        # the order of users does not change the figure
        again = miscalibration_hist(np.random.default_rng(0).permutation(array), bins=bins)
        assert list(traces(again)["users"].y) == list(traces(fig)["users"].y)


# --- categories -----------------------------------------------------------------------------------------


def test_category_bars_from_category_distributions() -> None:
    import scipy.sparse as sp

    # items: 0 -> {x}, 1 -> {x, y}, 2 -> {y}, 3 -> {z}; history {0, 3}, list {1, 2}
    # p = (x: (1 + 0)/2, y: 0, z: (0 + 1)/2) = (.5, 0, .5); q = (x: .5/2, y: (.5 + 1)/2, z: 0) = (.25, .75, 0)
    cats = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]]))
    dist = category_distributions([0, 3], [1, 2], cats, ["x", "y", "z"])
    fig = category_bars(dist, title="User a")
    named = traces(fig)
    # sorted by max(history, recommended): y (.75), x (.5), z (.5) ties keep order
    assert list(named["history p(g|u)"].x) == ["y", "x", "z"]
    assert np.allclose(named["history p(g|u)"].y, [0, 0.5, 0.5])
    assert np.allclose(named["recommended q(g|u)"].y, [0.75, 0.25, 0])
    assert fig.layout.title.text == "User a"


def test_category_bars_limits_many_categories() -> None:
    dist = pd.DataFrame({"history": np.linspace(1, 0.01, 50), "recommended": np.zeros(50)},
                        index=pd.Index([f"c{i}" for i in range(50)], name="category"))
    fig = category_bars(dist, max_categories=10)
    assert list(traces(fig)["history p(g|u)"].x) == [f"c{i}" for i in range(10)]
    assert "40 smaller categories not shown" in fig.layout.title.text


# --- group exposure -------------------------------------------------------------------------------------


def test_group_exposure_chart_from_an_audit() -> None:
    f = _frames()
    inputs = AuditInputs.from_frames(f["recs"], f["train"], test=f["test"], items=f["items"])
    result = evaluate(inputs, ["gini@2"], ci=False)
    table = result.item_groups["provider@2"]
    fig = group_exposure_chart(table)
    named = traces(fig)
    # x: i1 at rank 1 twice (1 + 1), i2 and i3 at rank 2 (1/log2 3 each); P = {i1, i2}, Q = {i3, i4}
    e = 1 / math.log2(3)
    total = 2 + 2 * e
    assert list(named["exposure"].x) == ["P", "Q"]
    assert np.allclose(named["exposure"].y, [(2 + e) / total, e / total])
    assert np.allclose(named["catalogue"].y, [0.5, 0.5])
    # test items within the catalogue: a -> i2 (P), c -> i1 (P); i9 is outside: merit P = 1, Q = 0
    assert np.allclose(named["merit (test)"].y, [1.0, 0.0])
    assert np.isnan(named["exposure"].customdata[1])  # no merit -> ratio undefined


def test_group_exposure_chart_without_merit_and_many_groups() -> None:
    table = pd.DataFrame({"group": [f"g{i}" for i in range(40)], "exposure_share": np.linspace(0.4, 0.0, 40),
                          "catalog_share": np.full(40, 1 / 40)})
    fig = group_exposure_chart(table, max_groups=5)
    named = traces(fig)
    assert set(named) == {"exposure", "catalogue"}
    assert list(named["exposure"].x) == ["g0", "g1", "g2", "g3", "g4"]
    assert "35 smaller groups not shown" in fig.layout.title.text


# --- user groups, frontier ------------------------------------------------------------------------------


def test_group_metric_chart_with_ci() -> None:
    groups = pd.DataFrame({"n_users": [10, 5], "ndcg@10": [0.2, 0.1]},
                          index=pd.Index(["cold", "heavy"], name="group"))
    ci = pd.DataFrame({"ci_low": [0.1, 0.05], "ci_high": [0.3, 0.2]}, index=["cold", "heavy"])
    fig = group_metric_chart(groups, "ndcg@10", ci)
    bar = fig.data[0]
    assert list(bar.x) == ["cold", "heavy"] and np.allclose(bar.y, [0.2, 0.1])
    assert np.allclose(bar.error_y.array, [0.1, 0.1]) and np.allclose(bar.error_y.arrayminus, [0.1, 0.05])
    assert list(bar.text) == ["n=10", "n=5"]
    with pytest.raises(ValueError):
        group_metric_chart(groups, "recall@10")


def test_group_metric_chart_from_an_audit() -> None:
    f = _frames()
    inputs = AuditInputs.from_frames(f["recs"], f["train"], test=f["test"], items=f["items"])
    result = evaluate(inputs, ["recall@2"], n_boot=20)
    fig = group_metric_chart(result.user_groups["activity"], "recall@2")
    assert list(fig.data[0].x) == ["cold"] and fig.data[0].y[0] == pytest.approx(1 / 3)


def test_frontier_chart_one_line_per_reranker() -> None:
    mmr = pd.DataFrame({"lambda": [0.5, 0.0, 1.0], "ndcg@10": [0.2, 0.3, 0.1], "gini@10": [0.6, 0.8, 0.4]})
    fair = pd.DataFrame({"lambda": [0.0, 0.5], "ndcg@10": [0.3, 0.25], "gini@10": [0.8, 0.5]})
    fig = frontier_chart({"mmr": mmr, "fair": fair}, x="gini@10", y="ndcg@10")
    named = traces(fig)
    assert set(named) == {"mmr", "fair"}
    assert list(named["mmr"].x) == [0.8, 0.6, 0.4] and list(named["mmr"].y) == [0.3, 0.2, 0.1]
    assert list(named["mmr"].text) == ["λ=0", "λ=0.5", "λ=1"]
    assert fig.layout.xaxis.title.text == "gini@10"
    assert list(mmr["lambda"]) == [0.5, 0.0, 1.0]  # input not mutated
    with pytest.raises(ValueError):
        frontier_chart({"mmr": mmr}, x="coverage@10", y="ndcg@10")
