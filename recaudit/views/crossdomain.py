"""Frames of the Cross-domain page (pure functions of a bundle and its transfer evaluation).

:func:`bucket_rows` turns one transfer table into the chart rows per target-interaction bucket;
:func:`user_lists` gives a user's target-domain lists with and without transfer side by side, and
:func:`source_history` their interactions in the other domains.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recaudit.bundle import Bundle
from recaudit.data.schema import CATEGORY, DOMAIN, ITEM_ID, TITLE, USER_ID
from recaudit.metrics.crossdomain import bucket_names
from recaudit.models.crossdomain.model import CrossDomainModel, SharedTables

MODE_LABELS = {
    "none": "target-only (no transfer)",
    "shared": "shared (joint model)",
    "mapping": "mapping (EMCDR)",
    "gated": "gated",
}


def bucket_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The bucket rows of a :func:`~recaudit.metrics.crossdomain.transfer_table`, in bucket order, with a
    ``label`` column naming the bucket and its users (``"3-5 (96)"``)."""
    order = {name: i for i, name in enumerate(bucket_names())}
    rows = table[table["group"].isin(order)].copy()
    rows["_order"] = rows["group"].map(order)
    rows = rows.sort_values("_order").drop(columns="_order").reset_index(drop=True)
    rows["label"] = rows["group"] + " (" + rows["n_users"].astype(str) + ")"
    return rows


def summary_rows(tables: dict[str, pd.DataFrame], served: str) -> pd.DataFrame:
    """One row per transfer mode: cold and warm lift and share hurt (the served mode marked)."""
    rows = []
    for mode, table in tables.items():
        t = table.set_index("group")
        label = MODE_LABELS.get(mode, mode) + (" · served" if mode == served else "")
        row: dict[str, object] = {"transfer": label}
        for group in ("cold", "warm"):
            if group in t.index:
                row[f"{group} users"] = int(t.loc[group, "n_users"])
                row[f"{group} lift"] = float(t.loc[group, "transfer_lift"])
                row[f"{group} hurt"] = float(t.loc[group, "negative_transfer_rate"])
        rows.append(row)
    return pd.DataFrame(rows)


def user_lists(
    bundle: Bundle, model: CrossDomainModel, domain: str, user: str, mode: str, k: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(without, with)``: the user's top-k in ``domain`` from target-only and from ``mode``, with titles."""
    row = bundle.user_vocab.rows(np.asarray([user], dtype=object))
    shared = SharedTables(bundle.user_emb, bundle.item_emb, bundle.item_bias)
    out = []
    for m in ("none", mode):
        recs = model.recommend(domain, m, row, k, seen=bundle.seen, shared=shared)
        titled = _with_titles(bundle, recs[["rank", ITEM_ID, "score"]])
        out.append(titled.drop(columns=[DOMAIN], errors="ignore"))  # every row is the target domain
    return out[0], out[1]


def source_history(bundle: Bundle, user: str, target: str, limit: int = 50) -> pd.DataFrame:
    """The user's training interactions outside ``target`` (their source domains), with titles."""
    if bundle.train is None or DOMAIN not in bundle.items.columns:
        return pd.DataFrame(columns=[ITEM_ID, TITLE, DOMAIN])
    rows = bundle.train[bundle.train[USER_ID].astype(str) == user][[ITEM_ID]].astype(str)
    frame = _with_titles(bundle, rows)
    return frame[frame[DOMAIN] != target].head(limit).reset_index(drop=True)


def target_count(model: CrossDomainModel, bundle: Bundle, domain: str, user: str) -> int:
    """The user's training interactions in ``domain`` (0: cold there)."""
    row = int(bundle.user_vocab.rows(np.asarray([user], dtype=object))[0])
    return int(model.domains[domain].counts[row])


def _with_titles(bundle: Bundle, frame: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in (TITLE, CATEGORY, DOMAIN) if c in bundle.items.columns]
    meta = bundle.items[[ITEM_ID, *columns]].astype({ITEM_ID: str})
    out = frame.astype({ITEM_ID: str}).merge(meta, on=ITEM_ID, how="left")
    return out.reset_index(drop=True)
