"""User explorer: a user's history, live top-k, a second bundle side by side, what-if edits."""

from collections.abc import Callable

import pandas as pd
import streamlit as st

from recaudit.app import shell as support
from recaudit.bundle import list_bundles
from recaudit.textsafe import md_text
from recaudit.views import explorer as explore

bundle = support.require_bundle()
scorer = support.guarded("could not build the scorer", support.get_scorer, bundle)
if scorer is None:
    st.stop()
st.title("🧑 User explorer")


def side_by_side(*panes: tuple[str, pd.DataFrame, str], title: Callable[[str], object] = st.caption) -> list:
    """One column per ``(heading, table, key)`` pane: the heading (``title``: st.caption or st.subheader)
    over the keyed table. Returns the columns, for what goes under a table."""
    columns = st.columns(len(panes))
    for column, (heading, frame, key) in zip(columns, panes, strict=True):
        with column:
            title(heading)
            support.table(frame, key)
    return columns


# ---- who and how -------------------------------------------------------------------------------
pick, settings = st.columns([1, 2])
with pick:
    query = st.text_input("Search user id", key="user_query", placeholder="part of an id")
    matches = explore.filter_ids(bundle.user_ids, query, limit=5000)
    if not matches:
        st.warning(md_text(f"No user id contains {query!r}."))
        st.stop()
    user = support.sticky(
        st.selectbox, "User", key=support.SELECTED_USER, default=matches[0], options=matches
    )
    st.caption(
        f"{len(matches):,} matching users"
        + (" (first 5,000 shown)" if len(matches) == 5000 else "")
    )
with settings:
    a, b, c = st.columns(3)
    with a:
        domains = [support.ALL_DOMAINS, *bundle.domains]
        domain = support.sticky(
            st.selectbox, "Domain", key="domain", default=support.ALL_DOMAINS, options=domains
        )
    with b:
        k = support.sticky(st.slider, "k", key="k", default=10, min_value=1, max_value=100)
    with c:
        exclude_seen = support.sticky(
            st.toggle, "Exclude seen items", key="exclude_seen", default=True
        )
domain_filter = None if domain == support.ALL_DOMAINS else domain

# ---- history and live recommendations -----------------------------------------------------------
history = explore.history_table(bundle, user)
recs, latency_ms = explore.recommend_user(
    bundle, scorer, user, k, exclude_seen=exclude_seen, domain=domain_filter
)
_, right = side_by_side(
    (f"History ({len(history)})", history, "history"), (f"Top-{k} for {md_text(user)}", recs, "recs"),
    title=st.subheader,
)
right.caption(f"scored in {latency_ms:.1f} ms on {scorer.device}")

# ---- compare with a second bundle ---------------------------------------------------------------
others = [p.name for p in list_bundles(support.bundle_dir()) if p.name != bundle.name]
if others:
    st.subheader("Compare with another bundle")
    other_name = support.sticky(
        st.selectbox, "Second bundle", key="compare_bundle", default=others[0], options=others
    )
    other = support.try_load(support.bundle_dir() / other_name)
    if other is not None and user not in other.user_row.index:
        st.info(f"User {md_text(user)} is not in bundle {md_text(other_name)}: nothing to compare.")
    elif (other_scorer := support.guarded("second bundle", support.get_scorer, other)) is not None:
        other_recs, other_ms = explore.recommend_user(
            other,
            other_scorer,
            user,
            k,
            exclude_seen=exclude_seen,
            domain=domain_filter if domain_filter in other.domains else None,
        )
        if domain_filter is not None and domain_filter not in other.domains:
            st.caption(md_text(f"{other_name} has no domain {domain_filter!r}: its list is unfiltered."))
        common, jaccard = explore.overlap(recs["item_id"], other_recs["item_id"])
        m1, m2 = st.columns(2)
        m1.metric("Overlap", f"{common} of {k}")
        m2.metric("Jaccard", f"{jaccard:.2f}")
        side_by_side(
            (md_text(bundle.name), recs, "compare_a"),
            (f"{md_text(other_name)} ({other_ms:.1f} ms)", other_recs, "compare_b"),
        )


# ---- what-if: edit the history, fold the user in again ------------------------------------------
@st.fragment
def what_if_section(user: str, k: int, domain: str | None, live: list[str] | None) -> None:
    """Refit the user's vector on an edited history (closed-form fold-in) and compare the lists."""
    st.subheader("What if the history were different?")
    if st.session_state.get("what_if_user") != user:  # a new user starts with no edits
        st.session_state.update(what_if_user=user, wi_remove=[], wi_add=[])
    label = explore.item_label(bundle)
    history_ids = explore.history_ids(bundle, user)
    remove = st.multiselect("Remove from history", history_ids, key="wi_remove", format_func=label)
    found = explore.search_items(bundle, st.text_input("Find catalogue items", key="wi_query"))
    chosen = st.session_state.get("wi_add", [])
    add = st.multiselect(
        "Add to history", list(dict.fromkeys([*chosen, *found])), key="wi_add", format_func=label
    )
    if not remove and not add:
        st.caption("Remove or add items to see how the list would change (no retraining).")
        return
    edited = explore.edit_history(history_ids, remove, add)
    foldin = support.get_foldin(bundle)
    before = explore.what_if(bundle, scorer, foldin, history_ids, k, domain=domain)
    after = explore.what_if(bundle, scorer, foldin, edited, k, domain=domain)
    entered, left_ = explore.list_changes(before["item_id"], after["item_id"])
    side_by_side(
        (f"before: fold-in of the full history ({len(history_ids)} items)", before, "what_if_before"),
        (f"after: fold-in of the edited history ({len(edited)} items)", after, "what_if_after"),
    )
    # item titles and ids come from the data: each label is shown as text, only the prefix is bold
    st.markdown(f"**Entered ({len(entered)}):** " + (", ".join(md_text(label(i)) for i in entered) or "none"))
    st.markdown(f"**Left ({len(left_)}):** " + (", ".join(md_text(label(i)) for i in left_) or "none"))
    note = (
        "Both lists come from fold-in vectors, so the change is due to the edits alone; each list "
        "excludes its own history."
    )
    if live is not None:
        agree, _ = explore.overlap(before["item_id"], live)
        note += (
            f" The fold-in of the full history shares {agree} of {k} items with the model's list."
        )
    st.caption(note)


what_if_section(user, k, domain_filter, recs["item_id"].tolist() if exclude_seen else None)
