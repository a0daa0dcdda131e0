"""Replay a stream of events through a bundle: after each event, that user's top-k (``recaudit replay``).

Events (``user_id, item_id, timestamp``, optionally ``session_id``) are processed in file order, as a live
system would receive them. Sessions are cut per user by :func:`recaudit.data.sessions.assign_sessions`
(a gap over ``gap_s`` starts a new session, unless ``session_id`` is given). Each event goes through the
live path, :class:`recaudit.realtime.live.LiveScorer`, one event at a time:

* with a session encoder (the bundle's ``session`` component, ``recaudit train --session``): the encoder's
  vector of the session so far fused with the user's vector by the encoder's gate; when an update overruns
  the encoder's time budget the user's base vector is served and the fallback counted;
* without one: the closed-form fold-in of the user's training items (none for a user the bundle does not
  know) and the session's items so far (``new_user_solver("foldin")``, as ``recommend --history``);
* the list excludes every item the user has seen: training history and session.

An event whose item is not in the catalogue adds nothing to the session (the user's list is still
written, from the session so far) and is counted. Latency is measured per event around the update and
the re-score (state append, query, scoring), in milliseconds, on the calling thread.

Concurrency: one replay runs on one thread; the store it uses may be shared (its own contract applies).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recaudit.bundle import Bundle
from recaudit.data.schema import ITEM_ID, SESSION_ID, TIMESTAMP, USER_ID
from recaudit.data.sessions import assign_sessions
from recaudit.realtime.live import MODE_FOLDIN, LiveEvent, LiveScorer
from recaudit.realtime.store import InProcessSessionStore, SessionStore
from recaudit.scoring import Recommendations

__all__ = ["REPLAY_COLUMNS", "ReplayStats", "replay_events", "session_keys"]

REPLAY_COLUMNS = ("event", "user_id", "session_id", "rank", "item_id", "score")


@dataclass
class ReplayStats:
    """What a replay did: events, wall seconds, per-event latencies (ms), unknown items, fallbacks, mode."""

    n_events: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    unknown_items: int = 0
    fallbacks: int = 0
    mode: str = MODE_FOLDIN

    def summary(self) -> str:
        """The one summary line ``recaudit replay`` ends with."""
        rate = self.n_events / self.seconds if self.seconds > 0 else float("inf")
        lat = np.asarray(self.latencies_ms, np.float64)
        p50, p95, p99 = np.percentile(lat, [50, 95, 99]) if lat.size else (float("nan"),) * 3
        return (
            f"replayed {self.n_events} events in {self.seconds:.2f} s: {rate:,.0f} events/s; "
            f"update+score latency p50 {p50:.2f} ms, p95 {p95:.2f} ms, p99 {p99:.2f} ms"
        )


def session_keys(events: pd.DataFrame, gap_s: int) -> np.ndarray:
    """Each event's session id, in the events' own row order (sessions cut per user by time)."""
    cut = assign_sessions(events.reset_index(drop=True).assign(replay_event=np.arange(len(events))), gap_s)
    keys = np.empty(len(events), dtype=object)
    keys[cut["replay_event"].to_numpy(dtype=np.int64)] = cut[SESSION_ID].astype(str).to_numpy(dtype=object)
    return keys


def replay_events(
    bundle: Bundle,
    events: pd.DataFrame,
    *,
    k: int = 10,
    gap_s: int = 1800,
    store: SessionStore | None = None,
    device: str = "cpu",
) -> tuple[Iterator[tuple[int, str, str, Recommendations]], ReplayStats]:
    """Replay ``events`` (validated interactions, file order) and yield ``(event, user, session, lists)``.

    Returns the generator and the :class:`ReplayStats` it fills while it runs (read the stats after the
    generator is exhausted). ``store`` defaults to an in-process store with no TTL pressure (one day).
    """
    store = store if store is not None else InProcessSessionStore(ttl_s=86_400.0, capacity=1_000_000)
    live = LiveScorer(bundle, store=store, scorer=bundle.exact_scorer(device))
    stats = ReplayStats(mode=live.mode)
    sessions = session_keys(events, gap_s)
    rows = bundle.item_vocab.rows(events[ITEM_ID].to_numpy(dtype=object), strict=False)
    users = events[USER_ID].astype(str).to_numpy(dtype=object)
    stamps = events[TIMESTAMP].to_numpy(dtype=np.int64)
    item_ids = np.asarray(bundle.item_ids, dtype=object)

    def run() -> Iterator[tuple[int, str, str, Recommendations]]:
        began = time.perf_counter()
        for event in range(len(events)):
            user, session = str(users[event]), str(sessions[event])
            started = time.perf_counter()
            update = live.update(LiveEvent(user, session, int(rows[event]), float(stamps[event])), k)
            stats.latencies_ms.append((time.perf_counter() - started) * 1000.0)
            stats.unknown_items += int(update.unknown_item)
            stats.fallbacks += int(update.fell_back)
            stats.n_events += 1
            stats.seconds = time.perf_counter() - began
            index = update.item_rows[None, :]
            ids = np.where(index >= 0, item_ids[np.maximum(index, 0)], None)
            lists = Recommendations(
                user_ids=np.asarray([user], dtype=object), item_index=index, item_ids=ids,
                scores=update.scores[None, :],
            )  # fmt: skip
            yield event, user, session, lists

    return run(), stats


def write_replay(
    results: Iterator[tuple[int, str, str, Recommendations]], handle: object, cell: Callable[[str], str]
) -> None:
    """Write ``event,user_id,session_id,rank,item_id,score`` rows (``cell`` neutralises ids for CSV)."""
    import csv

    writer = csv.writer(handle, lineterminator="\n")  # type: ignore[arg-type]
    writer.writerow(REPLAY_COLUMNS)
    for event, user, session, lists in results:
        for rank, (item, score) in enumerate(zip(lists.item_ids[0], lists.scores[0], strict=True), start=1):
            if item is None:
                break
            writer.writerow((event, cell(user), cell(session), rank, cell(str(item)), f"{float(score):.6g}"))
