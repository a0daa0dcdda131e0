"""The user map and the joint user + item map of the Embedding map page (an app-support module: Streamlit).

Why: the item map shows which items a model lumps together, but a fairness reviewer asks the same of users:
which user groups (light or heavy users, mainstream or niche tastes, a segment of the users table) sit
together in the model's space, and where users sit relative to the items. So the page offers three views:

* ``items``: the item map (drawn by the page itself);
* ``users``: the user vectors projected on their own, coloured by activity (training interactions),
  popularity taste (mean training popularity of the user's items) or any column of the users table;
* ``users and items``: one projection of both tables stacked, coloured by kind.

Both user views are projected like an on-demand item map (:func:`recaudit.app.map.user_map_or_progress`,
a background job with progress, cached on disk, the item map's parameters) and drawn like a large item map:
above :func:`recaudit.views.density.density_threshold` points a density layer of all points under a seeded
sample, with a box or lasso drill-down to the actual points of a region.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from recaudit.app import map as app_map
from recaudit.app import shell as support
from recaudit.bundle import Bundle
from recaudit.data.schema import ITEM_ID, USER_ID
from recaudit.textsafe import plot_text, plot_texts
from recaudit.views.density import OVERVIEW_POINTS, density_threshold
from recaudit.views.projection import ItemMap, ProjectionParams
from recaudit.viz import map_charts

__all__ = ["USER_COLOURS", "VIEWS", "colour_options", "user_map_section"]

VIEWS = {"items": "items", "users": "users", "users and items": "joint"}
"""The page's view choices and the map each lays out (:data:`recaudit.app.map.WHAT`)."""
USER_COLOURS = ("activity", "popularity taste")
"""Colours every user map offers; the users table's own columns follow."""
MAX_GROUPS = 12
TABLE_LIMIT = 500


def colour_options(bundle: Bundle) -> list[str]:
    """Activity, popularity taste, then every column of the users table except the id."""
    return [*USER_COLOURS, *[str(c) for c in bundle.users.columns if c != USER_ID]]


def _user_colours(
    bundle: Bundle, colour_by: str, rows: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """(groups, colour values, colour-bar title) of the users ``rows`` for ``colour_by``."""
    activity, taste = app_map.get_user_stats(bundle)
    if colour_by == "activity":
        return None, np.log10(1.0 + activity[rows]), "log10(1 + interactions)"
    if colour_by == "popularity taste":
        return None, np.log10(1.0 + taste[rows]), "log10(1 + mean item popularity)"
    column = bundle.users[colour_by]
    if pd.api.types.is_numeric_dtype(column) and column.nunique() > MAX_GROUPS:
        return None, column.to_numpy(dtype=np.float64)[rows], plot_text(colour_by)
    return plot_texts(column.astype(str).to_numpy()[rows]), None, plot_text(colour_by)


def _caption(mapped: ItemMap, what: str) -> str:
    params = mapped.params
    text = f"{params.method.upper()} of {len(mapped.xy):,} {what} vectors"
    fit = mapped.describe_fit(what)
    text += f" ({fit})" if fit else ""
    return text + (" · cached" if mapped.from_cache else f" · computed in {mapped.seconds:.1f} s")


def _selected_user_overlay(bundle: Bundle, xy: np.ndarray, offset: int) -> list[map_charts.MapOverlay]:
    """A star on the user picked in the item view (the durable selected-user key), when there is one."""
    user = st.session_state.get(support.SELECTED_USER)
    if user is None or user not in bundle.user_row.index:
        return []
    row = int(bundle.user_row[user])
    return [
        map_charts.MapOverlay(
            name=f"user {plot_text(user)}",
            xy=xy[[offset + row]],
            rows=np.array([-1]),
            colour="#ffd700",
            symbol="star",
            size=18,
            labels=[plot_text(user)],
        )
    ]


def _drill_down(
    bundle: Bundle, mapped: ItemMap, event: object, key: str, cap: int, draw: object
) -> np.ndarray | None:
    """The region drawn on a density overview: its rows drawn as points by ``draw(rows)`` (a figure), and
    the rows selected there (or every row of the region); None while no region is drawn."""
    region = map_charts.selected_region(event)  # type: ignore[arg-type]
    if region is None:
        st.caption("Draw a box (or lasso) on the map to see every point of that region.")
        return None
    inside = app_map.region_rows(mapped, region)
    drawn = app_map.drill_rows(inside, cap)
    st.subheader(f"Region: {len(inside):,} points")
    picked = st.plotly_chart(
        map_charts.zoom_to(draw(drawn), region), key=key + "_region", on_select="rerun",
        selection_mode=("points", "box", "lasso"),
    )
    st.caption(
        f"{region.describe()}: {len(inside):,} points"
        + (f", a seeded sample of {len(drawn):,} drawn" if len(drawn) < len(inside) else ", all drawn")
    )
    chosen = map_charts.selected_rows(picked)  # type: ignore[arg-type]
    return chosen if chosen.size else inside


def _users_view(bundle: Bundle, mapped: ItemMap, cap: int, controls: object) -> None:
    activity, taste = app_map.get_user_stats(bundle)
    colour_by = controls.selectbox("Colour users by", colour_options(bundle), key="user_map_colour")
    ids = bundle.users[USER_ID].astype(str).to_numpy()
    n = len(ids)
    dense = n > density_threshold()
    user = st.session_state.get(support.SELECTED_USER)
    force = [int(bundle.user_row[user])] if user is not None and user in bundle.user_row.index else []
    shown = app_map.get_shown_users(bundle, min(cap, OVERVIEW_POINTS) if dense else cap, force)
    grid = app_map.get_density(bundle, mapped, what="users") if dense else None

    def figure(rows: np.ndarray, with_density: bool) -> object:
        groups, values, label = _user_colours(bundle, colour_by, rows)
        return map_charts.item_map_figure(
            mapped.xy[rows], rows, popularity=activity[rows], exposure=taste[rows], groups=groups,
            group_name=plot_text(colour_by), colour_values=values, colour_label=label,
            titles=plot_texts(ids[rows]), hover_labels=("interactions", "mean item popularity"),
            base_name="users", density=grid if with_density else None, density_of="users",
            overlays=_selected_user_overlay(bundle, mapped.xy, 0), max_groups=MAX_GROUPS,
        )  # fmt: skip

    event = st.plotly_chart(
        figure(shown, dense), key="user_map", on_select="rerun", selection_mode=("points", "box", "lasso")
    )
    st.caption(
        f"showing {len(shown):,} of {n:,} users"
        + (" (seeded sample stratified by activity decile)" if len(shown) < n else "")
        + (" over the density of all users (shade: users per cell, log scale)" if dense else "")
    )
    rows = (
        _drill_down(bundle, mapped, event, "user_map", cap, lambda r: figure(r, False))
        if dense
        else map_charts.selected_rows(event)  # type: ignore[arg-type]
    )
    if rows is None or rows.size == 0:
        if not dense:
            st.caption("Select users on the map (box or lasso) to list them.")
        return
    table = bundle.users.iloc[rows[:TABLE_LIMIT]].copy()
    table.insert(1, "interactions", activity[rows[:TABLE_LIMIT]])
    table.insert(2, "mean item popularity", np.round(taste[rows[:TABLE_LIMIT]], 1))
    st.subheader(f"Selected users ({rows.size:,})")
    support.table(table, "user_map_selection")


def _joint_view(bundle: Bundle, mapped: ItemMap, cap: int, controls: object) -> None:
    activity, _ = app_map.get_user_stats(bundle)
    n_items, n_users = len(bundle.items), len(bundle.users)
    dense = n_items + n_users > density_threshold()
    half = max((min(cap, OVERVIEW_POINTS) if dense else cap) // 2, 1)
    item_rows, _ = app_map.get_shown_rows(bundle, half)
    user_rows = app_map.get_shown_users(bundle, half)
    shown = np.concatenate([item_rows, n_items + user_rows])
    counts = np.concatenate([bundle.item_popularity, activity])
    item_ids = bundle.items[ITEM_ID].astype(str).to_numpy()
    user_ids = bundle.users[USER_ID].astype(str).to_numpy()
    grid = app_map.get_density(bundle, mapped, what="users and items") if dense else None

    def labels(rows: np.ndarray) -> np.ndarray:
        is_user = rows >= n_items
        out = np.empty(rows.size, dtype=object)
        out[~is_user] = np.char.add("item ", item_ids[rows[~is_user]])
        out[is_user] = np.char.add("user ", user_ids[rows[is_user] - n_items])
        return out

    def figure(rows: np.ndarray, with_density: bool) -> object:
        kinds = np.where(rows >= n_items, "users", "items")
        return map_charts.item_map_figure(
            mapped.xy[rows], rows, popularity=counts[rows], groups=kinds, group_name="kind",
            colours={"items": "#4c72b0", "users": "#dd8452"}, titles=plot_texts(labels(rows)),
            hover_labels=("train interactions", ""), density=grid if with_density else None,
            density_of="users and items", overlays=_selected_user_overlay(bundle, mapped.xy, n_items),
        )  # fmt: skip

    event = st.plotly_chart(
        figure(shown, dense), key="joint_map", on_select="rerun", selection_mode=("points", "box", "lasso")
    )
    st.caption(
        f"showing {item_rows.size:,} of {n_items:,} items and {user_rows.size:,} of {n_users:,} users "
        "projected together (rows: items, then users)"
        + (" over the density of all of them (shade: points per cell, log scale)" if dense else "")
    )
    rows = (
        _drill_down(bundle, mapped, event, "joint_map", cap, lambda r: figure(r, False))
        if dense
        else map_charts.selected_rows(event)  # type: ignore[arg-type]
    )
    if rows is None or rows.size == 0:
        return
    rows = rows[:TABLE_LIMIT]
    is_user = rows >= n_items
    table = pd.DataFrame(
        {
            "kind": np.where(is_user, "user", "item"),
            "id": labels(rows),
            "train interactions": counts[rows],
        }
    )
    st.subheader(f"Selected points ({rows.size:,})")
    support.table(table, "joint_map_selection")


@st.fragment
def user_map_section(bundle: Bundle, params: ProjectionParams | None, what: str) -> None:
    """The ``users`` or ``joint`` view: the map (or its progress box), its colours, the drill-down and the
    selection table; reruns alone when a control or selection changes."""
    fetch = app_map.user_map_or_progress if what == "users" else app_map.joint_map_or_progress
    mapped = support.guarded("could not compute the map", fetch, bundle, params)
    if mapped is None:
        return
    st.caption(_caption(mapped, "user" if what == "users" else "user and item"))
    controls, right = st.columns([2, 1])
    cap = int(
        right.number_input(
            "Point cap", min_value=1_000, max_value=200_000, value=app_map.DEFAULT_CAP, step=5_000,
            key="user_map_cap",
        )
    )  # fmt: skip
    (_users_view if what == "users" else _joint_view)(bundle, mapped, cap, controls)
