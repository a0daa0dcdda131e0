"""The greedy framework every re-ranker runs on, with the checks and the score normalisation they share.

Every re-ranker takes, for U users, ``candidates [U, n]`` (int64 catalogue rows sorted by the base score,
descending; ``-1`` pads a short candidate set) and their ``scores [U, n]`` (higher is better), and builds the
top-``k`` greedily, one output position at a time, for a batch of users at once (vectorised over the batch;
no Python loop over users). At position t every user picks the still-available candidate maximising

    objective(i) = (1 − λ) · rel(i) + λ · gain_t(i)

where ``gain_t`` is the re-ranker's diversity / calibration / fairness term given the items already chosen.
A re-ranker is a :class:`GainState` (the gain of every candidate, updated after each pick) and a public
function that checks its own inputs and hands a state factory to :func:`run_greedy`.

Conventions shared by all re-rankers:

- **Score normalisation.** ``rel(i)`` is the base score min-max normalised over the user's valid candidates:
  ``rel(i) = (s(i) − min_j s(j)) / (max_j s(j) − min_j s(j))``, in [0, 1]; when all candidates have the same
  score, ``rel = 1``. This puts relevance on the same scale as the [0, 1]-ish gain terms, whatever the score
  function (dot products, cosines, logits).
- **Ties** are broken by candidate position (the base ranking), so ``λ = 0`` reproduces the input ranking
  exactly (the first ``k`` valid candidates, in order) and ``λ = 1`` ranks only by the gain, the base ranking
  breaking ties.
- Results are :class:`~recaudit.metrics.lists.RecLists` with ``k`` columns; a user with fewer than ``k``
  valid candidates gets a shorter list (``-1`` padded).
- Memory: users are processed in batches of ``batch_size``; the largest intermediate is ``[batch, n, d]``
  (MMR with dense vectors) or ``batch · n`` sparse rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypedDict

import numpy as np
import scipy.sparse as sp

from recaudit.errors import RecauditInputError
from recaudit.metrics.lists import PAD, RecLists

SOURCE = "rerank"
DEFAULT_BATCH_SIZE = 2048


# --------------------------------------------------------------------------------------------- checks


def check_lambda(lambda_: float) -> float:
    """``λ`` as a float in [0, 1]; anything else is a :class:`RecauditInputError`."""
    try:
        value = float(lambda_)
    except (TypeError, ValueError):
        raise RecauditInputError(SOURCE, f"λ must be a number in [0, 1], got {lambda_!r}") from None
    if not 0.0 <= value <= 1.0:
        raise RecauditInputError(SOURCE, f"λ must be in [0, 1], got {lambda_!r}")
    return value


def _check_positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise RecauditInputError(SOURCE, f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_candidates(
    candidates: np.ndarray, scores: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return ``(candidates int64 [U, n], scores float64 [U, n])``."""
    cand = np.asarray(candidates)
    if cand.ndim != 2 or not (np.issubdtype(cand.dtype, np.integer) or cand.size == 0):
        raise RecauditInputError(SOURCE, f"candidates must be a 2-d integer array, got shape {cand.shape}")
    cand = cand.astype(np.int64, copy=False)
    sc = np.asarray(scores, dtype=np.float64)
    if sc.shape != cand.shape:
        raise RecauditInputError(SOURCE, f"scores have shape {sc.shape}, candidates {cand.shape}")
    if cand.size and (cand.min() < PAD or cand.max() >= n_items):
        raise RecauditInputError(
            SOURCE, f"candidate rows must be in [0, {n_items}) or -1 for padding",
            "candidates index the catalogue rows of the item inputs",
        )
    valid = cand >= 0
    if not np.isfinite(sc[valid]).all():
        raise RecauditInputError(SOURCE, "scores of candidates must be finite (NaN/inf only on -1 pads)")
    if cand.shape[1] > 1:
        ordered = np.sort(cand, axis=1)
        if ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)).any():
            raise RecauditInputError(SOURCE, "a user's candidates hold the same item twice")
    return cand, sc


def check_user_rows(x: np.ndarray, candidates: np.ndarray, name: str) -> None:
    """A per-user input must have one row per candidate row (per user)."""
    cand = np.asarray(candidates)
    n_rows = cand.shape[0] if cand.ndim == 2 else -1
    if x.shape[0] != n_rows:
        raise RecauditInputError(SOURCE, f"{name} has {x.shape[0]} rows, expected {n_rows}")


def normalise_scores(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per-user min-max normalisation over the valid candidates: ``(s − min) / (max − min)`` in [0, 1].

    Users whose candidates all score the same get ``rel = 1``; padded entries get 0.
    """
    if scores.shape[1] == 0:
        return np.zeros(scores.shape)
    lo = np.where(valid, scores, np.inf).min(axis=1, keepdims=True)
    hi = np.where(valid, scores, -np.inf).max(axis=1, keepdims=True)
    span = hi - lo
    flat = ~(span > 0)  # also users without valid candidates (span = -inf - inf)
    safe_lo = np.where(flat, 0.0, lo)
    safe_span = np.where(flat, 1.0, span)
    rel = np.where(flat, 1.0, (np.where(valid, scores, 0.0) - safe_lo) / safe_span)
    return np.where(valid, np.clip(rel, 0.0, 1.0), 0.0)


# ------------------------------------------------------------------------------------- greedy engine


class GainState(Protocol):
    """Per-batch state of a re-ranker: the gain of every candidate given the picks so far."""

    def gain(self, t: int) -> np.ndarray:
        """``[B, n]`` gain of adding each candidate at output position t (0-based); finite."""

    def update(self, t: int, pos: np.ndarray, ok: np.ndarray) -> None:
        """Record the picks of position t: candidate position ``pos[b]`` for the users with ``ok[b]``."""


class RunOptions(TypedDict, total=False):
    """The keyword options every re-ranker takes and hands to :func:`run_greedy` as they are."""

    batch_size: int
    """Users per batch (default :data:`DEFAULT_BATCH_SIZE`); the memory of one batch grows with it."""
    user_ids: np.ndarray | None
    """External ids of the result's users, one per candidate row (default: row numbers)."""
    item_ids: np.ndarray | None
    """External ids of the catalogue rows (default: row numbers)."""


MakeState = Callable[[slice, np.ndarray, np.ndarray], GainState]
"""``make_state(batch, cand, valid)``: the state of one batch of users (rows ``batch`` of the input)."""


class NoGain:
    """Gain 0 everywhere: the base ranking (:func:`recaudit.rerank.top_k`)."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.zeros = np.zeros(shape)

    def gain(self, t: int) -> np.ndarray:
        """All zeros."""
        return self.zeros

    def update(self, t: int, pos: np.ndarray, ok: np.ndarray) -> None:
        """Nothing to record."""
        return None


def _greedy(rel: np.ndarray, valid: np.ndarray, k: int, lambda_: float, state: GainState) -> np.ndarray:
    """Greedy selection; returns ``[B, k]`` chosen candidate positions (-1 where a list ran out)."""
    n_batch, n = rel.shape
    available = valid.copy()
    chosen = np.full((n_batch, k), -1, dtype=np.int64)
    rows = np.arange(n_batch)
    for t in range(min(k, n)):
        if not available.any():
            break
        objective = (1.0 - lambda_) * rel + lambda_ * state.gain(t)
        objective = np.where(available, objective, -np.inf)
        pos = objective.argmax(axis=1)  # first maximum: ties go to the better base rank
        ok = available[rows, pos]
        chosen[ok, t] = pos[ok]
        available[rows[ok], pos[ok]] = False
        state.update(t, pos, ok)
    return chosen


def run_greedy(
    candidates: np.ndarray,
    scores: np.ndarray,
    k: int,
    lambda_: float,
    n_items: int,
    make_state: MakeState,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
) -> RecLists:
    """Validate, then run the greedy selection over batches of users; ``make_state(batch, cand, valid)``.

    ``batch_size``, ``user_ids``, ``item_ids``: see :class:`RunOptions`.
    """
    k = _check_positive_int(k, "k")
    batch_size = _check_positive_int(batch_size, "batch_size")
    lambda_ = check_lambda(lambda_)
    cand, sc = _check_candidates(candidates, scores, n_items)
    n_users = cand.shape[0]
    items = np.full((n_users, k), PAD, dtype=np.int64)
    n_cols = cand.shape[1]
    for start in range(0, n_users if n_cols else 0, batch_size):  # no candidates: all lists empty
        batch = slice(start, min(start + batch_size, n_users))
        c = cand[batch]
        valid = c >= 0
        rel = normalise_scores(sc[batch], valid)
        chosen = _greedy(rel, valid, k, lambda_, make_state(batch, c, valid))
        picked = np.take_along_axis(c, np.maximum(chosen, 0), axis=1)
        items[batch] = np.where(chosen >= 0, picked, PAD)
    uids = np.arange(n_users) if user_ids is None else np.asarray(user_ids)
    iids = np.arange(n_items) if item_ids is None else np.asarray(item_ids)
    if len(uids) != n_users:
        raise RecauditInputError(SOURCE, f"user_ids has {len(uids)} entries, candidates {n_users} rows")
    if len(iids) != n_items:
        raise RecauditInputError(SOURCE, f"item_ids has {len(iids)} entries, the catalogue {n_items}")
    return RecLists(uids, items, iids)


# ----------------------------------------------------------------------------------------- helpers


def indicator_rows(matrix: np.ndarray | sp.spmatrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """``(x, counts)``: a float64 csr copy with every stored nonzero set to 1, and its row sums.

    Reads a training matrix as the sets ``H_u`` (any count marks ``i ∈ H_u``) or a category matrix as
    0/1 indicators.
    """
    x = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    x.eliminate_zeros()
    x.data[:] = 1.0
    return x, np.asarray(x.sum(axis=1)).ravel()


def divide_rows(x: sp.spmatrix, divisors: np.ndarray) -> sp.csr_matrix:
    """Row r of csr ``x`` divided by ``divisors[r]``; rows whose divisor is not positive become 0."""
    positive = divisors > 0
    return sp.csr_matrix(sp.diags(np.where(positive, 1.0 / np.where(positive, divisors, 1.0), 0.0)) @ x)
