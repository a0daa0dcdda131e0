"""The tiny hand-checkable audit world shared by the engine, chart and report tests.

Users a, b have lists; c only has a test item. Item popularity φ = [1, 0, 0, 3] for i1..i4; b's test item
i9 is outside the catalogue. Hand-computed values for this world are written out in the tests.
"""

from __future__ import annotations

import pandas as pd


def audit_frames(provider_of_i3_i4: str = "Q") -> dict[str, pd.DataFrame]:
    """recs, train, test and items frames of the shared world."""
    recs = pd.DataFrame(
        [("a", "i1", 1), ("a", "i2", 2), ("b", "i1", 1), ("b", "i3", 2)],
        columns=["user_id", "item_id", "rank"],
    )
    train = pd.DataFrame({"user_id": ["a", "b", "b", "c"], "item_id": ["i4", "i4", "i1", "i4"]})
    test = pd.DataFrame({"user_id": ["a", "b", "c"], "item_id": ["i2", "i9", "i1"]})
    items = pd.DataFrame(
        {
            "item_id": ["i1", "i2", "i3", "i4"],
            "category": ["x", "x|y", "y", "z"],
            "provider": ["P", "P", provider_of_i3_i4, provider_of_i3_i4],
        }
    )
    return {"recs": recs, "train": train, "test": test, "items": items}
