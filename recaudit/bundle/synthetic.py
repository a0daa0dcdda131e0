"""Large synthetic bundles, built in seconds, for benchmarks and scale tests of the app.

Why: the app has to stay usable on catalogues of a million items and populations of 100k users (the
Embedding map draws them, every page loads them), and no real dataset of that size ships with the repo.
The sample world (:mod:`recaudit.data.synthetic`, ``recaudit sample``) plants rich, documented structure but
is built for thousands of items; this module builds a plain, structurally simple bundle of any size fast:

* item vectors drawn from a Gaussian mixture of ``n_categories`` clusters (so a map shows clusters), one
  category and one of two domains per item, Zipf-like popularity;
* user vectors near the centre of a favourite cluster, each user with a log-normal number of training
  interactions drawn mostly from that cluster, popularity-weighted; a held-out test table for a share of
  the users; a ``segment`` column in the users table (light / regular / heavy) for the user map's colours;
* a stored PCA item map (``projection/items.parquet``, manifest ``projection``), so the Embedding map opens
  on it at once (PCA of 1M x 32 takes about a second; UMAP would take many minutes).

Timing (2 CPUs): 1M items x dim 32 with 10k users builds and saves in 6-15 s (15 s with other work beside it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from recaudit.bundle.io import Bundle, make_manifest, save_bundle
from recaudit.data.schema import CATEGORY, DOMAIN, ITEM_ID, TIMESTAMP, TITLE, USER_ID

__all__ = ["SEGMENTS", "synthetic_bundle"]

SEGMENTS = ("light", "regular", "heavy")
"""Values of the users table's ``segment`` column: activity terciles (by training interactions)."""
BASE_TIME = 1_600_000_000


def _item_table(
    n_items: int, n_categories: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
    """Items (id, title, category, domain) and each item's cluster (= its category code)."""
    cluster = rng.integers(0, n_categories, size=n_items)
    width = len(str(max(n_items - 1, 1)))
    codes = np.arange(n_items)
    ids = np.char.add("i", np.char.zfill(codes.astype(str), width))
    items = pd.DataFrame(
        {
            ITEM_ID: ids,
            TITLE: np.char.add("Item ", codes.astype(str)),
            CATEGORY: pd.Categorical.from_codes(cluster, [f"c{c:02d}" for c in range(n_categories)]).astype(
                str
            ),
            DOMAIN: np.where(cluster % 2 == 0, "movies", "books"),
        }
    )
    return items, cluster


def synthetic_bundle(
    out: str | Path,
    *,
    n_items: int = 1_000_000,
    n_users: int = 10_000,
    dim: int = 32,
    n_categories: int = 12,
    mean_interactions: float = 20.0,
    test_share: float = 0.2,
    item_map: Literal["pca", "none"] = "pca",
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Build and save a synthetic bundle of ``n_items`` items and ``n_users`` users at ``out``.

    Args:
        out: bundle directory to write (atomically; see :func:`recaudit.bundle.save_bundle`).
        n_items: catalogue size (e.g. 1_000_000).
        n_users: population size (e.g. 100_000).
        dim: embedding dimension.
        n_categories: clusters of the item mixture, one category each.
        mean_interactions: mean training interactions per user (log-normal, at least 1).
        test_share: share of users with 2 held-out test interactions (exposure and audits need some).
        item_map: ``"pca"`` stores the default PCA item map in the bundle; ``"none"`` leaves the map to the
            app (computed on demand in the background).
        seed: everything is drawn from ``numpy.random.default_rng(seed)``.
        overwrite: replace an existing bundle at ``out``.

    Returns:
        The bundle directory.
    """
    if n_items < 2 or n_users < 1 or dim < 2 or n_categories < 1:
        raise ValueError("need n_items >= 2, n_users >= 1, dim >= 2 and n_categories >= 1")
    rng = np.random.default_rng(seed)
    items, cluster = _item_table(n_items, n_categories, rng)
    centres = rng.normal(size=(n_categories, dim)).astype(np.float32) * 3.0
    item_emb = centres[cluster] + rng.standard_normal(size=(n_items, dim), dtype=np.float32)

    favourite = rng.integers(0, n_categories, size=n_users)
    user_emb = centres[favourite] + rng.standard_normal(size=(n_users, dim), dtype=np.float32) * 1.5
    counts = np.maximum(1, np.rint(rng.lognormal(np.log(mean_interactions) - 0.5, 1.0, size=n_users)))
    counts = np.minimum(counts, n_items // 2).astype(np.int64)

    # popularity: Zipf-like weights over a random item order; 80% of a user's picks from its cluster
    weight = 1.0 / np.arange(1, n_items + 1) ** 0.9
    weight = weight[rng.permutation(n_items)]
    order = np.argsort(cluster, kind="stable")
    starts = np.searchsorted(cluster[order], np.arange(n_categories + 1))
    cum = [np.cumsum(weight[order[starts[c] : starts[c + 1]]]) for c in range(n_categories)]
    all_cum = np.cumsum(weight)
    owner = np.repeat(np.arange(n_users), counts)
    in_cluster = rng.random(owner.size) < 0.8
    picked = np.empty(owner.size, dtype=np.int64)
    draws = rng.random(owner.size)
    outside = ~in_cluster
    picked[outside] = np.minimum(np.searchsorted(all_cum, draws[outside] * all_cum[-1]), n_items - 1)
    for c in range(n_categories):
        mask = in_cluster & (favourite[owner] == c)
        if not mask.any() or cum[c].size == 0:
            picked[mask] = rng.integers(0, n_items, size=int(mask.sum()))
            continue
        local = np.searchsorted(cum[c], draws[mask] * cum[c][-1])
        picked[mask] = order[starts[c] + np.minimum(local, cum[c].size - 1)]
    pairs = pd.DataFrame({"u": owner, "i": picked}).drop_duplicates()
    user_width = len(str(max(n_users - 1, 1)))
    user_ids = np.char.add("u", np.char.zfill(np.arange(n_users).astype(str), user_width))
    times = BASE_TIME + 3600 * pairs.groupby("u").cumcount().to_numpy() + pairs["u"].to_numpy()
    train = pd.DataFrame(
        {
            USER_ID: user_ids[pairs["u"].to_numpy()],
            ITEM_ID: items[ITEM_ID].to_numpy()[pairs["i"].to_numpy()],
        }
    )
    train[TIMESTAMP] = times.astype(np.int64)

    tested = np.flatnonzero(rng.random(n_users) < test_share)
    test_items = rng.integers(0, n_items, size=(tested.size, 2))
    test = pd.DataFrame(
        {
            USER_ID: np.repeat(user_ids[tested], 2),
            ITEM_ID: items[ITEM_ID].to_numpy()[test_items.ravel()],
            TIMESTAMP: np.full(tested.size * 2, BASE_TIME + 10**8, dtype=np.int64),
        }
    ).drop_duplicates([USER_ID, ITEM_ID])

    activity = np.bincount(pairs["u"].to_numpy(), minlength=n_users)
    terciles = np.quantile(activity, [1 / 3, 2 / 3])
    users = pd.DataFrame(
        {USER_ID: user_ids, "segment": np.array(SEGMENTS)[np.searchsorted(terciles, activity)]}
    )
    bundle = Bundle(
        users=users,
        items=items,
        user_emb=user_emb,
        item_emb=item_emb,
        train=train,
        test=test,
        manifest=make_manifest(
            kind="synthetic",
            score="dot",
            dim=dim,
            config={"n_items": n_items, "n_users": n_users, "n_categories": n_categories, "seed": seed},
        ),
    )
    if item_map == "pca":
        from recaudit.views.projection import ProjectionParams, project_items

        mapped = project_items(item_emb, items[ITEM_ID].to_numpy(), ProjectionParams(method="pca"))
        bundle.item_map = pd.DataFrame(
            {ITEM_ID: mapped.item_ids, "x": mapped.xy[:, 0], "y": mapped.xy[:, 1]}
        )
        bundle.manifest["projection"] = {**mapped.params.to_dict(), "seconds": round(mapped.seconds, 2)}
    elif item_map != "none":
        raise ValueError(f"item_map must be 'pca' or 'none', got {item_map!r}")
    return save_bundle(bundle, out, overwrite=overwrite)
