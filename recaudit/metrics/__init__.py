"""Metrics, defined exactly as in METRICS.md (ranx conventions for ranking accuracy)."""

from recaudit.metrics.ranking import RANKING_METRICS, evaluate_lists, relevance_matrix

__all__ = ["RANKING_METRICS", "evaluate_lists", "relevance_matrix"]
