"""Train/test splits: per-user temporal holdout and held-out cold items and users.

The temporal holdout follows the reference protocol of our benchmarks (see the datasets README): per user,
sort the interactions by (timestamp, item id); the last ``floor(test_fraction * n)`` rows (at least
``min_test``) are test, the rest train. Item ids that are all digits sort numerically, so MovieLens ids
order as the protocol says.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from recaudit.data.schema import ITEM_ID, TIMESTAMP, USER_ID


def _item_sort_key(items: pd.Series) -> pd.Series:
    """Numeric key when every id is made of digits, else the string itself."""
    as_str = items.astype(str)
    if len(as_str) and as_str.str.fullmatch(r"\d{1,18}").all():
        return as_str.astype("int64")
    return as_str


def temporal_split(
    interactions: pd.DataFrame, test_fraction: float = 0.2, min_test: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split each user's interactions by time: the last ``test_fraction`` of them become test.

    Per user with n interactions, sorted by (timestamp, item id), the last
    ``max(floor(test_fraction * n), min_test)`` rows are test (never more than n). Returns
    ``(train, test)``, each keeping the input's columns and sorted by user then time.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    if min_test < 0:
        raise ValueError(f"min_test must be >= 0, got {min_test}")
    if interactions.empty:
        return interactions.copy(), interactions.copy()
    frame = interactions.assign(_key=_item_sort_key(interactions[ITEM_ID]))
    frame = frame.sort_values([USER_ID, TIMESTAMP, "_key"], kind="mergesort")
    position = frame.groupby(USER_ID, sort=False).cumcount().to_numpy()
    size = frame.groupby(USER_ID, sort=False)[ITEM_ID].transform("size").to_numpy()
    n_test = np.minimum(np.maximum(np.floor(test_fraction * size).astype(np.int64), min_test), size)
    is_test = position >= size - n_test
    frame = frame.drop(columns="_key")
    return frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True)


def holdout_cold(
    interactions: pd.DataFrame,
    *,
    cold_items: Iterable[str] = (),
    cold_users: Iterable[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Move every interaction of the given cold items or cold users out of the warm data.

    Returns ``(warm, cold)``: ``warm`` has no row of a cold item or a cold user, ``cold`` holds exactly
    those rows. Used to evaluate cold-start quality on items and users the model never saw.
    """
    item_set = {str(i) for i in cold_items}
    user_set = {str(u) for u in cold_users}
    mask = interactions[ITEM_ID].isin(item_set) | interactions[USER_ID].isin(user_set)
    return interactions[~mask].reset_index(drop=True), interactions[mask].reset_index(drop=True)


def sample_cold(
    interactions: pd.DataFrame, *, item_fraction: float, user_fraction: float, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Draw a seeded random set of cold items and cold users (fractions of the distinct ids)."""
    rng = np.random.default_rng(seed)
    items = np.sort(interactions[ITEM_ID].unique())
    users = np.sort(interactions[USER_ID].unique())
    n_items = int(round(item_fraction * len(items)))
    n_users = int(round(user_fraction * len(users)))
    cold_items = rng.choice(items, size=n_items, replace=False) if n_items else np.array([])
    cold_users = rng.choice(users, size=n_users, replace=False) if n_users else np.array([])
    return sorted(map(str, cold_items)), sorted(map(str, cold_users))
