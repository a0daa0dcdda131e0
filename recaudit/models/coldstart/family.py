"""The ``coldstart`` model family: the embedding model plus a content encoder, blended by interaction count.

Registered in :data:`recaudit.models.MODEL_KINDS` as ``coldstart``. Its config is :class:`ColdStartConfig`
(the :class:`MFConfig` fields plus the encoder's and the blend's), its train function
:func:`recaudit.models.coldstart.train.train_coldstart` (which takes the items table: ``uses_items``), its
trained result :class:`TrainedColdStart`. A bundle of kind ``coldstart`` carries the component
``coldstart`` (``docs/bundle-format.md``): encoder weights, calibration, TF-IDF vocabulary, idf and SVD
components, the collaborative and content vectors and the interaction counts, as safetensors and JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recaudit.models.base import ModelFamily, bundle_tables
from recaudit.models.coldstart.config import ColdStartConfig
from recaudit.models.coldstart.encoder import ContentEncoder
from recaudit.models.coldstart.features import ItemFeaturizer
from recaudit.models.coldstart.trained import COLDSTART_KIND, COMPONENT, TrainedColdStart

if TYPE_CHECKING:
    from recaudit.bundle import Bundle

_FEATURE_ARRAYS = ("idf", "svd_components")


def train(
    interactions: pd.DataFrame,
    config: ColdStartConfig,
    *,
    progress: object = None,
    items: pd.DataFrame | None = None,
) -> TrainedColdStart:
    """:func:`~recaudit.models.coldstart.train.train_coldstart` on ``interactions`` and ``items``."""
    from recaudit.models.coldstart.train import train_coldstart  # torch only when training

    return train_coldstart(interactions, config, items=items, progress=progress)  # type: ignore[arg-type]


def from_bundle(bundle: Bundle) -> TrainedColdStart:
    """The trained model a ``coldstart`` bundle stores: its tables, config, training record and component.

    Raises:
        RecauditInputError: the manifest's ``model.config`` is not a valid :class:`ColdStartConfig`, or the
            component is missing.
    """
    manifest = bundle.manifest
    source = f"{bundle.path}/manifest.json" if bundle.path is not None else "bundle manifest"
    config = ColdStartConfig.from_dict((manifest.get("model") or {}).get("config") or {}, source)
    training = manifest.get("training") or {}
    files = bundle.component(COMPONENT)
    arrays = dict(files["encoder.safetensors"])
    meta = dict(files["features.json"])
    tables = files["tables.safetensors"]
    featurizer = ItemFeaturizer.from_state({k: arrays.pop(k) for k in _FEATURE_ARRAYS}, meta)
    info = dict(training.get("coldstart") or {})
    weights = tuple(float(w) for w in meta.get("weights", config.content_weights))
    info.pop("weights", None)
    info.pop("prior_strength", None)
    info.pop("newcomer_prior", None)
    prior, newcomer = meta.get("prior_strength"), meta.get("newcomer_prior")
    return TrainedColdStart(
        **bundle_tables(bundle),
        config=config,
        collab_emb=np.asarray(tables["collab_item"], np.float32),
        collab_bias=None if "collab_bias" not in tables else np.asarray(tables["collab_bias"], np.float32),
        content_emb=np.asarray(tables["content_item"], np.float32),
        content_bias=None if "content_bias" not in tables else np.asarray(tables["content_bias"], np.float32),
        counts=np.asarray(tables["counts"], np.int64),
        weights=weights,
        featurizer=featurizer,
        encoder=ContentEncoder.from_state(arrays),
        history=list(training.get("history") or []),
        best_epoch=int(training.get("best_epoch") or 0),
        device=str(training.get("device") or "cpu"),
        encoder_info=info,
        prior_strength=None if prior is None else float(prior),
        newcomer_prior=None if newcomer is None else float(newcomer),
    )


COLDSTART_FAMILY = ModelFamily(
    kind=COLDSTART_KIND,
    config_class=ColdStartConfig,
    from_bundle=from_bundle,
    trainer=train,
    components=(COMPONENT,),
    summary="mf plus a content encoder: every item of --items scored, cold ones from content (--content)",
    uses_items=True,
)
