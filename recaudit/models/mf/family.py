"""The ``mf`` model family: embedding collaborative filtering trained from interactions.

Registered in :data:`recaudit.models.MODEL_KINDS` as ``mf``. Its config is :class:`MFConfig`, its train
function :func:`recaudit.models.train_mf`, its trained result :class:`TrainedMF`; a bundle of kind ``mf``
holds nothing beyond the standard tables (no components), and is rebuilt from its tables, its
``model.config`` and its ``training`` section. This module imports torch only when training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from recaudit.models.base import ModelFamily, bundle_tables
from recaudit.models.mf.config import MFConfig
from recaudit.models.mf.trained import MF_KIND, TrainedMF

if TYPE_CHECKING:
    from recaudit.bundle import Bundle


def train(interactions: pd.DataFrame, config: MFConfig, *, progress: object = None) -> TrainedMF:
    """:func:`recaudit.models.train_mf` on ``interactions`` (early stopping on its own validation slice)."""
    from recaudit.models.mf.train import train_mf  # torch is imported only when training

    return train_mf(interactions, config, progress=progress)  # type: ignore[arg-type]


def trained_fields(bundle: Bundle, config_class: type[MFConfig] = MFConfig) -> dict[str, Any]:
    """The :class:`TrainedMF` fields a bundle stores: its tables, its config (as ``config_class``, an
    :class:`MFConfig` or a subclass) and its training record. Families built on ``mf`` add their parts.

    Items whose vector is all zeros are the model's untrained items (:attr:`TrainedMF.cold_items`).

    Raises:
        RecauditInputError: the manifest's ``model.config`` is not a valid ``config_class``.
    """
    manifest = bundle.manifest
    source = f"{bundle.path}/manifest.json" if bundle.path is not None else "bundle manifest"
    config = config_class.from_dict((manifest.get("model") or {}).get("config") or {}, source)
    training = manifest.get("training") or {}
    tables = bundle_tables(bundle)
    return {
        **tables,
        "config": config,
        "history": list(training.get("history") or []),
        "best_epoch": int(training.get("best_epoch") or 0),
        "device": str(training.get("device") or "cpu"),
        "cold_items": tables["item_ids"][~bundle.item_emb.any(axis=1)],
    }


def from_bundle(bundle: Bundle) -> TrainedMF:
    """The trained model a bundle of kind ``mf`` stores (:func:`trained_fields`)."""
    return TrainedMF(**trained_fields(bundle))


MF_FAMILY = ModelFamily(
    kind=MF_KIND,
    config_class=MFConfig,
    from_bundle=from_bundle,
    trainer=train,
    summary="embedding collaborative filtering (user and item vectors, sampled softmax or BPR)",
)
