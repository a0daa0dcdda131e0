"""Temporal holdout and cold holdouts."""

from pathlib import Path

import pandas as pd
import pytest

from recaudit.data import holdout_cold, read_interactions, temporal_split


def test_last_20_percent_by_time_per_user() -> None:
    frame = pd.DataFrame(
        {
            "user_id": ["a"] * 10 + ["b"] * 3 + ["c"],
            "item_id": [str(i) for i in range(10)] + ["x", "y", "z"] + ["w"],
            "timestamp": list(range(10, 0, -1)) + [1, 2, 2] + [5],
        }
    )
    train, test = temporal_split(frame)
    # user a: 10 rows, floor(2) = 2 latest (timestamps 10 and 9 -> items 0 and 1)
    assert sorted(test[test.user_id == "a"].item_id) == ["0", "1"]
    # user b: floor(0.6) = 0 -> at least 1; tie at t=2 broken by item id: z is last
    assert test[test.user_id == "b"].item_id.tolist() == ["z"]
    # user c: a single interaction goes to test
    assert test[test.user_id == "c"].item_id.tolist() == ["w"]
    assert len(train) + len(test) == len(frame)
    assert not set(map(tuple, train[["user_id", "item_id"]].values)) & set(
        map(tuple, test[["user_id", "item_id"]].values)
    )


def test_numeric_item_ids_sort_numerically_on_ties() -> None:
    items = ["10", "9", "100", "2", "1"]
    frame = pd.DataFrame({"user_id": ["u"] * 5, "item_id": items, "timestamp": [1] * 5})
    _, test = temporal_split(frame)
    assert test.item_id.tolist() == ["100"]


@pytest.mark.realdata
def test_reproduces_the_reference_audit_split(shared_datasets: Path) -> None:
    from recaudit.data import load_movielens

    interactions, _ = load_movielens(shared_datasets / "ml-latest-small")
    train, test = temporal_split(interactions)
    reference = read_interactions(shared_datasets / "ml-latest-small-audit" / "test.csv")
    key = ["user_id", "item_id", "timestamp"]
    assert len(test) == len(reference) == 19940
    assert test[key].sort_values(key).reset_index(drop=True).equals(
        reference[key].sort_values(key).reset_index(drop=True)
    )
    assert len(train) == 100836 - 19940


def test_holdout_cold_moves_every_row_of_cold_items_and_users() -> None:
    frame = pd.DataFrame({"user_id": list("aabbc"), "item_id": list("xyxzz"), "timestamp": range(5)})
    warm, cold = holdout_cold(frame, cold_items=["z"], cold_users=["a"])
    assert set(warm.item_id) == {"x"} and set(warm.user_id) == {"b"}
    assert len(warm) + len(cold) == len(frame)
