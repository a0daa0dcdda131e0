"""Ranking metrics against values computed by hand and by an independent per-list implementation."""

import math

import numpy as np
import pandas as pd
import pytest

from recaudit.metrics.ranking import evaluate_lists


def _recs(lists: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(u, i, r + 1) for u, items in lists.items() for r, i in enumerate(items)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rank"])


def _test(truth: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(u, i) for u, items in truth.items() for i in items]
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


def test_hand_computed_single_user() -> None:
    # list a b c d, relevant b d x: hits at ranks 2 and 4, |T| = 3, k = 4
    got = evaluate_lists(_recs({"u": ["a", "b", "c", "d"]}), _test({"u": ["b", "d", "x"]}), ks=(4,))
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert got["precision@4"] == pytest.approx(0.5)
    assert got["recall@4"] == pytest.approx(2 / 3)
    assert got["hit_rate@4"] == 1.0
    assert got["mrr@4"] == pytest.approx(0.5)
    assert got["ndcg@4"] == pytest.approx(dcg / idcg)
    assert got["map@4"] == pytest.approx((1 / 2 + 2 / 4) / 3)


def test_user_without_list_counts_as_zero_and_users_without_test_are_ignored() -> None:
    recs = _recs({"u": ["a"], "w": ["z"]})  # w has no test items: not evaluated
    got = evaluate_lists(recs, _test({"u": ["a"], "v": ["a"]}), ks=(1,))
    assert got["recall@1"] == pytest.approx(0.5)
    assert got["ndcg@1"] == pytest.approx(0.5)


def _reference(lst: list[str], truth: set[str], k: int) -> dict[str, float]:
    """Independent, loop-based implementation of docs/metrics.md."""
    top = lst[:k]
    hits = [i in truth for i in top]
    dcg = sum(1 / math.log2(r + 2) for r, h in enumerate(hits) if h)
    idcg = sum(1 / math.log2(r + 2) for r in range(min(k, len(truth))))
    ap = sum(sum(hits[: r + 1]) / (r + 1) for r, h in enumerate(hits) if h) / min(k, len(truth))
    first = next((r + 1 for r, h in enumerate(hits) if h), None)
    return {
        "precision": sum(hits) / k,
        "recall": sum(hits) / len(truth),
        "hit_rate": float(any(hits)),
        "mrr": 1 / first if first else 0.0,
        "ndcg": dcg / idcg,
        "map": ap,
    }


def test_random_lists_match_reference() -> None:
    rng = np.random.default_rng(3)
    catalogue = [f"i{j}" for j in range(30)]
    lists, truth = {}, {}
    for u in range(40):
        n = int(rng.integers(0, 12))
        lists[f"u{u}"] = list(rng.choice(catalogue, size=n, replace=False))
        truth[f"u{u}"] = list(rng.choice(catalogue, size=int(rng.integers(1, 8)), replace=False))
    for k in (1, 5, 10):
        got = evaluate_lists(_recs(lists), _test(truth), ks=(k,))
        for name in ("precision", "recall", "hit_rate", "mrr", "ndcg", "map"):
            want = np.mean([_reference(lists[u], set(truth[u]), k)[name] for u in truth])
            assert got[f"{name}@{k}"] == pytest.approx(want), (name, k)


def test_empty_test_gives_nan_not_zero() -> None:
    got = evaluate_lists(_recs({"u": ["a"]}), _test({}), ks=(5,))
    assert math.isnan(got["ndcg@5"])
