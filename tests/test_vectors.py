"""``unit_rows``: the one row normalisation (cosine everywhere), by hand."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recaudit.vectors import unit_rows, unit_rows_sparse


def test_unit_rows_by_hand() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1e20, 1e20], [np.nan, 1.0]], dtype=np.float32)
    out = unit_rows(x)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out[0], [0.6, 0.8], rtol=1e-6)
    assert out[1].tolist() == [0.0, 0.0]  # a zero row stays zero
    np.testing.assert_allclose(out[2], [2**-0.5, 2**-0.5], rtol=1e-6)  # no overflow in the norm
    assert np.isnan(out[3]).all()  # a NaN row is never silently zeroed
    assert unit_rows(np.array([[2, 0]]), np.float64).dtype == np.float64


def test_sparse_rows_match_dense() -> None:
    dense = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    out = unit_rows_sparse(sp.csr_matrix(dense))
    assert sp.isspmatrix_csr(out) and out.nnz == 3
    np.testing.assert_allclose(out.toarray(), unit_rows(dense))
