"""The aggregation metrics of docs/metrics.md as Ibis expressions over the cleaned lists, train, test, items.

Same definitions, same edge cases as the in-memory functions (:mod:`recaudit.metrics.accuracy`,
:mod:`~recaudit.metrics.exposure`, :mod:`~recaudit.metrics.popularity`, :mod:`~recaudit.metrics.fairness`):

- per-user metrics are one row per evaluated user (accuracy: users with a test item, including those without
  a list, who score 0; popularity: users with a non-empty list); the reported value is their plain mean;
- ``ndcg`` looks IDCG up in a k-row table; ``map`` numbers each user's hits by position, a window over the
  hits only;
- Gini, entropy and personalization need no sort of the catalogue: they read the *histogram* of exposure
  counts (value -> number of items), whose size is the number of distinct counts (at most the number of
  lists), and Gini is ``Σ_v v m_v (2 a_v + m_v − n) / (n Σ c)``, where ``a_v`` items have a smaller count
  (zero-exposure items included) — the sorted-order formula summed one run of equal values at a time;
  ``exposure_gini`` does the same over distinct position-weighted exposures;
- the short head and the popularity groups come from histograms too (φ values, head shares), with the one
  boundary value's ties split by id in the engine (a sort of that value's rows only).

Everything returned is small: scalars, a histogram, a table per item group. No float literal enters a
per-user value (Spark reads ``1.0`` as DECIMAL(2,1) and rounds its mean): indicators are boolean casts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recaudit.data.schema import CATEGORY, CATEGORY_SEP, ITEM_ID, USER_ID
from recaudit.metrics.engines.backends import as_text
from recaudit.metrics.engines.lists import POS
from recaudit.metrics.fairness import GROUP_EXPOSURE_COLUMNS
from recaudit.metrics.popularity import BLOCKBUSTER, DIVERSE, NICHE, NO_HISTORY, POPULARITY_GROUPS

_UNIT_SEP = "\x1f"

HEAD_SHARE = 0.8
GROUP_FRACTION = 0.2
ACCURACY = ("precision", "recall", "hit_rate", "mrr", "ndcg", "map")
POPULARITY = ("arp", "aplt", "novelty")
FACT_OF = {"arp": "phi", "aplt": "tail", "novelty": "novelty"}
"""Each popularity metric is the mean over listed users of the list's mean of an :func:`item_facts` column."""
EXPOSURE = (
    "coverage", "gini", "gini_recommended_only", "exposure_gini", "entropy", "entropy_norm", "personalization"
)  # fmt: skip


@dataclass
class Tables:
    """The inputs of one engine audit at one k.

    Attributes:
        catalogue: ``item_id`` (+ ``category``, ``provider``, ``domain``): the catalogue I.
        train: ``user_id, item_id`` training rows (every row counts in φ).
        test: ``user_id, item_id`` held-out rows, or None.
        users: ``user_id``: the audited users (the log's users and the test users).
        lists: ``user_id, item_id, pos`` (1 <= pos <= k), cleaned (:func:`recaudit.metrics.engines.lists`).
    """

    k: int
    catalogue: Any
    n_items: int
    train: Any
    test: Any | None
    users: Any
    lists: Any = None
    """Set once the log is cleaned (the item facts it may read come first)."""
    n_listed: int = 0
    """Users with a non-empty list."""
    width: int | None = None
    """The length every non-empty list has, when they share one (:attr:`CleanLists.width`)."""
    keep: Any = None
    """Holds an intermediate table of catalogue or user size that several metrics read (a DuckDB temporary
    table, a cached Spark DataFrame: :meth:`Engine.keep`); None recomputes it."""
    keep_large: Any = None
    """The same for a table of log size (:meth:`Engine.keep_large`)."""
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def test_pairs(self) -> Any:
        """Distinct (user, item) test pairs, catalogue or not (|T_u| counts them all)."""
        assert self.test is not None
        return self.cached(
            "test_pairs", lambda: self.test.select(USER_ID, ITEM_ID).distinct(), keep=self.keep_large
        )

    @property
    def item_stats(self) -> Any:
        """``item_id, phi, n_users`` for every catalogue item: φ(i) (training rows) and users(i)."""

        def build() -> Any:
            train = self.train  # rows of items outside the catalogue drop out in the join below
            pairs = train.select(USER_ID, ITEM_ID).distinct()  # cheaper than COUNT(DISTINCT) per item
            rows = train.group_by(ITEM_ID).aggregate(phi=train.count())
            users = pairs.group_by(ITEM_ID).aggregate(n_users=pairs.count())
            counts = rows.join(users, ITEM_ID)
            cat = self.catalogue.select(ITEM_ID)
            joined = cat.left_join(counts, cat[ITEM_ID] == counts[ITEM_ID])
            return joined.select(
                cat[ITEM_ID], phi=counts.phi.fill_null(0), n_users=counts.n_users.fill_null(0)
            )

        return self.cached("item_stats", build, shared=True)

    @property
    def n_train_users(self) -> int:
        return self.cached("n_train_users", lambda: int(self.train[USER_ID].nunique().execute()))

    def cached(self, key: str, build: Any, *, shared: bool = False, keep: Any = None) -> Any:
        """``build()`` once per key; a ``shared`` table also goes through :attr:`keep` (or ``keep``)."""
        if key not in self.cache:
            value = build()
            hold = keep or (self.keep if shared else None)
            self.cache[key] = hold(value) if hold is not None else value
        return self.cache[key]


# ---- accuracy ----
def accuracy_per_user(t: Tables) -> Any:
    """``user_id`` + the six accuracy metrics, one row per user with a test item (docs/metrics.md)."""
    import ibis

    k = t.k
    truth = t.test_pairs
    relevant = truth.group_by(USER_ID).aggregate(n_rel=truth.count())
    hits = t.lists.join(truth, [USER_ID, ITEM_ID]).select(USER_ID, POS)
    numbered = hits.mutate(j=ibis.row_number().over(group_by=hits[USER_ID], order_by=hits[POS]) + 1)
    per_hit = numbered.mutate(
        gain=1.0 / (numbered[POS] + 1).cast("float64").log2(),
        precision_at=numbered.j.cast("float64") / numbered[POS].cast("float64"),
    )
    stats = per_hit.group_by(USER_ID).aggregate(
        n_hits=per_hit.count(),
        dcg=per_hit.gain.sum(),
        first=per_hit[POS].min(),
        ap=per_hit.precision_at.sum(),
    )
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = ibis.memtable(pd.DataFrame({"n_ideal": np.arange(1, k + 1), "idcg": np.cumsum(discount)}))
    base = relevant.mutate(n_ideal=ibis.least(relevant.n_rel, k))
    base = base.join(ideal, "n_ideal")
    joined = base.left_join(stats, base[USER_ID] == stats[USER_ID])
    n_hits = joined.n_hits.fill_null(0).cast("float64")
    n_rel = joined.n_rel.cast("float64")
    return joined.select(
        base[USER_ID],
        precision=n_hits / float(k),
        recall=n_hits / n_rel,
        hit_rate=(n_hits > 0).cast("float64"),
        mrr=(1.0 / joined["first"].cast("float64")).fill_null(0),
        ndcg=joined.dcg.fill_null(0) / joined.idcg,
        map=joined.ap.fill_null(0) / joined.n_ideal.cast("float64"),
    )


# ---- popularity ----
def head_predicate(t: Tables) -> Any:
    """A boolean column expression over ``item_stats``: is the item in the short head (docs/metrics.md)?

    The head is the shortest prefix of the items ordered by (φ descending, id ascending) holding at least 80%
    of the training interactions, from the φ histogram; only the boundary φ's items are sorted (by id).
    """
    import ibis

    def build() -> tuple[float, str | None]:
        stats = t.item_stats
        positive = stats.filter(stats.phi > 0)
        hist = positive.group_by("phi").aggregate(m=positive.count()).execute()
        if hist.empty:
            return math.inf, None
        hist = hist.sort_values("phi", ascending=False)
        values = hist["phi"].to_numpy(np.int64)
        sizes = hist["m"].to_numpy(np.int64)
        total = float((values * sizes).sum())
        target = HEAD_SHARE * total * (1.0 - 1e-12)  # as recaudit.metrics.popularity.head_items
        before = 0
        for v, m in zip(values.tolist(), sizes.tolist(), strict=True):
            if before + v * m >= target:
                j = max(1, min(m, math.ceil((target - before) / v)))
                while j > 1 and before + (j - 1) * v >= target:
                    j -= 1
                while j < m and before + j * v < target:
                    j += 1
                return float(v), nth_smallest(positive.filter(positive.phi == v), ITEM_ID, j)
            before += v * m
        return float(values[-1]), None  # unreachable: the whole histogram holds 100%

    value, last_id = t.cached("head", build)
    stats = t.item_stats
    if last_id is None:
        return ibis.literal(False) if math.isinf(value) else stats.phi >= value
    return (stats.phi > value) | ((stats.phi == value) & (as_text(stats[ITEM_ID]) <= last_id))


def nth_smallest(table: Any, column: str, n: int, *, largest: bool = False) -> str:
    """The ``n``-th smallest (or largest) string of ``column`` in ``table`` (1-based): the id where a run of
    tied values is split. A window over ``table`` only, which callers filter to one boundary value."""
    import ibis

    text = as_text(table[column])
    numbered = table.select(
        **{column: text}, rn=ibis.row_number().over(order_by=ibis.desc(text) if largest else text)
    )
    found = numbered.filter(numbered.rn == n - 1).select(column).execute()
    return str(found[column].iloc[0])


def item_facts(t: Tables) -> Any:
    """``item_id, phi, tail, novelty, phi_users`` per catalogue item: the popularity metrics' terms."""
    import ibis

    def build() -> Any:
        stats = t.item_stats
        n_users = float(max(t.n_train_users, 1))
        head = head_predicate(t)
        return stats.select(
            ITEM_ID,
            phi=stats.phi.cast("float64"),
            tail=(~head).cast("float64"),
            novelty=-(ibis.greatest(stats.n_users, 1).cast("float64") / n_users).log2(),
            phi_users=stats.n_users.cast("float64") / n_users,
        )

    return t.cached("item_facts", build, shared=True)


def popularity_per_user(t: Tables) -> Any:
    """``user_id, arp, aplt, novelty``: one row per user with a non-empty list."""
    facts = item_facts(t)
    rows = t.lists.join(facts, ITEM_ID)
    out = rows.group_by(USER_ID).aggregate(
        arp=rows.phi.mean(), aplt=rows.tail.mean(), novelty=rows.novelty.mean()
    )
    if t.n_train_users < 1:
        return out.mutate(novelty=None)
    return out


def popularity_means(t: Tables) -> dict[str, float] | None:
    """``arp``, ``aplt``, ``novelty`` without a pass over the lists, when every non-empty list has one
    length w (:attr:`Tables.width`): a mean over users of a mean over w rows is Σ_i c_i f(i) / (U w), read
    from the exposure table (one row per recommended item). None when the lengths differ."""
    if not t.width or not t.n_listed:
        return None
    exposure = exposure_counts(t)
    facts = item_facts(t)
    rows = exposure.join(facts, ITEM_ID)
    sums = rows.aggregate(**{metric: (rows.c * rows[column]).sum() for metric, column in FACT_OF.items()})
    found = sums.execute().iloc[0]
    scale = float(t.n_listed * t.width)
    out = {metric: float(found[metric]) / scale for metric in FACT_OF}
    if t.n_train_users < 1:
        out["novelty"] = math.nan
    return out


# ---- exposure ----
def exposure_counts(t: Tables) -> Any:
    """``item_id, c, x`` for the recommended items: lists holding the item, position-weighted exposure
    (a clean log's cleaning has already put its own in the cache: :attr:`CleanLists.exposure`)."""
    lists = t.lists
    return t.cached(
        "exposure",
        lambda: lists.group_by(ITEM_ID).aggregate(
            c=lists.count(), x=(1.0 / (lists[POS] + 1).cast("float64").log2()).sum()
        ),
        shared=True,
    )


def histogram(table: Any, column: str) -> pd.DataFrame:
    """``value, m``: how many rows of ``table`` hold each distinct value of ``column``, ascending."""
    hist = table.group_by(column).aggregate(m=table.count()).execute()
    hist = hist.rename(columns={column: "value"}).sort_values("value", kind="mergesort")
    return hist.reset_index(drop=True)


def _histogram(joint: pd.DataFrame, column: str) -> pd.DataFrame:
    """``value, m`` of one column of a (c, x, m) histogram, ascending."""
    hist = joint.groupby(column, sort=True)["m"].sum().reset_index()
    return hist.rename(columns={column: "value"})


def gini_from_histogram(values: np.ndarray, sizes: np.ndarray, n: int) -> float:
    """Gini of ``n`` values of which the given distinct positive ``values`` occur ``sizes`` times and the
    rest are 0: ``Σ_v v m_v (2 a_v + m_v − n) / (n Σ_v v m_v)``, ``a_v`` the count of smaller values.

    It is :func:`recaudit.metrics.exposure.gini`'s ``Σ_j (2j − n − 1) c_(j) / (n Σ c)`` with the positions
    ``j = a_v + 1 .. a_v + m_v`` of one value summed in closed form. NaN for ``n = 0`` or a zero total.
    """
    v = np.asarray(values, dtype=np.float64)
    m = np.asarray(sizes, dtype=np.float64)
    keep = v > 0
    v, m = v[keep], m[keep]
    total = float((v * m).sum())
    if n == 0 or total <= 0:
        return math.nan
    order = np.argsort(v, kind="stable")
    v, m = v[order], m[order]
    below = (n - m.sum()) + np.concatenate([[0.0], np.cumsum(m)[:-1]])
    return float(np.sum(v * m * (2.0 * below + m - n)) / (n * total))


def exposure_values(t: Tables) -> dict[str, float]:
    """The exposure family (docs/metrics.md "Exposure and catalogue") from the exposure histograms."""
    exposure = exposure_counts(t)
    joint = (
        exposure.group_by("c", "x").aggregate(m=exposure.count()).execute()
    )  # one query, both histograms
    counts = _histogram(joint, "c")
    weighted = _histogram(joint, "x")
    c = counts["value"].to_numpy(np.float64)
    m = counts["m"].to_numpy(np.float64)
    n = t.n_items
    n_listed = t.n_listed
    total = float((c * m).sum())
    out: dict[str, float] = {}
    out["coverage"] = float(m.sum() / n) if n else math.nan
    out["gini"] = gini_from_histogram(c, m, n)
    out["gini_recommended_only"] = gini_from_histogram(c, m, int(m.sum()))
    out["exposure_gini"] = gini_from_histogram(
        weighted["value"].to_numpy(np.float64), weighted["m"].to_numpy(np.float64), n
    )
    if total > 0:
        p = c / total
        entropy = float(-np.sum(m * p * np.log(p)))
    else:
        entropy = math.nan
    out["entropy"] = entropy
    out["entropy_norm"] = entropy / math.log(n) if n >= 2 else math.nan
    if n_listed >= 2:
        out["personalization"] = 1.0 - float(np.sum(m * c * (c - 1.0))) / (
            n_listed * (n_listed - 1.0) * t.k
        )
    else:
        out["personalization"] = math.nan
    return out


# ---- group exposure ----
def memberships(t: Tables, column: str) -> Any:
    """``item_id, group`` pairs of the catalogue's ``column`` (``category`` cells split on ``|``)."""
    cat = t.catalogue
    if column == CATEGORY:
        # translate, then split: Spark's split takes a regex, where "|" is an alternation
        cells = cat[column].translate(CATEGORY_SEP, _UNIT_SEP)
        parts = cat.select(ITEM_ID, group=cells.split(_UNIT_SEP).unnest())
        parts = parts.mutate(group=parts.group.strip())
        parts = parts.filter(parts.group.notnull() & (parts.group != ""))
        return parts.distinct()
    whole = cat.select(ITEM_ID, group=cat[column])
    return whole.filter(whole.group.notnull())


def group_exposure(t: Tables, column: str) -> pd.DataFrame:
    """:func:`recaudit.metrics.fairness.group_exposure`'s table for one item column, from the engine."""
    member = memberships(t, column)
    exposure = exposure_counts(t)
    total = t.cached("total_x", lambda: float(exposure.x.sum().execute() or 0.0))
    with_x = member.left_join(exposure, member[ITEM_ID] == exposure[ITEM_ID])
    per_group = (
        with_x.group_by(member.group)
        .aggregate(n_items=with_x.count(), exposure=with_x.x.fill_null(0).sum())
        .execute()
    )
    merit_total = math.nan
    merit = pd.Series(dtype=float)
    if t.test is not None:
        pairs = t.test_pairs.semi_join(t.catalogue, ITEM_ID)
        per_item = pairs.group_by(ITEM_ID).aggregate(t_i=pairs.count())
        merit_total = t.cached("merit_total", lambda: float(per_item.t_i.sum().execute() or 0.0))
        joined = member.join(per_item, ITEM_ID)
        merit = joined.group_by("group").aggregate(t_g=joined.t_i.sum()).execute().set_index("group")["t_g"]
    frame = per_group.sort_values("group", key=lambda s: s.astype(str)).reset_index(drop=True)
    names = frame["group"].astype(str)
    exposure_g = frame["exposure"].to_numpy(np.float64)
    n_items = frame["n_items"].to_numpy(np.int64)
    exposure_share = exposure_g / total if total > 0 else np.full(len(frame), np.nan)
    catalog_share = n_items / t.n_items if t.n_items else np.full(len(frame), np.nan)
    merit_share = np.full(len(frame), np.nan)
    if t.test is not None and merit_total > 0:
        merit_share = merit.reindex(names.to_numpy()).fillna(0.0).to_numpy(np.float64) / merit_total
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(
            merit_share > 0, exposure_share / np.where(merit_share > 0, merit_share, 1.0), np.nan
        )
    return pd.DataFrame(
        {
            "group": names.to_numpy(), "n_items": n_items, "exposure": exposure_g,
            "exposure_share": exposure_share, "catalog_share": catalog_share, "merit_share": merit_share,
            "exposure_ratio": ratio,
        },
        columns=list(GROUP_EXPOSURE_COLUMNS),
    )  # fmt: skip


# ---- popularity lift ----
def _boundary(hist: pd.DataFrame, count: int, *, lowest: bool) -> tuple[float, int]:
    """The share value where the ``count`` lowest (or highest) users end, and how many of its users belong."""
    ordered = hist if lowest else hist.iloc[::-1]
    taken = 0
    for value, m in zip(ordered["value"].tolist(), ordered["m"].astype(int).tolist(), strict=True):
        if taken + m >= count:
            return float(value), count - taken
        taken += m
    raise AssertionError("count exceeds the users")  # the caller passes count <= users


def popularity_lift(t: Tables) -> pd.DataFrame:
    """:func:`recaudit.metrics.popularity.popularity_lift` with :func:`popularity_groups`, from the engine."""
    import ibis

    facts = item_facts(t)
    head = facts.filter(facts.tail == 0.0).select(ITEM_ID)
    history = t.train.semi_join(t.catalogue, ITEM_ID).semi_join(t.users, USER_ID)
    history = history.select(USER_ID, ITEM_ID).distinct()
    marked = history.left_join(head.mutate(h=ibis.literal(True)), history[ITEM_ID] == head[ITEM_ID])
    marked = marked.select(history[USER_ID], history[ITEM_ID], h=marked.h.notnull().cast("float64"))
    shares = marked.group_by(USER_ID).aggregate(share=marked.h.sum() / marked.count().cast("float64"))
    shares = t.keep(shares) if t.keep is not None else shares  # read by four queries
    hist = histogram(shares, "share")
    n = int(hist["m"].sum())
    size_each = int(math.floor(GROUP_FRACTION * n + 0.5))
    label = ibis.literal(DIVERSE)
    if size_each:
        low, t_low = _boundary(hist, size_each, lowest=True)
        high, t_high = _boundary(hist, size_each, lowest=False)
        low_id = nth_smallest(shares.filter(shares.share == low), USER_ID, t_low)
        high_id = nth_smallest(shares.filter(shares.share == high), USER_ID, t_high, largest=True)
        user = as_text(shares[USER_ID])
        niche = (shares.share < low) | ((shares.share == low) & (user <= low_id))
        blockbuster = (shares.share > high) | ((shares.share == high) & (user >= high_id))
        label = ibis.ifelse(blockbuster, BLOCKBUSTER, ibis.ifelse(niche, NICHE, DIVERSE))
    labelled = shares.select(USER_ID, group=label)
    profile_rows = history.join(facts, ITEM_ID)
    profile = profile_rows.group_by(USER_ID).aggregate(profile=profile_rows.phi_users.mean())
    rec_rows = t.lists.join(facts, ITEM_ID)
    recommended = rec_rows.group_by(USER_ID).aggregate(recommended=rec_rows.phi_users.mean())
    users = t.users.select(USER_ID)
    out = users.left_join(labelled, users[USER_ID] == labelled[USER_ID])
    out = out.select(users[USER_ID], group=out.group.fill_null(NO_HISTORY))
    out = out.left_join(profile, out[USER_ID] == profile[USER_ID]).select(
        out[USER_ID], out.group, "profile"
    )
    out = out.left_join(recommended, out[USER_ID] == recommended[USER_ID]).select(
        out.group, out.profile, "recommended"
    )
    stats = (
        out.group_by("group")
        .aggregate(
            n_users=out.count(), gap_profile=out.profile.mean(), gap_recommended=out.recommended.mean()
        )
        .execute()
        .set_index("group")
    )
    present = set(stats.index)
    order = [g for g in POPULARITY_GROUPS if g in present] + sorted(
        g for g in present if g not in POPULARITY_GROUPS
    )
    stats = stats.reindex(order)
    stats["n_users"] = stats["n_users"].astype(np.int64)
    if t.n_train_users < 1:
        stats["gap_profile"] = np.nan
        stats["gap_recommended"] = np.nan
    gh = stats["gap_profile"].to_numpy(np.float64)
    gl = stats["gap_recommended"].to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        stats["delta_gap"] = np.where(gh > 0, (gl - gh) / np.where(gh > 0, gh, 1.0), np.nan)
    return stats.rename_axis("group").reset_index()
