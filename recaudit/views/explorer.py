"""The User explorer's work, without Streamlit: tables for histories and lists, timed live calls, what-if.

Plain functions over a :class:`~recaudit.bundle.Bundle` and a scorer, so the app's pages stay thin and
every piece is testable without a running app.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from recaudit.bundle import Bundle
from recaudit.data.schema import CATEGORY, DOMAIN, ITEM_ID, RANK, SCORE, TIMESTAMP, TITLE
from recaudit.metrics.registry import metric_names
from recaudit.models.foldin import FoldIn
from recaudit.scoring import ExactScorer, Recommendations


def readable_time(seconds: pd.Series) -> pd.Series:
    """int64 seconds since the epoch -> ``YYYY-MM-DD HH:MM`` (UTC) strings."""
    stamps = pd.to_datetime(pd.to_numeric(seconds, errors="coerce"), unit="s", utc=True)
    return stamps.dt.strftime("%Y-%m-%d %H:%M").fillna("")


def _item_meta(bundle: Bundle, rows: np.ndarray) -> pd.DataFrame:
    """Title, category and domain of the given item rows (empty strings when a column is absent)."""
    out = pd.DataFrame(index=range(len(rows)))
    for column in (TITLE, CATEGORY, DOMAIN):
        if column in bundle.items.columns:
            out[column] = bundle.items[column].to_numpy(dtype=object)[rows]
        else:
            out[column] = ""
    return out


def history_table(bundle: Bundle, user_id: str) -> pd.DataFrame:
    """A user's training history: item_id, title, category, domain, readable time; newest first."""
    history = bundle.history(user_id)
    out = pd.DataFrame({ITEM_ID: history[ITEM_ID].astype(str).to_numpy()})
    for column in (TITLE, CATEGORY, DOMAIN):
        out[column] = history[column].to_numpy() if column in history.columns else ""
    if TIMESTAMP in history.columns:
        out["time"] = readable_time(history[TIMESTAMP]).to_numpy()
    return out


def recs_table(bundle: Bundle, recs: Recommendations, row: int = 0) -> pd.DataFrame:
    """One list of ``recs`` as rank, item_id, title, category, domain, score (padding dropped)."""
    index = np.asarray(recs.item_index[row])
    keep = index >= 0
    rows = index[keep]
    out = pd.DataFrame(
        {RANK: np.arange(1, len(rows) + 1), ITEM_ID: bundle.item_ids[rows].astype(str)}
    )
    out = pd.concat([out, _item_meta(bundle, rows)], axis=1)
    out[SCORE] = np.asarray(recs.scores[row], dtype=np.float64)[keep]
    return out


def overlap(a: Sequence[str], b: Sequence[str]) -> tuple[int, float]:
    """|A ∩ B| and the Jaccard index |A ∩ B| / |A ∪ B| of two lists' item sets (0 if both empty)."""
    sa, sb = set(a), set(b)
    union = len(sa | sb)
    common = len(sa & sb)
    return common, (common / union if union else 0.0)


def list_changes(before: Sequence[str], after: Sequence[str]) -> tuple[list[str], list[str]]:
    """Items that entered ``after`` (in its order) and that left ``before`` (in its order)."""
    sb, sa = set(before), set(after)
    return [i for i in after if i not in sb], [i for i in before if i not in sa]


def filter_ids(ids: Sequence[str], query: str, limit: int | None = None) -> list[str]:
    """Ids containing ``query`` (case-insensitive; all for an empty query), at most ``limit``."""
    values = pd.Series(np.asarray(ids, dtype=object)).astype(str)
    query = query.strip()
    if query:
        values = values[values.str.contains(query, case=False, regex=False)]
    out = values.tolist()
    return out if limit is None else out[:limit]


def search_items(bundle: Bundle, query: str, limit: int = 50) -> list[str]:
    """Catalogue item ids whose id or title contains ``query`` (case-insensitive), <= ``limit``."""
    query = query.strip()
    if not query:
        return []
    ids = bundle.items[ITEM_ID].astype(str)
    hit = ids.str.contains(query, case=False, regex=False)
    if TITLE in bundle.items.columns:
        hit |= bundle.items[TITLE].astype(str).str.contains(query, case=False, regex=False)
    return ids[hit].head(limit).tolist()


def item_label(bundle: Bundle) -> Callable[[str], str]:
    """A ``format_func`` showing ``title (item_id)`` for item ids."""
    titles = (
        bundle.items.set_index(ITEM_ID)[TITLE].astype(str).to_dict()
        if TITLE in bundle.items.columns
        else {}
    )
    return lambda item_id: f"{titles[item_id]} ({item_id})" if item_id in titles else str(item_id)


def _metric_order(name: str, first: Sequence[str]) -> tuple[int, int, str]:
    """Sort key: by k, then the metrics of ``first`` in its order, then any other metric by name."""
    base, _, k = name.partition("@")
    rank = first.index(base) if base in first else len(first)
    return (int(k) if k.isdigit() else 0, rank, base)


def evaluation_frame(evaluation: dict[str, Any]) -> pd.DataFrame:
    """``{"model": {"recall@10": ..}, "popularity": {..}}`` -> metric rows, system columns."""
    systems = [name for name in ("model", "popularity") if isinstance(evaluation.get(name), dict)]
    metrics = list(dict.fromkeys(m for name in systems for m in evaluation[name]))
    first = metric_names(set="overview")  # the catalogue's Overview order: recall, ndcg, precision, hit rate
    ordered = sorted(metrics, key=lambda name: _metric_order(name, first))
    frame = pd.DataFrame(
        {name: [evaluation[name].get(m, np.nan) for m in ordered] for name in systems},
        index=pd.Index(ordered, name="metric"),
    )
    return frame.astype(np.float64)


def recommend_user(
    bundle: Bundle,
    scorer: ExactScorer,
    user_id: str,
    k: int,
    *,
    exclude_seen: bool = True,
    domain: str | None = None,
) -> tuple[pd.DataFrame, float]:
    """Live top-k for one user as a table, and the scorer call's latency in ms (perf_counter)."""
    candidates = bundle.domain_mask(domain)
    start = time.perf_counter()
    recs = scorer.recommend([user_id], k=k, exclude_seen=exclude_seen, candidates=candidates)
    elapsed_ms = (time.perf_counter() - start) * 1000.0
    return recs_table(bundle, recs), elapsed_ms


def history_ids(bundle: Bundle, user_id: str) -> list[str]:
    """Ids of the items in the user's training interactions (unique, in catalogue order)."""
    rows = np.sort(bundle.seen[int(bundle.user_row[user_id])].indices)
    return bundle.item_ids[rows].astype(str).tolist()


def edit_history(history: Sequence[str], remove: Sequence[str], add: Sequence[str]) -> list[str]:
    """``history`` without ``remove``, then the ``add`` items not already in it (order kept)."""
    removed, present = set(remove), set(history)
    return [i for i in history if i not in removed] + list(
        dict.fromkeys(a for a in add if a not in present)
    )


def what_if(
    bundle: Bundle,
    scorer: ExactScorer,
    foldin: FoldIn,
    history: Sequence[str],
    k: int,
    *,
    domain: str | None = None,
) -> pd.DataFrame:
    """Top-k from a user vector folded in on ``history`` (item ids), those items excluded.

    The vector is the closed-form ridge fold-in of :class:`recaudit.models.foldin.FoldIn` (Hu, Koren &
    Volinsky 2008): no retraining, one d×d solve.
    """
    rows = np.unique(bundle.item_row.loc[list(history)].to_numpy(dtype=np.int64))
    vector = foldin.fit(rows)
    recs = scorer.recommend_vectors(
        vector[None, :], k, exclude=[rows], candidates=bundle.domain_mask(domain)
    )
    return recs_table(bundle, recs)
