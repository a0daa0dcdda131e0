"""A recommendation log cleaned in the engine exactly as :meth:`RecLists.from_frame` cleans it in memory.

Rows whose item is outside the catalogue are dropped; a (user, item) pair listed twice is kept once, at its
best rank (file order among equal ranks); each user's rows are ordered by (rank, file order) and numbered
1, 2, ... (gaps close up); positions beyond k are cut. The same counts are reported (``unknown_items``,
``duplicate_items``, ``duplicate_ranks``, ``beyond_k``).

Most logs are clean: every user's ranks are exactly 1..n over known, distinct items. That is checked with
one aggregate, and then the rank *is* the position: no window function runs, so DuckDB streams a log of
any size (its window operator must hold a partition in memory). Only a log that needs repair pays for
the ``row_number()`` window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recaudit.data.schema import ITEM_ID, RANK, USER_ID

POS = "pos"


@dataclass
class CleanLists:
    """The cleaned lists (``user_id, item_id, pos`` with 1 <= pos <= k) and what cleaning dropped."""

    table: Any
    k: int
    report: dict[str, int]
    repaired: bool
    """True when the log needed the window (gaps, repeats or unknown items); False: ranks were positions."""


def clean_lists(recs: Any, catalogue: Any, k: int, *, keep: Any = None) -> CleanLists:
    """Clean ``recs`` (``user_id, item_id, rank, _row``) against ``catalogue`` (an ``item_id`` table).

    ``keep`` (Spark: ``Table.cache``) holds the known rows for the several counts that read them."""
    import ibis

    raw_stats = recs.aggregate(n=recs.count()).execute().iloc[0]
    n_raw = int(raw_stats["n"])
    distinct_ranks = int(recs.select(USER_ID, RANK).distinct().count().execute())
    known = recs.semi_join(catalogue, ITEM_ID)
    if keep is not None:
        known = keep(known)
    per_user = known.group_by(USER_ID).aggregate(n=known.count(), top=known[RANK].max())
    stats = per_user.aggregate(n=per_user.n.sum(), top=per_user.top.sum()).execute().iloc[0]
    n_known = int(stats["n"] or 0)
    distinct_pairs = int(known.select(USER_ID, ITEM_ID).distinct().count().execute())
    distinct_known_ranks = int(known.select(USER_ID, RANK).distinct().count().execute())
    report = {"unknown_items": n_raw - n_known, "duplicate_ranks": n_raw - distinct_ranks}
    clean = n_known == distinct_pairs == distinct_known_ranks == int(stats["top"] or 0)
    if clean:
        lists = known.select(USER_ID, ITEM_ID, **{POS: known[RANK]})
        report["duplicate_items"] = 0
    else:
        best = known.group_by(USER_ID, ITEM_ID).aggregate(**{RANK: known[RANK].min()})
        at_best = known.join(best, [USER_ID, ITEM_ID, RANK])
        kept = at_best.group_by(USER_ID, ITEM_ID, RANK).aggregate(_row=at_best._row.min())
        report["duplicate_items"] = n_known - distinct_pairs
        order = ibis.row_number().over(group_by=kept[USER_ID], order_by=[kept[RANK], kept._row]) + 1
        lists = kept.select(USER_ID, ITEM_ID, **{POS: order})
    report["beyond_k"] = int(lists.filter(lists[POS] > k).count().execute())
    report["unlisted_users"] = 0  # the audited users are the log's users and the test users
    return CleanLists(lists.filter(lists[POS] <= k), k, report, repaired=not clean)
