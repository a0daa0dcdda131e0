"""Exposure over time (docs/metrics.md "Comparing two models, and time windows"): metrics per window.

A recommendation log with a ``timestamp`` holds many lists per user over time. Here a **list** is a user's
rows from one rank-1 row up to the next (in file order), and its **window** is the day, ISO week (Monday
to Sunday) or month, in UTC, of its rank-1 row's time. Each window's lists are audited with the same
definitions as a whole log:

- coverage, gini, exposure_gini, entropy, entropy_norm and personalization over every list of the window
  (a user with two lists in a week counts twice in the exposure, as they were shown twice);
- the exposure, catalogue and merit shares per item group (provider, category, domain);
- popularity lift per user group, over each user's last list in the window (a user is one person in the
  groups: their profile against what they were last shown).

Pure: frames in, a :class:`WindowedAudit` out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from recaudit.data.schema import ITEM_ID, RANK, TIMESTAMP, USER_ID
from recaudit.data.validation import to_epoch_seconds
from recaudit.errors import RecauditInputError
from recaudit.metrics.engine import ITEM_GROUP_COLUMNS, evaluate
from recaudit.metrics.inputs import AuditInputs

Window = Literal["day", "week", "month"]
WINDOWS: tuple[str, ...] = ("day", "week", "month")
CATALOGUE = ("coverage", "gini", "exposure_gini", "entropy", "entropy_norm", "personalization")
_LIST_SEP = "\x1f"


@dataclass
class WindowedAudit:
    """One audit per window.

    Attributes:
        metrics: one row per window: ``window`` (its first day), ``lists``, ``users`` and the
            :data:`CATALOGUE` metrics at k.
        groups: one row per (window, item column, group): ``exposure_share``, ``catalog_share``,
            ``merit_share`` (merit needs test rows).
        lift: one row per (window, user group): ``n_users``, ``gap_profile``, ``gap_recommended``,
            ``delta_gap``.
    """

    window: str
    k: int
    metrics: pd.DataFrame
    groups: pd.DataFrame
    lift: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            out = frame.assign(window=frame["window"].astype(str)) if "window" in frame else frame
            return out.replace({np.nan: None}).to_dict("records")

        return {
            "window": self.window, "k": self.k, "metrics": records(self.metrics),
            "groups": records(self.groups), "lift": records(self.lift),
        }  # fmt: skip


def window_starts(seconds: pd.Series, window: Window) -> pd.Series:
    """The first day (UTC, a date) of the window each epoch-seconds time falls in."""
    times = pd.to_datetime(seconds.to_numpy(np.int64), unit="s", utc=True)
    days = pd.Series(times.tz_localize(None).normalize(), index=seconds.index)
    if window == "day":
        return days.dt.date
    if window == "week":
        return (days - pd.to_timedelta(days.dt.day_of_week, unit="D")).dt.date
    if window == "month":
        return days.dt.to_period("M").dt.start_time.dt.date
    raise RecauditInputError("--window", f"unknown window {window!r}", "use day, week or month")


def split_lists(recs: pd.DataFrame, source: object = "recs") -> pd.DataFrame:
    """``recs`` with ``list_id`` (user, then the count of rank-1 rows so far in file order) and
    ``list_time`` (the time of the list's rank-1 row, epoch seconds).

    Raises:
        RecauditInputError: no ``timestamp`` column, unreadable times, or a user's first row not at rank 1
            (its list would have no start).
    """
    if TIMESTAMP not in recs.columns:
        raise RecauditInputError(
            source, "has no timestamp column", "exposure over time needs the time each list was shown"
        )
    frame = recs.reset_index(drop=True).copy()
    frame[TIMESTAMP] = to_epoch_seconds(frame[TIMESTAMP], source)
    starts = (frame[RANK] == 1).astype(np.int64)
    number = starts.groupby(frame[USER_ID]).cumsum()
    orphan = number == 0
    if orphan.any():
        first = frame.index[orphan.to_numpy()][:3].tolist()
        raise RecauditInputError(
            source, f"{int(orphan.sum())} rows come before their user's first rank-1 row (rows {first})",
            "each list starts at rank 1",
        )  # fmt: skip
    frame["list_id"] = frame[USER_ID].astype(str) + _LIST_SEP + number.astype(str)
    first_time = frame[TIMESTAMP].where(frame[RANK] == 1)
    frame["list_time"] = first_time.groupby(frame["list_id"]).transform("max").astype(np.int64)
    return frame


def windowed_audit(
    recs: pd.DataFrame,
    train: pd.DataFrame,
    *,
    window: Window = "week",
    items: pd.DataFrame | None = None,
    test: pd.DataFrame | None = None,
    k: int = 10,
    source: object = "recs",
) -> WindowedAudit:
    """Every window's catalogue metrics, group shares and popularity lift (module docstring)."""
    frame = split_lists(recs, source)
    frame["window"] = window_starts(frame["list_time"], window)
    columns = [c for c in ITEM_GROUP_COLUMNS if items is not None and c in items.columns]
    metric_rows, group_rows, lift_rows = [], [], []
    names = [f"{m}@{k}" for m in CATALOGUE]
    for start, rows in frame.groupby("window", sort=True):
        per_list = rows.assign(**{USER_ID: rows["list_id"]})[[USER_ID, ITEM_ID, RANK]]
        inputs = AuditInputs.from_frames(per_list, train, test=None, items=items, k=k, source=source)
        result = evaluate(inputs, names, ks=(k,), ci=False, item_columns=columns)
        metric_rows.append({
            "window": start, "lists": int(rows["list_id"].nunique()), "users": int(rows[USER_ID].nunique()),
            **{m: result.values.get(f"{m}@{k}", np.nan) for m in CATALOGUE},
        })  # fmt: skip
        last = rows[rows["list_id"] == rows.groupby(USER_ID)["list_id"].transform("last")]
        user_inputs = AuditInputs.from_frames(
            last[[USER_ID, ITEM_ID, RANK]],
            train,
            test=_in_window(test, last),
            items=items,
            k=k,
            source=source,
        )
        people = evaluate(user_inputs, [f"coverage@{k}"], ks=(k,), ci=False, item_columns=columns)
        for key, table in result.item_groups.items():
            merit = people.item_groups[key].set_index("group")["merit_share"]
            for row in table.to_dict("records"):
                shares = {s: row[s] for s in ("n_items", "exposure", "exposure_share", "catalog_share")}
                group_rows.append({"window": start, "column": key.split("@")[0], "group": row["group"],
                                   **shares, "merit_share": merit.get(row["group"], np.nan)})  # fmt: skip
        for table in people.popularity_lift.values():
            for row in table.to_dict("records"):
                lift_rows.append({"window": start, **row})
    return WindowedAudit(
        window, k, pd.DataFrame(metric_rows), pd.DataFrame(group_rows), pd.DataFrame(lift_rows)
    )


def _in_window(test: pd.DataFrame | None, lists: pd.DataFrame) -> pd.DataFrame | None:
    """The test rows of the window's users (merit shares per window); all of them without timestamps."""
    if test is None:
        return None
    return test[test[USER_ID].isin(set(lists[USER_ID]))]


__all__ = ["CATALOGUE", "WINDOWS", "WindowedAudit", "split_lists", "window_starts", "windowed_audit"]
