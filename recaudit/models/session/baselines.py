"""Strong simple session baselines: sequential rules from the last item, and session-kNN.

The literature's warning is the reason these exist: on most session data sets these heuristics match or beat
neural session models (Ludewig & Jannach 2018; Ludewig, Mauro, Latifi & Jannach 2021), so any session encoder
must be compared against them in the same harness.

Input to ``fit``: a frame with ``session_id``, ``item_id`` and ``timestamp`` (``user_id`` is allowed and
ignored). ``item_id`` holds either external ids, mapped to catalogue rows through the given
:class:`~recaudit.data.vocab.IdVocabulary` (``items=``; an unknown id raises), or, without a vocabulary,
integer catalogue rows in ``[0, n_items)``. Inside a session the events are ordered by ``timestamp``; equal
timestamps keep the frame's order (a stable sort).

Output of ``score(session_rows)``: a dense float64 vector ``[n_items]`` over the whole catalogue (higher is
better; items the session has already seen are *not* removed: that is the caller's choice, through
:func:`top_k`'s ``exclude``). An empty session scores all zeros; a row outside ``[0, n_items)`` or a
non-integer raises :class:`~recaudit.errors.RecauditInputError` (a ``ValueError``).

Both models are deterministic: no random draw anywhere, and every tie has a stated rule.

Sources:

* M. Ludewig and D. Jannach, "Evaluation of session-based recommendation algorithms", *Electronic Commerce
  Research and Applications* 32 (2018), 331-390 (the sequential-rules baseline "SR"; defaults of their
  ``session-rec`` framework, ``algorithms/baselines/sr.py``: ``steps=10``, ``weighting='div'``,
  ``pruning=20``).
* D. Jannach and M. Ludewig, "When Recurrent Neural Networks meet the Neighborhood for Session-Based
  Recommendation", RecSys 2017 (SKNN; ``session-rec``'s ``knn/sknn.py`` defaults: ``k=100``,
  ``sample_size=500``, ``sampling='recent'``, ``similarity='cosine'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recaudit.data.schema import ITEM_ID, SESSION_ID, TIMESTAMP
from recaudit.data.vocab import IdVocabulary
from recaudit.errors import RecauditInputError

__all__ = ["LastItemCooccurrence", "SessionKNN", "top_k"]

SOURCE = "sessions"
NEG_INF = float("-inf")


# ------------------------------------------------------------------------------------------ inputs


def _check_positive_int(value: object, name: str, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        allowed = "a positive integer" + (" or None" if allow_none else "")
        raise RecauditInputError(name, f"expected {allowed}, got {value!r}")
    return int(value)


@dataclass(frozen=True, eq=False)
class _Events:
    """Training events in session order: ``rows[j]`` is the catalogue row of event j, ``session[j]`` its
    session code (0..S-1, codes in ascending ``session_id`` order), events sorted by (session, time)."""

    rows: np.ndarray
    session: np.ndarray
    last_time: np.ndarray  # [S] int64: the session's last timestamp
    session_ids: np.ndarray  # [S] object: the session_id of each code


def _events(sessions: object, n_items: int, items: IdVocabulary | None) -> _Events:
    """Check the training frame and put its events in session order (see the module docstring)."""
    n_items = int(_check_positive_int(n_items, "n_items"))  # type: ignore[arg-type]
    if items is not None and len(items) != n_items:
        raise RecauditInputError(SOURCE, f"the item vocabulary has {len(items)} ids for n_items={n_items}")
    if not isinstance(sessions, pd.DataFrame):
        raise RecauditInputError(SOURCE, f"expected a pandas DataFrame, got {type(sessions).__name__}")
    missing = [c for c in (SESSION_ID, ITEM_ID, TIMESTAMP) if c not in sessions.columns]
    if missing:
        raise RecauditInputError(
            SOURCE,
            f"missing columns {missing}; found {[str(c) for c in sessions.columns]}",
            hint="sessions need session_id, item_id and timestamp",
        )
    if sessions[SESSION_ID].isna().any():
        raise RecauditInputError(SOURCE, f"{int(sessions[SESSION_ID].isna().sum())} rows lack a session_id")
    times = sessions[TIMESTAMP]
    if not pd.api.types.is_integer_dtype(times):
        raise RecauditInputError(SOURCE, f"{TIMESTAMP} must be integer seconds, got {times.dtype}")
    if items is not None:
        rows = items.rows(sessions[ITEM_ID].astype(str).to_numpy())
    else:
        rows = _check_rows(sessions[ITEM_ID].to_numpy(), n_items, f"{SOURCE} {ITEM_ID}")
    codes, session_ids = pd.factorize(sessions[SESSION_ID].astype(str), sort=True)
    order = np.lexsort((times.to_numpy(), codes))  # stable: equal times keep the frame's order
    session = codes[order].astype(np.int64)
    t = times.to_numpy().astype(np.int64)[order]
    last_time = np.full(len(session_ids), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last_time, session, t)
    return _Events(rows[order], session, last_time, np.asarray(session_ids, dtype=object))


def _check_rows(rows: object, n_items: int, source: str) -> np.ndarray:
    """int64 catalogue rows; a non-integer or a row outside [0, n_items) raises."""
    arr = np.asarray(rows)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise RecauditInputError(
            source, f"expected a 1-D sequence of integer item rows, got dtype {arr.dtype}, shape {arr.shape}"
        )
    bad = (arr < 0) | (arr >= n_items)
    if bad.any():
        raise RecauditInputError(
            source,
            f"{int(bad.sum())} unknown item rows, e.g. {arr[bad][:5].tolist()}",
            hint=f"rows must lie in [0, {n_items}): map ids through the item vocabulary first",
        )
    return arr.astype(np.int64)


# ------------------------------------------------------------------------------- sequential rules


@dataclass(frozen=True, eq=False)
class LastItemCooccurrence:
    """Sequential rules ("SR", Ludewig & Jannach 2018): successor counts weighted by 1/distance, scored
    from the session's last item.

    Fit: for every training session ``s = (s_1, ..., s_n)`` (time order, repeats kept) and every pair of
    positions ``x < y`` with ``y - x <= steps``, the rule ``s_x -> s_y`` gains weight ``1 / (y - x)``::

        w(p, q) = sum_sessions sum_{x < y <= x + steps} [s_x = p] [s_y = q] / (y - x)

    (``steps=1`` gives plain first-order successor counts; a repeated item gives a rule ``p -> p``, as in
    ``session-rec``.) With ``pruning = m``, each item keeps only its ``m`` heaviest rules (ties: lower
    row kept), which never changes the first ``m`` places of a list; ``None`` keeps all.

    Score: ``score(s)[q] = w(s_last, q)``, the row of the last item (zeros for an item with no rules).
    ``rules`` is that matrix, scipy CSR [n_items, n_items] float64.
    """

    rules: sp.csr_matrix
    steps: int
    pruning: int | None

    @property
    def n_items(self) -> int:
        return int(self.rules.shape[0])

    @classmethod
    def fit(
        cls,
        sessions: pd.DataFrame,
        n_items: int,
        *,
        items: IdVocabulary | None = None,
        steps: int = 10,
        pruning: int | None = 20,
    ) -> LastItemCooccurrence:
        """Rules from the training sessions (see the class docstring); ``steps``, ``pruning`` default to
        ``session-rec``'s values."""
        steps = int(_check_positive_int(steps, "steps"))  # type: ignore[arg-type]
        pruning = _check_positive_int(pruning, "pruning", allow_none=True)
        ev = _events(sessions, n_items, items)
        src, dst, wts = [], [], []
        for d in range(1, steps + 1):
            same = ev.session[:-d] == ev.session[d:]
            if not same.any():
                break  # no session is longer than d events
            src.append(ev.rows[:-d][same])
            dst.append(ev.rows[d:][same])
            wts.append(np.full(int(same.sum()), 1.0 / d))
        rules = sp.coo_matrix(
            (_cat(wts, np.float64), (_cat(src, np.int64), _cat(dst, np.int64))), shape=(n_items, n_items)
        ).tocsr()
        rules.sum_duplicates()
        rules.sort_indices()
        if pruning is not None:
            rules = _prune(rules, pruning)
        return cls(rules=rules, steps=steps, pruning=pruning)

    def score(self, session_rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Scores [n_items] float64 from the session's last item; all zeros for an empty session."""
        rows = _check_rows(session_rows, self.n_items, "session")
        if rows.size == 0:
            return np.zeros(self.n_items, dtype=np.float64)
        return self.rules.getrow(int(rows[-1])).toarray().ravel()

    def score_batch(self, sessions: Sequence[Sequence[int]]) -> np.ndarray:
        """``[score(s) for s in sessions]`` as one [B, n_items] array."""
        return _stack([self.score(s) for s in sessions], self.n_items)


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


def _prune(rules: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Each row's ``keep`` largest entries (ties: lower column kept)."""
    owner = np.repeat(np.arange(rules.shape[0]), np.diff(rules.indptr))
    order = np.lexsort((rules.indices, -rules.data, owner))
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size) - rules.indptr[owner[order]]
    kept = rank < keep
    out = sp.csr_matrix(
        (rules.data[kept], (owner[kept], rules.indices[kept])), shape=rules.shape, dtype=np.float64
    )
    out.sort_indices()
    return out


# ------------------------------------------------------------------------------------- session-kNN


@dataclass(frozen=True, eq=False)
class SessionKNN:
    """Session-based kNN ("SKNN", Jannach & Ludewig 2017), sessions taken as item sets.

    For the current session ``s`` (its set of items ``A``) and a training session ``b`` (its set ``B``)::

        sim(s, b) = |A ∩ B| / sqrt(|A| · |B|)                        (cosine of binary vectors)
        N(s)      = the k_neighbours most similar sessions among the candidates
        score(i)  = sum_{b in N(s), i in b} sim(s, b)

    Candidates are the training sessions sharing at least one item with ``A``; when there are more than
    ``sample_size``, only the ``sample_size`` most recent (by their last timestamp) are kept, as in the
    paper (``sampling='recent'``). Ties: for sampling, a later last timestamp wins, then the larger
    ``session_id`` (string order); for the neighbours, the higher similarity wins, then the same recency
    order. ``sample_size=None`` keeps every candidate.

    Vectorised with scipy.sparse: ``sessions`` [S, n_items] and ``item_sessions`` [n_items, S] are binary
    CSR matrices; one query is a row slice, a ``unique`` for the overlaps, one partition for the sample,
    one sort over at most ``sample_size`` candidates and one sparse product for the scores.
    The V-SKNN position weighting (Ludewig & Jannach 2018) is not implemented.
    """

    sessions: sp.csr_matrix
    item_sessions: sp.csr_matrix
    session_length: np.ndarray  # [S] distinct items per session
    recency_rank: np.ndarray  # [S] 0 = the most recent session
    session_ids: np.ndarray  # [S] object
    k_neighbours: int
    sample_size: int | None

    @property
    def n_items(self) -> int:
        return int(self.sessions.shape[1])

    @classmethod
    def fit(
        cls,
        sessions: pd.DataFrame,
        n_items: int,
        *,
        items: IdVocabulary | None = None,
        k_neighbours: int = 100,
        sample_size: int | None = 500,
    ) -> SessionKNN:
        """Index the training sessions as item sets (see the class docstring for the defaults' source)."""
        k_neighbours = int(_check_positive_int(k_neighbours, "k_neighbours"))  # type: ignore[arg-type]
        sample_size = _check_positive_int(sample_size, "sample_size", allow_none=True)
        ev = _events(sessions, n_items, items)
        n_sessions = len(ev.session_ids)
        mat = sp.csr_matrix(
            (np.ones(ev.rows.size), (ev.session, ev.rows)), shape=(n_sessions, n_items), dtype=np.float64
        )
        mat.sum_duplicates()
        mat.data[:] = 1.0  # a set: a repeated item counts once
        mat.sort_indices()
        by_time = np.lexsort((np.arange(n_sessions), ev.last_time))  # oldest first; codes follow id order
        rank = np.empty(n_sessions, dtype=np.int64)
        rank[by_time[::-1]] = np.arange(n_sessions)
        item_sessions = mat.T.tocsr()
        item_sessions.sort_indices()
        return cls(
            sessions=mat,
            item_sessions=item_sessions,
            session_length=np.diff(mat.indptr).astype(np.int64),
            recency_rank=rank,
            session_ids=ev.session_ids,
            k_neighbours=k_neighbours,
            sample_size=sample_size,
        )

    def neighbours(self, session_rows: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(session codes, similarities)`` of the chosen neighbours, most similar first."""
        rows = _check_rows(session_rows, self.n_items, "session")
        query = np.unique(rows)
        if query.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        hits = self.item_sessions[query]
        cand, overlap = np.unique(hits.indices, return_counts=True)
        if self.sample_size is not None and cand.size > self.sample_size:
            recent = np.argpartition(self.recency_rank[cand], self.sample_size - 1)[: self.sample_size]
            cand, overlap = cand[recent], overlap[recent]
        sims = overlap / np.sqrt(query.size * self.session_length[cand].astype(np.float64))
        order = np.lexsort((self.recency_rank[cand], -sims))[: self.k_neighbours]
        return cand[order].astype(np.int64), sims[order]

    def score(self, session_rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Scores [n_items] float64: the summed similarity of the neighbours holding each item."""
        nb, sims = self.neighbours(session_rows)
        if nb.size == 0:
            return np.zeros(self.n_items, dtype=np.float64)
        return np.asarray(self.sessions[nb].T @ sims, dtype=np.float64).ravel()

    def score_batch(self, sessions: Sequence[Sequence[int]]) -> np.ndarray:
        """``[score(s) for s in sessions]`` as one [B, n_items] array."""
        return _stack([self.score(s) for s in sessions], self.n_items)


def _stack(rows: list[np.ndarray], n_items: int) -> np.ndarray:
    return np.vstack(rows) if rows else np.zeros((0, n_items), dtype=np.float64)


# -------------------------------------------------------------------------------------------- top-k


def top_k(
    scores: np.ndarray, k: int, exclude: Sequence[Sequence[int] | np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best items of each row of a dense score matrix, skipping excluded rows.

    ``recaudit.scoring`` selects from inner products of embedding tables (its kernels compute the scores
    themselves), so it has no entry point for a score matrix that is already dense; this follows its
    conventions: ties go to the lower item row, excluded items never appear, a row with fewer than ``k``
    eligible items is padded with score ``-inf`` and row ``-1``. Items scoring 0 are eligible (a baseline
    that knows nothing of an item still ranks it, after every item it does know).

    Args:
        scores: [B, I] finite numbers.
        k: list length, >= 1.
        exclude: None or B arrays of item rows (in [0, I)) to leave out of each list.

    Returns:
        ``(values, rows)``: float64 [B, k] sorted descending, and int64 [B, k].
    """
    k = int(_check_positive_int(k, "k"))  # type: ignore[arg-type]
    s = np.asarray(scores)
    if s.ndim != 2 or not (np.issubdtype(s.dtype, np.floating) or np.issubdtype(s.dtype, np.integer)):
        raise RecauditInputError("scores", f"expected a 2-D numeric array, got {s.dtype}, shape {s.shape}")
    s = np.array(s, dtype=np.float64, copy=True)
    if not np.isfinite(s).all():
        raise RecauditInputError("scores", "scores must be finite (NaN or infinite values found)")
    n_q, n_items = s.shape
    if exclude is not None:
        if len(exclude) != n_q:
            raise RecauditInputError("exclude", f"{len(exclude)} exclusion lists for {n_q} score rows")
        ex = [_check_rows(e, n_items, "exclude") for e in exclude]
        q = np.repeat(np.arange(n_q), [e.size for e in ex])
        s[q, np.concatenate(ex) if ex else np.zeros(0, np.int64)] = NEG_INF
    vals = np.full((n_q, k), NEG_INF, dtype=np.float64)
    rows = np.full((n_q, k), -1, dtype=np.int64)
    if n_q == 0 or n_items == 0:
        return vals, rows
    if k < n_items:
        kth = np.partition(s, n_items - k, axis=1)[:, n_items - k]  # the k-th largest score
        above = s > kth[:, None]
        tied = s == kth[:, None]
        # of the items tied at the k-th score, the lowest rows fill the places left after those above
        room = k - above.sum(axis=1)
        live = above | (tied & (np.cumsum(tied, axis=1) <= room[:, None]))
    else:
        live = np.ones_like(s, dtype=bool)
    qry, col = np.nonzero(live)
    v = s[qry, col]
    order = np.lexsort((col, -v, qry))  # query, then score descending, then lower row
    qry, col, v = qry[order], col[order], v[order]
    pos = np.arange(qry.size) - np.searchsorted(qry, np.arange(n_q))[qry]
    keep = (pos < k) & (v > NEG_INF)
    vals[qry[keep], pos[keep]] = v[keep]
    rows[qry[keep], pos[keep]] = col[keep]
    return vals, rows
