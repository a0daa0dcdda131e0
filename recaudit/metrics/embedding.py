"""Audits of an embedding table: hubness, norm-popularity coupling, anisotropy, effective dimensionality.

Each audit is a pure, seeded function over a float matrix ``[n, d]`` (rows are items, or users); nothing
here reads files or imports Streamlit. :func:`embedding_audit` runs all four on the item table and returns
a JSON-able dict with one-line explanations under ``"help"`` for the app and the report.

Definitions and sources:

* **Hubness** (Radovanović, Nanopoulos & Ivanović 2010, "Hubs in Space", JMLR 11): ``N_k(i)`` = number of
  items that have ``i`` among their ``k`` nearest neighbours (self excluded); hubness = skewness of the
  ``N_k`` distribution, ``S = E[(N_k − μ)³] / σ³`` (population moments, as in the paper).
* **Norm-popularity correlation**: Spearman's ρ between ``||v_i||₂`` and ``φ(i)`` (Pearson correlation of
  average ranks; ties share their mean rank, as ``scipy.stats.spearmanr``).
* **Anisotropy** (Ethayarajh 2019, "How Contextual are Contextualized Word Representations?"): the expected
  cosine similarity of two distinct random vectors, ``mean_{i ≠ j} cos(v_i, v_j)``.
* **Effective dimensionality**: participation ratio of the covariance spectrum,
  ``PR = (Σ_j λ_j)² / Σ_j λ_j²`` (Gao et al. 2017, "A theory of multineuronal dimensionality, dynamics and
  measurement"; Recanatesi et al. 2022).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from scipy.stats import rankdata

from recaudit.errors import RecauditInputError
from recaudit.scoring.neighbours import NeighbourIndex
from recaudit.vectors import unit_rows

EMBEDDINGS = "item embeddings"

HELP: dict[str, str] = {
    "hubness": (
        "Skewness of how often each item is among other items' k nearest neighbours; large positive values "
        "(> 1) mean a few 'hub' items sit close to everything and will be recommended to almost everyone."
    ),
    "norm_popularity_correlation": (
        "Spearman correlation of item vector length with training popularity; close to +1 means dot-product "
        "scores reward popularity through the norm, so popular items win regardless of the user."
    ),
    "anisotropy": (
        "Mean cosine similarity of two random distinct items; near 1 means all vectors point the same way "
        "(a narrow cone), so cosine similarities carry little information (0 is ideal, isotropic)."
    ),
    "effective_dimensionality": (
        "Participation ratio of the covariance eigenvalues: how many dimensions carry variance; far below "
        "the embedding size d means the table has collapsed to a few directions and wastes capacity."
    ),
}


def _as_matrix(vectors: np.ndarray, name: str = EMBEDDINGS, *, min_rows: int = 1) -> np.ndarray:
    """``vectors`` as float64 ``[n, d]``; RecauditInputError for a bad shape, too few or non-finite rows."""
    x = np.asarray(vectors)
    if x.ndim != 2 or x.shape[1] < 1:
        raise RecauditInputError(name, f"expected a 2-D [n, d] array with d >= 1, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise RecauditInputError(name, f"expected numbers, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    if len(x) < min_rows:
        raise RecauditInputError(name, f"needs at least {min_rows} rows, got {len(x)}")
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise RecauditInputError(
            name,
            f"{int(bad.sum())} of {len(x)} rows contain NaN or infinite values",
            hint=f"first bad row: {int(np.flatnonzero(bad)[0])}",
        )
    return x


def _skewness(values: np.ndarray) -> float:
    """Population skewness ``E[(x − μ)³] / σ³``; 0.0 for a constant sample (no asymmetry at all)."""
    v = np.asarray(values, dtype=np.float64)
    centred = v - v.mean()
    var = float(np.mean(centred**2))
    if var <= 1e-24 * max(1.0, float(np.mean(v**2))):
        return 0.0
    return float(np.mean(centred**3) / var**1.5)


def knn_rows(
    vectors: np.ndarray, k: int, *, metric: Literal["cosine", "dot"] = "cosine", batch_size: int = 16_384
) -> np.ndarray:
    """Exact k nearest neighbours of every row among the other rows: ``[n, k]`` int64 row indices.

    Validates the table, then searches :class:`recaudit.scoring.neighbours.NeighbourIndex` (cosine or dot;
    a row is never its own neighbour, see that module) in query batches of ``batch_size`` rows.
    """
    x = _as_matrix(vectors, min_rows=2)
    n = len(x)
    if metric not in ("cosine", "dot"):
        raise RecauditInputError("metric", f"unknown metric {metric!r}", hint="cosine or dot")
    if isinstance(k, bool) or not 1 <= int(k) < n:
        raise RecauditInputError("k", f"must lie in [1, n - 1] = [1, {n - 1}], got {k!r}")
    k = int(k)
    index = NeighbourIndex(x, metric)
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        out[start:stop] = index.search(np.arange(start, stop), k)[0]
    return out


def hubness(
    item_emb: np.ndarray,
    *,
    k: int = 10,
    metric: Literal["cosine", "dot"] = "cosine",
    top: int = 10,
    seed: int = 0,
    max_items: int | None = 200_000,
) -> dict[str, Any]:
    """Hubness of the items' kNN graph (Radovanović, Nanopoulos & Ivanović 2010, "Hubs in Space", JMLR).

    ``N_k(i) = |{j ≠ i : i ∈ kNN(j)}|`` (the k-occurrence of item i, exact kNN with self excluded, see
    :func:`knn_rows`); ``skewness = E[(N_k − μ)³] / σ³`` with population moments, μ = k. Near 0 for
    uniform data in few dimensions; large and positive when a few hubs appear in many neighbour lists
    (typical of high-dimensional embeddings). A constant N_k (every item equally often a neighbour) gives 0.

    When the catalogue has more than ``max_items`` rows, a seeded uniform sample of ``max_items`` rows is
    audited (kNN within the sample); ``top_hubs`` still names catalogue rows.

    Returns:
        ``{"skewness": float, "top_hubs": [(row, N_k), ...] (N_k descending, then row ascending, at most
        ``top``), "k": k, "n_items": n (catalogue rows), "n_used": rows audited, "mean_k_occurrence": k}``.
    """
    x = _as_matrix(item_emb, min_rows=2)
    n = len(x)
    rows = np.arange(n)
    if max_items is not None:
        if isinstance(max_items, bool) or int(max_items) < 2:
            raise RecauditInputError("max_items", f"must be an integer >= 2 or None, got {max_items!r}")
        if n > int(max_items):
            rng = np.random.default_rng(seed)
            rows = np.sort(rng.choice(n, int(max_items), replace=False))
    if isinstance(top, bool) or int(top) < 0:
        raise RecauditInputError("top", f"must be an integer >= 0, got {top!r}")
    neighbours = knn_rows(x[rows], k, metric=metric)
    n_k = np.bincount(neighbours.ravel(), minlength=len(rows))
    order = np.lexsort((rows, -n_k))[: int(top)]
    return {
        "skewness": _skewness(n_k),
        "top_hubs": [(int(rows[j]), int(n_k[j])) for j in order],
        "k": int(k),
        "n_items": int(n),
        "n_used": int(len(rows)),
        "mean_k_occurrence": float(n_k.mean()),
    }


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's ρ: Pearson correlation of average ranks; NaN when either side is constant or n < 2."""
    if len(a) < 2:
        return math.nan
    ra = rankdata(a, method="average")
    rb = rankdata(b, method="average")
    ra -= ra.mean()
    rb -= rb.mean()
    denom = math.sqrt(float(ra @ ra) * float(rb @ rb))
    if denom == 0.0:
        return math.nan
    return float(np.clip((ra @ rb) / denom, -1.0, 1.0))


def norm_popularity_correlation(item_emb: np.ndarray, item_popularity: np.ndarray) -> float:
    """Spearman's ρ between item vector norms ``||v_i||₂`` and training popularity ``φ(i)``.

    ``ρ = Pearson(rank(||v||), rank(φ))`` with tied values sharing their average rank (the definition of
    ``scipy.stats.spearmanr``; Spearman 1904). +1: longer vectors for more popular items (dot-product scores
    then favour popular items for every user); NaN when all norms or all popularities are equal.
    """
    x = _as_matrix(item_emb, min_rows=1)
    pop = np.asarray(item_popularity, dtype=np.float64)
    if pop.shape != (len(x),):
        raise RecauditInputError(
            "item popularity", f"expected shape ({len(x)},) aligned with the item table, got {pop.shape}"
        )
    if not np.isfinite(pop).all():
        raise RecauditInputError("item popularity", f"{int((~np.isfinite(pop)).sum())} values are not finite")
    return _spearman(np.linalg.norm(x, axis=1), pop)


def anisotropy(vectors: np.ndarray, *, n_pairs: int = 100_000, seed: int = 0) -> float:
    """Mean cosine similarity of distinct pairs (Ethayarajh 2019, "How Contextual are Contextualized ...").

    ``A = mean_{i ≠ j} cos(v_i, v_j)`` over the rows with non-zero norm (a zero vector has no direction and
    is left out); NaN with fewer than two such rows. 1 = every vector points the same way; near 0 for
    isotropic (e.g. random high-dimensional) vectors; the minimum is ``−1 / (n − 1)``.

    The paper estimates A from random pairs; here the mean over *all* ordered pairs is computed exactly in
    O(n·d) from ``u_i = v_i / ||v_i||``: ``Σ_{i≠j} u_i·u_j = ||Σ_i u_i||² − Σ_i ||u_i||²``, so the value
    is the expectation of the random-pair estimate, free of sampling noise. ``n_pairs`` and ``seed`` are
    accepted for interface compatibility and do not change the result.
    """
    del n_pairs, seed  # exact value; see docstring
    x = _as_matrix(vectors, min_rows=1)
    units = unit_rows(x)
    units = units[np.linalg.norm(x, axis=1) > 0]
    n = len(units)
    if n < 2:
        return math.nan
    total = units.sum(axis=0)
    value = (float(total @ total) - float(np.einsum("ij,ij->", units, units))) / (n * (n - 1))
    return float(np.clip(value, -1.0, 1.0))


def effective_dimensionality(vectors: np.ndarray, *, batch_size: int = 65_536) -> float:
    """Participation ratio of the covariance spectrum (Gao et al. 2017; Recanatesi et al. 2022).

    ``PR = (Σ_j λ_j)² / Σ_j λ_j²`` with λ the eigenvalues of the sample covariance of the rows. Equal to
    ``tr(C)² / ||C||_F²``, computed from the smaller of the d×d covariance and the n×n Gram matrix of the
    centred rows (same non-zero spectrum; the 1/(n−1) factor cancels). 1 for rank-1 data; d for isotropic
    data in d dimensions; between 1 and min(n − 1, d) always. NaN when fewer than two rows or zero variance.
    """
    x = _as_matrix(vectors, min_rows=1)
    n, d = x.shape
    if n < 2:
        return math.nan
    mean = x.mean(axis=0)
    if d <= n:
        scatter = np.zeros((d, d))
        for start in range(0, n, batch_size):
            block = x[start : start + batch_size] - mean
            scatter += block.T @ block
    else:
        centred = x - mean
        scatter = centred @ centred.T
    trace = float(np.trace(scatter))
    frob2 = float(np.sum(scatter * scatter))
    if trace <= 0.0 or frob2 <= 0.0:
        return math.nan
    return float(trace * trace / frob2)


def _finite_or_none(value: float | None) -> float | None:
    """A measure for the JSON result: None where it is undefined (NaN) or unbounded."""
    return None if value is None or not math.isfinite(value) else float(value)


def embedding_audit(
    item_emb: np.ndarray,
    item_popularity: np.ndarray | None,
    *,
    k: int = 10,
    seed: int = 0,
    metric: Literal["cosine", "dot"] = "cosine",
    max_items: int | None = 200_000,
) -> dict[str, Any]:
    """All four audits of the item table as one JSON-able dict (NaN becomes ``None``).

    ``k`` is lowered to ``n − 1`` for catalogues with at most ``k`` items (the value used is in
    ``hubness["k"]``). ``item_popularity`` may be None (no training data): the correlation is then None.

    Returns:
        ``{"n_items", "dim", "hubness": {...see hubness()}, "norm_popularity_correlation",
        "anisotropy", "effective_dimensionality", "help": {name: one-line meaning of a bad value}}``.
    """
    x = _as_matrix(item_emb, min_rows=2)
    n, d = x.shape
    if isinstance(k, bool) or int(k) < 1:
        raise RecauditInputError("k", f"must be an integer >= 1, got {k!r}")
    hub = hubness(x, k=min(int(k), n - 1), metric=metric, seed=seed, max_items=max_items)
    hub["skewness"] = _finite_or_none(hub["skewness"])
    hub["top_hubs"] = [[row, count] for row, count in hub["top_hubs"]]
    corr = None
    if item_popularity is not None:
        corr = _finite_or_none(norm_popularity_correlation(x, item_popularity))
    return {
        "n_items": int(n),
        "dim": int(d),
        "hubness": hub,
        "norm_popularity_correlation": corr,
        "anisotropy": _finite_or_none(anisotropy(x, seed=seed)),
        "effective_dimensionality": _finite_or_none(effective_dimensionality(x)),
        "help": dict(HELP),
    }
