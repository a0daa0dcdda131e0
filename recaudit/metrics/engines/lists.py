"""A recommendation log cleaned in the engine exactly as :meth:`RecLists.from_frame` cleans it in memory.

Rows whose item is outside the catalogue are dropped; a (user, item) pair listed twice is kept once, at its
best rank (file order among equal ranks); each user's rows are ordered by (rank, file order) and numbered
1, 2, ... (gaps close up); positions beyond k are cut. The same counts are reported (``unknown_items``,
``duplicate_items``, ``duplicate_ranks``, ``beyond_k``).

Most logs are clean: every user's ranks are exactly 1..n over known, distinct items. That is checked in
one pass (an aggregate per user), and then the rank *is* the position: no window function runs, so DuckDB
streams a log of any size (its window operator must hold a partition in memory). Only a log that needs
repair pays for the ``row_number()`` window.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from recaudit.data.schema import ITEM_ID, RANK, USER_ID

POS = "pos"
MASK_RANKS = 62
"""Lists up to this long have their ranks checked with a per-user bit mask; longer ones with a distinct
count of (user, rank)."""


@dataclass
class CleanLists:
    """The cleaned lists (``user_id, item_id, pos`` with 1 <= pos <= k) and what cleaning dropped."""

    table: Any
    k: int
    report: dict[str, int]
    repaired: bool
    """True when the log needed the window (gaps, repeats or unknown items); False: ranks were positions."""
    log_users: int
    """Users with a row in the log (known items or not)."""
    listed_users: int
    """Users with at least one catalogue item in their list (a non-empty cleaned list)."""
    means: dict[str, float] = field(default_factory=dict)
    """For each column of ``sums``: the mean over listed users of the column's mean over their cleaned
    list; empty when the log needed repair (those means are then computed from :attr:`table`)."""


def clean_lists(
    recs: Any, catalogue: Any, k: int, *, engine: str, keep: Any = None, sums: tuple[str, ...] = ()
) -> CleanLists:
    """Clean ``recs`` (``user_id, item_id, rank, _row``) against ``catalogue`` (``item_id`` and the numeric
    columns named in ``sums``) on ``engine`` (``duckdb`` or ``spark``: the name of its list functions).

    One pass over the log, an aggregate per user, tells whether it is clean: per user the rows, the rows of
    known items, the top and the number of distinct ranks of each, and the distinct known items (each
    the length of the user's de-duplicated list, far cheaper than a distinct of all (user, item) pairs).
    The same pass sums the ``sums`` columns over the rows a clean list keeps (known items at ranks <= k),
    so a clean log's per-user means need no second pass. ``keep`` (Spark: ``Table.cache``) holds the known
    rows for the several queries of a repair."""
    import ibis

    right = catalogue.mutate(_known=ibis.literal(True))
    marked = recs.left_join(right, recs[ITEM_ID] == right[ITEM_ID])
    marked = marked.select(
        recs[USER_ID], recs[ITEM_ID], recs[RANK], *[right[c] for c in sums], known=marked._known.notnull()
    )
    kept_rows = marked.known & (marked[RANK] <= k)
    per_user = _shape(
        marked,
        engine,
        n_known=marked.known.cast("int64").sum(),
        n_in=kept_rows.cast("int64").sum(),
        **{f"sum_{c}": marked[c].sum(where=kept_rows) for c in sums},
    )
    has_list = per_user.n_in > 0
    stats = per_user.aggregate(
        **_totals(per_user),
        n_known=per_user.n_known.sum(),
        listed=(per_user.n_known > 0).cast("int64").sum(),  # positions close up: any known row is listed
        beyond=ibis.greatest(per_user.n_known - k, 0).sum(),
        **{f"mean_{c}": (per_user[f"sum_{c}"] / per_user.n_in).mean(where=has_list) for c in sums},
    ).execute().iloc[0]  # fmt: skip
    n_raw, n_known, users = int(stats["n"]), int(stats["n_known"] or 0), int(stats["users"])
    listed_users = int(stats["listed"] or 0)
    report = {"unknown_items": n_raw - n_known, "duplicate_ranks": 0}
    report["duplicate_ranks"] = _repeated_ranks(recs, stats)
    known, known_stats, known_repeats = recs, stats, report["duplicate_ranks"]
    if n_known < n_raw:  # the same checks over the known rows only
        known = recs.semi_join(catalogue.select(ITEM_ID), ITEM_ID)
        if keep is not None:
            known = keep(known)
        shaped = _shape(known, engine)
        known_stats = shaped.aggregate(**_totals(shaped)).execute().iloc[0]
        known_repeats = _repeated_ranks(known, known_stats)
    report["duplicate_items"] = n_known - int(known_stats["items"] or 0)
    report["unlisted_users"] = 0  # the audited users are the log's users and the test users
    ranks_are_positions = int(known_stats["top_ok"] or 0) == listed_users and known_repeats == 0
    if ranks_are_positions and report["duplicate_items"] == 0:
        lists = known.select(USER_ID, ITEM_ID, **{POS: known[RANK]})
        report["beyond_k"] = int(stats["beyond"] or 0)
        means = {c: _float(stats[f"mean_{c}"]) for c in sums}
        return CleanLists(lists.filter(lists[POS] <= k), k, report, False, users, listed_users, means)
    best = known.group_by(USER_ID, ITEM_ID).aggregate(**{RANK: known[RANK].min()})
    at_best = known.join(best, [USER_ID, ITEM_ID, RANK])
    kept = at_best.group_by(USER_ID, ITEM_ID, RANK).aggregate(_row=at_best._row.min())
    order = ibis.row_number().over(group_by=kept[USER_ID], order_by=[kept[RANK], kept._row]) + 1
    lists = kept.select(USER_ID, ITEM_ID, **{POS: order})
    report["beyond_k"] = int(lists.filter(lists[POS] > k).count().execute())
    return CleanLists(lists.filter(lists[POS] <= k), k, report, True, users, listed_users)


def _shape(rows: Any, engine: str, **more: Any) -> Any:
    """Per user of ``rows``: how many, the top rank, the rank mask, the distinct items, and ``more``.

    The rank mask is ``bit_or(1 << (rank - 1))`` over ranks up to :data:`MASK_RANKS`: a list of n <= 62
    rows has ranks exactly 1..n when its top rank is n and its mask is ``2**n - 1`` (n distinct bits). The
    distinct items are the length of the user's de-duplicated item list: one hash aggregate by user, where
    a distinct of all (user, item) pairs costs a hash table the size of the log."""
    import ibis

    bit = ibis.ifelse(rows[RANK] <= MASK_RANKS, ibis.literal(1, "int64") << (rows[RANK] - 1), 0)
    distinct_count = _distinct_count(engine, rows[ITEM_ID].type())
    return rows.group_by(USER_ID).aggregate(
        n=rows.count(),
        top=rows[RANK].max(),
        mask=_bit_or()(bit),
        items=distinct_count(rows[ITEM_ID].collect()),
        **more,
    )


def _totals(per_user: Any) -> dict[str, Any]:
    """Over :func:`_shape`'s rows: users, rows, distinct (user, item) pairs, users whose top rank is their
    row count, and users whose mask proves ranks exactly 1..n."""
    import ibis

    top_ok = per_user.top == per_user.n
    full = (ibis.literal(1, "int64") << ibis.least(per_user.n, MASK_RANKS)) - 1
    mask_ok = top_ok & (per_user.n <= MASK_RANKS) & (per_user.mask == full)
    return {
        "users": per_user.count(),
        "n": per_user.n.sum(),
        "items": per_user["items"].sum(),
        "top_ok": top_ok.cast("int64").sum(),
        "mask_ok": mask_ok.cast("int64").sum(),
    }


def _repeated_ranks(rows: Any, stats: Any) -> int:
    """Rows sharing a (user, rank) with an earlier row: none when every user's mask proves 1..n, else a
    distinct count of (user, rank) (lists longer than :data:`MASK_RANKS`, or a log with repeats)."""
    if int(stats["mask_ok"] or 0) == int(stats["users"]):
        return 0
    return int(stats["n"]) - int(rows.select(USER_ID, RANK).distinct().count().execute())


@functools.cache
def _bit_or() -> Any:
    """DuckDB's and Spark's ``bit_or`` aggregate (Ibis compiles no ``BitOr`` for Spark)."""
    import ibis
    import ibis.expr.datatypes as dt

    return ibis.udf.agg.builtin(lambda x: None, name="bit_or", signature=((dt.int64,), dt.int64))


@functools.cache
def _distinct_count(engine: str, element: Any) -> Any:
    """The number of distinct values of a list: DuckDB's ``list_unique``, Spark's ``size(array_distinct)``.

    Ibis's portable ``ArrayValue.unique`` wraps the list three times over to keep NULLs, which costs the
    per-user pass twice its time; ids here are never NULL."""
    import ibis
    import ibis.expr.datatypes as dt

    array = dt.Array(element)
    if engine == "duckdb":
        return ibis.udf.scalar.builtin(lambda x: None, name="list_unique", signature=((array,), dt.int64))
    distinct = ibis.udf.scalar.builtin(lambda x: None, name="array_distinct", signature=((array,), array))
    return lambda values: distinct(values).length()


def _float(value: Any) -> float:
    return math.nan if value is None or pd.isna(value) else float(value)
