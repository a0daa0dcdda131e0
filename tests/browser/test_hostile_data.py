"""Every page over data whose text is hostile markup (issue 8, item 6), in a real Chromium.

The served bundles (:mod:`tests.hostile_world`) carry markdown images, HTML tags, Streamlit directives
(``:red[..]``, ``:material/..:``, emoji shortcodes), LaTeX, links and ``javascript:`` URLs in their user
ids, item ids and titles, categories, domains, providers, a user grouping column, the model kind and the
bundle names. Every registered page (:data:`recaudit.app.shell.PAGES`, so a new page is covered too) is
opened, the hostile user is selected where the page has a user picker, and then:

* (a) no request leaves 127.0.0.1 (the hostile URLs point at 127.0.0.2);
* (b) the hostile text shows literally in the elements that render markdown or plotly text, not in
  tables or pickers, which never interpret it;
* (c) no ``img`` (HTML or SVG) points outside 127.0.0.1, ``data:`` and ``blob:``, and no link points at
  the hostile host or a ``javascript:`` URL.

Screenshots of each page go to the ``browser_artefacts`` tmp folder (path printed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from recaudit.app.shell import PAGES, PageSpec
from tests.browser.conftest import (
    LOCAL_SCHEMES,
    Server,
    browser_tab,
    open_from_sidebar,
    serve_bundles,
    wait_charts,
    wait_idle,
)
from tests.hostile_world import (
    BUNDLE_NAMES,
    CATEGORIES,
    EVIL_HOST,
    HTML_USER,
    IMAGE_USER,
    SHORT_DOMAIN,
    SHORT_PROVIDERS,
    SHORT_SEGMENT,
    STREAMLIT_USER,
    build_hostile_bundles,
)

pytestmark = pytest.mark.browser

KIND = f"<img src={EVIL_HOST}/kind.png>"
TITLE_PATTERN = re.compile(
    r"!\[t(\d+)\]\(http://127\.0\.0\.2:9/t\1\.png\) <img src=http://127\.0\.0\.2:9/ti\1\.png> \*\*T\1\*\*"
)
"""A hostile item title (:func:`tests.hostile_world.title_of`), shown literally."""

MARKUP_ELEMENTS = (
    '[data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"], '
    '[data-testid="stMetricLabel"], .main-svg'
)
"""Every element that interprets markup: markdown (titles, headers, labels, boxes), captions, metric labels
and plotly's SVG text (titles, ticks, legends). Tables, selectboxes and multiselects draw plain text and
are left out, so a hostile id in a table does not count as shown literally."""
TEXT_JS = """
(selector) => Array.from(document.querySelectorAll(selector))
    .map(e => e.textContent).join('\\n').replaceAll('\\u2060', '')
"""
"""Their text, without the invisible word joiners the app may put into URL-like data."""

SOURCES_JS = """
() => {
    const imgs = Array.from(document.querySelectorAll('img, image'))
        .map(e => e.currentSrc || e.src || e.getAttribute('href') || e.getAttribute('xlink:href') || '');
    const links = Array.from(document.querySelectorAll('a'))
        .map(e => e.getAttribute('href') || e.getAttribute('xlink:href') || '');
    return {imgs: imgs.map(String), links: links.map(String)};
}
"""


@pytest.fixture(scope="module")
def hostile_server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``recaudit serve`` over the hostile bundles (:func:`tests.hostile_world.build_hostile_bundles`)."""
    bundles = build_hostile_bundles(tmp_path_factory.mktemp("hostile_bundles"))
    with serve_bundles(bundles, tmp_path_factory.mktemp("hostile_server")) as server:
        yield server


def rendered_text(page) -> str:
    """What the :data:`MARKUP_ELEMENTS` show (:data:`TEXT_JS`)."""
    return page.evaluate(TEXT_JS, MARKUP_ELEMENTS)


def wait_for_texts(page, expected: list[str | re.Pattern], timeout_ms: int = 15_000) -> None:
    """Wait (bounded) until :func:`rendered_text` holds every ``expected`` (plotly and grids repaint late);
    on timeout, return quietly: the caller's assertion says what is missing."""
    sources = [w.pattern if isinstance(w, re.Pattern) else re.escape(w) for w in expected]
    try:
        page.wait_for_function(
            f"""([selector, sources]) => {{
                const text = ({TEXT_JS})(selector);
                return sources.every(s => new RegExp(s).test(text));
            }}""",
            arg=[MARKUP_ELEMENTS, sources],
            timeout=timeout_ms,
        )
    except PlaywrightTimeout:
        pass


def choose(page, label: str, option: str) -> None:
    """Open the main-area selectbox labelled ``label`` and pick ``option`` (typed: the list is virtual)."""
    box = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').filter(
        has=page.get_by_text(label, exact=True)
    )
    # by its text: the accessible name of an option holding markup-like text is not the text itself
    choice = page.get_by_role("option").filter(has=page.get_by_text(option, exact=True))
    for attempt in range(3):  # a rerun landing while the list is open closes it (as pick_option says)
        wait_idle(page)
        box.click()
        page.keyboard.type(option)
        try:
            choice.click(timeout=10_000)
        except Exception:  # Playwright's TimeoutError: the list closed under us; reopen it
            page.keyboard.press("Escape")
            if attempt == 2:
                raise
            continue
        break
    wait_idle(page)


def selected(page, label: str) -> str:
    """The value shown by the main-area selectbox labelled ``label``."""
    box = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').filter(
        has=page.get_by_text(label, exact=True)
    )
    return box.get_by_role("combobox").input_value()


# ------------------------------------------------------------------------------ per-page interactions
# Each drives its page to where the hostile text is drawn and returns what must show literally.

Expected = list[str | re.Pattern]


def overview(page) -> Expected:
    return [f"Overview: {BUNDLE_NAMES[0]}", SHORT_DOMAIN]


def user_explorer(page) -> Expected:
    assert selected(page, "User") == IMAGE_USER  # the first user is the hostile one
    wait_for_texts(page, [f"Top-10 for {IMAGE_USER}"])
    choose(page, "User", HTML_USER)
    wait_for_texts(page, [f"Top-10 for {HTML_USER}"])
    # what-if: drop one history item; the entered/left lists name items by their (hostile) titles
    remove = page.locator('[data-testid="stMultiSelect"]').filter(
        has=page.get_by_text("Remove from history", exact=True)
    )
    remove.click()
    page.get_by_role("option").filter(has_text=TITLE_PATTERN).first.click()
    page.keyboard.press("Escape")
    wait_idle(page)
    page.get_by_text("Left (", exact=False).first.wait_for()
    return [
        f"Top-10 for {HTML_USER}",
        f"{BUNDLE_NAMES[0]}",
        f"{BUNDLE_NAMES[1]} (",
        re.compile(r"Entered \(\d+\):.*" + TITLE_PATTERN.pattern),
        re.compile(r"Left \(\d+\):.*" + TITLE_PATTERN.pattern),
    ]


def diversity(page) -> Expected:
    assert selected(page, "User") == IMAGE_USER
    first = [f"{IMAGE_USER}: history vs top-10", f"{IMAGE_USER}: C_KL"]
    wait_for_texts(page, first)
    assert all(want in rendered_text(page) for want in first), rendered_text(page)
    choose(page, "User", STREAMLIT_USER)  # Streamlit's own markdown: colour, icon, emoji, LaTeX
    wait_charts(page)
    return [
        f"Diversity & popularity: {BUNDLE_NAMES[0]}",
        f"{STREAMLIT_USER}: history",  # the chart title (long titles wrap into lines)
        f"{STREAMLIT_USER}: C_KL",
    ]


def rerank_lab(page) -> Expected:
    return [f"Re-ranking lab: {BUNDLE_NAMES[0]}"]


def fairness(page) -> Expected:
    choose(page, "Group items by", "provider")
    wait_charts(page)
    choose(page, "Group users by", "segment")
    wait_charts(page)
    return [f"Fairness: {BUNDLE_NAMES[0]}", *SHORT_PROVIDERS, SHORT_SEGMENT]


def embedding_map(page) -> Expected:
    assert selected(page, "User") == IMAGE_USER
    return [
        f"Embedding map: {BUNDLE_NAMES[0]}",
        f"history of {IMAGE_USER}",
        f"top-10 for {IMAGE_USER}",
        *CATEGORIES,
    ]


def report(page) -> Expected:
    page.locator('[data-testid="stDownloadButton"]').first.wait_for()
    return [f"Report: {BUNDLE_NAMES[0]}"]


INTERACTIONS: dict[str, Callable[[object], Expected]] = {
    "Overview": overview,
    "User explorer": user_explorer,
    "Diversity & popularity": diversity,
    "Re-ranking lab": rerank_lab,
    "Fairness": fairness,
    "Embedding map": embedding_map,
    "Report": report,
}
"""Pages not listed here still get every generic check (requests, images, links, the sidebar's model kind)."""


def test_hostile_strings_reach_every_page() -> None:
    assert set(INTERACTIONS) <= {p.title for p in PAGES}


@pytest.mark.parametrize("spec", PAGES, ids=[p.url_path for p in PAGES])
def test_hostile_text_is_shown_as_text(
    spec: PageSpec, hostile_server: Server, browser_context, artefact_dir: Path
) -> None:
    name = f"hostile-{spec.url_path}"
    with browser_tab(browser_context, hostile_server, artefact_dir, name) as tab:
        page = tab.page
        open_from_sidebar(page, hostile_server, spec.title)
        page.get_by_role("heading", name=spec.title).first.wait_for()
        wait_idle(page)
        if page.locator('[data-testid="stPlotlyChart"]').count():
            wait_charts(page)
        assert page.locator('[data-testid="stException"]').count() == 0

        expected = [KIND, *INTERACTIONS.get(spec.title, lambda _page: [])(page)]
        wait_idle(page)
        if page.locator('[data-testid="stPlotlyChart"]').count():
            wait_charts(page)
        wait_for_texts(page, expected)
        text = rendered_text(page)
        sources = page.evaluate(SOURCES_JS)
        tab.screenshot(name)

    tab.assert_local_and_error_free()
    local = ("http://127.0.0.1:", *LOCAL_SCHEMES)
    foreign_images = [src for src in sources["imgs"] if src and not src.startswith(local)]
    assert not foreign_images, f"images pointing outside 127.0.0.1: {foreign_images}"
    bad_links = [h for h in sources["links"] if h.startswith(EVIL_HOST) or h.lower().startswith("javascript")]
    assert not bad_links, f"links made from data: {bad_links}"
    missing = [
        w.pattern if isinstance(w, re.Pattern) else w
        for w in expected
        if not (w.search(text) if isinstance(w, re.Pattern) else w in text)
    ]
    assert not missing, f"not shown literally: {missing}\nrendered text:\n{text[:4000]}"
