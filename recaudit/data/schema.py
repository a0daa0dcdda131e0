"""Fixed column names for every table recaudit reads or writes.

All public APIs speak *external* ids, stored as strings (never floats: a 20-digit id must survive).
Internal row indices only appear inside models, bundles and scorers.
"""

from __future__ import annotations

# interactions
USER_ID = "user_id"
ITEM_ID = "item_id"
TIMESTAMP = "timestamp"  # int64 seconds since the Unix epoch
RATING = "rating"
WEIGHT = "weight"
DOMAIN = "domain"
SESSION_ID = "session_id"

# items
TITLE = "title"
CATEGORY = "category"  # several categories allowed, separated by CATEGORY_SEP
PROVIDER = "provider"
TEXT = "text"

# recommendation lists
RANK = "rank"
SCORE = "score"

CATEGORY_SEP = "|"

INTERACTION_REQUIRED = (USER_ID, ITEM_ID, TIMESTAMP)
INTERACTION_OPTIONAL = (RATING, WEIGHT, DOMAIN, SESSION_ID)
ITEM_REQUIRED = (ITEM_ID,)
ITEM_OPTIONAL = (TITLE, CATEGORY, DOMAIN, PROVIDER, TEXT)
USER_REQUIRED = (USER_ID,)
RECS_COLUMNS = (USER_ID, ITEM_ID, RANK, SCORE)

ID_COLUMNS = (USER_ID, ITEM_ID, SESSION_ID)


def split_categories(value: object) -> list[str]:
    """Split a ``|``-separated category cell into its categories (empty cells give an empty list)."""
    if value is None or (isinstance(value, float) and value != value):
        return []
    return [c.strip() for c in str(value).split(CATEGORY_SEP) if c.strip()]
