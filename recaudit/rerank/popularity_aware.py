"""Popularity-aware re-ranking, binary xQuAD (Abdollahpouri et al. 2019) on the greedy framework."""

from __future__ import annotations

from typing import Unpack

import numpy as np
import scipy.sparse as sp

from recaudit.errors import RecauditInputError
from recaudit.metrics.lists import RecLists
from recaudit.rerank.greedy import SOURCE, RunOptions, check_user_rows, indicator_rows, run_greedy


def tail_preference(train: sp.spmatrix, head_mask: np.ndarray) -> np.ndarray:
    """Share of tail (non-head) items in each user's training history ``H_u`` (a set); 0 without history.

    This is ``P(tail|u)`` of Abdollahpouri et al. 2019 for :func:`popularity_aware`.
    """
    h, sizes = indicator_rows(train)
    tail = h @ (~np.asarray(head_mask, dtype=bool)).astype(np.float64)
    return np.asarray(tail).ravel() / np.where(sizes > 0, sizes, 1.0)


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
    **options: Unpack[RunOptions],
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
        candidates, scores, k, lambda_, options: see :func:`recaudit.rerank.mmr`.
        head_mask: ``[I]`` bool, True for short-head items (docs/metrics.md 80% rule); the rest is the tail.
        user_tail_pref: ``[U]`` in [0, 1], P(tail|u) (e.g. :func:`tail_preference`).
    """
    head = np.asarray(head_mask)
    if head.ndim != 1 or head.dtype != bool:
        raise RecauditInputError(SOURCE, "head_mask must be a 1-d bool array over the catalogue")
    pref = np.asarray(user_tail_pref, dtype=np.float64)
    if pref.ndim != 1:
        raise RecauditInputError(SOURCE, "user_tail_pref must be a 1-d array over users")
    check_user_rows(pref, candidates, "user_tail_pref")
    if not (np.isfinite(pref).all() and ((pref >= 0) & (pref <= 1)).all()):
        raise RecauditInputError(SOURCE, "user_tail_pref must hold shares in [0, 1]")
    return run_greedy(
        candidates, scores, k, lambda_, len(head),
        lambda batch, c, valid: _XQuADState(head[np.maximum(c, 0)], pref[batch]),
        **options,
    )
