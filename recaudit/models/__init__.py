"""Torch recommendation models.

:func:`train_mf` trains embedding collaborative filtering (user and item vectors, dot or cosine
score, optional item bias) with an in-batch sampled softmax and the logQ correction, or BPR,
configured by :class:`MFConfig` and returned as a :class:`TrainedMF` of plain arrays.
"""

from recaudit.models.mf.config import MFConfig
from recaudit.models.mf.module import MFModule, TrainedMF
from recaudit.models.mf.train import resolve_device, train_mf

__all__ = ["MFConfig", "MFModule", "TrainedMF", "resolve_device", "train_mf"]
