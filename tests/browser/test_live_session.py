"""The Live session page on a bundle with a session encoder, in a real Chromium: the mode names the encoder,
clicking an item of the list changes it and logs the update, the session path is drawn on the map.
The screenshot ``live-session-encoder.png`` goes to the ``browser_artefacts`` tmp folder (path printed)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.app.test_app_session import build_session_bundle
from tests.browser.conftest import (
    Server,
    browser_tab,
    open_from_sidebar,
    serve_bundles,
    wait_charts,
    wait_idle,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live_server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``recaudit serve`` over the tiny mf bundle with a GRU session encoder."""
    bundles = build_session_bundle(tmp_path_factory.mktemp("live_bundles"))
    with serve_bundles(bundles, tmp_path_factory.mktemp("live_server")) as server:
        yield server


def test_live_session_with_an_encoder(live_server: Server, browser_context, artefact_dir: Path) -> None:
    with browser_tab(browser_context, live_server, artefact_dir, "live-session-encoder") as tab:
        page = tab.page
        open_from_sidebar(page, live_server, "Live session")
        page.get_by_role("heading", name="Live session").first.wait_for()
        wait_idle(page)
        page.get_by_text(re.compile(r"Mode: session encoder \(GRU")).wait_for()
        page.get_by_text("Top-10 after 0 events", exact=True).wait_for()
        first = page.locator('.st-key-live_list [data-testid="glide-cell-1-0"]')
        expect(first).not_to_have_text("")
        before = first.text_content()
        for n in (1, 2):
            page.get_by_role("button", name="Click it", exact=True).click()
            page.get_by_text(f"Top-10 after {n} event{'s' if n > 1 else ''}", exact=True).wait_for()
            wait_idle(page)
        expect(first).not_to_have_text(before)
        page.locator(".st-key-live_log").wait_for()
        page.locator('[data-testid="stPlotlyChart"] .legendtext', has_text="session vector").first.wait_for()
        wait_charts(page)
        expect(page.locator('[data-stale="true"]')).to_have_count(0)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.mouse.move(0, 0)
        tab.screenshot("live-session-encoder")
    tab.assert_local_and_error_free()
