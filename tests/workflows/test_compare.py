"""A vs B (docs/metrics.md "Comparing two models"): paired over shared users, every metric with the CI of
B − A and a p-value, checked against values computed here from the two audits and their lists; the
``recaudit compare`` forms, its delta gates and reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recaudit.bundle import load_bundle
from recaudit.cli import main
from recaudit.metrics.inputs import AuditInputs
from recaudit.workflows.audit import audit_bundle
from recaudit.workflows.compare import compare_audits, compare_bundles

K = 10


@pytest.fixture(scope="module")
def audits(tiny_bundle_dir: Path) -> dict[str, tuple]:
    out = {}
    for name in ("alpha", "beta"):
        used: list[AuditInputs] = []
        result = audit_bundle(load_bundle(tiny_bundle_dir / name), K, n_boot=200, inputs_out=used)
        out[name] = (result, used[0])
    return out


def _compare(audits: dict[str, tuple], a: str = "alpha", b: str = "beta", n_boot: int = 200):
    (ra, ia), (rb, ib) = audits[a], audits[b]
    return compare_audits(ra, ia, rb, ib, names=(a, b), k=K, n_boot=n_boot, seed=0)


def test_a_bundle_against_itself_differs_by_nothing(audits: dict[str, tuple]) -> None:
    same = _compare(audits, "alpha", "alpha")
    assert len(same.table) > 15 and set(same.table["kind"]) == {"user", "catalogue"}
    assert (same.table["delta"] == 0).all() and (same.table["p_value"] == 1).all()
    assert (same.table["ci_low"] == 0).all() and (same.table["ci_high"] == 0).all()
    assert same.movers.empty and same.n_shared == len(audits["alpha"][1].lists.user_ids)


def test_per_user_deltas_are_means_over_the_shared_users(audits: dict[str, tuple]) -> None:
    comparison = _compare(audits)
    (ra, _), (rb, _) = audits["alpha"], audits["beta"]
    shared = ra.per_user.index.intersection(rb.per_user.index)
    assert comparison.n_shared == len(shared)
    table = comparison.table.set_index("metric")
    for metric in ("ndcg@10", "recall@10", "arp@10"):
        both = pd.concat(
            [ra.per_user.loc[shared, metric], rb.per_user.loc[shared, metric]], axis=1
        ).dropna()
        want = float((both.iloc[:, 1] - both.iloc[:, 0]).mean())
        row = table.loc[metric]
        assert row["kind"] == "user" and row["delta"] == pytest.approx(want, abs=1e-12)
        assert row["b"] - row["a"] == pytest.approx(want, abs=1e-12)  # A and B are over the shared users
        assert row["ci_low"] <= row["delta"] <= row["ci_high"] and 0 < row["p_value"] <= 1
    assert table.loc["arp@10", "p_value"] < 0.05  # beta's lists are measurably less popular


def test_catalogue_deltas_recompute_both_sides_on_the_shared_users(audits: dict[str, tuple]) -> None:
    comparison = _compare(audits)
    (_, ia), (_, ib) = audits["alpha"], audits["beta"]
    shared = np.intersect1d(ia.lists.user_ids.astype(str), ib.lists.user_ids.astype(str))

    def gini_and_coverage(inputs: AuditInputs) -> tuple[float, float]:
        rows = pd.Series(range(len(inputs.lists.user_ids)), index=inputs.lists.user_ids.astype(str))[shared]
        items = inputs.lists.items[rows.to_numpy()][:, :K]
        counts = np.bincount(items[items >= 0], minlength=inputs.lists.n_items).astype(float)
        c = np.sort(counts)
        n = c.size
        gini = float(np.sum((2 * np.arange(1, n + 1) - n - 1) * c) / (n * c.sum()))
        return gini, float(np.count_nonzero(counts) / n)

    (gini_a, cov_a), (gini_b, cov_b) = gini_and_coverage(ia), gini_and_coverage(ib)
    table = comparison.table.set_index("metric")
    assert table.loc["gini@10", "kind"] == "catalogue"
    assert table.loc["gini@10", "a"] == pytest.approx(gini_a, abs=1e-12)
    assert table.loc["gini@10", "delta"] == pytest.approx(gini_b - gini_a, abs=1e-12)
    assert table.loc["coverage@10", "delta"] == pytest.approx(cov_b - cov_a, abs=1e-12)
    for metric in ("gini@10", "entropy@10", "personalization@10"):
        row = table.loc[metric]
        assert row["ci_low"] < row["ci_high"] and 0 < row["p_value"] <= 1 and row["n_users"] == len(shared)


def test_the_movers_are_the_largest_gains_and_losses(audits: dict[str, tuple]) -> None:
    comparison = _compare(audits)
    (ra, _), (rb, _) = audits["alpha"], audits["beta"]
    diff = (rb.per_user["ndcg@10"] - ra.per_user["ndcg@10"]).dropna()
    assert comparison.lead == "ndcg@10"
    gained = comparison.movers[comparison.movers["direction"] == "gained"]
    lost = comparison.movers[comparison.movers["direction"] == "lost"]
    assert gained.iloc[0]["user_id"] == diff.idxmax() and lost.iloc[0]["user_id"] == diff.idxmin()
    assert (gained["delta"] > 0).all() and (lost["delta"] < 0).all()


def test_bundles_without_a_shared_user_are_refused(audits: dict[str, tuple]) -> None:
    (ra, ia), (rb, ib) = audits["alpha"], audits["beta"]
    lonely = type(ib.lists)(ib.lists.user_ids.astype(str) + "-other", ib.lists.items, ib.lists.item_ids)
    with pytest.raises(ValueError, match="no user in common"):
        compare_audits(ra, ia, rb, type(ib)(**{**ib.__dict__, "lists": lonely}), names=("a", "b"), k=K)


def test_compare_bundles_audits_both_with_the_same_settings(tiny_bundle_dir: Path) -> None:
    comparison = compare_bundles(
        load_bundle(tiny_bundle_dir / "alpha"), load_bundle(tiny_bundle_dir / "beta"), K, n_boot=50
    )
    assert comparison.settings["n_boot"] == 50 and comparison.a == "alpha" and comparison.b == "beta"
    assert "ndcg@10" in comparison.deltas


def test_cli_compare_prints_writes_and_gates(
    tiny_bundle_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alpha, beta = str(tiny_bundle_dir / "alpha"), str(tiny_bundle_dir / "beta")
    out_json, out_html = tmp_path / "cmp.json", tmp_path / "cmp.html"
    base = ["compare", alpha, beta, "--n-boot", "100"]
    assert (
        main([*base, "--json", str(out_json), "--html", str(out_html), "--fail-on", "delta:ndcg@10<-0.5"])
        == 0
    )
    printed = capsys.readouterr()
    assert "A = alpha, B = beta" in printed.out and "ndcg@10" in printed.out and "95% CI" in printed.out
    saved = json.loads(out_json.read_text())
    rows = {r["metric"]: r for r in saved["metrics"]}
    assert saved["a"] == "alpha" and saved["n_shared_users"] > 0 and rows["gini@10"]["kind"] == "catalogue"
    html = out_html.read_text()
    assert "B − A, every metric" in html and "all 1 gate(s) passed" in html and "Who gained" in html
    delta = rows["ndcg@10"]["delta"]
    assert main([*base, "--fail-on", f"delta:ndcg@10<{delta + 1e-6}"]) == 1  # Δ below the threshold fails
    assert "gate failed: delta:ndcg@10" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "{a}", "{b}", "--fail-on", "ndcg@10<0"], "does not fit recaudit compare"),
        (["compare", "{a}", "{b}", "--fail-on", "delta:ndgc@10<0"], "did you mean ndcg?"),
        (["audit", "{a}", "--fail-on", "delta:ndcg@10<0"], "does not fit recaudit audit"),
    ],
)
def test_gates_of_the_wrong_kind_are_usage_errors_before_any_work(
    argv: list[str], message: str, tiny_bundle_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    filled = [x.format(a=tiny_bundle_dir / "alpha", b=tiny_bundle_dir / "beta") for x in argv]
    assert main(filled) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "auditing" not in err[0]


def test_per_user_group_deltas_are_paired_within_the_group(audits: dict[str, tuple]) -> None:
    from recaudit.metrics.groups import user_group_labels

    comparison = _compare(audits)
    (ra, ia), (rb, _) = audits["alpha"], audits["beta"]
    labels = pd.Series(user_group_labels(ia)["popularity"], index=ia.lists.user_ids.astype(str))
    rows = comparison.user_groups
    for group in ("niche", "diverse", "blockbuster"):
        members = labels.index[labels == group]
        both = pd.concat([ra.per_user["ndcg@10"], rb.per_user["ndcg@10"]], axis=1, join="inner")
        both = both[both.index.isin(members)].dropna()
        row = rows[
            (rows.grouping == "popularity") & (rows.group == group) & (rows.metric == "ndcg@10")
        ].iloc[0]
        assert row["n_users"] == len(both)
        assert row["delta"] == pytest.approx(float((both.iloc[:, 1] - both.iloc[:, 0]).mean()), abs=1e-12)


def test_item_group_exposure_shares_by_hand(audits: dict[str, tuple]) -> None:
    comparison = _compare(audits)
    (_, ia), (_, ib) = audits["alpha"], audits["beta"]
    shared = np.intersect1d(ia.lists.user_ids.astype(str), ib.lists.user_ids.astype(str))

    def share(inputs: AuditInputs, domain: str) -> float:
        rows = pd.Series(range(len(inputs.lists.user_ids)), index=inputs.lists.user_ids.astype(str))[shared]
        items = inputs.lists.items[rows.to_numpy()][:, :K]
        weights = np.broadcast_to(1 / np.log2(np.arange(2, K + 2)), items.shape)
        x = np.bincount(items[items >= 0], weights=weights[items >= 0], minlength=inputs.lists.n_items)
        in_domain = inputs.items["domain"].to_numpy() == domain
        return float(x[in_domain].sum() / x.sum())

    table = comparison.item_groups.set_index(["column", "group"])
    row = table.loc[("domain", "books")]
    assert row["a"] == pytest.approx(share(ia, "books"), abs=1e-12)
    assert row["delta"] == pytest.approx(share(ib, "books") - share(ia, "books"), abs=1e-12)
    assert row["ci_low"] <= row["delta"] <= row["ci_high"] and 0 < row["p_value"] <= 1
    providers = table.loc["provider"]
    assert providers["a"].sum() == pytest.approx(1.0) and providers["b"].sum() == pytest.approx(1.0)
