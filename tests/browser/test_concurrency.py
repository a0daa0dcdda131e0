"""Four simultaneous browser sessions on the live app, each on a different user in the User explorer,
each seeing that user's own top-10 (checked against ``ExactScorer`` on the bundle, outside the app).

Sessions share the server's cached bundle and scorer (``st.cache_resource``); this catches state that
leaks between sessions. The four tabs are driven interleaved: every step is issued to all four before
any waits, so their script runs overlap on the server.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from recaudit.bundle import load_bundle
from recaudit.scoring import ExactScorer
from tests.browser.conftest import RequestLog, Server, open_page, wait_idle

pytestmark = pytest.mark.browser

USERS = ("u03", "u11", "u26", "u38")
K = 10


def expected_first_items(bundle_path) -> dict[str, str]:
    """Each user's first recommended item id, straight from the bundle (the app's default settings)."""
    bundle = load_bundle(bundle_path)
    scorer = ExactScorer(
        bundle.user_emb,
        bundle.item_emb,
        bundle.user_ids,
        bundle.item_ids,
        item_bias=bundle.item_bias,
        score=bundle.score,
        seen=bundle.seen,
        device="cpu",
    )
    out = {}
    for user in USERS:
        recs = scorer.recommend([user], k=K)
        out[user] = str(bundle.item_ids[int(recs.item_index[0][0])])
    return out


def first_item_cell(page):
    """The recs grid's row 0, column ``item_id`` (the grid is a canvas; this is its accessible table)."""
    return page.locator('.st-key-recs [data-testid="glide-cell-1-0"]')


def expect_first_item(page, item: str) -> None:
    """The grid redraws a moment after the heading changes, so poll (bounded) for the expected id."""
    expect(first_item_cell(page)).to_have_text(item, timeout=15_000)


def test_four_sessions_see_their_own_users(app_server: Server, browser_context) -> None:
    expected = expected_first_items(app_server.bundle_dir / "alpha")
    assert len(set(expected.values())) > 1, "fixture too easy: every user has the same first item"
    logs = [RequestLog() for _ in USERS]
    pages = [open_page(browser_context, log) for log in logs]
    try:
        for page in pages:
            page.goto(app_server.url + "/")
        for page in pages:
            page.get_by_role("heading", name="Overview").first.wait_for()
            wait_idle(page)
        for page in pages:
            page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="User explorer").click()
        for page in pages:
            page.get_by_role("heading", name=f"Top-{K} for u00").wait_for()
            wait_idle(page)
        boxes = [
            page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').filter(
                has=page.get_by_text("User", exact=True)
            )
            for page in pages
        ]
        for page, box, user in zip(pages, boxes, USERS, strict=True):
            box.click()
            page.keyboard.type(user)  # the option list is virtualised: filter it to the user first
            page.get_by_role("option", name=user, exact=True).click()
        for page, user in zip(pages, USERS, strict=True):
            page.get_by_role("heading", name=f"Top-{K} for {user}").wait_for()
            wait_idle(page)
        for page, user in zip(pages, USERS, strict=True):
            assert page.locator('[data-testid="stException"]').count() == 0
            page.get_by_role("heading", name=f"Top-{K} for {user}").wait_for()
            expect_first_item(page, expected[user])
        # and once more after all four have settled: no session was switched by another one
        for page, user in zip(pages, USERS, strict=True):
            assert page.get_by_role("heading", name=f"Top-{K} for {user}").is_visible()
            assert (first_item_cell(page).text_content() or "").strip() == expected[user], user
    finally:
        for page in pages:
            page.close()
    for log in logs:
        assert not log.foreign(), log.foreign()
