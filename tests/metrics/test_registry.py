"""The metric catalogue: its entries are complete, its named sets keep the pages' lists, and a metric added
to the catalogue alone reaches the engine, the report, the gates and the named sets."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recaudit.metrics import AuditInputs, evaluate, registry
from recaudit.metrics.lists import RecLists
from recaudit.metrics.registry import (
    METRICS,
    REFERENCE_ENGINE,
    SETS,
    MetricSpec,
    default_metrics,
    gate_metric_names,
    metric_help,
    metric_names,
    metric_source,
    parse_metric,
    relevance_functions,
)
from recaudit.report import metric_source as report_source
from recaudit.report import render_html
from recaudit.workflows.gates import check_gate_names, check_gates, known_metric_names, parse_gate
from tests.audit_fixtures import audit_frames


def _inputs(*, test: bool = True) -> AuditInputs:
    f = audit_frames()
    return AuditInputs.from_frames(f["recs"], f["train"], test=f["test"] if test else None, items=f["items"])


# --------------------------------------------------------------------------------------------- entries


@pytest.mark.parametrize("name", list(METRICS))
def test_every_entry_is_complete(name: str) -> None:
    spec = METRICS[name]
    assert spec.name == name
    assert spec.help and "\n" not in spec.help, "one line for tooltips"
    assert spec.source, "the report names every metric's source"
    assert REFERENCE_ENGINE in spec.engines
    assert set(spec.sets) <= set(SETS), f"unknown set in {sorted(spec.sets)}"
    assert (spec.compute is None) == (spec.kind == "item_group")
    assert (spec.relevance is not None) == (spec.family == "accuracy")
    assert set(spec.needs) <= {"test", "item_emb", "categories", "cold_test", "cold_lists", "crossdomain"}


def test_the_default_set_is_what_audits_computed_before_the_catalogue() -> None:
    assert default_metrics() == [
        "precision", "recall", "hit_rate", "mrr", "ndcg", "map",
        "coverage", "gini", "exposure_gini", "entropy", "entropy_norm", "personalization",
        "arp", "aplt", "novelty",
        "ild", "ild_category", "serendipity", "serendipity_category", "miscalibration",
        # skipped with a reason unless some test item has no training interactions (docs/metrics.md)
        "cold_item_recall", "cold_item_recall_among_cold", "cold_exposure_share",
    ]
    assert "gini_recommended_only" not in default_metrics()  # a variant, under its own name only


def test_named_sets_keep_the_lists_pages_and_workflows_showed() -> None:
    assert metric_names(set="headline") == ["precision", "recall", "hit_rate", "ndcg"]
    assert metric_names(set="overview") == ["recall", "ndcg", "precision", "hit_rate"]
    assert metric_names(set="diversity") == [
        "coverage", "arp", "aplt", "novelty", "ild", "ild_category", "personalization"
    ]
    assert metric_names(set="fairness") == ["ndcg", "recall", "hit_rate", "mrr", "precision", "map"]
    assert metric_names(set="rerank_lab") == [
        "ndcg", "recall", "coverage", "gini", "ild", "ild_category", "arp", "aplt", "novelty",
        "miscalibration",
    ]
    assert metric_names(set="frontier") == ["ild_category", "coverage", "gini"]
    assert metric_names(set="coldstart") == [
        "cold_item_recall", "cold_item_recall_among_cold", "cold_exposure_share"
    ]
    assert list(relevance_functions()) == ["precision", "recall", "hit_rate", "mrr", "ndcg", "map"]
    assert metric_names(family="accuracy") == list(relevance_functions())
    with pytest.raises(ValueError, match="unknown metric set"):
        metric_names(set="diversty")


def test_gate_names_are_the_catalogue_with_item_group_metrics_last() -> None:
    plain = sorted(n for n in METRICS if n != "exposure_disparity")
    assert gate_metric_names() == known_metric_names() == [*plain, "exposure_disparity"]


def test_help_and_source_of_reported_names() -> None:
    assert metric_help("ndcg@10") == "DCG / IDCG, binary relevance"
    gini = "RecBole GiniIndex, LensKit gini (whole catalogue)"
    assert metric_source("gini@10") == report_source("gini@10") == gini
    assert metric_help("exposure_disparity[provider]@10").startswith("max / min exposure_ratio")
    assert metric_source("exposure_disparity[provider]@10").startswith("docs/metrics.md")
    assert metric_help("unknown@10") == metric_source("unknown@10") == ""


def test_item_group_metrics_cannot_be_requested_by_name() -> None:
    with pytest.raises(ValueError, match=r"per item column.*exposure_disparity\[column\]@k"):
        parse_metric("exposure_disparity@10")
    with pytest.raises(ValueError, match="known: precision, recall") as caught:
        parse_metric("nope@10")
    assert "exposure_disparity" not in str(caught.value)


# ------------------------------------------------------------------------- adding a metric = one entry


def _top_share(_inputs: AuditInputs, lists: RecLists) -> float:
    """Toy catalogue metric: the exposure share of the most exposed item, max_i c_i / Σ_i c_i."""
    counts = lists.exposure_counts()
    return float(counts.max() / counts.sum()) if counts.sum() else math.nan


def _list_fill(_inputs: AuditInputs, lists: RecLists) -> np.ndarray:
    """Toy user metric: |L_u| / k, NaN for an empty list."""
    fill = lists.lengths / lists.k
    return np.where(lists.lengths > 0, fill, np.nan)


TOY_CATALOGUE = MetricSpec(
    name="toy_top_share", family="exposure", kind="catalogue", needs=(), help="max_i c_i / Σ_i c_i",
    source="a toy entry of tests/metrics/test_registry.py", compute=_top_share, sets={"diversity": 99},
)
TOY_USER = MetricSpec(
    name="toy_list_fill", family="popularity", kind="user", needs=("test",), help="|L_u| / k",
    source="another toy entry", compute=_list_fill, sets={"rerank_lab": 99, "fairness": 99},
)


def test_a_metric_added_only_to_the_catalogue_reaches_every_consumer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.METRICS, TOY_CATALOGUE.name, TOY_CATALOGUE)  # restored after the test
    monkeypatch.setitem(registry.METRICS, TOY_USER.name, TOY_USER)

    # the engine computes it by default, with a CI and group breakdowns for the user-level one
    result = evaluate(_inputs(), ks=(2,), n_boot=50)
    assert result.values["toy_top_share@2"] == pytest.approx(2 / 4)  # c = [2, 1, 1, 0]
    assert result.values["toy_list_fill@2"] == pytest.approx(1.0)  # a and b full, c has no list
    assert "toy_list_fill@2" in result.ci and "toy_list_fill@2" in result.user_groups["activity"]
    assert result.to_frame().set_index("metric").loc["toy_top_share@2", "kind"] == "catalogue"
    assert "needs test" in evaluate(_inputs(test=False), ks=(2,), ci=False).skipped["toy_list_fill@2"]

    # the report shows it with its one-line formula and its source
    page = render_html(result, title="toy")
    row = page[page.index("<td>toy_top_share@2</td>") :].split("</tr>")[0]
    assert "max_i c_i / Σ_i c_i" in row and "a toy entry of tests/metrics/test_registry.py" in row

    # gates accept its name and judge its value
    gates = [parse_gate("toy_top_share@2>0.4"), parse_gate("toy_list_fill@2<0.5")]
    check_gate_names(gates, k=2)
    failures = check_gates(result, gates)
    assert len(failures) == 1 and failures[0].startswith("toy_top_share@2>0.4")

    # the named sets list it after their own members
    assert metric_names(set="diversity")[-1] == "toy_top_share"
    assert metric_names(set="rerank_lab")[-1] == metric_names(set="fairness")[-1] == "toy_list_fill"
    assert "toy_top_share" in default_metrics()


def test_a_metric_only_another_engine_runs_is_skipped_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    spark_only = MetricSpec(
        name="toy_spark_only", family="exposure", kind="catalogue", needs=(), help="1",
        source="toy", compute=lambda i, lists: 1.0, engines=("spark",),
    )
    monkeypatch.setitem(registry.METRICS, spark_only.name, spark_only)
    result = evaluate(_inputs(), ks=(2,), ci=False)
    assert "toy_spark_only@2" not in result.values
    assert result.skipped["toy_spark_only@2"] == f"not available in the {REFERENCE_ENGINE} engine"
    assert metric_names(engine="spark")[-1] == "toy_spark_only"
    assert "toy_spark_only" not in metric_names(engine=REFERENCE_ENGINE)
