"""The large-map path in a real Chromium: a density overview, a drawn box drilling down to the region's
points, and the user map.

The density threshold is lowered to 10 points (``RECAUDIT_MAP_DENSITY_THRESHOLD``, read by the server), so
the tiny bundles (60 items, 40 users) take the path a million-item catalogue takes, in seconds. The box is
dragged with the mouse on the chart (plotly's select mode is the overview's default), exactly as a user
would. Screenshots ``map-density-region.png`` and ``map-users.png`` go to the ``browser_artefacts`` folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from recaudit.views.density import THRESHOLD_ENV
from tests.browser.conftest import (
    Server,
    browser_tab,
    pick_option,
    serve_bundles,
    wait_charts,
    wait_idle,
)

pytestmark = pytest.mark.browser

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def density_server(
    chromium_path: str, tiny_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``recaudit serve`` over the tiny bundles with the density threshold at 10 points."""
    previous = os.environ.get(THRESHOLD_ENV)
    os.environ[THRESHOLD_ENV] = "10"
    try:
        with serve_bundles(tiny_bundle_dir, tmp_path_factory.mktemp("density_server")) as server:
            yield server
    finally:
        if previous is None:
            os.environ.pop(THRESHOLD_ENV, None)
        else:
            os.environ[THRESHOLD_ENV] = previous


def test_density_overview_drills_down_to_a_region_and_the_user_map_draws(
    density_server: Server, browser_context, artefact_dir: Path
) -> None:
    with browser_tab(browser_context, density_server, artefact_dir, "map-density") as tab:
        page = tab.page
        page.goto(density_server.url + "/embedding-map")  # straight there: the Overview's audit is not needed
        page.get_by_role("heading", name="Embedding map").first.wait_for(timeout=TIMEOUT_MS)
        # PCA (the maps' method follows this choice): a first UMAP costs minutes of numba compilation
        page.get_by_text("Projection settings", exact=True).click()
        pick_option(page, "Method", "pca")
        page.get_by_role("button", name="Compute map").click()
        page.get_by_text(re.compile(r"^PCA of 60 item vectors")).wait_for(timeout=TIMEOUT_MS)
        chart = page.locator('[data-testid="stPlotlyChart"]').first
        chart.locator(".heatmaplayer image").wait_for(timeout=TIMEOUT_MS)  # the density layer is drawn
        chart.locator(".legendtext", has_text="history of").first.wait_for()
        wait_idle(page)

        # drag a box over the middle of the plot area: the region chart lists its items as points
        area = chart.locator(".nsewdrag").first.bounding_box()
        assert area is not None
        page.mouse.move(area["x"] + area["width"] * 0.15, area["y"] + area["height"] * 0.15)
        page.mouse.down()
        page.mouse.move(area["x"] + area["width"] * 0.5, area["y"] + area["height"] * 0.5, steps=8)
        page.mouse.move(area["x"] + area["width"] * 0.85, area["y"] + area["height"] * 0.85, steps=8)
        page.mouse.up()
        page.get_by_role("heading", name="Region:").wait_for(timeout=TIMEOUT_MS)
        region = page.locator('[data-testid="stPlotlyChart"]').nth(1)
        region.locator(".legendtext", has_text="history of").first.wait_for(timeout=TIMEOUT_MS)
        page.locator(".st-key-map_selection").wait_for()  # the region's items are listed
        wait_idle(page)
        wait_charts(page)
        assert region.locator(".heatmaplayer image").count() == 0  # the region is points, not density
        assert page.locator('[data-testid="stException"]').count() == 0
        tab.screenshot("map-density-region")

        page.get_by_text("users", exact=True).click()  # the "Map of" radio
        page.get_by_text(re.compile(r"^PCA of 40 user vectors")).wait_for(timeout=TIMEOUT_MS)
        user_chart = page.locator('[data-testid="stPlotlyChart"]').first
        user_chart.locator(".heatmaplayer image").wait_for(timeout=TIMEOUT_MS)
        user_chart.locator(".legendtext", has_text="user u00").wait_for()
        wait_idle(page)
        wait_charts(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        tab.screenshot("map-users")
    tab.assert_local_and_error_free()
