"""Session state for streaming events: the :class:`SessionStore` interface and its in-process store.

A session's state is what a session encoder needs to follow the user event by event without retraining
(issue 11, item 3): the item rows of the session in arrival order, the time of the last update, the
event time of the last event, and one opaque float32 vector slot where an encoder keeps its running state
(a GRU's hidden state, a running mean, ...). The store does not interpret the vector.

Bounds (both backends, same semantics):

* **TTL**: a session lives ``ttl_s`` seconds of the store's clock after its last *update* (an
  :meth:`~SessionStore.append` or :meth:`~SessionStore.set_vector`); reads do not extend it. At
  ``clock() >= updated_at + ttl_s`` the session is gone: ``get`` answers None, ``append`` starts a fresh
  session, and :meth:`~SessionStore.sweep` (also run, amortised, by every append) frees it.
* **LRU capacity**: at most ``capacity`` sessions are held. Creating one more first frees the expired
  sessions, then evicts the least recently *used* (appended to or read) live ones. An expired session
  never costs a live one its place.

The clock is injectable (``clock=``, a zero-argument callable returning seconds, non-decreasing), so tests
move time by hand instead of sleeping. The in-process default is :func:`time.monotonic`.

Concurrency contract (:class:`InProcessSessionStore`; :mod:`recaudit.realtime.redis_store` gives the
same guarantees across processes):

* Every public method is atomic: it runs entirely under the store's one lock, so calls from any number of
  threads behave as if run one at a time in some order (linearisable). An append's read of the previous
  state, its ``step`` call, the write of the new state, the LRU/TTL bookkeeping and any evictions it
  causes are one step; no other call sees a half-done append.
* Order per key: appends to one session are applied in the order they take the lock. Appends one thread
  makes to a key in sequence are applied in that thread's order; appends racing from different threads
  are applied in some order, and every snapshot is consistent with it: the snapshot an append returns
  holds exactly the items of the appends applied before it plus its own, last.
* ``step(previous_vector, items)`` runs exactly once per append, under the lock, with the vector left
  by the immediately preceding update of that session (None for a fresh session). Keep it short (one
  encoder step) and never call the store from it (the lock is not re-entrant: that deadlocks). Batched
  encoding runs outside the store and writes back with :meth:`~SessionStore.set_vector`, which is a
  compare-and-set on the session's length, so a vector computed from a stale prefix is refused.
* Snapshots are immutable: :class:`SessionState` is a frozen dataclass, ``items`` a tuple, and
  ``vector`` a private read-only float32 copy (writing into it raises). A snapshot never changes after it
  is returned, whatever happens to the session later; vectors handed to the store are copied in.
"""

from __future__ import annotations

import abc
import math
import operator
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from recaudit.errors import RecauditInputError

__all__ = [
    "Clock",
    "InProcessSessionStore",
    "SessionState",
    "SessionStore",
    "Step",
    "frozen_vector",
]

Clock = Callable[[], float]
Step = Callable[["np.ndarray | None", tuple[int, ...]], np.ndarray]
_SOURCE = "session store"


def frozen_vector(vector: object, *, source: str = _SOURCE) -> np.ndarray:
    """A private, read-only, 1-D float32 copy of ``vector`` (finite values only)."""
    try:
        out = np.array(vector, dtype=np.float32, copy=True)
    except (TypeError, ValueError) as exc:
        raise RecauditInputError(source, f"the session vector is not numeric: {exc}") from None
    if out.ndim != 1:
        raise RecauditInputError(source, f"the session vector must be 1-D, got shape {out.shape}")
    if not np.all(np.isfinite(out)):
        raise RecauditInputError(source, "the session vector has NaN or infinite values")
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class SessionState:
    """An immutable snapshot of one session.

    Attributes:
        key: the session key.
        items: the session's item rows, in the order the store applied them.
        updated_at: the store's clock at the last update (the TTL counts from here).
        last_event_time: the ``timestamp`` of the last appended event (the caller's event time).
        vector: the encoder's state slot, read-only float32, or None when never set.
    """

    key: str
    items: tuple[int, ...]
    updated_at: float
    last_event_time: float
    vector: np.ndarray | None = field(default=None)

    def __len__(self) -> int:
        return len(self.items)


def check_item_row(item_row: object, *, source: str = _SOURCE) -> int:
    try:
        row = operator.index(item_row)  # type: ignore[arg-type]
    except TypeError:
        raise RecauditInputError(source, f"item row {item_row!r} is not an integer") from None
    if row < 0:
        raise RecauditInputError(source, f"item row {row} is negative")
    return int(row)


def check_timestamp(timestamp: object, *, source: str = _SOURCE) -> float:
    try:
        value = float(timestamp)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RecauditInputError(source, f"timestamp {timestamp!r} is not a number") from None
    if not math.isfinite(value):
        raise RecauditInputError(source, f"timestamp {timestamp!r} is not finite")
    return value


def check_key(session_key: object, *, source: str = _SOURCE) -> str:
    if not isinstance(session_key, str) or not session_key:
        raise RecauditInputError(source, f"session key {session_key!r} must be a non-empty string")
    return session_key


def check_bounds(ttl_s: float, capacity: int, *, source: str = _SOURCE) -> tuple[float, int]:
    try:
        ttl = math.nan if isinstance(ttl_s, bool) else float(ttl_s)
    except (TypeError, ValueError):
        ttl = math.nan
    if not (math.isfinite(ttl) and ttl > 0):
        raise RecauditInputError(source, f"ttl_s must be a positive number of seconds, got {ttl_s!r}")
    try:
        cap = operator.index(capacity)
    except TypeError:
        raise RecauditInputError(source, f"capacity must be a whole number, got {capacity!r}") from None
    if cap < 1:
        raise RecauditInputError(source, f"capacity must be at least 1 session, got {capacity!r}")
    return ttl, int(cap)


class SessionStore(abc.ABC):
    """Per-session streaming state bounded by TTL and LRU capacity (contract: the module docstring)."""

    ttl_s: float
    capacity: int

    @abc.abstractmethod
    def append(
        self, session_key: str, item_row: int, timestamp: float, *, step: Step | None = None
    ) -> SessionState:
        """Append one event to the session (creating it, or restarting an expired one) and return the
        snapshot right after it. With ``step``, the vector slot becomes ``step(previous_vector, items)``
        (``items`` including this event), atomically with the append; without, the slot is kept."""

    @abc.abstractmethod
    def get(self, session_key: str) -> SessionState | None:
        """The session's snapshot, or None when it is absent or expired. Counts as a use (LRU), not as an
        update (TTL)."""

    @abc.abstractmethod
    def set_vector(self, session_key: str, vector: np.ndarray, *, expected_len: int) -> SessionState | None:
        """Store ``vector`` in the slot if the session is live and still has ``expected_len`` items (the
        prefix the vector was computed from); return the new snapshot, or None (nothing written) when
        the session is gone or has moved on. An update: it restarts the TTL."""

    @abc.abstractmethod
    def drop(self, session_key: str) -> bool:
        """Forget the session; True when a live session was dropped."""

    @abc.abstractmethod
    def sweep(self) -> int:
        """Free every expired session now; return how many were freed."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """The number of live sessions held (expired ones are swept first)."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op for the in-process store
        """Release connections, if any."""


class InProcessSessionStore(SessionStore):
    """The default store: dictionaries in this process under one lock (see the module docstring)."""

    def __init__(
        self, *, ttl_s: float = 1800.0, capacity: int = 100_000, clock: Clock = time.monotonic
    ) -> None:
        self.ttl_s, self.capacity = check_bounds(ttl_s, capacity)
        self._clock = clock
        self._lock = threading.Lock()
        # key -> snapshot, least recently used first.
        self._lru: OrderedDict[str, SessionState] = OrderedDict()
        # key -> None, least recently updated first (= oldest updated_at first, the clock being monotone).
        self._by_update: OrderedDict[str, None] = OrderedDict()

    # -- helpers, called with the lock held -------------------------------------------------------------

    def _expired(self, state: SessionState, now: float) -> bool:
        return state.updated_at <= now - self.ttl_s

    def _remove(self, key: str) -> None:
        self._lru.pop(key, None)
        self._by_update.pop(key, None)

    def _sweep_locked(self, now: float) -> int:
        freed = 0
        while self._by_update:
            key = next(iter(self._by_update))
            if not self._expired(self._lru[key], now):
                break
            self._remove(key)
            freed += 1
        return freed

    def _live(self, key: str, now: float) -> SessionState | None:
        state = self._lru.get(key)
        if state is not None and self._expired(state, now):
            self._remove(key)
            return None
        return state

    def _write(self, state: SessionState) -> None:
        self._lru[state.key] = state
        self._lru.move_to_end(state.key)
        self._by_update[state.key] = None
        self._by_update.move_to_end(state.key)

    # -- the interface ------------------------------------------------------------------------------------

    def append(
        self, session_key: str, item_row: int, timestamp: float, *, step: Step | None = None
    ) -> SessionState:
        key = check_key(session_key)
        row = check_item_row(item_row)
        event_time = check_timestamp(timestamp)
        with self._lock:
            now = float(self._clock())
            self._sweep_locked(now)
            previous = self._live(key, now)
            items = (previous.items if previous is not None else ()) + (row,)
            vector = previous.vector if previous is not None else None
            if step is not None:
                vector = frozen_vector(step(vector, items))
            state = SessionState(key, items, now, event_time, vector)
            if previous is None:
                # A new session: make room (expired ones went in the sweep above), then add it.
                while len(self._lru) >= self.capacity:
                    oldest = next(iter(self._lru))
                    self._remove(oldest)
            self._write(state)
            return state

    def get(self, session_key: str) -> SessionState | None:
        key = check_key(session_key)
        with self._lock:
            state = self._live(key, float(self._clock()))
            if state is not None:
                self._lru.move_to_end(key)
            return state

    def set_vector(self, session_key: str, vector: np.ndarray, *, expected_len: int) -> SessionState | None:
        key = check_key(session_key)
        frozen = frozen_vector(vector)
        with self._lock:
            now = float(self._clock())
            previous = self._live(key, now)
            if previous is None or len(previous.items) != expected_len:
                return None
            state = SessionState(key, previous.items, now, previous.last_event_time, frozen)
            self._write(state)
            return state

    def drop(self, session_key: str) -> bool:
        key = check_key(session_key)
        with self._lock:
            live = self._live(key, float(self._clock())) is not None
            self._remove(key)
            return live

    def sweep(self) -> int:
        with self._lock:
            return self._sweep_locked(float(self._clock()))

    def __len__(self) -> int:
        with self._lock:
            self._sweep_locked(float(self._clock()))
            return len(self._lru)
