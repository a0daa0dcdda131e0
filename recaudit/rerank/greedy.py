"""Re-ranking of candidate lists: MMR, calibrated, popularity-aware (xQuAD) and exposure-fair.

Every re-ranker takes, for U users, ``candidates [U, n]`` (int64 catalogue rows sorted by the base score,
descending; ``-1`` pads a short candidate set) and their ``scores [U, n]`` (higher is better), and builds the
top-``k`` greedily, one output position at a time, for a batch of users at once (vectorised over the batch;
no Python loop over users). At position t every user picks the still-available candidate maximising

    objective(i) = (1 − λ) · rel(i) + λ · gain_t(i)

where ``gain_t`` is the re-ranker's diversity / calibration / fairness term given the items already chosen.

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

Use :func:`rerank` with a spec such as ``"mmr:0.3"`` to pick a re-ranker by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from recaudit.errors import RecauditInputError
from recaudit.metrics.lists import PAD, RecLists

SOURCE = "rerank"
DEFAULT_BATCH_SIZE = 2048


# --------------------------------------------------------------------------------------------- checks


def _check_lambda(lambda_: float) -> float:
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


def _check_rows(x: np.ndarray, n_rows: int, name: str) -> None:
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


class _GainState(Protocol):
    """Per-batch state of a re-ranker: the gain of every candidate given the picks so far."""

    def gain(self, t: int) -> np.ndarray:
        """``[B, n]`` gain of adding each candidate at output position t (0-based); finite."""

    def update(self, t: int, pos: np.ndarray, ok: np.ndarray) -> None:
        """Record the picks of position t: candidate position ``pos[b]`` for the users with ``ok[b]``."""


class _NoGain:
    def __init__(self, shape: tuple[int, int]) -> None:
        self.zeros = np.zeros(shape)

    def gain(self, t: int) -> np.ndarray:
        return self.zeros

    def update(self, t: int, pos: np.ndarray, ok: np.ndarray) -> None:
        return None


def _greedy(rel: np.ndarray, valid: np.ndarray, k: int, lambda_: float, state: _GainState) -> np.ndarray:
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


def _run(
    candidates: np.ndarray,
    scores: np.ndarray,
    k: int,
    lambda_: float,
    n_items: int,
    make_state: Callable[[slice, np.ndarray, np.ndarray], _GainState],
    *,
    batch_size: int,
    user_ids: np.ndarray | None,
    item_ids: np.ndarray | None,
) -> RecLists:
    """Validate, then run :func:`_greedy` over batches of users; ``make_state(batch, cand, valid)``."""
    k = _check_positive_int(k, "k")
    batch_size = _check_positive_int(batch_size, "batch_size")
    lambda_ = _check_lambda(lambda_)
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


def _unit_rows(vectors: np.ndarray | sp.spmatrix) -> np.ndarray | sp.csr_matrix:
    """Rows scaled to unit L2 norm (zero rows stay zero, so their cosine with anything is 0)."""
    if sp.issparse(vectors):
        x = sp.csr_matrix(vectors, dtype=np.float64)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        return sp.csr_matrix(sp.diags(np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)) @ x)
    x = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(norms > 0, x / np.where(norms > 0, norms, 1.0), 0.0)


def _row_stochastic(categories: sp.spmatrix) -> sp.csr_matrix:
    """``p(g|i) = 1 / |genres(i)|`` for each category g of item i (Steck 2018); rows without one stay 0."""
    x = sp.csr_matrix(categories, dtype=np.float64, copy=True)
    x.eliminate_zeros()
    x.data[:] = 1.0
    counts = np.asarray(x.sum(axis=1)).ravel()
    return sp.csr_matrix(sp.diags(np.where(counts > 0, 1.0 / np.where(counts > 0, counts, 1.0), 0.0)) @ x)


def history_distribution(train: sp.spmatrix, categories: sp.spmatrix) -> np.ndarray:
    """``p(g|u) = mean_{i ∈ H_u} p(g|i)``, ``p(g|i) = 1/|genres(i)|`` (Steck 2018; METRICS.md miscalibration).

    Args:
        train: ``[U, I]`` training interactions (any positive count marks ``i ∈ H_u``; H_u is a set).
        categories: ``[I, G]`` 0/1 category indicators.

    Returns:
        ``[U, G]`` float64; rows of users without history are 0.
    """
    h = sp.csr_matrix(train, dtype=np.float64, copy=True)
    h.eliminate_zeros()
    h.data[:] = 1.0
    sizes = np.asarray(h.sum(axis=1)).ravel()
    dist = np.asarray((h @ _row_stochastic(categories)).todense())
    return dist / np.where(sizes > 0, sizes, 1.0)[:, None]


def tail_preference(train: sp.spmatrix, head_mask: np.ndarray) -> np.ndarray:
    """Share of tail (non-head) items in each user's training history ``H_u`` (a set); 0 without history.

    This is ``P(tail|u)`` of Abdollahpouri et al. 2019 for :func:`popularity_aware`.
    """
    h = sp.csr_matrix(train, dtype=np.float64, copy=True)
    h.eliminate_zeros()
    h.data[:] = 1.0
    sizes = np.asarray(h.sum(axis=1)).ravel()
    tail = h @ (~np.asarray(head_mask, dtype=bool)).astype(np.float64)
    return np.asarray(tail).ravel() / np.where(sizes > 0, sizes, 1.0)


# --------------------------------------------------------------------------------------------- MMR


class _MMRState:
    """``gain_t(i) = −max_{j ∈ S} cos(v_i, v_j)`` (0 while S is empty)."""

    def __init__(self, unit: np.ndarray | sp.csr_matrix, cand: np.ndarray) -> None:
        self.n_batch, self.n = cand.shape
        flat = np.maximum(cand, 0).ravel()  # pads read row 0: they are never available, so never matter
        self.sparse = sp.issparse(unit)
        self.vectors = unit[flat] if self.sparse else unit[flat].reshape(self.n_batch, self.n, -1)
        self.max_sim = np.zeros((self.n_batch, self.n))
        self.any_chosen = np.zeros(self.n_batch, dtype=bool)

    def gain(self, t: int) -> np.ndarray:
        return np.where(self.any_chosen[:, None], -self.max_sim, 0.0)

    def update(self, t: int, pos: np.ndarray, ok: np.ndarray) -> None:
        rows = np.arange(self.n_batch)
        if self.sparse:
            picked = self.vectors[np.repeat(rows * self.n + pos, self.n)]
            sim = np.asarray(self.vectors.multiply(picked).sum(axis=1)).reshape(self.n_batch, self.n)
        else:
            sim = np.einsum("bnd,bd->bn", self.vectors, self.vectors[rows, pos])
        first = ok & ~self.any_chosen
        self.max_sim[first] = sim[first]
        more = ok & self.any_chosen
        self.max_sim[more] = np.maximum(self.max_sim[more], sim[more])
        self.any_chosen |= ok


def mmr(
    candidates: np.ndarray,
    scores: np.ndarray,
    item_vectors: np.ndarray | sp.spmatrix,
    k: int,
    lambda_: float,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
) -> RecLists:
    """Maximal Marginal Relevance (Carbonell & Goldstein 1998).

    Greedily picks ``argmax_{i ∉ S} (1 − λ)·rel(i) − λ·max_{j ∈ S} cos(v_i, v_j)`` where ``rel`` is the
    min-max normalised base score (module docstring) and S the items chosen so far (the max is 0 for the
    first pick, so the first item is always the top candidate). ``λ = 1`` picks, after the first, the item
    least similar to the list so far. Cosine of a zero vector is 0.

    Args:
        candidates: ``[U, n]`` catalogue rows sorted by base score (descending), ``-1`` padded.
        scores: ``[U, n]`` base scores (higher is better).
        item_vectors: ``[I, d]`` dense item embeddings, or a csr ``[I, G]`` category indicator matrix.
        k: output list length.
        lambda_: diversity weight in [0, 1].
        batch_size: users per batch (memory ``batch · n · d`` floats for dense vectors).
        user_ids, item_ids: external ids for the result (default: row numbers).
    """
    unit = _unit_rows(item_vectors)
    if unit.ndim != 2:
        raise RecauditInputError(SOURCE, "item_vectors must be a 2-d [items, dim] array")
    if not sp.issparse(unit) and not np.isfinite(unit).all():
        raise RecauditInputError(SOURCE, "item_vectors hold NaN or infinite values")
    return _run(
        candidates, scores, k, lambda_, unit.shape[0],
        lambda batch, cand, valid: _MMRState(unit, cand),
        batch_size=batch_size, user_ids=user_ids, item_ids=item_ids,
    )


# -------------------------------------------------------------------------------------- calibrated


class _CalibratedState:
    """``gain_t(i) = −C_KL(p, q̃(S ∪ {i}))`` with uniform weights, over the nonzeros of p(g|i)."""

    def __init__(self, p: np.ndarray, pgi: sp.csr_matrix, cand: np.ndarray, alpha: float) -> None:
        self.n_batch, self.n = cand.shape
        self.p = p
        self.alpha = alpha
        self.positive = p > 0
        self.plogp = np.where(self.positive, p * np.log(np.where(self.positive, p, 1.0)), 0.0).sum(axis=1)
        self.rows_pgi = pgi[np.maximum(cand, 0).ravel()].tocoo()  # pads read row 0; never available
        self.user_of = self.rows_pgi.row // max(self.n, 1)
        self.pgi = pgi
        self.cand = cand
        self.mass = np.zeros_like(p)  # Σ_{j ∈ S} p(g|j)

    def gain(self, t: int) -> np.ndarray:
        size = t + 1  # |S ∪ {i}|
        base = (1.0 - self.alpha) * self.mass / size + self.alpha * self.p  # q̃ without i's own mass
        log_base = np.where(self.positive, np.log(np.where(self.positive, base, 1.0)), 0.0)
        cross = (self.p * log_base).sum(axis=1)  # Σ_g p ln q̃ when i adds nothing
        b, g, v = self.user_of, self.rows_pgi.col, self.rows_pgi.data
        pb = self.p[b, g]
        keep = pb > 0
        extra = pb[keep] * np.log1p((1.0 - self.alpha) * v[keep] / size / base[b[keep], g[keep]])
        correction = np.bincount(
            self.rows_pgi.row[keep], weights=extra, minlength=self.n_batch * self.n
        ).reshape(self.n_batch, self.n)
        kl = self.plogp[:, None] - cross[:, None] - correction
        return -kl

    def update(self, t: int, pos: np.ndarray, ok: np.ndarray) -> None:
        rows = np.flatnonzero(ok)
        items = self.cand[rows, pos[rows]]
        self.mass[rows] += self.pgi[items].toarray()


def calibrated(
    candidates: np.ndarray,
    scores: np.ndarray,
    history_dist: np.ndarray,
    categories: sp.spmatrix,
    k: int,
    lambda_: float,
    alpha: float = 0.01,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
) -> RecLists:
    """Calibrated recommendations (Steck 2018, "Calibrated Recommendations", greedy optimisation).

    Maximises ``(1 − λ)·Σ_{i ∈ S} rel(i) − λ·C_KL(p, q̃(S))`` greedily: at each position it adds
    ``argmax_i (1 − λ)·rel(i) − λ·C_KL(p, q̃(S ∪ {i}))`` (``Σ_{j ∈ S} rel(j)`` is the same for every i), with
    ``rel`` the min-max normalised base score, the METRICS.md miscalibration definitions
    ``p(g|i) = 1/|genres(i)|``, ``q(g|S) = mean_{j ∈ S} p(g|j)`` (uniform weights),
    ``q̃ = (1 − α)·q + α·p`` and ``C_KL(p, q̃) = Σ_{g: p(g|u) > 0} p(g|u)·ln(p(g|u) / q̃(g))``. A user without
    history (p = 0) has ``C_KL = 0`` and keeps the base ranking.

    Args:
        candidates, scores, k, lambda_: see :func:`mmr`.
        history_dist: ``[U, G]`` ``p(g|u)`` (e.g. :func:`history_distribution`).
        categories: ``[I, G]`` 0/1 category indicators (csr); rows are made ``p(g|i)`` here.
        alpha: the smoothing α in (0, 1] (Steck: 0.01).
    """
    if not 0.0 < float(alpha) <= 1.0:
        raise RecauditInputError(SOURCE, f"alpha must be in (0, 1], got {alpha!r}")
    if not sp.issparse(categories):
        categories = sp.csr_matrix(np.asarray(categories))
    pgi = _row_stochastic(categories)
    p_all = (
        history_dist.toarray() if sp.issparse(history_dist) else np.asarray(history_dist, dtype=np.float64)
    )
    cand = np.asarray(candidates)
    if p_all.ndim != 2 or p_all.shape[1] != pgi.shape[1]:
        raise RecauditInputError(
            SOURCE, f"history_dist must be [users, {pgi.shape[1]} categories], got shape {p_all.shape}"
        )
    _check_rows(p_all, cand.shape[0] if cand.ndim == 2 else -1, "history_dist")
    if not np.isfinite(p_all).all() or (p_all < 0).any():
        raise RecauditInputError(SOURCE, "history_dist must hold finite, non-negative p(g|u)")
    return _run(
        candidates, scores, k, lambda_, pgi.shape[0],
        lambda batch, c, valid: _CalibratedState(p_all[batch].astype(np.float64), pgi, c, float(alpha)),
        batch_size=batch_size, user_ids=user_ids, item_ids=item_ids,
    )


# -------------------------------------------------------------------------------- popularity-aware


class _XQuADState:
    """Binary xQuAD: ``gain_t(i) = Σ_c P(c|u)·1[i ∈ c]·Π_{j ∈ S}(1 − 1[j ∈ c])``."""

    def __init__(self, is_head: np.ndarray, tail_pref: np.ndarray) -> None:
        self.is_head = is_head
        self.head_value = (1.0 - tail_pref)[:, None]
        self.tail_value = tail_pref[:, None]
        self.has_head = np.zeros(len(tail_pref), dtype=bool)
        self.has_tail = np.zeros(len(tail_pref), dtype=bool)

    def gain(self, t: int) -> np.ndarray:
        return np.where(
            self.is_head,
            self.head_value * ~self.has_head[:, None],
            self.tail_value * ~self.has_tail[:, None],
        )

    def update(self, t: int, pos: np.ndarray, ok: np.ndarray) -> None:
        head = self.is_head[np.arange(len(pos)), pos]
        self.has_head |= ok & head
        self.has_tail |= ok & ~head


def popularity_aware(
    candidates: np.ndarray,
    scores: np.ndarray,
    head_mask: np.ndarray,
    user_tail_pref: np.ndarray,
    k: int,
    lambda_: float,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
) -> RecLists:
    """Popularity-aware re-ranking, binary xQuAD (Abdollahpouri, Burke & Mobasher 2019, "Managing popularity
    bias in recommender systems with personalized re-ranking", after Santos et al. 2010).

    Greedily picks ``argmax_i (1 − λ)·rel(i) + λ·Σ_{c ∈ {head, tail}} P(c|u)·P(i|c)·Π_{j ∈ S}(1 − P(j|c))``
    with ``P(i|c) = 1[i ∈ c]``, ``P(tail|u)`` = the user's share of tail items in the history and
    ``P(head|u) = 1 − P(tail|u)``; ``rel`` is the min-max normalised base score. With binary ``P(i|c)`` the
    product is 1 until the list holds an item of c, and 0 after: the bonus ``P(c|u)`` goes to the first head
    item and the first tail item only, so this promotes at most one tail item per list above its base rank
    (the binary variant of the paper).

    Args:
        candidates, scores, k, lambda_: see :func:`mmr`.
        head_mask: ``[I]`` bool, True for short-head items (METRICS.md 80% rule); the rest is the tail.
        user_tail_pref: ``[U]`` in [0, 1], P(tail|u) (e.g. :func:`tail_preference`).
    """
    head = np.asarray(head_mask)
    if head.ndim != 1 or head.dtype != bool:
        raise RecauditInputError(SOURCE, "head_mask must be a 1-d bool array over the catalogue")
    pref = np.asarray(user_tail_pref, dtype=np.float64)
    cand = np.asarray(candidates)
    if pref.ndim != 1:
        raise RecauditInputError(SOURCE, "user_tail_pref must be a 1-d array over users")
    _check_rows(pref, cand.shape[0] if cand.ndim == 2 else -1, "user_tail_pref")
    if not (np.isfinite(pref).all() and ((pref >= 0) & (pref <= 1)).all()):
        raise RecauditInputError(SOURCE, "user_tail_pref must hold shares in [0, 1]")
    return _run(
        candidates, scores, k, lambda_, len(head),
        lambda batch, c, valid: _XQuADState(head[np.maximum(c, 0)], pref[batch]),
        batch_size=batch_size, user_ids=user_ids, item_ids=item_ids,
    )


# ---------------------------------------------------------------------------------- exposure-fair


class _ExposureLedger:
    """Position-weighted exposure per group of the lists built so far, over all users (shared by batches)."""

    def __init__(self, membership: sp.csr_matrix, target: np.ndarray) -> None:
        self.membership = membership
        self.target = target
        self.headroom = np.where(target < 1.0, 1.0 - target, 1.0)
        self.exposure = np.zeros(len(target))
        self.total = 0.0

    def overshoot(self) -> np.ndarray:
        """``[G]`` ``max(0, share_g − target_g) / (1 − target_g)`` in [0, 1]; 0 before any exposure."""
        if self.total <= 0:
            return np.zeros_like(self.target)
        share = self.exposure / self.total
        return np.clip((share - self.target) / self.headroom, 0.0, 1.0)


class _ExposureState:
    """``gain_t(i) = −max_{g ∋ i} overshoot_g`` from the shared ledger (0 for items in no group)."""

    def __init__(self, ledger: _ExposureLedger, cand: np.ndarray) -> None:
        self.ledger = ledger
        self.cand = cand
        self.n_batch, self.n = cand.shape
        self.rows = ledger.membership[np.maximum(cand, 0).ravel()]  # pads read row 0; never available

    def gain(self, t: int) -> np.ndarray:
        over = self.ledger.overshoot()
        if not over.any():
            return np.zeros((self.n_batch, self.n))
        penalty = self.rows.multiply(over[None, :]).tocsr().max(axis=1).toarray().ravel()
        return -penalty.reshape(self.n_batch, self.n)

    def update(self, t: int, pos: np.ndarray, ok: np.ndarray) -> None:
        rows = np.flatnonzero(ok)
        weight = 1.0 / np.log2(t + 2.0)
        items = self.cand[rows, pos[rows]]
        self.ledger.exposure += weight * np.asarray(self.ledger.membership[items].sum(axis=0)).ravel()
        self.ledger.total += weight * len(rows)


def _group_membership(membership: np.ndarray | sp.spmatrix, n_groups: int) -> sp.csr_matrix:
    """``[I, G]`` 0/1 csr from a membership matrix or from per-item group labels."""
    if sp.issparse(membership):
        m = sp.csr_matrix(membership, dtype=np.float64, copy=True)
    else:
        labels = np.asarray(membership)
        if labels.ndim == 2:
            m = sp.csr_matrix(labels.astype(np.float64))
        elif labels.ndim == 1:
            if np.issubdtype(labels.dtype, np.integer):
                codes = labels.astype(np.int64)
                if codes.size and codes.max() >= n_groups:
                    raise RecauditInputError(SOURCE, f"group labels must be codes in [-1, {n_groups})")
            else:
                _, codes = np.unique(labels.astype(str), return_inverse=True)
            has = codes >= 0
            m = sp.csr_matrix(
                (np.ones(int(has.sum())), (np.flatnonzero(has), codes[has])), shape=(len(labels), n_groups)
            )
        else:
            raise RecauditInputError(SOURCE, "membership must be [items, groups] or one label per item")
    if m.shape[1] != n_groups:
        raise RecauditInputError(SOURCE, f"membership has {m.shape[1]} groups, target_share {n_groups}")
    m.eliminate_zeros()
    m.data[:] = 1.0
    return m


def exposure_fair(
    candidates: np.ndarray,
    scores: np.ndarray,
    membership: np.ndarray | sp.spmatrix,
    target_share: np.ndarray,
    k: int,
    lambda_: float,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
) -> RecLists:
    """Exposure-fair re-ranking: a greedy, soft group exposure-share constraint.

    The idea follows fair exposure (Singh & Joachims 2018, "Fairness of Exposure in Rankings": exposure
    allocated to groups by a target, position weight ``e(r) = 1/log2(r + 1)``) enforced greedily position by
    position like FA*IR (Zehlike et al. 2017). Exact rule: positions r = 1..k are filled in turn for all the
    users of a batch at once; before position r, with ``E_g`` the position-weighted exposure
    ``Σ e(r')·1[item ∈ g]`` of the items placed so far (all earlier positions of this batch and every
    position of earlier batches) and ``E`` the same over all placed items, each group's overshoot is
    ``o_g = max(0, E_g / E − t_g) / (1 − t_g)`` (in [0, 1]; 0 while E = 0, and for t_g = 1), and each user
    picks ``argmax_i (1 − λ)·rel(i) − λ·max_{g ∋ i} o_g`` (items in no group: penalty 0). Shares follow
    METRICS.md (``exposure_share = Σ_{i ∈ g} x_i / Σ_i x_i``), so with overlapping groups the shares may sum
    above 1. The result depends on the order of the batches (a global constraint), not on the user order
    within one batch.

    Args:
        candidates, scores, k, lambda_: see :func:`mmr`.
        membership: csr ``[I, G]`` 0/1 group membership (:func:`~recaudit.metrics.lists.membership_matrix`),
            or one label per item: integer codes in [-1, G) (-1 = no group) or strings, whose groups are
            the sorted distinct labels.
        target_share: ``[G]`` target exposure share per group, in [0, 1].
    """
    target = np.asarray(target_share, dtype=np.float64)
    if target.ndim != 1 or not np.isfinite(target).all() or ((target < 0) | (target > 1)).any():
        raise RecauditInputError(SOURCE, "target_share must be a 1-d array of shares in [0, 1]")
    ledger = _ExposureLedger(_group_membership(membership, len(target)), target)
    return _run(
        candidates, scores, k, lambda_, ledger.membership.shape[0],
        lambda batch, c, valid: _ExposureState(ledger, c),
        batch_size=batch_size, user_ids=user_ids, item_ids=item_ids,
    )


# -------------------------------------------------------------------------------------- dispatcher


def top_k(
    candidates: np.ndarray,
    scores: np.ndarray,
    n_items: int,
    k: int,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    user_ids: np.ndarray | None = None,
    item_ids: np.ndarray | None = None,
) -> RecLists:
    """No re-ranking: the first ``k`` valid candidates (the base ranking), through the same validation."""
    return _run(
        candidates, scores, k, 0.0, n_items, lambda batch, c, valid: _NoGain(c.shape),
        batch_size=batch_size, user_ids=user_ids, item_ids=item_ids,
    )


RERANKERS: dict[str, Callable[..., RecLists]] = {
    "mmr": mmr,
    "calibrated": calibrated,
    "popularity_aware": popularity_aware,
    "exposure_fair": exposure_fair,
}

_INPUTS: dict[str, tuple[str, ...]] = {
    "mmr": ("item_vectors",),
    "calibrated": ("history_dist", "categories"),
    "popularity_aware": ("head_mask", "user_tail_pref"),
    "exposure_fair": ("membership", "target_share"),
    "none": ("n_items",),
}
_OPTIONAL: dict[str, tuple[str, ...]] = {"calibrated": ("alpha",)}
_COMMON = ("batch_size", "user_ids", "item_ids")


def parse_spec(spec: str) -> tuple[str, float]:
    """``"mmr:0.3"`` -> ``("mmr", 0.3)``; ``"none"`` -> ``("none", 0.0)``.

    Names are case-insensitive and ``-`` reads as ``_`` (``"popularity-aware:0.5"``).

    Raises:
        RecauditInputError: unknown name, missing or non-numeric λ, λ outside [0, 1].
    """
    name, sep, value = str(spec).strip().partition(":")
    name = name.strip().lower().replace("-", "_")
    known = ", ".join([*RERANKERS, "none"])
    if name not in RERANKERS and name != "none":
        raise RecauditInputError(SOURCE, f"unknown re-ranker {name!r}", f"use one of: {known}")
    if name == "none":
        if sep and value.strip():
            raise RecauditInputError(SOURCE, "re-ranker 'none' takes no λ")
        return name, 0.0
    if not sep or not value.strip():
        raise RecauditInputError(SOURCE, f"re-ranker spec {spec!r} lacks λ", f"write e.g. '{name}:0.3'")
    try:
        lam = float(value)
    except ValueError:
        raise RecauditInputError(
            SOURCE, f"λ in {spec!r} is not a number", f"write e.g. '{name}:0.3'"
        ) from None
    return name, _check_lambda(lam)


def rerank(spec: str, candidates: np.ndarray, scores: np.ndarray, k: int, **inputs: object) -> RecLists:
    """Re-rank by spec: ``rerank("mmr:0.3", cand, scores, 10, item_vectors=emb)``.

    ``inputs`` are the named arguments of the chosen re-ranker (``item_vectors`` for mmr; ``history_dist``,
    ``categories`` and optionally ``alpha`` for calibrated; ``head_mask``, ``user_tail_pref`` for
    popularity_aware; ``membership``, ``target_share`` for exposure_fair; ``n_items`` for ``"none"``) plus
    ``batch_size``, ``user_ids``, ``item_ids``. Inputs the chosen re-ranker does not use are ignored, so a
    caller may pass one dictionary holding everything.

    Raises:
        RecauditInputError: bad spec (see :func:`parse_spec`) or a missing input.
    """
    name, lam = parse_spec(spec)
    needed = _INPUTS[name]
    missing = [key for key in needed if inputs.get(key) is None]
    if missing:
        raise RecauditInputError(SOURCE, f"re-ranker {name!r} needs {', '.join(missing)}")
    wanted = (*needed, *_OPTIONAL.get(name, ()), *_COMMON)
    kwargs = {key: inputs[key] for key in wanted if key in inputs and inputs[key] is not None}
    if name == "none":
        return top_k(candidates, scores, k=k, **kwargs)  # type: ignore[arg-type]
    return RERANKERS[name](candidates, scores, k=k, lambda_=lam, **kwargs)
