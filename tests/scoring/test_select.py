"""The compiled one-row selection of the small-batch path against a brute-force stable sort."""

from __future__ import annotations

import numpy as np
import pytest

from recaudit.scoring._select import CHUNK, select_row
from tests.scoring.test_scoring import brute_topk


def _check(scores: np.ndarray, k: int) -> None:
    vals, rows = select_row(scores, k)
    ref_vals, ref_rows = brute_topk(scores[None].astype(np.float64), k)
    np.testing.assert_array_equal(rows, ref_rows[0])
    np.testing.assert_array_equal(vals, ref_vals[0].astype(np.float32))


def test_random_rows_with_ties_and_exclusions_match_a_stable_sort():
    rng = np.random.default_rng(5)
    for trial in range(60):
        n, k = int(rng.integers(1, 3000)), int(rng.integers(1, 80))
        scores = rng.integers(-3, 4, n).astype(np.float32)  # many exact ties
        if trial % 3 == 0:
            scores = rng.standard_normal(n).astype(np.float32)
        scores[rng.random(n) < 0.3] = -np.inf  # excluded items
        _check(scores, k)


@pytest.mark.parametrize("name", ["ascending", "descending", "all equal", "all excluded", "k past n"])
def test_orders_that_stress_the_heap(name):
    """Ascending scores make every entry enter the heap; equal ones must keep the lowest rows."""
    n = 5000
    scores = {
        "ascending": np.arange(n, dtype=np.float32),
        "descending": -np.arange(n, dtype=np.float32),
        "all equal": np.ones(n, dtype=np.float32),
        "all excluded": np.full(n, -np.inf, dtype=np.float32),
        "k past n": np.arange(7, dtype=np.float32),
    }[name]
    _check(scores, 64)


def test_k_below_one_is_refused():
    with pytest.raises(ValueError, match="k must be >= 1"):
        select_row(np.zeros(3, np.float32), 0)


@pytest.mark.parametrize("where", ["first chunk", "middle chunks", "last partial chunk"])
def test_chunks_without_an_entry_above_the_root_are_skipped_exactly(where):
    """A long row of equal scores with the k best planted in one place: the skipped chunks hold
    only entries equal to the root (which must not displace lower rows), and the row's length is
    not a multiple of CHUNK, so the last partial chunk is tested too."""
    n, k = 40 * CHUNK + 37, 8
    scores = np.zeros(n, np.float32)
    scores[np.arange(0, n, 97)] = -np.inf
    start = {"first chunk": 3, "middle chunks": 17 * CHUNK - 3, "last partial chunk": n - k}[where]
    scores[start : start + k] = np.arange(1, k + 1, dtype=np.float32)
    scores[start + k // 2] = scores[start + 1]  # a tie among the planted ones
    _check(scores, k)
    _check(scores, 3 * k)  # the rest filled from the zeros: the lowest rows


def test_the_small_path_refuses_k_below_one_before_the_unchecked_selection():
    """topk_small_numpy hands its buffer to the selection without select_row's checks, so it must
    refuse k < 1 itself (the kernel would read an empty heap's root)."""
    from recaudit.scoring._topk import topk_small_numpy

    v = np.ones((50, 4), np.float32)
    with pytest.raises(ValueError, match="k must be >= 1"):
        topk_small_numpy(np.ones((1, 4), np.float32), v, 0)
    vals, rows = topk_small_numpy(np.ones((1, 4), np.float32), v, np.int64(3))
    np.testing.assert_array_equal(rows, [[0, 1, 2]])
