"""The live path: one event in, that user's fresh top-k out, with the session encoder or the fold-in.

:class:`LiveScorer` is what ``recaudit replay``, the micro-batcher (:mod:`recaudit.realtime.batching`), the
Live session page and ``benchmarks/bench_sessions.py`` share. For a batch of events (one event is a batch of
one) it

1. appends each event to its session in the :class:`~recaudit.realtime.store.SessionStore`, **in the
   batch's order** (so two events of one session in one batch are applied in order, and each is answered
   from its own prefix of the session); an item outside the catalogue (row -1) adds nothing and is
   counted. The whole batch is checked first (item rows, timestamps), so a bad event raises
   :class:`~recaudit.errors.RecauditInputError` before any event of its batch reaches the store;
2. computes each event's query vector:

   * with a session encoder (the bundle's ``session`` component): the encoder's vector of the session so far
     (:meth:`~recaudit.models.session.encoder.SessionEncoder.advance`, O(1) per event for a GRU through the
     state kept in the store's vector slot, written back with a compare-and-set on the session length),
     fused with the long-term vector (the bundle's user row; none for an unknown user) by the encoder's
     :class:`~recaudit.models.session.fusion.SessionFusion`. When the batch has taken longer than the
     **time budget** (``budget_ms``, counted from before step 1, so the store's appends count too) by the
     end of the encoder step, the batch is served from the base embedding (the user row; zero, i.e.
     popularity through the bias, for an unknown user) and each of its events counts as a fallback (the
     encoder states are still written back, so the next event does not pay for this one); an event whose
     session is still empty (its first item is outside the catalogue) is served the base embedding too;
   * without one: the closed-form fold-in of the user's training history and the session
     (``new_user_solver("foldin")``, as ``recommend --history`` scores a history);

3. scores every query in **one** call of the scorer (exact by default; any scorer over the bundle's tables,
   e.g. an IVF :class:`~recaudit.scoring.FaissScorer` for large catalogues), excluding the user's training
   items and the session's items.

Latency of an event is the time of its batch on the scorer's clock (wall time by default), from before
step 1 to after step 3. The counters keep the latest :data:`LATENCY_WINDOW` latencies, so a long-running
scorer's memory stays bounded.

Failure: a batch that raises after step 1 (the encoder or the scorer) has still appended its events to the
store; the caller gets the exception and no lists.

Concurrency: a :class:`LiveScorer` holds no mutable state of its own besides counters updated under a lock;
the store carries the sessions (its own contract applies), the encoder and the scorers are read-only. Two
threads may call :meth:`LiveScorer.update_batch` at once; events of one session sent from two threads are
applied in the store's order, so a caller that needs a session's order keeps that session on one thread (the
micro-batcher does).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from recaudit.bundle import Bundle
from recaudit.errors import RecauditInputError
from recaudit.models.newusers import new_user_solver
from recaudit.realtime.store import InProcessSessionStore, SessionState, SessionStore, check_timestamp

__all__ = [
    "LATENCY_WINDOW",
    "LiveCounters",
    "LiveEvent",
    "LiveScorer",
    "LiveUpdate",
    "MODE_ENCODER",
    "MODE_FOLDIN",
    "session_key",
]

MODE_FOLDIN = "fold-in of history + session"
MODE_ENCODER = "session encoder"
LATENCY_WINDOW = 100_000
"""How many of the latest per-event latencies :meth:`LiveScorer.counters` keeps."""


def session_key(user: str, session: str) -> str:
    """The store key of one user's session."""
    return f"{user}\x1f{session}"


@dataclass(frozen=True)
class LiveEvent:
    """One event: ``item_row`` is the item's row in the bundle, -1 for an item outside the catalogue."""

    user: str
    session: str
    item_row: int
    timestamp: float


@dataclass(frozen=True)
class LiveUpdate:
    """The answer to one event.

    Attributes:
        event: the event.
        item_rows: ``[k]`` the new top-k item rows (-1 padded when fewer items are left).
        scores: ``[k]`` their scores (-inf where padded).
        session_items: the session's item rows after this event, oldest first.
        query: the query vector served (fused, base or fold-in).
        session_vector: the encoder's vector of the session, or None (fold-in, empty session, fallback).
        latency_ms: the time of the event's batch (the scorer's clock).
        fell_back: whether the base embedding was served because the budget ran out.
        unknown_item: whether the event's item is outside the catalogue.
    """

    event: LiveEvent
    item_rows: np.ndarray
    scores: np.ndarray
    session_items: tuple[int, ...]
    query: np.ndarray
    session_vector: np.ndarray | None
    latency_ms: float
    fell_back: bool
    unknown_item: bool


@dataclass
class LiveCounters:
    """Totals since the scorer was made (read them with :meth:`LiveScorer.counters`); ``latencies_ms``
    holds one entry per event, the latest :data:`LATENCY_WINDOW` only."""

    events: int = 0
    fallbacks: int = 0
    unknown_items: int = 0
    latencies_ms: list[float] = field(default_factory=list)


class LiveScorer:
    """Score users live from their sessions (see the module docstring for what one update does).

    Args:
        bundle: the loaded bundle (its tables, training history and optional session encoder).
        store: the session store (default: in-process, one-day TTL, a million sessions).
        scorer: any scorer over the bundle's tables with ``recommend_vectors`` (default: the exact one).
        use_encoder: ``True``: the bundle's session encoder (it must have one); ``False``: fold-in;
            ``None``: the encoder when the bundle has one.
        budget_ms: the time a batch may take up to the end of its encoder step (see the module docstring);
            None: the encoder's configured one; 0: no budget.
        clock: seconds, monotone, for the budget and the latencies (tests pass a fake one to force the
            budget).

    Raises:
        RecauditInputError: ``use_encoder=True`` for a bundle without a session encoder, or the bundle's
            ``session`` component does not fit its items.
    """

    def __init__(
        self,
        bundle: Bundle,
        *,
        store: SessionStore | None = None,
        scorer: object | None = None,
        use_encoder: bool | None = None,
        budget_ms: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.bundle = bundle
        if store is None:
            store = InProcessSessionStore(ttl_s=86_400.0, capacity=1_000_000)
        self.store = store
        self.scorer = scorer if scorer is not None else bundle.exact_scorer("cpu")
        # only load the encoder (torch) when it may be used
        encoder = bundle.session_encoder if use_encoder is not False else None
        if use_encoder and encoder is None:
            raise RecauditInputError(
                bundle.path or "bundle",
                "has no session encoder",
                hint="train one with recaudit train --session gru|sasrec",
            )
        self.encoder = encoder
        if budget_ms is None:
            budget_ms = self.encoder.config.budget_ms if self.encoder is not None else 0.0
        self.budget_ms = float(budget_ms)
        self._clock = clock
        self._fold = new_user_solver(
            "foldin", bundle.item_emb, bundle.user_emb, cosine=bundle.score == "cosine"
        )
        self._lock = threading.Lock()
        self._counters = LiveCounters()
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._n_items = int(bundle.item_emb.shape[0])
        # plain dicts: a pandas lookup per event costs more than the IVF search of a batch
        self._user_rows: dict[str, int] = {str(u): r for r, u in enumerate(bundle.user_ids)}
        self._seen = bundle.seen

    @property
    def mode(self) -> str:
        """How queries are made: :data:`MODE_FOLDIN`, or :data:`MODE_ENCODER` with the encoder's label and
        fusion, e.g. ``"session encoder (GRU4Rec session encoder; session weight 0.5 at every length)"``."""
        if self.encoder is None:
            return MODE_FOLDIN
        return f"{MODE_ENCODER} ({self.encoder.label}; {self.encoder.fusion.describe()})"

    def counters(self) -> LiveCounters:
        """A copy of the totals."""
        with self._lock:
            c = self._counters
            return LiveCounters(c.events, c.fallbacks, c.unknown_items, list(self._latencies))

    def history_rows(self, user: str) -> np.ndarray:
        """The user's training item rows (none for a user the bundle does not know)."""
        row = self._user_rows.get(user)
        if row is None:
            return np.zeros(0, np.int64)
        seen = self._seen
        return seen.indices[seen.indptr[row] : seen.indptr[row + 1]].astype(np.int64)

    def update(self, event: LiveEvent, k: int = 10) -> LiveUpdate:
        """One event (a batch of one)."""
        return self.update_batch([event], k)[0]

    def update_batch(self, events: Sequence[LiveEvent], k: int = 10) -> list[LiveUpdate]:
        """Apply ``events`` in order and answer each with its user's new top-k (one scoring call).

        Raises:
            RecauditInputError: an event's item row is not -1 or a row of the bundle, or its timestamp is
                not a finite number (raised before any event of the batch is applied).
        """
        if not events:
            return []
        for ev in events:
            row = ev.item_row
            integral = isinstance(row, (int, np.integer)) and not isinstance(row, bool)
            if not (integral and -1 <= row < self._n_items):
                raise RecauditInputError(
                    "live event", f"item row {row!r} is not -1 or a row of the bundle's {self._n_items} items"
                )
            check_timestamp(ev.timestamp, source="live event")
        began = self._clock()
        snapshots: list[SessionState | None] = []
        for ev in events:
            key = session_key(ev.user, ev.session)
            if ev.item_row >= 0:
                snapshots.append(self.store.append(key, int(ev.item_row), float(ev.timestamp)))
            else:
                snapshots.append(self.store.get(key))
        sessions = [tuple(s.items) if s is not None else () for s in snapshots]
        histories = [self.history_rows(ev.user) for ev in events]
        queries, session_vecs, fell_back = self._queries(events, snapshots, sessions, histories, began)
        # duplicates are harmless in an exclusion list; concatenating is cheaper than a sorted union
        exclude = [
            np.concatenate([h, np.asarray(s, np.int64)]) for h, s in zip(histories, sessions, strict=True)
        ]
        lists = self.scorer.recommend_vectors(queries, k, exclude=exclude)  # type: ignore[attr-defined]
        latency = (self._clock() - began) * 1000.0
        served_vecs = session_vecs is not None and not fell_back
        out = [
            LiveUpdate(ev, lists.item_index[b].copy(), lists.scores[b].copy(), sessions[b], queries[b].copy(),
                       session_vecs[b].copy() if served_vecs and sessions[b] else None,  # type: ignore[index]
                       latency, fell_back, ev.item_row < 0)
            for b, ev in enumerate(events)
        ]  # fmt: skip
        with self._lock:
            c = self._counters
            c.events += len(events)
            c.fallbacks += len(events) if fell_back else 0
            c.unknown_items += sum(ev.item_row < 0 for ev in events)
            self._latencies.extend([latency] * len(events))
        return out

    def _long_term(self, events: Sequence[LiveEvent]) -> tuple[np.ndarray, np.ndarray]:
        """``[B, d]`` the users' rows (zeros for unknown users) and whether each has one."""
        rows = np.asarray([self._user_rows.get(ev.user, -1) for ev in events], np.int64)
        known = rows >= 0
        vectors = np.zeros((len(events), self.bundle.dim), np.float32)
        vectors[known] = self.bundle.user_emb[rows[known]]
        return vectors, known

    def _queries(
        self,
        events: Sequence[LiveEvent],
        snapshots: list[SessionState | None],
        sessions: list[tuple[int, ...]],
        histories: list[np.ndarray],
        began: float,
    ) -> tuple[np.ndarray, np.ndarray | None, bool]:
        """(queries ``[B, d]``, session vectors or None, whether the batch fell back)."""
        if self.encoder is None:
            known = [np.union1d(h, np.asarray(s, np.int64)) for h, s in zip(histories, sessions, strict=True)]
            queries = np.stack([self._fold.fit(rows) for rows in known]).astype(np.float32)
            return queries, None, False
        long_term, known = self._long_term(events)
        active = [b for b, s in enumerate(sessions) if s]
        session_vecs = np.zeros_like(long_term)
        if active:
            states = [snapshots[b].vector if snapshots[b] is not None else None for b in active]  # type: ignore[union-attr]
            vecs, new_states = self.encoder.advance(states, [sessions[b] for b in active])
            session_vecs[active] = vecs
            for j, b in enumerate(active):
                ev = events[b]
                self.store.set_vector(
                    session_key(ev.user, ev.session), new_states[j], expected_len=len(sessions[b])
                )
        if self.budget_ms and (self._clock() - began) * 1000.0 > self.budget_ms:
            return long_term, session_vecs, True
        lengths = np.asarray([max(len(s), 1) for s in sessions], np.int64)
        has_session = np.asarray([bool(s) for s in sessions])
        fused = self.encoder.fusion.fuse(long_term, session_vecs, lengths, known)
        fused[~has_session] = long_term[~has_session]
        return fused, session_vecs, False
