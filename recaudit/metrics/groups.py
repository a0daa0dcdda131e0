"""User groups for per-group breakdowns: activity buckets, any users-table column, and group means.

Labels are ``[U]`` object arrays of strings aligned with the lists' users; :func:`group_means` turns any
user-level metric (``[U]`` float, NaN = user left out) into one row per group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recaudit.data.schema import USER_ID
from recaudit.errors import RecauditInputError
from recaudit.metrics.popularity import popularity_groups

if TYPE_CHECKING:
    from recaudit.metrics.inputs import AuditInputs

ACTIVITY_LABELS = ("cold", "light", "medium", "heavy")
ACTIVITY_EDGES: tuple[int, ...] = (5, 20, 100)
MAX_GROUPS = 20
"""A users-table column with more distinct values than this is no grouping (an id or a number)."""
UNKNOWN = "unknown"


def activity_buckets(
    train_counts: np.ndarray,
    edges: Sequence[float] = (5, 20, 100),
    labels: Sequence[str] = ACTIVITY_LABELS,
) -> np.ndarray:
    """Bucket users by their number of training interactions: ``[U]`` labels.

    Edges are inclusive upper bounds: with the default ``edges = (5, 20, 100)`` a user is ``cold`` when
    ``n <= 5``, ``light`` when ``5 < n <= 20``, ``medium`` when ``20 < n <= 100``, ``heavy`` when
    ``n > 100``. ``edges`` must be strictly increasing and ``labels`` one longer than ``edges``.
    """
    edges_arr = np.asarray(edges, dtype=np.float64)
    if edges_arr.ndim != 1 or np.any(np.diff(edges_arr) <= 0):
        raise ValueError(f"edges must be strictly increasing, got {list(edges)}")
    if len(labels) != edges_arr.size + 1:
        raise ValueError(f"need {edges_arr.size + 1} labels for {edges_arr.size} edges, got {len(labels)}")
    counts = np.asarray(train_counts, dtype=np.float64).ravel()
    index = np.searchsorted(edges_arr, counts, side="left")
    return np.asarray(labels, dtype=object)[index]


def group_means(
    per_user: np.ndarray, labels: np.ndarray, order: Sequence[str] | None = None
) -> pd.DataFrame:
    """Mean of a user-level metric per group, NaN-aware: columns ``group, mean, n, n_users``.

    ``mean`` is the plain mean over the group's users with a finite value (NaN = left out by the
    metric's definition), ``n`` the number of such users, ``n_users`` all users with that label. Rows
    follow ``order`` when given (groups in ``order`` with no users get ``n_users = 0``, mean NaN; groups
    not in ``order`` follow, sorted); otherwise labels sorted as strings.
    """
    values = np.asarray(per_user, dtype=np.float64).ravel()
    keys = np.asarray(labels, dtype=object).ravel()
    if values.shape != keys.shape:
        raise ValueError(f"per_user and labels must have the same length, got {values.size} and {keys.size}")
    frame = pd.DataFrame({"group": keys.astype(str), "value": np.where(np.isfinite(values), values, np.nan)})
    stats = frame.groupby("group", sort=True).agg(
        mean=("value", "mean"), n=("value", "count"), n_users=("value", "size")
    )
    present = list(stats.index)
    rows = list(order or []) + [g for g in present if g not in set(order or [])]
    stats = stats.reindex(rows)
    stats["n"] = stats["n"].fillna(0).astype(np.int64)
    stats["n_users"] = stats["n_users"].fillna(0).astype(np.int64)
    return stats.rename_axis("group").reset_index()


def _as_labels(values: pd.Series) -> pd.Series:
    """Cell values as strings; floats that are whole numbers (an int column with gaps) lose the '.0'."""
    if pd.api.types.is_float_dtype(values):
        finite = values.dropna()
        if len(finite) and bool(np.all(np.mod(finite.to_numpy(), 1) == 0)):
            values = values.astype("Int64")
    out = values.astype(object).where(values.notna(), None)
    return out.map(lambda v: UNKNOWN if v is None or str(v).strip() == "" else str(v))


def users_column_groups(
    user_ids: Sequence[str] | np.ndarray, users_frame: pd.DataFrame, column: str, *, source: str | None = None
) -> np.ndarray:
    """Labels ``[U]`` from any column of a users table (e.g. country, age band, signup cohort).

    Values are taken as strings; users absent from ``users_frame`` and missing or blank cells are
    ``"unknown"``. Ids are matched as strings.

    Raises:
        RecauditInputError: the table lacks ``user_id`` or ``column``, or lists a user twice.
    """
    for needed in (USER_ID, column):
        if needed not in users_frame.columns:
            raise RecauditInputError(source, f"users table has no column '{needed}'",
                                     f"columns: {', '.join(map(str, users_frame.columns))}")
    ids = users_frame[USER_ID].astype(str)
    if ids.duplicated().any():
        raise RecauditInputError(source, f"users table lists user '{ids[ids.duplicated()].iloc[0]}' twice")
    mapping = pd.Series(_as_labels(users_frame[column]).to_numpy(), index=ids.to_numpy())
    wanted = pd.Index(np.asarray(user_ids, dtype=object).astype(str))
    position = mapping.index.get_indexer(wanted)
    labels = np.full(len(wanted), UNKNOWN, dtype=object)
    found = position >= 0
    labels[found] = mapping.to_numpy()[position[found]]
    return labels


def user_group_labels(
    inputs: AuditInputs,
    *,
    edges: Sequence[int] = ACTIVITY_EDGES,
    users: pd.DataFrame | None = None,
    columns: Sequence[str] | None = None,
    max_groups: int = MAX_GROUPS,
) -> dict[str, np.ndarray]:
    """Every user grouping of an audit: ``{name: [U] labels}`` aligned with ``inputs.lists.user_ids``.

    The one place the engine, the CLI's JSON and the app's pages get their user groups from, so a user
    is in the same group everywhere:

    * ``activity``: :func:`activity_buckets` of the user's training interactions (``edges``);
    * ``popularity``: niche / diverse / blockbuster by head share, ties split by user id
      (:func:`recaudit.metrics.popularity.popularity_groups`, docs/metrics.md "Popularity groups");
    * one entry per column of ``users``: the given ``columns`` (each must exist), or, when ``columns``
      is None, every column of ``users`` other than ``user_id`` with at most ``max_groups`` distinct
      values.

    Raises:
        RecauditInputError: a requested column is missing, or no users table was given for it.
    """
    history = np.asarray(inputs.train.sum(axis=1)).ravel()
    user_ids = inputs.lists.user_ids
    labels = {
        "activity": activity_buckets(history, edges=tuple(edges)),
        "popularity": popularity_groups(inputs.train, inputs.head_mask, user_ids),
    }
    frame = users
    if columns is None:
        if frame is None or USER_ID not in frame.columns:
            return labels
        columns = [
            str(c) for c in frame.columns if c != USER_ID and frame[c].nunique(dropna=False) <= max_groups
        ]
    elif columns and frame is None:
        raise RecauditInputError(None, f"cannot group by users column(s) {list(columns)}: no users table")
    for column in columns:
        labels[column] = users_column_groups(user_ids, frame, column)  # type: ignore[arg-type]
    return labels
