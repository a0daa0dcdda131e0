"""Training the ``coldstart`` family: the collaborative model, then the content encoder and the blend.

Steps (each reported to ``progress``):

1. **collaborative**: :func:`recaudit.models.train_mf` on the interactions, with the config's MF fields
   (exactly the ``mf`` family's model).
2. **features**: the item descriptions of the whole catalogue -> features
   (:class:`~recaudit.models.coldstart.features.ItemFeaturizer`; fitted on descriptions only, never on
   interactions, so describing the cold items leaks nothing about their audience).
3. **encoder**: the ridge map from features to the warm items' vectors and biases, calibrated to their
   distributions (:class:`~recaudit.models.coldstart.encoder.ContentEncoder`).
4. **blend**: every catalogue item's embedding from its interaction count
   (:mod:`recaudit.models.coldstart.blend`); with ``blend="learned"`` the prior strength κ of
   w(n) = κ / (κ + n) is first chosen on a held-out slice of each user's latest interactions, with a
   collaborative model trained without it (:func:`_learn_gate`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recaudit.data.schema import ITEM_ID, USER_ID
from recaudit.errors import RecauditInputError
from recaudit.models.coldstart.blend import (
    PRIOR_GRID,
    blend,
    content_share,
    shrinkage_share,
)
from recaudit.models.coldstart.config import ColdStartConfig
from recaudit.models.coldstart.encoder import ContentEncoder
from recaudit.models.coldstart.features import ItemFeaturizer, require_minilm
from recaudit.models.coldstart.newitems import (
    centroid_vectors,
    item_histories,
    kth_other_scores,
    newcomer_blend,
    pair_hits,
    revealed_pairs,
)
from recaudit.models.coldstart.trained import TrainedColdStart
from recaudit.models.interactions import clean_interactions

ENCODER_STEPS = ("features", "encoder", "blend")
"""The encoder's steps after the collaborative model; ``blend="learned"`` adds ``gate`` after features."""
NEWCOMER_NS: tuple[int, ...] = (1, 2, 5, 10)
"""Interactions revealed to the learned gate's simulated newcomers (those of the new-item curve)."""


def train_coldstart(
    train: pd.DataFrame,
    config: ColdStartConfig | None = None,
    *,
    items: pd.DataFrame | None = None,
    progress: Callable[[dict], None] | str | None = None,
) -> TrainedColdStart:
    """Train the collaborative model and the content encoder; blend every item of ``items``.

    Args:
        train: interactions ``user_id, item_id, timestamp`` (as :func:`recaudit.models.train_mf`).
        config: :class:`ColdStartConfig` (default: its defaults).
        items: the items table (``item_id`` plus ``title``, ``text``, ``category``, ``provider``,
            ``domain``, any present). The catalogue is its items and the items of ``train``.
        progress: a callable receiving the MF's per-epoch dicts and then one dict per encoder step
            (``phase="encoder"``, ``epoch``/``epochs`` the step number and count, ``step`` its name,
            ``loss`` and ``valid_recall`` None), ``"tqdm"`` for terminal bars, or None.

    Raises:
        RecauditInputError: no items table, bad interactions, or ``content="minilm"`` without the optional
            package.
    """
    from recaudit.models.mf.train import train_mf  # torch only when training

    config = ColdStartConfig() if config is None else config
    if items is None or ITEM_ID not in getattr(items, "columns", ()):
        raise RecauditInputError(
            "coldstart", "needs an items table with item_id (the content to encode)",
            hint="pass --items ITEMS",
        )
    if config.content == "minilm":
        require_minilm()
    carve = config.valid_fraction > 0 or config.blend == "learned"
    frame = clean_interactions(train, "train", need_timestamp=carve)
    catalogue = _catalogue(frame, items)
    mf_config = config.mf_config()
    info: dict[str, Any] = {}
    weights = tuple(config.content_weights)
    fit_phase: dict[str, Any] = {}

    def keep_fit_phase(model: Any, fit_frame: pd.DataFrame, held: pd.DataFrame | None) -> None:
        fit_phase.update(model=model, fit=fit_frame, held=held)

    learned = config.blend == "learned"
    mf = train_mf(frame, mf_config, progress=progress, on_fit=keep_fit_phase if learned else None)
    prior: float | None = None
    newcomer_prior: float | None = None
    step, close = _steps(progress, learned)
    try:
        started = time.perf_counter()
        features = _featurize(catalogue, config)
        step("features", started)
        if learned:
            started = time.perf_counter()
            prior, newcomer_prior, info["learned"] = _learn_gate(fit_phase, catalogue, features, config)
            if prior is None:
                info["learned_fallback"] = (
                    f"no item has more than {max(NEWCOMER_NS)} validation users to replay as a newcomer: "
                    "the bucket schedule is used"
                )
            step("gate", started)
        started = time.perf_counter()
        parts = _encode(mf, frame, catalogue, features, config)
        step("encoder", started)
        started = time.perf_counter()
        counts, collab, collab_bias, trained_rows, encoder, content, content_bias = parts
        share, item_emb, item_bias = _blend_by_counts(parts, prior, weights, config)
        step("blend", started)
    finally:
        close()
    info.update(
        {
            "content": config.content, "blend": config.blend, "n_items": int(len(catalogue)),
            "n_warm": int(trained_rows.sum()), "n_content_only": int((share == 1.0).sum()),
            "n_features": int(features.matrix.shape[1]),
            "n_terms": len(features.featurizer.terms),
        }  # fmt: skip
    )
    return TrainedColdStart(
        user_ids=mf.user_ids, item_ids=catalogue[ITEM_ID].to_numpy().astype(str), user_emb=mf.user_emb,
        item_emb=item_emb, item_bias=item_bias, config=config, collab_emb=collab, collab_bias=collab_bias,
        content_emb=content, content_bias=content_bias, counts=counts, weights=tuple(weights),
        featurizer=features.featurizer, encoder=encoder, history=mf.history, best_epoch=mf.best_epoch,
        device=mf.device, encoder_info=info, prior_strength=prior, newcomer_prior=newcomer_prior,
    )  # fmt: skip


def _catalogue(frame: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Every item of the items table and of the interactions, sorted by id, with its metadata."""
    table = items.copy()
    table[ITEM_ID] = table[ITEM_ID].astype(str)
    table = table.drop_duplicates(ITEM_ID)
    ids = np.array(sorted(set(table[ITEM_ID]) | set(frame[ITEM_ID].astype(str))), dtype=object)
    return pd.DataFrame({ITEM_ID: ids}).merge(table, on=ITEM_ID, how="left")


class _Features:
    """The fitted feature map and the catalogue's feature matrix (row order of the catalogue)."""

    def __init__(self, featurizer: ItemFeaturizer, matrix: np.ndarray) -> None:
        self.featurizer, self.matrix = featurizer, matrix


def _featurize(catalogue: pd.DataFrame, config: ColdStartConfig) -> _Features:
    featurizer = ItemFeaturizer.fit(
        catalogue, content=config.content, max_features=config.text_features, text_dim=config.text_dim,
        min_df=config.min_df, seed=config.seed,
    )  # fmt: skip
    return _Features(featurizer, featurizer.transform(catalogue))


def _encode(
    mf: Any, frame: pd.DataFrame, catalogue: pd.DataFrame, features: _Features, config: ColdStartConfig
) -> tuple[
    np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, ContentEncoder, np.ndarray, np.ndarray | None
]:
    """Catalogue-order collaborative tables, the fitted encoder and every item's content vector."""
    ids = catalogue[ITEM_ID].to_numpy().astype(str)
    rows = pd.Index(ids).get_indexer(mf.item_ids)
    n_items, dim = len(ids), mf.item_emb.shape[1]
    collab = np.zeros((n_items, dim), np.float32)
    collab[rows] = mf.item_emb
    trained_rows = collab.any(axis=1)
    collab_bias = None
    if mf.item_bias is not None:
        floor = float(mf.item_bias[mf.item_emb.any(axis=1)].min()) if trained_rows.any() else 0.0
        collab_bias = np.full(n_items, floor, np.float32)
        collab_bias[rows] = mf.item_bias
        collab_bias[~trained_rows] = floor
    counts = (
        frame.groupby(ITEM_ID)[USER_ID].nunique().reindex(ids, fill_value=0).to_numpy().astype(np.int64)
    )
    if not trained_rows.any():
        raise RecauditInputError("coldstart", "no item has a trained vector: nothing to fit the encoder on")
    encoder = ContentEncoder.fit(
        features.matrix[trained_rows], collab[trained_rows],
        None if collab_bias is None else collab_bias[trained_rows], alpha=config.ridge_alpha,
        cosine=config.score == "cosine",
    )  # fmt: skip
    content, content_bias = encoder.predict(features.matrix)
    return counts, collab, collab_bias, trained_rows, encoder, content, content_bias


def _blend_by_counts(
    parts: tuple, prior_strength: float | None, weights: tuple[float, ...], config: ColdStartConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(content share, item vectors, item bias)`` of the catalogue: the share w(n) by each item's
    training count (κ / (κ + n) with a prior strength, else the bucket ``weights``), 1 (content alone)
    for items the collaborative model never trained; ``parts`` is :func:`_encode`'s result. One rule for
    the exported blend and the gate's candidates, so the gate judges exactly the vectors it would export."""
    counts, collab, collab_bias, trained_rows, _, content, content_bias = parts
    if prior_strength is not None:
        share = shrinkage_share(counts, prior_strength)
    else:
        share = content_share(counts, config.bucket_edges, weights)
    share[~trained_rows] = 1.0
    vectors, bias = blend(
        content, collab, share, cosine=config.score == "cosine", content_bias=content_bias,
        collab_bias=collab_bias,
    )  # fmt: skip
    return share, vectors, bias


def _learn_gate(
    fit_phase: dict[str, Any], catalogue: pd.DataFrame, features: _Features, config: ColdStartConfig
) -> tuple[float | None, float | None, dict[str, list[dict]]]:
    """The prior strengths κ of w(n) = κ / (κ + n), the catalogue's (0) and the newcomers', and the
    newcomers' trials.

    ``fit_phase`` is what :func:`~recaudit.models.mf.train.train_mf` hands its ``on_fit`` callback: the
    MF's own fit-phase model, its training frame and its validation frame (each user's latest
    ``valid_fraction`` interactions, which the fit phase early-stopped on and the refit then trained on),
    so the exported collaborative model is exactly the ``mf`` family's and the gate costs no training.
    On the validation frame (held out of that model and of an encoder fitted like the exported one),
    every item with more than max(n) held users is replayed as a newcomer, as
    :func:`recaudit.workflows.coldstart.new_item_curve` does for cold
    items. For n in :data:`NEWCOMER_NS` its first n held users are revealed; its collaborative vector is
    their mean (:func:`~recaudit.models.coldstart.newitems.centroid_vectors`; its trained vector is
    ignored); its blend is :func:`~recaudit.models.coldstart.newitems.newcomer_blend`; and recall@valid_k
    of its later held users is measured against the catalogue.

    Trained items keep their collaborative vectors (the catalogue's κ is 0): an exported warm item's
    vector was trained on its n interactions over many epochs, a newcomer's is the mean of n users, and
    no validation slice tells how much content a refitted item needs. Measured on MovieLens
    (``benchmarks/bench_coldstart.py --seed 1``): a catalogue κ chosen on this slice, even one whose gain
    there over κ = 0 had a paired 95% interval above zero, cost known users warm ndcg@10 on the test split
    (κ = 1.5: 0.1259, κ = 3: 0.1239, against 0.1276 collaborative alone): the fit-phase model lacks the
    slice that the refit trains on, so low-count items look weaker here than they are after the refit.
    (The seed's schedule, ``blend="schedule"``, still blends trained items, at that cost.)

    The newcomers' κ maximises the mean over n of the replayed newcomers' recall against that
    catalogue, from :data:`~recaudit.models.coldstart.blend.PRIOR_GRID` (ties keep the smaller κ). The
    replayed items' content vectors come from encoders fitted without them (:func:`_held_out_content`):
    in-sample ridge predictions of warm items are better than any cold item's, and would pull κ up.
    Both None (the schedule) without validation or when no item has enough held users."""
    from recaudit.models.foldin import median_norm
    from recaudit.scoring import ExactScorer

    mf, fit_frame, held = fit_phase.get("model"), fit_phase.get("fit"), fit_phase.get("held")
    if mf is None or held is None or held.empty:
        return None, None, {}
    parts = _encode(mf, fit_frame, catalogue, features, config)
    _, collab, _, trained_rows, _, _, _ = parts
    ids = catalogue[ITEM_ID].to_numpy().astype(str)
    users = np.asarray(mf.user_ids).astype(str)
    user_pos, item_pos = pd.Index(users), pd.Index(ids)
    n_max = max(NEWCOMER_NS)
    held = held[held[USER_ID].isin(user_pos) & held[ITEM_ID].isin(item_pos)]
    replayed = item_histories(held, pd.Series(np.arange(len(users)), index=user_pos), n_max + 1)
    if not replayed:
        return None, None, {}
    item_rows = item_pos.get_indexer(list(replayed)).astype(np.int64)
    histories = list(replayed.values())
    pair_item, pair_user = revealed_pairs(histories, n_max)
    seen_rows, seen_cols = user_pos.get_indexer(fit_frame[USER_ID]), item_pos.get_indexer(fit_frame[ITEM_ID])
    seen = sp.csr_matrix(
        (np.ones(len(seen_rows), np.float32), (seen_rows, seen_cols)), shape=(len(users), len(ids))
    )
    cosine = config.score == "cosine"
    target = None if cosine else median_norm(collab[trained_rows])
    newcomer = {n: centroid_vectors(mf.user_emb, histories, n, cosine=cosine, target_norm=target)
                for n in NEWCOMER_NS}  # fmt: skip
    content = _held_out_content(features.matrix, parts, item_rows, config)
    unique, inverse = np.unique(pair_user, return_inverse=True)
    k = config.valid_k
    # trained items keep their collaborative vectors (κ = 0, see the docstring); newcomers are
    # replayed against that catalogue
    _, vectors, bias = _blend_by_counts(parts, 0.0, (), config)
    scorer = ExactScorer(
        mf.user_emb, vectors, users, ids, item_bias=bias, score=config.score, seen=seen, device="cpu"
    )
    has_bias = parts[2] is not None
    recs = scorer.recommend(list(users[unique]), k + 1, exclude_seen=True)
    bar = kth_other_scores(recs.item_index[inverse], recs.scores[inverse], item_rows[pair_item], k)
    newcomer_trials: list[dict] = []
    for prior in PRIOR_GRID:
        by_n = {}
        for n in NEWCOMER_NS:
            share = float(shrinkage_share(np.array([n]), prior)[0])
            mixed, mixed_bias = newcomer_blend(content[0], content[1], newcomer[n], share, cosine=cosine)
            hits = pair_hits(
                mf.user_emb, mixed, mixed_bias if has_bias else None, pair_user, pair_item, bar,
                cosine=cosine,
            )  # fmt: skip
            by_n[str(n)] = float(hits.mean())
        newcomer_trials.append({
            "prior_strength": prior, "recall": float(np.mean(list(by_n.values()))), "by_n": by_n,
            "newcomers": len(item_rows), "pairs": len(pair_user),
        })  # fmt: skip
    newcomer_prior = max(newcomer_trials, key=lambda t: t["recall"])["prior_strength"]
    return 0.0, float(newcomer_prior), {"newcomers": newcomer_trials}


HELD_OUT_FOLDS = 5


def _held_out_content(
    matrix: np.ndarray, parts: tuple, rows: np.ndarray, config: ColdStartConfig
) -> tuple[np.ndarray, np.ndarray | None]:
    """Content vectors and biases of the catalogue ``rows`` (warm items) as if they were cold: each from an
    encoder fitted on the warm items outside its fold (:data:`HELD_OUT_FOLDS` folds of ``rows``, in row
    order; cross-fitting, so no replayed item's own vector trains the map that predicts it)."""
    _, collab, collab_bias, trained_rows, _, _, _ = parts
    dim = collab.shape[1]
    vectors = np.zeros((len(rows), dim), np.float32)
    bias = None if collab_bias is None else np.zeros(len(rows), np.float32)
    folds = np.arange(len(rows)) % HELD_OUT_FOLDS
    for fold in range(HELD_OUT_FOLDS):
        mine = folds == fold
        if not mine.any():
            continue
        train_rows = trained_rows.copy()
        train_rows[rows[mine]] = False
        if not train_rows.any():
            train_rows = trained_rows
        encoder = ContentEncoder.fit(
            matrix[train_rows], collab[train_rows], None if collab_bias is None else collab_bias[train_rows],
            alpha=config.ridge_alpha, cosine=config.score == "cosine",
        )  # fmt: skip
        fold_vectors, fold_bias = encoder.predict(matrix[rows[mine]])
        vectors[mine] = fold_vectors
        if bias is not None and fold_bias is not None:
            bias[mine] = fold_bias
    return vectors, bias


def _steps(
    progress: Callable[[dict], None] | str | None, learned: bool = False
) -> tuple[Callable[[str, float], None], Callable[[], None]]:
    """Report one encoder step (its name and start time) to ``progress``; a closer for the tqdm bar.
    ``learned`` adds the gate's step."""
    total = len(ENCODER_STEPS) + int(learned)
    if progress is None:
        return (lambda name, started: None), (lambda: None)
    if progress == "tqdm":
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="step", desc="coldstart encoder")

        def show(name: str, started: float) -> None:
            bar.set_postfix({"step": name, "s": f"{time.perf_counter() - started:.1f}"})
            bar.update(1)

        return show, bar.close
    if not callable(progress):
        raise RecauditInputError("progress", f"expected a callable, 'tqdm' or None, got {progress!r}")
    done = [0]

    def report(name: str, started: float) -> None:
        done[0] += 1
        progress({
            "phase": "encoder", "epoch": done[0], "epochs": total, "step": name, "loss": None,
            "valid_recall": None, "seconds": time.perf_counter() - started,
        })  # fmt: skip

    return report, lambda: None
