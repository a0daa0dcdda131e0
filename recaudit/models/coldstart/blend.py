"""Blended item embeddings by training interaction count: the seed's schedule, and the learned gate.

The seed chapter's rule (section 13.2): an item's embedding moves from content to collaborative as its
interactions accumulate. With w(n) the content share of an item with n interactions,

    e_i = w(n_i) * c_i + (1 - w(n_i)) * v_i,     b_i = w(n_i) * bc_i + (1 - w(n_i)) * bv_i

(c, bc: the calibrated content vector and bias; v, bv: the collaborative ones). Under the ``cosine`` score
the blended vector is re-normalised to unit length (as every exported ``cosine`` vector is). At n = 0,
w = 1 and e_i is the content vector exactly.

Two forms of w(n):

* ``schedule`` (:func:`content_share`): one share per interaction-count bucket (the seed's 100% / 80% /
  50% / 20% for n = 0 | 1-10 | 11-50 | 51+ by default).
* ``learned`` (:func:`shrinkage_share`): w(n) = κ / (κ + n), the weight a Gaussian prior worth κ
  interactions keeps against n observations (the shrinkage form of empirical Bayes; Koren's item-bias
  shrinkage and DropoutNet's gradual hand-over make the same move). The learned gate of
  :mod:`recaudit.models.coldstart.train` chooses the newcomers' κ on held-out interactions from
  :data:`PRIOR_GRID` and keeps trained items collaborative (κ = 0; its docstring says why).
  A single bucket share cannot follow the evidence inside 1-10: on the sample world the best content share
  is 0.6 at n = 1 and 0.1 at n = 10, which κ / (κ + n) with κ = 1.5 matches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PRIOR_GRID: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 50.0)
"""Candidate prior strengths κ of the learned gate for newcomers (in interactions)."""


def bucket_of(counts: np.ndarray, edges: Sequence[int]) -> np.ndarray:
    """The bucket index of each interaction count: the first edge >= n, else ``len(edges)``.

    With edges ``(0, 10, 50)``: n = 0 -> 0, 1..10 -> 1, 11..50 -> 2, 51+ -> 3.
    """
    return np.searchsorted(np.asarray(edges), np.asarray(counts), side="left").astype(np.int64)


def content_share(counts: np.ndarray, edges: Sequence[int], weights: Sequence[float]) -> np.ndarray:
    """w(n) of each item (float32)."""
    return np.asarray(weights, np.float32)[bucket_of(counts, edges)]


def shrinkage_share(counts: np.ndarray, prior_strength: float) -> np.ndarray:
    """w(n) = κ / (κ + n) of each item (float32): 1 at n = 0, one half at n = κ, towards 0 as n grows;
    κ = 0 gives 0 for every n > 0 (and 1 at n = 0: no collaborative vector there)."""
    if not prior_strength >= 0:
        raise ValueError(f"the prior strength must be >= 0, got {prior_strength}")
    n = np.asarray(counts, np.float64)
    share = np.ones_like(n)
    np.divide(prior_strength, prior_strength + n, out=share, where=n > 0)
    return share.astype(np.float32)


def blend(
    content: np.ndarray,
    collab: np.ndarray,
    share: np.ndarray,
    *,
    cosine: bool,
    content_bias: np.ndarray | None = None,
    collab_bias: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The blended vectors ``[I, d]`` and biases ``[I]`` (None without a bias) for content share ``share``."""
    w = np.asarray(share, np.float32)[:, None]
    vectors = (w * content + (1.0 - w) * collab).astype(np.float32)
    pure = w[:, 0] == 1.0
    vectors[pure] = content[pure]  # exactly the content vector, not a float round trip of it
    if cosine:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        scaled = vectors / np.where(norms > 0, norms, 1.0)
        vectors = np.where(pure[:, None], vectors, scaled).astype(np.float32)
    bias = None
    if content_bias is not None and collab_bias is not None:
        bias = (w[:, 0] * content_bias + (1.0 - w[:, 0]) * collab_bias).astype(np.float32)
        bias[pure] = content_bias[pure]
    return vectors, bias
