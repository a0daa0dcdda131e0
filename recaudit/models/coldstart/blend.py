"""Blended item embeddings by training interaction count, and the learned gate.

The seed chapter's rule (section 13.2): an item's embedding moves from content to collaborative as its
interactions accumulate. With w(n) the content share of the bucket of n (:func:`bucket_of`),

    e_i = w(n_i) * c_i + (1 - w(n_i)) * v_i,     b_i = w(n_i) * bc_i + (1 - w(n_i)) * bv_i

(c, bc: the calibrated content vector and bias; v, bv: the collaborative ones). Under the ``cosine`` score
the blended vector is re-normalised to unit length (as every exported ``cosine`` vector is). At n = 0,
w = 1 and e_i is the content vector exactly.

The learned gate (``blend="learned"``) keeps the buckets and picks each bucket's w from a grid on held-out
interactions (:func:`learn_weights`): deterministic, a handful of exact scorings, no training loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

GRID = tuple(round(0.1 * i, 1) for i in range(11))


def bucket_of(counts: np.ndarray, edges: Sequence[int]) -> np.ndarray:
    """The bucket index of each interaction count: the first edge >= n, else ``len(edges)``.

    With edges ``(0, 10, 50)``: n = 0 -> 0, 1..10 -> 1, 11..50 -> 2, 51+ -> 3.
    """
    return np.searchsorted(np.asarray(edges), np.asarray(counts), side="left").astype(np.int64)


def content_share(counts: np.ndarray, edges: Sequence[int], weights: Sequence[float]) -> np.ndarray:
    """w(n) of each item (float32)."""
    return np.asarray(weights, np.float32)[bucket_of(counts, edges)]


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


def learn_weights(
    evaluate: Callable[[tuple[float, ...]], float],
    start: Sequence[float],
) -> tuple[tuple[float, ...], list[dict]]:
    """One coordinate pass over the buckets with interactions (bucket 0 stays 1.0): for each bucket in turn,
    the grid value of :data:`GRID` with the best ``evaluate(weights)`` (ties: the value closest to the
    start), the others held. Returns the weights and one record per evaluation."""
    weights = list(map(float, start))
    best = evaluate(tuple(weights))
    history = [{"weights": list(weights), "score": best}]
    for bucket in range(1, len(weights)):
        for value in sorted(GRID, key=lambda g, b=bucket: (abs(g - start[b]), g)):
            if value == weights[bucket]:
                continue
            trial = list(weights)
            trial[bucket] = value
            score = evaluate(tuple(trial))
            history.append({"weights": trial, "score": score})
            if score > best:
                best, weights = score, trial
    return tuple(weights), history
