"""Embedding map: the items in 2-D (UMAP or PCA), the selected user's history, top-k and position on it."""

import numpy as np
import streamlit as st

from recaudit.app import map as app_map
from recaudit.app import shell as support
from recaudit.app import user_map as user_maps
from recaudit.app.audit import AUDIT_K, fmt
from recaudit.data.schema import CATEGORY, DOMAIN, PROVIDER
from recaudit.textsafe import md_text, plot_text, plot_texts
from recaudit.views import embedding as embedding_views
from recaudit.views import explorer as explore
from recaudit.views.density import OVERVIEW_POINTS, density_threshold
from recaudit.views.projection import ProjectionParams, place_users
from recaudit.viz import map_charts

bundle = support.require_bundle()
st.title(f"🗺️ Embedding map: {md_text(bundle.name)}")

# ---- which map -----------------------------------------------------------------------------------
requested = st.session_state.get(app_map.MAP_PARAMS)
current = ProjectionParams.from_dict(requested) if requested else None
with st.expander("Projection settings", expanded=False):
    a, b, c, d = st.columns([1, 1, 1, 1])
    base = current or ProjectionParams()
    method = a.selectbox(
        "Method", ["umap", "pca"], index=["umap", "pca"].index(base.method), key="map_method"
    )
    neighbours = b.slider(
        "n_neighbors", 2, 200, int(base.n_neighbors), key="map_n_neighbors", disabled=method == "pca"
    )
    min_dist = c.slider(
        "min_dist", 0.0, 0.99, float(base.min_dist), step=0.01, key="map_min_dist", disabled=method == "pca"
    )
    d.write("")
    if d.button("Compute map", key="map_compute"):
        chosen = ProjectionParams(method=method, n_neighbors=int(neighbours), min_dist=float(min_dist))
        st.session_state[app_map.MAP_PARAMS] = chosen.to_dict()
        current = chosen
    st.caption(
        "UMAP takes about 15 s for 10k items and 90 s for 100k on 2 CPUs (once: maps are cached on disk)."
    )

view = st.radio("Map of", list(user_maps.VIEWS), horizontal=True, key="map_view")
# A map not stored in the bundle is computed in the background: a progress box shows its step and
# elapsed time while the rest of the page (embedding health below) is already usable.
item_map = scorer = None
if user_maps.VIEWS[view] != "items":
    # user maps follow the item map's settings: the ones asked for, else the stored map's
    stored = app_map.ready_item_map(bundle) if current is None else None
    user_maps.user_map_section(bundle, current or (stored.params if stored else None), user_maps.VIEWS[view])
else:
    item_map = support.guarded("could not compute the map", app_map.item_map_or_progress, bundle, current)
if item_map is not None:
    params = item_map.params
    st.caption(
        f"{params.method.upper()}"
        + (
            f" (n_neighbors={params.n_neighbors}, min_dist={params.min_dist:g}, {params.metric})"
            if params.method == "umap"
            else ""
        )
        + f" of {len(item_map.xy):,} item vectors"
        + (f" ({item_map.describe_fit()})" if item_map.fitted_rows else "")
        + (
            " · stored in the bundle or cached"
            if item_map.from_cache
            else f" · computed in {item_map.seconds:.1f} s"
        )
    )
    scorer = support.guarded("could not build the scorer", support.get_scorer, bundle)

COLOUR_OPTIONS = {
    "category": CATEGORY,
    "domain": DOMAIN,
    "provider": PROVIDER,
    "popularity decile": None,
    "exposure": None,
}


@st.fragment
def map_section() -> None:
    """Controls, the chart and the selection table; reruns alone when an overlay or selection changes."""
    k_exposure = int(st.session_state.get(AUDIT_K, 10))
    can_expose = app_map.has_exposure(bundle)
    colours = [
        name
        for name, column in COLOUR_OPTIONS.items()
        if (column is not None and column in bundle.items.columns)
        or name == "popularity decile"
        or (name == "exposure" and can_expose)
    ]

    who, view = st.columns([1, 2])
    with who:
        query = st.text_input("Search user id", key="map_user_query", placeholder="part of an id")
        matches = explore.filter_ids(bundle.user_ids, query, limit=5000)
        user = None
        if matches:
            user = support.sticky(
                st.selectbox, "User", key=support.SELECTED_USER, default=matches[0], options=matches
            )
        else:
            st.warning(md_text(f"No user id contains {query!r}."))
        k = support.sticky(
            st.slider, "Recommendations shown (k)", key="map_k", default=10, min_value=1, max_value=50
        )
    with view:
        one, two, three = st.columns(3)
        domain = one.selectbox("Domain", [support.ALL_DOMAINS, *bundle.domains], key="map_domain")
        colour_by = two.selectbox("Colour by", colours, key="map_colour")
        cap = three.number_input(
            "Point cap",
            min_value=1_000,
            max_value=200_000,
            value=app_map.DEFAULT_CAP,
            step=5_000,
            key="map_cap",
        )
        size_by = st.toggle(
            f"Size by exposure (top-{k_exposure} lists of held-out users)",
            key="map_size",
            disabled=not can_expose,
        )
        found_query = st.text_input("Find an item by title or id", key="map_item_query")
        found_ids = explore.search_items(bundle, found_query) if found_query else []
        found = (
            st.selectbox(
                "Jump to",
                found_ids,
                key="map_item",
                format_func=explore.item_label(bundle),
                disabled=not found_ids,
            )
            if found_ids
            else None
        )
    domain_filter = None if domain == support.ALL_DOMAINS else domain

    ids, titles, primary = app_map.item_labels(bundle)
    xy = item_map.xy
    history = rec_rows = np.zeros(0, dtype=np.int64)
    user_xy = None
    if user is not None:
        row = int(bundle.user_row[user])
        history = np.sort(bundle.seen[row].indices).astype(np.int64)
        recs = scorer.recommend([user], k=int(k), candidates=bundle.domain_mask(domain_filter))
        rec_rows = recs.item_index[0][recs.item_index[0] >= 0].astype(np.int64)
        user_xy = place_users(item_map, bundle.item_emb, bundle.user_emb[[row]], k=15, score=bundle.score)
    found_row = int(bundle.item_row[found]) if found else None
    force = [*history.tolist(), *rec_rows.tolist(), *([found_row] if found_row is not None else [])]
    # above the density threshold: all items as a density grid under a sample, a drawn region drills down
    n_domain = len(bundle.items) if domain_filter is None else int(bundle.domain_mask(domain_filter).sum())
    dense = n_domain > density_threshold()
    overview_cap = min(int(cap), OVERVIEW_POINTS) if dense else int(cap)
    shown, total = app_map.get_shown_rows(bundle, overview_cap, domain=domain_filter, force=force)

    popularity = bundle.item_popularity
    # exposure (scores every held-out user once, cached) only when the colour or the size needs it
    wants = can_expose and (colour_by == "exposure" or size_by)
    exposure_all = app_map.get_exposure(bundle, k_exposure) if wants else None
    shown_user = plot_text(user)

    def colours(rows: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """(groups as plotly text, colour values, exposure) of the item ``rows``."""
        exposure = None if exposure_all is None else exposure_all[rows]
        groups = colour_values = None
        if colour_by == "popularity decile":
            groups = np.array([f"D{d:02d}" for d in app_map.popularity_deciles_of(bundle)[rows] + 1])
        elif colour_by == "exposure" and exposure is not None:
            colour_values = exposure
        elif COLOUR_OPTIONS.get(colour_by):
            column = COLOUR_OPTIONS[colour_by]
            if column == CATEGORY:
                groups = primary[rows]
            else:
                groups = bundle.items[column].to_numpy(dtype=object)[rows]
        return (None if groups is None else plot_texts(groups)), colour_values, exposure

    def overlay(name: str, rows: np.ndarray, colour: str, symbol: str, size: float) -> map_charts.MapOverlay:
        return map_charts.MapOverlay(
            name=name,
            xy=xy[rows],
            rows=rows,
            colour=colour,
            symbol=symbol,
            size=size,
            labels=[f"{plot_text(titles[r])} ({plot_text(ids[r])})" for r in rows],
        )

    overlays = []
    if user is not None:
        overlays.append(overlay(f"history of {shown_user}", history, "#111111", "circle-open", 9))
        overlays.append(overlay(f"top-{k} for {shown_user}", rec_rows, "#e31a1c", "diamond", 11))
        overlays.append(
            map_charts.MapOverlay(
                name=f"user {shown_user}",
                xy=user_xy,
                rows=np.array([-1]),
                colour="#ffd700",
                symbol="star",
                size=20,
                labels=[shown_user],
            )
        )
    if found_row is not None:
        overlays.append(overlay("found item", np.array([found_row]), "#00bcd4", "cross", 16))
    def figure(rows: np.ndarray, density: object = None) -> object:
        groups, colour_values, exposure = colours(rows)
        return map_charts.item_map_figure(
            xy[rows], rows, popularity=popularity[rows], groups=groups, group_name=colour_by,
            colour_values=colour_values, colour_label=f"exposure @ {k_exposure}", exposure=exposure,
            size_by_exposure=bool(size_by and exposure is not None), titles=plot_texts(titles[rows]),
            overlays=overlays, focus=tuple(xy[found_row]) if found_row is not None else None,
            density=density,
        )  # fmt: skip

    mask = bundle.domain_mask(domain_filter)
    domain_rows = None if mask is None else np.flatnonzero(mask)
    grid = app_map.get_density(bundle, item_map, domain=domain_filter, rows=domain_rows) if dense else None
    event = st.plotly_chart(
        figure(shown, grid), key="embedding_map", on_select="rerun", selection_mode=("points", "box", "lasso")
    )
    st.caption(
        f"showing {len(shown):,} of {total:,} items"
        + (
            " (seeded sample stratified by popularity decile and category; the user's items always shown)"
            if len(shown) < total
            else ""
        )
        + (" over the density of all of them (shade: items per cell, log scale)" if dense else "")
        + (
            f" · user placed at the similarity-weighted mean of its 15 most similar items ({bundle.score})"
            if user is not None
            else ""
        )
    )

    selected = map_charts.selected_rows(event)
    if dense:  # drill down: every item of the drawn region as points, their selection (or all) listed
        region = map_charts.selected_region(event)
        if region is None:
            st.caption("Draw a box (or lasso) on the map to see every item of that region as points.")
            return
        inside = app_map.region_rows(item_map, region, domain_rows)
        drawn = app_map.drill_rows(inside, int(cap), force=force)
        st.subheader(f"Region: {len(inside):,} items")
        picked = st.plotly_chart(
            map_charts.zoom_to(figure(drawn), region), key="embedding_map_region", on_select="rerun",
            selection_mode=("points", "box", "lasso"),
        )
        st.caption(
            f"{region.describe()}: {len(inside):,} items"
            + (f", a seeded sample of {len(drawn):,} drawn" if len(drawn) < len(inside) else ", all drawn")
        )
        selected = map_charts.selected_rows(picked)
        selected = selected if selected.size else inside
    st.subheader(f"Selected items ({len(selected)})")
    if selected.size == 0:
        st.caption("Select points on the map (box or lasso) to list them with their 5 nearest items.")
        return
    limit = 500
    table = app_map.neighbour_table(bundle, selected[:limit])
    support.table(table, "map_selection")
    st.caption(
        ("" if selected.size <= limit else f"first {limit} of {selected.size:,} selected items; ")
        + "neighbours: the 5 most cosine-similar item vectors (exact search), the item itself excluded."
    )


if item_map is not None and scorer is not None:
    map_section()

# ---- embedding health ----------------------------------------------------------------------------
st.subheader("Embedding health")
health = support.guarded("embedding audit", app_map.embedding_audit_or_progress, bundle)
if health is not None:
    frame = embedding_views.health_frame(health)
    for column, row in zip(st.columns(max(len(frame), 1)), frame.itertuples(index=False), strict=False):
        column.metric(row.measure, fmt(row.value, 3), help=row[2])
    support.table(frame, "embedding_health")
    hubs = embedding_views.top_hubs_frame(health, bundle.items)
    if not hubs.empty:
        st.caption(
            f"Top hubs: items most often among other items' {health['hubness'].get('k', 10)} nearest "
            "neighbours (Radovanović et al. 2010)."
        )
        support.table(hubs, "embedding_hubs")
