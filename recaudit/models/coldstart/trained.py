"""The trained ``coldstart`` model as plain arrays: the collaborative model, the content encoder, and the
blended catalogue every item of the items table belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from recaudit.config import ScoreFunction
from recaudit.data.schema import ITEM_ID
from recaudit.errors import RecauditInputError
from recaudit.models.base import Capabilities, Capability, ComponentFiles, TrainedModel, epoch_record
from recaudit.models.coldstart.blend import bucket_of, content_share, shrinkage_share
from recaudit.models.coldstart.config import ColdStartConfig
from recaudit.models.coldstart.encoder import ContentEncoder
from recaudit.models.coldstart.features import ItemFeaturizer
from recaudit.vectors import unit_rows

COLDSTART_KIND = "coldstart"
COMPONENT = "coldstart"
"""The bundle component's name (see ``docs/bundle-format.md``)."""


@dataclass
class TrainedColdStart(TrainedModel):
    """Collaborative vectors for warm items, content vectors for every item, blended by interaction count.

    The exported tables (what the bundle's ``item`` and ``item_bias`` hold, what known users are scored
    with) are the blend of :mod:`recaudit.models.coldstart.blend`: warm items mix content and collaborative,
    items without training interactions are their calibrated content vector alone, so cold and warm items
    compete in one ranking. User vectors are the collaborative model's.

    Attributes:
        user_ids, item_ids, user_emb, item_emb, item_bias, config: the tables (see
            :class:`~recaudit.models.base.TrainedModel`); ``item_ids`` is every item of the items table and
            every item of the training interactions, sorted.
        collab_emb: ``[I, d]`` the collaborative item vectors (zero rows for items without interactions).
        collab_bias: ``[I]`` their biases (the lowest learnt bias for items without), or None.
        content_emb: ``[I, d]`` the calibrated content vector of every item.
        content_bias: ``[I]`` its calibrated bias, or None.
        counts: ``[I]`` int64 training interactions per item (distinct users).
        weights: the content share of each bucket (the schedule's), used when ``prior_strength`` is None.
        prior_strength: the catalogue's κ of the learned gate, w(n) = κ / (κ + n)
            (:func:`shrinkage_share`) for the exported vectors, or None for the bucket schedule.
        newcomer_prior: the newcomers' κ (an item whose collaborative vector is the mean of its first n
            users, :mod:`recaudit.models.coldstart.newitems`), or None: then :meth:`newcomer_share_at`
            is :meth:`share_at`.
        featurizer, encoder: the fitted feature map and ridge encoder (for new item descriptions).
        history, best_epoch, device: the collaborative training record (as :class:`TrainedMF`).
        encoder_info: what the encoder steps did (seconds, warm items, calibration, learned-gate trials).
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_emb: np.ndarray
    item_emb: np.ndarray
    item_bias: np.ndarray | None
    config: ColdStartConfig
    collab_emb: np.ndarray
    collab_bias: np.ndarray | None
    content_emb: np.ndarray
    content_bias: np.ndarray | None
    counts: np.ndarray
    weights: tuple[float, ...]
    featurizer: ItemFeaturizer
    encoder: ContentEncoder
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    device: str = "cpu"
    encoder_info: dict[str, Any] = field(default_factory=dict)
    prior_strength: float | None = None
    newcomer_prior: float | None = None

    kind: ClassVar[str] = COLDSTART_KIND
    capabilities: ClassVar[Capabilities] = frozenset(
        {Capability.KNOWN_USERS, Capability.FOLD_IN, Capability.COLD_ITEMS}
    )
    """Known users (collaborative user vectors against the blended catalogue), new users (the base class's
    ridge fold-in on the blended item vectors) and items without interactions (content encoder)."""

    # ---- what goes into a bundle --------------------------------------------------------------------
    @property
    def score_function(self) -> ScoreFunction:
        return self.config.score

    @property
    def cold_items(self) -> np.ndarray:
        """Item ids without training interactions (scored from content alone)."""
        return self.item_ids[self.counts == 0]

    @property
    def content_shares(self) -> np.ndarray:
        """``[I]`` the content share w(n) each item's exported vector was blended with."""
        shares = self.share_at(self.counts)
        shares[self.counts == 0] = 1.0
        return shares

    def share_at(self, counts: np.ndarray) -> np.ndarray:
        """The content share w(n) (float32) this model gives an item with ``counts`` interactions: the
        learned κ / (κ + n), or the bucket schedule."""
        if self.prior_strength is not None:
            return shrinkage_share(counts, self.prior_strength)
        return content_share(counts, self.config.bucket_edges, self.weights)

    def newcomer_share_at(self, counts: np.ndarray) -> np.ndarray:
        """The content share this model gives a newcomer with ``counts`` revealed interactions."""
        if self.newcomer_prior is not None:
            return shrinkage_share(counts, self.newcomer_prior)
        return self.share_at(counts)

    @property
    def blend_rule(self) -> str:
        """One line: how the shares were set (for the model card and the Cold start page)."""
        if self.prior_strength is not None:
            if self.prior_strength == 0:
                rule = "learned: trained items collaborative alone"
            else:
                kappa = f"{self.prior_strength:g}"
                rule = f"learned: trained items w(n) = {kappa} / ({kappa} + n)"
            if self.newcomer_prior is not None:
                rule += f"; newcomers w(n) = {self.newcomer_prior:g} / ({self.newcomer_prior:g} + n)"
            return rule
        edges = self.config.bucket_edges
        labels = [f"n={edges[0]}"] + [f"{a + 1}-{b}" for a, b in zip(edges, edges[1:], strict=False)]
        labels.append(f"{edges[-1] + 1}+")
        return "schedule: " + ", ".join(f"{lab} {w:.0%}" for lab, w in zip(labels, self.weights, strict=True))

    @property
    def buckets(self) -> np.ndarray:
        """``[I]`` each item's interaction-count bucket (0: n = 0, 1: 1-10, 2: 11-50, 3: 51+ by default)."""
        return bucket_of(self.counts, self.config.bucket_edges)

    def training_info(self) -> dict[str, Any]:
        return {
            **epoch_record(self.history, self.best_epoch, self.device),
            "coldstart": {
                **self.encoder_info, "weights": list(self.weights), "prior_strength": self.prior_strength,
                "newcomer_prior": self.newcomer_prior,
            },
        }

    def training_note(self) -> str:
        n_cold = int((self.counts == 0).sum())
        note = f"on {self.device}, best epoch {self.best_epoch}; {n_cold:,} items from content alone"
        fallback = self.encoder_info.get("learned_fallback")
        return f"{note}; blend {self.blend_rule}" + (f" ({fallback})" if fallback else "")

    def components(self) -> dict[str, ComponentFiles]:
        """One component, ``coldstart``: ``encoder.safetensors`` (ridge weights, calibration, idf, SVD
        components), ``tables.safetensors`` (collaborative and content vectors and biases, counts, in item
        row order) and ``features.json`` (vocabularies, text options, bucket weights)."""
        feature_arrays, feature_meta = self.featurizer.state()
        tables: dict[str, np.ndarray] = {
            "collab_item": self.collab_emb, "content_item": self.content_emb, "counts": self.counts,
        }  # fmt: skip
        if self.collab_bias is not None and self.content_bias is not None:
            tables["collab_bias"], tables["content_bias"] = self.collab_bias, self.content_bias
        return {
            COMPONENT: {
                "encoder.safetensors": {**self.encoder.state(), **feature_arrays},
                "tables.safetensors": tables,
                "features.json": {
                    **feature_meta, "weights": list(self.weights), "prior_strength": self.prior_strength,
                    "newcomer_prior": self.newcomer_prior,
                },
            }
        }

    # ---- cold items ---------------------------------------------------------------------------------
    def encode_items(self, items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated content vectors ``[len(items), d]`` and biases (or None) of new item descriptions
        (``item_id`` plus any of ``title``, ``text``, ``category``, ``provider``, ``domain``): where the
        playground places a typed-in item. Its blend at n = 0 is this vector."""
        if not isinstance(items, pd.DataFrame):
            raise RecauditInputError("items", f"expected a DataFrame, got {type(items).__name__}")
        return self.encoder.predict(self.featurizer.transform(items))

    def _score_cold_items(self, user_ids: list[str], items: pd.DataFrame) -> np.ndarray:
        if ITEM_ID not in items.columns:
            raise RecauditInputError("items", "needs an item_id column")
        vectors, bias = self.encode_items(items)
        users = self.user_emb[self.scorer.user_index(user_ids)]
        if self.score_function == "cosine":
            users, vectors = unit_rows(users), unit_rows(vectors)
        scores = users @ vectors.T
        if bias is not None and self.item_bias is not None:
            scores = scores + bias[None, :]
        return scores.astype(np.float32)
