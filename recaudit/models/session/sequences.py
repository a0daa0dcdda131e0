"""Sessions as item-row sequences, the form every session encoder trains and is evaluated on.

:func:`session_sequences` cuts interactions into sessions (:func:`recaudit.data.sessions.assign_sessions`:
a ``session_id`` column, else a gap over ``gap_s``), maps items to the bundle's rows (events with items the
bundle does not have are dropped) and orders the sessions by start time. :meth:`SessionSequences.split_latest`
holds out the latest sessions, the chronological validation slice of training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recaudit.data.schema import ITEM_ID, SESSION_ID, TIMESTAMP, USER_ID
from recaudit.data.sessions import assign_sessions, epoch_seconds
from recaudit.data.vocab import IdVocabulary


@dataclass(frozen=True)
class SessionSequences:
    """Sessions in start-time order; session ``s`` is ``items[offsets[s]:offsets[s + 1]]``, oldest first.

    Attributes:
        items: int64 item rows of every event, session after session.
        offsets: ``[S + 1]`` int64 session boundaries.
        users: ``[S]`` the user id of each session (str).
        sessions: ``[S]`` the session id (str).
        starts: ``[S]`` float64 start time (seconds) of each session.
    """

    items: np.ndarray
    offsets: np.ndarray
    users: np.ndarray
    sessions: np.ndarray
    starts: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """``[S]`` events per session."""
        return np.diff(self.offsets)

    def session(self, s: int) -> np.ndarray:
        """The item rows of session ``s``."""
        return self.items[self.offsets[s] : self.offsets[s + 1]]

    def select(self, keep: np.ndarray) -> SessionSequences:
        """The sessions where ``keep`` (bool ``[S]``) holds, in their order."""
        idx = np.flatnonzero(keep)
        parts = [self.session(int(s)) for s in idx]
        lengths = np.asarray([len(p) for p in parts], np.int64)
        return SessionSequences(
            items=np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64),
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            users=self.users[idx], sessions=self.sessions[idx], starts=self.starts[idx],
        )  # fmt: skip

    def at_least(self, n: int) -> SessionSequences:
        """The sessions with at least ``n`` events (a next-item target needs 2)."""
        return self.select(self.lengths >= n)

    def split_latest(self, fraction: float) -> tuple[SessionSequences, SessionSequences]:
        """(earlier, latest): the latest ``round(fraction * S)`` sessions by start time held out."""
        n_valid = int(round(fraction * len(self)))
        keep = np.ones(len(self), dtype=bool)
        if n_valid > 0:
            keep[len(self) - n_valid :] = False  # already in start order
        return self.select(keep), self.select(~keep)


def session_sequences(interactions: pd.DataFrame, items: IdVocabulary, gap_s: int) -> SessionSequences:
    """The sessions of ``interactions`` as rows of ``items``, in start-time order (ties: session id).

    Events whose item ``items`` does not hold are dropped (a session left empty disappears).
    """
    cut = assign_sessions(interactions, gap_s)
    rows = items.rows(cut[ITEM_ID].astype(str).to_numpy(dtype=object), strict=False)
    cut = cut.assign(_row=rows, _t=epoch_seconds(cut[TIMESTAMP]))
    cut = cut[cut["_row"] >= 0]
    if cut.empty:
        return SessionSequences(
            np.zeros(0, np.int64),
            np.zeros(1, np.int64),
            np.zeros(0, object),
            np.zeros(0, object),
            np.zeros(0, np.float64),
        )
    key = cut[USER_ID].astype(str) + "\x1f" + cut[SESSION_ID].astype(str)
    cut = cut.assign(
        _key=key.to_numpy(), _start=cut.groupby(key.to_numpy(), sort=False)["_t"].transform("min")
    )
    cut = cut.sort_values(["_start", "_key"], kind="mergesort")  # events keep their session order
    new = np.ones(len(cut), dtype=bool)
    keys = cut["_key"].to_numpy()
    new[1:] = keys[1:] != keys[:-1]
    first = np.flatnonzero(new)
    return SessionSequences(
        items=cut["_row"].to_numpy(dtype=np.int64),
        offsets=np.concatenate([first, [len(cut)]]).astype(np.int64),
        users=cut[USER_ID].astype(str).to_numpy(dtype=object)[first],
        sessions=cut[SESSION_ID].astype(str).to_numpy(dtype=object)[first],
        starts=cut["_start"].to_numpy(dtype=np.float64)[first],
    )
