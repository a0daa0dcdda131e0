"""Pass/fail gates for audits in a pipeline: ``--fail-on "gini@10>0.9"``.

A gate names a metric, a comparison and a threshold; it *fails* when the comparison holds (the gate
describes the bad case). A metric that is missing or undefined (NaN) fails its gate too: a pipeline must
not pass because a number could not be computed. A gate naming a metric that does not exist (a typo, an
item column the data lacks, a cut-off the audit does not run at) is a usage error, decided by
:func:`check_gate_names` before any work, with the closest names suggested.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from recaudit.errors import RecauditInputError
from recaudit.metrics.engine import AuditResult
from recaudit.metrics.registry import gate_metric_names, metric_names

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_GATE = re.compile(rf"^\s*(delta:)?([A-Za-z_]+(?:\[[^\]]+\])?@\d+)\s*(>=|<=|>|<)\s*({_NUMBER})\s*$")
_METRIC = re.compile(r"^([A-Za-z_]+)(?:\[([^\]]+)\])?@(\d+)$")


@dataclass(frozen=True)
class Gate:
    """Fail when ``metric op threshold`` holds; a ``delta`` gate reads Δ = B − A of a comparison."""

    metric: str
    op: str
    threshold: float
    delta: bool = False

    def __str__(self) -> str:
        return f"{'delta:' if self.delta else ''}{self.metric}{self.op}{self.threshold:g}"


def parse_gate(text: str) -> Gate:
    """``"gini@10>0.9"`` -> ``Gate("gini@10", ">", 0.9)``; ``"delta:ndcg@10<-0.01"`` -> a delta gate.

    Raises:
        RecauditInputError: not of the form [delta:]METRIC@K OP NUMBER.
    """
    match = _GATE.match(text)
    if not match:
        raise RecauditInputError(
            "--fail-on", f"cannot read gate {text!r}",
            "write it as METRIC@K OP NUMBER, e.g. gini@10>0.9 (recaudit compare: delta:ndcg@10<-0.01)",
        )  # fmt: skip
    return Gate(match.group(2), match.group(3), float(match.group(4)), delta=match.group(1) is not None)


def check_gates(result: AuditResult, gates: Sequence[Gate]) -> list[str]:
    """The failed gates, each as a readable line (empty when every gate passes)."""
    return _failures(result.values, result.skipped, gates, "not computed in this audit")


def check_delta_gates(deltas: dict[str, float], gates: Sequence[Gate]) -> list[str]:
    """The failed ``delta:`` gates of a comparison (``deltas``: metric -> Δ = B − A)."""
    return _failures(deltas, {}, gates, "not compared (no value on one side)")


def _failures(
    values: dict[str, float], skipped: dict[str, str], gates: Sequence[Gate], missing: str
) -> list[str]:
    failures = []
    for gate in gates:
        value = values.get(gate.metric)
        if value is None:
            why = skipped.get(gate.metric, missing)
            failures.append(f"{gate}: {gate.metric} is unavailable ({why})")
        elif math.isnan(value):
            failures.append(f"{gate}: {gate.metric} is undefined (NaN)")
        elif OPERATORS[gate.op](value, gate.threshold):
            failures.append(f"{gate}: {'B - A of ' if gate.delta else ''}{gate.metric} = {value:.4g}")
    return failures


def require_kind(gates: Sequence[Gate], *, delta: bool, command: str) -> None:
    """``recaudit compare`` gates are ``delta:`` gates and ``recaudit audit`` gates are not: one clear usage
    error otherwise, before any work."""
    for gate in gates:
        if gate.delta != delta:
            hint = (f"write it as delta:{gate.metric}{gate.op}{gate.threshold:g} (Δ = B − A)" if delta
                    else "delta: gates compare two bundles: use recaudit compare A B")  # fmt: skip
            raise RecauditInputError("--fail-on", f"gate {gate} does not fit recaudit {command}", hint)


def known_metric_names() -> list[str]:
    """Every metric name a gate may use (without ``@k``): the catalogue's, read when called
    (:func:`recaudit.metrics.registry.gate_metric_names`)."""
    return gate_metric_names()


def item_group_metrics() -> list[str]:
    """Metrics computed per item column, written ``name[column]@k`` (the catalogue's ``item_group`` kind)."""
    return metric_names(kind="item_group")


def _closest(name: str, known: Sequence[str], n: int = 3) -> list[str]:
    """Known names most like ``name``: difflib's ratio, with names that contain it or that it contains
    (``gini_index`` -> ``gini``) counted as close whatever their ratio."""
    def score(candidate: str) -> float:
        ratio = difflib.SequenceMatcher(None, name, candidate).ratio()
        return ratio + (0.5 if candidate in name or name in candidate else 0.0)

    ranked = sorted(known, key=lambda c: (-score(c), c))
    return [c for c in ranked[:n] if score(c) >= 0.6]


def check_gate_names(
    gates: Sequence[Gate], *, k: int | None = None, item_columns: Sequence[str] | None = None
) -> None:
    """Refuse gates that can never be evaluated, before any work.

    Args:
        gates: parsed gates.
        k: the audit's cut-off; a gate at another k is refused (None: not checked).
        item_columns: the catalogue's columns, for ``exposure_disparity[column]`` (None: not checked).

    Raises:
        RecauditInputError: an unknown metric name (with the closest known names), an item-group
            metric without a column or a plain metric with one, an unknown item column, or a k the
            audit does not compute.
    """
    known = known_metric_names()
    per_column = item_group_metrics()
    for gate in gates:
        match = _METRIC.match(gate.metric)
        assert match, gate.metric  # parse_gate accepted it
        name, column, gate_k = match.group(1), match.group(2), int(match.group(3))
        if name not in known:
            close = _closest(name, known)
            hint = f"did you mean {', '.join(close)}?" if close else f"known metrics: {', '.join(known)}"
            raise RecauditInputError("--fail-on", f"unknown metric {name!r} in gate {gate}", hint)
        if name in per_column and column is None:
            raise RecauditInputError(
                "--fail-on", f"{name} needs an item column in gate {gate}", f"e.g. {name}[category]@{gate_k}"
            )
        if name not in per_column and column is not None:
            raise RecauditInputError(
                "--fail-on", f"{name} takes no [column] in gate {gate}", f"use {name}@{gate_k}"
            )
        if column is not None and item_columns is not None and column not in item_columns:
            raise RecauditInputError(
                "--fail-on", f"no item column {column!r} for gate {gate}",
                f"item columns: {', '.join(map(str, item_columns))}",
            )
        if k is not None and gate_k != k:
            raise RecauditInputError(
                "--fail-on", f"gate {gate} is at k={gate_k} but the audit runs at k={k}",
                f"pass --k {gate_k} or write the gate at @{k}",
            )
