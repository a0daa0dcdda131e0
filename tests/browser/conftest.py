"""Real-browser fixtures: the app served by ``recaudit serve`` on a free loopback port, and Chromium.

Recipes (launch flags, waiting, selectors) follow section 3 of the shared Streamlit notes
(``notes/streamlit.md``). The browser is Debian's Chromium (``$CHROMIUM_PATH`` overrides
``/usr/bin/chromium``); Playwright's own browsers are never installed. Without Chromium the tests skip,
unless ``RECAUDIT_REQUIRE_BROWSER=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers import free_port, wait_ready

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1600, "height": 3000}
STARTUP_TIMEOUT_S = 60.0
TIMEOUT_MS = 30_000
LOCAL_SCHEMES = ("data:", "blob:")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it does not exit within 10 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


@dataclass
class Server:
    """A running ``recaudit serve``: its base URL, bundle folder and log file."""

    url: str
    bundle_dir: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium executable, or skip (fail under ``RECAUDIT_REQUIRE_BROWSER=1``) when it is missing."""
    if not Path(CHROMIUM_PATH).is_file():
        message = f"chromium not found at {CHROMIUM_PATH}; install Debian's chromium"
        if os.environ.get("RECAUDIT_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM_PATH


@contextmanager
def serve_bundles(bundle_dir: Path, work: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """``recaudit serve`` over ``bundle_dir`` on 127.0.0.1:<free port>, healthy, until the block exits.

    The log and the map cache go under ``work``; ``env`` adds environment variables (e.g. the data
    folder); the server's process group is stopped on exit.
    """
    port = free_port()
    log = work / "server.log"
    cache = work / "cache"
    cache.mkdir()
    with log.open("wb") as logfile:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "recaudit.cli", "serve",
                "--port", str(port), "--bundles", str(bundle_dir),
            ],
            start_new_session=True,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, RECAUDIT_CACHE_DIR=str(cache), **(env or {})),
        )
    server = Server(url=f"http://127.0.0.1:{port}", bundle_dir=bundle_dir, log=log)
    try:

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as response:
                    return response.read().decode().strip() == "ok"
            except OSError:
                return False

        wait_ready(proc, healthy, name="recaudit serve", timeout_s=STARTUP_TIMEOUT_S, poll_s=0.2,
                   log=server.log_text)  # fmt: skip
        yield server
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def app_server(
    chromium_path: str, tiny_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``recaudit serve`` over the tiny bundles, healthy, on 127.0.0.1:<free port>."""
    with serve_bundles(tiny_bundle_dir, tmp_path_factory.mktemp("browser_server")) as server:
        yield server


@pytest.fixture(scope="session")
def browser_context(chromium_path: str) -> Iterator[object]:
    """A persistent Chromium context on a fresh profile (session scope; pages are per test)."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="recaudit-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            user_data_dir=profile,
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def artefact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go (printed so a failing run can be inspected)."""
    path = tmp_path_factory.mktemp("browser_artefacts")
    print(f"\nbrowser screenshots: {path}")
    return path


@dataclass
class RequestLog:
    """URLs a page requested; ``foreign()`` lists those that left 127.0.0.1."""

    urls: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        return [
            u
            for u in self.urls
            if not u.startswith(LOCAL_SCHEMES)
            and not u.startswith(("http://127.0.0.1:", "ws://127.0.0.1:"))
        ]


def open_page(context: object, log: RequestLog | None = None) -> object:
    """A new tab in ``context`` recording every request and websocket URL into ``log``."""
    page = context.new_page()
    if log is not None:
        page.on("request", lambda request: log.urls.append(request.url))
        page.on("websocket", lambda ws: log.urls.append(ws.url))
    return page


@dataclass
class Tab:
    """One test's browser tab: the page, the URLs it requested and the JavaScript errors it raised."""

    page: object
    log: RequestLog
    errors: list[str]
    artefact_dir: Path

    def screenshot(self, name: str) -> Path:
        """Save the page as ``<name>.png`` in the artefact folder and print where."""
        shot = self.artefact_dir / f"{name}.png"
        self.page.screenshot(path=str(shot))
        print(f"screenshot: {shot}")
        return shot

    def assert_local_and_error_free(self) -> None:
        """Something was requested, nothing left 127.0.0.1 and no JavaScript error was raised."""
        assert not self.log.foreign(), f"requests left 127.0.0.1: {sorted(set(self.log.foreign()))}"
        assert self.log.urls, "no request recorded"
        assert not self.errors, f"JavaScript errors: {self.errors}"


@contextmanager
def browser_tab(context: object, server: Server, artefact_dir: Path, name: str) -> Iterator[Tab]:
    """A new tab of ``context`` recording its requests and JavaScript errors, for the block of one test.

    When the block raises, the page is saved as ``<name>-FAILED.png`` and the tail of the server's log is
    printed before the error goes on; the tab is closed either way. Check ``tab.log`` and ``tab.errors``
    (:meth:`Tab.assert_local_and_error_free`) after the block.
    """
    log = RequestLog()
    page = open_page(context, log)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield Tab(page, log, errors, artefact_dir)
    except Exception:
        page.screenshot(path=str(artefact_dir / f"{name}-FAILED.png"))
        print(server.log_text()[-5000:])
        raise
    finally:
        page.close()


def open_from_sidebar(page: object, server: Server, title: str) -> None:
    """Open the app's default page, let it settle, then follow the sidebar link to the page ``title``."""
    page.goto(server.url + "/")
    page.get_by_role("heading", name="Overview").first.wait_for()
    wait_idle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).click()


def wait_idle(page: object, timeout_ms: int = TIMEOUT_MS) -> None:
    """Wait until Streamlit's status widget no longer shows "Running" (script idle)."""
    page.wait_for_function(
        """() => {
            const w = document.querySelector('[data-testid="stStatusWidget"]');
            return !w || !w.innerText.includes('Running');
        }""",
        timeout=timeout_ms,
    )


def wait_charts(page: object, timeout_ms: int = TIMEOUT_MS) -> None:
    """Wait until every plotly chart on the page has drawn its SVG."""
    page.wait_for_function(
        """() => {
            const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
            return Array.from(charts).every(c => c.querySelector('.main-svg'));
        }""",
        timeout=timeout_ms,
    )


def pick_option(page: object, label: str, option: str, attempts: int = 3) -> None:
    """Open the selectbox labelled ``label`` (in the main area) and choose ``option``.

    The option list is virtualised, so the id is typed to filter it first. A rerun that lands while the
    list is open closes it again, before the option shows or between its showing and the click (both
    seen on a loaded machine): then the list is reopened, up to ``attempts`` times, each waiting for the
    script to be idle first. Nothing waits a fixed time.
    """
    box = page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').filter(
        has=page.get_by_text(label, exact=True)
    )
    choice = page.get_by_role("option", name=option, exact=True)
    for attempt in range(attempts):
        wait_idle(page)
        box.locator("input").click()
        page.keyboard.press("Control+A")
        page.keyboard.type(option)
        try:
            choice.wait_for(state="visible", timeout=TIMEOUT_MS)
            choice.click(timeout=TIMEOUT_MS)
        except Exception:  # Playwright's TimeoutError: the list closed under us; reopen it
            page.keyboard.press("Escape")
            if attempt == attempts - 1:
                raise
            continue
        wait_idle(page)
        return
