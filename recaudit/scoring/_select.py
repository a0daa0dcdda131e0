"""Top-k of one row of scores in one compiled pass: the selection of the small-batch path on CPU.

What: for a float32 row ``s`` [N], the ``k`` largest finite entries sorted by (score descending,
row ascending), padded with ``-inf`` / ``-1``. Entries equal to ``-inf`` are excluded items and
never selected.

Why compiled: at one query over 100k items the GEMV takes about half a millisecond, and a
selection made of numpy calls (group maxima, a partition, a gather, a sort: about 25 calls) cost
another 0.2 ms when the interpreter's and numpy's code had been pushed out of cache by other work,
as between two page runs (``benchmarks/bench_scoring.py``). One call into this loop takes 0.03 ms
with the row in cache and 0.06-0.08 ms with numba's and numpy's code cold.

How: one pass in row order with a min-heap of the k best so far, whose root is the worst kept
entry (lowest score; among equal scores the highest row). A later row has a higher index than
every kept one, so it enters only when its score is strictly above the root's: ties keep the lower
row, the rule of :mod:`recaudit.scoring._topk`. Once the heap is full the row is read in chunks of
``CHUNK`` entries, and a chunk none of whose entries is above the root is skipped after one
vectorised count (no entry of it could enter, so the result is the same as the entry-by-entry
pass). On scores in random order about k (1 + ln(N / k)) entries enter (the record-value argument
in the ``_topk`` docstring) and about k (1 + ln(N / (k CHUNK))) chunks hold one, so most of a long
row costs a SIMD compare: 100k entries took 30 us against 65 us entry by entry. At worst
(ascending scores) every entry enters, O(N log k).

Concurrency: pure, compiled with ``nogil``; each call allocates its own outputs, so sessions may
call it at once. The first call in a process compiles the loop (about a second) unless numba's
on-disk cache beside this file already holds it; :func:`warm_up` does that ahead of a page run.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["select_row", "select_row_unchecked", "warm_up"]


@njit(cache=True, nogil=True, boundscheck=False)
def _worse(a: float, ra: int, b: float, rb: int) -> bool:
    """Entry (a, ra) ranks below (b, rb): lower score, or equal score and higher row."""
    return a < b or (a == b and ra > rb)


CHUNK = 256  # entries per skip test; 128 to 4096 all cost about the same


@njit(cache=True, nogil=True, boundscheck=False, inline="never")
def _count_above(x: np.ndarray, t: float) -> int:
    """How many entries of ``x`` are > ``t``. LLVM vectorises a loop of this plain shape over a
    slice (an integer sum of compares: no float flags needed); written inline over offsets into
    the whole row it did not, and ran four times slower."""
    c = 0
    for i in range(x.shape[0]):
        c += x[i] > t
    return c


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _offer(hv: np.ndarray, hr: np.ndarray, size: int, s: float, i: int) -> int:
    """Offer entry (s, row i) to the heap of ``size`` kept entries (capacity ``len(hv)``); returns
    the new size. Full: replace the root when s is above it. Not full: push any finite s.
    Inlined where it is called: as a call, each passes its two arrays with reference counting,
    which made it ten times slower per entry."""
    k = hv.shape[0]
    if size == k:
        if not s > hv[0]:
            return size
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
        return size
    if not s > -np.inf:
        return size  # an excluded item
    j = size  # push, sift up
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
    return size + 1


@njit(cache=True, nogil=True, boundscheck=False)
def _heap_select(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    hv = np.empty(k, dtype=np.float32)
    hr = np.empty(k, dtype=np.int64)
    n = scores.shape[0]
    size, i = 0, 0
    while i < n and size < k:  # fill the heap entry by entry
        size = _offer(hv, hr, size, scores[i], i)
        i += 1
    while i < n:  # full: only chunks with an entry above the root are read entry by entry
        hi = min(i + CHUNK, n)
        if _count_above(scores[i:hi], hv[0]) > 0:
            for j in range(i, hi):
                size = _offer(hv, hr, size, scores[j], j)
        i = hi
    vals = np.full(k, -np.inf, dtype=np.float32)
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
    if scores.dtype != np.float32 or not scores.flags.c_contiguous:
        scores = np.ascontiguousarray(scores, dtype=np.float32)
    return _heap_select(scores, int(k))


# select_row without its checks, for a caller whose row is its own float32 C-contiguous buffer and
# whose k is an int >= 1 (the small path): the checks cost about 14 us a call with cold caches.
select_row_unchecked = _heap_select


def warm_up() -> None:
    """Compile (or load from numba's cache) the selection loop now, not in a user's first call."""
    select_row(np.zeros(4, dtype=np.float32), 2)
