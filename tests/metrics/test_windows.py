"""Exposure over time: lists split at rank 1, windowed by their rank-1 time, audited per window; by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from recaudit.cli import main
from recaudit.errors import RecauditInputError
from recaudit.metrics.windows import split_lists, window_starts, windowed_audit


def _log() -> pd.DataFrame:
    """Week of 5 Jan 2026: a [i1, i2], b [i1, i3], then a again [i1, i4] on Sunday 11 Jan (same ISO week);
    week of 12 Jan: a [i2, i3], b [i4, i1]. The second row of a list carries a later time than its first."""
    rows = [
        ("a", "i1", 1, "2026-01-05T10:00:00"), ("a", "i2", 2, "2026-01-05T10:00:01"),
        ("b", "i1", 1, "2026-01-06T08:00:00"), ("b", "i3", 2, "2026-01-06T08:00:00"),
        ("a", "i1", 1, "2026-01-11T23:59:00"), ("a", "i4", 2, "2026-01-12T00:01:00"),
        ("a", "i2", 1, "2026-01-13T09:00:00"), ("a", "i3", 2, "2026-01-13T09:00:00"),
        ("b", "i4", 1, "2026-01-14T09:00:00"), ("b", "i1", 2, "2026-01-14T09:00:00"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rank", "timestamp"])


TRAIN = pd.DataFrame({"user_id": ["a", "b", "c", "c"], "item_id": ["i1", "i1", "i2", "i4"]})
ITEMS = pd.DataFrame({"item_id": ["i1", "i2", "i3", "i4"], "provider": ["p", "p", "q", "q"]})


def test_lists_start_at_rank_one_and_take_the_time_of_their_first_row() -> None:
    split = split_lists(_log())
    assert split["list_id"].nunique() == 5
    late = split[split["list_id"] == split.loc[4, "list_id"]]
    assert set(late["item_id"]) == {"i1", "i4"} and (late["list_time"] == late["timestamp"].iloc[0]).all()
    weeks = window_starts(split["list_time"], "week")
    assert str(weeks.iloc[5]) == "2026-01-05"  # its row at 00:01 on the 12th stays in its list's week
    assert str(window_starts(split["list_time"], "month").iloc[9]) == "2026-01-01"
    assert str(window_starts(split["list_time"], "day").iloc[2]) == "2026-01-06"


def test_each_week_is_audited_over_its_lists_by_hand() -> None:
    out = windowed_audit(_log(), TRAIN, window="week", items=ITEMS, k=2)
    first, second = out.metrics.to_dict("records")
    assert (first["lists"], first["users"], second["lists"]) == (3, 2, 2)
    # week 1: i1 in 3 lists, i2, i3, i4 in 1 each (a's two lists both count)
    assert first["coverage"] == pytest.approx(1.0)
    p = [3 / 6, 1 / 6, 1 / 6, 1 / 6]
    assert first["entropy"] == pytest.approx(-sum(x * math.log(x) for x in p))
    assert first["personalization"] == pytest.approx(1 - (3 * 2) / (3 * 2 * 2))
    # week 2: a [i2, i3], b [i4, i1]: every item once
    assert second["coverage"] == pytest.approx(1.0) and second["gini"] == pytest.approx(0.0)
    shares = out.groups[(out.groups["column"] == "provider")].set_index(["window", "group"])[
        "exposure_share"
    ]
    e1, e2 = 1.0, 1.0 / math.log2(3)  # position weights
    week1 = shares.loc[(first["window"], "p")]
    assert week1 == pytest.approx((3 * e1 + e2) / (3 * (e1 + e2)))  # i1 at 1 three times, i2 at 2 once
    lift = out.lift[out.lift["window"] == first["window"]].set_index("group")
    assert lift["n_users"].sum() == 2  # one person each, over their last list of the week


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="timestamp"), "has no timestamp column"),
        (
            lambda f: f.assign(rank=[2, 1, 1, 2, 1, 2, 1, 2, 1, 2]),
            "1 rows come before their user's first rank-1",
        ),
        (lambda f: f.assign(timestamp=["yesterday"] * 10), "unparseable timestamps"),
    ],
)
def test_a_log_that_cannot_be_windowed_is_one_clear_error(change, message: str) -> None:
    with pytest.raises(RecauditInputError, match=message):
        windowed_audit(change(_log()), TRAIN, window="week", items=ITEMS, k=2)


def test_cli_window_prints_and_writes_the_windows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recs, train, items = tmp_path / "recs.csv", tmp_path / "train.csv", tmp_path / "items.csv"
    _log().to_csv(recs, index=False)
    TRAIN.to_csv(train, index=False)
    ITEMS.to_csv(items, index=False)
    argv = [
        "metrics",
        "--recs",
        str(recs),
        "--train",
        str(train),
        "--items",
        str(items),
        "--k",
        "2",
        "--no-ci",
    ]
    assert main([*argv, "--window", "week", "--format", "json"]) == 0
    windows = json.loads(capsys.readouterr().out)["windows"]
    assert [w["window"] for w in windows["metrics"]] == ["2026-01-05", "2026-01-12"]
    assert windows["metrics"][0]["lists"] == 3 and {g["group"] for g in windows["groups"]} == {"p", "q"}
    assert main([*argv, "--window", "month"]) == 0
    assert "exposure over time, per month (k = 2)" in capsys.readouterr().out
    assert main([*argv, "--window", "week", "--engine", "duckdb"]) == 2
    assert "exposure over time runs in memory" in capsys.readouterr().err
