"""Cut each user's events into sessions (docs/metrics.md, "Sessions").

A session is a user's events ordered by time and split wherever the gap between two consecutive events
exceeds ``gap_s`` seconds (default 30 minutes). A gap of exactly ``gap_s`` does not split. When the events
carry a ``session_id`` column, that column defines the sessions instead, and the events of each session are
ordered by time.

Ties in time keep the order of the input rows (the sort is stable), so a file replayed in order gives the
same sessions every time. Session ids cut from time are ``f"{user_id}:{k}"``, k = 0, 1, ... counting the
user's sessions in time order, so the same events always get the same ids.

Everything here is a pure function of its arguments; nothing reads files (use
:mod:`recaudit.data.readers`, which validates the columns and normalises timestamps to int64 seconds).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from recaudit.data.schema import ITEM_ID, SESSION_ID, TIMESTAMP, USER_ID
from recaudit.errors import RecauditInputError

__all__ = ["DEFAULT_GAP_S", "SESSION_POS", "assign_sessions", "parse_gap"]

DEFAULT_GAP_S = 1800
"""The default session gap: 30 minutes, in seconds (docs/metrics.md, "Sessions")."""

SESSION_POS = "session_pos"
"""The column :func:`assign_sessions` adds: the event's 0-based position within its session."""

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}
_GAP = re.compile(r"(\d+)\s*([smh]?)", re.IGNORECASE)


def parse_gap(text: str | int, source: str = "--session-gap") -> int:
    """A session gap in seconds from ``"45s"``, ``"30m"``, ``"2h"`` or plain seconds (``"1800"``, ``1800``).

    The number is a positive integer; the unit (``s``, ``m`` or ``h``, any case) is optional and defaults to
    seconds. Surrounding spaces are ignored.

    Raises:
        RecauditInputError: one line naming ``source``, the value and the accepted forms, for anything
            else (empty text, a negative, zero or fractional number, an unknown unit).
    """
    if isinstance(text, bool):
        match = None
    elif isinstance(text, int | np.integer):
        match = _GAP.fullmatch(str(int(text)))
    else:
        match = _GAP.fullmatch(str(text).strip())
    seconds = int(match.group(1)) * _UNITS[match.group(2).lower()] if match else 0
    if seconds <= 0:
        raise RecauditInputError(
            source, f"expected a positive session gap such as 30m, 45s, 2h or 1800 (seconds), got {text!r}"
        )
    return seconds


def epoch_seconds(values: pd.Series) -> np.ndarray:
    """Timestamps as numbers of seconds (int64 columns as they are; datetimes converted)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
    return values.to_numpy()


def assign_sessions(
    events: pd.DataFrame,
    gap_s: int = DEFAULT_GAP_S,
    *,
    use_session_id: bool = True,
) -> pd.DataFrame:
    """The events with a ``session_id`` column, sorted by user, session and time.

    - Without a ``session_id`` column (or with ``use_session_id=False``), each user's events are sorted by
      ``timestamp`` (stable: ties keep their input order) and a new session starts after every gap
      ``t[i] − t[i−1] > gap_s``. The sessions are named ``f"{user_id}:{k}"``, k counting from 0 in time order.
    - With a ``session_id`` column (and ``use_session_id=True``), the given ids are kept (per user: the same
      id under two users is two sessions). Each session's events are sorted by time (stable), and a user's
      sessions are ordered by their first timestamp, then by id.

    The result has the input's columns (``session_id`` added or kept, as strings) plus :data:`SESSION_POS`,
    the 0-based position of the event in its session, and a fresh 0..n−1 index. The input is not modified.

    Raises:
        RecauditInputError: a required column (``user_id``, ``item_id``, ``timestamp``) is missing, or a
            given ``session_id`` column has blank cells.
        ValueError: ``gap_s`` is negative.
    """
    if gap_s < 0:
        raise ValueError(f"gap_s must be >= 0, got {gap_s}")
    missing = [c for c in (USER_ID, ITEM_ID, TIMESTAMP) if c not in events.columns]
    if missing:
        raise RecauditInputError("events", f"missing column(s) {missing} (found {list(events.columns)})")
    frame = events.reset_index(drop=True).copy()
    frame["_row"] = np.arange(len(frame))
    frame["_t"] = epoch_seconds(frame[TIMESTAMP])
    given = use_session_id and SESSION_ID in frame.columns
    if given:
        blank = frame[SESSION_ID].isna() | (frame[SESSION_ID].astype(str).str.strip() == "")
        if blank.any():
            raise RecauditInputError(
                "events", f"session_id has {int(blank.sum())} blank cell(s)", "fill them or drop the column"
            )
        frame[SESSION_ID] = frame[SESSION_ID].astype(str)
        frame["_start"] = frame.groupby([USER_ID, SESSION_ID], sort=False)["_t"].transform("min")
        frame = frame.sort_values([USER_ID, "_start", SESSION_ID, "_t", "_row"], kind="mergesort")
    else:
        frame = frame.sort_values([USER_ID, "_t", "_row"], kind="mergesort")
        users = frame[USER_ID].to_numpy()
        t = frame["_t"].to_numpy()
        new_user = np.ones(len(frame), dtype=bool)
        new_user[1:] = users[1:] != users[:-1]
        new = new_user.copy()
        new[1:] |= (t[1:] - t[:-1]) > gap_s
        number = np.cumsum(new)  # global session number, 1-based
        first_of_user = np.maximum.accumulate(np.where(new_user, number, 0))
        k = number - first_of_user
        frame[SESSION_ID] = frame[USER_ID].astype(str).to_numpy() + ":" + k.astype(str)
    frame[SESSION_POS] = frame.groupby([USER_ID, SESSION_ID], sort=False).cumcount().to_numpy()
    drop = ["_row", "_t"] + (["_start"] if given else [])
    return frame.drop(columns=drop).reset_index(drop=True)
