"""Metric names such as ``"ndcg@10"`` or ``"gini@20"`` -> the function that computes them.

Every metric of METRICS.md (ranking accuracy, exposure and catalogue, popularity bias, diversity,
serendipity, calibration) is registered here once, with its kind:

- ``user``: one value per audited user (``[U]`` array, NaN where the definition leaves a user out);
  the reported number is the mean over the users with a value, and it has a bootstrap CI and group
  breakdowns;
- ``catalogue``: one number for the whole log.

Each entry also names what it needs (test interactions, item embeddings, categories), so an audit skips a
metric it cannot compute and says why instead of reporting a wrong number.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from recaudit.metrics import accuracy, calibration, diversity, exposure, popularity
from recaudit.metrics.inputs import AuditInputs
from recaudit.metrics.lists import RecLists

Kind = Literal["user", "catalogue"]
Need = Literal["test", "item_emb", "categories"]
Compute = Callable[[AuditInputs, RecLists], "np.ndarray | float"]


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric: its name (without @k), kind, requirements, function and one-line help."""

    name: str
    kind: Kind
    needs: tuple[Need, ...]
    compute: Compute
    help: str


def _accuracy(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Compute:
    def compute(inputs: AuditInputs, lists: RecLists) -> np.ndarray:
        assert inputs.test is not None and inputs.n_relevant is not None
        key = ("relevance", lists.k)  # the six accuracy metrics of one k share one relevance matrix
        if key not in inputs.cache or inputs.cache[key][0] is not lists:  # type: ignore[index]
            inputs.cache[key] = (lists, accuracy.relevance(lists, inputs.test))
        return fn(inputs.cache[key][1], inputs.n_relevant)  # type: ignore[index]

    return compute


def _categories(inputs: AuditInputs):  # noqa: ANN202 - csr matrix
    assert inputs.categories is not None
    return inputs.categories[0]


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in [
        MetricSpec("precision", "user", ("test",), _accuracy(accuracy.precision), "|L∩T| / k"),
        MetricSpec("recall", "user", ("test",), _accuracy(accuracy.recall), "|L∩T| / |T|"),
        MetricSpec("hit_rate", "user", ("test",), _accuracy(accuracy.hit_rate), "1 if any hit"),
        MetricSpec("mrr", "user", ("test",), _accuracy(accuracy.mrr), "1 / rank of the first hit"),
        MetricSpec("ndcg", "user", ("test",), _accuracy(accuracy.ndcg), "DCG / IDCG, binary relevance"),
        MetricSpec("map", "user", ("test",), _accuracy(accuracy.map_at_k), "Σ prec@r at hits / min(k,|T|)"),
        MetricSpec(
            "coverage", "catalogue", (), lambda i, lists: exposure.coverage(lists), "|∪ L_u| / |I|"
        ),
        MetricSpec(
            "gini", "catalogue", (), lambda i, lists: exposure.gini_at_k(lists),
            "Gini of list counts c_i over the whole catalogue (RecBole GiniIndex)",
        ),
        MetricSpec(
            "gini_recommended_only", "catalogue", (),
            lambda i, lists: exposure.gini_recommended_only(lists.exposure_counts()),
            "Gini over recommended items only (Evidently's variant)",
        ),
        MetricSpec(
            "exposure_gini", "catalogue", (), lambda i, lists: exposure.exposure_gini(lists),
            "Gini of position-weighted exposure x_i",
        ),
        MetricSpec("entropy", "catalogue", (), lambda i, lists: exposure.entropy(lists), "−Σ p ln p of c_i"),
        MetricSpec(
            "entropy_norm", "catalogue", (), lambda i, lists: exposure.entropy_norm(lists), "entropy / ln |I|"
        ),
        MetricSpec(
            "personalization", "catalogue", (), lambda i, lists: exposure.personalization(lists),
            "1 − mean pairwise list overlap / k",
        ),
        MetricSpec(
            "arp", "user", (), lambda i, lists: popularity.arp(lists, i.item_popularity),
            "mean training popularity φ(i) of the list",
        ),
        MetricSpec(
            "aplt", "user", (), lambda i, lists: popularity.aplt(lists, i.head_mask),
            "share of long-tail items in the list",
        ),
        MetricSpec(
            "novelty", "user", (),
            lambda i, lists: popularity.novelty(lists, i.item_users, i.n_train_users),
            "mean −log2(users(i) / n_users)",
        ),
        MetricSpec(
            "ild", "user", ("item_emb",), lambda i, lists: diversity.ild(lists, i.item_emb),
            "mean pairwise 1 − cos of item embeddings",
        ),
        MetricSpec(
            "ild_category", "user", ("categories",),
            lambda i, lists: diversity.ild(lists, _categories(i)),
            "mean pairwise 1 − cos of category vectors",
        ),
        MetricSpec(
            "serendipity", "user", ("test", "item_emb"),
            lambda i, lists: diversity.serendipity(lists, i.test, i.train, i.item_emb),
            "relevant and unlike the history (embeddings)",
        ),
        MetricSpec(
            "serendipity_category", "user", ("test", "categories"),
            lambda i, lists: diversity.serendipity(lists, i.test, i.train, _categories(i)),
            "relevant and unlike the history (categories)",
        ),
        MetricSpec(
            "miscalibration", "user", ("categories",),
            lambda i, lists: calibration.miscalibration(lists, i.train, _categories(i)),
            "KL(history categories ‖ list categories), Steck 2018",
        ),
    ]
}

_NAME = re.compile(r"^\s*([a-z_]+)\s*@\s*(\d+)\s*$")


def parse_metric(text: str) -> tuple[MetricSpec, int]:
    """``"ndcg@10"`` -> (its spec, 10).

    Raises:
        ValueError: unknown metric or a missing/invalid ``@k``.
    """
    match = _NAME.match(text)
    if not match:
        raise ValueError(f"metric {text!r} must look like name@k, e.g. ndcg@10")
    name, k = match.group(1), int(match.group(2))
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    if k < 1:
        raise ValueError(f"k must be >= 1 in {text!r}")
    return METRICS[name], k


def missing_needs(spec: MetricSpec, inputs: AuditInputs) -> list[str]:
    """What ``inputs`` lacks for ``spec`` (empty when it can be computed)."""
    have = {
        "test": inputs.test is not None,
        "item_emb": inputs.item_emb is not None,
        "categories": inputs.categories is not None,
    }
    return [need for need in spec.needs if not have[need]]
