"""Row operations on embedding tables shared by scoring, projection, re-ranking and the embedding audit.

One home for row normalisation, so cosine means the same thing everywhere: the map, the neighbour
table, the cosine scorer and the embedding-health numbers.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def unit_rows_sparse(x: sp.spmatrix) -> sp.csr_matrix:
    """:func:`unit_rows` for a sparse matrix (e.g. item x category indicators): float64 CSR, zero rows
    stay zero, the sparsity pattern is kept."""
    m = sp.csr_matrix(x, dtype=np.float64)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale) @ m)


def unit_rows(x: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
    """Rows scaled to unit L2 norm; zero rows stay zero (so their cosine with anything is 0).

    Each row is first divided by its largest absolute value, so squaring cannot overflow (a float32
    row of 1e20s has a finite norm this way). The result has ``dtype`` (default: ``x``'s floating
    dtype, float64 for integers) and is C-contiguous.
    """
    arr = np.asarray(x)
    out_dtype = np.dtype(dtype) if dtype is not None else (
        arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.dtype(np.float64)
    )
    v = arr.astype(out_dtype, copy=False)
    if v.ndim != 2:
        raise ValueError(f"unit_rows expects a 2-D array, got shape {v.shape}")
    scale = np.abs(v).max(axis=1, keepdims=True) if v.shape[0] and v.shape[1] else np.ones((v.shape[0], 1))
    # zero rows stay zero; a NaN or infinite row gives NaN (never a silent zero row)
    scaled = np.divide(v, scale, out=np.zeros_like(v), where=scale != 0)
    norms = np.linalg.norm(scaled, axis=1, keepdims=True)
    unit = np.divide(scaled, norms, out=np.zeros_like(scaled), where=norms != 0)
    return np.ascontiguousarray(unit, dtype=out_dtype)
