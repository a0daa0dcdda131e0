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
* :func:`get_embedding_audit`: :func:`recaudit.metrics.embedding.embedding_audit` of the item vectors.

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
from recaudit.views.embedding import N_NEIGHBOURS
from recaudit.views.projection import (
    ItemMap,
    ProjectionParams,
    default_cache_dir,
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


def _projection_key(bundle: Bundle, params: ProjectionParams | None) -> tuple[str, int, str]:
    chosen = params or ProjectionParams()
    return (*support.disk_key(bundle, "mapped"), json.dumps(chosen.to_dict(), sort_keys=True))


def ready_item_map(bundle: Bundle, params: ProjectionParams | None = None) -> ItemMap | None:
    """The map if it is ready now, never waiting: the stored one when ``params`` is None or equal to its
    settings, else a finished on-demand projection with ``params``; None while there is none yet."""
    stored = _stored_map(*support.disk_key(bundle, "mapped"))
    if stored is not None and (params is None or params.key() == stored.params.key()):
        return stored
    job = _PROJECTIONS.get(_projection_key(bundle, params))
    state = job.snapshot() if job is not None else None
    return state.result if state is not None and state.ok else None


def existing_projection(bundle: Bundle, params: ProjectionParams | None = None) -> BackgroundJob | None:
    """The background projection of these parameters if one was started (running, done or failed)."""
    return _PROJECTIONS.get(_projection_key(bundle, params))


def projection_job(bundle: Bundle, params: ProjectionParams | None = None) -> BackgroundJob:
    """The background projection of the bundle's items with ``params`` (default
    :class:`ProjectionParams`): running, finished, or started now. The disk cache under
    :func:`recaudit.views.projection.default_cache_dir` makes a repeat nearly instant."""
    key = _projection_key(bundle, params)
    path, mtime_ns, params_json = key

    def work(progress: Callable[[str, float], None]) -> ItemMap:
        source = support.get_bundle(path)
        chosen = ProjectionParams.from_dict(json.loads(params_json))
        return project_items(
            source.item_emb, source.items[ITEM_ID].astype(str).to_numpy(), chosen,
            cache_dir=default_cache_dir(), progress=progress,
        )

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
def _progress_fragment(key: tuple[str, int, str], label: str) -> None:
    job = _PROJECTIONS.get(key)
    if job is None:  # dropped from the registry: start over on a full rerun
        st.rerun()
    state = job.snapshot()
    if state.done:
        st.rerun()  # the whole page, now with its map (or the error, shown once, with a retry button)
    with st.container(key=PROGRESS_KEY):
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
    previous = existing_projection(bundle, params)
    failed = previous.snapshot() if previous is not None else None
    if failed is not None and failed.done and failed.error is not None:
        # a failed map is not retried on every rerun (that would loop): once asked, it starts again
        st.error("could not compute the map: " + md_text(_failure_line(failed.error)))
        if not st.button("Try the map again", key="map_retry"):
            return None
    job = projection_job(bundle, params)
    state = job.wait(settle_s)
    if state.ok:
        return state.result
    if state.done:
        st.error("could not compute the map: " + md_text(_failure_line(state.error)))
        return None
    chosen = params or ProjectionParams()
    _progress_fragment(_projection_key(bundle, params), f"Computing the {chosen.method.upper()} map")
    return None


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


@st.cache_data(max_entries=8, show_spinner="Auditing the embeddings…")
def _embedding_audit(path: str, mtime_ns: int) -> dict[str, Any]:
    from recaudit.metrics.embedding import embedding_audit

    bundle = support.get_bundle(path)
    return embedding_audit(bundle.item_emb, bundle.item_popularity, k=10, seed=0)


def get_embedding_audit(bundle: Bundle) -> dict[str, Any]:
    """:func:`recaudit.metrics.embedding.embedding_audit` of the item vectors (k = 10, seed 0; cached)."""
    return _embedding_audit(*support.disk_key(bundle, "mapped"))
