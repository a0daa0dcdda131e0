"""Metrics, defined exactly as in METRICS.md; each module's docstrings give the formulas and sources.

- :mod:`.lists`: recommendation logs and interactions in index form (the input of every metric);
- :mod:`.accuracy`, :mod:`.exposure`, :mod:`.popularity`, :mod:`.diversity`, :mod:`.calibration`,
  :mod:`.fairness`: the metric functions; :mod:`.groups` and :mod:`.stats`: breakdowns and intervals;
- :mod:`.registry`: names such as ``"ndcg@10"``; :mod:`.engine`: ``evaluate(...) -> AuditResult``;
- :mod:`.ranking`: ranking accuracy straight from frames (the model card's held-out numbers).
"""

from recaudit.metrics.engine import AuditResult, compare, evaluate
from recaudit.metrics.inputs import AuditInputs
from recaudit.metrics.ranking import RANKING_METRICS, evaluate_lists
from recaudit.metrics.registry import METRICS, parse_metric

__all__ = [
    "METRICS",
    "RANKING_METRICS",
    "AuditInputs",
    "AuditResult",
    "compare",
    "evaluate",
    "evaluate_lists",
    "parse_metric",
]
