"""Scorers: exact top-k recommendations on CPU/CUDA (torch) and approximate ones through FAISS.

Score functions (the bundle manifest's ``score`` field):

* ``"dot"``:    s(u, i) = u . v_i (+ b_i when an item bias is given)
* ``"cosine"``: s(u, i) = (u / |u|) . (v_i / |v_i|) (+ b_i); zero vectors stay zero (score 0).

The bias is applied by augmentation: ``[u, 1] . [v_i, b_i] = u . v_i + b_i``. One matmul or one
inner-product index then serves both cases.

Both scorers share validation, the id vocabularies, seen-item exclusion and candidate restriction,
so both give the same answer on the same inputs:

* exclusions are exact: an excluded item never appears, and a list with fewer than k eligible
  items is padded (row ``-1``, id ``None``, score ``-inf``);
* ties are deterministic: among equal scores the lower item row comes first. ``FaissScorer``
  re-sorts what the index returns; which of several items tied at the k-th place an ANN index
  returns is its own choice.

Thread safety: a scorer is built once and shared (``st.cache_resource``) by the app's sessions,
which call it from several threads at once. After ``__init__`` nothing is written to it: every call
works on local tensors and on FAISS search parameters made per call. That includes the exact
path's score tile (blocked kernel) and score buffer (small-batch path), which each call allocates
for itself, so concurrent calls never share a mutable buffer. The item table is only read. The BLAS
libraries underneath (MKL in torch, OpenBLAS in numpy, FAISS) are safe to call from several
threads at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import faiss
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from recaudit.config import ScoreFunction
from recaudit.data.schema import ITEM_ID, RANK, SCORE, USER_ID
from recaudit.data.vocab import IdVocabulary
from recaudit.device import choose_device
from recaudit.errors import RecauditInputError
from recaudit.scoring import _topk
from recaudit.scoring._topk import topk_inner_product
from recaudit.vectors import unit_rows

__all__ = ["ExactScorer", "FaissScorer", "Recommendations"]

IndexKind = Literal["flat", "hnsw", "ivf"]

# Largest d * max|u_j| * max|v_ij| accepted: it bounds every |score| and partial sum, so all stay
# finite in float32 (max 3.4e38) and far from overflow.
_MAX_SCORE_BOUND = 1e30
# FaissScorer fetches k + (largest exclusion count in the batch), at most this many extra.
_MAX_OVERFETCH = 2048
# Candidate sets at most this large are scored exactly rather than through a filtered ANN search.
_SMALL_CANDIDATES = 4096
_NO_ROWS = np.zeros(0, np.int64)  # no exclusions; shared, so read-only
_NO_ROWS.setflags(write=False)
_SHOW_IDS = 5


@dataclass(frozen=True, eq=False)
class Recommendations:
    """Top-k lists for a batch of queries (users or vectors).

    Attributes:
        user_ids: [B] external user ids (object, str); for vector queries, the caller's labels.
        item_index: [B, k] int64 internal item rows, ``-1`` where a list is shorter than k.
        item_ids: [B, k] object external item ids, ``None`` where padded.
        scores: [B, k] float32, ``-inf`` where padded; each row sorted descending.
    """

    user_ids: np.ndarray
    item_index: np.ndarray
    item_ids: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return int(self.item_index.shape[0])

    def to_frame(self) -> pd.DataFrame:
        """Long table with columns user_id, item_id, rank (1-based) and score, without padding."""
        n, k = self.item_index.shape
        keep = (self.item_index >= 0).ravel()
        return pd.DataFrame(
            {
                USER_ID: np.repeat(self.user_ids, k)[keep],
                ITEM_ID: self.item_ids.ravel()[keep],
                RANK: np.tile(np.arange(1, k + 1, dtype=np.int64), n)[keep],
                SCORE: self.scores.ravel()[keep],
            }
        )


def _as_matrix(x: np.ndarray, source: str) -> np.ndarray:
    """A finite float32 C-contiguous copy of a 2-D array."""
    return _as_matrix_abs_max(x, source)[0]


def _as_matrix_abs_max(x: np.ndarray, source: str, copy: bool = True) -> tuple[np.ndarray, float]:
    """:func:`_as_matrix` and its max |entry| (0 when empty), which the overflow bound needs: one
    max and one min find both (NaN propagates through both), where a finiteness test and the
    bound's own pass took four numpy calls, each tens of microseconds on a one-query page run with
    cold caches; and no temporary the size of the table. ``copy=False`` returns a float32
    C-contiguous input itself, for callers that only read it (query vectors)."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise RecauditInputError(source, f"expected a 2-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "fiu":  # float, signed or unsigned int (not bool, complex, object)
        raise RecauditInputError(source, f"expected numbers, got dtype {arr.dtype}")
    if arr.dtype == np.float32:
        out = np.array(arr, order="C", copy=True if copy else None)
    else:
        with np.errstate(over="ignore"):  # a value past float32 becomes inf: the error below
            out = np.array(arr, dtype=np.float32, order="C", copy=True)
    abs_max = max(float(out.max()), -float(out.min())) if out.size else 0.0
    if not math.isfinite(abs_max):
        n_bad = int((~np.isfinite(out)).any(axis=1).sum())
        raise RecauditInputError(
            source, f"{n_bad} rows hold NaN or infinite values (or overflow float32)"
        )
    return out, abs_max


def _prepare_queries(x: np.ndarray, score: ScoreFunction, has_bias: bool) -> np.ndarray:
    """Query vectors in the scoring space: normalised for cosine, with a trailing 1 for the bias."""
    if score == "cosine":
        x = unit_rows(x)
    if has_bias:
        x = np.hstack([x, np.ones((x.shape[0], 1), dtype=np.float32)])
    if x.dtype == np.float32 and x.flags.c_contiguous:
        return x
    return np.ascontiguousarray(x, dtype=np.float32)


def _prepare_items(
    v: np.ndarray, bias: np.ndarray | None, score: ScoreFunction, order: Literal["C", "F"] = "C"
) -> np.ndarray:
    """Item vectors in the scoring space: normalised for cosine, with the bias as a last column,
    row-major (``order="C"``, what FAISS needs) or column-major (``"F"``, see :class:`ExactScorer`)."""
    if score == "cosine":
        v = unit_rows(v)
    if bias is not None:
        v = np.hstack([v, bias[:, None]])
    return np.asarray(v, dtype=np.float32, order=order)


def _max_abs(x: np.ndarray) -> float:
    return float(np.abs(x).max()) if x.size else 0.0


def _check_k(k: int) -> int:
    if type(k) is int and k >= 1:  # the usual case, without the numpy type test
        return k
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise RecauditInputError("k", f"k must be an integer >= 1, got {k!r}")
    return int(k)


def _check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise RecauditInputError("batch_size", f"expected an integer, got {batch_size!r}")
    if batch_size < 1:
        raise RecauditInputError("batch_size", f"batch_size must be >= 1, got {batch_size}")
    return int(batch_size)


def _check_rows(rows: np.ndarray, n: int, source: str) -> np.ndarray:
    arr = np.asarray(rows)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise RecauditInputError(source, f"expected a 1-D array of int item rows, got {arr.dtype}")
    if arr.min() < 0 or arr.max() >= n:
        raise RecauditInputError(
            source, f"item rows must lie in [0, {n}), got {arr.min()}..{arr.max()}"
        )
    return arr.astype(np.int64)


class _ScorerBase:
    """Validation, vocabularies, exclusions and candidate handling shared by both scorers.

    Subclasses implement :meth:`_topk` on prepared query vectors.
    """

    n_users: int
    n_items: int

    def __init__(
        self,
        user_emb: np.ndarray,
        item_emb: np.ndarray,
        user_ids: Sequence[str],
        item_ids: Sequence[str],
        *,
        item_bias: np.ndarray | None,
        score: ScoreFunction,
        seen: sp.csr_matrix | None,
        item_order: Literal["C", "F"] = "C",
    ) -> None:
        if score not in ("dot", "cosine"):
            raise RecauditInputError(
                "score", f"unknown score {score!r}", hint="use 'dot' or 'cosine'"
            )
        users = _as_matrix(user_emb, "user embeddings")
        items = _as_matrix(item_emb, "item embeddings")
        if items.shape[0] == 0:
            raise RecauditInputError("item embeddings", "the item table is empty")
        if users.shape[1] != items.shape[1]:
            raise RecauditInputError(
                "embeddings",
                f"user dimension {users.shape[1]} != item dimension {items.shape[1]}",
                hint="user and item tables must come from the same model",
            )
        bias = None
        if item_bias is not None:
            bias_arr = np.asarray(item_bias)
            if bias_arr.shape != (items.shape[0],):
                raise RecauditInputError(
                    "item_bias", f"shape {bias_arr.shape}, expected ({items.shape[0]},)"
                )
            bias = _as_matrix(bias_arr[:, None], "item_bias")[:, 0]
        self.score = score
        self.dim = items.shape[1]
        self.n_users, self.n_items = users.shape[0], items.shape[0]
        self._users = _prepare_queries(users, score, bias is not None)
        self._items = _prepare_items(items, bias, score, item_order)
        self._has_bias = bias is not None
        self._user_vocab = IdVocabulary(user_ids, "user_ids", self.n_users)
        self._item_vocab = IdVocabulary(item_ids, "item_ids", self.n_items)
        # row -1 (padding) reads the trailing None: one gather maps any list to ids
        self._item_ids_padded = np.append(self._item_vocab.ids, None)
        self._item_abs_max = _max_abs(self._items)
        self._check_bound(self._users, "user embeddings")
        self._seen = self._check_seen(seen)

    # ---- validation helpers -------------------------------------------------------------------
    def _check_bound(self, queries: np.ndarray, source: str, abs_max: float | None = None) -> None:
        """Reject magnitudes whose scores could overflow float32: |u . v| <= d max|u| max|v|.
        ``abs_max``: max |queries| when the caller already has it."""
        u_max = _max_abs(queries) if abs_max is None else abs_max
        if queries.shape[1] * u_max * self._item_abs_max > _MAX_SCORE_BOUND:
            raise RecauditInputError(
                source, "values so large that scores would overflow float32", hint="rescale them"
            )

    def _check_seen(self, seen: sp.csr_matrix | None) -> sp.csr_matrix | None:
        if seen is None:
            return None
        if not sp.issparse(seen):
            raise RecauditInputError("seen", f"expected a scipy sparse matrix, got {type(seen)}")
        if seen.shape != (self.n_users, self.n_items):
            raise RecauditInputError(
                "seen",
                f"shape {seen.shape}, expected ({self.n_users}, {self.n_items}) users x items",
            )
        csr = sp.csr_matrix(seen, copy=True)
        csr.eliminate_zeros()
        csr.sort_indices()
        return csr

    def _candidate_rows(self, candidates: np.ndarray | None) -> np.ndarray | None:
        """Candidates as sorted unique item rows (None = every item)."""
        if candidates is None:
            return None
        arr = np.asarray(candidates)
        if arr.dtype == bool:
            if arr.shape != (self.n_items,):
                raise RecauditInputError(
                    "candidates", f"bool mask of shape {arr.shape}, expected ({self.n_items},)"
                )
            return np.flatnonzero(arr).astype(np.int64)
        return np.unique(_check_rows(arr, self.n_items, "candidates"))

    # ---- public API ---------------------------------------------------------------------------
    def user_index(self, user_ids: Sequence[str]) -> np.ndarray:
        """Internal rows of external user ids; :class:`RecauditInputError` names unknown ones."""
        return self._user_vocab.rows(user_ids)

    def item_index(self, item_ids: Sequence[str]) -> np.ndarray:
        """Internal rows of external item ids; :class:`RecauditInputError` names unknown ones."""
        return self._item_vocab.rows(item_ids)

    @property
    def user_ids(self) -> np.ndarray:
        """External user ids in row order (a copy)."""
        return self._user_vocab.ids.copy()

    @property
    def item_ids(self) -> np.ndarray:
        """External item ids in row order (a copy)."""
        return self._item_vocab.ids.copy()

    def score_items(self, user_ids: Sequence[str], item_ids: Sequence[str]) -> np.ndarray:
        """Raw scores [len(user_ids), len(item_ids)] (float32), same formula as the rankings."""
        u = self._users[self.user_index(user_ids)]
        v = self._items[self.item_index(item_ids)]
        return (u @ v.T).astype(np.float32)

    def recommend(
        self,
        user_ids: Sequence[str],
        k: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: np.ndarray | None = None,
        batch_size: int = 1024,
    ) -> Recommendations:
        """Top-k items for known users, excluding their seen items unless ``exclude_seen=False``.

        ``candidates`` (bool mask [I] or int item rows) restricts the lists to those items.
        """
        k, batch_size = _check_k(k), _check_batch_size(batch_size)
        rows = self.user_index(user_ids)
        cand = self._candidate_rows(candidates)
        parts = [
            self._recommend_rows(rows[s : s + batch_size], k, exclude_seen, cand)
            for s in range(0, len(rows), batch_size)
        ]
        if not parts:
            return self._pack(np.zeros(0, dtype=object), *self._empty(k))
        return Recommendations(
            user_ids=np.concatenate([p.user_ids for p in parts]),
            item_index=np.concatenate([p.item_index for p in parts]),
            item_ids=np.concatenate([p.item_ids for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
        )

    def iter_recommend_all(
        self,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        candidates: np.ndarray | None = None,
        batch_size: int = 1024,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[Recommendations]:
        """Top-k for every user in row order, one :class:`Recommendations` per batch.

        ``progress(done, total)`` is called after each batch (users done so far, all users).
        """
        k, batch_size = _check_k(k), _check_batch_size(batch_size)
        cand = self._candidate_rows(candidates)
        for s in range(0, self.n_users, batch_size):
            rows = np.arange(s, min(s + batch_size, self.n_users), dtype=np.int64)
            yield self._recommend_rows(rows, k, exclude_seen, cand)
            if progress is not None:
                progress(int(rows[-1]) + 1, self.n_users)

    def recommend_vectors(
        self,
        vectors: np.ndarray,
        k: int = 10,
        *,
        exclude: Sequence[np.ndarray] | None = None,
        candidates: np.ndarray | None = None,
        labels: Sequence[str] | None = None,
    ) -> Recommendations:
        """Top-k for query vectors in the user-embedding space (cold users, what-if edits).

        ``exclude[b]`` holds the item rows never to show to query b. ``labels`` (default "0", "1",
        ...) become :attr:`Recommendations.user_ids`.
        """
        k = _check_k(k)
        q, q_max = _as_matrix_abs_max(vectors, "vectors", copy=False)  # only read below
        if q.shape[1] != self.dim:
            raise RecauditInputError(
                "vectors", f"dimension {q.shape[1]}, the item embeddings have {self.dim}"
            )
        n = q.shape[0]
        if labels is None:
            label_arr = np.asarray([str(i) for i in range(n)], dtype=object)
        else:
            label_arr = np.asarray(list(labels), dtype=object)
            if label_arr.shape != (n,):
                raise RecauditInputError("labels", f"{label_arr.shape[0]} labels for {n} vectors")
        ex_rows, ex_cols = _NO_ROWS, _NO_ROWS
        if exclude is not None:
            ex_list = list(exclude)
            if len(ex_list) != n:
                raise RecauditInputError(
                    "exclude", f"{len(ex_list)} exclusion lists for {n} vectors"
                )
            cols = [_check_rows(np.asarray(e).ravel(), self.n_items, "exclude") for e in ex_list]
            ex_rows = np.repeat(np.arange(n, dtype=np.int64), [len(c) for c in cols])
            ex_cols = np.concatenate(cols) if cols else ex_cols
        queries = _prepare_queries(q, self.score, self._has_bias)
        if self.score == "dot":  # the queries are q, with a trailing 1 for the bias
            self._check_bound(queries, "vectors", max(q_max, 1.0) if self._has_bias else q_max)
        else:
            self._check_bound(queries, "vectors")
        cand = self._candidate_rows(candidates)
        vals, idx = self._topk(queries, k, ex_rows, ex_cols, cand)
        return self._pack(label_arr, vals, idx)

    # ---- internals ----------------------------------------------------------------------------
    def _recommend_rows(
        self, rows: np.ndarray, k: int, exclude_seen: bool, cand: np.ndarray | None
    ) -> Recommendations:
        ex_rows, ex_cols = _NO_ROWS, _NO_ROWS
        if exclude_seen and self._seen is not None and len(rows):
            sub = self._seen[rows]
            ex_rows = np.repeat(np.arange(len(rows), dtype=np.int64), np.diff(sub.indptr))
            ex_cols = sub.indices.astype(np.int64)
        vals, idx = self._topk(self._users[rows], k, ex_rows, ex_cols, cand)
        return self._pack(self._user_vocab.ids[rows], vals, idx)

    def _empty(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)

    def _pack(self, labels: np.ndarray, vals: np.ndarray, idx: np.ndarray) -> Recommendations:
        """The batch's lists with external ids (None where padded: row -1 is the padded id table's
        trailing None). ``vals`` and ``idx`` are fresh arrays of this call, never a view of the
        scorer's state, so they are wrapped without a copy."""
        item_index = idx if idx.dtype == np.int64 else idx.astype(np.int64)
        return Recommendations(
            user_ids=np.asarray(labels, dtype=object),
            item_index=item_index,
            item_ids=self._item_ids_padded[item_index],
            scores=vals if vals.dtype == np.float32 else vals.astype(np.float32),
        )

    def _topk(
        self,
        queries: np.ndarray,
        k: int,
        ex_rows: np.ndarray,
        ex_cols: np.ndarray,
        cand: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


def _exact_topk(
    items: torch.Tensor,
    queries: np.ndarray,
    k: int,
    ex_rows: np.ndarray,
    ex_cols: np.ndarray,
    cand: np.ndarray | None,
    block_items: int | None,
    items_np: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k with the torch kernel, restricted to ``cand`` item rows when given.

    A candidate set of at most half the catalogue is gathered into a smaller table (less GEMM work).
    A larger one is applied as a blocked-item mask (no copy of most of the table). ``items_np``,
    when given, is ``items`` as a numpy array (same memory, CPU), used by the small path.
    """
    device = items.device
    n_items = items.shape[0]
    table, blocked, to_row = items, None, None
    if cand is not None:
        if len(cand) == 0:
            return (
                np.full((len(queries), k), -np.inf, np.float32),
                np.full((len(queries), k), -1, np.int64),
            )
        if 2 * len(cand) <= n_items:
            cand_t = torch.from_numpy(cand).to(device)
            table = items.index_select(0, cand_t)
            pos = np.searchsorted(cand, ex_cols)
            keep = (pos < len(cand)) & (cand[np.minimum(pos, len(cand) - 1)] == ex_cols)
            ex_rows, ex_cols, to_row = ex_rows[keep], pos[keep], cand
        else:
            mask = np.ones(n_items, dtype=bool)
            mask[cand] = False
            blocked = torch.from_numpy(mask).to(device)
    if device.type == "cpu" and _topk.choose_method(len(queries), table.shape[0]) == "small":
        # The app's one query per page: numpy end to end, no torch call around the GEMV (each costs
        # microseconds against a read of about a millisecond at 100k items).
        vals_np, idx_np = _topk.topk_small_numpy(
            queries,
            items_np if table is items and items_np is not None else table.numpy(),
            k,
            (ex_rows, ex_cols) if len(ex_rows) else None,
            None if blocked is None else blocked.numpy(),
        )
    else:
        vals_np, idx_np = _torch_topk(table, queries, k, ex_rows, ex_cols, blocked, block_items)
    if to_row is not None:
        idx_np = np.where(idx_np >= 0, to_row[np.maximum(idx_np, 0)], -1)
    return vals_np, idx_np


def _torch_topk(
    table: torch.Tensor,
    queries: np.ndarray,
    k: int,
    ex_rows: np.ndarray,
    ex_cols: np.ndarray,
    blocked: torch.Tensor | None,
    block_items: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`topk_inner_product` on numpy queries and exclusions, results back as numpy."""
    with torch.inference_mode():
        q = torch.from_numpy(queries).to(table.device)
        some = len(ex_rows) > 0  # the empty pair list may be the shared read-only _NO_ROWS
        vals, idx = topk_inner_product(
            q,
            table,
            k,
            exclude_rows=torch.from_numpy(ex_rows) if some else None,
            exclude_cols=torch.from_numpy(ex_cols) if some else None,
            blocked=blocked,
            block_items=block_items,
        )
        return vals.cpu().numpy(), idx.cpu().numpy()


class ExactScorer(_ScorerBase):
    """Exact top-k by blocked matmul + running top-k (:mod:`recaudit.scoring._topk`) on CPU or CUDA.

    This is the reference answer; :class:`FaissScorer` is checked against it. Batches of at most
    ``recaudit.scoring._topk.SMALL_BATCH`` queries (a page of the app asks for one) take the kernel's
    GEMV-shaped path, one pass over the item table at about the memory read rate; larger batches
    take the blocked GEMM. Both paths rank the same scores the same way (ties: lower row first).

    Args:
        user_emb, item_emb: [U, d] and [I, d] embeddings (cast to float32).
        user_ids, item_ids: external string ids in row order.
        item_bias: optional [I] additive item bias.
        score: ``"dot"`` or ``"cosine"`` (see the module docstring).
        seen: [U, I] sparse matrix of users' training items (nonzero = seen), excluded by default.
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"`` or a ``torch.device``.
        block_items: items per scan block of the blocked GEMM path; None picks a tile of about
            2M scores on CPU. The small-batch path has no blocks and ignores it.
    """

    def __init__(
        self,
        user_emb: np.ndarray,
        item_emb: np.ndarray,
        user_ids: Sequence[str],
        item_ids: Sequence[str],
        *,
        item_bias: np.ndarray | None = None,
        score: ScoreFunction = "dot",
        seen: sp.csr_matrix | None = None,
        device: str | torch.device = "auto",
        block_items: int | None = None,
    ) -> None:
        self.device = choose_device(device)
        # Column-major on CPU: one query's scores are then a column-major GEMV (y = sum_j q_j V[:, j],
        # 65 concurrent streams over the table), which read 1M x 64 items in 6 ms where the
        # row-major one (a dot per row) took 9 ms and torch.sum over the table 7.5 ms; the blocked
        # GEMM's tiles got about 20% faster too (benchmarks/README.md). CUDA keeps rows contiguous.
        order: Literal["C", "F"] = "F" if self.device.type == "cpu" else "C"
        super().__init__(
            user_emb,
            item_emb,
            user_ids,
            item_ids,
            item_bias=item_bias,
            score=score,
            seen=seen,
            item_order=order,
        )
        if block_items is not None and (isinstance(block_items, bool) or int(block_items) < 1):
            raise RecauditInputError("block_items", f"must be >= 1, got {block_items!r}")
        self.block_items = None if block_items is None else int(block_items)
        self._item_table = torch.from_numpy(self._items).to(self.device)
        # the same memory as numpy on CPU: the one-query path calls BLAS on it without torch
        self._cpu_items = self._items if self.device.type == "cpu" else None

    def _topk(
        self,
        queries: np.ndarray,
        k: int,
        ex_rows: np.ndarray,
        ex_cols: np.ndarray,
        cand: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        return _exact_topk(
            self._item_table, queries, k, ex_rows, ex_cols, cand, self.block_items, self._cpu_items
        )


class FaissScorer(_ScorerBase):
    """Top-k through a FAISS inner-product index built in-process from the embeddings.

    ``index="flat"`` is exact; ``"hnsw"`` and ``"ivf"`` are approximate. FAISS cannot drop each
    user's seen items, so a batch over-fetches ``k + max(seen count)`` (bounded) and filters them
    out. A row that still has fewer than k items after filtering is recomputed exactly. That covers
    users with very long histories, approximate searches that return short lists, and small
    candidate sets. So exclusions and padding are always exact. Candidate restriction passes a
    bitmap ``IDSelector`` in per-call search parameters. Candidate sets of at most 4096 items are
    scored exactly instead, which is cheap and avoids filtered-graph recall loss.

    Never reads an index file: FAISS deserialisation is not safe for untrusted input
    (``shared/notes/reliability.md``).

    Args (beyond :class:`ExactScorer`'s):
        index: ``"flat"``, ``"hnsw"`` or ``"ivf"``.
        nlist: IVF lists; default ``clamp(4 sqrt(I), 1, I / 39)``, the FAISS guideline of 39+
            training points per centroid.
        nprobe: IVF lists probed per query.
        hnsw_m, ef_search: HNSW graph degree and search beam width.
        seed: seeds the IVF training sample and k-means.
    """

    def __init__(
        self,
        user_emb: np.ndarray,
        item_emb: np.ndarray,
        user_ids: Sequence[str],
        item_ids: Sequence[str],
        *,
        item_bias: np.ndarray | None = None,
        score: ScoreFunction = "dot",
        seen: sp.csr_matrix | None = None,
        index: IndexKind = "flat",
        nlist: int | None = None,
        nprobe: int = 16,
        hnsw_m: int = 32,
        ef_search: int = 128,
        seed: int = 0,
    ) -> None:
        super().__init__(
            user_emb, item_emb, user_ids, item_ids, item_bias=item_bias, score=score, seen=seen
        )
        for name, value in (("nprobe", nprobe), ("hnsw_m", hnsw_m), ("ef_search", ef_search)):
            if isinstance(value, bool) or int(value) < 1:
                raise RecauditInputError(name, f"must be an integer >= 1, got {value!r}")
        self.index_kind = index
        self.nprobe, self.ef_search = int(nprobe), int(ef_search)
        self._index = self._build(index, nlist, int(hnsw_m), seed)
        # The exact fallback shares memory with the item table (CPU, no copy).
        self._item_table = torch.from_numpy(self._items)

    def _build(self, kind: IndexKind, nlist: int | None, hnsw_m: int, seed: int) -> faiss.Index:
        d, n = self._items.shape[1], self.n_items
        if kind == "flat":
            index = faiss.IndexFlatIP(d)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = max(40, 2 * hnsw_m)
            index.hnsw.efSearch = self.ef_search
        elif kind == "ivf":
            if nlist is None:
                nlist = int(np.clip(4 * np.sqrt(n), 1, max(1, n // 39)))
            if isinstance(nlist, bool) or not 1 <= int(nlist) <= n:
                raise RecauditInputError("nlist", f"must lie in [1, {n}], got {nlist!r}")
            quantizer = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quantizer, d, int(nlist), faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = seed
            rng = np.random.default_rng(seed)
            n_train = min(n, 256 * int(nlist))
            train = self._items[np.sort(rng.choice(n, n_train, replace=False))]
            index.train(train)
            index.nprobe = self.nprobe
            # keep the quantizer alive as long as the index (SWIG does not own it)
            self._quantizer = quantizer
        else:
            raise RecauditInputError("index", f"unknown index {kind!r}", hint="flat, hnsw or ivf")
        index.add(self._items)
        return index

    def _params(self, selector: faiss.IDSelector | None) -> faiss.SearchParameters:
        """Search parameters made per call, so concurrent searches never share mutable state."""
        if self.index_kind == "hnsw":
            params = faiss.SearchParametersHNSW()
            params.efSearch = self.ef_search
        elif self.index_kind == "ivf":
            params = faiss.SearchParametersIVF()
            params.nprobe = self.nprobe
        else:
            params = faiss.SearchParameters()
        if selector is not None:
            params.sel = selector
        return params

    def _topk(
        self,
        queries: np.ndarray,
        k: int,
        ex_rows: np.ndarray,
        ex_cols: np.ndarray,
        cand: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        n_q = len(queries)
        if n_q == 0:
            return self._empty(k)
        if cand is not None and len(cand) <= max(_SMALL_CANDIDATES, k):
            return _exact_topk(self._item_table, queries, k, ex_rows, ex_cols, cand, None)
        n_eligible = self.n_items if cand is None else len(cand)
        ex_count = np.bincount(ex_rows, minlength=n_q) if len(ex_rows) else np.zeros(n_q, int)
        fetch = int(min(n_eligible, k + min(int(ex_count.max()), _MAX_OVERFETCH)))
        selector, bitmap = None, None
        if cand is not None:
            mask = np.zeros(self.n_items, dtype=bool)
            mask[cand] = True
            bitmap = np.packbits(mask, bitorder="little")
            selector = faiss.IDSelectorBitmap(self.n_items, faiss.swig_ptr(bitmap))
        dist, lab = self._index.search(queries, fetch, params=self._params(selector))
        del bitmap  # the selector read it during search; release only after
        dist, lab = np.asarray(dist, dtype=np.float32), np.asarray(lab, dtype=np.int64)
        drop = lab < 0
        if len(ex_rows):
            excluded = np.unique(ex_rows * self.n_items + ex_cols)
            keys = np.arange(n_q, dtype=np.int64)[:, None] * self.n_items + np.maximum(lab, 0)
            drop |= np.isin(keys, excluded)
        # Deterministic order: score descending, then item row ascending; dropped entries last.
        dist = np.where(drop, -np.inf, dist)
        lab = np.where(drop, np.iinfo(np.int64).max, lab)
        order = np.lexsort((lab, -dist), axis=1)[:, :k]
        vals = np.take_along_axis(dist, order, axis=1)
        idx = np.take_along_axis(lab, order, axis=1)
        if vals.shape[1] < k:
            pad = k - vals.shape[1]
            vals = np.pad(vals, ((0, 0), (0, pad)), constant_values=-np.inf)
            idx = np.pad(idx, ((0, 0), (0, pad)), constant_values=-1)
        idx = np.where(np.isfinite(vals), idx, -1)
        short = np.flatnonzero((idx < 0).any(axis=1))
        if len(short):
            sel = np.isin(ex_rows, short)
            local = np.searchsorted(short, ex_rows[sel])
            ev, ei = _exact_topk(
                self._item_table, queries[short], k, local, ex_cols[sel], cand, None
            )
            vals[short], idx[short] = ev, ei
        return vals.astype(np.float32), idx
