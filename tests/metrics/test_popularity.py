"""Popularity-bias metrics: hand-computed values, loop references, properties (METRICS.md)."""

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


def test_popularity_groups_by_hand_and_ties() -> None:
    head = np.array([True, False, False, False, False])
    # 10 users, histories of two items (one user none); item 0 is the only head item
    rows = [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3], [0, 3], [1, 4], [2, 4], [3, 4], []]
    dense = np.zeros((10, 5))
    for u, items in enumerate(rows):
        dense[u, items] = 1
    dense[0, 0] = 3  # repeated interactions count once in H_u
    labels = popularity_groups(sp.csr_matrix(dense), head)
    # shares among the 9 users with history: 0.5 x3 (users 0, 1, 5), 0 x6; floor(0.2·9) = 1.
    # top block (3 tied users at 0.5) > 1 -> diverse; bottom block (6 at 0) > 1 -> diverse
    assert labels.tolist() == ["diverse"] * 9 + ["no_history"]
    # distinct shares: user u has u+1 items, one of them head for even u -> shares 1, 0, 1/3, 0, 1/5
    dense = np.zeros((5, 6))
    for u in range(5):
        dense[u, 1 : u + 2] = 1
        if u % 2 == 0:
            dense[u, 0], dense[u, u + 1] = 1, 0
    labels = popularity_groups(sp.csr_matrix(dense), np.array([True] + [False] * 5))
    # shares [1, 0, 1/3, 0, 1/5]; floor(0.2·5) = 1: blockbuster = user 0; niche would be 0 but two
    # users tie at 0 -> both diverse
    assert labels.tolist() == ["blockbuster", "diverse", "diverse", "diverse", "diverse"]
    # 5 users with 4-item histories holding h = 0..4 head items (items 0-3 head, 4-7 tail):
    # shares h/4 all distinct, floor(0.2·5) = 1 -> one niche (h = 0), one blockbuster (h = 4)
    dense = np.zeros((5, 8))
    for h in range(5):
        dense[h, :h] = 1
        dense[h, 4 : 4 + 4 - h] = 1
    labels = popularity_groups(sp.csr_matrix(dense), np.arange(8) < 4)
    assert labels.tolist() == ["niche", "diverse", "diverse", "diverse", "blockbuster"]


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
    groups = popularity_groups(train, head)
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
    # groups: at most 20% each extreme, tied users share a label, permutation invariant
    labels = popularity_groups(train, head)
    has = dense.sum(axis=1) > 0
    n = int(has.sum())
    assert (labels == "blockbuster").sum() <= math.floor(0.2 * n + 1e-9)
    assert (labels == "niche").sum() <= math.floor(0.2 * n + 1e-9)
    assert np.array_equal(labels == "no_history", ~has)
    order = np.random.default_rng(seed).permutation(n_users)
    assert popularity_groups(train[order], head).tolist() == labels[order].tolist()
    shuffled = RecLists(lists.user_ids[order], lists.items[order], lists.item_ids)
    np.testing.assert_allclose(arp(shuffled, pop), arp(lists, pop)[order])
    lift = popularity_lift(lists, train, item_users, n_users, labels).set_index("group")
    lift2 = popularity_lift(shuffled, train[order], item_users, n_users, labels[order]).set_index("group")
    np.testing.assert_allclose(lift.to_numpy(dtype=float), lift2.loc[lift.index].to_numpy(dtype=float))


def test_list_mean_checks_shape() -> None:
    with pytest.raises(ValueError):
        list_mean(_lists([[0]], 2), np.zeros(3))
