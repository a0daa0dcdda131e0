"""Every page of the served app in a real Chromium: it draws without an exception, its key heading and
charts render, its main interaction works, and no request leaves 127.0.0.1.

Screenshots of each page after its interaction go to the ``browser_artefacts`` tmp folder (path printed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from recaudit.app.shell import PAGES, PageSpec
from tests.browser.conftest import (
    Server,
    browser_tab,
    open_from_sidebar,
    pick_option,
    serve_bundles,
    wait_charts,
    wait_idle,
)

pytestmark = pytest.mark.browser


def chart_title(page, text: str):
    """The plotly title (SVG text, so matched by its text content) containing ``text``."""
    return page.locator('[data-testid="stPlotlyChart"] .gtitle', has_text=text)


# ------------------------------------------------------------------------------ per-page interactions


def overview(page) -> None:
    page.get_by_role("heading", name="Held-out accuracy").wait_for()
    grid = page.locator('.st-key-evaluation [data-testid="stDataFrame"]')
    grid.wait_for()
    assert grid.is_visible()
    # the grid is a canvas; its accessible table fills in a moment after the element appears
    for name in ("model", "popularity"):
        expect(grid.locator('th[role="columnheader"]', has_text=re.compile(f"^{name}$"))).to_have_count(1)


def first_item(page, table_key: str):
    """Row 0, column ``item_id`` of the keyed table (the grid is a canvas; this is its accessible table)."""
    return page.locator(f'.st-key-{table_key} [data-testid="glide-cell-1-0"]')


def user_explorer(page) -> None:
    page.get_by_role("heading", name="Top-10 for u00").wait_for()
    expect(first_item(page, "recs")).not_to_have_text("")
    before = first_item(page, "recs").text_content()
    pick_option(page, "User", "u07")
    page.get_by_role("heading", name="Top-10 for u07").wait_for()
    assert page.get_by_role("heading", name="Top-10 for u00").count() == 0
    # the grids repaint a moment after the script goes idle: wait for the new list in both tables
    expect(first_item(page, "recs")).not_to_have_text(before)
    after = first_item(page, "recs").text_content()
    expect(first_item(page, "compare_a")).to_have_text(after)


def diversity(page) -> None:
    chart_title(page, "Lorenz curve of c_i @ 10").wait_for()
    pick_option(page, "Cut-off k", "5")
    chart_title(page, "Lorenz curve of c_i @ 5").wait_for()
    wait_charts(page)


def metric_values(page) -> list[str]:
    return page.locator('[data-testid="stMetricValue"]').all_inner_texts()


def rerank_lab(page) -> None:
    page.get_by_text("mmr:0.3", exact=True).wait_for()
    wait_idle(page)
    before = metric_values(page)
    assert len(before) >= 5, f"metric cards missing: {before}"
    # a waiting check: the slider's value label can paint a moment after the script goes idle
    expect(page.locator('[data-testid="stSliderThumbValue"]').filter(has_text="0.30")).to_have_count(1)
    slider = page.get_by_role("slider", name=re.compile(r"^λ \(0 = base ranking"))
    slider.focus()
    slider.press("ArrowRight")  # λ 0.30 -> 0.35; on the tiny world ndcg@10 goes 0.076 -> 0.083
    page.get_by_text("mmr:0.35", exact=True).wait_for()
    wait_idle(page)
    # the cards repaint a moment after the script goes idle: poll (bounded) until they differ
    page.wait_for_function(
        """(before) => {
            const now = Array.from(document.querySelectorAll('[data-testid="stMetricValue"]'))
                .map(e => e.innerText);
            return now.length === before.length && now.some((v, i) => v !== before[i]);
        }""",
        arg=before,
        timeout=15_000,
    )
    after = metric_values(page)
    assert after != before and len(after) == len(before)
    wait_charts(page)


def fairness(page) -> None:
    box = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').filter(
        has=page.get_by_text("Group items by", exact=True)
    )
    box.wait_for()
    title = chart_title(page, "merit share by")
    title.wait_for()
    match = re.search(r"share by (\S+) @ 10", title.text_content() or "")
    assert match, title.text_content()
    current = match.group(1)
    box.click()
    options = [o.strip() for o in page.get_by_role("option").all_inner_texts()]
    other = next(o for o in options if o and o != current)
    page.get_by_role("option", name=other, exact=True).click()
    wait_idle(page)
    chart_title(page, f"by {other} @ 10").wait_for()
    wait_charts(page)


def embedding_map(page) -> None:
    legend = page.locator('[data-testid="stPlotlyChart"] .legendtext')
    legend.filter(has_text="history of").first.wait_for()
    pick_option(page, "Colour by", "domain")
    legend.filter(has_text=re.compile(r"^books$")).first.wait_for()
    wait_charts(page)


def pick_items(page, label: str, options: list[str], attempts: int = 3) -> None:
    """Add ``options`` (their shown labels) one by one to the multiselect labelled ``label``.

    As :func:`~tests.browser.conftest.pick_option`: the text is typed to filter the list, and a list a rerun
    closed is reopened (each attempt waits for the script to be idle first); nothing waits a fixed time.
    """
    box = page.locator('[data-testid="stMain"] [data-testid="stMultiSelect"]').filter(
        has=page.get_by_text(label, exact=True)
    )
    for option in options:
        choice = page.get_by_role("option", name=option, exact=True)
        for attempt in range(attempts):
            wait_idle(page)
            box.locator("input").click()
            page.keyboard.type(option)
            try:
                choice.wait_for(state="visible")
            except Exception:  # Playwright's TimeoutError: the list closed under us; reopen it
                page.keyboard.press("Escape")
                if attempt == attempts - 1:
                    raise
                continue
            choice.click()
            page.keyboard.press("Escape")
            wait_idle(page)
            break
        expect(box.get_by_text(option, exact=True)).to_have_count(1)  # the chip is drawn


def cold_start(page) -> None:
    """On the tiny bundle (no content encoder): one info line for the item parts, the landing section, and
    onboarding a new user with three clicks forms a top-10 without the clicked items."""
    expect(page.get_by_text(re.compile("has no content encoder"))).to_have_count(1)
    # alpha's one cold item (i18) is in no list: said in one line instead of an empty chart
    page.get_by_text(re.compile(r"^No top-10 list holds any of the 1 cold items")).wait_for()
    picks = ["Title i03 (i03)", "Title i17 (i17)", "Title i42 (i42)"]
    pick_items(page, "Items the new user clicked, in order", picks)
    page.get_by_text("Top-10 after 3 clicks", exact=True).wait_for()
    first = first_item(page, "cs_onboard_list")
    expect(first).not_to_have_text("")
    expect(first).not_to_have_text(re.compile(r"^i(03|17|42)$"))
    expect(page.locator('[data-stale="true"]')).to_have_count(0)  # the last rerun's elements are fresh
    page.mouse.move(0, 0)  # no tooltip left open over the screenshot (the last click's spot had one)
    expect(page.get_by_role("tooltip")).to_have_count(0)


def live_session(page) -> None:
    """On the tiny bundle (no session encoder: fold-in mode): clicking the list's item changes the list, logs
    the event with its latency and draws the session path on the map."""
    page.get_by_text(re.compile("has no session encoder")).wait_for()
    page.get_by_text("Top-10 after 0 events", exact=True).wait_for()
    first = first_item(page, "live_list")
    expect(first).not_to_have_text("")
    before = first.text_content()
    page.get_by_role("button", name="Click it", exact=True).click()
    page.get_by_text("Top-10 after 1 event", exact=True).wait_for()
    wait_idle(page)
    expect(first).not_to_have_text(before)  # the clicked item (the list's first) is excluded from then on
    page.locator(".st-key-live_log").wait_for()
    expect(page.locator('[data-testid="stMetricLabel"]', has_text=re.compile("^Latency$"))).to_have_count(1)
    page.locator('[data-testid="stPlotlyChart"] .legendtext', has_text="session vector").first.wait_for()
    wait_charts(page)
    expect(page.locator('[data-stale="true"]')).to_have_count(0)
    page.mouse.move(0, 0)


def cross_domain(page) -> None:
    """On the tiny bundle (two domains, no transfer model): one info line saying how to train one (the page
    with a transfer model has its own test, tests/browser/test_cross_domain.py)."""
    page.get_by_text(re.compile("has no transfer model")).wait_for()
    expect(page.get_by_text(re.compile("--transfer gated"))).to_have_count(1)


def report(page) -> None:
    buttons = page.locator('[data-testid="stDownloadButton"]')
    expect(buttons).to_have_count(3)  # HTML, PDF (the server has Chromium here), JSON; may paint in turn
    assert page.get_by_role("button", name=re.compile("HTML report")).is_visible()
    assert page.get_by_role("button", name=re.compile("PDF report")).is_visible()


def compare(page) -> None:
    """B − A of every metric with its interval; the significance filter shrinks the table to p < 0.05."""
    page.get_by_role("heading", name="B − A, every metric").wait_for()
    metric = page.locator('.st-key-compare_table [data-testid="glide-cell-0-0"]')  # row 0, column "metric"
    expect(metric).to_have_text("precision@10")  # every metric, in the catalogue's order
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    page.get_by_text("Only metrics with p < 0.05").click()
    wait_idle(page)
    # the tiny bundles differ significantly in arp@10 only (the AppTest checks the numbers)
    expect(metric).to_have_text("arp@10")
    expect(page.get_by_text(re.compile(r"1 of \d+ metrics differ with p < 0\.05"))).to_be_visible()
    assert page.get_by_role("button", name="Open in User explorer").is_visible()


def import_page(page) -> None:
    """Both tabs are there and the log tab lists its tables (the imports: tests/browser/test_import.py)."""
    page.get_by_role("tab", name="Embeddings → bundle").wait_for()
    page.get_by_role("tab", name="Recommendation log").click()
    page.get_by_text("Recommendation log (required)").wait_for()
    expect(page.get_by_role("button", name="Import the log")).to_be_disabled()


INTERACTIONS: dict[str, Callable] = {
    "Import": import_page,
    "Overview": overview,
    "User explorer": user_explorer,
    "Diversity & popularity": diversity,
    "Re-ranking lab": rerank_lab,
    "Fairness": fairness,
    "Embedding map": embedding_map,
    "Cold start": cold_start,
    "Live session": live_session,
    "Cross-domain": cross_domain,
    "Compare": compare,
    "Report": report,
}
HAS_CHARTS = {"Overview", "Diversity & popularity", "Re-ranking lab", "Fairness", "Embedding map", "Compare"}


def test_every_page_has_an_interaction() -> None:
    assert {p.title for p in PAGES} == set(INTERACTIONS)


@pytest.mark.parametrize("spec", PAGES, ids=[p.url_path for p in PAGES])
def test_page(spec: PageSpec, app_server: Server, browser_context, artefact_dir: Path) -> None:
    with browser_tab(browser_context, app_server, artefact_dir, spec.url_path) as tab:
        page = tab.page
        open_from_sidebar(page, app_server, spec.title)
        page.get_by_role("heading", name=spec.title).first.wait_for()
        wait_idle(page)
        if spec.title in HAS_CHARTS:
            page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
            wait_charts(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_role("heading", name=spec.title).first.is_visible()

        INTERACTIONS[spec.title](page)
        wait_idle(page)

        assert page.locator('[data-testid="stException"]').count() == 0
        tab.screenshot(spec.url_path)
    tab.assert_local_and_error_free()


def test_navigation_lists_every_page_under_its_section(
    app_server: Server, browser_context, artefact_dir: Path
) -> None:
    """The sidebar shows the sections in workflow order, each with its pages, none behind "View more"."""
    from recaudit.app.shell import SECTIONS

    with browser_tab(browser_context, app_server, artefact_dir, "navigation") as tab:
        page = tab.page
        page.goto(app_server.url + "/")
        page.get_by_role("heading", name="Overview").first.wait_for()
        nav = page.locator('[data-testid="stSidebarNav"]')
        text = nav.inner_text()
        positions = [text.find(name) for name in SECTIONS]
        assert -1 not in positions and positions == sorted(positions), text
        for spec in PAGES:
            assert nav.get_by_role("link", name=spec.title).is_visible(), spec.title
            after = text.find(spec.title) > text.find(spec.section)
            assert after, (spec.title, spec.section)
    tab.assert_local_and_error_free()


# ------------------------------------------------------------------ cold start on a coldstart bundle


@pytest.fixture(scope="module")
def coldstart_server(
    chromium_path: str, coldstart_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``recaudit serve`` over the tiny coldstart bundle (a content encoder: the item parts are drawn)."""
    with serve_bundles(coldstart_bundle_dir, tmp_path_factory.mktemp("coldstart_server")) as server:
        yield server


def test_cold_start_new_item_playground(
    coldstart_server: Server, browser_context, artefact_dir: Path
) -> None:
    """Describing a new item shows its nearest items, the users it would reach and its place on the map."""
    with browser_tab(browser_context, coldstart_server, artefact_dir, "cold-start-item") as tab:
        page = tab.page
        open_from_sidebar(page, coldstart_server, "Cold start")
        page.get_by_role("heading", name="Cold start").first.wait_for()
        wait_idle(page)
        chart_title(page, "New items: recall@10").wait_for()
        title = page.get_by_role("textbox", name="Title", exact=True)
        title.fill("Title i55")
        title.press("Enter")
        wait_idle(page)
        description = page.get_by_role("textbox", name="Description", exact=True)
        description.fill("a new sci-fi story")
        description.press("Control+Enter")
        wait_idle(page)
        pick_option(page, "Category", "sci-fi")
        expect(first_item(page, "cs_nearest")).not_to_have_text("")
        page.get_by_text(re.compile(r"^Users it would reach: \d+ of 40")).wait_for()
        first_user = page.locator('.st-key-cs_reached [data-testid="glide-cell-0-0"]')  # column user_id
        expect(first_user).to_have_text(re.compile(r"^u\d\d$"))
        legend = page.locator('[data-testid="stPlotlyChart"] .legendtext')
        legend.filter(has_text="the new item").first.wait_for()
        wait_charts(page)
        expect(page.locator('[data-stale="true"]')).to_have_count(0)  # the last rerun's elements are fresh
        assert page.locator('[data-testid="stException"]').count() == 0
        page.mouse.move(0, 0)  # no tooltip left open over the screenshot (the last click's spot had one)
        expect(page.get_by_role("tooltip")).to_have_count(0)
        tab.screenshot("cold-start-item")
    tab.assert_local_and_error_free()
