"""The Live session page's state and sections (an app-support module: it may import Streamlit).

Per browser session and bundle version, ``st.session_state`` holds one :class:`LiveState`: a
:class:`recaudit.realtime.live.LiveScorer` with its own in-process session store, the chosen user, the
current list and the event log. Clicking an item (from the list or from any catalogue item), stepping through
a logged test session, or resetting changes only that state. The tables come from
:mod:`recaudit.views.session`; the comparison of the encoder with the baselines calls
:func:`recaudit.workflows.sessions.evaluate_session_models` on demand (cached per process).
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import streamlit as st

from recaudit.app import map as app_map
from recaudit.app import shell as support
from recaudit.bundle import Bundle
from recaudit.data.schema import ITEM_ID, TITLE
from recaudit.realtime.live import LiveEvent, LiveScorer, LiveUpdate
from recaudit.textsafe import md_code, md_text, plot_text, plot_texts
from recaudit.views import embedding as embedding_views
from recaudit.views import explorer as explore
from recaudit.views import session as views
from recaudit.viz import map_charts

logger = logging.getLogger(__name__)

STATE_PREFIX = "live_state::"
K = 10
MAP_NEIGHBOURS = 15
MAX_PICK_OPTIONS = 5_000
COMPARE_MAX_SESSIONS = 300
"""Test sessions the on-demand comparison uses at most (keeps it well under 30 s on 2 cores)."""


@dataclass
class LiveState:
    """One browser session's live session on one bundle."""

    scorer: LiveScorer
    user: str
    session: int = 0
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    entered: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    records: list[views.EventRecord] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    clicked: list[int] = field(default_factory=list)
    logged: str | None = None
    logged_pos: int = 0


def _key(bundle: Bundle) -> str:
    path, mtime = support.disk_key(bundle, "served live")
    return f"{STATE_PREFIX}{path}:{mtime}"


def _initial(state: LiveState, k: int) -> None:
    """The user's list before any event (fold-in of the history, or the long-term vector)."""
    bundle = state.scorer.bundle
    scorer = support.get_scorer(bundle)
    if state.user in bundle.user_row.index:
        recs = scorer.recommend([state.user], k)
    else:
        recs = scorer.recommend_vectors(np.zeros((1, bundle.dim), np.float32), k, labels=[state.user])
    state.rows = recs.item_index[0].astype(np.int64)
    state.scores = recs.scores[0]


def get_state(bundle: Bundle, user: str, k: int = K) -> LiveState:
    """This browser session's live state for ``bundle`` (a fresh one when the user changed)."""
    key = _key(bundle)
    state = st.session_state.get(key)
    if state is None or state.user != user:
        scorer = state.scorer if state is not None else LiveScorer(bundle, scorer=support.get_scorer(bundle))
        state = LiveState(scorer=scorer, user=user, session=(state.session + 1) if state is not None else 0)
        _initial(state, k)
        st.session_state[key] = state
    return state


def reset(bundle: Bundle, state: LiveState, k: int = K) -> LiveState:
    """A new session for the same user (the old one is dropped from the store)."""
    fresh = LiveState(scorer=state.scorer, user=state.user, session=state.session + 1)
    _initial(fresh, k)
    st.session_state[_key(bundle)] = fresh
    return fresh


def apply_event(state: LiveState, item_row: int, source: str, k: int = K) -> LiveUpdate:
    """Send one event through the live scorer and record what changed."""
    event = LiveEvent(state.user, f"page-{state.session}", int(item_row), float(len(state.records)))
    update = state.scorer.update(event, k)
    entered, left = views.list_changes(state.rows, update.item_rows)
    state.entered, state.left = entered, left
    state.rows, state.scores = update.item_rows.astype(np.int64), update.scores
    state.clicked.append(int(item_row))
    vector = update.session_vector if update.session_vector is not None else update.query
    state.vectors.append(np.asarray(vector, np.float32))
    record = views.EventRecord(
        len(state.records) + 1,
        int(item_row),
        update.latency_ms,
        update.fell_back,
        len(entered),
        len(left),
        source,
    )
    state.records.append(record)
    return update


# --------------------------------------------------------------------------------------------------
# sections


def mode_line(state: LiveScorer) -> None:
    encoder = state.encoder
    if encoder is None:
        st.info(
            f"Mode: **{md_text(state.mode)}**. This bundle has no session encoder: every event refits the "
            "user's vector from the training history plus the session (closed-form fold-in). Train one with "
            "`recaudit train ... --session gru`."
        )
    else:
        st.success(f"Mode: **{md_text(state.mode)}**")


def controls(bundle: Bundle, state: LiveState, k: int) -> None:
    """Click an item of the list or any catalogue item, step a logged session, reset."""
    ids = bundle.items[ITEM_ID].astype(str).to_numpy()
    label = explore.item_label(bundle)
    shown = [int(r) for r in state.rows if r >= 0]
    left, middle, right = st.columns(3)
    with left:
        st.markdown("**Click an item of the list**")
        if shown:
            pick = st.selectbox(
                "Item of the list", [ids[r] for r in shown], key="live_list_item", format_func=label
            )
            if st.button("Click it", key="live_click"):
                apply_event(state, int(bundle.item_row[pick]), "click", k)
                st.rerun()
    with middle:
        st.markdown("**…or any catalogue item**")
        query = st.text_input("Search items by title or id", key="live_query")
        found = explore.search_items(bundle, query, limit=200) if query else []
        if not found:
            order = np.argsort(-bundle.item_popularity, kind="stable")[:MAX_PICK_OPTIONS]
            found = ids[order].tolist()
        pick_any = st.selectbox("Catalogue item", found, key="live_any_item", format_func=label)
        if st.button("Click this item", key="live_click_any"):
            apply_event(state, int(bundle.item_row[pick_any]), "search", k)
            st.rerun()
    with right:
        st.markdown("**Step through a logged session**")
        sessions = views.logged_sessions(bundle.test, state.user)
        if not sessions:
            st.caption("This user has no session in the bundle's test interactions.")
        else:
            chosen = st.selectbox(
                "Test session",
                list(sessions),
                key="live_logged",
                format_func=lambda s: f"{s} ({len(sessions[s])} events)",
            )
            if chosen != state.logged:
                state.logged, state.logged_pos = chosen, 0
            events = sessions[chosen]
            st.caption(f"event {state.logged_pos} of {len(events)} sent")
            if st.button("Next logged event", key="live_step", disabled=state.logged_pos >= len(events)):
                item = events[state.logged_pos]
                row = int(bundle.item_row.get(item, -1))
                state.logged_pos += 1
                apply_event(state, row, f"logged {chosen}", k)
                st.rerun()
        if st.button("Reset session", key="live_reset"):
            reset(bundle, state, k)
            st.rerun()


def list_section(bundle: Bundle, state: LiveState, k: int) -> None:
    n = len(state.records)
    st.subheader(f"Top-{k} after {n} event{'s' if n != 1 else ''}")
    table, changes = st.columns([3, 2])
    with table:
        support.table(views.top_table(bundle.items, state.rows, state.scores), "live_list")
    with changes:
        if state.records:
            last = state.records[-1]
            a, b, c = st.columns(3)
            a.metric("Latency", f"{last.latency_ms:.1f} ms", help="wall time of the last update")
            b.metric("Entered", str(last.entered))
            c.metric("Left", str(last.left))
            if last.fell_back:
                st.warning("The time budget ran out: the base embedding was served (a fallback).")
            support.table(views.changes_table(bundle.items, state.entered, state.left), "live_changes")
        else:
            st.caption("No event yet: this is the user's list from their history alone. Click an item.")


def log_section(bundle: Bundle, state: LiveState) -> None:
    if not state.records:
        return
    st.subheader("Event log")
    log = views.event_log(state.records, bundle.items)
    support.table(log, "live_log")
    lat = log["latency_ms"].to_numpy()
    st.caption(
        f"{len(log)} event{'s' if len(log) != 1 else ''} · median latency {np.median(lat):.1f} ms · "
        f"max {lat.max():.1f} ms · "
        f"{int(log['fallback'].sum())} fallback(s). Latency: wall time of the update (store, query, scoring)."
    )


def path_section(bundle: Bundle, state: LiveState) -> None:
    if not state.vectors:
        return
    item_map = app_map.ready_item_map(bundle)
    st.subheader("The session's path on the item map")
    if item_map is None:
        st.caption("No item map is ready for this bundle: open the Embedding map page once to compute it.")
        return
    path = views.path_points(item_map, bundle.item_emb, state.vectors, k=MAP_NEIGHBOURS)
    clicked = np.asarray([r for r in state.clicked if r >= 0], np.int64)
    shown, total = app_map.get_shown_rows(bundle, app_map.DEFAULT_CAP, force=clicked.tolist())
    ids = bundle.items[ITEM_ID].astype(str).to_numpy()
    titles = bundle.items[TITLE].astype(str).to_numpy() if TITLE in bundle.items.columns else ids
    groups = embedding_views.item_primary_categories(bundle.items)
    xy = item_map.xy
    overlays = [
        map_charts.MapOverlay(
            name="clicked items",
            xy=xy[clicked],
            rows=clicked,
            colour="#111111",
            symbol="circle-open",
            size=10,
            labels=[f"{plot_text(titles[r])} ({plot_text(ids[r])})" for r in clicked],
        ),
        map_charts.MapOverlay(
            name="session vector",
            xy=path[["x", "y"]].to_numpy(),
            rows=np.full(len(path), -1),
            colour="#ffd700",
            symbol="star",
            size=16,
            labels=[f"after event {e}" for e in path["event"]],
        ),
    ]
    fig = map_charts.item_map_figure(
        xy[shown],
        shown,
        popularity=bundle.item_popularity[shown],
        groups=None if groups is None else plot_texts(groups[shown]),
        titles=plot_texts(titles[shown]),
        overlays=overlays,
        height=520,
        title=f"Session path on the {item_map.params.method.upper()} item map",
    )
    fig.add_scatter(
        x=path["x"],
        y=path["y"],
        mode="lines",
        name="path",
        line={"color": "#ffb000", "width": 2},
        hoverinfo="skip",
    )
    st.plotly_chart(fig, key="live_map")
    what = "session vector" if state.scorer.encoder is not None else "fold-in query"
    st.caption(
        f"showing {len(shown):,} of {total:,} items · the {what} after each event, placed at the "
        f"similarity-weighted mean of the map positions of its {MAP_NEIGHBOURS} most cosine-similar items."
    )


def _workflow_available() -> bool:
    return importlib.util.find_spec("recaudit.workflows.sessions") is not None


@st.cache_data(max_entries=8, show_spinner=False)
def _comparison(path: str, mtime_ns: int, k: int, max_sessions: int) -> pd.DataFrame:
    from recaudit.workflows.sessions import evaluate_session_models

    bundle = support.get_bundle(path)
    return evaluate_session_models(bundle, bundle.test, k=k, max_sessions=max_sessions).headline()


def comparison_section(bundle: Bundle, k: int) -> None:
    st.subheader("Encoder vs baselines on the test sessions")
    if not _workflow_available():
        st.info(
            "Not available yet: the session comparison (`recaudit.workflows.sessions`) is not installed in "
            "this version."
        )
        return
    if bundle.test is None or bundle.test.empty:
        st.info("The bundle has no test interactions: there are no test sessions to compare on.")
        return
    key = "live_compare_asked"
    if st.button("Compare on the test sessions", key="live_compare"):
        st.session_state[key] = True
    if not st.session_state.get(key):
        st.caption(
            f"Popularity, co-occurrence, session-kNN, fold-in, the encoder and the fused vector, next-item "
            f"metrics @{k} with 95% intervals, on at most {COMPARE_MAX_SESSIONS} test sessions."
        )
        return
    with st.spinner("Evaluating the session models…"):
        table = support.guarded(
            "could not compare the session models",
            _comparison,
            *support.disk_key(bundle, "compared"),
            int(k),
            COMPARE_MAX_SESSIONS,
        )
    if table is not None:
        support.table(table, "live_compare_table")


def render(bundle: Bundle) -> None:
    """The whole page body for ``bundle``."""
    users = [str(u) for u in bundle.user_ids]
    who, _ = st.columns([1, 3])
    with who:
        query = st.text_input("Search user id", key="live_user_query", placeholder="part of an id")
        matches = explore.filter_ids(users, query, limit=5000)
        if not matches:
            st.warning(md_text(f"No user id contains {query!r}."))
            return
        user = support.sticky(
            st.selectbox, "User", key=support.SELECTED_USER, default=matches[0], options=matches
        )
    state = support.guarded("could not start the live session", get_state, bundle, str(user), K)
    if state is None:
        return
    mode_line(state.scorer)
    st.caption(f"User {md_code(state.user)} · session #{state.session} · {len(state.records)} event(s)")
    controls(bundle, state, K)
    list_section(bundle, state, K)
    log_section(bundle, state)
    path_section(bundle, state)
    comparison_section(bundle, K)
