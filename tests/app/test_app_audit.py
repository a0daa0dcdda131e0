"""The audit pages (Diversity & popularity, Re-ranking lab, Fairness, Report) and ``recaudit.app.audit``.

AppTest on the tiny bundles of ``conftest.py``: every page opens, and each page's interaction (k, λ, the
re-ranker, the item or user grouping) changes the displayed numbers exactly as a direct
``recaudit.workflows.audit.audit_bundle`` / ``rerank_frontier`` call says. The pure helpers are
checked by hand.
"""

from __future__ import annotations

import json
import math
import re
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from recaudit.app import audit
from recaudit.app import shell as support
from recaudit.bundle import load_bundle
from recaudit.metrics.calibration import category_distributions
from recaudit.metrics.groups import user_group_labels
from recaudit.metrics.stats import bootstrap_ci
from recaudit.report_pdf import find_chromium
from recaudit.views.audit_tables import sample_users
from recaudit.workflows.audit import (
    audit_bundle,
    audit_inputs,
    audit_users,
    bundle_recommendations,
    rerank_frontier,
)
from tests.apptest_helpers import decode, frame, plotly_spec

APP = str(Path(__file__).resolve().parents[2] / "app.py")
DIVERSITY = "pages/diversity_popularity.py"
LAB = "pages/rerank_lab.py"
FAIRNESS = "pages/fairness.py"
REPORT = "pages/report.py"
PAGES = {DIVERSITY: "Diversity & popularity", LAB: "Re-ranking lab", FAIRNESS: "Fairness", REPORT: "Report"}


def open_page(bundle_dir: Path, page: str, bundle: str = "alpha") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[support.BUNDLE_DIR_KEY] = str(bundle_dir)
    at.session_state[support.SELECTED_BUNDLE] = bundle
    at.run()
    return at.switch_page(page).run()


def same(a: float, b: float) -> bool:
    """Equal numbers, NaN equal to NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12)


# ------------------------------------------------------------------------------------------------ pages


@pytest.mark.parametrize("page", list(PAGES))
def test_audit_page_opens(tiny_bundle_dir: Path, page: str) -> None:
    at = open_page(tiny_bundle_dir, page)
    assert not at.exception
    assert not at.error
    assert PAGES[page] in at.title[0].value and "alpha" in at.title[0].value


def test_audit_pages_without_test_data_say_so(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    bundle.test = None
    from recaudit.bundle import save_bundle

    save_bundle(bundle, tmp_path / "notest")
    for page in PAGES:
        at = open_page(tmp_path, page, bundle="notest")
        assert not at.exception and not at.error
        assert any("no held-out test interactions" in i.value for i in at.info)


def test_diversity_page_follows_k_and_the_selected_user(tiny_bundle_dir: Path) -> None:
    at = open_page(tiny_bundle_dir, DIVERSITY)
    assert frame(at, "diversity_metrics")["metric"].tolist()[0] == "coverage@10"
    at.selectbox(key="_" + audit.AUDIT_K).select(5).run()
    assert not at.exception
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    expected = audit_bundle(bundle, 5)
    shown = frame(at, "diversity_metrics").set_index("metric")
    names = ["coverage@5", "arp@5", "aplt@5", "novelty@5", "ild@5", "ild_category@5", "personalization@5"]
    assert shown.index.tolist() == names
    for name in names:
        assert same(shown.loc[name, "value"], expected.values[name])
        low, high = expected.ci.get(name, (math.nan, math.nan))
        assert same(shown.loc[name, "ci_low"], low) and same(shown.loc[name, "ci_high"], high)
    # the Lorenz curve's title carries the Gini of the same lists
    title = plotly_spec(at, "lorenz_chart")["layout"]["title"]["text"]
    assert f"Gini = {expected.values['gini@5']:.4f}" in title
    lift = frame(at, "popularity_lift")
    pd.testing.assert_frame_equal(
        lift.reset_index(drop=True), expected.popularity_lift["popularity_lift@5"].reset_index(drop=True),
        check_dtype=False,
    )

    # calibration: the selected user's bars are p(g|u) and q(g|u) of that user's history and top-5
    at.selectbox(key="_" + support.SELECTED_USER).select("u03").run()
    recs = bundle_recommendations(bundle, 5)
    inputs = audit_inputs(bundle, recs, k=5)
    row = list(inputs.lists.user_ids).index("u03")
    matrix, names_ = inputs.categories
    dist = category_distributions(inputs.train[row].indices, inputs.lists.items[row], matrix, names_)
    traces = {t["name"]: t for t in plotly_spec(at, "category_bars")["data"]}
    shown_hist = dict(zip(traces["history p(g|u)"]["x"], decode(traces["history p(g|u)"]["y"]), strict=True))
    for category, value in dist["history"].items():
        assert shown_hist.get(category, 0.0) == pytest.approx(value)
    c_kl = expected.per_user.loc["u03", "miscalibration@5"]
    assert any(c.value.startswith(f"u03: C_KL = {c_kl:.4f}") for c in at.caption)
    assert at.session_state[support.SELECTED_USER] == "u03"


def test_rerank_lab_compares_with_direct_audits(tiny_bundle_dir: Path) -> None:
    at = open_page(tiny_bundle_dir, LAB)
    assert not at.exception
    at.number_input(key="_rerank_sample").set_value(12).run()
    at.selectbox(key="_rerank_name").select("calibrated").run()
    at.slider(key="_rerank_lambda").set_value(0.6).run()
    assert not at.exception and not at.error
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    users = sample_users(audit_users(bundle), 12, seed=0)
    assert len(users) == 12
    table = frame(at, "rerank_comparison").set_index("metric")
    base = audit_bundle(bundle, 10, users=users, ci=False)
    reranked = audit_bundle(bundle, 10, rerank="calibrated:0.6", users=users, ci=False)
    for name in ["ndcg@10", "coverage@10", "gini@10", "miscalibration@10", "ild_category@10"]:
        assert same(table.loc[name, "base"], base.values[name])
        assert same(table.loc[name, "reranked"], reranked.values[name])
        assert same(table.loc[name, "change"], reranked.values[name] - base.values[name])
    # calibrated re-ranking brings the lists closer to the histories
    assert table.loc["miscalibration@10", "change"] < 0

    # λ = 0 reproduces the base lists: nothing changes
    at.slider(key="_rerank_lambda").set_value(0.0).run()
    assert (frame(at, "rerank_comparison")["change"].abs() < 1e-12).all()

    # the frontier table is rerank_frontier's, for both re-rankers
    sweep = ["ndcg@10", "ild_category@10", "coverage@10", "gini@10"]
    frontier = frame(at, "frontier_table")
    assert set(frontier["reranker"]) == {audit.RERANKER_LABELS["mmr"], audit.RERANKER_LABELS["calibrated"]}
    direct = rerank_frontier(bundle, 10, "mmr", audit.DEFAULT_LAMBDAS, users=users, metrics=sweep)
    mine = frontier[frontier["reranker"] == audit.RERANKER_LABELS["mmr"]].reset_index(drop=True)
    columns = ["lambda", *sweep]
    np.testing.assert_allclose(mine[columns].to_numpy(float), direct[columns].to_numpy(float))
    at.selectbox(key="_frontier_y").select("gini@10").run()
    traces = plotly_spec(at, "frontier_chart")["data"]
    assert len(traces) == 2
    mmr = next(t for t in traces if t["name"] == audit.RERANKER_LABELS["mmr"])
    np.testing.assert_allclose(decode(mmr["y"]), direct["gini@10"].to_numpy(float))
    np.testing.assert_allclose(decode(mmr["x"]), direct["ndcg@10"].to_numpy(float))


def test_fairness_page_groups(tiny_bundle_dir: Path) -> None:
    at = open_page(tiny_bundle_dir, FAIRNESS)
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    expected = audit_bundle(bundle, 10)
    assert at.selectbox(key="_fair_item_group").options == ["provider", "category", "domain"]
    at.selectbox(key="_fair_item_group").select("category").run()
    pd.testing.assert_frame_equal(
        frame(at, "item_groups").reset_index(drop=True), expected.item_groups["category@10"],
        check_dtype=False,
    )
    disparity = expected.values["exposure_disparity[category]@10"]
    assert [m.value for m in at.metric] == [audit.fmt(disparity, 3)]

    at.selectbox(key="_fair_user_group").select("popularity").run()
    assert not at.exception
    table = frame(at, "user_groups").set_index("group")
    groups = expected.user_groups["popularity"]
    present = groups[groups["n_users"] > 0]
    assert sorted(table.index) == sorted(present.index)
    inputs = audit_inputs(bundle, bundle_recommendations(bundle, 10), k=10)
    labels = user_group_labels(inputs)["popularity"]
    values = expected.per_user["ndcg@10"].reindex(inputs.lists.user_ids).to_numpy()
    for group in table.index:
        assert table.loc[group, "mean"] == pytest.approx(present.loc[group, "ndcg@10"])
        assert table.loc[group, "n_users"] == present.loc[group, "n_users"]
        _, low, high = bootstrap_ci(values[labels == group], n_boot=1000, seed=0)
        assert table.loc[group, "ci_low"] == pytest.approx(low)
        assert table.loc[group, "ci_high"] == pytest.approx(high)
        gap = present.loc[group, "ndcg@10"] - expected.values["ndcg@10"]
        assert table.loc[group, "gap"] == pytest.approx(gap)
    bars = plotly_spec(at, "group_metric_chart")["data"][0]
    assert list(bars["x"]) == table.index.tolist()


def test_report_page_runs_the_cli_audit(tiny_bundle_dir: Path) -> None:
    at = open_page(tiny_bundle_dir, REPORT)
    assert at.slider(key="_report_lambda").disabled
    at.selectbox(key="_" + audit.AUDIT_K).select(5).run()
    at.selectbox(key="_report_rerank").select("mmr").run()
    at.slider(key="_report_lambda").set_value(0.5).run()
    assert not at.exception and not at.error
    bundle = load_bundle(tiny_bundle_dir / "alpha")
    expected = audit_bundle(bundle, 5, rerank="mmr:0.5").to_frame()
    shown = frame(at, "report_metrics")
    assert shown["metric"].tolist() == expected["metric"].tolist()
    np.testing.assert_allclose(shown["value"].to_numpy(float), expected["value"].to_numpy(float))
    assert any("--rerank mmr:0.5" in c.value for c in at.caption)
    labels = [b.proto.label for b in at.get("download_button")]
    if find_chromium() is not None:
        assert labels == ["⬇️ HTML report", "⬇️ PDF report", "⬇️ JSON"]
    else:  # the page says why there is no PDF
        assert labels == ["⬇️ HTML report", "⬇️ JSON"]
        assert any("no Chromium to print with" in c.value for c in at.caption)


def test_report_downloads_build_off_the_script_thread(tiny_bundle_dir: Path) -> None:
    # st.download_button runs a callable data on its own thread, without a script run context
    bundle = support.get_bundle(tiny_bundle_dir / "alpha")
    result = audit.get_audit(bundle, 5, rerank="mmr:0.5")
    out: dict[str, str] = {}

    def build() -> None:
        out["html"] = audit.report_html(bundle, result, 5, rerank="mmr:0.5", title="t <alpha>")
        out["json"] = audit.report_json(result)
        if find_chromium() is not None:
            out["pdf"] = audit.report_pdf(bundle, result, 5, rerank="mmr:0.5", title="t <alpha>")

    worker = threading.Thread(target=build)
    worker.start()
    worker.join(120)
    assert "ndcg@5" in out["html"] and "t &lt;alpha&gt;" in out["html"]
    assert not re.search(r"<script[^>]*src=[\"']?https?:", out["html"])  # plotly.js embedded, no CDN
    assert "pdf" not in out or out["pdf"].startswith(b"%PDF")
    loaded = json.loads(out["json"])
    assert loaded["ndcg@5"] == pytest.approx(result.values["ndcg@5"])
    assert loaded["info"]["rerank"] == "mmr:0.5"


def test_fmt() -> None:
    assert audit.fmt(None) == "—" and audit.fmt(math.nan) == "—" and audit.fmt(math.inf) == "∞"
    assert audit.fmt(0.123456) == "0.1235" and audit.fmt(0.5, 2) == "0.50"
