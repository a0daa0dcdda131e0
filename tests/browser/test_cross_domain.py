"""The Cross-domain page on a bundle with a gated transfer model, in a real Chromium: the summary and both
bucket charts draw, picking another test user shows their lists with and without transfer, and the domain
map draws. The screenshot ``cross-domain.png`` goes to the ``browser_artefacts`` tmp folder (path printed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.app.test_app_crossdomain import build_transfer_bundle
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


@pytest.fixture(scope="module")
def transfer_server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``recaudit serve`` over the tiny crossdomain bundle."""
    bundles = build_transfer_bundle(tmp_path_factory.mktemp("cd_bundles"))
    with serve_bundles(bundles, tmp_path_factory.mktemp("cd_server")) as server:
        yield server


def test_cross_domain_page(transfer_server: Server, browser_context, artefact_dir: Path) -> None:
    with browser_tab(browser_context, transfer_server, artefact_dir, "cross-domain") as tab:
        page = tab.page
        open_from_sidebar(page, transfer_server, "Cross-domain")
        page.get_by_role("heading", name="Cross-domain").first.wait_for()
        wait_idle(page)
        page.locator(".st-key-cd_summary").wait_for()
        page.get_by_text("Share of users hurt (negative transfer)").first.wait_for()
        with_list = page.locator('.st-key-cd_with [data-testid="glide-cell-1-0"]')
        expect(with_list).not_to_have_text("")
        page.get_by_text("User u00 in", exact=False).first.wait_for()
        pick_option(page, "Test user", "u01")
        expect(page.get_by_text("User u00 in", exact=False)).to_have_count(0)
        page.locator('[data-testid="stPlotlyChart"] .legendtext', has_text="books").first.wait_for()
        wait_charts(page)
        expect(page.locator('[data-stale="true"]')).to_have_count(0)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.mouse.move(0, 0)
        tab.screenshot("cross-domain")
    tab.assert_local_and_error_free()
