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
"""

from __future__ import annotations

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
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k of ``queries @ items.T`` per query, with exclusions.

    Args:
        queries: [B, d] float32 on the device of ``items``.
        items: [N, d] float32.
        k: list length, >= 1. Lists are padded when fewer than k items are eligible.
        exclude_rows, exclude_cols: int64 [E] pairs (query row, item row) that must not appear.
            Duplicates are allowed.
        blocked: bool [N]. True means the item never appears for any query.
        block_items: items per block. None picks :func:`auto_block_items`.

    Returns:
        ``(scores, rows)``: float32 [B, k] sorted descending with ``-inf`` padding, and int64 [B, k]
        with ``-1`` padding. Both are on the device of ``items``. Among equal scores the lower item
        row comes first.
    """
    device = items.device
    n_q, n_items = queries.shape[0], items.shape[0]
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
