"""The Embedding map page's tables, without Streamlit: the stored map, neighbours, embedding health.

* :func:`stored_item_map`: the map a bundle stores (``projection/items.parquet``), when it still matches
  the catalogue;
* :func:`item_categories`: the category column the map colours and stratifies by;
* :func:`neighbour_table`: each selected item's nearest items (:mod:`recaudit.scoring.neighbours`);
* :func:`health_frame`, :func:`top_hubs_frame`: an :func:`recaudit.metrics.embedding.embedding_audit`
  result as tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from recaudit.bundle import Bundle
from recaudit.data.schema import CATEGORY, DOMAIN, ITEM_ID, TITLE
from recaudit.scoring.neighbours import NeighbourIndex
from recaudit.views.projection import ItemMap, ProjectionParams, embedding_hash, primary_categories

N_NEIGHBOURS = 5
HEALTH_KEYS = ("hubness", "norm_popularity_correlation", "anisotropy", "effective_dimensionality")


def item_categories(items: pd.DataFrame) -> list[object] | None:
    """The items' category strings (``"a|b"``) in row order, None without a category column."""
    return None if CATEGORY not in items.columns else list(items[CATEGORY].to_numpy(dtype=object))


def item_primary_categories(items: pd.DataFrame) -> np.ndarray | None:
    """Each item's first category (:func:`recaudit.views.projection.primary_categories`; ``""`` when it
    has none), None without a category column."""
    categories = item_categories(items)
    return None if categories is None else primary_categories(categories, len(items))


def stored_item_map(bundle: Bundle) -> ItemMap | None:
    """The map stored in the bundle (``bundle.item_map``: item_id, x, y in item row order), or None.

    None as well when the stored ids do not match the catalogue's rows (a stale map is never shown).
    """
    frame = getattr(bundle, "item_map", None)
    if frame is None or len(frame) != len(bundle.items):
        return None
    ids = frame[ITEM_ID].astype(str).to_numpy()
    if not np.array_equal(ids, bundle.items[ITEM_ID].astype(str).to_numpy()):
        return None
    stored = dict(bundle.manifest.get("projection") or {})
    seconds = float(stored.pop("seconds", 0.0) or 0.0)
    fitted_rows = int(stored.pop("fitted_rows", 0) or 0)
    params = ProjectionParams.from_dict(stored) if stored else ProjectionParams()
    xy = np.column_stack([frame["x"].to_numpy(), frame["y"].to_numpy()]).astype(np.float32)
    return ItemMap(
        item_ids=ids,
        xy=xy,
        params=params,
        embedding_hash=embedding_hash(bundle.item_emb),
        seconds=seconds,
        from_cache=True,
        fitted_rows=fitted_rows,
    )


def neighbour_table(
    bundle: Bundle, index: NeighbourIndex, rows: Sequence[int], n: int = N_NEIGHBOURS
) -> pd.DataFrame:
    """One row per selected item: id, title, category, domain, popularity and its ``n`` nearest items in
    ``index`` (built over the bundle's item vectors; titles and ids joined with "; ", similarities
    rounded to 3 decimals)."""
    rows = np.asarray(rows, dtype=np.int64).ravel()
    hits, sims = index.search(rows, n)
    items = bundle.items
    ids = items[ITEM_ID].astype(str).to_numpy()
    titles = items[TITLE].astype(str).to_numpy() if TITLE in items.columns else ids
    out = pd.DataFrame({ITEM_ID: ids[rows], TITLE: titles[rows]})
    for column in (CATEGORY, DOMAIN):
        if column in items.columns:
            out[column] = items[column].to_numpy(dtype=object)[rows]
    out["popularity"] = bundle.item_popularity[rows]
    out["neighbours"] = ["; ".join(titles[h] for h in row if h >= 0) for row in hits]
    out["neighbour_ids"] = ["; ".join(ids[h] for h in row if h >= 0) for row in hits]
    out["cosines"] = ["; ".join(f"{s:.3f}" for s in row if np.isfinite(s)) for row in sims]
    return out


def health_frame(result: dict[str, Any]) -> pd.DataFrame:
    """``measure, value, what a bad value means`` rows of an :func:`embedding_audit` result."""
    help_ = result.get("help") or {}
    rows = []
    for key in HEALTH_KEYS:
        if key not in result:
            continue
        value = result[key]
        if isinstance(value, dict):
            value = value.get("skewness", np.nan)
        rows.append(
            {
                "measure": key,
                "value": float(value) if value is not None else np.nan,
                "what a bad value means": str(help_.get(key, "")),
            }
        )
    return pd.DataFrame(rows, columns=["measure", "value", "what a bad value means"])


def top_hubs_frame(result: dict[str, Any], items: pd.DataFrame) -> pd.DataFrame:
    """The hubs of :func:`hubness` (catalogue row, N_k) with their ids and titles."""
    hubs = (result.get("hubness") or {}).get("top_hubs") or []
    rows = np.array([int(r) for r, _ in hubs], dtype=np.int64)
    out = pd.DataFrame({ITEM_ID: items[ITEM_ID].astype(str).to_numpy()[rows]})
    if TITLE in items.columns:
        out[TITLE] = items[TITLE].astype(str).to_numpy()[rows]
    out["N_k"] = [int(c) for _, c in hubs]
    return out
