"""Recommendation models: the registry of model kinds and the families in it.

:data:`MODEL_KINDS` maps a kind name to its :class:`ModelFamily` (config class, train function, rebuild
from a bundle); :class:`TrainedModel` is what every family's training returns, with the
:class:`Capability` flags it declares. The families:

* ``mf`` (:mod:`recaudit.models.mf`): :func:`train_mf` trains embedding collaborative filtering (user
  and item vectors, dot or cosine score, optional item bias) with an in-batch sampled softmax and the
  logQ correction, or BPR, configured by :class:`MFConfig` and returned as a :class:`TrainedMF` of plain
  arrays.
* ``imported`` (:mod:`recaudit.models.imported`): embedding tables trained elsewhere.

Torch is imported only for :class:`MFModule` and :func:`train_mf`, on first use,
so reading a bundle's manifest (which looks its kind up here) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from recaudit.models.base import Capability, ModelFamily, TrainedModel
from recaudit.models.mf.config import MFConfig
from recaudit.models.mf.trained import TrainedMF
from recaudit.models.registry import MODEL_KINDS, model_family

_TORCH_NAMES = {
    "MFModule": "recaudit.models.mf.module",
    "train_mf": "recaudit.models.mf.train",
}

__all__ = [
    "MODEL_KINDS",
    "Capability",
    "MFConfig",
    "MFModule",
    "ModelFamily",
    "TrainedMF",
    "TrainedModel",
    "model_family",
    "train_mf",
]


def __getattr__(name: str) -> Any:
    """Import the torch-backed names on first use."""
    if name in _TORCH_NAMES:
        return getattr(importlib.import_module(_TORCH_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
