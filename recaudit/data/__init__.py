"""Data layer: the fixed schema, readers, validation, splits, the MovieLens importer and the sample world."""

from recaudit.data.movielens import load_movielens
from recaudit.data.readers import read_interactions, read_items, read_pairs, read_recs, read_table, read_users
from recaudit.data.splits import holdout_cold, temporal_split
from recaudit.data.validation import check_known_items, validate_interactions, validate_items

__all__ = [
    "check_known_items",
    "holdout_cold",
    "load_movielens",
    "read_interactions",
    "read_items",
    "read_pairs",
    "read_recs",
    "read_table",
    "read_users",
    "temporal_split",
    "validate_interactions",
    "validate_items",
]
