"""Next-item evaluation of test sessions (docs/metrics.md, "Sessions"; the project's METRICS.md "Sessions").

Notation: a test session is s = (s[1], ..., s[n]), n = |s|, the events of one user in time order
(:func:`recaudit.data.sessions.assign_sessions` cuts them). For every prefix s[1..j] with 1 ≤ j < n the
*target* is s[j+1], and L_j is the model's top-k list after s[1..j], excluding the user's training items
H_u and the prefix items s[1..j]. A prefix whose target was already seen (in H_u or in s[1..j]) is
skipped: it can never be hit under that exclusion (:func:`session_prefixes` applies the rule).

- ``next_hit_rate@k`` = mean over the counted prefixes of 1[s[j+1] ∈ L_j]
- ``next_mrr@k`` = mean over the counted prefixes of 1 / rank of s[j+1] in L_j, 0 when it is absent
- ``recency_sensitivity@k`` = mean over consecutive events j−1, j of one stream of 1 − |L_j ∩ L_{j−1}| / k,
  the share of the list that moves per event
- ``fallback_rate`` = the share of updates served from the base embedding because the update exceeded its
  time budget

The functions are pure and model-free: a model produces one top-k list per prefix (item rows, -1 padded)
and these functions score them, so every session model and baseline is measured by the same code.

Intervals (:func:`evaluate_next_items`): 95% percentile bootstrap with the **test session** as the
resampling unit (the prefixes of one session are not independent), through
:func:`recaudit.metrics.stats.bootstrap_ci` on linearised per-session values (see there).

NaN policy: no counted prefix gives NaN (never a silent 0); an empty list is a miss (0); a stream with one
event has no consecutive pair; ``fallback_rate`` of no update is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recaudit.metrics.stats import bootstrap_ci

__all__ = [
    "LENGTH_BUCKETS",
    "Prefixes",
    "evaluate_next_items",
    "fallback_rate",
    "length_bucket",
    "next_hit_rate",
    "next_mrr",
    "next_ranks",
    "recency_changes",
    "recency_sensitivity",
    "session_prefixes",
]

LENGTH_BUCKETS: tuple[tuple[str, int, float], ...] = (
    ("2", 2, 2), ("3", 3, 3), ("4-5", 4, 5), ("6-10", 6, 10), ("11+", 11, np.inf),
)
"""``(label, shortest, longest)`` session-length buckets (both ends included). The length is |s|, every event
of the test session, skipped targets included; a session of one event has no prefix."""

_BLOCK = 1 << 22  # elements per block of the pairwise list comparison


@dataclass(frozen=True)
class Prefixes:
    """The counted prefixes of a set of test sessions, one row per prefix s[1..j] (all ``[P]`` arrays).

    For prefix p, the prefix items s[1..j] are ``items[start[p]:stop[p]]`` and the target s[j+1] is
    ``items[stop[p]]`` (indices into the ``items`` array given to :func:`session_prefixes`).

    Attributes:
        session: the session's code (as given).
        user: the user's row (as given).
        start: index of the session's first event.
        stop: index of the target; ``stop − start`` = j, the prefix length.
        target: the target's item row, s[j+1].
        session_length: |s|, the session's number of events.
        n_skipped: number of prefixes left out by the skip rule (the target was already seen).
    """

    session: np.ndarray
    user: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    target: np.ndarray
    session_length: np.ndarray
    n_skipped: int = 0

    @property
    def prefix_length(self) -> np.ndarray:
        """``[P]`` j, the number of events in each prefix."""
        return self.stop - self.start

    def __len__(self) -> int:
        return len(self.target)


def session_prefixes(
    items: np.ndarray,
    sessions: np.ndarray,
    users: np.ndarray | None = None,
    history: sp.spmatrix | None = None,
) -> Prefixes:
    """Enumerate the prefixes that count (docs/metrics.md "Sessions"; the skip rule applied).

    Args:
        items: ``[N]`` item rows (>= 0) of the test events, each session's events contiguous and in time
            order (as :func:`recaudit.data.sessions.assign_sessions` sorts them). An item outside the
            catalogue may be given a code >= I (one per distinct item): it is never in H_u and no list can
            hold it, so as a target it counts as a miss, as accuracy counts test items outside I.
        sessions: ``[N]`` session code of each event (any integers; equal codes must be contiguous).
        users: ``[N]`` user row of each event, the row of ``history``; needed with ``history``.
        history: ``[U, I]`` sparse training matrix (any stored non-zero marks an item of H_u); None means
            no training items.

    For each session s of n events, the prefixes s[1..j], j = 1..n−1, are enumerated; the one ending at j
    is kept unless its target s[j+1] is in H_u or in s[1..j]. Sessions of one event give none.

    Returns:
        :class:`Prefixes`, in the order of the targets in ``items``.

    Raises:
        ValueError: shapes differ, an item row is negative, a session's events are not contiguous, or
            ``history`` without ``users``.
    """
    items = np.asarray(items, dtype=np.int64).ravel()
    sessions = np.asarray(sessions).ravel()
    n = len(items)
    if n and items.min() < 0:
        raise ValueError("items must be rows >= 0 (give items outside the catalogue codes >= I)")
    if sessions.shape != (n,):
        raise ValueError(f"sessions must have shape ({n},), got {sessions.shape}")
    if users is None:
        if history is not None:
            raise ValueError("history needs users (the history row of each event)")
        users = np.zeros(n, dtype=np.int64)
    users = np.asarray(users, dtype=np.int64).ravel()
    if users.shape != (n,):
        raise ValueError(f"users must have shape ({n},), got {users.shape}")
    first = np.ones(n, dtype=bool)
    first[1:] = sessions[1:] != sessions[:-1]
    if int(first.sum()) != len(np.unique(sessions)):
        raise ValueError("each session's events must be contiguous in items (sort by session, then time)")
    block = np.cumsum(first) - 1  # 0-based block number of each event
    starts = np.flatnonzero(first)
    lengths = np.diff(np.append(starts, n))
    start_of = starts[block]
    # s[j+1] seen in s[1..j]: an earlier event of the same session has the same item.
    repeated = pd.DataFrame({"b": block, "i": items}).duplicated().to_numpy()
    in_history = np.zeros(n, dtype=bool)
    if history is not None and n:
        csr = sp.csr_matrix(history)
        known = items < csr.shape[1]
        if known.any():
            in_history[known] = np.asarray(csr[users[known], items[known]]).ravel() != 0
    candidate = ~first  # every event after the first is the target of one prefix
    keep = candidate & ~repeated & ~in_history
    idx = np.flatnonzero(keep)
    return Prefixes(
        session=sessions[idx],
        user=users[idx],
        start=start_of[idx].astype(np.int64),
        stop=idx.astype(np.int64),
        target=items[idx],
        session_length=lengths[block[idx]].astype(np.int64),
        n_skipped=int(candidate.sum() - keep.sum()),
    )


def _check_lists(prefix_lists: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lists = np.asarray(prefix_lists, dtype=np.int64)
    if lists.ndim != 2:
        raise ValueError(f"prefix_lists must be [P, k], got shape {lists.shape}")
    t = np.asarray(targets, dtype=np.int64).ravel()
    if t.shape != (lists.shape[0],):
        raise ValueError(f"targets must have shape ({lists.shape[0]},), got {t.shape}")
    return lists, t


def next_ranks(prefix_lists: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``[P]`` int: the 1-based rank of each target s[j+1] in its list L_j, 0 when it is absent.

    ``prefix_lists`` is ``[P, k]`` item rows, -1 padded; a pad never matches (a target of -1 is absent).
    """
    lists, t = _check_lists(prefix_lists, targets)
    match = (lists == t[:, None]) & (lists >= 0)
    return np.where(match.any(axis=1), match.argmax(axis=1) + 1, 0)


def next_hit_rate(prefix_lists: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``[P]`` per-prefix values of ``next_hit_rate@k``: 1[s[j+1] ∈ L_j] (k = the list width)."""
    return (next_ranks(prefix_lists, targets) > 0).astype(np.float64)


def next_mrr(prefix_lists: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``[P]`` per-prefix values of ``next_mrr@k``: 1 / rank of s[j+1] in L_j, 0 when it is absent."""
    ranks = next_ranks(prefix_lists, targets)
    return np.where(ranks > 0, 1.0 / np.maximum(ranks, 1), 0.0)


def length_bucket(session_length: np.ndarray) -> np.ndarray:
    """``[P]`` object: the :data:`LENGTH_BUCKETS` label of each session length (None below 2)."""
    n = np.asarray(session_length).ravel()
    out = np.full(len(n), None, dtype=object)
    for label, low, high in LENGTH_BUCKETS:
        out[(n >= low) & (n <= high)] = label
    return out


def _session_mean_ci(
    values: np.ndarray, sessions: np.ndarray, n_boot: int, level: float, seed: int
) -> tuple[float, float, float]:
    """Mean over prefixes of ``values`` and its bootstrap interval with sessions as the resampling unit.

    With h_s the sum and n_s the number of prefixes of session s over S sessions, the statistic is the
    ratio R = Σ h_s / Σ n_s. Each session gets the linearised value v_s = R + (h_s − R n_s) / n̄,
    n̄ = Σ n_s / S, whose mean is R exactly; resampling the v_s (``bootstrap_ci``) is the first-order
    (delta-method) cluster bootstrap of R, and is the plain bootstrap of the prefixes when every session
    has one prefix. The bounds are clipped to [0, 1], the range of both metrics.
    """
    if len(values) == 0:
        nan = float("nan")
        return nan, nan, nan
    _, code = np.unique(sessions, return_inverse=True)
    h = np.bincount(code, weights=values)
    counts = np.bincount(code).astype(np.float64)
    ratio = float(h.sum() / counts.sum())
    linear = ratio + (h - ratio * counts) / counts.mean()
    _, low, high = bootstrap_ci(linear, n_boot=n_boot, level=level, seed=seed)
    return ratio, float(np.clip(low, 0.0, 1.0)), float(np.clip(high, 0.0, 1.0))


def evaluate_next_items(
    prefix_lists: np.ndarray,
    targets: np.ndarray,
    sessions: np.ndarray,
    session_lengths: np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """``next_hit_rate@k`` and ``next_mrr@k`` overall and per session-length bucket, with intervals.

    Args:
        prefix_lists: ``[P, k]`` item rows of L_j, one row per counted prefix, -1 padded; k is the width.
            The lists must already exclude H_u and s[1..j] (the definition's L_j).
        targets: ``[P]`` the target item row s[j+1] of each prefix.
        sessions: ``[P]`` the session of each prefix (the bootstrap's resampling unit).
        session_lengths: ``[P]`` |s| of each prefix's session (:data:`LENGTH_BUCKETS`).

    (:class:`Prefixes` gives ``target``, ``session`` and ``session_length`` in this form.)

    ``next_hit_rate@k`` = mean_p 1[s[j+1] ∈ L_j] and ``next_mrr@k`` = mean_p 1/rank (0 if absent), means
    over the counted prefixes (micro over prefixes, as docs/metrics.md defines them). Each comes with a
    ``level`` percentile-bootstrap interval that resamples **test sessions** (``n_boot`` resamples, seed
    ``seed``; :func:`_session_mean_ci`).

    Returns:
        One row for ``all`` then one per :data:`LENGTH_BUCKETS` label (always all five, in order), with
        columns ``length, k, n_sessions, n_prefixes, next_hit_rate, next_hit_rate_low, next_hit_rate_high,
        next_mrr, next_mrr_low, next_mrr_high``; ``n_sessions`` counts the sessions with at least one counted
        prefix. Rows without prefixes hold NaN metrics.
    """
    lists, t = _check_lists(prefix_lists, targets)
    sess = np.asarray(sessions).ravel()
    lengths = np.asarray(session_lengths).ravel()
    if sess.shape != t.shape or lengths.shape != t.shape:
        raise ValueError(f"sessions and session_lengths must have shape {t.shape}")
    hit = next_hit_rate(lists, t)
    rr = next_mrr(lists, t)
    buckets = length_bucket(lengths)
    rows = []
    for label in ["all", *(b[0] for b in LENGTH_BUCKETS)]:
        keep = np.ones(len(t), dtype=bool) if label == "all" else buckets == label
        row: dict[str, object] = {
            "length": label,
            "k": lists.shape[1],
            "n_sessions": len(np.unique(sess[keep])),
            "n_prefixes": int(keep.sum()),
        }
        for name, values in (("next_hit_rate", hit), ("next_mrr", rr)):
            mean, low, high = _session_mean_ci(values[keep], sess[keep], n_boot, level, seed)
            row.update({name: mean, f"{name}_low": low, f"{name}_high": high})
        rows.append(row)
    return pd.DataFrame(rows)


def recency_changes(lists: np.ndarray, streams: np.ndarray) -> np.ndarray:
    """``[E]`` per-event values of ``recency_sensitivity@k``: 1 − |L_j ∩ L_{j−1}| / k.

    ``lists`` is ``[E, k]`` item rows (-1 padded) of the list served after each event, in event order;
    ``streams`` ``[E]`` names the stream of each event (normally its session). Event j is compared with the
    row before it when both belong to the same stream; the first event of a stream gets NaN. k is the list
    width, pads are never shared, so a list shorter than k counts its missing slots as changed.
    """
    arr = np.asarray(lists, dtype=np.int64)
    if arr.ndim != 2:
        raise ValueError(f"lists must be [E, k], got shape {arr.shape}")
    s = np.asarray(streams).ravel()
    if s.shape != (arr.shape[0],):
        raise ValueError(f"streams must have shape ({arr.shape[0]},), got {s.shape}")
    e, k = arr.shape
    out = np.full(e, np.nan)
    if e < 2 or k == 0:
        return out
    pair = np.flatnonzero(s[1:] == s[:-1]) + 1  # events with a predecessor in the same stream
    step = max(1, _BLOCK // max(k * k, 1))
    for lo in range(0, len(pair), step):
        j = pair[lo : lo + step]
        cur, prev = arr[j], arr[j - 1]
        shared = ((cur[:, :, None] == prev[:, None, :]) & (cur >= 0)[:, :, None]).any(axis=2).sum(axis=1)
        out[j] = 1.0 - shared / k
    return out


def recency_sensitivity(lists: np.ndarray, streams: np.ndarray) -> float:
    """``recency_sensitivity@k`` = mean over consecutive events of 1 − |L_j ∩ L_{j−1}| / k
    (:func:`recency_changes`); NaN when no stream has two events."""
    changes = recency_changes(lists, streams)
    finite = changes[~np.isnan(changes)]
    return float(finite.mean()) if len(finite) else float("nan")


def fallback_rate(fell_back: np.ndarray) -> float:
    """``fallback_rate`` = the share of updates served from the base embedding because the update exceeded
    its time budget: the mean of ``fell_back`` (``[E]`` bool, one per update); NaN for no update."""
    flags = np.asarray(fell_back, dtype=bool).ravel()
    return float(flags.mean()) if len(flags) else float("nan")
