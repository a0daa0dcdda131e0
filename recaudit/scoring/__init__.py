"""Scoring: exact top-k on CPU or CUDA (torch, :mod:`._topk`) and FAISS indexes built in-process."""

from recaudit.device import choose_device
from recaudit.scoring.scorers import ExactScorer, FaissScorer, Recommendations

__all__ = ["ExactScorer", "FaissScorer", "Recommendations", "choose_device"]
