"""2-D maps of item embeddings (UMAP or PCA) with an on-disk cache, user placement and sampling.

* :func:`project_items` turns an item table [I, d] into map coordinates [I, 2]. UMAP (McInnes, Healy &
  Melville 2018, ``umap-learn``) after an optional PCA pre-reduction, or PCA alone. Results are cached as
  ``<embedding hash>-<params key>.npy`` (coordinates, float32, ``allow_pickle=False``) plus a ``.json``
  sidecar; nothing is ever pickled. A cache hit returns the stored coordinates without any fitting.
* :func:`place_users` puts users on a stored map: each user at the similarity-weighted mean of the map
  positions of its k most similar items. It needs no fitted reducer, so it works for UMAP and PCA maps
  alike and for maps loaded from a bundle.
* :func:`sample_items` draws a seeded, stratified sample (popularity decile x primary category) that keeps
  the long tail and every category, for catalogues too large to lay out whole.

Geometry. With ``metric="cosine"`` the rows are L2-normalised first: the Euclidean distance between unit
vectors is a monotone function of their cosine (||a - b||^2 = 2 - 2 cos(a, b)), so PCA (pre-reduction or the
map itself) then works on the angular geometry, and UMAP on the pre-reduced unit vectors uses the Euclidean
metric. Without pre-reduction UMAP gets ``metric="cosine"`` directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pandas as pd

from recaudit._io import atomic_path, atomic_write_text, dumps_json
from recaudit.config import ConfigBase, ScoreFunction
from recaudit.data.schema import split_categories
from recaudit.errors import RecauditInputError
from recaudit.paths import REPO_ROOT
from recaudit.vectors import unit_rows

Progress = Callable[[str, float], None]

METHODS = ("umap", "pca")
METRICS = ("cosine", "euclidean")
MIN_UMAP_ITEMS = 10
CACHE_FORMAT = 1
_PARAMS_SOURCE = "projection parameters"
_ROW_BATCH = 65_536


@dataclass(frozen=True)
class ProjectionParams(ConfigBase):
    """How a map is computed. Every field goes into the cache key.

    A :class:`~recaudit.config.ConfigBase`: types are checked when built and :meth:`from_dict` is strict,
    except for ``seconds``, the compute time a bundle manifest stores beside the parameters.

    Attributes:
        method: ``"umap"`` or ``"pca"`` (the first two principal components).
        n_neighbors: UMAP's neighbourhood size (local vs global structure).
        min_dist: UMAP's minimum distance between embedded points (how tightly clusters pack).
        metric: ``"cosine"`` (rows L2-normalised first) or ``"euclidean"``.
        pca_dims: tables wider than this are PCA-reduced to ``pca_dims`` columns before UMAP.
        seed: random seed (UMAP's ``random_state``); the same seed gives the same map.
    """

    SOURCE: ClassVar[str] = _PARAMS_SOURCE
    IGNORED_KEYS: ClassVar[frozenset[str]] = frozenset({"seconds"})

    method: Literal["umap", "pca"] = "umap"
    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"
    pca_dims: int = 50
    seed: int = 0

    def validate(self) -> None:
        """Ranges and the known metrics (the types are checked by ConfigBase)."""
        if self.metric not in METRICS:
            raise RecauditInputError(
                _PARAMS_SOURCE, f"unknown metric {self.metric!r}", f"use one of {METRICS}"
            )
        self.check_at_least(2, "n_neighbors", "pca_dims")
        self.check_finite("min_dist")
        self.check_at_least(0, "seed")

    def key(self) -> str:
        """A stable, filename-safe key, e.g. ``umap-nn15-md0.1-cosine-pca50-s0``."""
        d = self.to_dict()
        return (f"{d['method']}-nn{d['n_neighbors']}-md{d['min_dist']!r}-{d['metric']}"
                f"-pca{d['pca_dims']}-s{d['seed']}")


@dataclass(frozen=True)
class ItemMap:
    """A 2-D map of items.

    Attributes:
        item_ids: [I] external item IDs, in the row order of ``xy``.
        xy: [I, 2] float32 map coordinates.
        params: the parameters actually used (``method="pca"`` when UMAP fell back on a tiny table).
        embedding_hash: :func:`embedding_hash` of the item table.
        seconds: compute time in seconds (0 when read from the cache).
        from_cache: whether the coordinates came from the cache.
    """

    item_ids: np.ndarray
    xy: np.ndarray
    params: ProjectionParams
    embedding_hash: str
    seconds: float
    from_cache: bool


def default_cache_dir() -> Path:
    """Where maps are cached: ``$RECAUDIT_CACHE_DIR`` if set, else ``<repo>/.cache/projections``."""
    override = os.environ.get("RECAUDIT_CACHE_DIR")
    return Path(override) if override else REPO_ROOT / ".cache" / "projections"


def embedding_hash(item_emb: np.ndarray) -> str:
    """sha256 (hex) of the table's shape and its C-contiguous float32 bytes."""
    table = np.ascontiguousarray(item_emb, dtype=np.float32)
    h = hashlib.sha256()
    h.update(f"float32{tuple(int(s) for s in table.shape)}".encode())
    h.update(memoryview(table).cast("B"))
    return h.hexdigest()


# --------------------------------------------------------------------------- validation


def _as_table(item_emb: np.ndarray, what: str = "item embeddings") -> np.ndarray:
    try:
        table = np.ascontiguousarray(item_emb, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise RecauditInputError(what, f"not a numeric table ({exc})") from exc
    if table.ndim != 2:
        raise RecauditInputError(what, f"expected a 2-D table [rows, dims], got shape {table.shape}")
    if table.shape[0] == 0 or table.shape[1] == 0:
        raise RecauditInputError(what, f"the table is empty (shape {table.shape})")
    bad = ~np.isfinite(table).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise RecauditInputError(
            what,
            f"{int(bad.sum()):,} of {table.shape[0]:,} rows hold NaN or infinite values (first: row {first})",
            "fix or drop those rows before projecting",
        )
    return table


# --------------------------------------------------------------------------- PCA


def _pca(x: np.ndarray, n_components: int) -> np.ndarray:
    """Top principal components of ``x`` [n, d] -> [n, n_components] float32 (deterministic).

    Eigen-decomposition of the d x d covariance, accumulated in float64 over row batches (memory
    O(batch * d)).
    Signs are fixed so that each component's largest-magnitude loading is positive. Components beyond
    min(n, d) are zero columns.
    """
    n, d = x.shape
    mean = x.mean(axis=0, dtype=np.float64)
    cov = np.zeros((d, d), dtype=np.float64)
    for start in range(0, n, _ROW_BATCH):
        block = x[start:start + _ROW_BATCH].astype(np.float64) - mean
        cov += block.T @ block
    eigval, eigvec = np.linalg.eigh(cov)
    order = np.argsort(eigval)[::-1][: min(n_components, d)]
    comps = eigvec[:, order]
    signs = np.sign(comps[np.abs(comps).argmax(axis=0), np.arange(comps.shape[1])])
    comps = comps * np.where(signs == 0, 1.0, signs)
    out = np.zeros((n, n_components), dtype=np.float32)
    for start in range(0, n, _ROW_BATCH):
        block = x[start:start + _ROW_BATCH].astype(np.float64) - mean
        out[start:start + _ROW_BATCH, : comps.shape[1]] = block @ comps
    return out


def _fit(table: np.ndarray, params: ProjectionParams, progress: Progress) -> np.ndarray:
    """Compute the [n, 2] float32 coordinates (no cache)."""
    x = unit_rows(table) if params.metric == "cosine" else table
    if params.method == "pca":
        progress("PCA", 0.3)
        return _pca(x, 2)
    metric = params.metric
    if x.shape[1] > params.pca_dims:
        progress(f"PCA pre-reduction to {params.pca_dims} dims", 0.1)
        x = _pca(x, params.pca_dims)
        metric = "euclidean"  # unit rows (cosine) or raw rows: Euclidean geometry is what PCA preserved
    # Euclidean UMAP on raw rows of extreme magnitude (1e30) overflows inside umap-learn; distances only
    # matter up to scale, so bring the table to unit RMS first (cosine rows are already unit length).
    rms = float(np.sqrt(np.mean(np.square(x.astype(np.float64)))))
    if metric == "euclidean" and np.isfinite(rms) and rms > 0:
        x = (x.astype(np.float64) / rms).astype(np.float32)
    progress("loading UMAP (numba compiles its kernels on a machine's first map)", 0.15)
    import umap  # slow import (numba); only when needed

    progress(f"UMAP of {x.shape[0]:,} points: neighbour graph, then layout", 0.3)

    reducer = umap.UMAP(
        n_components=2, n_neighbors=int(params.n_neighbors), min_dist=float(params.min_dist), metric=metric,
        random_state=int(params.seed), n_jobs=1, low_memory=True, verbose=False,
    )
    xy = np.asarray(reducer.fit_transform(x), dtype=np.float32)
    if not np.isfinite(xy).all():
        raise RuntimeError("UMAP returned non-finite coordinates")
    return xy


# --------------------------------------------------------------------------- cache


def _cache_paths(cache_dir: Path, digest: str, params: ProjectionParams) -> tuple[Path, Path]:
    stem = f"{digest}-{params.key()}"
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", stem):  # pragma: no cover - key() only emits these
        raise ValueError(f"unsafe cache file name {stem!r}")
    return cache_dir / f"{stem}.npy", cache_dir / f"{stem}.json"


def _read_cache(cache_dir: Path, digest: str, params: ProjectionParams, n: int) -> np.ndarray | None:
    """The cached coordinates, or None when absent, unreadable or not matching (then they are recomputed)."""
    npy, meta = _cache_paths(cache_dir, digest, params)
    if not (npy.is_file() and meta.is_file()):
        return None
    try:
        info = json.loads(meta.read_text())
        xy = np.load(npy, allow_pickle=False)
    except (OSError, ValueError):
        return None
    ok = (
        isinstance(info, dict)
        and info.get("embedding_hash") == digest
        and info.get("params") == params.to_dict()
        and xy.dtype == np.float32 and xy.shape == (n, 2) and bool(np.isfinite(xy).all())
    )
    return xy if ok else None


def _write_cache(
    cache_dir: Path,
    digest: str,
    params: ProjectionParams,
    xy: np.ndarray,
    shape: tuple[int, int],
    seconds: float,
) -> None:
    """Write ``.npy`` then the ``.json`` sidecar, each atomically (temp file + rename)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    npy, meta = _cache_paths(cache_dir, digest, params)
    with atomic_path(npy) as tmp_npy, open(tmp_npy, "wb") as f:
        np.save(f, np.ascontiguousarray(xy, dtype=np.float32), allow_pickle=False)
    info = {
        "format": CACHE_FORMAT, "embedding_hash": digest, "shape": list(shape), "params": params.to_dict(),
        "seconds": round(float(seconds), 3), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_text(meta, dumps_json(info, indent=1, sort_keys=True))


# --------------------------------------------------------------------------- public API


def effective_params(params: ProjectionParams, n_items: int) -> ProjectionParams:
    """The parameters actually used for ``n_items`` rows: UMAP falls back to PCA when
    ``n_items < max(n_neighbors + 1, 10)`` (too few points for a neighbour graph)."""
    if params.method == "umap" and n_items < max(params.n_neighbors + 1, MIN_UMAP_ITEMS):
        return replace(params, method="pca")
    return params


def project_items(
    item_emb: np.ndarray,
    item_ids: Sequence[str] | np.ndarray,
    params: ProjectionParams = ProjectionParams(),  # noqa: B008 - frozen, so a safe default
    *,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> ItemMap:
    """Lay items out in 2-D, reading/writing the cache in ``cache_dir`` (no cache when None).

    Args:
        item_emb: [I, d] item table (any float dtype; used as float32).
        item_ids: [I] external IDs in row order.
        params: how to project; UMAP on fewer than ``max(n_neighbors + 1, 10)`` rows falls back to PCA and
            the returned ``params.method`` says ``"pca"``.
        cache_dir: cache directory (e.g. :func:`default_cache_dir`); files are
            ``<embedding_hash>-<params.key()>.npy`` + ``.json`` for the effective parameters.
        progress: optional callback ``(message, fraction in [0, 1])``.

    Raises:
        RecauditInputError: not a 2-D numeric table, empty, rows with NaN/inf (their count is named), or
            ``item_ids`` of the wrong length.
    """
    report: Progress = progress or (lambda _msg, _frac: None)
    table = _as_table(item_emb)
    ids = np.asarray(item_ids).astype(str)
    if ids.shape != (table.shape[0],):
        raise RecauditInputError("item ids", f"{ids.size:,} ids for {table.shape[0]:,} embedding rows")
    used = effective_params(params, table.shape[0])
    report("hashing the item table", 0.0)
    digest = embedding_hash(table)
    if cache_dir is not None:
        cached = _read_cache(Path(cache_dir), digest, used, table.shape[0])
        if cached is not None:
            report("map read from the cache", 1.0)
            return ItemMap(ids, cached, used, digest, 0.0, True)
    start = time.perf_counter()
    xy = _fit(table, used, report)
    seconds = time.perf_counter() - start
    if cache_dir is not None:
        _write_cache(Path(cache_dir), digest, used, xy, table.shape, seconds)
    report("map ready", 1.0)
    return ItemMap(ids, xy, used, digest, seconds, False)


def place_users(
    item_map: ItemMap,
    item_emb: np.ndarray,
    user_vectors: np.ndarray,
    *,
    k: int = 15,
    score: ScoreFunction = "cosine",
    batch_size: int | None = None,
) -> np.ndarray:
    """Map positions [B, 2] float32 of users: each user at the similarity-weighted mean of the map positions
    of its k most similar items.

    For user u with scores s_ui (``dot``: u.v_i; ``cosine``: u.v_i / (||u|| ||v_i||)) and N_k(u) the k items
    with the highest scores, ``p_u = sum_{i in N_k(u)} w_i xy_i / sum w_i`` with ``w_i = max(s_ui, 0)``; when
    every top-k score is <= 0 the weights are equal. No reducer is refitted, so the rule is the same for UMAP
    and PCA maps and for maps read back from a bundle (a k-NN interpolation of the layout, as in UMAP's own
    ``transform`` initialisation). Users are processed in batches so the score block stays ~32M floats.

    Args:
        item_map: the map; ``item_emb`` must hold the same rows in the same order.
        item_emb: [I, d] item table.
        user_vectors: [B, d] (or [d] for one user) user vectors.
        k: neighbours per user (clipped to I).
        score: ``"cosine"`` or ``"dot"``.
    """
    if score not in ("dot", "cosine"):
        raise RecauditInputError("score", f"unknown score {score!r}", "use 'dot' or 'cosine'")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise RecauditInputError("k", f"k must be an integer >= 1, got {k!r}")
    items = _as_table(item_emb)
    xy = np.asarray(item_map.xy, dtype=np.float64)
    if xy.shape != (items.shape[0], 2):
        raise RecauditInputError(
            "item embeddings", f"{items.shape[0]:,} rows for a map of {xy.shape[0]:,} items"
        )
    users = np.asarray(user_vectors, dtype=np.float32)
    if users.ndim == 1:
        users = users[None, :]
    if users.shape[0] == 0:
        return np.zeros((0, 2), dtype=np.float32)
    users = _as_table(users, "user vectors")
    if users.shape[1] != items.shape[1]:
        raise RecauditInputError(
            "user vectors", f"dimension {users.shape[1]} != item dimension {items.shape[1]}"
        )
    if score == "cosine":
        items, users = unit_rows(items), unit_rows(users)
    n_items = items.shape[0]
    kk = min(int(k), n_items)
    step = batch_size or max(1, (32 * 2**20) // n_items)
    out = np.empty((users.shape[0], 2), dtype=np.float32)
    for start in range(0, users.shape[0], step):
        s = users[start:start + step] @ items.T  # [b, I]
        if kk < n_items:
            top = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        else:
            top = np.broadcast_to(np.arange(n_items), s.shape)
        w = np.maximum(np.take_along_axis(s, top, axis=1).astype(np.float64), 0.0)  # [b, k]
        total = w.sum(axis=1, keepdims=True)
        w = np.where(total > 0, w / np.where(total > 0, total, 1.0), 1.0 / kk)
        out[start:start + step] = np.einsum("bk,bkc->bc", w, xy[top])
    return out


def primary_categories(categories: Sequence[str | None] | None, n: int) -> np.ndarray:
    """[n] primary (first listed) category per item; ``""`` for items without one."""
    if categories is None:
        return np.full(n, "", dtype=object)
    series = pd.Series(categories, dtype=object)
    if len(series) != n:
        raise RecauditInputError("categories", f"{len(series):,} category cells for {n:,} items")
    return series.map(lambda v: (split_categories(v) or [""])[0]).to_numpy(dtype=object)


def popularity_deciles(popularity: np.ndarray) -> np.ndarray:
    """[I] popularity decile 0..9 from average ranks (tied items share a decile)."""
    pop = np.asarray(popularity, dtype=np.float64)
    ranks = pd.Series(pop).rank(method="average").to_numpy()  # 1..n
    return np.minimum((10 * (ranks - 1) / max(len(pop), 1)).astype(np.int64), 9)


def sample_items(
    item_ids: Sequence[str] | np.ndarray,
    *,
    popularity: np.ndarray,
    categories: Sequence[str | None] | None,
    cap: int = 50_000,
    force: Sequence[str] = (),
    seed: int = 0,
) -> np.ndarray:
    """Seeded stratified sample of items as a bool mask [I] that keeps the long tail and every category.

    Strata are popularity decile (:func:`popularity_deciles`) x primary category. Priorities, in order:

    1. every item whose id is in ``force`` is kept (ids not in ``item_ids`` are ignored);
    2. every stratum keeps at least one item (a forced one counts), so every category and decile stays;
    3. the rest of the ``cap`` is shared out in proportion to stratum size (each stratum's count is within
       about one of ``cap * n_s / I``): stratum s's j-th item (random order, forced first) gets the key
       ``(j + o_s) / n_s`` with a random offset o_s in [0, 1), and the smallest keys win.

    The mask holds ``min(I, max(cap, |forced ∪ one per stratum|))`` items; with ``cap >= I`` it is all True.
    """
    ids = np.asarray(item_ids).astype(str)
    n = ids.size
    pop = np.asarray(popularity, dtype=np.float64)
    if pop.shape != (n,):
        raise RecauditInputError("popularity", f"{pop.size:,} popularity values for {n:,} items")
    if isinstance(cap, bool) or not isinstance(cap, int | np.integer) or cap < 0:
        raise RecauditInputError("cap", f"cap must be an integer >= 0, got {cap!r}")
    if cap >= n:
        return np.ones(n, dtype=bool)
    primary = primary_categories(categories, n)
    _, cat_code = np.unique(primary.astype(str), return_inverse=True)
    stratum = popularity_deciles(pop) * (int(cat_code.max()) + 1 if n else 1) + cat_code
    forced = np.isin(ids, np.asarray(list(force), dtype=str)) if len(force) else np.zeros(n, dtype=bool)
    rng = np.random.default_rng(seed)
    noise = rng.random(n)
    order = np.lexsort((noise, ~forced, stratum))  # by stratum, forced first, then random
    sorted_stratum = stratum[order]
    starts = np.flatnonzero(np.r_[True, sorted_stratum[1:] != sorted_stratum[:-1]])
    sizes = np.diff(np.r_[starts, n])
    rank_in = np.arange(n) - np.repeat(starts, sizes)  # j within the stratum
    offset = rng.random(starts.size)
    key = (rank_in + np.repeat(offset, sizes)) / np.repeat(sizes, sizes)
    key[rank_in == 0] = -1.0  # one item per stratum
    key[forced[order]] = -2.0  # forced items first of all
    required = int((key < 0).sum())
    take = min(n, max(int(cap), required))
    chosen = order[np.argsort(key, kind="stable")[:take]]
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    return mask
