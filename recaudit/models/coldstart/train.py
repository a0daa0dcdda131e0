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
   (:mod:`recaudit.models.coldstart.blend`); with ``blend="learned"`` the bucket weights are first chosen on
   a held-out slice of each user's latest interactions, with a collaborative model trained without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from recaudit.data.schema import ITEM_ID, USER_ID
from recaudit.errors import RecauditInputError
from recaudit.models.coldstart.blend import blend, content_share, learn_weights
from recaudit.models.coldstart.config import ColdStartConfig
from recaudit.models.coldstart.encoder import ContentEncoder
from recaudit.models.coldstart.features import ItemFeaturizer, require_minilm
from recaudit.models.coldstart.trained import TrainedColdStart
from recaudit.models.interactions import carve_validation, clean_interactions

ENCODER_STEPS = ("features", "encoder", "blend")


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
    if config.blend == "learned":
        weights, info["learned"], best_epoch = _learn_gate(frame, catalogue, config, progress)
        # the MF's refit phase: all interactions, from the same seed, for the early-stopped epoch count
        refit = replace(mf_config, epochs=best_epoch, valid_fraction=0.0, refit=False)
        mf = train_mf(frame, refit, progress=progress)
    else:
        mf = train_mf(frame, mf_config, progress=progress)
    step, close = _steps(progress)
    try:
        started = time.perf_counter()
        features = _featurize(catalogue, config)
        step("features", started)
        started = time.perf_counter()
        parts = _encode(mf, frame, catalogue, features, config)
        step("encoder", started)
        started = time.perf_counter()
        counts, collab, collab_bias, trained_rows, encoder, content, content_bias = parts
        share, item_emb, item_bias = _blend_by_counts(parts, weights, config)
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
        device=mf.device, encoder_info=info,
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
    parts: tuple, weights: tuple[float, ...], config: ColdStartConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(content share, item vectors, item bias)`` of the catalogue for bucket ``weights``: the share
    w(n) by each item's training count, 1 (content alone) for items the collaborative model never
    trained; ``parts`` is :func:`_encode`'s result. One rule for the exported blend and the gate's
    candidates, so the learned weights are judged on exactly the vectors they would export."""
    counts, collab, collab_bias, trained_rows, _, content, content_bias = parts
    share = content_share(counts, config.bucket_edges, weights)
    share[~trained_rows] = 1.0
    vectors, bias = blend(
        content, collab, share, cosine=config.score == "cosine", content_bias=content_bias,
        collab_bias=collab_bias,
    )  # fmt: skip
    return share, vectors, bias


def _learn_gate(
    frame: pd.DataFrame,
    catalogue: pd.DataFrame,
    config: ColdStartConfig,
    progress: Callable[[dict], None] | str | None,
) -> tuple[tuple[float, ...], list[dict], int]:
    """The bucket weights maximising recall@valid_k on each user's latest ``valid_fraction`` interactions,
    with a collaborative model (the MF's fit phase, early-stopped on them) and an encoder fitted without
    them; and that model's best epoch (for the refit)."""
    import scipy.sparse as sp

    from recaudit.models.mf.train import train_mf
    from recaudit.scoring import ExactScorer

    fit_frame, held = carve_validation(frame, config.valid_fraction)
    mf = train_mf(fit_frame, replace(config.mf_config(), refit=False), valid=held, progress=progress)
    features = _featurize(catalogue, config)
    parts = _encode(mf, fit_frame, catalogue, features, config)
    ids = catalogue[ITEM_ID].to_numpy().astype(str)
    users = np.asarray(mf.user_ids).astype(str)
    user_pos = pd.Index(users)
    item_pos = pd.Index(ids)
    held = held[held[USER_ID].isin(user_pos)]
    seen_rows, seen_cols = user_pos.get_indexer(fit_frame[USER_ID]), item_pos.get_indexer(fit_frame[ITEM_ID])
    seen = sp.csr_matrix(
        (np.ones(len(seen_rows), np.float32), (seen_rows, seen_cols)), shape=(len(users), len(ids))
    )
    truth = held.groupby(USER_ID)[ITEM_ID].apply(set)
    if truth.empty:
        return tuple(config.content_weights), [], mf.best_epoch
    k = config.valid_k

    def evaluate(weights: tuple[float, ...]) -> float:
        _, vectors, bias = _blend_by_counts(parts, weights, config)
        scorer = ExactScorer(
            mf.user_emb, vectors, users, ids, item_bias=bias, score=config.score, seen=seen, device="cpu"
        )
        recs = scorer.recommend(list(truth.index), k, exclude_seen=True)
        hits = [
            len(truth[u] & {ids[i] for i in row if i >= 0}) / len(truth[u])
            for u, row in zip(truth.index, recs.item_index, strict=True)
        ]
        return float(np.mean(hits))

    weights, history = learn_weights(evaluate, config.content_weights)
    return weights, history, mf.best_epoch


def _steps(
    progress: Callable[[dict], None] | str | None,
) -> tuple[Callable[[str, float], None], Callable[[], None]]:
    """Report one encoder step (its name and start time) to ``progress``; a closer for the tqdm bar."""
    total = len(ENCODER_STEPS)
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
