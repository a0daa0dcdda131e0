"""Metrics, defined exactly as in docs/metrics.md; each module's docstrings give the formulas and sources.

- :mod:`.lists`: recommendation logs and interactions in index form (the input of every metric);
- :mod:`.accuracy`, :mod:`.exposure`, :mod:`.popularity`, :mod:`.diversity`, :mod:`.calibration`,
  :mod:`.fairness`, :mod:`.coldstart`: the metric functions; :mod:`.groups` and :mod:`.stats`: breakdowns
  and intervals;
- :mod:`.registry`: the one metric catalogue (names such as ``"ndcg@10"``, help, sources, named sets);
  :mod:`.engine`: ``evaluate(...) -> AuditResult``;
- :mod:`.ranking`: ranking accuracy straight from frames (the model card's held-out numbers).
"""

from recaudit.metrics.engine import AuditResult, compare, evaluate
from recaudit.metrics.inputs import AuditInputs
from recaudit.metrics.ranking import evaluate_lists
from recaudit.metrics.registry import METRICS, MetricSpec, metric_names, parse_metric

__all__ = [
    "METRICS",
    "AuditInputs",
    "AuditResult",
    "MetricSpec",
    "compare",
    "evaluate",
    "evaluate_lists",
    "metric_names",
    "parse_metric",
]
