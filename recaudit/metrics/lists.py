"""Recommendation lists and interactions in index form: the one input shape of every metric.

Metrics run over arrays, never Python loops over users: a top-k log becomes a ``[U, k]`` matrix of
catalogue item rows (``-1`` pads lists shorter than k), and train/test interactions become sparse
``users x items`` matrices aligned with the same user rows and catalogue rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recaudit.data.schema import ITEM_ID, RANK, USER_ID
from recaudit.errors import RecauditInputError

PAD = -1


@dataclass(frozen=True)
class RecLists:
    """Top-k lists of users over a catalogue.

    Attributes:
        user_ids: ``[U]`` external user ids, row order of ``items``.
        items: ``[U, k]`` int64 catalogue rows by rank (column r is rank r + 1); ``-1`` pads the end
            of a list shorter than k. No item appears twice in a row.
        item_ids: ``[I]`` external ids of the catalogue ``I``, indexed by the rows in ``items``.
        report: what :meth:`from_frame` dropped (unknown items, duplicates, ranks beyond k).
    """

    user_ids: np.ndarray
    items: np.ndarray
    item_ids: np.ndarray
    report: dict[str, int] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return int(self.items.shape[1])

    @property
    def n_users(self) -> int:
        return int(self.items.shape[0])

    @property
    def n_items(self) -> int:
        return int(len(self.item_ids))

    @property
    def mask(self) -> np.ndarray:
        """``[U, k]`` True where a list has an item."""
        return self.items >= 0

    @property
    def lengths(self) -> np.ndarray:
        """``|L_u|`` per user."""
        return self.mask.sum(axis=1)

    def truncate(self, k: int) -> RecLists:
        """The top-``k`` of every list (``k`` at most the current k)."""
        if not 1 <= k <= self.k:
            raise ValueError(f"k must be in [1, {self.k}], got {k}")
        return RecLists(self.user_ids, self.items[:, :k], self.item_ids, dict(self.report))

    def exposure_counts(self) -> np.ndarray:
        """``c_i``: number of lists that contain item i, for every catalogue item (zeros included)."""
        flat = self.items[self.mask]
        return np.bincount(flat, minlength=self.n_items).astype(np.int64)

    def position_exposure(self) -> np.ndarray:
        """``x_i = Σ_u Σ_r e(r) 1[L_u[r] = i]`` with ``e(r) = 1 / log2(r + 1)`` (docs/metrics.md)."""
        weights = np.broadcast_to(1.0 / np.log2(np.arange(2, self.k + 2)), self.items.shape)
        mask = self.mask
        return np.bincount(self.items[mask], weights=weights[mask], minlength=self.n_items)

    @classmethod
    def from_frame(
        cls,
        recs: pd.DataFrame,
        item_ids: Sequence[str] | np.ndarray,
        *,
        k: int | None = None,
        users: Sequence[str] | np.ndarray | None = None,
        source: str | None = None,
    ) -> RecLists:
        """Build lists from ``user_id, item_id, rank`` rows.

        Rows are ordered by rank within each user (ranks need not be contiguous; gaps close up).
        Items outside the catalogue and repeated (user, item) pairs are dropped and counted in
        ``report``; ranks beyond ``k`` are cut. ``users`` fixes the user rows (users without rows get
        empty lists); by default the users of ``recs``, sorted.

        Raises:
            RecauditInputError: missing columns, or ranks that are not positive integers.
        """
        missing = [c for c in (USER_ID, ITEM_ID, RANK) if c not in recs.columns]
        if missing:
            raise RecauditInputError(source, f"recommendations are missing column(s) {missing}")
        frame = recs[[USER_ID, ITEM_ID, RANK]].copy()
        frame[USER_ID] = frame[USER_ID].astype(str)
        frame[ITEM_ID] = frame[ITEM_ID].astype(str)
        ranks = pd.to_numeric(frame[RANK], errors="coerce")
        if ranks.isna().any() or (ranks < 1).any() or (ranks % 1 != 0).any():
            raise RecauditInputError(source, "column 'rank' must hold integers >= 1")
        frame[RANK] = ranks.astype(np.int64)
        catalogue = pd.Index(np.asarray(item_ids, dtype=object).astype(str))
        if catalogue.has_duplicates:
            raise RecauditInputError(source, "catalogue item ids are not unique")
        frame["_row"] = catalogue.get_indexer(frame[ITEM_ID])
        report = {"unknown_items": int((frame["_row"] < 0).sum())}
        report["duplicate_ranks"] = int(frame.duplicated([USER_ID, RANK]).sum())  # kept in file order
        frame = frame[frame["_row"] >= 0].sort_values([USER_ID, RANK], kind="mergesort")
        before = len(frame)
        frame = frame.drop_duplicates([USER_ID, "_row"], keep="first")
        report["duplicate_items"] = before - len(frame)
        position = frame.groupby(USER_ID, sort=False).cumcount().to_numpy()
        width = int(position.max()) + 1 if len(position) else 1
        k = width if k is None else k
        report["beyond_k"] = int((position >= k).sum())
        keep = position < k
        user_index = (
            pd.Index(np.sort(frame[USER_ID].unique()))
            if users is None
            else pd.Index(np.asarray(users, dtype=object).astype(str))
        )
        rows = user_index.get_indexer(frame[USER_ID].to_numpy()[keep])
        report["unlisted_users"] = int((rows < 0).sum())
        ok = rows >= 0
        items = np.full((len(user_index), k), PAD, dtype=np.int64)
        items[rows[ok], position[keep][ok]] = frame["_row"].to_numpy()[keep][ok]
        return cls(user_index.to_numpy(dtype=object), items, catalogue.to_numpy(dtype=object), report)


def interaction_matrix(
    frame: pd.DataFrame | None,
    user_ids: Sequence[str] | np.ndarray,
    item_ids: Sequence[str] | np.ndarray,
) -> sp.csr_matrix:
    """``users x items`` matrix counting the rows of ``frame`` per (user, item) pair.

    Rows whose user or item is not in ``user_ids`` / ``item_ids`` are ignored (a test item outside the
    catalogue cannot be recommended; count such rows separately where they matter, e.g. |T_u|).
    """
    shape = (len(user_ids), len(item_ids))
    if frame is None or frame.empty:
        return sp.csr_matrix(shape, dtype=np.float32)
    users = pd.Index(np.asarray(user_ids, dtype=object).astype(str))
    items = pd.Index(np.asarray(item_ids, dtype=object).astype(str))
    rows = users.get_indexer(frame[USER_ID].astype(str))
    cols = items.get_indexer(frame[ITEM_ID].astype(str))
    ok = (rows >= 0) & (cols >= 0)
    matrix = sp.csr_matrix(
        (np.ones(int(ok.sum()), dtype=np.float32), (rows[ok], cols[ok])), shape=shape
    )
    matrix.sum_duplicates()
    return matrix


def membership_matrix(
    values: Sequence[object] | np.ndarray, *, multi: bool = True
) -> tuple[sp.csr_matrix, list[str]]:
    """``[I, G]`` 0/1 matrix of item-group membership, and the group names (sorted).

    ``multi=True`` splits ``|``-separated cells (categories: an item may be in several groups);
    ``multi=False`` takes each cell whole (provider, domain). Missing cells belong to no group.
    """
    from recaudit.data.schema import split_categories

    cells = [
        split_categories(v) if multi else ([] if v is None or (isinstance(v, float) and v != v) else [str(v)])
        for v in values
    ]
    names = sorted({g for groups in cells for g in groups})
    column = {g: j for j, g in enumerate(names)}
    rows = np.repeat(np.arange(len(cells)), [len(c) for c in cells])
    cols = np.fromiter((column[g] for c in cells for g in c), dtype=np.int64, count=len(rows))
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(cells), len(names))
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix, names
