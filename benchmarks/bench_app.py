"""App benchmark in a real browser: how long a user waits for the Embedding map and for every page switch.

Playwright drives Debian's Chromium (``$CHROMIUM_PATH``, else ``/usr/bin/chromium``; headless, software
GL, the flags of ``tests/browser/conftest.py``) against ``recaudit serve``, started on a free loopback port
by the browser tests' own helper (:func:`tests.browser.conftest.serve_bundles`), one fresh server per
bundle folder, so the first visit of a page is a cold one (nothing of that bundle cached in the process).

**Part A, the map**: time from navigation (``page.goto(<server>/embedding-map)`` in a new tab) to a drawn
Embedding map, at 100k items (the 100k x 100k bundle below) and at 1M items (a 1M-item bundle with 10k
users). ``cold`` is the first navigation after the server started (it includes loading the bundle);
``warm`` is a second navigation in a new tab (a new Streamlit session on the same server). Two clocks:

* ``points``: the map's plotly chart has drawn its points: a ``.js-plotly-plot`` in the main area whose
  ``_fullData`` holds at least one point (``_length`` of its traces, or their ``x``/``z`` lengths) and whose
  drawing layer exists (``.main-svg`` and a WebGL ``canvas``, SVG ``.scatterlayer`` points or a heatmap
  image); the chart with the most points is the map;
* ``drawn``: the above, and the page is done: the websocket has delivered the run's ``script_finished``
  (FINISHED_SUCCESSFULLY) ForwardMsg, the app root's ``data-test-script-state`` is ``notRunning``, the
  status widget shows no "Running", no element of the main area is stale (``data-stale="true"``) and every
  plotly chart has drawn its SVG. This is the figure the gate reads.

**Part B, page switches**: every page of :data:`recaudit.app.shell.PAGES`, switched to by clicking its link
in the sidebar navigation (``stSidebarNav``), as a user does, on the sample bundle (``make sample-bundle``
writes ``bundles/sample``) and on a 100k-user x 100k-item synthetic bundle. The clock starts just before
the click and stops when the page is done: the ``drawn`` conditions above, for a run of the clicked page
(the run's ``navigation`` ForwardMsg names the page's script hash). Pass
1 opens ``/`` (the default page, Overview: its cold figure is that first load of the app) and clicks every
other page in registry order (cold: the page's first visit in this server); pass 2 clicks every page
again, the landing page first (warm). The bundles folder of each run holds the bundle and a
hard-linked copy of it named ``<name>-b``, so Compare has a B to compare with (a different path: it is
loaded and audited on its own, as a second model would be).

**Synthetic bundles** come from :func:`recaudit.bundle.synthetic.synthetic_bundle` (seed 0): item vectors
from a Gaussian mixture of 24 clusters (one category each, two domains), Zipf-like popularity, users near a
favourite cluster with log-normal activity (mean 20 interactions), 2 test interactions for 20% of the
users, and a stored PCA item map, so the map is read from the bundle, not computed.

Gates (PASS/FAIL lines; exit 1 if any fails): the 1M map is drawn within 10 s of navigation (cold and
warm, one line each); every page switch on the sample bundle is within 2 s once warm. Gates whose
figures were not measured in this run (``--quick``, ``--skip-*``) are not printed.

Usage::

    python benchmarks/bench_app.py              # map at 100k and 1M, switches on sample and 100k x 100k
    python benchmarks/bench_app.py --quick      # map at 20k, switches on a 2k x 5k synthetic bundle only
    python benchmarks/bench_app.py --skip-map   # page switches only
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recaudit.app.shell import PAGES, PageSpec  # noqa: E402

SAMPLE_BUNDLE = ROOT / "bundles" / "sample"
MAP_TARGET_S = 10.0
SWITCH_TARGET_S = 2.0
PAGE_TIMEOUT_S = 600.0
SEED = 0
MAP_PAGE = next(p for p in PAGES if p.path.endswith("embedding_map.py"))
MAP_URL_PATH, MAP_TITLE = MAP_PAGE.url_path, MAP_PAGE.title

# The page is done as the frontend shows it (the run's script_finished is checked in Python): the script is
# not running, the status widget says no "Running", nothing in the main area is stale and every plotly
# chart has drawn its SVG.
PAGE_DONE_JS = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    const widget = document.querySelector('[data-testid="stStatusWidget"]');
    if (widget && widget.innerText.includes('Running')) return false;
    const main = document.querySelector('[data-testid="stMain"]');
    if (!main || main.querySelector('[data-stale="true"]')) return false;
    const charts = main.querySelectorAll('[data-testid="stPlotlyChart"]');
    return Array.from(charts).every(c => c.querySelector('.main-svg'));
}"""

# The map has drawn its points: the plotly chart of the main area with the most points, when it has a
# drawing layer (WebGL canvas, SVG scatter points or a heatmap image). Returns its point count or false.
MAP_POINTS_JS = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    if (!main) return false;
    let best = 0;
    for (const gd of main.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')) {
        if (!gd._fullData || !gd.querySelector('.main-svg')) continue;
        const drawn = gd.querySelector('canvas') || gd.querySelector('.scatterlayer .point')
            || gd.querySelector('.heatmaplayer image, .hm image');
        if (!drawn) continue;
        let n = 0;
        for (const t of gd._fullData) {
            if (t.visible === false) continue;
            n += t._length ?? (t.x ? t.x.length : (t.z ? t.z.length : 0));
        }
        best = Math.max(best, n);
    }
    return best > 0 ? best : false;
}"""


# --------------------------------------------------------------------------------------------------
# bundles


def build_synthetic_bundle(out: Path, n_users: int, n_items: int, log: Callable[[str], None]) -> Path:
    """:func:`recaudit.bundle.synthetic.synthetic_bundle` at ``out`` (seed 0, stored PCA map), timed."""
    from recaudit.bundle.synthetic import synthetic_bundle

    started = time.perf_counter()
    synthetic_bundle(out, n_items=n_items, n_users=n_users, item_map="pca", seed=SEED)
    log(f"built {out.name}: {n_users:,} users x {n_items:,} items in {time.perf_counter() - started:.1f} s")
    return out


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def bundle_folder(work: Path, bundle: Path, *, with_b: bool = True) -> Path:
    """A bundles folder under ``work`` holding ``bundle`` (linked, same name) and, with ``with_b``, a
    hard-linked copy ``<name>-b`` for the Compare page. The bundle's name sorts first, so the sidebar picks
    it by default (as it picks ``sample``)."""
    folder = work / f"bundles-{bundle.name}"
    folder.mkdir(parents=True)
    (folder / bundle.name).symlink_to(bundle.resolve(), target_is_directory=True)
    if with_b:
        shutil.copytree(bundle.resolve(), folder / f"{bundle.name}-b", copy_function=_link_or_copy)
    return folder


# --------------------------------------------------------------------------------------------------
# the browser side


@dataclass
class Timing:
    """One measured wait: seconds to the page being done (None when it was not within the timeout), the
    map's point clock where there is one, and a note (timeout, exception shown, points on the map)."""

    seconds: float | None
    points_s: float | None = None
    points: int | None = None
    note: str = ""


@dataclass
class RunWatcher:
    """The full script runs of one tab, read from its websocket frames (Streamlit's ForwardMsgs).

    ``new_session`` starts a full run; the run's ``navigation`` message gives each page's script hash by
    title and the hash of the page that runs; ``script_finished`` with FINISHED_SUCCESSFULLY ends it.
    Fragment runs and runs cut short for a rerun are not counted as done.
    """

    hashes: dict[str, str] = field(default_factory=dict)
    running: str | None = None
    finished: list[tuple[float, str | None]] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload: str | bytes) -> None:
        if not isinstance(payload, bytes | bytearray):
            return
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = ForwardMsg()
        try:
            msg.ParseFromString(bytes(payload))
        except Exception:  # noqa: BLE001 - not a ForwardMsg: nothing to record
            return
        kind = msg.WhichOneof("type")
        if kind == "new_session":  # a full run starts; its page is named by the navigation message
            self.running = None
        elif kind == "navigation":
            self.hashes.update({p.page_name: p.page_script_hash for p in msg.navigation.app_pages})
            self.running = msg.navigation.page_script_hash
        elif kind == "script_finished" and msg.script_finished == 0:
            self.finished.append((time.perf_counter(), self.running))

    def done_since(self, start: float, title: str | None) -> bool:
        """Whether a full run of the page ``title`` (any page when None) finished after ``start``."""
        want = None if title is None else self.hashes.get(title, "?")
        return any(t >= start and (want is None or h == want) for t, h in self.finished)

    def last_page(self) -> str | None:
        """The title of the page of the last finished run."""
        names = {h: name for name, h in self.hashes.items()}
        return names.get(self.finished[-1][1]) if self.finished else None


def wait_done(
    page: Any, watcher: RunWatcher, start: float, title: str | None, timeout_s: float, *, map_points: bool
) -> Timing:
    """Poll until a full run of the page ``title`` (any page when None) finished after ``start`` (a
    ``perf_counter`` time) and the frontend shows it done (see the module doc); with ``map_points`` the
    map's point clock is read on the way. Returns a :class:`Timing` relative to ``start``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = start + timeout_s
    points_s = points = None
    try:
        if map_points:
            handle = page.wait_for_function(MAP_POINTS_JS, polling="raf", timeout=timeout_s * 1e3)
            points_s, points = time.perf_counter() - start, int(handle.json_value())
        while True:
            left_ms = max(1.0, (deadline - time.perf_counter()) * 1e3)
            page.wait_for_function(PAGE_DONE_JS, polling="raf", timeout=left_ms)
            if watcher.done_since(start, title) and (not map_points or page.evaluate(MAP_POINTS_JS)):
                break
            if time.perf_counter() > deadline:
                raise PlaywrightTimeout("the page's script_finished was not seen")
            page.wait_for_timeout(10)  # let the websocket events in
    except PlaywrightTimeout:
        return Timing(None, points_s, points, note=f"not done within {timeout_s:.0f} s")
    seconds = time.perf_counter() - start
    errors = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count()
    return Timing(seconds, points_s, points, note=f"{errors} error(s) shown" if errors else "")


@contextmanager
def browser(chromium: str) -> Iterator[Any]:
    """A persistent Chromium context on a fresh profile (the browser tests' flags and viewport)."""
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS, VIEWPORT

    with tempfile.TemporaryDirectory(prefix="recaudit-bench-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            user_data_dir=profile,
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()


@contextmanager
def served(folder: Path, work: Path) -> Iterator[str]:
    """``recaudit serve`` over ``folder`` (the browser tests' helper); yields its base URL."""
    from tests.browser.conftest import serve_bundles

    server_work = Path(tempfile.mkdtemp(prefix="server-", dir=work))
    with serve_bundles(folder, server_work) as server:
        yield server.url


def open_tab(context: Any) -> tuple[Any, RunWatcher]:
    page = context.new_page()
    watcher = RunWatcher()
    watcher.attach(page)
    return page, watcher


def time_map(context: Any, url: str, timeout_s: float) -> Timing:
    """Navigate a new tab to the Embedding map and time it to points and to drawn (see the module doc)."""
    page, watcher = open_tab(context)
    try:
        start = time.perf_counter()
        page.goto(f"{url}/{MAP_URL_PATH}", wait_until="commit")
        return wait_done(page, watcher, start, MAP_TITLE, timeout_s, map_points=True)
    finally:
        page.close()


def time_switches(
    context: Any, url: str, pages: Sequence[PageSpec], timeout_s: float, log: Callable[[str], None]
) -> tuple[str, dict[str, tuple[Timing, Timing]]]:
    """Cold and warm switch times per page title, and the title of the page ``/`` lands on.

    Pass 1 opens ``/`` (its page's cold figure is that load) and clicks every other page in ``pages``
    order; pass 2 clicks the landing page, then the others in order.
    """
    page, watcher = open_tab(context)
    nav = page.locator('[data-testid="stSidebarNav"]')
    cold: dict[str, Timing] = {}
    warm: dict[str, Timing] = {}
    try:
        start = time.perf_counter()
        page.goto(url + "/", wait_until="commit")
        first = wait_done(page, watcher, start, None, timeout_s, map_points=False)
        landing = watcher.last_page() or pages[0].title
        cold[landing] = first
        log(f"  {landing} (load): {_fmt(first.seconds)} {first.note}")
        others = [spec.title for spec in pages if spec.title != landing]
        for visit, titles in ((cold, others), (warm, [landing, *others])):
            for title in titles:
                link = nav.get_by_role("link", name=title, exact=True)
                link.wait_for()
                start = time.perf_counter()
                link.click()
                visit[title] = wait_done(page, watcher, start, title, timeout_s, map_points=False)
                tag = "cold" if visit is cold else "warm"
                log(f"  {title} ({tag}): {_fmt(visit[title].seconds)} {visit[title].note}")
    finally:
        page.close()
    return landing, {spec.title: (cold[spec.title], warm[spec.title]) for spec in pages}


# --------------------------------------------------------------------------------------------------
# tables and gates


def _count(n: int) -> str:
    """``100k``, ``1M``, or the plain number when it is not a round thousand."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def _fmt(seconds: float | None) -> str:
    return "timeout" if seconds is None else f"{seconds:.2f}"


@dataclass
class MapRow:
    label: str
    n_items: int
    cold: Timing
    warm: Timing


def format_map_table(rows: Sequence[MapRow]) -> str:
    head = f"{'bundle':<24} {'items':>9} {'cold points s':>13} {'cold drawn s':>12} "
    head += f"{'warm points s':>13} {'warm drawn s':>12} {'points shown':>12}  note"
    lines = [head, "-" * len(head)]
    for r in rows:
        note = "; ".join(n for n in (r.cold.note, r.warm.note) if n)
        shown = r.warm.points if r.warm.points is not None else r.cold.points
        lines.append(
            f"{r.label:<24} {r.n_items:>9,} {_fmt(r.cold.points_s):>13} {_fmt(r.cold.seconds):>12} "
            f"{_fmt(r.warm.points_s):>13} {_fmt(r.warm.seconds):>12} "
            f"{'' if shown is None else f'{shown:,}':>12}  {note}"
        )
    return "\n".join(lines)


def format_switch_table(results: dict[str, dict[str, tuple[Timing, Timing]]]) -> str:
    """One row per page, a cold and a warm column per bundle (the first page's cold is its load)."""
    labels = list(results)
    head = f"{'page':<24}" + "".join(f" {label[:18] + ' cold':>24} {'warm':>7}" for label in labels)
    lines = [head, "-" * len(head)]
    titles = list(dict.fromkeys(t for r in results.values() for t in r))
    for title in titles:
        cells = ""
        for label in labels:
            cold, warm = results[label].get(title, (Timing(None), Timing(None)))
            cells += f" {_fmt(cold.seconds):>24} {_fmt(warm.seconds):>7}"
        notes = "; ".join(
            f"{label}: {t.note}" for label in labels for t in results[label].get(title, ()) if t.note
        )
        lines.append(f"{title:<24}{cells}" + (f"  {notes}" if notes else ""))
    return "\n".join(lines)


def gates(
    map_rows: Sequence[MapRow], switches: dict[str, dict[str, tuple[Timing, Timing]]]
) -> list[tuple[str, bool]]:
    """The issue's targets that this run measured: the 1M map <= 10 s (cold, warm), every warm switch on
    the sample bundle <= 2 s (a page that timed out fails)."""
    out: list[tuple[str, bool]] = []
    for row in map_rows:
        if row.n_items != 1_000_000:
            continue
        for clock, timing in (("cold", row.cold), ("warm", row.warm)):
            ok = timing.seconds is not None and timing.seconds <= MAP_TARGET_S and not timing.note
            out.append((f"1M-item map drawn, {clock}: {_fmt(timing.seconds)} s <= {MAP_TARGET_S:g} s", ok))
    if "sample" in switches:
        warm = {title: pair[1].seconds for title, pair in switches["sample"].items()}
        slow = {t: s for t, s in warm.items() if s is None or s > SWITCH_TARGET_S}
        worst = max(warm, key=lambda t: float("inf") if warm[t] is None else warm[t])
        text = f"every warm page switch on the sample bundle <= {SWITCH_TARGET_S:g} s "
        text += f"(slowest {worst}: {_fmt(warm[worst])} s"
        text += f"; over: {', '.join(slow)})" if slow else ")"
        out.append((text, not slow))
    return out


# --------------------------------------------------------------------------------------------------


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="map at 20k, switches on a 2k x 5k synthetic bundle"
    )
    parser.add_argument("--map-sizes", type=int, nargs="+", default=None, help="catalogue sizes of the map")
    parser.add_argument("--users", type=int, default=None, help="users of the switch bundle (100k)")
    parser.add_argument("--items", type=int, default=None, help="items of the switch bundle (100k)")
    parser.add_argument("--skip-map", action="store_true", help="no map timing (part A)")
    parser.add_argument("--skip-switch", action="store_true", help="no page switches (part B)")
    parser.add_argument(
        "--skip-sample", action="store_true", help="page switches on the synthetic bundle only"
    )
    parser.add_argument(
        "--skip-synthetic", action="store_true", help="page switches on the sample bundle only"
    )
    parser.add_argument("--timeout", type=float, default=PAGE_TIMEOUT_S, help="seconds one page may take")
    parser.add_argument("--keep", type=Path, default=None, help="build the bundles here and keep them")
    args = parser.parse_args(argv)
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(chromium).is_file():
        print(f"bench_app: chromium not found at {chromium}; install Debian's chromium", file=sys.stderr)
        return 2
    users = args.users or (2_000 if args.quick else 100_000)
    items = args.items or (5_000 if args.quick else 100_000)
    map_sizes = args.map_sizes or ([20_000] if args.quick else [100_000, 1_000_000])
    with_sample = not (args.quick or args.skip_sample or args.skip_switch)
    with_synthetic = not (args.skip_synthetic or args.skip_switch)
    if with_sample and not (SAMPLE_BUNDLE / "manifest.json").is_file():
        print(f"bench_app: no sample bundle at {SAMPLE_BUNDLE}; run `make sample-bundle`", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="recaudit-bench-app-"))
    store = args.keep or work
    os.environ["RECAUDIT_CACHE_DIR"] = str(
        work / "build-cache"
    )  # the PCA maps of the build, not the repo's
    print(f"load average at start: {_load()}; chromium {chromium}; work folder {work}")
    map_rows: list[MapRow] = []
    switches: dict[str, dict[str, tuple[Timing, Timing]]] = {}
    landing = ""
    try:

        def synthetic(n_users: int, n_items: int) -> Path:
            path = store / f"synth-{n_users}u-{n_items}i"
            if not (path / "manifest.json").is_file():
                build_synthetic_bundle(path, n_users, n_items, log)
            return path

        with browser(chromium) as context:
            if not args.skip_map:
                for n_items in map_sizes:
                    n_users = users if n_items == items else (2_000 if args.quick else 10_000)
                    bundle = synthetic(n_users, n_items)
                    with served(bundle_folder(work / f"map-{n_items}", bundle, with_b=False), work) as url:
                        log(f"map at {n_items:,} items")
                        cold = time_map(context, url, args.timeout)
                        warm = time_map(context, url, args.timeout)
                    map_rows.append(MapRow(bundle.name, n_items, cold, warm))
                    log(f"  cold {_fmt(cold.seconds)} s, warm {_fmt(warm.seconds)} s, {warm.points} points")
            if not args.skip_switch:
                sources = [("sample", SAMPLE_BUNDLE)] if with_sample else []
                if with_synthetic:
                    sources.append((f"synth {_count(users)}x{_count(items)}", synthetic(users, items)))
                for label, bundle in sources:
                    with served(bundle_folder(work / f"switch-{bundle.name}", bundle), work) as url:
                        log(f"page switches on {label}")
                        landing, switches[label] = time_switches(context, url, PAGES, args.timeout, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if map_rows:
        print("\nA. navigation to a drawn Embedding map (seconds)\n")
        print(format_map_table(map_rows))
    if switches:
        print("\nB. page switch by the sidebar link (seconds; cold = first visit, warm = second)\n")
        print(format_switch_table(switches))
        print(f"\n({landing}'s cold figure is the first load of the app, goto /)")
    print(f"load average at end: {_load()}")
    results = gates(map_rows, switches)
    for line, ok in results:
        print(f"gate: {line} {'PASS' if ok else 'FAIL'}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
