"""Next-item session metrics (recaudit/metrics/sessions.py; docs/metrics.md "Sessions")."""

from __future__ import annotations

import numpy as np
import pytest

from recaudit.metrics.sessions import (
    LENGTH_BUCKETS,
    evaluate_next_items,
    fallback_rate,
    length_bucket,
    next_hit_rate,
    next_mrr,
    next_ranks,
    recency_changes,
    recency_sensitivity,
    session_prefixes,
)
from recaudit.metrics.stats import bootstrap_ci
from tests.metrics.conftest import sets_matrix

# The hand-computed world. Items 0..9; user 0 trained on {9}, user 1 on nothing.
#   session 0 (user 0): 1 2 1 9 3   (|s| = 5)
#     j=1 target 2: counted
#     j=2 target 1: skipped, 1 is in s[1..2]
#     j=3 target 9: skipped, 9 is a training item
#     j=4 target 3: counted
#   session 1 (user 1): 4 5         (|s| = 2)   j=1 target 5: counted
#   session 2 (user 1): 6           (|s| = 1)   no prefix
ITEMS = np.array([1, 2, 1, 9, 3, 4, 5, 6])
SESSIONS = np.array([0, 0, 0, 0, 0, 1, 1, 2])
USERS = np.array([0, 0, 0, 0, 0, 1, 1, 1])
HISTORY = sets_matrix([[9], []], 10)
# L_j per counted prefix (k = 3, -1 padded):
#   session 0 j=1: [2, 3, 4]   target 2 at rank 1 → hit 1, rr 1
#   session 0 j=4: [5, 6, 3]   target 3 at rank 3 → hit 1, rr 1/3
#   session 1 j=1: [7, -1, -1] target 5 absent    → hit 0, rr 0
LISTS = np.array([[2, 3, 4], [5, 6, 3], [7, -1, -1]])


def test_prefixes_apply_the_skip_rule() -> None:
    p = session_prefixes(ITEMS, SESSIONS, USERS, HISTORY)
    assert p.target.tolist() == [2, 3, 5]
    assert p.session.tolist() == [0, 0, 1]
    assert p.user.tolist() == [0, 0, 1]
    assert p.start.tolist() == [0, 0, 5]
    assert p.stop.tolist() == [1, 4, 6]
    assert p.prefix_length.tolist() == [1, 4, 1]
    assert p.session_length.tolist() == [5, 5, 2]
    assert p.n_skipped == 2 and len(p) == 3
    # s[1..j] and s[j+1] read back from the event arrays
    assert ITEMS[p.start[1] : p.stop[1]].tolist() == [1, 2, 1, 9] and ITEMS[p.stop[1]] == 3


def test_without_history_only_repeats_within_the_session_are_skipped() -> None:
    p = session_prefixes(ITEMS, SESSIONS)
    assert p.target.tolist() == [2, 9, 3, 5] and p.n_skipped == 1


def test_items_outside_the_catalogue_count_as_targets() -> None:
    # code 10 >= I = 10: never in a history, a miss for every list
    p = session_prefixes(np.array([1, 10]), np.array([0, 0]), np.array([0, 0]), HISTORY)
    assert p.target.tolist() == [10]


def test_prefix_input_errors() -> None:
    with pytest.raises(ValueError, match="contiguous"):
        session_prefixes(np.array([1, 2, 3]), np.array([0, 1, 0]))
    with pytest.raises(ValueError, match="users"):
        session_prefixes(ITEMS, SESSIONS, history=HISTORY)
    with pytest.raises(ValueError, match=">= 0"):
        session_prefixes(np.array([1, -1]), np.array([0, 0]))
    with pytest.raises(ValueError, match="shape"):
        session_prefixes(ITEMS, SESSIONS[:-1])


def test_ranks_hits_and_reciprocal_ranks_by_hand() -> None:
    targets = np.array([2, 3, 5])
    assert next_ranks(LISTS, targets).tolist() == [1, 3, 0]
    assert next_hit_rate(LISTS, targets).tolist() == [1.0, 1.0, 0.0]
    assert next_mrr(LISTS, targets) == pytest.approx([1.0, 1 / 3, 0.0])


def test_padding_never_matches() -> None:
    lists = np.array([[-1, -1], [4, -1], [-1, 4]])
    # a -1 target is not "found" in the pads; a pad before the target still counts as a rank
    assert next_ranks(lists, np.array([-1, 4, 4])).tolist() == [0, 1, 2]


def test_evaluate_by_hand() -> None:
    p = session_prefixes(ITEMS, SESSIONS, USERS, HISTORY)
    table = evaluate_next_items(LISTS, p.target, p.session, p.session_length).set_index("length")
    assert list(table.index) == ["all", "2", "3", "4-5", "6-10", "11+"]
    overall = table.loc["all"]
    # hit: (1 + 1 + 0) / 3; mrr: (1 + 1/3 + 0) / 3 = 4/9
    assert overall["next_hit_rate"] == pytest.approx(2 / 3)
    assert overall["next_mrr"] == pytest.approx(4 / 9)
    assert overall["k"] == 3 and overall["n_prefixes"] == 3 and overall["n_sessions"] == 2
    assert overall["next_hit_rate_low"] <= overall["next_hit_rate"] <= overall["next_hit_rate_high"]
    # session 0 (|s| = 5): hits 1, 1 → 1; rr 1, 1/3 → 2/3. Session 1 (|s| = 2): 0 and 0.
    assert table.loc["4-5", "next_hit_rate"] == 1.0 and table.loc["4-5", "next_mrr"] == pytest.approx(2 / 3)
    assert table.loc["4-5", "n_prefixes"] == 2 and table.loc["4-5", "n_sessions"] == 1
    assert table.loc["2", "next_hit_rate"] == 0.0 and table.loc["2", "next_mrr"] == 0.0
    # one session: the interval collapses on the value
    assert table.loc["4-5", "next_mrr_low"] == pytest.approx(2 / 3)
    assert table.loc["4-5", "next_mrr_high"] == pytest.approx(2 / 3)
    for empty in ("3", "6-10", "11+"):
        assert table.loc[empty, "n_prefixes"] == 0 and np.isnan(table.loc[empty, "next_hit_rate"])


def test_evaluate_with_no_prefix_is_nan_not_zero() -> None:
    table = evaluate_next_items(np.empty((0, 5), dtype=np.int64), [], [], [])
    assert table["n_prefixes"].eq(0).all() and table["next_hit_rate"].isna().all()


def test_evaluate_checks_shapes() -> None:
    with pytest.raises(ValueError):
        evaluate_next_items(LISTS, [2, 3], [0, 0], [5, 5])
    with pytest.raises(ValueError):
        evaluate_next_items(LISTS, [2, 3, 5], [0, 0], [5, 5, 2])


def test_length_buckets() -> None:
    assert length_bucket(np.array([1, 2, 3, 4, 5, 6, 10, 11, 500])).tolist() == [
        None, "2", "3", "4-5", "4-5", "6-10", "6-10", "11+", "11+",
    ]
    assert [b[0] for b in LENGTH_BUCKETS] == ["2", "3", "4-5", "6-10", "11+"]


def test_one_prefix_per_session_is_the_plain_bootstrap() -> None:
    rng = np.random.default_rng(0)
    hits = rng.random(200) < 0.3
    lists = np.where(hits[:, None], np.array([[1, 2]]), np.array([[3, 4]]))
    table = evaluate_next_items(lists, np.ones(200), np.arange(200), np.full(200, 2))
    mean, low, high = bootstrap_ci(hits.astype(float))
    row = table.iloc[0]
    assert row["next_hit_rate"] == pytest.approx(mean)
    assert row["next_hit_rate_low"] == pytest.approx(low) and row["next_hit_rate_high"] == pytest.approx(high)


def _random_world(seed: int):
    """Random sessions, histories and model lists (random scores, H_u and s[1..j] excluded)."""
    rng = np.random.default_rng(seed)
    n_items, n_users, k = 30, 40, 5
    history = [list(rng.choice(n_items, size=rng.integers(0, 6), replace=False)) for _ in range(n_users)]
    items, sessions, users = [], [], []
    for s in range(250):
        u = int(rng.integers(n_users))
        n = int(rng.integers(1, 14))
        items += list(rng.integers(0, n_items, size=n))
        sessions += [s] * n
        users += [u] * n
    return rng, n_items, k, history, np.array(items), np.array(sessions), np.array(users)


def test_against_a_brute_force_loop() -> None:
    rng, n_items, k, history, items, sessions, users = _random_world(11)
    p = session_prefixes(items, sessions, users, sets_matrix(history, n_items))

    # the reference: walk every session, apply the definition literally
    ref_targets, ref_lists, ref_hit, ref_rr, ref_sess, skipped = [], [], [], [], [], 0
    by_length: dict[str, list[float]] = {}
    for s in np.unique(sessions):
        idx = np.flatnonzero(sessions == s)
        seq = items[idx].tolist()
        u = int(users[idx[0]])
        for j in range(1, len(seq)):  # prefix s[1..j], target s[j+1] (0-based seq[j])
            target = seq[j]
            seen = set(history[u]) | set(seq[:j])
            if target in seen:
                skipped += 1
                continue
            scores = rng.random(n_items)
            allowed = [i for i in range(n_items) if i not in seen]
            top = sorted(allowed, key=lambda i: -scores[i])[:k]
            row = top + [-1] * (k - len(top))
            ref_lists.append(row)
            ref_targets.append(target)
            ref_sess.append(s)
            rank = row.index(target) + 1 if target in row else 0
            ref_hit.append(1.0 if rank else 0.0)
            ref_rr.append(1.0 / rank if rank else 0.0)
            label = next(b[0] for b in LENGTH_BUCKETS if b[1] <= len(seq) <= b[2])
            by_length.setdefault(label, []).append(ref_hit[-1])

    assert p.target.tolist() == ref_targets and p.session.tolist() == ref_sess and p.n_skipped == skipped
    table = evaluate_next_items(np.array(ref_lists), p.target, p.session, p.session_length)
    table = table.set_index("length")
    assert table.loc["all", "next_hit_rate"] == pytest.approx(np.mean(ref_hit))
    assert table.loc["all", "next_mrr"] == pytest.approx(np.mean(ref_rr))
    for label, values in by_length.items():
        assert table.loc[label, "next_hit_rate"] == pytest.approx(np.mean(values))
        assert table.loc[label, "n_prefixes"] == len(values)

    # the interval against a literal session bootstrap of Σ hits / Σ prefixes (sessions resampled)
    hit = np.array(ref_hit)
    sess = np.array(ref_sess)
    groups = [hit[sess == s] for s in np.unique(sess)]
    boot_rng = np.random.default_rng(5)
    ratios = []
    for _ in range(2000):
        pick = boot_rng.integers(0, len(groups), size=len(groups))
        ratios.append(sum(groups[g].sum() for g in pick) / sum(len(groups[g]) for g in pick))
    low, high = np.quantile(ratios, [0.025, 0.975])
    assert table.loc["all", "next_hit_rate_low"] == pytest.approx(low, abs=0.015)
    assert table.loc["all", "next_hit_rate_high"] == pytest.approx(high, abs=0.015)


def test_recency_sensitivity_by_hand() -> None:
    lists = np.array([
        [1, 2, 3, 4],   # stream a, first event: NaN
        [1, 2, 5, 6],   # shares {1, 2} with the row before: 1 − 2/4 = 0.5
        [6, 5, 2, 1],   # shares all four (order does not matter): 0
        [1, 2, 3, 4],   # stream b, first event: NaN
        [7, -1, -1, -1],  # shares nothing: 1
    ])
    streams = np.array(["a", "a", "a", "b", "b"])
    changes = recency_changes(lists, streams)
    assert np.isnan(changes[[0, 3]]).all()
    assert changes[[1, 2, 4]].tolist() == [0.5, 0.0, 1.0]
    assert recency_sensitivity(lists, streams) == pytest.approx(0.5)


def test_recency_pads_are_never_shared() -> None:
    lists = np.array([[1, -1, -1, -1], [1, -1, -1, -1]])
    assert recency_changes(lists, np.zeros(2))[1] == 0.75


def test_recency_against_a_loop() -> None:
    rng = np.random.default_rng(2)
    k = 6
    lists = np.array([list(rng.choice(20, size=k, replace=False)) for _ in range(400)])
    lists[rng.random(lists.shape) < 0.1] = -1
    streams = np.sort(rng.integers(0, 60, size=400))
    ref = []
    for j in range(1, 400):
        if streams[j] == streams[j - 1]:
            a = {x for x in lists[j] if x >= 0}
            b = {x for x in lists[j - 1] if x >= 0}
            ref.append(1 - len(a & b) / k)
    assert recency_sensitivity(lists, streams) == pytest.approx(np.mean(ref))


def test_recency_of_single_events_is_nan() -> None:
    assert np.isnan(recency_sensitivity(np.array([[1, 2]]), np.array([0])))
    assert np.isnan(recency_sensitivity(np.array([[1, 2], [1, 2]]), np.array([0, 1])))


def test_fallback_rate() -> None:
    assert fallback_rate(np.array([True, False, False, True])) == 0.5
    assert fallback_rate(np.zeros(3, dtype=bool)) == 0.0
    assert np.isnan(fallback_rate(np.array([], dtype=bool)))
