"""Popularity-bias metrics: hand-computed values, loop references, properties (docs/metrics.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recaudit.metrics.lists import RecLists
from recaudit.metrics.popularity import (
    aplt,
    arp,
    head_items,
    list_mean,
    novelty,
    popularity_groups,
    popularity_lift,
)


def _lists(rows: list[list[int]], n_items: int) -> RecLists:
    users = np.array([f"u{u}" for u in range(len(rows))], dtype=object)
    catalogue = np.array([f"i{i}" for i in range(n_items)], dtype=object)
    return RecLists(users, np.array(rows, dtype=np.int64), catalogue)


def _world(seed: int, n_users: int = 30, n_items: int = 20, k: int = 5):
    rng = np.random.default_rng(seed)
    items = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :k].astype(np.int64)
    lengths = np.where(rng.random(n_users) < 0.3, rng.integers(0, k + 1, n_users), k)
    items[np.arange(k)[None, :] >= lengths[:, None]] = -1
    lists = _lists(items.tolist(), n_items)
    dense = rng.poisson(0.4 * (np.arange(n_items)[None, :] < n_items // 2) + 0.1, (n_users, n_items))
    train = sp.csr_matrix(dense.astype(np.float32))
    return lists, train


# --- by hand ---------------------------------------------------------------------------------------

def test_hand_computed_fixture() -> None:
    # catalogue a..d; φ = [5, 3, 1, 1]; users(i) = [3, 2, 1, 0]; 4 training users
    lists = _lists([[0, 1], [1, 2], [3, -1], [-1, -1]], 4)
    pop = np.array([5, 3, 1, 1])
    item_users = np.array([3, 2, 1, 0])
    # Σφ = 10, 80% = 8: 5 + 3 = 8 -> head {0, 1}
    head = head_items(pop, item_ids=lists.item_ids)
    assert head.tolist() == [True, True, False, False]
    # ARP: (5+3)/2, (3+1)/2, 1/1, empty
    np.testing.assert_allclose(arp(lists, pop), [4.0, 2.0, 1.0, np.nan])
    # APLT: 0/2, 1/2, 1/1
    np.testing.assert_allclose(aplt(lists, head), [0.0, 0.5, 1.0, np.nan])
    # novelty: −log2(3/4), −log2(2/4) = 1, −log2(1/4) = 2, item d: max(0, 1) = 1 -> 2
    nov = novelty(lists, item_users, 4)
    np.testing.assert_allclose(nov, [(-math.log2(0.75) + 1) / 2, (1 + 2) / 2, 2.0, np.nan])
    assert np.isnan(novelty(lists, item_users, 0)).all()


def test_head_ties_are_broken_by_item_id() -> None:
    # φ all equal: 80% of 5 = 4 items; the largest id ('e', at row 0) is the one left out
    pop = np.array([2, 2, 2, 2, 2])
    ids = np.array(["e", "a", "c", "b", "d"], dtype=object)
    assert head_items(pop, item_ids=ids).tolist() == [False, True, True, True, True]
    # without ids: row order
    assert head_items(pop).tolist() == [True, True, True, True, False]
    # share = 1 keeps every item with φ > 0, never the zero ones
    assert head_items(np.array([3, 0, 1]), 1.0).tolist() == [True, False, True]
    assert not head_items(np.zeros(3)).any()
    with pytest.raises(ValueError):
        head_items(pop, 0.0)


def _ids(n: int) -> np.ndarray:
    return np.array([f"u{u}" for u in range(n)], dtype=object)


def test_popularity_groups_split_ties_by_user_id() -> None:
    head = np.array([True, False, False, False, False])
    # 10 users, histories of two items (user 9 none); item 0 is the only head item
    rows = [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3], [0, 3], [1, 4], [2, 4], [3, 4], []]
    dense = np.zeros((10, 5))
    for u, items in enumerate(rows):
        dense[u, items] = 1
    dense[0, 0] = 3  # repeated interactions count once in H_u
    ids = np.array(["b", "a", "c", "d", "e", "z", "f", "g", "h", "x"], dtype=object)
    labels = popularity_groups(sp.csr_matrix(dense), head, ids)
    # shares among the 9 users with history: 0.5 for rows 0, 1, 5 (ids b, a, z), 0 for the other six;
    # round(0.2·9) = 2. Ranked by (share, id): the two lowest are c, d (share 0); the two highest z, b.
    assert labels.tolist() == [
        "blockbuster", "diverse", "niche", "niche", "diverse", "blockbuster",
        "diverse", "diverse", "diverse", "no_history",
    ]
    # 5 users with 4-item histories holding h = 0..4 head items (items 0-3 head, 4-7 tail):
    # shares h/4 all distinct, round(0.2·5) = 1 -> one niche (h = 0), one blockbuster (h = 4)
    dense = np.zeros((5, 8))
    for h in range(5):
        dense[h, :h] = 1
        dense[h, 4 : 4 + 4 - h] = 1
    labels = popularity_groups(sp.csr_matrix(dense), np.arange(8) < 4, _ids(5))
    assert labels.tolist() == ["niche", "diverse", "diverse", "diverse", "blockbuster"]


def test_popularity_groups_hold_their_share_when_over_20_percent_tie_at_both_ends() -> None:
    # 12 users: 5 with share 1 (only head items), 4 with share 0, 3 in between; ids compare as
    # strings, so "10" < "11" < "2" < "3".
    head = np.array([True, True, False, False])
    shares = {"0": 1, "1": 1, "2": 1, "10": 1, "11": 1, "3": 0, "4": 0, "30": 0, "5": 0,
              "6": 0.5, "7": 0.5, "8": 0.5}
    ids = np.array(list(shares), dtype=object)
    dense = np.zeros((len(ids), 4))
    for u, share in enumerate(shares.values()):
        if share == 1:
            dense[u, [0, 1]] = 1
        elif share == 0:
            dense[u, [2, 3]] = 1
        else:
            dense[u, [0, 2]] = 1
    labels = dict(zip(ids, popularity_groups(sp.csr_matrix(dense), head, ids), strict=True))
    # round(0.2·12) = 2 each. Lowest by (share, id): share 0 ids sorted "3" < "30" < "4" < "5";
    # highest: share 1 ids sorted "0" < "1" < "10" < "11" < "2" -> the top two are "11" and "2".
    assert sorted(u for u, g in labels.items() if g == "niche") == ["3", "30"]
    assert sorted(u for u, g in labels.items() if g == "blockbuster") == ["11", "2"]
    assert sum(g == "diverse" for g in labels.values()) == 8
    # all shares equal: still 20% at each end, decided by id alone
    labels = popularity_groups(sp.csr_matrix(np.ones((10, 2))), np.array([True, False]), _ids(10))
    ranked = sorted(_ids(10), key=str)
    got = dict(zip(_ids(10), labels, strict=True))
    assert [got[u] for u in ranked] == ["niche"] * 2 + ["diverse"] * 6 + ["blockbuster"] * 2
    # the ids decide, not the row order
    order = np.random.default_rng(0).permutation(10)
    shuffled = popularity_groups(sp.csr_matrix(np.ones((10, 2)))[order], np.array([True, False]),
                                 _ids(10)[order])
    assert shuffled.tolist() == labels[order].tolist()


def test_popularity_groups_need_one_id_per_row() -> None:
    with pytest.raises(ValueError, match="one user id per train row"):
        popularity_groups(sp.csr_matrix(np.ones((3, 2))), np.array([True, False]), _ids(2))


def test_popularity_lift_by_hand() -> None:
    # 2 training users, 3 items; users(i) = [2, 1, 0]; φ′ = [1, 0.5, 0]
    train = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=np.float32))
    lists = _lists([[2, 1], [0, -1], [1, -1]], 3)
    groups = np.array(["niche", "blockbuster", "niche"], dtype=object)
    table = popularity_lift(lists, train, np.array([2, 1, 0]), 2, groups)
    assert table["group"].tolist() == ["niche", "blockbuster"]
    niche, block = table.iloc[0], table.iloc[1]
    # niche: GAP_H = mean over users with history = (1 + 0.5)/2 = 0.75 (user 2 has none);
    # GAP_L = mean((0 + 0.5)/2, 0.5) = 0.375; ΔGAP = (0.375 − 0.75)/0.75 = −0.5
    assert niche["n_users"] == 2
    assert niche["gap_profile"] == pytest.approx(0.75)
    assert niche["gap_recommended"] == pytest.approx(0.375)
    assert niche["delta_gap"] == pytest.approx(-0.5)
    # blockbuster: GAP_H = 1, GAP_L = 1, ΔGAP = 0
    assert (block["gap_profile"], block["gap_recommended"], block["delta_gap"]) == pytest.approx((1, 1, 0))


# --- against loop references -----------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_matches_loop_reference(seed: int) -> None:
    lists, train = _world(seed)
    dense = train.toarray()
    pop = dense.sum(axis=0)
    item_users = (dense > 0).sum(axis=0)
    n_users = int(((dense > 0).sum(axis=1) > 0).sum())
    head = head_items(pop)
    # head reference: walk items by (−φ, row) until 80% is reached
    order = sorted(range(len(pop)), key=lambda i: (-pop[i], i))
    acc, ref_head = 0.0, set()
    for i in order:
        if acc >= 0.8 * pop.sum():
            break
        ref_head.add(i)
        acc += pop[i]
    assert set(np.flatnonzero(head)) == ref_head
    for u, row in enumerate(lists.items.tolist()):
        items = [i for i in row if i >= 0]
        got = (arp(lists, pop, batch_size=7)[u], aplt(lists, head, batch_size=7)[u],
               novelty(lists, item_users, n_users, batch_size=7)[u])
        if not items:
            assert np.isnan(got).all()
            continue
        want = (np.mean([pop[i] for i in items]), np.mean([i not in ref_head for i in items]),
                np.mean([-math.log2(max(item_users[i], 1) / n_users) for i in items]))
        assert got == pytest.approx(want)
    # popularity lift per group, by loops
    groups = popularity_groups(train, head, lists.user_ids)
    table = popularity_lift(lists, train, item_users, n_users, groups).set_index("group")
    for g in set(groups):
        members = [u for u in range(lists.n_users) if groups[u] == g]
        prof = [np.mean([item_users[i] / n_users for i in np.flatnonzero(dense[u])]) for u in members
                if dense[u].any()]
        recs = [np.mean([item_users[i] / n_users for i in lists.items[u] if i >= 0]) for u in members
                if (lists.items[u] >= 0).any()]
        assert table.loc[g, "n_users"] == len(members)
        assert table.loc[g, "gap_profile"] == pytest.approx(np.mean(prof))
        assert table.loc[g, "gap_recommended"] == pytest.approx(np.mean(recs))


# --- properties ------------------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(2, 40), st.integers(2, 15), st.floats(0.05, 1.0))
def test_properties(seed: int, n_users: int, n_items: int, share: float) -> None:
    lists, train = _world(seed, n_users, n_items, k=min(4, n_items))
    dense = train.toarray()
    pop = dense.sum(axis=0)
    head = head_items(pop, share)
    total = pop.sum()
    if total > 0:
        # holds at least `share`, and is the smallest such set: dropping its least popular item fails
        assert pop[head].sum() >= share * total - 1e-9
        assert pop[head].sum() - pop[head].min() < share * total
        assert pop[head].min() >= pop[~head].max(initial=0)
    a = aplt(lists, head)
    assert np.all((a[~np.isnan(a)] >= 0) & (a[~np.isnan(a)] <= 1))
    assert np.array_equal(np.isnan(a), lists.lengths == 0)
    item_users = (dense > 0).sum(axis=0)
    nov = novelty(lists, item_users, n_users)
    assert np.all(nov[~np.isnan(nov)] >= 0)
    # groups: exactly round(0.2·n) at each extreme whatever the ties, ordered by (share, id),
    # invariant under row permutation
    labels = popularity_groups(train, head, lists.user_ids)
    has = dense.sum(axis=1) > 0
    n = int(has.sum())
    assert (labels == "blockbuster").sum() == round(0.2 * n)
    assert (labels == "niche").sum() == round(0.2 * n)
    assert np.array_equal(labels == "no_history", ~has)
    seen = (dense > 0).astype(float)
    share = np.where(has, seen @ head.astype(float) / np.maximum(seen.sum(axis=1), 1), np.nan)
    rank = {"niche": 0, "diverse": 1, "blockbuster": 2}
    keyed = sorted((share[u], str(lists.user_ids[u]), rank[labels[u]]) for u in np.flatnonzero(has))
    assert [g for *_, g in keyed] == sorted(g for *_, g in keyed)
    order = np.random.default_rng(seed).permutation(n_users)
    permuted = popularity_groups(train[order], head, lists.user_ids[order])
    assert permuted.tolist() == labels[order].tolist()
    shuffled = RecLists(lists.user_ids[order], lists.items[order], lists.item_ids)
    np.testing.assert_allclose(arp(shuffled, pop), arp(lists, pop)[order])
    lift = popularity_lift(lists, train, item_users, n_users, labels).set_index("group")
    lift2 = popularity_lift(shuffled, train[order], item_users, n_users, labels[order]).set_index("group")
    np.testing.assert_allclose(lift.to_numpy(dtype=float), lift2.loc[lift.index].to_numpy(dtype=float))


def test_list_mean_checks_shape() -> None:
    with pytest.raises(ValueError):
        list_mean(_lists([[0]], 2), np.zeros(3))
