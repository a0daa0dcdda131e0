"""Pass/fail gates for audits in a pipeline: ``--fail-on "gini@10>0.9"``.

A gate names a metric, a comparison and a threshold; it *fails* when the comparison holds (the gate
describes the bad case). A metric that is missing or undefined (NaN) fails its gate too: a pipeline must
not pass because a number could not be computed.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from recaudit.errors import RecauditInputError
from recaudit.metrics.engine import AuditResult

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_GATE = re.compile(rf"^\s*([A-Za-z_]+(?:\[[^\]]+\])?@\d+)\s*(>=|<=|>|<)\s*({_NUMBER})\s*$")


@dataclass(frozen=True)
class Gate:
    """Fail when ``metric op threshold`` holds."""

    metric: str
    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"


def parse_gate(text: str) -> Gate:
    """``"gini@10>0.9"`` -> ``Gate("gini@10", ">", 0.9)``.

    Raises:
        RecauditInputError: not of the form METRIC@K OP NUMBER.
    """
    match = _GATE.match(text)
    if not match:
        raise RecauditInputError(
            "--fail-on", f"cannot read gate {text!r}", "write it as METRIC@K OP NUMBER, e.g. gini@10>0.9"
        )
    return Gate(match.group(1), match.group(2), float(match.group(3)))


def check_gates(result: AuditResult, gates: Sequence[Gate]) -> list[str]:
    """The failed gates, each as a readable line (empty when every gate passes)."""
    failures = []
    for gate in gates:
        value = result.values.get(gate.metric)
        if value is None:
            why = result.skipped.get(gate.metric, "not computed in this audit")
            failures.append(f"{gate}: {gate.metric} is unavailable ({why})")
        elif math.isnan(value):
            failures.append(f"{gate}: {gate.metric} is undefined (NaN)")
        elif OPERATORS[gate.op](value, gate.threshold):
            failures.append(f"{gate}: {gate.metric} = {value:.4g}")
    return failures
