"""The metric catalogue: every metric recaudit reports, once, with everything its consumers read.

:data:`METRICS` maps a name (without ``@k``) to its :class:`MetricSpec`: family, kind, the inputs it
needs, the function that computes it, a one-line formula for tooltips, the paper or library its
definition agrees with, whether the default audit computes it, the named sets that pages and workflows
show it in, and the engines that can run it. The definitions themselves are written out in
``docs/metrics.md`` and in the family modules' docstrings.

Everything that used to keep its own list of metric names reads this catalogue instead: the engine's
default set (:func:`default_metrics`), the report's definition and source columns (:func:`metric_help`,
:func:`metric_source`), the frame-level accuracy functions (:func:`relevance_functions`), the gates'
known names (:func:`gate_metric_names`) and the pages' card and selector lists
(``metric_names(set="diversity")`` and so on). Adding a metric is its function in a family module, one
entry below and its tests.

Kinds:

- ``user``: one value per audited user (``[U]`` array, NaN where the definition leaves a user out); the
  reported number is the mean over the users with a value, and it has a bootstrap CI and group
  breakdowns;
- ``catalogue``: one number for the whole log;
- ``item_group``: one number per item column, written ``name[column]@k`` (``exposure_disparity``); the
  engine computes it with the item-group breakdowns, so it cannot be requested by name.

Each entry names what it needs (test interactions, item embeddings, categories), so an audit skips a
metric it cannot compute and says why instead of reporting a wrong number. The same mechanism covers
engines: a metric whose ``engines`` lack the running engine is skipped with that reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from recaudit.metrics import accuracy, calibration, coldstart, diversity, exposure, popularity
from recaudit.metrics.inputs import AuditInputs
from recaudit.metrics.lists import RecLists

Kind = Literal["user", "catalogue", "item_group"]
Need = Literal["test", "item_emb", "categories", "cold_test", "cold_lists", "crossdomain"]
Family = Literal[
    "accuracy", "exposure", "popularity", "diversity", "calibration", "coldstart", "fairness", "crossdomain"
]
Compute = Callable[[AuditInputs, RecLists], "np.ndarray | float"]
RelevanceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""An accuracy metric on a ``[U, k]`` relevance matrix and ``|T_u|`` (:mod:`recaudit.metrics.accuracy`)."""

REFERENCE_ENGINE = "memory"
"""The in-memory NumPy/SciPy engine of :func:`recaudit.metrics.evaluate`, the reference every other
engine (Ibis/DuckDB, Spark) is checked against."""

ALL_ENGINES = (REFERENCE_ENGINE, "duckdb", "spark")
"""The aggregation metrics that :mod:`recaudit.metrics.engines` also writes as Ibis expressions."""

SETS: dict[str, str] = {
    "headline": "held-out numbers stored in a bundle's manifest (recaudit.workflows.holdout), in this order",
    "overview": "order of the Overview page's held-out accuracy table (recaudit.views.explorer)",
    "diversity": "metric cards of the Diversity & popularity page",
    "fairness": "accuracy metrics the Fairness page compares between user groups",
    "rerank_lab": "base vs re-ranked cards of the Re-ranking lab page",
    "frontier": "y axes of the Re-ranking lab's trade-off frontier (x is ndcg)",
    "coldstart": "cold-start metrics of the Cold start page and of the report's cold-start section",
}
"""The named sets a spec may belong to, and who reads each (``metric_names(set=...)``)."""

NEED_TEXT: dict[str, str] = {
    "cold_test": "a test item without training interactions",
    "cold_lists": "lists ranked over the cold items only (recaudit audit ranks them from a bundle)",
    "crossdomain": "a bundle trained with --transfer (recaudit audit computes it per target domain)",
}
"""How a skip reason names a need (``"needs " + ...``); a need not listed is named as is (``test``)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class MetricSpec:
    """One catalogue entry.

    Attributes:
        name: the metric's name without ``@k`` (``"ndcg"``); the key in :data:`METRICS`.
        family: the module its function lives in (``recaudit/metrics/<family>.py``).
        kind: ``user``, ``catalogue`` or ``item_group`` (module docstring).
        needs: inputs it cannot do without; an audit lacking one skips it and says which (``cold_test``:
            at least one test interaction with a cold item; ``cold_lists``: lists ranked over the cold
            items only, :attr:`AuditInputs.cold_lists`).
        help: the formula in one line, for tooltips and the report's definition column.
        source: the paper or library the definition agrees with (the report's source column).
        compute: ``(inputs, lists truncated to k) -> [U] values or one float``; None for item-group
            metrics, which the engine's breakdowns compute.
        relevance: for accuracy metrics, the same metric on a relevance matrix (frame-level evaluation).
        default: computed by an audit that names no metrics.
        sets: named sets it is shown in (keys of :data:`SETS`), each with its position in that set; a
            set lists its members by position, then in catalogue order.
        engines: engines that can compute it: :data:`REFERENCE_ENGINE`, and :data:`ALL_ENGINES` for the
            aggregation metrics :mod:`recaudit.metrics.engines` writes as Ibis expressions.
    """

    name: str
    family: Family
    kind: Kind
    needs: tuple[Need, ...]
    help: str
    source: str
    compute: Compute | None = None
    relevance: RelevanceFn | None = None
    default: bool = True
    sets: Mapping[str, int] = field(default_factory=dict)
    engines: tuple[str, ...] = (REFERENCE_ENGINE,)


def _accuracy(fn: RelevanceFn) -> Compute:
    def compute(inputs: AuditInputs, lists: RecLists) -> np.ndarray:
        assert inputs.test is not None and inputs.n_relevant is not None
        key = ("relevance", lists.k)  # the accuracy metrics of one k share one relevance matrix
        if key not in inputs.cache or inputs.cache[key][0] is not lists:  # type: ignore[index]
            inputs.cache[key] = (lists, accuracy.relevance(lists, inputs.test))
        return fn(inputs.cache[key][1], inputs.n_relevant)  # type: ignore[index]

    return compute


def _accuracy_spec(name: str, fn: RelevanceFn, help: str, sets: Mapping[str, int]) -> MetricSpec:
    """A ranking-accuracy entry: binary relevance, ranx conventions, needs test interactions."""
    return MetricSpec(
        name=name, family="accuracy", kind="user", needs=("test",), help=help,
        source="ranx conventions (binary relevance)", compute=_accuracy(fn), relevance=fn, sets=sets,
        engines=ALL_ENGINES,
    )


def _cold_lists(inputs: AuditInputs, lists: RecLists) -> RecLists:
    """The lists ranked among cold items, cut to the k of ``lists`` (shorter when C has fewer items)."""
    assert inputs.cold_lists is not None
    return inputs.cold_lists.truncate(min(lists.k, inputs.cold_lists.k))


def _categories(inputs: AuditInputs):  # noqa: ANN202 - csr matrix
    assert inputs.categories is not None
    return inputs.categories[0]


def _transfer_specs() -> list[MetricSpec]:
    """The cross-domain entries: computed by :mod:`recaudit.workflows.crossdomain` from a bundle's
    transfer model (two rankings of the same users), never from one recommendation log; each value is the
    worst target domain's."""
    source = "docs/metrics.md cross-domain (per target domain, against the target-only model)"
    entries = [
        ("negative_transfer_rate", "share of a target domain's test users with a lower ndcg@k with transfer"),
        ("negative_transfer_rate_cold", "negative_transfer_rate over users cold in the target"),
        ("negative_transfer_rate_warm", "negative_transfer_rate over users warm in the target"),
        ("transfer_lift_cold", "(ndcg transfer − ndcg target-only) / ndcg target-only, target-cold users"),
        ("transfer_lift_warm", "transfer_lift over users warm in the target"),
    ]
    return [
        MetricSpec(
            name=name, family="crossdomain", kind="catalogue", needs=("test", "crossdomain"), help=help,
            source=source, default=False, compute=_from_a_transfer_model,
        )
        for name, help in entries
    ]


def _from_a_transfer_model(inputs: AuditInputs, lists: RecLists) -> float:
    """Never reached: the ``crossdomain`` need is unmet by any log, so the engine skips these entries with
    that reason; :func:`recaudit.workflows.audit.audit_bundle` computes them from the bundle."""
    raise ValueError("transfer metrics are computed by recaudit audit from a bundle trained with --transfer")


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in [
        _accuracy_spec(
            "precision", accuracy.precision, "|L∩T| / k",
            {"headline": 0, "overview": 2, "fairness": 4},
        ),
        _accuracy_spec(
            "recall", accuracy.recall, "|L∩T| / |T|",
            {"headline": 1, "overview": 0, "fairness": 1, "rerank_lab": 1},
        ),
        _accuracy_spec(
            "hit_rate", accuracy.hit_rate, "1 if any hit", {"headline": 2, "overview": 3, "fairness": 2}
        ),
        _accuracy_spec("mrr", accuracy.mrr, "1 / rank of the first hit", {"fairness": 3}),
        _accuracy_spec(
            "ndcg", accuracy.ndcg, "DCG / IDCG, binary relevance",
            {"headline": 3, "overview": 1, "fairness": 0, "rerank_lab": 0},
        ),
        _accuracy_spec("map", accuracy.map_at_k, "Σ prec@r at hits / min(k,|T|)", {"fairness": 5}),
        MetricSpec(
            name="coverage", family="exposure", kind="catalogue", needs=(), help="|∪ L_u| / |I|",
            source="RecBole ItemCoverage (share of the catalogue)",
            compute=lambda i, lists: exposure.coverage(lists),
            sets={"diversity": 0, "rerank_lab": 2, "frontier": 1},
            engines=ALL_ENGINES,
        ),
        MetricSpec(
            name="gini", family="exposure", kind="catalogue", needs=(),
            help="Gini of list counts c_i over the whole catalogue (RecBole GiniIndex)",
            source="RecBole GiniIndex, LensKit gini (whole catalogue)",
            compute=lambda i, lists: exposure.gini_at_k(lists), sets={"rerank_lab": 3, "frontier": 2},
            engines=ALL_ENGINES,
        ),
        MetricSpec(
            name="gini_recommended_only", family="exposure", kind="catalogue", needs=(),
            help="Gini over recommended items only (Evidently's variant)",
            source="Evidently (recommended items only)",
            compute=lambda i, lists: exposure.gini_recommended_only(lists.exposure_counts()), default=False,
            engines=ALL_ENGINES,
        ),
        MetricSpec(
            name="exposure_gini", family="exposure", kind="catalogue", needs=(),
            help="Gini of position-weighted exposure x_i",
            source="RecBole GiniIndex over position-weighted exposure",
            compute=lambda i, lists: exposure.exposure_gini(lists),
            engines=ALL_ENGINES,
        ),
        MetricSpec(
            name="entropy", family="exposure", kind="catalogue", needs=(), help="−Σ p ln p of c_i",
            source="RecBole ShannonEntropy (natural log)", compute=lambda i, lists: exposure.entropy(lists),
            engines=ALL_ENGINES,
        ),
        MetricSpec(
            name="entropy_norm", family="exposure", kind="catalogue", needs=(), help="entropy / ln |I|",
            source="RecBole ShannonEntropy / ln |I|", compute=lambda i, lists: exposure.entropy_norm(lists),
            engines=ALL_ENGINES,
        ),
        MetricSpec(
            name="personalization", family="exposure", kind="catalogue", needs=(),
            help="1 − mean pairwise list overlap / k",
            source="docs/metrics.md: 1 − mean pairwise overlap / k, from c_i",
            compute=lambda i, lists: exposure.personalization(lists), sets={"diversity": 6},
            engines=ALL_ENGINES,
        ),
        MetricSpec(
            name="arp", family="popularity", kind="user", needs=(),
            help="mean training popularity φ(i) of the list",
            source="Abdollahpouri; Elliot, RecBole, RecTools",
            compute=lambda i, lists: popularity.arp(lists, i.item_popularity),
            sets={"diversity": 1, "rerank_lab": 6},
            engines=ALL_ENGINES,
        ),
        MetricSpec(
            name="aplt", family="popularity", kind="user", needs=(),
            help="share of long-tail items in the list", source="Abdollahpouri; Elliot (80% short head)",
            compute=lambda i, lists: popularity.aplt(lists, i.head_mask),
            sets={"diversity": 2, "rerank_lab": 7},
            engines=ALL_ENGINES,
        ),
        MetricSpec(
            name="novelty", family="popularity", kind="user", needs=(),
            help="mean −log2(users(i) / n_users)", source="RecTools MeanInvUserFreq",
            compute=lambda i, lists: popularity.novelty(lists, i.item_users, i.n_train_users),
            sets={"diversity": 3, "rerank_lab": 8},
            engines=ALL_ENGINES,
        ),
        MetricSpec(
            name="ild", family="diversity", kind="user", needs=("item_emb",),
            help="mean pairwise 1 − cos of item embeddings", source="Ziegler; RecTools ILD",
            compute=lambda i, lists: diversity.ild(lists, i.item_emb),
            sets={"diversity": 4, "rerank_lab": 4},
        ),
        MetricSpec(
            name="ild_category", family="diversity", kind="user", needs=("categories",),
            help="mean pairwise 1 − cos of category vectors",
            source="Ziegler; RecTools ILD (category vectors)",
            compute=lambda i, lists: diversity.ild(lists, _categories(i)),
            sets={"diversity": 5, "rerank_lab": 5, "frontier": 0},
        ),
        MetricSpec(
            name="serendipity", family="diversity", kind="user", needs=("test", "item_emb"),
            help="relevant and unlike the history (embeddings)",
            source="Zhang et al. 2012 (Auralist); MS Recommenders",
            compute=lambda i, lists: diversity.serendipity(lists, i.test, i.train, i.item_emb),
        ),
        MetricSpec(
            name="serendipity_category", family="diversity", kind="user", needs=("test", "categories"),
            help="relevant and unlike the history (categories)",
            source="Zhang et al. 2012 (Auralist); MS Recommenders (category vectors)",
            compute=lambda i, lists: diversity.serendipity(lists, i.test, i.train, _categories(i)),
        ),
        MetricSpec(
            name="miscalibration", family="calibration", kind="user", needs=("categories",),
            help="KL(history categories ‖ list categories), Steck 2018",
            source="Steck 2018, Calibrated recommendations (α = 0.01)",
            compute=lambda i, lists: calibration.miscalibration(lists, i.train, _categories(i)),
            sets={"rerank_lab": 9},
        ),
        MetricSpec(
            name="cold_item_recall", family="coldstart", kind="user", needs=("test", "cold_test"),
            help="|L∩T∩C| / |T∩C|, C = items without training interactions, full-catalogue lists",
            source="docs/metrics.md cold start (ColdRec's cold setting)",
            compute=lambda i, lists: coldstart.cold_item_recall(lists, i.test, i.cold_items),
            sets={"coldstart": 0},
        ),
        MetricSpec(
            name="cold_item_recall_among_cold", family="coldstart", kind="user",
            needs=("test", "cold_test", "cold_lists"),
            help="cold_item_recall of lists ranked over the cold items only (content path alone)",
            source="docs/metrics.md cold start",
            compute=lambda i, lists: coldstart.cold_item_recall_among_cold(
                _cold_lists(i, lists), i.test, i.cold_items
            ),
            sets={"coldstart": 1},
        ),
        MetricSpec(
            name="cold_exposure_share", family="coldstart", kind="catalogue", needs=("test", "cold_test"),
            help="Σ_u |L_u ∩ C| / Σ_u |L_u|: share of list slots held by cold items",
            source="docs/metrics.md cold start",
            compute=lambda i, lists: coldstart.cold_exposure_share(lists, i.cold_items),
            sets={"coldstart": 2},
        ),
        *_transfer_specs(),
        MetricSpec(
            name="exposure_disparity", family="fairness", kind="item_group", needs=("test",),
            help="max / min exposure_ratio over groups with merit (1 = exposure proportional to merit)",
            source="docs/metrics.md group exposure fairness",
            engines=ALL_ENGINES,
        ),
    ]
}
"""The catalogue, in the order audits report metrics (accuracy, exposure, popularity, diversity, ...)."""

_NAME = re.compile(r"^\s*([a-z_]+)\s*@\s*(\d+)\s*$")
_BASE = re.compile(r"^([A-Za-z_]+)")


def metric_names(
    *,
    set: str | None = None,  # the pages' word for it, though it shadows the builtin here
    family: str | None = None,
    kind: Kind | None = None,
    default: bool | None = None,
    engine: str | None = None,
) -> list[str]:
    """Catalogue names (without ``@k``) matching every given filter.

    ``set`` lists its members by their position in the set, then in catalogue order; without ``set``
    the order is the catalogue's. Read at call time, so a metric added to :data:`METRICS` is seen at once.

    Raises:
        ValueError: ``set`` is not one of :data:`SETS`.
    """
    if set is not None and set not in SETS:
        raise ValueError(f"unknown metric set {set!r}; known: {', '.join(SETS)}")
    specs = [
        spec for spec in METRICS.values()
        if (set is None or set in spec.sets)
        and (family is None or spec.family == family)
        and (kind is None or spec.kind == kind)
        and (default is None or spec.default == default)
        and (engine is None or engine in spec.engines)
    ]
    if set is not None:
        order = {spec.name: position for position, spec in enumerate(METRICS.values())}
        specs.sort(key=lambda spec: (spec.sets[set], order[spec.name]))
    return [spec.name for spec in specs]


def default_metrics() -> list[str]:
    """What an audit that names no metrics computes per k: the default entries it can request by name
    (item-group metrics come with the breakdowns instead)."""
    return [spec.name for spec in METRICS.values() if spec.default and spec.compute is not None]


def relevance_functions() -> dict[str, RelevanceFn]:
    """``{name: fn(rel, n_relevant)}`` of every accuracy metric, in catalogue order (frame-level
    evaluation, :func:`recaudit.metrics.ranking.evaluate_lists`)."""
    return {spec.name: spec.relevance for spec in METRICS.values() if spec.relevance is not None}


def gate_metric_names() -> list[str]:
    """Every name a gate may use (without ``@k``): the requestable metrics sorted, then the item-group
    ones (written ``name[column]@k``)."""
    plain = sorted(name for name, spec in METRICS.items() if spec.kind != "item_group")
    return plain + metric_names(kind="item_group")


def _spec_of(name: str) -> MetricSpec | None:
    """The spec of a reported name such as ``"gini@10"`` or ``"exposure_disparity[provider]@10"``."""
    match = _BASE.match(name)
    return METRICS.get(match.group(1)) if match else None


def metric_help(name: str) -> str:
    """The one-line formula of a reported metric name (``""`` for a name outside the catalogue)."""
    spec = _spec_of(name)
    return spec.help if spec else ""


def metric_source(name: str) -> str:
    """The paper or library a reported metric's definition agrees with (``""`` outside the catalogue)."""
    spec = _spec_of(name)
    return spec.source if spec else ""


def parse_metric(text: str) -> tuple[MetricSpec, int]:
    """``"ndcg@10"`` -> (its spec, 10).

    Raises:
        ValueError: unknown metric, an item-group metric (computed with the breakdowns, not by name) or
            a missing/invalid ``@k``.
    """
    match = _NAME.match(text)
    if not match:
        raise ValueError(f"metric {text!r} must look like name@k, e.g. ndcg@10")
    name, k = match.group(1), int(match.group(2))
    spec = METRICS.get(name)
    if spec is None:
        known = [n for n, s in METRICS.items() if s.compute is not None]
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(known)}")
    if spec.compute is None:
        raise ValueError(
            f"{name} is computed per item column by every audit with test data "
            f"(reported as {name}[column]@k); it cannot be requested by name"
        )
    if k < 1:
        raise ValueError(f"k must be >= 1 in {text!r}")
    return spec, k


def missing_needs(spec: MetricSpec, inputs: AuditInputs) -> list[str]:
    """What ``inputs`` lacks for ``spec`` (empty when it can be computed)."""
    have = {
        "test": inputs.test is not None,
        "item_emb": inputs.item_emb is not None,
        "categories": inputs.categories is not None,
        # each need is named only when those before it are met: one short reason per skip
        "cold_test": inputs.test is None or inputs.has_cold_test,
        "cold_lists": inputs.cold_lists is not None or not inputs.has_cold_test,
        "crossdomain": False,  # two rankings of one bundle: recaudit.workflows.crossdomain, not a log
    }
    return [need for need in spec.needs if not have[need]]
