"""Builders shared by the metric tests: recommendation lists and user × item sets from plain lists."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recaudit.metrics.lists import RecLists


def rec_lists(items: list[list[int]], n_items: int, k: int | None = None) -> RecLists:
    """``RecLists`` of the given rows (catalogue rows, -1 padded to ``k``, default the longest row), with
    users and items named by their row numbers as strings."""
    k = k or max(1, max(len(r) for r in items))
    arr = np.full((len(items), k), -1, dtype=np.int64)
    for u, row in enumerate(items):
        arr[u, : len(row)] = row
    return RecLists(np.arange(len(items)).astype(str).astype(object), arr,
                    np.arange(n_items).astype(str).astype(object))


def sets_matrix(sets: list[list[int]], n_items: int) -> sp.csr_matrix:
    """``[len(sets), n_items]`` csr with a 1 at (u, i) for each item i of set u (e.g. a history)."""
    rows = [u for u, s in enumerate(sets) for _ in s]
    cols = [i for s in sets for i in s]
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(sets), n_items))
