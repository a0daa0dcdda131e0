"""Exact top-k of inner products over a large item table: the kernel behind ``ExactScorer``.

What: for queries ``Q`` [B, d] and items ``V`` [N, d], return for each query the ``k`` largest
scores ``s[b, i] = Q[b] . V[i]`` and their item rows, skipping excluded (query, item) pairs and
blocked items.

Why blocked: the full score matrix of 1024 queries x 1M items is 4 GiB. We scan the items in
blocks of ``nb`` rows, compute one [qc, nb] tile with one ``torch.mm`` into a reused buffer (memory
bounded by ``qc * nb`` floats) and fold the tile into a running top-k per query.

Why cheap selection: a full ``topk`` over every tile costs about as much as the GEMM itself.
Instead we keep each query's current k-th best score ``t_b`` and first take the row maxima of the
tile (one vectorised pass). Only rows whose maximum beats ``t_b`` are looked at. From those rows we
take just the entries above ``t_b`` (a compare and a ``nonzero``) and merge them into the running
list. When the scores arrive in random order, block j of m equal blocks holds one of the best k
among blocks 1..j with probability at most k/j: each of those k is equally likely to sit in any
of the j blocks (the record-value argument, e.g. Arnold, Balakrishnan & Nagaraja, *Records*,
1998). So a query is looked at in about ``k (1 + ln(m / k))`` of its m blocks, and the GEMM
dominates. Profiled at 1024 queries x 1M items x 64 dims on 2 CPU cores: ``mm`` takes 81% of the
time.

Ties are deterministic: between equal scores, the lower item row wins, both inside the list and at
the k-th place. Blocks are scanned in ascending row order, and a later item must beat the running
k-th score strictly. Merges use a stable sort with the earlier (lower-row) entries first. The first
block uses ``topk(k + 1)``; when that shows a tie at the k-th place, the row is redone with a
stable sort.

Excluded entries score ``-inf`` and come back as padding (score ``-inf``, row ``-1``). That is why
scores must be finite; the callers validate this. The same code runs on CPU and CUDA: all tensors
live on the device of ``items``.

Small batches (at most ``SMALL_BATCH`` queries, e.g. the app's one query per page) take a
GEMV-shaped path instead, :func:`topk_small_batch`. There the table read is the whole cost: at one
query the blocked kernel's ``[1, nb]`` GEMM is a matrix-vector product, and a ``topk`` over a
1M-wide row costs a quarter of the read again. The small path makes one pass over the table into a
per-call score buffer: ``items @ q`` (a GEMV; for B > 1 a skinny GEMM) through numpy's BLAS on CPU,
which reads the table at close to the memory bandwidth where torch's MKL ``mv`` on the development
box ran at half of it (``benchmarks/bench_scoring.py``), and ``torch.mv`` / ``torch.mm`` on CUDA.
Selection then needs no sort of the full row. On CPU each row is selected by one compiled pass
with a k-entry heap (:mod:`recaudit.scoring._select`); the scorer calls :func:`topk_small_numpy`
with numpy arrays, so no torch call surrounds the GEMV. On CUDA (torch) the buffer is cut into
groups of ``_GROUP`` columns and the k-th largest group maximum ``t0`` is taken. k groups hold an
entry >= t0, so the k-th best score is >= t0, and every item that can make the list (ties
included) lies in a group whose maximum is >= t0. Usually that is k groups; of their
``k * _GROUP`` scores only those >= t0 (a few more than k) are sorted. The groups are strided
(:func:`_n_groups`), so their maxima are one elementwise maximum over ``_GROUP`` slices.
Ties follow the same rule as the blocked kernel (score descending, then lower row), so both paths
give the same list for the same scores. The scores themselves come from a different BLAS routine,
so they can differ from the blocked kernel's in the last bit, as the blocked kernel's own
``[1, nb]`` and ``[1024, nb]`` products already do (MKL picks different kernels by shape); with
exactly representable products (e.g. small integers) both paths agree bit for bit.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

NEG_INF = float("-inf")

# Elements per score tile. On CPU an ~8 MiB fp32 tile (2**21 scores) was fastest on a 2-core AVX-512
# box, because it stays in cache between the GEMM and the row-max pass (benchmarks/bench_scoring.py,
# --sweep). On CUDA, larger tiles amortise kernel launches.
_TILE_ELEMENTS = {"cpu": 2**21, "cuda": 2**26}
_MAX_QUERY_CHUNK = {"cpu": 1024, "cuda": 8192}
_MIN_BLOCK = 1024
# Columns per segment when looking for entries above the running threshold (see _entries_above).
_SEGMENT = 128
# Batches of at most this many queries take the GEMV-shaped path (topk_small_batch).
SMALL_BATCH = 8
# ... as long as the per-call score buffer [B, N] stays below this many scores (256 MiB of fp32).
_SMALL_BATCH_MAX_SCORES = 2**26
# Members per group in the torch small path's group-maximum selection.
_GROUP = 128

Method = Literal["auto", "blocked", "small"]


def choose_method(n_queries: int, n_items: int) -> Literal["blocked", "small"]:
    """The path ``method="auto"`` takes: ``"small"`` for batches of at most ``SMALL_BATCH``
    queries (one GEMV-shaped pass over the table), ``"blocked"`` otherwise."""
    small = 1 <= n_queries <= SMALL_BATCH and n_queries * n_items <= _SMALL_BATCH_MAX_SCORES
    return "small" if small else "blocked"


def auto_block_items(n_queries: int, n_items: int, device: torch.device) -> int:
    """Item-block size for a tile of about ``_TILE_ELEMENTS`` scores: ``clamp(T / qc, 1024, N)``."""
    target = _TILE_ELEMENTS.get(device.type, _TILE_ELEMENTS["cuda"])
    qc = max(1, min(n_queries, _MAX_QUERY_CHUNK.get(device.type, 1024)))
    return max(1, min(n_items, max(_MIN_BLOCK, target // qc)))


def topk_inner_product(
    queries: torch.Tensor,
    items: torch.Tensor,
    k: int,
    *,
    exclude_rows: torch.Tensor | None = None,
    exclude_cols: torch.Tensor | None = None,
    blocked: torch.Tensor | None = None,
    block_items: int | None = None,
    method: Method = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k of ``queries @ items.T`` per query, with exclusions.

    Args:
        queries: [B, d] float32 on the device of ``items``.
        items: [N, d] float32.
        k: list length, >= 1. Lists are padded when fewer than k items are eligible.
        exclude_rows, exclude_cols: int64 [E] pairs (query row, item row) that must not appear.
            Duplicates are allowed.
        blocked: bool [N]. True means the item never appears for any query.
        block_items: items per block of the blocked kernel. None picks :func:`auto_block_items`.
        method: ``"blocked"`` (the blocked kernel), ``"small"`` (:func:`topk_small_batch`) or
            ``"auto"``: :func:`choose_method`. Both give the same lists for the same scores.

    Returns:
        ``(scores, rows)``: float32 [B, k] sorted descending with ``-inf`` padding, and int64 [B, k]
        with ``-1`` padding. Both are on the device of ``items``. Among equal scores the lower item
        row comes first.
    """
    n_q, n_items = queries.shape[0], items.shape[0]
    if method == "auto":
        method = choose_method(n_q, n_items)
    if method == "small":
        return topk_small_batch(
            queries, items, k, exclude_rows=exclude_rows, exclude_cols=exclude_cols, blocked=blocked
        )
    if method != "blocked":
        raise ValueError(f"unknown method {method!r}: use 'auto', 'blocked' or 'small'")
    device = items.device
    out_vals = torch.full((n_q, k), NEG_INF, dtype=torch.float32, device=device)
    out_rows = torch.full((n_q, k), -1, dtype=torch.int64, device=device)
    if n_q == 0 or n_items == 0:
        return out_vals, out_rows
    qc = max(1, min(n_q, _MAX_QUERY_CHUNK.get(device.type, 1024)))
    nb = block_items if block_items is not None else auto_block_items(qc, n_items, device)
    nb = max(1, min(int(nb), n_items))
    buf = torch.empty((qc, nb), dtype=torch.float32, device=device)

    ex_rows, ex_cols = _sorted_pairs(exclude_rows, exclude_cols, device)
    for q0 in range(0, n_q, qc):
        q1 = min(q0 + qc, n_q)
        chunk_ex = _chunk_pairs(ex_rows, ex_cols, q0, q1)
        vals, rows = _scan_chunk(queries[q0:q1], items, k, nb, buf, chunk_ex, blocked)
        out_vals[q0:q1] = vals
        out_rows[q0:q1] = rows
    # Excluded entries can fill a list that has fewer than k eligible items: turn them into padding.
    out_rows.masked_fill_(out_vals == NEG_INF, -1)
    return out_vals, out_rows


def topk_small_batch(
    queries: torch.Tensor,
    items: torch.Tensor,
    k: int,
    *,
    exclude_rows: torch.Tensor | None = None,
    exclude_cols: torch.Tensor | None = None,
    blocked: torch.Tensor | None = None,
    backend: Literal["auto", "numpy", "torch"] = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The GEMV-shaped path of :func:`topk_inner_product`: same arguments, same result contract.

    One pass over the table writes every score into a per-call buffer ``[B, N]``. Excluded pairs
    and blocked items are set to ``-inf`` in that buffer, never in the table. Then the selection
    described in the module docstring. Memory: the buffer, ``4 * B * N`` bytes (4 MiB per
    query at 1M items). Each call allocates its own, so concurrent calls share nothing mutable.

    ``backend``: ``"numpy"`` (CPU only: numpy's BLAS and the compiled selection; torch's
    per-operation cost of tens of microseconds matters at 100k items, where the whole read takes
    about half a millisecond) or ``"torch"`` (any device: ``torch.mv`` / ``torch.mm`` and torch
    selection; what CUDA runs). ``"auto"`` takes numpy on CPU and torch elsewhere. Both backends
    select identically from the same scores.
    """
    device = items.device
    if backend == "auto":
        backend = "numpy" if device.type == "cpu" else "torch"
    n_q, n_items = queries.shape[0], items.shape[0]
    if n_q == 0 or n_items == 0:
        return (
            torch.full((n_q, k), NEG_INF, dtype=torch.float32, device=device),
            torch.full((n_q, k), -1, dtype=torch.int64, device=device),
        )
    ex = None
    if exclude_rows is not None and exclude_cols is not None and exclude_rows.numel() > 0:
        ex = (exclude_rows, exclude_cols)
    if backend == "numpy":
        if device.type != "cpu":
            raise ValueError("the numpy backend needs the items on the CPU")
        vals, rows = topk_small_numpy(
            queries.detach().cpu().numpy(),
            items.detach().numpy(),
            k,
            None if ex is None else (ex[0].cpu().numpy(), ex[1].cpu().numpy()),
            None if blocked is None else blocked.cpu().numpy(),
        )
        return torch.from_numpy(vals), torch.from_numpy(rows)
    if backend != "torch":
        raise ValueError(f"unknown backend {backend!r}: use 'auto', 'numpy' or 'torch'")
    return _small_torch(
        queries.to(device),
        items,
        k,
        None if ex is None else tuple(t.to(device=device, dtype=torch.int64) for t in ex),
        None if blocked is None else blocked.to(device),
    )


def _n_groups(n_items: int) -> tuple[int, int]:
    """(strided groups, all groups) of a row of ``n_items`` scores.

    The first ``s = n_items // _GROUP`` columns times ``_GROUP`` form ``s`` groups of stride ``s``:
    group ``j`` holds columns ``j, j + s, ..., j + (_GROUP - 1) s``. So the group maxima are an
    elementwise maximum of ``_GROUP`` contiguous rows of length ``s``, a vectorised pass (a maximum
    over contiguous runs of 128 is not). The last ``n_items - _GROUP s`` columns (fewer than
    ``_GROUP``) form one more group when there are any.
    """
    strided = n_items // _GROUP
    return strided, strided + (1 if n_items % _GROUP else 0)


_SELECT_ROW: list[Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]] = []


def _select_row() -> Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]:
    """:func:`recaudit.scoring._select.select_row_unchecked`, imported on first use: numba loads
    then (about 0.2 s), not with every command that imports scoring; later calls skip the import
    statement's machinery (microseconds each, on a path whose whole budget is a memory read). The
    rows it gets are this module's own float32 buffers and k is validated by the callers."""
    if not _SELECT_ROW:
        from recaudit.scoring._select import select_row_unchecked

        _SELECT_ROW.append(select_row_unchecked)
    return _SELECT_ROW[0]


def topk_small_numpy(
    q: np.ndarray,
    v: np.ndarray,
    k: int,
    ex: tuple[np.ndarray, np.ndarray] | None = None,
    blocked: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The small path on CPU arrays, what :func:`topk_small_batch` runs for ``backend="numpy"``.

    ``q`` float32 [B, d], ``v`` float32 [N, d] in either layout (BLAS takes both; column-major is
    the faster GEMV on CPU, see ``ExactScorer``), ``ex`` int64 (query row, item row) pairs,
    ``blocked`` bool [N]. Returns numpy arrays with the contract of :func:`topk_inner_product`.
    Each query's row is selected by one compiled pass (:func:`recaudit.scoring._select.select_row`),
    the same order and ties as the group-maximum selection the torch backend runs. The ExactScorer
    calls this directly on CPU, so that no torch call surrounds the GEMV.
    """
    if type(k) is not int:
        k = operator.index(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    select_row = _select_row()
    n_q, n = q.shape[0], v.shape[0]
    if n_q == 1:  # the app's page: a GEMV into a 1-D row, then one compiled selection
        row = np.empty(n, dtype=np.float32)
        np.matmul(v, q[0], out=row)  # reads the table once
        if blocked is not None:
            np.copyto(row, NEG_INF, where=blocked)
        if ex is not None:
            row[ex[1]] = NEG_INF  # every pair's query row is 0
        vals, rows = select_row(row, k)
        return vals[None], rows[None]
    buf = np.empty((n_q, n), dtype=np.float32)
    np.matmul(q, v.T, out=buf)  # a skinny GEMM, still one read of the table
    if blocked is not None:
        np.copyto(buf, NEG_INF, where=blocked[None, :])
    if ex is not None:
        buf[ex] = NEG_INF
    out_vals = np.empty((n_q, k), dtype=np.float32)
    out_rows = np.empty((n_q, k), dtype=np.int64)
    for b in range(n_q):
        out_vals[b], out_rows[b] = select_row(buf[b], k)
    return out_vals, out_rows


def _small_torch(
    q: torch.Tensor,
    v: torch.Tensor,
    k: int,
    ex: tuple[torch.Tensor, ...] | None,
    blocked: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The small path in torch on the items' device; see :func:`topk_small_batch`."""
    device = v.device
    n_q, n = q.shape[0], v.shape[0]
    buf = torch.empty((n_q, n), dtype=torch.float32, device=device)
    if n_q == 1:
        torch.mv(v, q[0], out=buf[0])
    else:
        torch.mm(q, v.T, out=buf)
    if blocked is not None:
        buf.masked_fill_(blocked.unsqueeze(0), NEG_INF)
    if ex is not None:
        buf.index_put_(ex, _neg_inf_scalar(device))
    strided, n_groups = _n_groups(n)
    gmax = torch.empty((n_q, n_groups), dtype=torch.float32, device=device)
    if strided:
        gmax[:, :strided] = buf[:, : _GROUP * strided].unflatten(1, (_GROUP, strided)).amax(dim=1)
    if n_groups > strided:
        gmax[:, strided] = buf[:, _GROUP * strided :].amax(dim=1)
    t0 = torch.full((n_q,), NEG_INF, dtype=torch.float32, device=device)
    if k < n_groups:
        t0 = torch.topk(gmax, k, dim=1, sorted=False).values.amin(dim=1)  # k-th largest maximum
        r, g = torch.nonzero(gmax >= t0.unsqueeze(1), as_tuple=True)  # sorted by (query, group)
    else:
        r, g = torch.nonzero(gmax > NEG_INF, as_tuple=True)
    out_vals = torch.full((n_q, k), NEG_INF, dtype=torch.float32, device=device)
    out_rows = torch.full((n_q, k), -1, dtype=torch.int64, device=device)
    if r.numel() == 0:
        return out_vals, out_rows
    members = torch.arange(_GROUP, device=device)
    cols = torch.where(
        (g == strided).unsqueeze(1),
        _GROUP * strided + members,  # the short last group
        g.unsqueeze(1) + strided * members,
    ).reshape(-1)
    qry = r.repeat_interleave(_GROUP)
    inside = cols < n  # the short last group
    cols, qry = cols[inside], qry[inside]
    vals = buf[qry, cols]
    above = (vals >= t0[qry]) & (vals > NEG_INF)  # below t0 cannot make the list
    vals, cols, qry = vals[above], cols[above], qry[above]
    # Order by (query, score descending, row ascending): three stable sorts, least key first.
    order = torch.sort(cols, stable=True).indices
    order = order[torch.sort(vals[order], descending=True, stable=True).indices]
    order = order[torch.sort(qry[order], stable=True).indices]
    vals, cols, qry = vals[order], cols[order], qry[order]
    starts = torch.searchsorted(qry, torch.arange(n_q, device=device))
    pos = torch.arange(qry.numel(), device=device) - starts[qry]
    keep = pos < k
    out_vals[qry[keep], pos[keep]] = vals[keep]
    out_rows[qry[keep], pos[keep]] = cols[keep]
    return out_vals, out_rows


def _sorted_pairs(
    rows: torch.Tensor | None, cols: torch.Tensor | None, device: torch.device
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Exclusion pairs on ``device``, sorted by query row (so a query chunk is one slice)."""
    if rows is None or cols is None or rows.numel() == 0:
        return None, None
    rows = rows.to(device=device, dtype=torch.int64)
    cols = cols.to(device=device, dtype=torch.int64)
    order = torch.argsort(rows, stable=True)
    return rows[order], cols[order]


def _chunk_pairs(
    rows: torch.Tensor | None, cols: torch.Tensor | None, q0: int, q1: int
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The chunk's exclusion pairs as (local row, item row), sorted by item row."""
    if rows is None or cols is None:
        return None
    bounds = torch.searchsorted(rows, torch.tensor([q0, q1], device=rows.device))
    lo, hi = int(bounds[0]), int(bounds[1])
    if lo == hi:
        return None
    r, c = rows[lo:hi] - q0, cols[lo:hi]
    order = torch.argsort(c, stable=True)
    return r[order], c[order]


def _scan_chunk(
    q: torch.Tensor,
    items: torch.Tensor,
    k: int,
    nb: int,
    buf: torch.Tensor,
    chunk_ex: tuple[torch.Tensor, torch.Tensor] | None,
    blocked: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scan all item blocks for one query chunk, keeping the running top-k and k-th threshold."""
    b = q.shape[0]
    device = items.device
    vals = torch.full((b, k), NEG_INF, dtype=torch.float32, device=device)
    rows = torch.full((b, k), -1, dtype=torch.int64, device=device)
    n_items = items.shape[0]
    block_starts = range(0, n_items, nb)
    ex_bounds = None
    if chunk_ex is not None:
        edges = torch.tensor([*block_starts, n_items], device=device)
        ex_bounds = torch.searchsorted(chunk_ex[1], edges).tolist()
    for j, s in enumerate(block_starts):
        e = min(s + nb, n_items)
        tile = buf[:b, : e - s]
        torch.mm(q, items[s:e].T, out=tile)
        if blocked is not None:
            tile.masked_fill_(blocked[s:e].unsqueeze(0), NEG_INF)
        if chunk_ex is not None and ex_bounds is not None and ex_bounds[j] < ex_bounds[j + 1]:
            lo, hi = ex_bounds[j], ex_bounds[j + 1]
            tile.index_put_((chunk_ex[0][lo:hi], chunk_ex[1][lo:hi] - s), _neg_inf_scalar(device))
        if j == 0:
            bv, br = _block_topk(tile, k)
            vals, rows = _merge(vals, rows, bv, br + s, k)
            continue
        found = _entries_above(tile, vals[:, k - 1])
        if found is None:
            continue
        hit, bv, bc = found
        mv, mr = _merge(vals.index_select(0, hit), rows.index_select(0, hit), bv, bc + s, k)
        vals.index_copy_(0, hit, mv)
        rows.index_copy_(0, hit, mr)
    return vals, rows


def _neg_inf_scalar(device: torch.device) -> torch.Tensor:
    return torch.tensor(NEG_INF, dtype=torch.float32, device=device)


def _block_topk(sub: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The block's best ``min(k, nb)`` entries per row, ordered by column (ties: lower column in).

    ``topk`` does not say which of several equal values it keeps. Asking for k + 1 shows a tie at
    the k-th place (value k == value k+1). Rows with such a tie are redone with a stable sort of the
    whole row, which keeps the lowest columns. Ties made only of ``-inf`` (excluded entries) become
    padding anyway and are left alone.
    """
    nb = sub.shape[1]
    if nb <= k:
        cols = torch.arange(nb, device=sub.device).expand(sub.shape[0], nb)
        return sub.clone(), cols.clone()
    tv, tc = torch.topk(sub, k + 1, dim=1, largest=True, sorted=True)
    tie = (tv[:, k] == tv[:, k - 1]) & (tv[:, k - 1] > NEG_INF)
    tv, tc = tv[:, :k], tc[:, :k]
    if bool(tie.any()):
        tie_rows = torch.nonzero(tie).squeeze(1)
        sv, sc = torch.sort(sub.index_select(0, tie_rows), dim=1, descending=True, stable=True)
        tv = tv.index_copy(0, tie_rows, sv[:, :k].contiguous())
        tc = tc.index_copy(0, tie_rows, sc[:, :k].contiguous())
    tc, order = torch.sort(tc, dim=1)
    return tv.gather(1, order), tc


def _entries_above(
    tile: torch.Tensor, thr: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """Every entry of the tile strictly above its row's threshold, grouped by row.

    Strictly: a later item with a score equal to the running k-th best loses the tie to the lower
    row already kept. The tile's rows are cut into segments of ``_SEGMENT`` columns, and one
    vectorised pass takes each segment's maximum. Only segments whose maximum beats the threshold
    are searched (a compare and a ``nonzero``). Usually one or two segments of a row qualify, so
    the cost beyond the GEMM is about one read of the tile.

    Returns ``None`` when no entry qualifies. Otherwise returns ``(rows, scores, cols)``: the tile
    rows with entries (ascending), and [len(rows), m] blocks of their entries in column order,
    where m is the largest count in any row. Short rows are padded with ``(-inf, -1)``.
    """
    b, w = tile.shape
    seg = _SEGMENT if w % _SEGMENT == 0 else w
    segments = tile.unflatten(1, (w // seg, seg))  # a view: dim 1 has stride 1
    r, g = torch.nonzero(segments.amax(dim=2) > thr.unsqueeze(1), as_tuple=True)
    if r.numel() == 0:
        return None
    pieces = segments[r, g]  # [P, seg], rows sorted by (r, g)
    p, c = torch.nonzero(pieces > thr[r].unsqueeze(1), as_tuple=True)
    entry_row, entry_col, entry_val = r[p], g[p] * seg + c, pieces[p, c]  # sorted by (row, col)
    hit, slot, counts = torch.unique_consecutive(entry_row, return_inverse=True, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(entry_row.numel(), device=tile.device) - starts[slot]
    m = int(counts.max())
    vals = torch.full((hit.numel(), m), NEG_INF, dtype=tile.dtype, device=tile.device)
    cols = torch.full((hit.numel(), m), -1, dtype=torch.int64, device=tile.device)
    vals[slot, pos] = entry_val
    cols[slot, pos] = entry_col
    return hit, vals, cols


def _merge(
    vals: torch.Tensor, rows: torch.Tensor, bv: torch.Tensor, br: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge a running list (score-sorted, ties by row) with block entries (row-sorted, all higher
    rows) by a stable descending sort: equal scores keep lower rows first."""
    cv = torch.cat([vals, bv], dim=1)
    cr = torch.cat([rows, br], dim=1)
    sv, order = torch.sort(cv, dim=1, descending=True, stable=True)
    return sv[:, :k].contiguous(), cr.gather(1, order[:, :k])
