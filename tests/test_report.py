"""HTML/JSON audit report: self-contained (offline), escaped, complete, and written atomically."""

from __future__ import annotations

import json
import math
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

import recaudit
import recaudit._io
from recaudit import report
from recaudit.metrics import AuditInputs, evaluate
from recaudit.report import default_figures, metric_source, render_html, to_json, write_report
from tests.audit_fixtures import audit_frames

HOSTILE = '<script>alert("x")</script>&'


def _inputs(provider_q: str = "Q") -> AuditInputs:
    f = audit_frames(provider_q)
    return AuditInputs.from_frames(f["recs"], f["train"], test=f["test"], items=f["items"])


@pytest.fixture(scope="module")
def audit() -> tuple:
    inputs = _inputs()
    result = evaluate(inputs, ks=(2,), n_boot=50)
    result.info["model"] = {"name": "alpha", "kind": "mf", "created": "2026-01-01T00:00:00Z"}
    result.info["rerank"] = "mmr:0.3"
    return result, inputs


def _outside_plotlyjs(page: str) -> str:
    """The page without the embedded plotly.js bundle (whose source mentions URLs it never loads offline)."""
    start = page.index("<script>/**\n* plotly.js")
    end = page.index("</script>", start)
    return page[:start] + page[end:]


def test_html_holds_metrics_sources_and_provenance(audit: tuple) -> None:
    result, inputs = audit
    page = render_html(result, title="Audit of alpha", figures=default_figures(result, inputs))
    assert page.startswith("<!DOCTYPE html>") and "<title>Audit of alpha</title>" in page
    # every metric name and its value as printed (4 decimals): recall@2 = 1/3, gini@2 = 6/16
    for name in result.values:
        assert f"<td>{name}</td>" in page
    assert "0.3333" in page and "0.3750" in page
    assert "RecBole GiniIndex" in page and "Steck 2018" in page and "ranx" in page
    assert "|L∩T| / |T|" in page  # the registry's one-line help
    # provenance: model, re-ranking, fingerprints, settings, version
    assert "alpha" in page and "mf" in page and "mmr:0.3" in page
    assert inputs.fingerprints["recs"] in page and inputs.fingerprints["train"] in page
    assert f"<td>recaudit version</td><td>{recaudit.__version__}</td>" in page
    assert "report created" in page
    # skipped metrics with reasons (no item embeddings)
    assert "Skipped metrics" in page and "ild@2" in page and "needs item_emb" in page
    # group tables and popularity lift
    headings = ("User groups", "Item-group exposure", "Popularity lift", "provider@2", "popularity_lift@2")
    for heading in headings:
        assert heading in page
    # CI column: recall@2 has a bootstrap interval
    low, high = result.ci["recall@2"]
    assert f"[{low:.4f}, {high:.4f}]" in page


def test_html_is_offline_and_embeds_plotlyjs_once(audit: tuple) -> None:
    result, inputs = audit
    figures = default_figures(result, inputs)
    assert len(figures) >= 4
    page = render_html(result, title="t", figures=figures)
    assert page.count("* plotly.js v") == 1  # the library once, not per figure
    assert page.count('class="plotly-graph-div"') == len(figures)
    rest = _outside_plotlyjs(page)
    assert "cdn.plot.ly" not in rest and "http://" not in rest and "https://" not in rest
    # no element loads anything from anywhere: no src/href attributes, no @import/url() in CSS
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)\s*=", page, flags=re.I)
    assert "@import" not in page and "url(" not in rest
    assert "@media print" in page and "page-break" in page


def test_html_without_figures_has_no_plotlyjs(audit: tuple) -> None:
    result, _ = audit
    page = render_html(result, title="t")
    assert "plotly.js" not in page and "Figures" not in page


def test_hostile_title_group_names_and_reasons_are_escaped() -> None:
    inputs = _inputs(provider_q=HOSTILE)
    result = evaluate(inputs, ks=(2,), ci=False)
    result.skipped[HOSTILE] = HOSTILE
    result.info["model"] = {"name": HOSTILE, "kind": HOSTILE}
    figures = {HOSTILE: go.Figure(go.Bar(x=[HOSTILE], y=[1]))}
    page = render_html(result, title=HOSTILE, figures=figures)
    assert HOSTILE not in page
    assert "<script>alert" not in page  # neither in HTML nor in the figure JSON (plotly writes \u003c)
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;"
    assert f"<title>{escaped}</title>" in page and f"<h1>{escaped}</h1>" in page
    assert f"<td>{escaped}</td>" in page  # the provider group row and the skipped metric


def test_json_round_trips_with_metric_keys_on_top(audit: tuple, tmp_path: Path) -> None:
    result, inputs = audit
    paths = write_report(result, html=None, json=tmp_path / "out" / "audit.json", title="t", inputs=inputs)
    assert paths == [tmp_path / "out" / "audit.json"]
    data = json.loads(paths[0].read_text(encoding="utf-8"))
    for name, value in result.values.items():
        assert name in data
        if math.isfinite(value):
            assert data[name] == pytest.approx(value)
        else:
            assert data[name] is None or data[name] in ("inf", "-inf")
    assert data["info"]["model"]["name"] == "alpha"
    assert data["info"]["fingerprints"]["train"] == inputs.fingerprints["train"]
    assert "provider@2" in data["groups"]["items"]
    assert data["ci"]["recall@2"] == pytest.approx(list(result.ci["recall@2"]))


def test_json_is_strict_for_nan_and_inf(audit: tuple) -> None:
    result, _ = audit
    result = type(result)(values={"gini@2": math.nan, "exposure_disparity[provider]@2": math.inf},
                          info={"settings": {"x": np.float32(0.5), "ks": (2,), "arr": np.arange(2)}})
    text = to_json(result)
    assert "NaN" not in text and "Infinity" not in text
    data = json.loads(text)
    assert data["gini@2"] is None and data["exposure_disparity[provider]@2"] == "inf"
    assert data["info"]["settings"] == {"x": 0.5, "ks": [2], "arr": [0, 1]}


def test_write_report_writes_both_files(audit: tuple, tmp_path: Path) -> None:
    result, inputs = audit
    paths = write_report(result, html=tmp_path / "r.html", json=tmp_path / "r.json", title="T", inputs=inputs)
    assert sorted(p.name for p in paths) == ["r.html", "r.json"]
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Lorenz curve of exposure (k=2)" in page and "Long tail (k=2)" in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.json"]


def test_atomic_write_leaves_no_temp_file_on_error(
    audit: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, _ = audit
    target = tmp_path / "r.html"
    target.write_text("old report")

    def broken_render(*args: object, **kwargs: object) -> str:
        raise RuntimeError("render failed")

    monkeypatch.setattr(report, "render_html", broken_render)
    with pytest.raises(RuntimeError, match="render failed"):
        write_report(result, html=target, json=None, title="t")
    assert target.read_text() == "old report"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]

    monkeypatch.undo()

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(recaudit._io.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_report(result, html=None, json=tmp_path / "r.json", title="t")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_default_figures_without_inputs_uses_the_result_only(audit: tuple) -> None:
    result, _ = audit
    figures = default_figures(result)
    assert not any(name.startswith(("Lorenz", "Long tail")) for name in figures)
    assert {"Popularity lift (popularity_lift@2)", "Group exposure (provider@2)",
            "Miscalibration (miscalibration@2)"} <= set(figures)
    lorenz = default_figures(result, _inputs())["Lorenz curve of exposure (k=2)"]
    # c = [2, 1, 1, 0] (i1 in both lists): Gini 0.375, as the audit reports
    assert "Gini = 0.3750" in lorenz.layout.title.text


def test_metric_source_names_the_definition() -> None:
    assert "RecBole GiniIndex" in metric_source("gini@10")
    assert metric_source("exposure_disparity[provider]@10").startswith("docs/metrics.md")
    assert metric_source("unknown@10") == ""


def test_embedding_health_section_is_rendered_and_escaped() -> None:
    from recaudit.metrics import AuditResult
    from recaudit.metrics.embedding import embedding_audit

    rng = np.random.default_rng(0)
    result = AuditResult(values={"gini@10": 0.5})
    result.info["embedding"] = embedding_audit(rng.normal(size=(40, 4)), np.arange(40.0))
    page = render_html(result, title="t")
    assert "Embedding health" in page and "effective dimensionality" in page
    value = result.info["embedding"]["effective_dimensionality"]
    assert f"{value:.4g}"[:4] in page


def _strings(value: object) -> list[str]:
    """Every string inside a (nested) plotly figure dict."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


class _Tags(HTMLParser):
    """Start tags and their attributes, as a browser's HTML parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_report_of_hostile_data_has_no_markup_from_the_data() -> None:
    # issue 8, item 6: ids, titles, categories, domains and providers of the bundle are markup
    from recaudit.textsafe import plot_text
    from recaudit.workflows.audit import audit_bundle, audit_inputs, bundle_recommendations
    from tests.hostile_world import PROVIDERS, hostile_bundle

    bundle = hostile_bundle()
    result = audit_bundle(bundle, 10, ci=False)
    result.info["model"] = {"name": "**hostile**", "kind": bundle.manifest["model"]["kind"]}
    inputs = audit_inputs(bundle, bundle_recommendations(bundle, 10), k=10)
    figures = default_figures(result, inputs)
    # plotly would draw <a href>, <b>, <i> in tick labels and hovers: data text in figures is escaped
    exposure = figures["Group exposure (provider@10)"]
    assert set(exposure.data[0].x) == {plot_text(p) for p in PROVIDERS}
    tags = ("<a ", "<b>", "<i>", "<img", "<script")
    for name, fig in figures.items():
        markup = [s for s in _strings(fig.to_plotly_json()) if any(t in s for t in tags)]
        assert not markup, f"{name}: {markup}"

    page = render_html(result, title=f"audit of {PROVIDERS[0]}", figures=figures)
    parser = _Tags()
    parser.feed(page)
    names = {tag for tag, _ in parser.tags}
    assert names <= {
        "html", "head", "meta", "title", "style", "body", "section", "h1", "h2", "h3", "p", "span", "br",
        "table", "thead", "tbody", "tr", "th", "td", "div", "code", "script",
    }, names
    assert not [(t, a) for t, a in parser.tags for key in a if key.startswith("on")]  # no handlers
    assert not [(t, a) for t, a in parser.tags if {"src", "href"} & set(a)]  # nothing loads or links
    for raw in [p for p in PROVIDERS if "<" in p] + ["<img src=http://127.0.0.2:9/kind.png>"]:
        assert raw not in page  # neither in the HTML nor in the figure JSON


def test_cold_start_section_only_when_a_test_item_is_cold(audit: tuple) -> None:
    result, _ = audit  # the shared world's a has test item i2, which has no training interactions
    page = render_html(result, title="cold")
    section = page[page.index("<h2>Cold start</h2>"):]
    section = section[: section.index("</section>")]
    assert "<td>cold_item_recall@2</td>" in section and "1.0000 [1.0000, 1.0000]" in section
    assert "<h3>settings@2</h3>" in section and "<th>cold</th>" in section and "<th>51+</th>" in section
    f = audit_frames()
    warm = f["test"].assign(item_id=["i1", "i9", "i4"])
    inputs = AuditInputs.from_frames(f["recs"], f["train"], test=warm, items=f["items"])
    assert "Cold start" not in render_html(evaluate(inputs, ks=(2,), ci=False), title="warm")


def test_the_report_opens_with_the_verdict_before_provenance(audit: tuple) -> None:
    """Gates and headline metrics with intervals first; every metric next; provenance last."""
    from recaudit.workflows.gates import parse_gate

    result, inputs = audit
    gates = [parse_gate("gini@2>0.3"), parse_gate("recall@2<0.01")]
    page = render_html(result, title="Audit of alpha", figures=default_figures(result, inputs), gates=gates)
    headings = ("<h2>Verdict</h2>", "<h2>Every metric</h2>", "<h2>Provenance and configuration</h2>")
    verdict, every, provenance = (page.index(h) for h in headings)
    assert verdict < every < page.index("<h2>Figures</h2>") < provenance
    head = page[verdict:every]
    assert "1 of 2 gate(s) failed" in head and "gini@2&gt;0.3: gini@2 = 0.375" in head
    low, high = result.ci["recall@2"]
    assert "<td>recall@2</td>" in head and f"[{low:.4f}, {high:.4f}]" in head and "<td>gini@2</td>" in head
    assert "<td>personalization@2</td>" not in head  # not a headline metric
    quiet = render_html(result, title="Audit of alpha")
    assert "No gates were set" in quiet


@pytest.mark.browser
def test_audit_prints_the_report_to_pdf_with_its_charts(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    from recaudit.cli import main
    from recaudit.report_pdf import find_chromium

    if find_chromium() is None:
        if os.environ.get("RECAUDIT_REQUIRE_BROWSER") == "1":
            pytest.fail("RECAUDIT_REQUIRE_BROWSER=1 but no Chromium to print with")
        pytest.skip("no Chromium on this machine (.ci/run installs it)")
    pdf = tmp_path / "audit.pdf"
    assert main(["audit", str(tiny_bundle_dir / "alpha"), "--pdf", str(pdf)]) == 0
    data = pdf.read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert data.startswith(b"%PDF") and pages >= 5  # verdict, tables and one page per chart or so
    assert [p.name for p in tmp_path.iterdir()] == ["audit.pdf"]  # no temporary file left beside it


def test_pdf_without_chromium_is_one_clear_error_before_any_work(
    tiny_bundle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from recaudit.cli import main

    monkeypatch.setenv("CHROMIUM_PATH", str(tmp_path / "no-chromium"))
    pdf = tmp_path / "audit.pdf"
    assert main(["audit", str(tiny_bundle_dir / "alpha"), "--pdf", str(pdf)]) == 2
    err = capsys.readouterr()
    assert err.out == ""  # the audit never ran
    assert err.err.strip() == (f"recaudit audit: error: {pdf}: printing the report to PDF needs Chromium "
                               "(apt install chromium, or set CHROMIUM_PATH)")  # fmt: skip
    assert not pdf.exists()
