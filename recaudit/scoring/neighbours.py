"""Exact nearest neighbours of a table's own rows: the one kNN behind the map's neighbour table and the
embedding audit's hubness.

Similarity is the inner product (``"dot"``) or the cosine (``"cosine"``: the inner product of rows
normalised by :func:`recaudit.vectors.unit_rows`; zero rows have similarity 0 with everything), searched
exactly with ``faiss.IndexFlatIP``. A row is never its own neighbour: ``n + 1`` hits are fetched and the
row itself is dropped, or the last hit when the row is not among them (possible with duplicate vectors,
or with ``dot``, where a longer vector in the same direction beats the row itself).

Thread safety: a :class:`NeighbourIndex` is built once and then only read; ``IndexFlatIP.search`` does
not modify the index, so the app shares one index between sessions and threads.
"""

from __future__ import annotations

from typing import Literal

import faiss
import numpy as np

from recaudit.vectors import unit_rows

Similarity = Literal["cosine", "dot"]


class NeighbourIndex:
    """An exact inner-product index over ``vectors`` ([n, d]; float32 inside), for :meth:`search`."""

    def __init__(self, vectors: np.ndarray, metric: Similarity = "cosine") -> None:
        if metric not in ("cosine", "dot"):
            raise ValueError(f"unknown similarity {metric!r}: use 'cosine' or 'dot'")
        x = np.asarray(vectors)
        self.table = np.ascontiguousarray(
            unit_rows(x, np.float64) if metric == "cosine" else x, dtype=np.float32
        )
        self.metric = metric
        self._index = faiss.IndexFlatIP(self.table.shape[1])
        self._index.add(self.table)

    @property
    def n_rows(self) -> int:
        return int(self._index.ntotal)

    def search(self, rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` most similar other rows of each of ``rows``: ``(rows [m, n] int64, sims [m, n])``.

        Sorted by similarity, descending. With fewer than ``n`` other rows, the missing entries are
        ``-1`` / NaN.
        """
        rows = np.asarray(rows, dtype=np.int64).ravel()
        m = rows.size
        want = min(int(n) + 1, self.n_rows)
        out_rows = np.full((m, n), -1, dtype=np.int64)
        out_sims = np.full((m, n), np.nan)
        if m == 0 or want == 0:
            return out_rows, out_sims
        sims, hits = self._index.search(self.table[rows], want)
        hits = np.asarray(hits, dtype=np.int64)
        keep = hits != rows[:, None]
        no_self = keep.all(axis=1)
        keep[no_self, -1] = False
        got = want - 1
        out_rows[:, :got] = hits[keep].reshape(m, got)
        out_sims[:, :got] = sims[keep].reshape(m, got)
        return out_rows, out_sims
