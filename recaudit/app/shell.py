"""What the Streamlit app shares: page registry, cached loaders, bundle picker, shared widgets.

Streamlit is imported only inside ``recaudit/app/`` (``docs/architecture.md``; ``tests/test_layers.py``
checks it): pages stay thin (widgets -> these helpers and recaudit calls -> rendering), and the rest of
the package works without it.

Two groups:

* **Registry and paths**: :data:`PAGES` drives ``st.navigation`` in ``app.py`` and the smoke tests;
  :func:`bundle_dir` says where bundles are looked for.
* **Cached resources and shared widgets**: bundles, scorers and fold-in solvers are built once per
  process with ``st.cache_resource``, keyed by the bundle path and its manifest's mtime (so a retrained
  bundle is picked up), shared by every session and never mutated per user.

The pages' table work lives in :mod:`recaudit.views.explorer` and :mod:`recaudit.views.modelcard`,
without Streamlit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from recaudit.bundle import MANIFEST, Bundle, list_bundles, load_bundle, read_manifest
from recaudit.bundle.logs import LOG_MANIFEST, RecLog, is_log_dir, list_logs, load_log, read_log_manifest
from recaudit.errors import RecauditInputError
from recaudit.models.foldin import FoldIn, median_norm
from recaudit.paths import default_bundle_dir
from recaudit.scoring import ExactScorer
from recaudit.textsafe import md_code, md_text

logger = logging.getLogger(__name__)

BUNDLE_DIR_ENV = "RECAUDIT_BUNDLE_DIR"
BUNDLE_DIR_KEY = "bundle_dir"
"""Session-state override of the bundle folder: tests set it with ``at.session_state[...]``, which
always reaches AppTest (``$RECAUDIT_BUNDLE_DIR`` set in the test process works too)."""
SELECTED_BUNDLE = "bundle"
"""Durable (non-widget) session key: the selected bundle's directory name, kept across pages."""
SELECTED_USER = "user"
"""Durable session key: the selected user id, shared by every page that is about one user."""
ALL_DOMAINS = "All"


# --------------------------------------------------------------------------------------------------
# page registry


@dataclass(frozen=True)
class PageSpec:
    """One page of the app: its file (relative to ``app.py``), title, emoji icon, URL path and the
    navigation section it is listed under."""

    path: str
    title: str
    icon: str | None
    url_path: str
    section: str = "Model"


MODEL, AUDIT, SCENARIOS = "Model", "Audit", "Scenarios"
SECTIONS = (MODEL, AUDIT, SCENARIOS)
"""The navigation's sections, in order: what the model is and does; what it does to people and
catalogues; the scenarios beyond a static catalogue."""

PAGES: list[PageSpec] = [
    PageSpec("pages/import_data.py", "Import", "📥", "import", MODEL),
    PageSpec("pages/overview.py", "Overview", "📊", "overview", MODEL),
    PageSpec("pages/user_explorer.py", "User explorer", "🧑", "user-explorer", MODEL),
    PageSpec("pages/embedding_map.py", "Embedding map", "🗺️", "embedding-map", MODEL),
    PageSpec("pages/diversity_popularity.py", "Diversity & popularity", "🌈", "diversity", AUDIT),
    PageSpec("pages/fairness.py", "Fairness", "⚖️", "fairness", AUDIT),
    PageSpec("pages/rerank_lab.py", "Re-ranking lab", "🎚️", "rerank-lab", AUDIT),
    PageSpec("pages/compare.py", "Compare", "🆚", "compare", AUDIT),
    PageSpec("pages/report.py", "Report", "📄", "report", AUDIT),
    PageSpec("pages/cold_start.py", "Cold start", "🧊", "cold-start", SCENARIOS),
    PageSpec("pages/live_session.py", "Live session", "⚡", "live-session", SCENARIOS),
    PageSpec("pages/cross_domain.py", "Cross-domain", "🔀", "cross-domain", SCENARIOS),
]
"""Every page, registered explicitly (``st.navigation`` never auto-discovers ``pages/``). The default page,
at ``/`` (Streamlit ignores a default page's ``url_path``), is :data:`DEFAULT_PAGE`."""
DEFAULT_PAGE = "pages/overview.py"
"""The page a visitor lands on: the model's overview (Import is listed first, but is not where one starts
once there is a bundle)."""
AUDIT_PAGES = ("Diversity & popularity", "Fairness", "Compare", "Report")
"""The pages that audit a recommendation log as well as a bundle."""


# --------------------------------------------------------------------------------------------------
# where bundles live


def bundle_dir() -> Path:
    """The folder searched for bundles.

    Order: ``st.session_state["bundle_dir"]`` (tests), then
    :func:`recaudit.paths.default_bundle_dir`: ``$RECAUDIT_BUNDLE_DIR`` (a relative path is taken
    from the current directory, as a shell user expects), else ``bundles/`` next to ``app.py``.
    """
    override = st.session_state.get(BUNDLE_DIR_KEY)
    if override:
        return Path(override).expanduser().resolve()
    return default_bundle_dir().expanduser().resolve()


def create_command(directory: Path) -> str:
    """The shell command that trains the sample bundle into ``directory``."""
    try:
        out = directory.relative_to(Path.cwd())
    except ValueError:
        out = directory
    return (
        "recaudit train sample_data/interactions.parquet --items sample_data/items.parquet "
        f"--out {out.as_posix()}/sample"
    )


# --------------------------------------------------------------------------------------------------
# cached resources (one object per process and bundle version, never mutated per user)


def bundle_key(path: str | Path) -> tuple[str, int]:
    """Cache key of a bundle: its resolved path and the manifest's mtime in ns (0 when missing)."""
    root = Path(path).resolve()
    try:
        mtime = (root / MANIFEST).stat().st_mtime_ns
    except OSError:
        mtime = 0
    return str(root), mtime


def disk_key(bundle: Bundle, doing: str) -> tuple[str, int]:
    """:func:`bundle_key` of a bundle loaded from disk (the pages' cache key); ``doing`` names what the
    page does with it in the error for one that is not (e.g. ``"mapped"``)."""
    if bundle.path is None:
        raise ValueError(f"only bundles loaded from disk can be {doing} in the app")
    return bundle_key(bundle.path)


@st.cache_resource(max_entries=8, show_spinner="Loading bundle…")
def _cached_bundle(path: str, mtime_ns: int) -> Bundle:
    bundle = load_bundle(path)
    # fill the lazy properties now, once, so concurrent sessions only ever read the shared object
    _ = bundle.user_row, bundle.item_row, bundle.seen, bundle.item_popularity
    return bundle


@st.cache_resource(max_entries=8, show_spinner="Preparing the scorer…")
def _cached_scorer(path: str, mtime_ns: int) -> ExactScorer:
    bundle = _cached_bundle(path, mtime_ns)
    return bundle.exact_scorer("auto")


@st.cache_resource(max_entries=8, show_spinner=False)
def _cached_foldin(path: str, mtime_ns: int) -> FoldIn:
    bundle = _cached_bundle(path, mtime_ns)
    return FoldIn(
        bundle.item_emb, target_norm=median_norm(bundle.user_emb), cosine=bundle.score == "cosine"
    )


@st.cache_data(max_entries=8, show_spinner="Evaluating on the held-out test set…")
def _cached_evaluation(path: str, mtime_ns: int) -> dict[str, Any]:
    from recaudit.workflows.holdout import holdout_evaluation

    bundle = _cached_bundle(path, mtime_ns)
    return holdout_evaluation(bundle, _cached_scorer(path, mtime_ns))


@st.cache_resource(max_entries=8, show_spinner="Loading the recommendation log…")
def _cached_log(path: str, mtime_ns: int) -> RecLog:
    return load_log(path)


def log_key(path: str | Path) -> tuple[str, int]:
    """Cache key of a log folder: its resolved path and its ``log.json`` mtime in ns (0 when missing)."""
    root = Path(path).resolve()
    try:
        mtime = (root / LOG_MANIFEST).stat().st_mtime_ns
    except OSError:
        mtime = 0
    return str(root), mtime


def get_log(path: str | Path) -> RecLog:
    """The log folder at ``path`` (cached per process and ``log.json`` version; read it, never mutate it)."""
    return _cached_log(*log_key(path))


def get_bundle(path: str | Path) -> Bundle:
    """The validated bundle at ``path`` (cached). Raises :class:`RecauditInputError` if bad."""
    return _cached_bundle(*bundle_key(path))


def get_scorer(bundle: Bundle) -> ExactScorer:
    """The exact scorer of a loaded bundle (cached; cuda when available)."""
    return _cached_scorer(*bundle_key(_path_of(bundle)))


def get_foldin(bundle: Bundle) -> FoldIn:
    """The fold-in solver of a loaded bundle (cached: its Gram matrix VᵀV is computed once)."""
    return _cached_foldin(*bundle_key(_path_of(bundle)))


def has_evaluation(bundle: Bundle) -> bool:
    """Whether the bundle stores held-out numbers or has test interactions to compute them from."""
    stored = bundle.manifest.get("evaluation") or {}
    return bool(stored.get("model")) or (bundle.test is not None and not bundle.test.empty)


def get_evaluation(bundle: Bundle) -> dict[str, Any] | None:
    """Held-out model vs popularity: the manifest's, else computed (cached); None without test."""
    stored = bundle.manifest.get("evaluation") or {}
    # a multi-domain bundle written before the per-domain protocol is evaluated again, per domain
    if stored.get("model") and (len(bundle.domains) < 2 or stored.get("protocol") == "per-domain"):
        return stored
    if not has_evaluation(bundle):
        return None
    return _cached_evaluation(*bundle_key(_path_of(bundle)))


def _path_of(bundle: Bundle) -> Path:
    if bundle.path is None:
        raise ValueError("only bundles loaded from disk can be cached")
    return bundle.path


# --------------------------------------------------------------------------------------------------
# shared widgets

T = TypeVar("T")


def _sync(widget_key: str, key: str) -> None:
    st.session_state[key] = st.session_state[widget_key]


def sticky(
    widget: Callable[..., T],
    label: str,
    *,
    key: str,
    default: Any,
    options: Sequence[Any] | None = None,
    **kwargs: Any,
) -> T:
    """Draw ``widget`` whose value survives page switches.

    Streamlit deletes a widget's keyed value on a run that does not draw it, so the value lives
    under the durable key ``key`` and is copied into the widget key ``"_" + key`` before drawing
    (the recipe in notes/streamlit.md). A stored value no longer among ``options`` falls back to
    ``default``, or to the first option.
    """
    value = st.session_state.get(key, default)
    if options is not None:
        options = list(options)
        if value not in options:
            value = default if default in options else (options[0] if options else None)
    st.session_state[key] = value
    widget_key = "_" + key
    st.session_state[widget_key] = value
    args = (label,) if options is None else (label, options)
    return widget(*args, key=widget_key, on_change=_sync, args=(widget_key, key), **kwargs)


def table(data: Any, key: str, **kwargs: Any) -> None:
    """``st.dataframe`` (index hidden) inside a container keyed ``key``.

    A plain dataframe has no element id, so the keyed container is what names it: tests find it by
    key and a browser by the CSS class ``st-key-<key>``.
    """
    with st.container(key=key):
        st.dataframe(data, hide_index=True, **kwargs)


def sidebar_bundle_picker() -> Path | None:
    """Sidebar selectbox over the bundles and recommendation logs in :func:`bundle_dir`; returns the chosen
    path (or None).

    The choice (a folder name) is kept in the durable key ``"bundle"``. Nothing is loaded here (a manifest
    summary at most), so a broken bundle only shows its error on the page.
    """
    directory = bundle_dir()
    bundles = list_bundles(directory)
    logs = list_logs(directory)
    if not bundles and not logs:
        st.session_state[SELECTED_BUNDLE] = None
        st.sidebar.warning("No model bundle found.")
        return None
    names = [p.name for p in bundles] + [p.name for p in logs]  # a folder is one or the other
    is_log = {p.name for p in logs}
    default = "sample" if "sample" in names else names[0]
    with st.sidebar:
        name = sticky(
            st.selectbox, "Model bundle or log", key=SELECTED_BUNDLE, default=default, options=names,
            format_func=lambda n: f"{n} (log)" if n in is_log else n,
        )  # fmt: skip
        st.caption(f"from {md_code(directory)}")
        try:
            st.caption(md_text(_summary(directory / name, name in is_log)))  # data-file values: as text
        except RecauditInputError:
            pass  # the page says what is wrong
    return directory / name


def _summary(path: Path, is_log: bool) -> str:
    """One line about a bundle (kind, dim, score, sizes) or a log (its rows), from its manifest only."""
    if is_log:
        rows = read_log_manifest(path).get("rows", {})
        counts = (f"{rows[t]:,} {t} rows" for t in rows if t in ("recs", "train", "test"))
        return "recommendation log · " + " · ".join(counts)
    manifest = read_manifest(path)
    model = manifest.get("model", {}).get("kind", "?")
    return " · ".join(
        str(part)
        for part in (
            model, f"d={manifest.get('dim', '?')}", manifest.get("score", "dot"),
            f"{manifest.get('n_users', '?')} users", f"{manifest.get('n_items', '?')} items",
        )
    )  # fmt: skip


def selected_bundle_path() -> Path | None:
    """The selected bundle's path, or None when there is none."""
    name = st.session_state.get(SELECTED_BUNDLE)
    if not name:
        return None
    return bundle_dir() / name


def show_no_bundle() -> None:
    """The message shown when the bundle folder is empty, with the command that creates one."""
    directory = bundle_dir()
    st.info(f"No model bundle in {md_code(directory)}. Train the sample bundle from the repository root:")
    st.code(create_command(directory), language="bash")
    st.caption(f"or run `make run`, or point ${BUNDLE_DIR_ENV} at a folder of bundles.")


class StepStatus:
    """A status box naming the step a page is waiting on; it disappears once the page is ready.

    Pages call :meth:`step` before each slow call (scoring, aligning, bootstrapping) and :meth:`done`
    after the last, so nothing sits blank: the box says which step runs and how long the page has been
    working, while the parts already computed are drawn below it. On a cached rerun the box is created
    and removed within one script run and never shows. One instance per page run (not shared).
    """

    def __init__(self, title: str) -> None:
        self._box = st.empty()
        self._title = title
        self._started = time.perf_counter()
        self._status: Any = None

    def step(self, label: str) -> None:
        elapsed = time.perf_counter() - self._started
        text = f"{self._title}: {label}" + (f" · {elapsed:.0f} s so far" if elapsed >= 1 else "")
        if self._status is None:
            self._status = self._box.status(text, state="running", expanded=False)
        else:
            self._status.update(label=text, state="running")

    def done(self) -> None:
        self._box.empty()


def guarded(what: str, fn: Callable[..., T], *args: Any) -> T | None:
    """``fn(*args)``, or a one-line ``st.error`` (never a traceback) and None when it fails.

    A :class:`RecauditInputError` shows its own one-line message; other data errors (OSError,
    ValueError, KeyError) show ``what: error`` and the traceback goes to the server log only. Messages
    quote ids and paths from the data, so they are shown as text (:func:`recaudit.textsafe.md_text`).
    """
    try:
        return fn(*args)
    except RecauditInputError as exc:
        st.error(md_text(exc.one_line()))
    except (OSError, ValueError, KeyError) as exc:
        logger.exception("%s failed", what)
        st.error(md_text(f"{what}: {exc}"))
    return None


def try_load(path: Path) -> Bundle | None:
    """Load a bundle, or show a one-line ``st.error`` and return None."""
    return guarded(f"{path}: could not load the bundle", get_bundle, path)


def selected_is_log() -> bool:
    """Whether the sidebar's choice is a recommendation log (a folder with ``log.json``, no bundle)."""
    path = selected_bundle_path()
    return path is not None and is_log_dir(path)


def require_bundle() -> Bundle:
    """The selected bundle for a page; otherwise shows why and stops the page.

    A recommendation log has no embeddings: this page says so and points at the pages that audit it.
    """
    path = selected_bundle_path()
    if path is None:
        show_no_bundle()
        st.stop()
    if selected_is_log():
        st.info(
            md_text(f"{path.name} is a recommendation log: this page needs a model's embeddings. ")
            + "Pick a bundle in the sidebar, or audit the log on "
            + ", ".join(f"**{md_text(p)}**" for p in AUDIT_PAGES) + "."
        )
        st.stop()
    bundle = try_load(path)
    if bundle is None:
        st.stop()
    return bundle


def require_source() -> Bundle | RecLog:
    """The selected bundle or recommendation log, for the pages that audit either; otherwise shows why
    and stops the page."""
    if not selected_is_log():
        return require_bundle()
    path = selected_bundle_path()
    assert path is not None
    log = guarded(f"{path}: could not load the log", get_log, path)
    if log is None:
        st.stop()
    return log
