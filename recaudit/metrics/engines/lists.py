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
from dataclasses import dataclass
from typing import Any

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
    exposure: Any = None
    """A clean log's ``item_id, c, x`` (lists holding the item, position-weighted exposure) for the items
    it recommends, from the same pass that counted unknown items; None after a repair."""
    width: int | None = None
    """The one length every non-empty cleaned list has, when they all have one (top-k logs); else None.
    Then a mean over users of a mean over each list is a mean over list rows: no per-user pass."""


def clean_lists(
    recs: Any, catalogue: Any, k: int, *, engine: str, keep: Any = None, keep_large: Any = None
) -> CleanLists:
    """Clean ``recs`` (``user_id, item_id, rank, _row``) against ``catalogue`` (an ``item_id`` table) on
    ``engine`` (``duckdb`` or ``spark``: the name of its list functions).

    Two passes tell whether the log is clean, neither joining the log to the catalogue:

    - by item (a table the size of the recommended items, kept): rows, and lists and position-weighted
      exposure at ranks <= k; joined to the catalogue it counts the rows of unknown items, and in a clean
      log it *is* the exposure table;
    - by user: rows, top rank, rank mask, distinct items (the length of the user's de-duplicated list, far
      cheaper than a distinct of all (user, item) pairs) and rows at ranks <= k.

    Only a log with unknown items runs the per-user checks again over its known rows (a semi-join);
    only a log that needs repair pays for the window. ``keep`` holds small tables, ``keep_large``
    (Spark: ``Table.cache``) the known rows for the several queries of a repair."""
    import ibis

    def hold(table: Any, how: Any) -> Any:
        return how(table) if how is not None else table

    inside = recs[RANK] <= k
    weight = 1.0 / (recs[RANK] + 1).cast("float64").log2()
    by_item = recs.group_by(ITEM_ID).aggregate(
        rows=recs.count(), c=inside.cast("int64").sum(), x=weight.sum(where=inside)
    )
    by_item = hold(by_item, keep)
    unknown = by_item.anti_join(catalogue.select(ITEM_ID), ITEM_ID)
    n_unknown = _int(unknown.rows.sum().execute())
    per_user = _shape(recs, engine, n_in=inside.cast("int64").sum())
    listed = per_user.n_in > 0
    stats = per_user.aggregate(
        **_totals(per_user),
        beyond=ibis.greatest(per_user.n - k, 0).sum(),
        shortest=per_user.n_in.min(where=listed),
        longest=per_user.n_in.max(where=listed),
    ).execute().iloc[0]  # fmt: skip
    n_raw, users = int(stats["n"]), int(stats["users"])
    report = {"unknown_items": n_unknown, "duplicate_ranks": _repeated_ranks(recs, stats)}
    report["unlisted_users"] = 0  # the audited users are the log's users and the test users
    known, known_stats, repeats, listed_users = recs, stats, report["duplicate_ranks"], users
    if n_unknown:  # the same checks over the known rows only
        known = hold(recs.semi_join(catalogue.select(ITEM_ID), ITEM_ID), keep_large)
        shaped = _shape(known, engine)
        known_stats = shaped.aggregate(**_totals(shaped)).execute().iloc[0]
        listed_users = int(known_stats["users"])  # positions close up: any known row is listed
        repeats = _repeated_ranks(known, known_stats)
    report["duplicate_items"] = n_raw - n_unknown - _int(known_stats["items"])
    if _int(known_stats["top_ok"]) == listed_users and repeats == 0 and not report["duplicate_items"]:
        lists = known.select(USER_ID, ITEM_ID, **{POS: known[RANK]})
        if n_unknown:
            report["beyond_k"] = _beyond(lists, k)
            return CleanLists(lists.filter(lists[POS] <= k), k, report, False, users, listed_users)
        report["beyond_k"] = _int(stats["beyond"])
        shortest, longest = _int(stats["shortest"]), _int(stats["longest"])
        width = shortest if 0 < shortest == longest else None
        exposure = by_item.filter(by_item.c > 0).select(ITEM_ID, "c", "x")
        return CleanLists(
            lists.filter(lists[POS] <= k), k, report, False, users, listed_users, exposure, width
        )
    best = known.group_by(USER_ID, ITEM_ID).aggregate(**{RANK: known[RANK].min()})
    at_best = known.join(best, [USER_ID, ITEM_ID, RANK])
    kept = at_best.group_by(USER_ID, ITEM_ID, RANK).aggregate(_row=at_best._row.min())
    order = ibis.row_number().over(group_by=kept[USER_ID], order_by=[kept[RANK], kept._row]) + 1
    lists = kept.select(USER_ID, ITEM_ID, **{POS: order})
    report["beyond_k"] = _beyond(lists, k)
    return CleanLists(lists.filter(lists[POS] <= k), k, report, True, users, listed_users)


def _int(value: Any) -> int:
    """An engine's count as an int: an aggregate over no rows is NULL (DuckDB) or NaN (Spark), here 0."""
    return 0 if value is None or value != value else int(value)


def _beyond(lists: Any, k: int) -> int:
    return int(lists.filter(lists[POS] > k).count().execute())


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
    if _int(stats["mask_ok"]) == int(stats["users"]):
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
