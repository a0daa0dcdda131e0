"""Cached helpers of the Embedding map page (an app-support module: it may import Streamlit).

Every heavy call is cached per process and keyed by the bundle's resolved path and its manifest's mtime
(:func:`recaudit.app.shell.bundle_key`), so a retrained bundle is picked up and every session shares one
copy, never mutated:

* :func:`item_map_or_progress`: the bundle's stored map (``bundle.item_map``), else
  :func:`recaudit.views.projection.project_items` (on-disk cache under
  :func:`recaudit.views.projection.default_cache_dir`) in a background job (:mod:`recaudit.jobs`), shown as a
  live progress box (step, elapsed) while the rest of the page works; :func:`get_item_map` waits for it;
* :func:`get_exposure`: per item, the number of held-out users' top-k lists that contain it;
* :func:`get_shown_rows`: the seeded, stratified sample of points the chart draws
  (:func:`recaudit.views.projection.sample_items`), the selected user's items always kept;
* :func:`neighbour_table`: the 5 nearest items (cosine, exact faiss ``IndexFlatIP``) of selected items;
* :func:`get_embedding_audit`: :func:`recaudit.metrics.embedding.embedding_audit` of the item vectors;
  :func:`embedding_audit_or_progress` runs it in the background (minutes for 1M items);
* :func:`get_density` / :func:`region_rows`: the density grid a map of more than
  :func:`recaudit.views.density.density_threshold` points draws under its sample, and the rows inside a
  box or lasso drawn on it (the drill-down);
* :func:`user_map_or_progress` / :func:`joint_map_or_progress`: maps of the user vectors and of users and
  items in one projection, computed in the background like an on-demand item map (same parameters as
  the item map); :func:`get_user_stats` gives each user's activity and popularity taste to colour them.

The tables themselves (stored map, neighbours, embedding health) are built in
:mod:`recaudit.views.embedding`, without Streamlit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from recaudit.app import shell as support
from recaudit.bundle import Bundle
from recaudit.data.schema import ITEM_ID, USER_ID
from recaudit.errors import RecauditInputError
from recaudit.jobs import BackgroundJob, JobRegistry
from recaudit.scoring.neighbours import NeighbourIndex
from recaudit.textsafe import md_text
from recaudit.views import embedding as embedding_views
from recaudit.views.density import DensityGrid, Region, density_grid
from recaudit.views.density import region_rows as _region_rows
from recaudit.views.embedding import N_NEIGHBOURS
from recaudit.views.projection import (
    ItemMap,
    ProjectionParams,
    default_cache_dir,
    effective_params,
    project_items,
    sample_items,
)
from recaudit.workflows.audit import audit_users

logger = logging.getLogger(__name__)

MAP_PARAMS = "map_params"
"""Durable session key: the projection settings asked for with "Compute map" (a dict), None = default."""
DEFAULT_CAP = 50_000


# --------------------------------------------------------------------------------------------------
# cached calls


@st.cache_resource(max_entries=8, show_spinner=False)
def _stored_map(path: str, mtime_ns: int) -> ItemMap | None:
    return embedding_views.stored_item_map(support.get_bundle(path))


_PROJECTIONS = JobRegistry(max_jobs=8)
"""On-demand maps of this process, one background job per (bundle version, parameters)."""
PROGRESS_KEY = "map_progress"
"""Key of the container that shows an on-demand map's step and elapsed time (browser tests wait on it)."""


WHAT = ("items", "users", "joint")
"""What a map lays out: the item vectors, the user vectors, or both stacked (items first, then users)."""
USER_PROGRESS_KEY = "map_progress_users"
"""Key of the progress container of an on-demand user or joint map."""


def _projection_key(
    bundle: Bundle, params: ProjectionParams | None, what: str = "items"
) -> tuple[str, int, str] | tuple[str, int, str, str]:
    chosen = params or ProjectionParams()
    key = (*support.disk_key(bundle, "mapped"), json.dumps(chosen.to_dict(), sort_keys=True))
    return key if what == "items" else (*key, what)  # the item key keeps its historical shape


def ready_item_map(bundle: Bundle, params: ProjectionParams | None = None) -> ItemMap | None:
    """The map if it is ready now, never waiting: the stored one when ``params`` is None or equal to its
    settings, else a finished on-demand projection with ``params``; None while there is none yet."""
    stored = _stored_map(*support.disk_key(bundle, "mapped"))
    if stored is not None and (
        params is None or effective_params(params, len(bundle.items)).key() == stored.params.key()
    ):
        return stored
    return _ready(bundle, params, "items")


def _ready(bundle: Bundle, params: ProjectionParams | None, what: str) -> ItemMap | None:
    job = _PROJECTIONS.get(_projection_key(bundle, params, what))
    state = job.snapshot() if job is not None else None
    return state.result if state is not None and state.ok else None


def existing_projection(
    bundle: Bundle, params: ProjectionParams | None = None, what: str = "items"
) -> BackgroundJob | None:
    """The background projection of these parameters if one was started (running, done or failed)."""
    return _PROJECTIONS.get(_projection_key(bundle, params, what))


def _table(bundle: Bundle, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The vectors and ids a map of ``what`` lays out (joint: items then users, ids prefixed)."""
    item_ids = bundle.items[ITEM_ID].astype(str).to_numpy()
    user_ids = bundle.users[USER_ID].astype(str).to_numpy()
    if what == "items":
        return bundle.item_emb, item_ids
    if what == "users":
        return bundle.user_emb, user_ids
    table = np.concatenate([bundle.item_emb, bundle.user_emb]).astype(np.float32, copy=False)
    return table, np.concatenate([np.char.add("item:", item_ids), np.char.add("user:", user_ids)])


def projection_job(
    bundle: Bundle, params: ProjectionParams | None = None, what: str = "items"
) -> BackgroundJob:
    """The background projection of the bundle's ``what`` (items, users or joint) with ``params``
    (default :class:`ProjectionParams`): running, finished, or started now. The disk cache under
    :func:`recaudit.views.projection.default_cache_dir` makes a repeat nearly instant."""
    if what not in WHAT:
        raise ValueError(f"what must be one of {WHAT}, got {what!r}")
    key = _projection_key(bundle, params, what)
    path, params_json = key[0], key[2]

    def work(progress: Callable[[str, float], None]) -> ItemMap:
        source = support.get_bundle(path)
        chosen = ProjectionParams.from_dict(json.loads(params_json))
        table, ids = _table(source, what)
        return project_items(table, ids, chosen, cache_dir=default_cache_dir(), progress=progress)

    return _PROJECTIONS.start(key, work, first_step="starting")


def get_item_map(bundle: Bundle, params: ProjectionParams | None = None) -> ItemMap:
    """The map, waiting for an on-demand projection to finish (for callers that cannot show progress).

    Raises:
        Exception: whatever the projection raised.
    """
    ready = ready_item_map(bundle, params)
    if ready is not None:
        return ready
    state = projection_job(bundle, params).wait()
    if state.error is not None:
        raise state.error
    return state.result


@st.fragment(run_every=0.5)
def _progress_fragment(key: tuple[str, ...], label: str, container: str = PROGRESS_KEY) -> None:
    job = _PROJECTIONS.get(key)
    if job is None:  # dropped from the registry: start over on a full rerun
        st.rerun()
    state = job.snapshot()
    if state.done:
        st.rerun()  # the whole page, now with its map (or the error, shown once, with a retry button)
    with st.container(key=container):
        # not a `with` block: leaving one would mark the status complete (a tick) while work goes on
        # the step shares the label's line with the elapsed time: one element, so a reader never sees
        # the time without the step (a separate progress text could paint a frame later)
        box = st.status(f"{label}: {state.elapsed:.0f} s · {state.step}", state="running", expanded=True)
        box.progress(state.fraction)
        box.caption(
            "The rest of this page works meanwhile. The map is computed once: it is cached on disk for "
            "every later visit and every other analyst."
        )


def _failure_line(error: BaseException) -> str:
    if isinstance(error, RecauditInputError):
        return error.one_line()
    return f"{type(error).__name__}: {error}"


def item_map_or_progress(
    bundle: Bundle, params: ProjectionParams | None = None, *, settle_s: float = 0.3
) -> ItemMap | None:
    """The map when it is ready within ``settle_s`` seconds (stored, cached, or quick); otherwise None,
    with a live progress box (step, fraction, elapsed) that reruns the page once the map is done."""
    ready = ready_item_map(bundle, params)
    if ready is not None:
        return ready
    return _map_or_progress(bundle, params, "items", settle_s)


def _map_or_progress(
    bundle: Bundle, params: ProjectionParams | None, what: str, settle_s: float
) -> ItemMap | None:
    suffix = "" if what == "items" else "_" + what
    previous = existing_projection(bundle, params, what)
    failed = previous.snapshot() if previous is not None else None
    if failed is not None and failed.done and failed.error is not None:
        # a failed map is not retried on every rerun (that would loop): once asked, it starts again
        st.error("could not compute the map: " + md_text(_failure_line(failed.error)))
        if not st.button("Try the map again", key="map_retry" + suffix):
            return None
    job = projection_job(bundle, params, what)
    state = job.wait(settle_s)
    if state.ok:
        return state.result
    if state.done:
        st.error("could not compute the map: " + md_text(_failure_line(state.error)))
        return None
    chosen = params or ProjectionParams()
    label = {"items": "map", "users": "user map", "joint": "map of users and items"}[what]
    _progress_fragment(
        _projection_key(bundle, params, what),
        f"Computing the {chosen.method.upper()} {label}",
        PROGRESS_KEY if what == "items" else USER_PROGRESS_KEY,
    )
    return None


def user_map_or_progress(
    bundle: Bundle, params: ProjectionParams | None = None, *, settle_s: float = 0.3
) -> ItemMap | None:
    """The map of the user vectors (rows in user order) when ready within ``settle_s`` seconds, else None
    with a live progress box (a background job, cached on disk like an item map)."""
    ready = _ready(bundle, params, "users")
    return ready if ready is not None else _map_or_progress(bundle, params, "users", settle_s)


def joint_map_or_progress(
    bundle: Bundle, params: ProjectionParams | None = None, *, settle_s: float = 0.3
) -> ItemMap | None:
    """One projection of items and users stacked (rows ``0..I-1`` the items, then the users), when ready
    within ``settle_s`` seconds, else None with a live progress box."""
    ready = _ready(bundle, params, "joint")
    return ready if ready is not None else _map_or_progress(bundle, params, "joint", settle_s)


@st.cache_data(max_entries=16, show_spinner="Counting exposure…")
def _exposure(path: str, mtime_ns: int, k: int) -> np.ndarray:
    from recaudit.app import audit as app_audit

    bundle = support.get_bundle(path)
    recs = app_audit.get_recommendations(bundle, k)
    pairs = recs[[USER_ID, ITEM_ID]].drop_duplicates()
    rows = bundle.item_row.reindex(pairs[ITEM_ID].to_numpy()).dropna().to_numpy(dtype=np.int64)
    return np.bincount(rows, minlength=len(bundle.items)).astype(np.int64)


def has_exposure(bundle: Bundle) -> bool:
    """Whether exposure can be counted: the bundle has held-out users known to the model."""
    return len(audit_users(bundle)) > 0


def get_exposure(bundle: Bundle, k: int) -> np.ndarray | None:
    """``[I]`` number of held-out users' top-k lists (seen items excluded) containing each item; None
    without test data."""
    if not has_exposure(bundle):
        return None
    return _exposure(*support.disk_key(bundle, "mapped"), int(k))


@st.cache_data(max_entries=64, show_spinner=False)
def _shown_rows(path: str, mtime_ns: int, cap: int, domain: str | None, force: tuple[int, ...]) -> np.ndarray:
    bundle = support.get_bundle(path)
    mask = bundle.domain_mask(domain)
    candidates = np.arange(len(bundle.items)) if mask is None else np.flatnonzero(mask)
    ids = bundle.items[ITEM_ID].astype(str).to_numpy()
    categories = embedding_views.item_categories(bundle.items)
    forced = np.asarray(force, dtype=np.int64)
    forced = forced[np.isin(forced, candidates)]
    keep = sample_items(
        ids[candidates],
        popularity=bundle.item_popularity[candidates],
        categories=None if categories is None else [categories[i] for i in candidates],
        cap=int(cap),
        force=list(ids[forced]),
        seed=0,
    )
    return candidates[np.asarray(keep, dtype=bool)]


def get_shown_rows(
    bundle: Bundle, cap: int, *, domain: str | None = None, force: Sequence[int] = ()
) -> tuple[np.ndarray, int]:
    """Catalogue rows to draw (at most ``cap`` plus ``force``, all when the domain has ≤ cap items) and the
    number of items the domain holds (the N of "showing n of N")."""
    mask = bundle.domain_mask(domain)
    total = len(bundle.items) if mask is None else int(mask.sum())
    force_key = tuple(sorted({int(r) for r in force}))
    return _shown_rows(*support.disk_key(bundle, "mapped"), int(cap), domain, force_key), total


@st.cache_resource(max_entries=8, show_spinner="Indexing item vectors…")
def _neighbour_index(path: str, mtime_ns: int) -> NeighbourIndex:
    return NeighbourIndex(support.get_bundle(path).item_emb, "cosine")


def neighbour_table(bundle: Bundle, rows: Sequence[int], n: int = N_NEIGHBOURS) -> pd.DataFrame:
    """:func:`recaudit.views.embedding.neighbour_table` over the bundle's cached cosine index."""
    index = _neighbour_index(*support.disk_key(bundle, "mapped"))
    return embedding_views.neighbour_table(bundle, index, rows, n)


@st.cache_data(max_entries=8, show_spinner=False)
def _embedding_audit(path: str, mtime_ns: int) -> dict[str, Any]:
    from recaudit.metrics.embedding import embedding_audit

    bundle = support.get_bundle(path)
    return embedding_audit(bundle.item_emb, bundle.item_popularity, k=10, seed=0)


def get_embedding_audit(bundle: Bundle) -> dict[str, Any]:
    """:func:`recaudit.metrics.embedding.embedding_audit` of the item vectors (k = 10, seed 0; cached)."""
    return _embedding_audit(*support.disk_key(bundle, "mapped"))


_AUDITS = JobRegistry(max_jobs=8)
"""Embedding audits of this process in the background, one per bundle version."""
AUDIT_PROGRESS_KEY = "embedding_health_progress"


@st.fragment(run_every=1.0)
def _audit_poller(key: tuple[str, int]) -> None:
    job = _AUDITS.get(key)
    if job is None or job.snapshot().done:
        st.rerun()
    with st.container(key=AUDIT_PROGRESS_KEY):
        st.status(f"Auditing the embeddings: {job.snapshot().elapsed:.0f} s", state="running")


def embedding_audit_or_progress(bundle: Bundle, *, settle_s: float = 2.0) -> dict[str, Any] | None:
    """:func:`get_embedding_audit` when it is done within ``settle_s`` seconds, else None with a small
    progress box: a 1M-item catalogue's audit (hubness over a 200k-item sample) takes minutes on 2 CPUs
    and would otherwise hold the page's script thread and the CPU the browser needs to draw the map.

    Raises:
        Exception: whatever the audit raised (shown by the page's ``guarded``).
    """
    key = support.disk_key(bundle, "mapped")
    running = _AUDITS.get(key)
    job = _AUDITS.start(key, lambda _progress: _embedding_audit(*key), first_step="auditing")
    # wait only for a job started now: a rerun while it runs must not pay settle_s again
    state = job.wait(settle_s if running is None or running is not job else 0.0)
    if state.done:
        if state.error is not None:
            raise state.error
        return state.result
    _audit_poller(key)
    return None


# --------------------------------------------------------------------------------------------------
# large maps: labels, density, drill-down, user statistics


@st.cache_resource(max_entries=8, show_spinner=False)
def _item_labels(path: str, mtime_ns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    from recaudit.data.schema import TITLE

    items = support.get_bundle(path).items
    ids = items[ITEM_ID].astype(str).to_numpy()
    titles = items[TITLE].astype(str).to_numpy() if TITLE in items.columns else ids
    return ids, titles, embedding_views.item_primary_categories(items)


def item_labels(bundle: Bundle) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Item ids, titles (ids without a title column) and primary categories (None without categories), in
    row order; computed once per bundle (1M items: about a second) and shared read-only."""
    return _item_labels(*support.disk_key(bundle, "mapped"))


@st.cache_data(max_entries=8, show_spinner=False)
def _deciles(path: str, mtime_ns: int) -> np.ndarray:
    from recaudit.views.projection import popularity_deciles

    return popularity_deciles(support.get_bundle(path).item_popularity)


def popularity_deciles_of(bundle: Bundle) -> np.ndarray:
    """[I] popularity decile 0..9 of every item (:func:`recaudit.views.projection.popularity_deciles`),
    cached per bundle version (the page colours by it on every rerun)."""
    return _deciles(*support.disk_key(bundle, "mapped"))


@st.cache_data(max_entries=32, show_spinner=False)
def _density(path: str, mtime_ns: int, map_key: str, what: str, domain: str | None, _xy: np.ndarray,
             _rows: np.ndarray | None) -> DensityGrid:  # fmt: skip
    return density_grid(_xy if _rows is None else _xy[_rows])


def get_density(
    bundle: Bundle, mapped: ItemMap, *, what: str = "items", domain: str | None = None,
    rows: np.ndarray | None = None,
) -> DensityGrid:  # fmt: skip
    """:func:`recaudit.views.density.density_grid` of the map's points (``rows`` of them: a domain's
    items), cached per bundle version, map, ``what`` and domain."""
    map_key = f"{mapped.embedding_hash}-{mapped.params.key()}-{mapped.fitted_rows}"
    return _density(*support.disk_key(bundle, "mapped"), map_key, what, domain, mapped.xy, rows)


def region_rows(mapped: ItemMap, region: Region, rows: np.ndarray | None = None) -> np.ndarray:
    """Rows (of ``rows``, default all) of the map whose points lie in the drawn ``region``, ascending."""
    return _region_rows(mapped.xy, region, rows)


def drill_rows(inside: np.ndarray, cap: int, force: Sequence[int] = (), seed: int = 0) -> np.ndarray:
    """At most ``cap`` of the rows ``inside`` a region to draw as points (all when they fit; else a seeded
    uniform sample, ``force`` rows that are inside always kept), ascending."""
    inside = np.asarray(inside, dtype=np.int64)
    if inside.size <= cap:
        return inside
    forced = np.intersect1d(inside, np.asarray(list(force), dtype=np.int64))
    rest = np.setdiff1d(inside, forced, assume_unique=True)
    room = max(int(cap) - forced.size, 0)
    picked = np.random.default_rng(seed).choice(rest, min(room, rest.size), replace=False)
    return np.sort(np.concatenate([forced, picked]))


@st.cache_data(max_entries=8, show_spinner=False)
def _user_stats(path: str, mtime_ns: int) -> tuple[np.ndarray, np.ndarray]:
    bundle = support.get_bundle(path)
    seen = bundle.seen
    activity = np.asarray(seen.sum(axis=1)).ravel().astype(np.int64)
    distinct = np.diff(seen.indptr)
    binary = seen.copy()
    binary.data[:] = 1.0
    summed = binary @ bundle.item_popularity.astype(np.float64)
    taste = np.divide(summed, distinct, out=np.zeros(len(distinct)), where=distinct > 0)
    return activity, taste


def get_user_stats(bundle: Bundle) -> tuple[np.ndarray, np.ndarray]:
    """Per user (row order): activity, the number of training interactions, and popularity taste, the mean
    training popularity φ(i) of the distinct items the user interacted with (0 without any)."""
    return _user_stats(*support.disk_key(bundle, "mapped"))


@st.cache_data(max_entries=32, show_spinner=False)
def _shown_users(path: str, mtime_ns: int, cap: int, force: tuple[int, ...]) -> np.ndarray:
    bundle = support.get_bundle(path)
    activity, _ = get_user_stats(bundle)
    ids = bundle.users[USER_ID].astype(str).to_numpy()
    keep = sample_items(ids, popularity=activity, categories=None, cap=int(cap), force=list(ids[list(force)]))
    return np.flatnonzero(keep)


def get_shown_users(bundle: Bundle, cap: int, force: Sequence[int] = ()) -> np.ndarray:
    """User rows to draw: all when they are at most ``cap``, else a seeded sample stratified by activity
    decile (:func:`recaudit.views.projection.sample_items`), ``force`` rows always kept."""
    return _shown_users(*support.disk_key(bundle, "mapped"), int(cap), tuple(sorted({int(r) for r in force})))
