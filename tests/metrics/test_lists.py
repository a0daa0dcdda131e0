"""RecLists: from a recommendation log to index form, and exposure counts."""

import numpy as np
import pandas as pd
import pytest

from recaudit.errors import RecauditInputError
from recaudit.metrics.lists import RecLists, interaction_matrix


def _recs(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rank"])


def test_from_frame_orders_by_rank_pads_and_reports() -> None:
    recs = _recs([("b", "x", 2), ("b", "y", 1), ("a", "z", 5), ("a", "ghost", 1), ("a", "z", 7),
                  ("b", "z", 9)])
    lists = RecLists.from_frame(recs, ["x", "y", "z"], k=2)
    assert lists.user_ids.tolist() == ["a", "b"]
    assert lists.items.tolist() == [[2, -1], [1, 0]]
    assert lists.lengths.tolist() == [1, 2]
    assert lists.report == {
        "unknown_items": 1, "duplicate_ranks": 0, "duplicate_items": 1, "beyond_k": 1, "unlisted_users": 0
    }


def test_exposure_counts_and_position_weights() -> None:
    lists = RecLists.from_frame(_recs([("a", "x", 1), ("a", "y", 2), ("b", "y", 1)]), ["x", "y", "z"])
    assert lists.exposure_counts().tolist() == [1, 2, 0]
    np.testing.assert_allclose(lists.position_exposure(), [1.0, 1 / np.log2(3) + 1.0, 0.0])


def test_fixed_users_give_empty_lists_and_bad_ranks_fail() -> None:
    lists = RecLists.from_frame(_recs([("a", "x", 1)]), ["x"], users=["a", "b"])
    assert lists.items.tolist() == [[0], [-1]]
    with pytest.raises(RecauditInputError, match="rank"):
        RecLists.from_frame(_recs([("a", "x", 0)]), ["x"])


def test_interaction_matrix_counts_known_pairs() -> None:
    frame = pd.DataFrame({"user_id": ["a", "a", "b", "zz"], "item_id": ["x", "x", "y", "x"]})
    matrix = interaction_matrix(frame, ["a", "b"], ["x", "y"]).toarray()
    assert matrix.tolist() == [[2, 0], [0, 1]]


def test_membership_matrix_multi_and_single() -> None:
    from recaudit.metrics.lists import membership_matrix

    matrix, names = membership_matrix(["a|b", None, "b|b", "c"])
    assert names == ["a", "b", "c"]
    assert matrix.toarray().tolist() == [[1, 1, 0], [0, 0, 0], [0, 1, 0], [0, 0, 1]]
    matrix, names = membership_matrix(["p|q", "p|q", float("nan")], multi=False)
    assert names == ["p|q"] and matrix.toarray().tolist() == [[1], [1], [0]]
