"""Tables of the Live session page (pure: no Streamlit).

* :func:`top_table`: the current top-k with item titles and categories;
* :func:`list_changes`: the items that entered and left between two lists, and :func:`changes_table`;
* :func:`event_log`: one row per event (event #, item clicked, latency, fallback, items entered);
* :func:`path_points`: the session vector's path on the stored item map (one x, y per event), each point
  placed like a new item or user on the map (:func:`recaudit.views.projection.place_users`: the
  similarity-weighted mean of the map positions of its nearest items);
* :func:`logged_sessions`: a user's sessions in the bundle's test interactions, to step through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recaudit.data.schema import CATEGORY, ITEM_ID, SESSION_ID, TIMESTAMP, TITLE, USER_ID
from recaudit.data.sessions import DEFAULT_GAP_S, assign_sessions
from recaudit.views.projection import ItemMap, place_users

__all__ = [
    "EventRecord",
    "changes_table",
    "event_log",
    "list_changes",
    "logged_sessions",
    "path_points",
    "top_table",
]


def _valid(rows: Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(rows, dtype=np.int64).ravel()
    return arr[arr >= 0]


def top_table(
    items: pd.DataFrame, rows: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> pd.DataFrame:
    """``rank, item_id, title, category, score`` of a list (``-1`` padding dropped)."""
    rows_arr = np.asarray(rows, dtype=np.int64).ravel()
    keep = rows_arr >= 0
    shown = rows_arr[keep]
    out = pd.DataFrame(
        {
            "rank": np.arange(1, len(shown) + 1, dtype=np.int64),
            ITEM_ID: items[ITEM_ID].astype(str).to_numpy()[shown],
        }
    )
    for column in (TITLE, CATEGORY):
        if column in items.columns:
            out[column] = items[column].astype(str).to_numpy()[shown]
    out["score"] = np.round(np.asarray(scores, dtype=np.float64).ravel()[keep], 4)
    return out


def list_changes(
    before: Sequence[int] | np.ndarray, after: Sequence[int] | np.ndarray
) -> tuple[list[int], list[int]]:
    """(entered, left): rows of ``after`` not in ``before`` (in ``after``'s order) and rows of ``before`` not
    in ``after`` (in ``before``'s order)."""
    b, a = _valid(before).tolist(), _valid(after).tolist()
    sb, sa = set(b), set(a)
    return [r for r in a if r not in sb], [r for r in b if r not in sa]


def changes_table(items: pd.DataFrame, entered: Sequence[int], left: Sequence[int]) -> pd.DataFrame:
    """``change, item_id, title`` with the entered items first, then the left ones."""
    ids = items[ITEM_ID].astype(str).to_numpy()
    titles = items[TITLE].astype(str).to_numpy() if TITLE in items.columns else ids
    rows = [("entered", r) for r in entered] + [("left", r) for r in left]
    return pd.DataFrame(
        {
            "change": [c for c, _ in rows],
            ITEM_ID: [ids[r] for _, r in rows],
            TITLE: [titles[r] for _, r in rows],
        }
    )


@dataclass(frozen=True)
class EventRecord:
    """One event as the page logs it."""

    number: int
    item_row: int
    latency_ms: float
    fell_back: bool
    entered: int
    left: int
    source: str = "click"


def event_log(records: Sequence[EventRecord], items: pd.DataFrame) -> pd.DataFrame:
    """``event, item_id, title, source, latency_ms, fallback, entered, left`` per event, oldest first."""
    ids = items[ITEM_ID].astype(str).to_numpy()
    titles = items[TITLE].astype(str).to_numpy() if TITLE in items.columns else ids
    return pd.DataFrame(
        {
            "event": [r.number for r in records],
            ITEM_ID: [ids[r.item_row] if r.item_row >= 0 else "?" for r in records],
            TITLE: [titles[r.item_row] if r.item_row >= 0 else "?" for r in records],
            "source": [r.source for r in records],
            "latency_ms": [round(float(r.latency_ms), 2) for r in records],
            "fallback": [bool(r.fell_back) for r in records],
            "entered": [int(r.entered) for r in records],
            "left": [int(r.left) for r in records],
        }
    )


def path_points(
    item_map: ItemMap, item_emb: np.ndarray, vectors: Sequence[np.ndarray], *, k: int = 15
) -> pd.DataFrame:
    """``event, x, y``: each event's vector (session vector or query) placed on the stored item map at the
    similarity-weighted mean of its ``k`` most cosine-similar items' positions; empty without vectors."""
    if not len(vectors):
        return pd.DataFrame({"event": pd.Series([], dtype=np.int64), "x": [], "y": []})
    stack = np.stack([np.asarray(v, dtype=np.float32) for v in vectors])
    xy = place_users(item_map, item_emb, stack, k=k, score="cosine")
    return pd.DataFrame({"event": np.arange(1, len(stack) + 1, dtype=np.int64), "x": xy[:, 0], "y": xy[:, 1]})


def logged_sessions(test: pd.DataFrame | None, user: str, gap_s: int = DEFAULT_GAP_S) -> dict[str, list[str]]:
    """The user's sessions in ``test`` (cut at gaps over ``gap_s`` or by ``session_id``): id -> item ids in
    time order; empty when there is no test set or no timestamp."""
    if test is None or test.empty or TIMESTAMP not in test.columns:
        return {}
    mine = test[test[USER_ID].astype(str) == str(user)]
    if mine.empty:
        return {}
    cut = assign_sessions(mine, gap_s)
    return {str(s): group[ITEM_ID].astype(str).tolist() for s, group in cut.groupby(SESSION_ID, sort=False)}
