"""Column names as users' files have them: well-known aliases, and an explicit ``--columns`` mapping.

A MovieLens ``ratings.csv`` says ``userId,movieId``, a RecBole atomic file ``user_id:token``, an e-commerce
export ``customer_id,product_id``. Every table reader (:mod:`recaudit.data.readers`) renames such columns
to the fixed schema (:mod:`recaudit.data.schema`) *before* parsing, so an id column renamed from ``userId``
is read as text like ``user_id`` is (a leading zero survives):

1. an explicit mapping (``--columns user_id=userId,item_id=movieId``, canonical name = the file's name),
   set for the duration of one command with :func:`column_mapping`;
2. else, for each schema column the file lacks, the one column whose name matches one of its aliases
   (:data:`ALIASES`), compared without case and punctuation (``UserID``, ``user-id`` and ``user_id``
   match). Two candidates for one column are ambiguous: nothing is renamed, and the schema check then names
   the missing column.

Each rename is announced to the listener of :func:`column_mapping` (the CLI prints "read userId as
user_id"), so a command always says which mapping it used.

Concurrency: the mapping and listener are a :class:`contextvars.ContextVar`, so each thread or task (each
app session) sees its own.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from recaudit.data.schema import (
    CATEGORY,
    DOMAIN,
    ITEM_ID,
    PROVIDER,
    RANK,
    RATING,
    SCORE,
    SESSION_ID,
    TEXT,
    TIMESTAMP,
    TITLE,
    USER_ID,
    WEIGHT,
)
from recaudit.errors import RecauditInputError

SCHEMA_COLUMNS = (
    USER_ID, ITEM_ID, TIMESTAMP, RATING, WEIGHT, DOMAIN, SESSION_ID, TITLE, CATEGORY, PROVIDER, TEXT, RANK,
    SCORE,
)  # fmt: skip
"""The names a mapping may target."""

ALIASES: dict[str, tuple[str, ...]] = {
    USER_ID: ("userId", "user", "uid", "reviewerID", "customer_id", "visitor_id", "member_id"),
    ITEM_ID: (
        "movieId", "item", "iid", "asin", "product_id", "book_id", "track_id", "article_id", "video_id",
    ),
    TIMESTAMP: ("ts", "time", "datetime", "event_time", "unixReviewTime", "created_at"),
    RATING: ("stars",),
    RANK: ("position",),
    CATEGORY: ("genres", "genre", "categories"),
    TITLE: ("movie_title",),
    SESSION_ID: ("session", "sessionId"),
}  # fmt: skip
"""Other names under which each schema column is found (MovieLens, Amazon reviews, e-commerce exports),
compared by :func:`_key`: the schema name itself always matches, and RecBole's typed headers
(``user_id:token``) match by the part before the colon."""


@dataclass
class _Context:
    mapping: dict[str, str] = field(default_factory=dict)
    listener: Callable[[str], None] | None = None


_CURRENT: contextvars.ContextVar[_Context | None] = contextvars.ContextVar("recaudit_columns", default=None)


def parse_mapping(text: str | None) -> dict[str, str]:
    """``"user_id=userId,item_id=movieId"`` -> ``{"user_id": "userId", "item_id": "movieId"}``.

    Raises:
        RecauditInputError: a pair without ``=``, an unknown schema column, or one named twice.
    """
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        target, sep, source = (s.strip() for s in part.partition("="))
        if not sep or not target or not source:
            raise RecauditInputError(
                "--columns", f"{part!r} is not SCHEMA=FILE", "e.g. --columns user_id=userId,item_id=movieId"
            )
        if target not in SCHEMA_COLUMNS:
            raise RecauditInputError(
                "--columns", f"unknown column {target!r}", "map onto one of " + ", ".join(SCHEMA_COLUMNS)
            )
        if target in mapping:
            raise RecauditInputError("--columns", f"{target!r} is mapped twice")
        mapping[target] = source
    return mapping


@contextmanager
def column_mapping(
    mapping: Mapping[str, str] | None = None, listener: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Within the block, every reader applies ``mapping`` and announces each rename to ``listener``."""
    token = _CURRENT.set(_Context(dict(mapping or {}), listener))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def resolve(columns: Iterable[str], source: str | Path | None = None) -> dict[str, str]:
    """``{file column: schema column}`` for a file with ``columns`` (module docstring), announced."""
    names = [str(c) for c in columns]
    present = set(names)
    context = _CURRENT.get() or _Context()
    renames: dict[str, str] = {}
    for target, wanted in context.mapping.items():
        if wanted in present and wanted != target:
            renames[wanted] = target
    taken = present | set(renames.values())
    for target, aliases in ALIASES.items():
        if target in taken:
            continue
        keys = {_key(a) for a in (target, *aliases)}
        candidates = [n for n in names if _key(n) in keys and n not in renames and n not in SCHEMA_COLUMNS]
        if len(candidates) == 1:
            renames[candidates[0]] = target
            taken.add(target)
    if renames and context.listener is not None:
        where = Path(source).name if source is not None else "table"
        said = ", ".join(f"{a} as {b}" for a, b in renames.items())
        context.listener(f"{where}: read {said}")
    return renames


def _key(name: str) -> str:
    """A name compared without case, punctuation or a RecBole type suffix: ``User-ID:token`` -> ``userid``."""
    return re.sub(r"[^a-z0-9]", "", name.split(":")[0].lower())


__all__ = ["ALIASES", "SCHEMA_COLUMNS", "column_mapping", "parse_mapping", "resolve"]
