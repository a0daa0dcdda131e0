"""The cold-start curves: how a model treats newcomers as their first interactions arrive.

* :func:`new_user_curve`: held-out users' ndcg@k against the number of interactions revealed to the model.
* :func:`new_item_curve`: held-out cold items' recall@k against the number of their interactions revealed,
  for the content vector alone, the collaborative vector alone and their blend (the ``coldstart`` family).

New users
---------

Definition (shared/METRICS.md, "Cold start", new users): for n = 0, 1, 2, 5, 10, a held-out user's first n
interactions by time are revealed (the model gets them as a new user's history), the rest is T_u, the n
revealed items are excluded from L_u, and ndcg@k is computed as everywhere else
(:func:`recaudit.metrics.ranking.evaluate_lists`). n = 0 is the model's answer for an unknown user.

Which users are held out (:func:`held_out_histories`), for ``interactions`` (default: the bundle's test set):

1. the users of ``interactions`` the model does not know, if there are any (the sample world's planted cold
   users: pass ``sample_data/cold_interactions.parquet``; its warm users' rows are then ignored);
2. else every user of ``interactions``, treated as unknown: their training rows are ignored (neither
   revealed nor excluded). The item vectors were still trained on those rows, so this setting is
   optimistic; it is what a bundle without unknown users allows.

Rows of items outside the catalogue are dropped. Only users with more than max(n) remaining rows are kept,
so every n and every method is measured on the same users (a paired comparison) and T_u is never empty.

Methods: ``foldin`` (:class:`~recaudit.models.foldin.FoldIn`), ``meta`` (the learned prior,
:class:`~recaudit.models.newusers.PriorFoldIn`) and ``popularity`` (training interaction count, the
revealed items excluded). Each point carries a 95% percentile-bootstrap interval over users
(:func:`recaudit.metrics.stats.bootstrap_ci`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recaudit.bundle import Bundle
from recaudit.data.schema import ITEM_ID, TIMESTAMP, USER_ID
from recaudit.metrics.ranking import evaluate_lists
from recaudit.metrics.stats import bootstrap_ci
from recaudit.models.coldstart.newitems import item_histories
from recaudit.models.foldin import median_norm
from recaudit.models.newusers import new_user_solver, row_lists
from recaudit.workflows.holdout import popularity_scorer

__all__ = [
    "CURVE_COLUMNS",
    "DEFAULT_NS",
    "ITEM_CURVE_COLUMNS",
    "ITEM_METHODS",
    "held_out_histories",
    "held_out_item_histories",
    "new_item_curve",
    "new_user_curve",
]

DEFAULT_NS: tuple[int, ...] = (0, 1, 2, 5, 10)
CURVE_COLUMNS = ("method", "n", "ndcg", "ci_low", "ci_high", "n_users")
METHODS: tuple[str, ...] = ("foldin", "meta", "popularity")
ITEM_CURVE_COLUMNS = ("method", "n", "recall", "ci_low", "ci_high", "n_users")
ITEM_METHODS: tuple[str, ...] = ("content", "collaborative", "blend")


def held_out_histories(
    bundle: Bundle, interactions: pd.DataFrame | None = None, *, min_rows: int = 11
) -> tuple[dict[str, np.ndarray], str]:
    """The held-out users' item rows in time order, and which rule chose them (``"unknown"`` or ``"test"``).

    ``interactions`` (default: the bundle's test set) must have ``user_id, item_id`` and, for the order,
    ``timestamp`` (without it, file order). Users with fewer than ``min_rows`` catalogue rows are left out.

    Raises:
        ValueError: no interactions to hold out, or no user with enough rows.
    """
    frame = bundle.test if interactions is None else interactions
    if frame is None or frame.empty:
        raise ValueError("no held-out interactions: the bundle has no test set and none was given")
    frame = frame[[c for c in (USER_ID, ITEM_ID, TIMESTAMP) if c in frame.columns]].astype(
        {USER_ID: str, ITEM_ID: str}
    )
    unknown = ~frame[USER_ID].isin(bundle.user_row.index)
    rule = "unknown" if unknown.any() else "test"
    if unknown.any():
        frame = frame[unknown]
    frame = frame[frame[ITEM_ID].isin(bundle.item_row.index)]
    if TIMESTAMP in frame.columns:
        frame = frame.sort_values([USER_ID, TIMESTAMP], kind="mergesort")
    else:
        frame = frame.sort_values(USER_ID, kind="mergesort")
    frame = frame.drop_duplicates([USER_ID, ITEM_ID])  # a re-interaction is not a new item to find
    rows = bundle.item_row.loc[frame[ITEM_ID]].to_numpy(dtype=np.int64)
    users = frame[USER_ID].to_numpy(dtype=object)
    out: dict[str, np.ndarray] = {}
    if len(users):
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        ends = np.r_[starts[1:], len(users)]
        out = {str(users[s]): rows[s:e] for s, e in zip(starts, ends, strict=True) if e - s >= min_rows}
    if not out:
        raise ValueError(f"no held-out user has at least {min_rows} interactions with catalogue items")
    return out, rule


def new_user_curve(
    bundle: Bundle,
    interactions: pd.DataFrame | None = None,
    *,
    ns: Sequence[int] = DEFAULT_NS,
    k: int = 10,
    methods: Sequence[str] = METHODS,
    max_users: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """ndcg@k of held-out users against n revealed interactions, per method, with 95% bootstrap CIs.

    ``max_users`` keeps an evenly spaced subset of the held-out users (sorted by id) for speed. Returns a
    tidy frame with :data:`CURVE_COLUMNS` (one row per method and n); ``frame.attrs["held_out"]`` names the
    rule that chose the users (see the module docstring).

    Raises:
        ValueError: bad ``ns``/``methods``, or no held-out user (see :func:`held_out_histories`).
    """
    ns = sorted({int(n) for n in ns})
    if not ns or ns[0] < 0:
        raise ValueError(f"ns must be integers >= 0, got {ns}")
    unknown_methods = set(methods) - set(METHODS)
    if unknown_methods:
        raise ValueError(f"unknown methods {sorted(unknown_methods)}; use {METHODS}")
    histories, rule = held_out_histories(bundle, interactions, min_rows=ns[-1] + 1)
    users = np.asarray(sorted(histories), dtype=object)
    if max_users is not None and len(users) > max_users:
        users = users[np.unique(np.linspace(0, len(users) - 1, max_users).round().astype(np.int64))]
    scorer = bundle.exact_scorer("cpu")
    cosine = bundle.score == "cosine"
    trained = row_lists(bundle.seen.indptr, bundle.seen.indices)
    solvers = {
        m: new_user_solver(m, bundle.item_emb, bundle.user_emb, cosine=cosine, histories=trained)
        for m in methods if m != "popularity"
    }
    popularity = popularity_scorer(bundle) if "popularity" in methods else None
    records = []
    for n in ns:
        revealed = [histories[u][:n] for u in users]
        truth = pd.DataFrame({
            USER_ID: np.repeat(users, [len(histories[u]) - n for u in users]),
            ITEM_ID: bundle.item_ids[np.concatenate([histories[u][n:] for u in users])],
        })
        for method in methods:
            if method == "popularity":
                assert popularity is not None
                recs = popularity.recommend_vectors(
                    np.ones((len(users), 1), np.float32), k, exclude=revealed, labels=list(users)
                )
            else:
                vectors = np.stack([solvers[method].fit(r) for r in revealed])
                recs = scorer.recommend_vectors(vectors, k, exclude=revealed, labels=list(users))
            per_user = evaluate_lists(recs.to_frame(), truth, ks=(k,), metrics=("ndcg",), per_user=True)
            values = per_user[f"ndcg@{k}"].reindex(users).to_numpy(dtype=np.float64)
            mean, low, high = bootstrap_ci(values, n_boot=n_boot, seed=seed)
            records.append((method, n, mean, low, high, int(np.isfinite(values).sum())))
    curve = pd.DataFrame.from_records(records, columns=list(CURVE_COLUMNS))
    curve.attrs["held_out"] = rule
    curve.attrs["k"] = k
    return curve


# ---- new items ----------------------------------------------------------------------------------------
def held_out_item_histories(
    bundle: Bundle, interactions: pd.DataFrame | None = None, *, min_rows: int = 11
) -> dict[str, np.ndarray]:
    """Each held-out cold item's users (bundle user rows) in time order.

    Held out: the rows of ``interactions`` (default: the bundle's test set) whose item is in the catalogue
    without training interactions (a cold item, scored from content alone) and whose user the bundle knows
    (their vectors make the item's collaborative vector). A user counts once per item (first time).
    Items with fewer than ``min_rows`` such users are left out.

    Raises:
        ValueError: no interactions, or no cold item with ``min_rows`` known users.
    """
    frame = bundle.test if interactions is None else interactions
    if frame is None or frame.empty:
        raise ValueError("no held-out interactions: the bundle has no test set and none was given")
    frame = frame[[c for c in (USER_ID, ITEM_ID, TIMESTAMP) if c in frame.columns]].astype(
        {USER_ID: str, ITEM_ID: str}
    )
    trained = np.diff(bundle.seen.tocsc().indptr) > 0
    cold_ids = set(bundle.item_ids[~trained].astype(str))
    frame = frame[frame[ITEM_ID].isin(cold_ids) & frame[USER_ID].isin(bundle.user_row.index)]
    out = item_histories(frame, bundle.user_row, min_rows)
    if not out:
        raise ValueError(
            f"no cold item (catalogue item without training interactions) has at least {min_rows} "
            "held-out interactions by users the bundle knows"
        )
    return out


def new_item_curve(
    bundle: Bundle,
    interactions: pd.DataFrame | None = None,
    *,
    ns: Sequence[int] = DEFAULT_NS,
    k: int = 10,
    methods: Sequence[str] = ITEM_METHODS,
    max_items: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """recall@k of held-out cold items against n revealed interactions: content, collaborative, blend.

    Protocol (the item-side mirror of :func:`new_user_curve`). For each cold item of
    :func:`held_out_item_histories`, its first n users by time are revealed, n = 0, 1, 2, 5, 10:

    * ``content``: the item's calibrated content vector (and bias), whatever n;
    * ``collaborative``: the mean of the revealed users' vectors
      (:func:`~recaudit.models.coldstart.newitems.centroid_vectors`, which says why not a ridge fold-in);
      with an item bias, the median learnt bias of the warm items (n counts what was revealed so far, not
      the item's lifetime popularity); n = 0 gives the zero vector and the lowest learnt bias (what the
      family gives an item it never trained);
    * ``blend``: the model's own blend of the two at n, with the bundle's w(n) for newcomers (the
      schedule's bucket share or the learned newcomers' κ / (κ + n); content alone at 0) and the content
      bias
      (:func:`~recaudit.models.coldstart.newitems.newcomer_blend` says why).

    Evaluated pairs: each item's users after its first max(n), the same pairs at every n and for every
    method (a paired comparison). A pair is a hit when the item would enter the user's top-k list over
    the bundle's catalogue (:func:`~recaudit.models.coldstart.newitems.kth_other_scores`). recall@k is
    each user's hit share over their pairs, averaged over users (as ``cold_item_recall@k``), with a 95%
    percentile-bootstrap interval over users.

    ``max_items`` keeps an evenly spaced subset of the items (sorted by id). Returns a tidy frame with
    :data:`ITEM_CURVE_COLUMNS`; ``attrs``: ``k``, ``n_items``, ``n_pairs``, ``weights`` (the blend's
    content share at each n), ``blend_rule``.

    Raises:
        ValueError: the bundle has no content encoder, bad ``ns``/``methods``, or no held-out cold item.
    """
    from recaudit.models.coldstart.newitems import (
        centroid_vectors,
        kth_other_scores,
        newcomer_blend,
        pair_hits,
        revealed_pairs,
    )
    from recaudit.models.coldstart.trained import TrainedColdStart

    ns = sorted({int(n) for n in ns})
    if not ns or ns[0] < 0:
        raise ValueError(f"ns must be integers >= 0, got {ns}")
    unknown_methods = set(methods) - set(ITEM_METHODS)
    if unknown_methods:
        raise ValueError(f"unknown methods {sorted(unknown_methods)}; use {ITEM_METHODS}")
    model = bundle.model
    if not isinstance(model, TrainedColdStart):
        raise ValueError(
            f"the bundle (kind {model.kind}) has no content encoder: train one with "
            "`recaudit train INTERACTIONS --items ITEMS --content tfidf`"
        )
    histories = held_out_item_histories(bundle, interactions, min_rows=ns[-1] + 1)
    items = np.asarray(sorted(histories), dtype=object)
    if max_items is not None and len(items) > max_items:
        items = items[np.unique(np.linspace(0, len(items) - 1, max_items).round().astype(np.int64))]
    rows = bundle.item_row.loc[items].to_numpy(dtype=np.int64)
    item_histories = [histories[i] for i in items]
    pair_item, pair_user = revealed_pairs(item_histories, ns[-1])
    unique, inverse = np.unique(pair_user, return_inverse=True)
    recs = bundle.exact_scorer("cpu").recommend(list(bundle.user_ids[unique]), k + 1, exclude_seen=True)
    bar = kth_other_scores(recs.item_index[inverse], recs.scores[inverse], rows[pair_item], k)
    cosine = bundle.score == "cosine"
    warm = model.counts > 0
    target = None if cosine else median_norm(model.collab_emb[warm])
    has_bias = bundle.item_bias is not None and model.content_bias is not None
    content = model.content_emb[rows]
    content_bias = model.content_bias[rows] if has_bias else None
    shares = {n: float(model.newcomer_share_at(np.array([n]))[0]) for n in ns}
    records = []
    for n in ns:
        collab = centroid_vectors(bundle.user_emb, item_histories, n, cosine=cosine, target_norm=target)
        collab_bias = None
        if has_bias and model.collab_bias is not None:
            level = model.collab_bias[warm].min() if n == 0 else np.median(model.collab_bias[warm])
            collab_bias = np.full(len(items), level, np.float32)
        mixed, mixed_bias = newcomer_blend(content, content_bias, collab, shares[n], cosine=cosine)
        vectors = {"content": (content, content_bias), "collaborative": (collab, collab_bias),
                   "blend": (mixed, mixed_bias)}  # fmt: skip
        for method in methods:
            vecs, bias = vectors[method]
            hits = pair_hits(bundle.user_emb, vecs, bias, pair_user, pair_item, bar, cosine=cosine)
            mean, low, high = bootstrap_ci(hits, n_boot=n_boot, seed=seed)
            records.append((method, n, mean, low, high, int(hits.size)))
    curve = pd.DataFrame.from_records(records, columns=list(ITEM_CURVE_COLUMNS))
    curve.attrs.update({
        "k": k, "n_items": int(len(items)), "n_pairs": int(len(pair_user)), "weights": shares,
        "blend_rule": model.blend_rule,
    })  # fmt: skip
    return curve
