"""Group exposure fairness: hand-computed values, loop reference, properties (docs/metrics.md)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recaudit.metrics.fairness import GROUP_EXPOSURE_COLUMNS, exposure_disparity, group_exposure
from recaudit.metrics.lists import RecLists, membership_matrix


def _lists(rows: list[list[int]], n_items: int) -> RecLists:
    users = np.array([f"u{u}" for u in range(len(rows))], dtype=object)
    catalogue = np.array([f"i{i}" for i in range(n_items)], dtype=object)
    return RecLists(users, np.array(rows, dtype=np.int64), catalogue)


E2 = 1 / math.log2(3)  # position weight of rank 2


def test_hand_computed_fixture_with_multi_membership() -> None:
    # items: 0 'a', 1 'a|b' (in both groups), 2 'b', 3 no group
    membership, names = membership_matrix(["a", "a|b", "b", None])
    lists = _lists([[0, 1], [2, 3], [1, -1]], 4)
    # x = [1, E2 + 1, 1, E2]; Σx = 3 + 2·E2
    # test interactions: item 0 twice, item 2 once, item 3 once -> t = [2, 0, 1, 1], Σt = 4
    test = sp.csr_matrix(np.array([[2, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32))
    table = group_exposure(lists, membership, names, test)
    assert list(table.columns) == list(GROUP_EXPOSURE_COLUMNS)
    assert table["group"].tolist() == ["a", "b"]
    total = 3 + 2 * E2
    a, b = table.iloc[0], table.iloc[1]
    # group a = items {0, 1}: exposure 1 + E2 + 1; group b = items {1, 2}: E2 + 1 + 1 (item 1 counts twice)
    assert a["exposure_share"] == pytest.approx((2 + E2) / total)
    assert b["exposure_share"] == pytest.approx((2 + E2) / total)
    assert (a["n_items"], b["n_items"]) == (2, 2)
    assert (a["catalog_share"], b["catalog_share"]) == (0.5, 0.5)
    # merit: a holds t0 + t1 = 2 of 4, b holds t1 + t2 = 1 of 4
    assert (a["merit_share"], b["merit_share"]) == pytest.approx((0.5, 0.25))
    assert a["exposure_ratio"] == pytest.approx((2 + E2) / total / 0.5)
    assert b["exposure_ratio"] == pytest.approx((2 + E2) / total / 0.25)
    # disparity: max/min ratio = 0.5 / 0.25 = 2
    assert exposure_disparity(table) == pytest.approx(2.0)


def test_without_test_and_edge_cases() -> None:
    membership, names = membership_matrix(["p", "q", "q"], multi=False)
    lists = _lists([[1, 2]], 3)
    table = group_exposure(lists, membership, names)
    assert table["merit_share"].isna().all() and table["exposure_ratio"].isna().all()
    assert math.isnan(exposure_disparity(table))
    assert table["exposure_share"].tolist() == pytest.approx([0.0, 1.0])
    # a group with merit but no exposure: ratio 0, disparity infinite
    test = sp.csr_matrix(np.array([[1, 1, 0]], dtype=np.float32))
    table = group_exposure(lists, membership, names, test)
    assert table["exposure_ratio"].tolist() == pytest.approx([0.0, 2.0])
    assert exposure_disparity(table) == math.inf
    # a group without merit is left out of the disparity (its ratio is NaN)
    test = sp.csr_matrix(np.array([[0, 1, 1]], dtype=np.float32))
    table = group_exposure(lists, membership, names, test)
    assert math.isnan(table["exposure_ratio"].iloc[0])
    assert exposure_disparity(table) == pytest.approx(1.0)
    # empty log: shares NaN, no division by zero
    table = group_exposure(_lists([[-1, -1]], 3), membership, names, test)
    assert table["exposure_share"].isna().all() and math.isnan(exposure_disparity(table))
    with pytest.raises(ValueError):
        group_exposure(lists, membership, ["only-one"])


def _random(seed: int, n_users: int, n_items: int, n_groups: int, k: int):
    rng = np.random.default_rng(seed)
    k = min(k, n_items)
    items = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :k].astype(np.int64)
    lengths = np.where(rng.random(n_users) < 0.3, rng.integers(0, k + 1, n_users), k)
    items[np.arange(k)[None, :] >= lengths[:, None]] = -1
    member = (rng.random((n_items, n_groups)) < 0.4).astype(np.float32)
    test = rng.poisson(0.3, (n_users, n_items)).astype(np.float32)
    return _lists(items.tolist(), n_items), sp.csr_matrix(member), sp.csr_matrix(test)


@pytest.mark.parametrize("seed", range(4))
def test_matches_loop_reference(seed: int) -> None:
    lists, member, test = _random(seed, 25, 15, 4, 5)
    names = [f"g{g}" for g in range(4)]
    table = group_exposure(lists, member, names, test)
    m, t = member.toarray(), test.toarray()
    x = [0.0] * lists.n_items
    for row in lists.items.tolist():
        for r, i in enumerate(row, start=1):
            if i >= 0:
                x[i] += 1 / math.log2(r + 1)
    for g in range(4):
        in_g = [i for i in range(lists.n_items) if m[i, g]]
        exp = sum(x[i] for i in in_g) / sum(x)
        merit = sum(t[:, i].sum() for i in in_g) / t.sum()
        row = table.iloc[g]
        assert row["exposure_share"] == pytest.approx(exp)
        assert row["catalog_share"] == pytest.approx(len(in_g) / lists.n_items)
        assert row["merit_share"] == pytest.approx(merit)
        if merit > 0:
            assert row["exposure_ratio"] == pytest.approx(exp / merit)
    ratios = [table.iloc[g]["exposure_ratio"] for g in range(4) if table.iloc[g]["merit_share"] > 0]
    if ratios and min(ratios) > 0:
        assert exposure_disparity(table) == pytest.approx(max(ratios) / min(ratios))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 30), st.integers(1, 12), st.integers(1, 5))
def test_properties(seed: int, n_users: int, n_items: int, n_groups: int) -> None:
    lists, member, test = _random(seed, n_users, n_items, n_groups, 4)
    names = [f"g{g}" for g in range(n_groups)]
    table = group_exposure(lists, member, names, test)
    for column in ("exposure_share", "catalog_share", "merit_share"):
        values = table[column].dropna()
        assert ((values >= -1e-12) & (values <= 1 + 1e-12)).all()
    # one group per item (no multi-membership) -> shares over groups sum to 1
    single = sp.csr_matrix(np.eye(n_groups, dtype=np.float32)[np.arange(n_items) % n_groups])
    part = group_exposure(lists, single, names, test)
    if lists.lengths.sum() > 0:
        assert part["exposure_share"].sum() == pytest.approx(1.0)
    assert part["catalog_share"].sum() == pytest.approx(1.0)
    value = exposure_disparity(table)
    assert math.isnan(value) or value >= 1.0
    # user order does not matter
    order = np.random.default_rng(seed).permutation(n_users)
    shuffled = RecLists(lists.user_ids[order], lists.items[order], lists.item_ids)
    pd.testing.assert_frame_equal(group_exposure(shuffled, member, names, test[order]), table)


def test_proportional_exposure_has_disparity_one() -> None:
    # each of 3 items shown once at rank 1 (x = 1 each) and equally relevant: every ratio is 1
    membership, names = membership_matrix(["a", "b", "c"], multi=False)
    lists = _lists([[0], [1], [2]], 3)
    table = group_exposure(lists, membership, names, sp.csr_matrix(np.eye(3, dtype=np.float32)))
    assert table["exposure_ratio"].tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert exposure_disparity(table) == pytest.approx(1.0)
