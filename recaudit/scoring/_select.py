"""Top-k of one row of scores in one compiled pass: the selection of the small-batch path on CPU.

What: for a float32 row ``s`` [N], the ``k`` largest finite entries sorted by (score descending,
row ascending), padded with ``-inf`` / ``-1``. Entries equal to ``-inf`` are excluded items and
never selected.

Why compiled: at one query over 100k items the GEMV takes about half a millisecond, and a
selection made of numpy calls (group maxima, a partition, a gather, a sort: about 25 calls) cost
another 0.2 ms when the interpreter's and numpy's code had been pushed out of cache by other work,
as between two page runs (``benchmarks/bench_scoring.py``). One call into this loop took 0.1 ms.

How: one pass in row order with a min-heap of the k best so far, whose root is the worst kept
entry (lowest score; among equal scores the highest row). A later row has a higher index than
every kept one, so it enters only when its score is strictly above the root's: ties keep the lower
row, the rule of :mod:`recaudit.scoring._topk`. Cost O(N) compares plus O(log k) per entry; on
scores in random order about k (1 + ln(N / k)) entries enter (the record-value argument in the
``_topk`` docstring), and at worst (ascending scores) every one, O(N log k).

Concurrency: pure, compiled with ``nogil``; each call allocates its own outputs, so sessions may
call it at once. The first call in a process compiles the loop (about a second) unless numba's
on-disk cache beside this file already holds it; :func:`warm_up` does that ahead of a page run.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["select_row", "warm_up"]


@njit(cache=True, nogil=True, boundscheck=False)
def _worse(a: float, ra: int, b: float, rb: int) -> bool:
    """Entry (a, ra) ranks below (b, rb): lower score, or equal score and higher row."""
    return a < b or (a == b and ra > rb)


@njit(cache=True, nogil=True, boundscheck=False)
def _heap_select(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    hv = np.empty(k, dtype=np.float32)
    hr = np.empty(k, dtype=np.int64)
    size = 0
    neg_inf = np.float32(-np.inf)
    for i in range(scores.shape[0]):
        s = scores[i]
        if size == k:
            if not s > hv[0]:
                continue
            j = 0  # replace the root, sift the new entry down
            while True:
                c = 2 * j + 1
                if c >= k:
                    break
                if c + 1 < k and _worse(hv[c + 1], hr[c + 1], hv[c], hr[c]):
                    c += 1
                if _worse(hv[c], hr[c], s, i):
                    hv[j] = hv[c]
                    hr[j] = hr[c]
                    j = c
                else:
                    break
            hv[j] = s
            hr[j] = i
        elif s > neg_inf:
            j = size  # push, sift up
            size += 1
            while j > 0:
                p = (j - 1) // 2
                if _worse(s, i, hv[p], hr[p]):
                    hv[j] = hv[p]
                    hr[j] = hr[p]
                    j = p
                else:
                    break
            hv[j] = s
            hr[j] = i
    vals = np.full(k, neg_inf, dtype=np.float32)
    rows = np.full(k, -1, dtype=np.int64)
    by_row = np.argsort(hr[:size], kind="mergesort")
    order = by_row[np.argsort(-hv[:size][by_row], kind="mergesort")]  # stable: rows stay ascending
    vals[:size] = hv[:size][order]
    rows[:size] = hr[:size][order]
    return vals, rows


def select_row(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(values, rows)``, float32 [k] and int64 [k]: the k best entries of the float32 row
    ``scores`` (see the module docstring for order, ties and padding). ``k`` >= 1."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return _heap_select(np.ascontiguousarray(scores, dtype=np.float32), int(k))


def warm_up() -> None:
    """Compile (or load from numba's cache) the selection loop now, not in a user's first call."""
    select_row(np.zeros(4, dtype=np.float32), 2)
