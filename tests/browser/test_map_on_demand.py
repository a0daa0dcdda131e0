"""The on-demand map in a real Chromium: a bundle without a stored map opens its Embedding map page at
once with a live progress box (step, elapsed seconds) while the rest of the page is usable, and the map
replaces the box when the background projection is done.

This is the one browser test that computes a UMAP map, and it waits on the progress box itself, not on a
deadline: as long as the box is there its elapsed seconds must keep counting up and it must name a step;
the test ends when the box is gone and the map is drawn. The only bound is a generous hang guard
(``HANG_GUARD_S``), far above the first map on a fresh machine with numba's cache empty and a busy CPU.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

from recaudit.app.map import PROGRESS_KEY
from recaudit.bundle import Bundle, make_manifest, save_bundle
from tests.browser.conftest import (
    Server,
    browser_tab,
    open_from_sidebar,
    serve_bundles,
    wait_charts,
    wait_idle,
)

pytestmark = pytest.mark.browser

N_USERS, N_ITEMS, DIM = 30, 2000, 16
HANG_GUARD_S = 900.0
ELAPSED = re.compile(r"Computing the UMAP map: (\d+) s")
STEP = re.compile(r"starting|hashing the item table|loading UMAP|UMAP of 2,000 points|map ready")


def _unmapped_bundle(root: Path) -> Path:
    """A bundle of 2,000 random items and no stored map (UMAP of it takes seconds even when warm)."""
    rng = np.random.default_rng(7)
    users = [f"u{u:02d}" for u in range(N_USERS)]
    items = [f"i{i:04d}" for i in range(N_ITEMS)]
    train = pd.DataFrame(
        [(u, items[i], 1_600_000_000 + j) for u in users for j, i in enumerate(rng.choice(N_ITEMS, 5))],
        columns=["user_id", "item_id", "timestamp"],
    )
    bundle = Bundle(
        users=pd.DataFrame({"user_id": users}),
        items=pd.DataFrame({"item_id": items, "category": [f"c{i % 7}" for i in range(N_ITEMS)]}),
        user_emb=rng.normal(size=(N_USERS, DIM)).astype(np.float32),
        item_emb=rng.normal(size=(N_ITEMS, DIM)).astype(np.float32),
        train=train,
        manifest=make_manifest(kind="random", score="dot", dim=DIM, config={}),
    )
    return save_bundle(bundle, root / "unmapped").parent


@pytest.fixture(scope="module")
def unmapped_server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    bundles = _unmapped_bundle(tmp_path_factory.mktemp("unmapped_bundles"))
    with serve_bundles(bundles, tmp_path_factory.mktemp("unmapped_server")) as server:
        yield server


def test_first_map_shows_progress_and_the_rest_of_the_page_meanwhile(
    unmapped_server: Server, browser_context, artefact_dir: Path
) -> None:
    with browser_tab(browser_context, unmapped_server, artefact_dir, "embedding-map-on-demand") as tab:
        page = tab.page
        open_from_sidebar(page, unmapped_server, "Embedding map")
        box = page.locator(f".st-key-{PROGRESS_KEY}")
        box.wait_for()  # the page draws the box at once instead of blocking on the projection
        # while the map is computed, the rest of the page is there and usable
        page.get_by_role("heading", name="Embedding health").wait_for()
        assert box.is_visible(), "the map finished before the page showed its health section"
        tab.screenshot("embedding-map-progress")

        seen: list[int] = []
        started = time.monotonic()
        while box.count() and time.monotonic() - started < HANG_GUARD_S:
            text = box.inner_text(timeout=5_000) if box.count() else ""
            match = ELAPSED.search(text)
            if match:
                seen.append(int(match.group(1)))
                assert seen == sorted(seen), f"elapsed went backwards: {seen}"
                assert STEP.search(text), f"no step named in the progress box: {text!r}"
            page.wait_for_timeout(1_000)
        assert not box.count(), f"still computing after {HANG_GUARD_S:.0f} s (elapsed seen: {seen})"
        assert seen, "the progress box never showed its elapsed time"

        legend = page.locator('[data-testid="stPlotlyChart"] .legendtext')
        legend.filter(has_text="history of").first.wait_for()
        wait_charts(page)
        wait_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        expect(page.get_by_text(re.compile(r"UMAP .* of 2,000 item vectors · computed in"))).to_have_count(1)
        tab.screenshot("embedding-map-on-demand")
    tab.assert_local_and_error_free()
