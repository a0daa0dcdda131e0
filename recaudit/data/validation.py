"""Schema validation: name the file, the column and the first bad rows — never a bare traceback.

Each ``validate_*`` function takes a freshly read frame, checks it and returns it normalised to the fixed
schema (string ids, int64 timestamps, float ratings/weights). Row numbers in messages are 1-based file lines
(header = line 1), so ``row 2`` is the first data row.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from recaudit.data.schema import (
    INTERACTION_REQUIRED,
    ITEM_ID,
    RANK,
    RATING,
    SESSION_ID,
    TIMESTAMP,
    USER_ID,
    WEIGHT,
)
from recaudit.errors import RecauditInputError

Source = str | Path | None


def _rows(index: Iterable[object], values: Iterable[object] | None = None, limit: int = 3) -> str:
    idx = list(index)[:limit]
    if values is None:
        return ", ".join(f"row {int(i) + 2}" for i in idx)  # type: ignore[call-overload]
    vals = [_shown(v) for v in list(values)[:limit]]
    return ", ".join(f"row {int(i) + 2}: {v}" for i, v in zip(idx, vals, strict=False))  # type: ignore[call-overload]


def _shown(value: object) -> str:
    """A cell as a message shows it: Python's repr of the plain value, ``missing`` for an empty cell."""
    if hasattr(value, "item"):
        value = value.item()  # numpy scalar -> Python scalar, so 2.5 shows as 2.5, not np.float64(2.5)
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "missing"
    return repr(value)


def require_columns(frame: pd.DataFrame, required: Iterable[str], source: Source, kind: str) -> None:
    """Raise naming the missing columns and the ones that were found."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise RecauditInputError(
            source,
            f"{kind} table is missing column(s) {missing}; found {list(map(str, frame.columns))}",
            f"map yours with --columns, e.g. --columns {missing[0]}=YOUR_NAME (see README: Data format)",
        )


def require_rows(frame: pd.DataFrame, source: Source, kind: str) -> None:
    """An empty table is an error: metrics on nothing are undefined."""
    if len(frame) == 0:
        raise RecauditInputError(source, f"{kind} table has no rows")


def require_ids(frame: pd.DataFrame, column: str, source: Source) -> None:
    """Ids must be present (no NaN or empty strings)."""
    values = frame[column]
    bad = values.isna() | (values.astype(str).str.strip() == "")
    if bad.any():
        where = frame.index[bad.to_numpy()]
        raise RecauditInputError(
            source, f"column '{column}' has {int(bad.sum())} missing ids ({_rows(where)})"
        )


def to_epoch_seconds(values: pd.Series, source: Source, column: str = TIMESTAMP) -> pd.Series:
    """Timestamps as int64 seconds: integers pass through, date/time text is parsed as UTC.

    Raises:
        RecauditInputError: naming the first unparseable rows.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
        if parsed.isna().any():
            raise _bad(source, column, values[parsed.isna()], "missing timestamps")
        return _seconds(parsed)
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        as_float = numeric.to_numpy(dtype=float)
        finite = np.isfinite(as_float)
        if not finite.all():
            raise _bad(source, column, values[~finite], "non-finite timestamps")
        if np.any(np.mod(as_float, 1) != 0):
            return pd.Series(np.floor(as_float).astype("int64"), index=values.index)
        return numeric.astype("int64")
    text = values.astype("string")
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    bad = parsed.isna()
    if bad.any():
        raise _bad(
            source, column, values[bad.to_numpy()], "unparseable timestamps",
            "use integer seconds since 1970 or ISO dates such as 2024-05-01T12:00:00",
        )
    return _seconds(parsed)


def _seconds(parsed: pd.Series) -> pd.Series:
    """Whole seconds since the epoch, whatever the datetime resolution (pandas 3 may use us or s)."""
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    return ((parsed - epoch) // pd.Timedelta(seconds=1)).astype("int64")


def numeric_column(frame: pd.DataFrame, column: str, source: Source) -> pd.Series:
    """A finite float column, or an error naming the first non-numeric rows."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna().to_numpy() | ~np.isfinite(values.fillna(0).to_numpy(dtype=float))
    if bad.any():
        raise _bad(source, column, frame[column][bad], "non-numeric or non-finite values")
    return values.astype("float64")


def _bad(
    source: Source, column: str, bad: pd.Series, what: str, hint: str | None = None
) -> RecauditInputError:
    return RecauditInputError(
        source, f"column '{column}' has {len(bad)} {what} ({_rows(bad.index, bad.to_numpy())})", hint
    )


def validate_pairs(frame: pd.DataFrame, source: Source = None) -> pd.DataFrame:
    """Check and normalise a log of ``user_id, item_id`` rows (no timestamp needed): string ids, no gaps."""
    require_columns(frame, (USER_ID, ITEM_ID), source, "interactions")
    require_rows(frame, source, "interactions")
    frame = frame.reset_index(drop=True).copy()
    for column in (USER_ID, ITEM_ID):
        require_ids(frame, column, source)
        frame[column] = frame[column].astype(str)
    return frame


def validate_interactions(frame: pd.DataFrame, source: Source = None) -> pd.DataFrame:
    """Check and normalise an interactions table.

    Required: ``user_id, item_id, timestamp``. Optional: ``rating``, ``weight`` (finite numbers),
    ``domain``, ``session_id``. Returns a copy with string ids and int64 timestamps.
    """
    require_columns(frame, INTERACTION_REQUIRED, source, "interactions")
    require_rows(frame, source, "interactions")
    frame = frame.reset_index(drop=True).copy()
    for column in (USER_ID, ITEM_ID):
        require_ids(frame, column, source)
        frame[column] = frame[column].astype(str)
    frame[TIMESTAMP] = to_epoch_seconds(frame[TIMESTAMP], source)
    for column in (RATING, WEIGHT):
        if column in frame.columns:
            frame[column] = numeric_column(frame, column, source)
    if SESSION_ID in frame.columns:
        frame[SESSION_ID] = frame[SESSION_ID].astype(str).where(frame[SESSION_ID].notna(), None)
    return frame


def validate_recs(frame: pd.DataFrame, source: Source = None) -> pd.DataFrame:
    """Check and normalise a recommendation log from any tool: ``user_id, item_id, rank`` (+ extras).

    Ids must be present; ``rank`` must be an integer >= 1 in every row (1 = top of the list). A log
    without rows is an error, not an empty report. Other columns (``score``, ``timestamp``, ...) pass
    through untouched: the metrics read only the lists' order. Returns a copy with string ids and
    int64 ranks.
    """
    require_columns(frame, (USER_ID, ITEM_ID, RANK), source, "recommendations")
    require_rows(frame, source, "recommendations")
    frame = frame.reset_index(drop=True).copy()
    for column in (USER_ID, ITEM_ID):
        require_ids(frame, column, source)
        frame[column] = frame[column].astype(str)
    ranks = pd.to_numeric(frame[RANK], errors="coerce")
    as_float = ranks.to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(as_float) | (as_float < 1) | (np.mod(as_float, 1) != 0)
    if bad.any():
        raise _bad(source, RANK, frame[RANK][bad], "ranks that are not integers >= 1",
                   "rank 1 is the top of each user's list")
    frame[RANK] = ranks.astype("int64")
    return frame


def _validate_id_table(frame: pd.DataFrame, column: str, source: Source, kind: str) -> pd.DataFrame:
    """Check a table keyed by ``column``: present, non-empty, ids present and unique (as strings)."""
    require_columns(frame, (column,), source, kind)
    require_rows(frame, source, kind)
    frame = frame.reset_index(drop=True).copy()
    require_ids(frame, column, source)
    frame[column] = frame[column].astype(str)
    dupes = frame[column].duplicated(keep=False)
    if dupes.any():
        first = frame[column][dupes]
        raise RecauditInputError(
            source,
            f"column '{column}' has {int(frame[column].duplicated().sum())} duplicate ids "
            f"({_rows(first.index, first.to_numpy())})",
            f"each {kind[:-1]} must appear once in the {kind} table",
        )
    return frame


def validate_items(frame: pd.DataFrame, source: Source = None) -> pd.DataFrame:
    """Check and normalise an items table: ``item_id`` required and unique."""
    return _validate_id_table(frame, ITEM_ID, source, "items")


def validate_users(frame: pd.DataFrame, source: Source = None) -> pd.DataFrame:
    """Check and normalise a users table: ``user_id`` required and unique."""
    return _validate_id_table(frame, USER_ID, source, "users")


def check_known_items(
    interactions: pd.DataFrame, items: pd.DataFrame, source: Source = None
) -> None:
    """Every interaction must point at an item of the items table."""
    unknown = ~interactions[ITEM_ID].isin(set(items[ITEM_ID]))
    if unknown.any():
        bad = interactions[ITEM_ID][unknown.to_numpy()]
        raise RecauditInputError(
            source,
            f"{int(unknown.sum())} interactions refer to items missing from the items table "
            f"({_rows(bad.index, bad.to_numpy())})",
            "add those items to the items file or drop the interactions",
        )
