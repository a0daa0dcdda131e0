"""User groups: activity buckets, users-table columns, NaN-aware group means."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recaudit.errors import RecauditInputError
from recaudit.metrics.groups import activity_buckets, group_means, users_column_groups


def test_activity_buckets_edges_are_inclusive_upper_bounds() -> None:
    counts = np.array([0, 5, 6, 20, 21, 100, 101, 5000])
    assert activity_buckets(counts).tolist() == [
        "cold", "cold", "light", "light", "medium", "medium", "heavy", "heavy"
    ]
    assert activity_buckets(np.array([1, 2, 3]), edges=(1,), labels=("one", "more")).tolist() == [
        "one", "more", "more"
    ]
    with pytest.raises(ValueError):
        activity_buckets(counts, edges=(5, 5, 100))
    with pytest.raises(ValueError):
        activity_buckets(counts, edges=(5, 20))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 300), max_size=40))
def test_activity_buckets_match_a_loop(counts: list[int]) -> None:
    def ref(n: int) -> str:
        return "cold" if n <= 5 else "light" if n <= 20 else "medium" if n <= 100 else "heavy"

    assert activity_buckets(np.array(counts, dtype=np.int64)).tolist() == [ref(n) for n in counts]


def test_group_means_by_hand() -> None:
    values = np.array([1.0, np.nan, 3.0, 4.0, np.inf])
    labels = np.array(["a", "b", "a", "c", "c"], dtype=object)
    table = group_means(values, labels, order=["c", "b", "zz"])
    assert table["group"].tolist() == ["c", "b", "zz", "a"]
    # c: 4 (inf is left out, like NaN); b: no finite value; zz: no users; a: (1 + 3)/2
    assert table["mean"].tolist()[0] == 4.0 and np.isnan(table["mean"].tolist()[1:3]).all()
    assert table["mean"].tolist()[3] == 2.0
    assert table["n"].tolist() == [1, 0, 0, 2]
    assert table["n_users"].tolist() == [2, 1, 0, 2]
    assert group_means(values, labels)["group"].tolist() == ["a", "b", "c"]
    with pytest.raises(ValueError):
        group_means(values, labels[:2])


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 60))
def test_group_means_match_nanmean_and_ignore_user_order(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.where(rng.random(n) < 0.2, np.nan, rng.random(n))
    labels = rng.choice(np.array(["x", "y", "z"], dtype=object), n)
    table = group_means(values, labels).set_index("group")
    for g in set(labels):
        chosen = values[labels == g]
        assert table.loc[g, "n"] == int(np.isfinite(chosen).sum())
        if np.isfinite(chosen).any():
            assert table.loc[g, "mean"] == pytest.approx(np.nanmean(chosen))
        else:
            assert math.isnan(table.loc[g, "mean"])
    order = rng.permutation(n)
    pd.testing.assert_frame_equal(group_means(values[order], labels[order]).set_index("group"), table)


def test_users_column_groups() -> None:
    users = pd.DataFrame({"user_id": [1, 2, 3, 4], "age": [30, np.nan, 41, 18],
                          "country": ["de", "fr", None, " "]})
    ids = np.array(["2", "1", "9", "3", "4"], dtype=object)
    assert users_column_groups(ids, users, "age").tolist() == ["unknown", "30", "unknown", "41", "18"]
    countries = users_column_groups(ids, users, "country").tolist()
    assert countries == ["fr", "de", "unknown", "unknown", "unknown"]
    with pytest.raises(RecauditInputError, match="no column 'gender'"):
        users_column_groups(ids, users, "gender")
    with pytest.raises(RecauditInputError, match="twice"):
        users_column_groups(ids, pd.concat([users, users.iloc[:1]]), "age")
