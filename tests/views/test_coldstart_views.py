"""The Cold start page's tables and figures (:mod:`recaudit.views.coldstart`) on hand-made inputs with
known answers, and the "users it would reach" rule checked against real top-k lists of the tiny bundles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle import load_bundle
from recaudit.data.schema import CATEGORY, DOMAIN, ITEM_ID, TEXT, TITLE, USER_ID
from recaudit.metrics.lists import RecLists
from recaudit.models.foldin import FoldIn
from recaudit.scoring import ExactScorer
from recaudit.views import coldstart as views


def curve(values: dict[str, list[float]], ns=(0, 1, 2, 5, 10), half_width: float = 0.01) -> pd.DataFrame:
    """A tidy curve frame with ``ndcg`` per method and n, the interval ± ``half_width``."""
    rows = [
        (method, n, v, v - half_width, v + half_width, 50)
        for method, series in values.items()
        for n, v in zip(ns, series, strict=True)
    ]
    frame = pd.DataFrame(rows, columns=["method", "n", "ndcg", "ci_low", "ci_high", "n_users"])
    frame.attrs["k"] = 10
    return frame


# ------------------------------------------------------------------------------------------ curves


def test_crossing_point_is_where_a_method_stays_above_the_baseline() -> None:
    frame = curve({
        "foldin": [0.10, 0.21, 0.19, 0.30, 0.40],  # above at 1, below at 2, above from 5 on
        "meta": [0.21, 0.22, 0.23, 0.28, 0.29],  # above everywhere, intervals apart from n = 2 on
        "late": [0.0, 0.0, 0.0, 0.0, 0.19],  # below at the last n
        "popularity": [0.20, 0.20, 0.20, 0.20, 0.20],
    })
    assert views.crossing_point(frame, "ndcg", "foldin") == 5
    assert views.crossing_point(frame, "ndcg", "meta") == 0
    assert views.crossing_point(frame, "ndcg", "meta", separated=True) == 2  # 0.23 - 0.01 > 0.20 + 0.01
    assert views.crossing_point(frame, "ndcg", "late") is None
    assert views.crossing_point(frame, "ndcg", "popularity") is None
    assert views.crossing_point(frame, "ndcg", "foldin", baseline="absent") is None


def test_crossing_sentence_names_each_method_the_n_and_both_values() -> None:
    frame = curve({
        "foldin": [0.10, 0.21, 0.19, 0.30, 0.40],
        "meta": [0.25, 0.26, 0.27, 0.28, 0.29],
        "popularity": [0.20, 0.20, 0.20, 0.20, 0.30],
    })
    text = views.crossing_sentence(frame, "ndcg")
    assert "Fold-in beats popularity from n = 5 (ndcg 0.300 vs 0.200)" in text
    assert "the 95% intervals separate from n = 5" in text
    assert "Learned prior (meta) is not above popularity at n = 10" in text
    assert views.crossing_sentence(frame.query("method != 'popularity'"), "ndcg") == ""


def test_blend_sentence_flags_each_n_where_the_blend_is_below_its_better_part() -> None:
    frame = curve({
        "content": [0.30, 0.30, 0.30, 0.30, 0.30],
        "collaborative": [0.00, 0.10, 0.25, 0.35, 0.50],
        "blend": [0.30, 0.31, 0.29, 0.36, 0.45],
    })
    assert views.blend_sentence(frame, "ndcg") == (
        "The blend is below the better of content and collaborative at n = 2, 10."
    )
    frame.loc[frame["method"] == "blend", "ndcg"] = [0.30, 0.31, 0.31, 0.36, 0.50]
    assert views.blend_sentence(frame, "ndcg").startswith("The blend is at least as good")
    assert views.blend_sentence(frame.query("method != 'blend'"), "ndcg") == ""


def test_curve_figure_draws_a_band_and_a_line_per_method_over_the_measured_n() -> None:
    frame = curve({"foldin": [0.1, 0.2, 0.3, 0.4, 0.5], "popularity": [0.2] * 5})
    fig = views.curve_figure(frame, "ndcg", title="New users")
    assert len(fig.data) == 6
    upper, lower, line = fig.data[:3]
    np.testing.assert_allclose(upper.y, [0.11, 0.21, 0.31, 0.41, 0.51])
    np.testing.assert_allclose(lower.y, [0.09, 0.19, 0.29, 0.39, 0.49])
    assert lower.fill == "tonexty" and upper.showlegend is False and lower.showlegend is False
    np.testing.assert_allclose(line.y, [0.1, 0.2, 0.3, 0.4, 0.5])
    assert list(line.x) == [0, 1, 2, 5, 10] and line.name == "fold-in"
    assert [t.name for t in fig.data if t.showlegend is not False] == ["fold-in", "popularity"]
    assert list(fig.layout.xaxis.tickvals) == [0, 1, 2, 5, 10]
    assert fig.layout.yaxis.title.text == "ndcg@10"


# ------------------------------------------------------------------------------------------ landing


def test_cold_rank_table_counts_cold_items_per_position() -> None:
    items = np.array([[0, 1, -1], [2, 0, 1], [1, 1, 1]])
    cold = np.array([True, False, True])
    table = views.cold_rank_table(items, cold)
    assert table["position"].tolist() == [1, 2, 3]
    assert table["filled"].tolist() == [3, 3, 2]
    assert table["cold"].tolist() == [2, 1, 0]
    np.testing.assert_allclose(table["cold_share_of_position"], [2 / 3, 1 / 3, 0.0])
    np.testing.assert_allclose(table["share_of_cold_slots"], [2 / 3, 1 / 3, 0.0])
    empty = views.cold_rank_table(items, np.zeros(3, dtype=bool))
    assert empty["cold"].sum() == 0 and empty["share_of_cold_slots"].isna().all()


def test_landing_summary_shares_over_non_empty_lists() -> None:
    lists = RecLists(
        user_ids=np.array(["a", "b", "c", "d"], dtype=object),
        items=np.array([[0, 1], [1, 3], [-1, -1], [2, 0]]),
        item_ids=np.array(["x", "y", "z", "w"], dtype=object),
    )
    cold = np.array([True, False, False, True])
    summary = views.landing_summary(lists, cold)
    assert summary["n_lists"] == 3  # c's list is empty
    assert summary["lists_with_cold"] == 3 and summary["share_with_cold"] == 1.0
    assert summary["cold_slots"] == 3
    assert summary["cold_exposure_share"] == pytest.approx(3 / 6)
    assert summary["n_cold_items"] == 2 and summary["catalog_cold_share"] == 0.5
    assert summary["cold_items_shown"] == 2
    none_cold = views.landing_summary(lists, np.zeros(4, dtype=bool))
    assert none_cold["share_with_cold"] == 0.0 and none_cold["cold_items_shown"] == 0


def test_rank_histogram_bars_are_the_cold_counts() -> None:
    table = views.cold_rank_table(np.array([[0, 1], [0, 0]]), np.array([True, False]))
    fig = views.rank_histogram(table, title="Positions")
    assert list(fig.data[0].x) == [1, 2] and list(fig.data[0].y) == [2, 1]


# ------------------------------------------------------------------------------------------ a new item


def test_users_reached_beat_the_kth_score_and_take_their_rank() -> None:
    top = np.array([[0.9, 0.5], [0.3, -np.inf], [0.8, 0.7], [0.2, 0.1]], dtype=np.float32)
    new = np.array([0.6, -1.0, 0.7, 0.95], dtype=np.float32)
    reached = views.users_reached(new, top, ["a", "b", "c", "d"])
    # c ties its k-th best (not strictly above): not reached; b's list is short: any score enters it
    assert reached[USER_ID].tolist() == ["d", "a", "b"]
    assert reached["rank"].tolist() == [1, 2, 2]
    np.testing.assert_allclose(reached["kth_score"], [0.1, 0.5, -np.inf])
    with pytest.raises(ValueError, match="3 new scores for 4 lists"):
        views.users_reached(new[:3], top, ["a", "b", "c", "d"])


@pytest.mark.parametrize("score", ["dot", "cosine"])
@pytest.mark.parametrize("with_bias", [True, False])
def test_new_item_scores_use_the_scorers_formula(score: str, with_bias: bool) -> None:
    rng = np.random.default_rng(0)
    users, items = rng.normal(size=(7, 4)), rng.normal(size=(5, 4)) * 3
    bias = rng.normal(size=5) if with_bias else None
    scorer = ExactScorer(
        users, items, [f"u{i}" for i in range(7)], [f"i{i}" for i in range(5)], item_bias=bias, score=score,
        seen=None, device="cpu",
    )
    expected = scorer.score_items([f"u{i}" for i in range(7)], ["i3"])[:, 0]
    got = views.new_item_scores(
        users, items[3], None if bias is None else float(bias[3]), score, with_bias=with_bias
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bundle_name", ["coldstart", "alpha"])
def test_reach_agrees_with_the_real_lists_of_a_catalogue_item_nobody_has_seen(
    bundle_name: str, coldstart_bundle_dir: Path, tiny_bundle_dir: Path
) -> None:
    """Scored as a newcomer against lists ranked without it, an unseen catalogue item reaches exactly the
    users whose real top-k (with it) holds it, at the same rank."""
    folder = coldstart_bundle_dir if bundle_name == "coldstart" else tiny_bundle_dir
    bundle = load_bundle(folder / bundle_name)
    unseen = np.flatnonzero(bundle.item_popularity == 0)
    assert unseen.size, "the fixture should hold an item without training interactions"
    k = 10
    scorer = bundle.exact_scorer("cpu")
    users = list(bundle.user_ids)
    for row in unseen[:3]:
        without = np.ones(len(bundle.item_ids), dtype=bool)
        without[row] = False
        rest = scorer.recommend(users, k, candidates=without)
        bias = None if bundle.item_bias is None else float(bundle.item_bias[row])
        scores = views.new_item_scores(
            bundle.user_emb, bundle.item_emb[row], bias, bundle.score, with_bias=bundle.item_bias is not None
        )
        reached = views.users_reached(scores, rest.scores, rest.user_ids).set_index(USER_ID)["rank"]
        full = scorer.recommend(users, k)
        holders, positions = np.nonzero(full.item_index == row)
        truth = pd.Series(positions + 1, index=full.user_ids[holders].astype(str))
        assert reached.sort_index().to_dict() == truth.sort_index().to_dict()


def test_nearest_items_rank_by_cosine_and_include_the_item_itself() -> None:
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(20, 6)).astype(np.float32)
    items = pd.DataFrame({ITEM_ID: [f"i{i}" for i in range(20)], TITLE: [f"T{i}" for i in range(20)]})
    popularity = np.arange(20)
    near = views.nearest_items(emb[4] * 5.0, emb, items, popularity, n=5)
    assert near[ITEM_ID].iloc[0] == "i4" and near["similarity"].iloc[0] == pytest.approx(1.0)
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    expected = np.argsort(-(unit @ unit[4]), kind="stable")[:5]
    assert near[ITEM_ID].tolist() == [f"i{i}" for i in expected]
    assert near["interactions"].tolist() == expected.tolist()
    assert near["rank"].tolist() == [1, 2, 3, 4, 5] and near[TITLE].iloc[0] == "T4"
    assert len(views.nearest_items(emb[0], emb, items, popularity, n=50)) == 20


def test_new_item_frame_and_category_options() -> None:
    frame = views.new_item_frame("  A Title ", "", "western", domain="books")
    assert frame.to_dict("records") == [
        {ITEM_ID: views.NEW_ITEM_ID, TITLE: "A Title", TEXT: None, CATEGORY: "western", DOMAIN: "books"}
    ]
    assert DOMAIN not in views.new_item_frame("t", "x", None).columns
    items = pd.DataFrame({ITEM_ID: ["a", "b", "c"], CATEGORY: ["drama|war", None, "war"]})
    assert views.category_options(items) == ["drama", "war"]
    assert views.category_options(items.drop(columns=[CATEGORY])) == []


def test_embedding_summary_places_the_norm_among_the_catalogues() -> None:
    items = np.diag([1.0, 2.0, 3.0, 4.0])
    summary = views.embedding_summary(np.array([0.0, 0.0, 2.5, 0.0]), None, items)
    assert summary["norm"] == 2.5 and summary["median_norm"] == 2.5
    assert summary["norm_percentile"] == 0.5 and np.isnan(summary["bias"])
    assert views.embedding_summary(np.ones(4), 0.25, items)["bias"] == 0.25


# ------------------------------------------------------------------------------------------ a new user


def test_onboarding_list_is_the_folded_in_top_k_without_the_picked_items() -> None:
    rng = np.random.default_rng(2)
    users, emb = rng.normal(size=(30, 5)), rng.normal(size=(40, 5)).astype(np.float32)
    items = pd.DataFrame({ITEM_ID: [f"i{i}" for i in range(40)], TITLE: [f"T{i}" for i in range(40)]})
    scorer = ExactScorer(users, emb, [f"u{i}" for i in range(30)], list(items[ITEM_ID]), item_bias=None,
                         score="dot", seen=None, device="cpu")  # fmt: skip
    solver = FoldIn(emb)
    picked = [3, 17, 25]
    table = views.onboarding_list(scorer, solver, picked, 8, items)
    scores = emb @ solver.fit(picked)
    scores[picked] = -np.inf
    expected = np.argsort(-scores, kind="stable")[:8]
    assert table[ITEM_ID].tolist() == [f"i{i}" for i in expected]
    assert table["rank"].tolist() == list(range(1, 9))
    np.testing.assert_allclose(table["score"], np.round(scores[expected], 4), atol=1e-4)
    before = views.onboarding_list(scorer, solver, picked[:2], 8, items)
    assert table["new"].tolist() == [i not in set(before[ITEM_ID]) for i in table[ITEM_ID]]
    first = views.onboarding_list(scorer, solver, picked[:1], 8, items)
    assert first["new"].all() and "i3" not in set(first[ITEM_ID])
    assert not views.onboarding_list(scorer, solver, [], 8, items)["new"].any()
