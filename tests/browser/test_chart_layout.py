"""Chart layout in a real Chromium at a 1400 px wide window (issue 8, item 5: "charts collide with labels").

Every page with plotly charts is drawn at the width of a stakeholder demo. In each chart's rendered SVG
the bounding boxes of the legend, the colour bar, the chart title, the axis titles (``.xtitle``,
``.ytitle``, ``.y2title``), the tick labels and the bar labels are compared:

* the legend, the colour bar and the titles intersect nothing else (tick labels and bar labels may sit
  next to each other, but never under a legend or a title);
* no title, tick label or bar label reaches outside the chart's SVG (a cut label);
* a numeric tick label has at most three significant digits (a log axis printing ``1,125.781`` fails,
  and so does a second axis synced to the first one's grid, printing ``0.2375``).

Screenshots of every checked view go to the ``browser_artefacts`` tmp folder (path printed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from recaudit.app.shell import DEFAULT_PAGE, PAGES
from tests.browser.conftest import Server, browser_tab, open_page, pick_option, wait_charts, wait_idle

pytestmark = pytest.mark.browser

DEMO_VIEWPORT = {"width": 1400, "height": 3000}
PAGE_TIMEOUT_MS = 120_000  # a first visit computes the audit or the map projection on a shared 2-CPU box
MAX_SIGNIFICANT_DIGITS = 3

# Significant digits of a numeric tick label ("1,125.781" has 7, "1k" 1, "12.5%" 3); 0 for a non-number.
DIGITS_JS = r"""
(text) => {
  const s = text.replace(/[,\s%\u2212+-]/g, '');
  const m = s.match(/^(\d*)\.?(\d*)[kMGTmunpµ]?$/);
  if (!m || (m[1] + m[2]) === '') return 0;
  let all = (m[1] + m[2]).replace(/^0+/, '');
  if (m[2] === '') all = all.replace(/0+$/, '');
  return all.length;
}
"""

# Collects, per plotly chart on the page, the boxes of its furniture and what is wrong with them.
COLLECT_JS = r"""
(maxDigits) => {
  const TICK = /^(x|y)\d*tick$/;
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {x0: r.left, y0: r.top, x1: r.right, y1: r.bottom};
  };
  const overlap = (a, b) => Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0) > 1
    && Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0) > 1;
  const inside = (a, f) => a.x0 >= f.x0 - 1 && a.y0 >= f.y0 - 1 && a.x1 <= f.x1 + 1 && a.y1 <= f.y1 + 1;
  const digits = DIGITS;
  return Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]')).map((chart, index) => {
    const frame = box(chart.querySelector('.svg-container'));
    const title = (chart.querySelector('.gtitle') || {}).textContent || `chart ${index}`;
    const items = [];
    const add = (kind, el, text) => {
      const b = box(el);
      if (b.x1 - b.x0 > 0 && b.y1 - b.y0 > 0) {
        items.push({kind, text: (text ?? el.textContent).slice(0, 50), ...b});
      }
    };
    chart.querySelectorAll('g.legend rect.bg').forEach(el => add('legend', el, 'legend'));
    chart.querySelectorAll('g.colorbar rect.cbbg').forEach(el => add('colorbar', el, 'colour bar'));
    chart.querySelectorAll('text.gtitle').forEach(el => add('title', el));
    chart.querySelectorAll('text.xtitle, text.ytitle, text.y2title').forEach(el => add('axis title', el));
    chart.querySelectorAll('g text').forEach(el => {
      if (TICK.test(el.parentNode.getAttribute('class') || '')) add('tick', el);
    });
    chart.querySelectorAll('text.bartext').forEach(el => add('bar label', el));
    const problems = [];
    const loose = new Set(['tick', 'bar label']);
    for (let i = 0; i < items.length; i++) {
      const a = items[i];
      if (!inside(a, frame)) problems.push(`${a.kind} '${a.text}' is cut by the chart edge`);
      if (a.kind === 'tick' && digits(a.text) > maxDigits) problems.push(`tick '${a.text}' is unreadable`);
      for (let j = i + 1; j < items.length; j++) {
        const b = items[j];
        if (loose.has(a.kind) && loose.has(b.kind)) continue;
        if (overlap(a, b)) problems.push(`${a.kind} '${a.text}' overlaps ${b.kind} '${b.text}'`);
      }
    }
    return {title, kinds: Array.from(new Set(items.map(i => i.kind))), problems};
  });
}
""".replace("DIGITS", DIGITS_JS.strip())

# True once the charts' SVG sizes and text counts stayed the same for 10 polls in a row (plotly redraws
# after Streamlit sizes the column, so the first drawn frame is not the final layout).
STABLE_JS = r"""
() => {
  const sig = JSON.stringify(Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]')).map(c => {
    const s = c.querySelector('.main-svg');
    if (!s) return null;
    const r = s.getBoundingClientRect();
    const legend = c.querySelector('g.legend');
    const l = legend ? legend.getBoundingClientRect() : {top: 0, height: 0};
    return [r.width, r.height, c.querySelectorAll('text').length, l.top, l.height];
  }));
  window.__recauditSame = window.__recauditSig === sig ? (window.__recauditSame || 0) + 1 : 0;
  window.__recauditSig = sig;
  return window.__recauditSame >= 10;
}
"""


def settle(page, timeout_ms: int = PAGE_TIMEOUT_MS) -> None:
    """Wait until the script is idle, every chart has drawn and the drawn layout stopped changing."""
    wait_idle(page, timeout_ms)
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=timeout_ms)
    wait_charts(page, timeout_ms)
    page.wait_for_function(STABLE_JS, polling=100, timeout=timeout_ms)


def chart_reports(page) -> list[dict]:
    return page.evaluate(COLLECT_JS, MAX_SIGNIFICANT_DIGITS)


# ------------------------------------------------------------------------ views: (name, page, interaction)


def fairness_group(option: str) -> Callable:
    def choose(page) -> None:
        pick_option(page, "Group items by", option)
        page.locator('[data-testid="stPlotlyChart"] .gtitle', has_text=f"by {option} @ 10").wait_for()

    return choose


def map_view(colour: str | None = None, ready: str = "g.legend") -> Callable:
    """Switch the map to PCA (layout does not depend on the method; a first UMAP on a busy 2-CPU box can
    take minutes of numba compilation), optionally recolour it, and wait for ``ready`` in its SVG."""

    def choose(page) -> None:
        page.get_by_text("Projection settings", exact=True).click()
        pick_option(page, "Method", "pca")
        page.get_by_role("button", name="Compute map").click()
        wait_idle(page, PAGE_TIMEOUT_MS)
        page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
        if colour is not None:
            pick_option(page, "Colour by", colour)
        page.locator(f'[data-testid="stPlotlyChart"] {ready}').first.wait_for()

    return choose


def nothing(page) -> None:
    return None


VIEWS: list[tuple[str, str, Callable]] = [
    ("overview", "Overview", nothing),
    ("diversity", "Diversity & popularity", nothing),
    ("rerank-lab", "Re-ranking lab", nothing),
    ("fairness-provider", "Fairness", fairness_group("provider")),
    ("fairness-category", "Fairness", fairness_group("category")),
    ("fairness-domain", "Fairness", fairness_group("domain")),
    ("map-category", "Embedding map", map_view()),
    ("map-exposure", "Embedding map", map_view("exposure", "g.colorbar")),
    ("compare", "Compare", nothing),
]
CHART_PAGES = {"Overview", "Diversity & popularity", "Re-ranking lab", "Fairness", "Embedding map", "Compare"}
# the default page lives at "/" (Streamlit ignores a default page's url_path)
URL_PATHS = {spec.title: ("" if spec.path == DEFAULT_PAGE else spec.url_path) for spec in PAGES}


def test_views_cover_every_page_with_charts() -> None:
    assert {title for _, title, _ in VIEWS} == CHART_PAGES
    assert CHART_PAGES <= set(URL_PATHS)


def test_significant_digit_rule_flags_the_reported_tick(browser_context) -> None:
    """The readability rule itself: the tick of the bug report fails it, 1k / 0.25 / 12.5% pass."""
    page = open_page(browser_context)
    try:
        page.set_content("<html><body></body></html>")
        counts = page.evaluate(
            f"(texts) => texts.map({DIGITS_JS.strip()})",
            ["1,125.781", "1k", "0.25", "12.5%", "100", "−0.003", "p3"],
        )
    finally:
        page.close()
    assert counts == [7, 1, 2, 3, 1, 1, 0]


@pytest.mark.parametrize("view", VIEWS, ids=[v[0] for v in VIEWS])
def test_chart_layout_at_demo_width(
    view: tuple[str, str, Callable], app_server: Server, browser_context, artefact_dir: Path
) -> None:
    name, title, interact = view
    with browser_tab(browser_context, app_server, artefact_dir, f"layout-{name}") as tab:
        page = tab.page
        page.set_viewport_size(DEMO_VIEWPORT)
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.goto(f"{app_server.url}/{URL_PATHS[title]}")
        page.get_by_role("heading", name=re.compile(re.escape(title))).first.wait_for()
        wait_idle(page, PAGE_TIMEOUT_MS)
        interact(page)
        settle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        reports = chart_reports(page)
        tab.screenshot(f"layout-{name}")
    assert reports, f"{title}: no plotly chart found"
    assert all("tick" in r["kinds"] or name.startswith("map") for r in reports), reports
    problems = [f"{r['title']!r}: {p}" for r in reports for p in r["problems"]]
    assert not problems, f"{title} at 1400 px:\n" + "\n".join(problems)
