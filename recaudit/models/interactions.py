"""Interaction frames for model training: validation of user input, de-duplication, id vocabularies
and the temporal validation slice.

Every row of an interaction frame counts as one positive (user, item) interaction; ratings and
weights are ignored (implicit feedback). A pair seen several times is kept once, at its earliest
timestamp: the item entered the user's history then, and a later repeat must not leak into the
validation slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recaudit.data.schema import ITEM_ID, TIMESTAMP, USER_ID
from recaudit.data.splits import temporal_split
from recaudit.errors import RecauditInputError


def clean_interactions(frame: object, source: str, *, need_timestamp: bool) -> pd.DataFrame:
    """Check an interaction frame and return ``user_id, item_id[, timestamp]``, de-duplicated.

    Ids become strings (integer ids are accepted and converted; float ids are refused because
    ``1.0`` and ``1`` would name different items). ``timestamp`` must be integer seconds when
    ``need_timestamp`` (it orders the validation slice); it is kept whenever present.

    Raises:
        RecauditInputError: not a DataFrame, no rows, a missing column, empty or float ids, or
            missing or non-integer timestamps.
    """
    if not isinstance(frame, pd.DataFrame):
        raise RecauditInputError(source, f"expected a pandas DataFrame, got {type(frame).__name__}")
    required = [USER_ID, ITEM_ID] + ([TIMESTAMP] if need_timestamp else [])
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise RecauditInputError(
            source,
            f"missing columns {missing}; found {[str(c) for c in frame.columns]}",
            hint="interactions need user_id, item_id and timestamp (int64 seconds)",
        )
    if frame.empty:
        raise RecauditInputError(source, "has no rows", hint="train on at least one interaction")
    out = pd.DataFrame(
        {USER_ID: _ids(frame, USER_ID, source), ITEM_ID: _ids(frame, ITEM_ID, source)}
    )
    if TIMESTAMP in frame.columns:
        out[TIMESTAMP] = _timestamps(frame[TIMESTAMP], source)
        out = out.sort_values([USER_ID, TIMESTAMP, ITEM_ID], kind="mergesort")
    return out.drop_duplicates([USER_ID, ITEM_ID], keep="first").reset_index(drop=True)


def _ids(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    values = frame[column]
    n_missing = int(values.isna().sum())
    if n_missing:
        raise RecauditInputError(source, f"{n_missing} rows have an empty {column}")
    if pd.api.types.is_float_dtype(values):
        raise RecauditInputError(
            source,
            f"{column} is stored as floats",
            hint="read ids as strings: pd.read_csv(..., dtype={'user_id': str, 'item_id': str})",
        )
    out = values.astype(str)
    if (out.str.len() == 0).any():
        raise RecauditInputError(source, f"some rows have an empty {column}")
    return out


def _timestamps(values: pd.Series, source: str) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna() | ~np.isfinite(numeric.astype("float64"))
    if bad.any():
        raise RecauditInputError(
            source, f"{int(bad.sum())} rows have a missing or non-numeric {TIMESTAMP}"
        )
    if not pd.api.types.is_integer_dtype(numeric) and (numeric % 1 != 0).any():
        raise RecauditInputError(
            source, f"{TIMESTAMP} has fractional values", hint="use int64 seconds since the epoch"
        )
    return numeric.astype("int64")


def carve_validation(frame: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out the latest ``fraction`` of each user's interactions (at least one) for validation.

    Uses the reference temporal protocol (:func:`recaudit.data.splits.temporal_split`). Users with a
    single interaction keep it for training, so every user still has a training row.
    """
    size = frame.groupby(USER_ID)[ITEM_ID].transform("size")
    fit_multi, held = temporal_split(frame[size >= 2], test_fraction=fraction, min_test=1)
    fit = pd.concat([frame[size < 2], fit_multi], ignore_index=True)
    return fit, held


@dataclass(frozen=True)
class Encoded:
    """Interactions as dense row indices into fixed id vocabularies."""

    user_ids: np.ndarray  # [U] str, sorted
    item_ids: np.ndarray  # [I] str, sorted
    users: np.ndarray  # [n] int64 row of each interaction's user
    items: np.ndarray  # [n] int64 row of each interaction's item


def vocabularies(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct user and item ids (as ``str`` arrays) of a clean interaction frame."""
    return np.unique(frame[USER_ID].to_numpy(str)), np.unique(frame[ITEM_ID].to_numpy(str))


def encode(frame: pd.DataFrame, user_ids: np.ndarray, item_ids: np.ndarray) -> Encoded:
    """Map a frame's ids to rows of the vocabularies, dropping rows with an id outside them."""
    users = frame[USER_ID].to_numpy(str)
    items = frame[ITEM_ID].to_numpy(str)
    u = np.clip(np.searchsorted(user_ids, users), 0, max(len(user_ids) - 1, 0))
    i = np.clip(np.searchsorted(item_ids, items), 0, max(len(item_ids) - 1, 0))
    known = (user_ids[u] == users) & (item_ids[i] == items) if len(frame) else np.zeros(0, bool)
    return Encoded(user_ids, item_ids, u[known].astype(np.int64), i[known].astype(np.int64))
