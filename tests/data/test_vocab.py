"""``IdVocabulary``: strings only, unique, whole-array lookups; unknown ids named or mapped to -1."""

from __future__ import annotations

import numpy as np
import pytest

from recaudit.data.vocab import IdVocabulary
from recaudit.errors import RecauditInputError


def test_rows_round_trip_and_unknowns() -> None:
    vocab = IdVocabulary(["u2", "007", "u1"], "users")
    assert vocab.rows(["u1", "007", "u2", "u1"]).tolist() == [2, 1, 0, 2]
    assert vocab.rows(np.array(["u1"], dtype=object)).dtype == np.int64
    assert vocab.rows([]).tolist() == []
    assert vocab.rows(["7", "ghost", 7, None], strict=False).tolist() == [-1, -1, -1, -1]
    with pytest.raises(RecauditInputError, match=r"2 unknown ids, e.g. \['ghost', 7\]"):
        vocab.rows(["u1", "ghost", 7])
    with pytest.raises(RecauditInputError, match="one string"):
        vocab.rows("u1")
    assert "007" in vocab and 7 not in vocab and len(vocab) == 3
    assert vocab.as_series().loc[["u1", "u2"]].tolist() == [2, 0]


def test_bad_vocabularies_are_refused() -> None:
    with pytest.raises(RecauditInputError, match="duplicate"):
        IdVocabulary(["a", "b", "a"], "items")
    with pytest.raises(RecauditInputError, match="strings; position 1"):
        IdVocabulary(["a", 2.0], "items")
    with pytest.raises(RecauditInputError, match="2 ids for 3 embedding rows"):
        IdVocabulary(["a", "b"], "items", n_rows=3)
