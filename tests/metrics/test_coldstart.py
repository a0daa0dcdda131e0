"""Cold-start metrics: hand-computed fixtures, a loop reference, properties, and the skip-with-reason path."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recaudit.metrics import AuditInputs, evaluate
from recaudit.metrics.accuracy import relevance
from recaudit.metrics.coldstart import (
    BUCKETS,
    bucket_accuracy_table,
    bucket_exposure_table,
    cold_exposure_share,
    cold_item_recall,
    cold_item_recall_among_cold,
    cold_items,
    item_buckets,
    restrict_test,
    settings_table,
)
from recaudit.metrics.lists import RecLists
from recaudit.metrics.registry import default_metrics, metric_names, relevance_functions
from tests.metrics.conftest import rec_lists, sets_matrix
from tests.metrics.test_accuracy import _reference

ACCURACY = relevance_functions()
COLD_NAMES = ["cold_item_recall", "cold_item_recall_among_cold", "cold_exposure_share"]


# ------------------------------------------------------------------------------------------ hand-computed


def _hand_world() -> tuple[RecLists, sp.csr_matrix, np.ndarray, np.ndarray]:
    """Items 0..5 with φ = [0, 0, 3, 12, 60, 1]: C = {0, 1}.

    u0: list [2, 0, 3], T = {0, 1, 2}  -> cold hits 1 of |T∩C| = 2
    u1: list [1, 4],    T = {1, 4}     -> cold hits 1 of 1
    u2: list [],        T = {0}        -> 0 of 1 (an empty list scores 0)
    u3: list [4, 3, 5], T = {3}        -> no cold test item: left out
    """
    lists = rec_lists([[2, 0, 3], [1, 4], [], [4, 3, 5]], n_items=6)
    test = sets_matrix([[0, 1, 2], [1, 4], [0], [3]], n_items=6)
    phi = np.array([0, 0, 3, 12, 60, 1])
    n_rel = np.array([3, 2, 1, 1])
    return lists, test, phi, n_rel


def test_hand_computed_cold_metrics() -> None:
    lists, test, phi, _ = _hand_world()
    cold = cold_items(phi)
    assert cold.tolist() == [True, True, False, False, False, False]
    got = cold_item_recall(lists, test, cold)
    np.testing.assert_allclose(got[:3], [1 / 2, 1.0, 0.0])
    assert math.isnan(got[3])
    assert np.nanmean(got) == pytest.approx(0.5)
    # slots: 3 + 2 + 0 + 3 = 8, cold ones: item 0 (u0), item 1 (u1)
    assert cold_exposure_share(lists, cold) == pytest.approx(2 / 8)
    # ranked among cold only: u0 gets [1, 0], u1 [0], u2 [0, 1], u3 []
    among = rec_lists([[1, 0], [0], [0, 1], []], n_items=6, k=2)
    got = cold_item_recall_among_cold(among, test, cold)
    np.testing.assert_allclose(got[:3], [1.0, 0.0, 1.0])
    assert math.isnan(got[3])


def test_hand_computed_settings_and_buckets() -> None:
    lists, test, phi, n_rel = _hand_world()
    table = settings_table(lists, test, n_rel, cold_items(phi), ACCURACY, ci=False).set_index(
        ["setting", "metric"]
    )
    # all: recall u0 2/3 (items 2, 0), u1 2/2, u2 0, u3 1/1 (item 3)
    assert table.loc[("all", "recall@3"), "value"] == pytest.approx((2 / 3 + 1 + 0 + 1) / 4)
    # warm: T∩warm = u0 {2}, u1 {4}, u3 {3}; all hit -> recall 1; u0's hit at rank 1, u3's at rank 2
    assert table.loc[("warm", "recall@3"), "value"] == pytest.approx(1.0)
    assert table.loc[("warm", "mrr@3"), "value"] == pytest.approx((1 + 1 / 2 + 1 / 2) / 3)
    assert table.loc[("warm", "recall@3"), "n_users"] == 3
    # cold: u0 1/2, u1 1/1, u2 0 -> the cold_item_recall
    assert table.loc[("cold", "recall@3"), "value"] == pytest.approx(0.5)
    assert table.loc[("cold", "precision@3"), "value"] == pytest.approx((1 / 3 + 1 / 3 + 0) / 3)
    assert table.loc[("cold", "recall@3"), "n_users"] == 3
    assert math.isnan(table.loc[("cold", "recall@3"), "ci_low"])  # ci=False

    buckets = bucket_accuracy_table(lists, test, phi, ACCURACY, ci=False).set_index(["bucket", "metric"])
    assert [label for label, _, _ in BUCKETS] == ["0", "1-10", "11-50", "51+"]
    # bucket 1-10 holds items 2 and 5 (φ 3, 1): only u0 has a test item there (2, hit)
    assert buckets.loc[("1-10", "recall@3"), "value"] == pytest.approx(1.0)
    assert buckets.loc[("1-10", "recall@3"), "n_users"] == 1
    # 11-50: item 3 (u3, hit at rank 2); 51+: item 4 (u1, hit at rank 2)
    assert buckets.loc[("11-50", "ndcg@3"), "value"] == pytest.approx(1 / math.log2(3))
    assert buckets.loc[("51+", "hit_rate@3"), "value"] == pytest.approx(1.0)
    assert buckets.loc[("0", "recall@3"), "value"] == pytest.approx(0.5)

    exposure = bucket_exposure_table(lists, phi, ci=False).set_index("bucket")
    assert exposure["n_items"].tolist() == [2, 2, 1, 1]
    # slots: bucket 0 -> 2 (items 0, 1), 1-10 -> 2 (items 2, 5), 11-50 -> 2 (item 3 twice), 51+ -> 2
    np.testing.assert_allclose(exposure["slot_share"], [2 / 8] * 4)
    # list shares over the 3 users with a list, per bucket:
    # u0 [1/3, 1/3, 1/3, 0], u1 [1/2, 0, 0, 1/2], u3 [0, 1/3, 1/3, 1/3]
    np.testing.assert_allclose(
        exposure["list_share"], [(1 / 3 + 1 / 2) / 3, (2 / 3) / 3, (2 / 3) / 3, (1 / 2 + 1 / 3) / 3]
    )
    e = 1 / np.log2(np.arange(2, 5))  # position weights of ranks 1..3
    x = {0: e[1], 1: e[0], 2: e[0], 3: e[2] + e[1], 4: e[1] + e[0], 5: e[2]}
    total = sum(x.values())
    np.testing.assert_allclose(
        exposure["exposure_share"], [(x[0] + x[1]) / total, (x[2] + x[5]) / total, x[3] / total, x[4] / total]
    )


def test_lists_among_cold_must_hold_cold_items_only() -> None:
    lists, test, phi, _ = _hand_world()
    with pytest.raises(ValueError, match="warm items"):
        cold_item_recall_among_cold(lists, test, cold_items(phi))


def test_restrict_test_keeps_only_the_masked_columns() -> None:
    test = sets_matrix([[0, 1, 2], [3]], n_items=4)
    kept = restrict_test(test, np.array([True, False, True, False]))
    assert kept.toarray().tolist() == [[1, 0, 1, 0], [0, 0, 0, 0]]
    assert kept.nnz == 2
    with pytest.raises(ValueError, match="item mask"):
        restrict_test(test, np.ones(3, dtype=bool))


# ----------------------------------------------------------------------------------------- loop reference


def _random_world(
    rng: np.random.Generator, n_users: int, n_items: int, k: int
) -> tuple[RecLists, sp.csr_matrix, np.ndarray, np.ndarray]:
    phi = rng.choice([0, 0, 1, 5, 10, 11, 30, 50, 51, 200], size=n_items)
    items = [
        list(rng.choice(n_items, size=int(rng.integers(0, k + 1)), replace=False)) for _ in range(n_users)
    ]
    truth = [list(rng.choice(n_items, size=int(rng.integers(0, 7)), replace=False)) for _ in range(n_users)]
    lists = rec_lists(items + [list(range(k))], n_items, k=k)
    truth.append([0])
    outside = rng.integers(0, 2, size=n_users + 1)  # test items outside the catalogue count in |T_u| (all)
    n_rel = np.array([len(t) + (o if t else 0) for t, o in zip(truth, outside, strict=True)])
    return lists, sets_matrix(truth, n_items), phi, n_rel


def _loop_restricted(lists: RecLists, test: sp.csr_matrix, keep: set[int], k: int) -> dict[str, list[float]]:
    """Every accuracy metric with T_u ∩ keep, user by user (NaN where that set is empty)."""
    out: dict[str, list[float]] = {name: [] for name in ACCURACY}
    for u in range(lists.n_users):
        lst = [int(i) for i in lists.items[u, :k] if i >= 0]
        truth = set(test[u].indices.tolist()) & keep
        for name in ACCURACY:
            out[name].append(_reference(lst, truth, len(truth), k)[name] if truth else math.nan)
    return out


def test_random_worlds_match_a_loop_reference() -> None:
    for seed in range(3):
        lists, test, phi, n_rel = _random_world(np.random.default_rng(seed), n_users=50, n_items=20, k=6)
        cold = set(np.flatnonzero(phi == 0).tolist())
        for k in (1, 3, 6):
            cut = lists.truncate(k)
            # cold_item_recall and cold_exposure_share, user by user
            want = []
            for u in range(cut.n_users):
                lst = {int(i) for i in cut.items[u] if i >= 0}
                truth = set(test[u].indices.tolist()) & cold
                want.append(len(lst & truth) / len(truth) if truth else math.nan)
            np.testing.assert_allclose(cold_item_recall(cut, test, phi == 0), want)
            slots = [int(i) for row in cut.items for i in row if i >= 0]
            share = sum(i in cold for i in slots) / len(slots)
            assert cold_exposure_share(cut, phi == 0) == pytest.approx(share)
            # the three settings
            table = settings_table(cut, test, n_rel, phi == 0, ACCURACY, ci=False)
            table = table.set_index(["setting", "metric"])
            for setting, keep in (("warm", set(range(20)) - cold), ("cold", cold)):
                ref = _loop_restricted(cut, test, keep, k)
                for name in ACCURACY:
                    assert table.loc[(setting, f"{name}@{k}"), "value"] == pytest.approx(
                        np.nanmean(ref[name]) if np.isfinite(ref[name]).any() else math.nan, nan_ok=True
                    ), (setting, name, k)
            # buckets by φ, written out independently of BUCKETS
            bounds = {"0": (0, 0), "1-10": (1, 10), "11-50": (11, 50), "51+": (51, 10**9)}
            buckets = bucket_accuracy_table(cut, test, phi, ACCURACY, ci=False)
            buckets = buckets.set_index(["bucket", "metric"])
            exposure = bucket_exposure_table(cut, phi, ci=False).set_index("bucket")
            for label, (low, high) in bounds.items():
                keep = {i for i in range(20) if low <= phi[i] <= high}
                ref = _loop_restricted(cut, test, keep, k)
                got = buckets.loc[(label, f"ndcg@{k}"), "value"]
                want_b = np.nanmean(ref["ndcg"]) if np.isfinite(ref["ndcg"]).any() else math.nan
                assert got == pytest.approx(want_b, nan_ok=True)
                assert exposure.loc[label, "slot_share"] == pytest.approx(
                    sum(i in keep for i in slots) / len(slots)
                )
                shares = [
                    sum(int(i) in keep for i in row if i >= 0) / (row >= 0).sum() for row in cut.items
                    if (row >= 0).any()
                ]
                assert exposure.loc[label, "list_share"] == pytest.approx(np.mean(shares))


# ------------------------------------------------------------------------------------------------ properties


@st.composite
def _world(draw: st.DrawFn) -> tuple[RecLists, sp.csr_matrix, np.ndarray, np.ndarray]:
    n_items = draw(st.integers(1, 12))
    n_users = draw(st.integers(1, 10))
    k = draw(st.integers(1, 5))
    phi = np.array(draw(st.lists(st.sampled_from([0, 1, 10, 11, 50, 51, 99]), min_size=n_items,
                                 max_size=n_items)))
    rows = [draw(st.lists(st.integers(0, n_items - 1), max_size=k, unique=True)) for _ in range(n_users)]
    truth = [draw(st.lists(st.integers(0, n_items - 1), max_size=5, unique=True)) for _ in range(n_users)]
    extra = np.array(draw(st.lists(st.integers(0, 2), min_size=n_users, max_size=n_users)))
    n_rel = np.array([len(t) for t in truth]) + np.where([len(t) > 0 for t in truth], extra, 0)
    return rec_lists(rows, n_items, k=k), sets_matrix(truth, n_items), phi, n_rel


@settings(max_examples=60, deadline=None)
@given(_world())
def test_properties(world: tuple[RecLists, sp.csr_matrix, np.ndarray, np.ndarray]) -> None:
    lists, test, phi, n_rel = world
    cold = cold_items(phi)
    recall = cold_item_recall(lists, test, cold)
    has_cold = np.asarray((test @ sp.diags(cold.astype(float))).sum(axis=1)).ravel() > 0
    assert np.isnan(recall[~has_cold]).all()
    assert ((recall[has_cold] >= 0) & (recall[has_cold] <= 1)).all()
    # every catalogue item lies in exactly one bucket, and bucket 0 is C
    masks = item_buckets(phi)
    assert (sum(m.astype(int) for m in masks.values()) == 1).all()
    np.testing.assert_array_equal(masks["0"], cold)
    table = settings_table(lists, test, n_rel, cold, ACCURACY, ci=False).set_index(["setting", "metric"])
    k = lists.k
    # the cold setting's recall is cold_item_recall; the all setting is the headline accuracy
    want = np.nanmean(recall) if has_cold.any() else math.nan
    assert table.loc[("cold", f"recall@{k}"), "value"] == pytest.approx(want, nan_ok=True)
    rel = relevance(lists, test)
    for name, fn in ACCURACY.items():
        values = fn(rel, n_rel)
        headline = np.nanmean(values) if np.isfinite(values).any() else math.nan
        assert table.loc[("all", f"{name}@{k}"), "value"] == pytest.approx(headline, nan_ok=True)
    exposure = bucket_exposure_table(lists, phi, ci=False).set_index("bucket")
    share = cold_exposure_share(lists, cold)
    assert exposure.loc["0", "slot_share"] == pytest.approx(share, nan_ok=True)
    assert exposure["catalog_share"].sum() == pytest.approx(1.0)
    if lists.mask.any():
        assert 0 <= share <= 1
        for column in ("slot_share", "exposure_share", "list_share"):
            assert exposure[column].sum() == pytest.approx(1.0), column
    else:
        assert math.isnan(share)
    # lists ranked among cold items only: recall never above 1, NaN exactly where no cold test item
    cold_rows = np.flatnonzero(cold)
    among = rec_lists([list(cold_rows[:k])] * lists.n_users, len(phi), k=k)
    got = cold_item_recall_among_cold(among, test, cold)
    np.testing.assert_array_equal(np.isnan(got), ~has_cold)
    # permuting users permutes the per-user values
    perm = np.arange(lists.n_users)[::-1]
    permuted = RecLists(lists.user_ids[perm], lists.items[perm], lists.item_ids)
    np.testing.assert_array_equal(cold_item_recall(permuted, test[perm], cold), recall[perm])


# ------------------------------------------------------------------------------------ engine, catalogue


def _frames(*, cold_test: bool) -> dict[str, pd.DataFrame]:
    """Items i1..i5; training covers i1, i2, i3; i4 and i5 are cold. a's test item i4 is cold when asked."""
    recs = pd.DataFrame(
        [("a", "i1", 1), ("a", "i4", 2), ("b", "i2", 1), ("b", "i3", 2)],
        columns=["user_id", "item_id", "rank"],
    )
    train = pd.DataFrame({"user_id": ["a", "a", "b", "b"], "item_id": ["i2", "i3", "i1", "i1"]})
    test = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["i4" if cold_test else "i1", "i3"]})
    items = pd.DataFrame({"item_id": ["i1", "i2", "i3", "i4", "i5"]})
    return {"recs": recs, "train": train, "test": test, "items": items}


def test_cold_entries_are_in_the_default_set_and_the_coldstart_set() -> None:
    assert set(COLD_NAMES) <= set(default_metrics())
    assert metric_names(set="coldstart") == COLD_NAMES
    assert metric_names(family="coldstart") == COLD_NAMES


def test_engine_reports_cold_metrics_and_tables_when_a_test_item_is_cold() -> None:
    f = _frames(cold_test=True)
    inputs = AuditInputs.from_frames(f["recs"], f["train"], test=f["test"], items=f["items"])
    assert inputs.has_cold_test and inputs.cold_items.tolist() == [False, False, False, True, True]
    result = evaluate(inputs, ks=(2,), n_boot=50)
    assert result.values["cold_item_recall@2"] == pytest.approx(1.0)  # a: i4 at rank 2
    assert result.values["cold_exposure_share@2"] == pytest.approx(1 / 4)
    assert "cold_item_recall@2" in result.ci and "cold_item_recall@2" in result.per_user
    assert "lists ranked over the cold items only" in result.skipped["cold_item_recall_among_cold@2"]
    assert set(result.coldstart) == {"settings@2", "item_buckets@2", "bucket_exposure@2"}
    data = result.to_dict()
    assert set(data["groups"]["coldstart"]) == set(result.coldstart)
    # the lists ranked among cold items, when given, are scored: a gets [i5, i4] -> hit
    cold_recs = pd.DataFrame(
        [("a", "i5", 1), ("a", "i4", 2), ("b", "i4", 1)], columns=["user_id", "item_id", "rank"]
    )
    inputs = AuditInputs.from_frames(
        f["recs"], f["train"], test=f["test"], items=f["items"], cold_recs=cold_recs
    )
    result = evaluate(inputs, ks=(1, 2), ci=False)
    assert result.values["cold_item_recall_among_cold@2"] == pytest.approx(1.0)
    assert result.values["cold_item_recall_among_cold@1"] == pytest.approx(0.0)
    assert "cold_item_recall_among_cold@2" not in result.skipped


def test_a_log_without_cold_test_items_skips_them_with_a_reason_and_keeps_its_numbers() -> None:
    f = _frames(cold_test=False)
    inputs = AuditInputs.from_frames(f["recs"], f["train"], test=f["test"], items=f["items"])
    assert not inputs.has_cold_test  # i4, i5 are cold but nobody's test item
    result = evaluate(inputs, ks=(2,), n_boot=50)
    for name in COLD_NAMES:
        assert f"{name}@2" not in result.values
        assert result.skipped[f"{name}@2"] == "needs a test item without training interactions"
    assert not result.coldstart and "coldstart" not in result.to_dict()["groups"]
    before = [f"{name}@2" for name in default_metrics() if name not in COLD_NAMES]
    old = evaluate(inputs, before, n_boot=50)
    assert old.values == result.values and old.ci == result.ci
    pd.testing.assert_frame_equal(old.per_user, result.per_user)
    # without test data the reason is the one every accuracy metric gives
    bare = evaluate(AuditInputs.from_frames(f["recs"], f["train"], items=f["items"]), ks=(2,), ci=False)
    for name in COLD_NAMES:
        assert bare.skipped[f"{name}@2"] == bare.skipped["recall@2"] == "needs test"


def test_explicit_requests_without_cold_metrics_compute_no_cold_tables() -> None:
    f = _frames(cold_test=True)
    inputs = AuditInputs.from_frames(f["recs"], f["train"], test=f["test"], items=f["items"])
    result = evaluate(inputs, ["ndcg@2"], ci=False)
    assert not result.coldstart and list(result.values) == ["ndcg@2"]
    with pytest.raises(ValueError, match="lists ranked over the cold items only"):
        evaluate(inputs, ["cold_item_recall_among_cold@2"])
