"""The Compare page in AppTest on the tiny bundles: A (the sidebar's) vs B, every metric with its interval
equal to a direct ``compare_audits`` call, the significance filter, and a mover opened in the User
explorer."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from recaudit.app import compare as comparing
from recaudit.app import shell as support
from recaudit.bundle import load_bundle
from recaudit.metrics.inputs import AuditInputs
from recaudit.workflows.audit import audit_bundle
from recaudit.workflows.compare import compare_audits
from tests.apptest_helpers import frame, plotly_spec

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/compare.py"


def open_compare(bundle_dir: Path, bundle: str = "alpha") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state[support.BUNDLE_DIR_KEY] = str(bundle_dir)
    at.session_state[support.SELECTED_BUNDLE] = bundle
    at.run()
    return at.switch_page(PAGE).run()


def _direct(bundle_dir: Path, k: int = 10):
    audits = []
    for name in ("alpha", "beta"):
        used: list[AuditInputs] = []
        audits.append((audit_bundle(load_bundle(bundle_dir / name), k, inputs_out=used), used[0]))
    (ra, ia), (rb, ib) = audits
    return compare_audits(
        ra, ia, rb, ib, names=("alpha", "beta"), k=k, n_boot=comparing.N_BOOT, seed=0,
        catalogue_draws=comparing.CATALOGUE_DRAWS,
    )  # fmt: skip


def test_compare_shows_every_metric_with_the_direct_comparisons_interval(tiny_bundle_dir: Path) -> None:
    at = open_compare(tiny_bundle_dir)
    assert not at.exception and not at.error
    assert "Compare" in at.title[0].value and "alpha" in at.title[0].value
    shown = frame(at, "compare_table").set_index("metric")
    want = _direct(tiny_bundle_dir).table.set_index("metric")
    assert list(shown.index) == list(want.index) and len(shown) > 15
    for metric in ("ndcg@10", "arp@10", "gini@10", "coverage@10"):
        assert shown.loc[metric, "B − A"] == pytest.approx(want.loc[metric, "delta"], abs=1e-12)
        assert shown.loc[metric, "p"] == pytest.approx(want.loc[metric, "p_value"], abs=1e-12)
        low, high = want.loc[metric, "ci_low"], want.loc[metric, "ci_high"]
        assert shown.loc[metric, "95% CI of B − A"] == f"[{low:+.4f}, {high:+.4f}]"
    by_user = frame(at, "compare_user_groups")  # the lead metric per user group
    want_groups = _direct(tiny_bundle_dir).user_groups
    want_groups = want_groups[want_groups["metric"] == "ndcg@10"]
    assert by_user["group"].tolist() == want_groups["group"].tolist() and "popularity" in set(
        by_user["grouping"]
    )
    assert set(frame(at, "compare_item_groups")["column"]) == {"provider", "category", "domain"}
    spec = plotly_spec(at, "compare_chart_user")
    assert {t["name"] for t in spec["data"]} <= {"p < 0.05", "p ≥ 0.05"}
    assert any("shared users" in m.value for m in at.markdown)


def test_the_filter_keeps_the_significant_metrics_and_a_mover_opens_in_the_explorer(
    tiny_bundle_dir: Path,
) -> None:
    at = open_compare(tiny_bundle_dir)
    at.toggle(key="compare_only_significant").set_value(True).run()
    shown = frame(at, "compare_table")
    assert len(shown) >= 1 and (shown["p"] < 0.05).all()  # arp@10 differs between alpha and beta
    movers = frame(at, "compare_movers")
    user = movers["user_id"].iloc[1]
    at.selectbox(key="compare_user").set_value(user).run()
    at.button(key="compare_open_user").click().run()
    assert not at.exception
    assert at.session_state[support.SELECTED_USER] == user
    assert any("User explorer" in t.value for t in at.title)


def test_compare_without_a_second_bundle_says_how_to_make_one(
    tiny_bundle_dir: Path, tmp_path: Path
) -> None:
    from recaudit.bundle import save_bundle

    save_bundle(load_bundle(tiny_bundle_dir / "alpha"), tmp_path / "only")
    at = open_compare(tmp_path, bundle="only")
    assert not at.exception and not at.error
    assert any("needs a second bundle" in i.value for i in at.info)
