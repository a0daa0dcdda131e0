"""External string ids <-> row numbers: the one id vocabulary of the scorers, the bundle and the metrics.

Ids are strings, always (an id column read as numbers would turn ``"007"`` into ``7``; the readers keep
them as text). A vocabulary checks once that its ids are strings and unique, then maps whole arrays at
a time through a ``pandas.Index`` (a hash table), never a Python loop per id.

Thread safety: built once, then only read. The hash table is built in ``__init__`` (the uniqueness
check builds it), so concurrent lookups never race to create it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from recaudit.errors import RecauditInputError

_SHOW_IDS = 5


class IdVocabulary:
    """Row ``r`` holds id ``ids[r]``; :meth:`rows` maps ids back to rows.

    Args:
        ids: the ids in row order, strings.
        source: what the ids belong to, for error messages (a file, "user ids", ...).
        n_rows: when given, the number of rows the ids must cover (e.g. embedding rows).
    """

    def __init__(
        self, ids: Sequence[str] | np.ndarray, source: str | Path, n_rows: int | None = None
    ) -> None:
        ids_list = list(ids)
        self.source = source
        if n_rows is not None and len(ids_list) != n_rows:
            raise RecauditInputError(
                source, f"{len(ids_list)} ids for {n_rows} embedding rows", hint="one id per row"
            )
        bad = [i for i, x in enumerate(ids_list) if not isinstance(x, str)]
        if bad:
            raise RecauditInputError(
                source,
                f"ids must be strings; position {bad[0]} holds {ids_list[bad[0]]!r}",
                hint="read id columns as strings (never floats)",
            )
        self.ids = np.asarray(ids_list, dtype=object)
        self.index = pd.Index(self.ids, dtype=object)
        if not self.index.is_unique:
            dups = [x for x, n in Counter(ids_list).items() if n > 1]
            raise RecauditInputError(source, f"{len(dups)} duplicate ids, e.g. {dups[:_SHOW_IDS]}")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and value in self.index

    def rows(self, ids: Sequence[str] | np.ndarray, *, strict: bool = True) -> np.ndarray:
        """int64 rows of ``ids``. Unknown ids (and non-strings) raise :class:`RecauditInputError`
        naming the first few when ``strict``, else map to ``-1``."""
        if isinstance(ids, str):
            raise RecauditInputError(self.source, "expected a sequence of ids, got one string")
        wanted = np.asarray(list(ids), dtype=object)
        # a non-string never equals a string id, so it maps to -1 like any unknown id
        out = np.zeros(0, np.int64)
        if wanted.size:
            out = np.asarray(self.index.get_indexer(wanted), dtype=np.int64)
        if strict and (out < 0).any():
            unknown = [wanted[i] for i in np.flatnonzero(out < 0)[:_SHOW_IDS]]
            raise RecauditInputError(
                self.source,
                f"{int((out < 0).sum())} unknown ids, e.g. {unknown}",
                hint="ids must match the bundle's id table exactly (strings)",
            )
        return out

    def as_series(self) -> pd.Series:
        """The row of each id as a Series indexed by id (for ``.loc`` / ``.reindex`` lookups)."""
        return pd.Series(np.arange(len(self.ids)), index=self.index)
