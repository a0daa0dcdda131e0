"""Diversity & popularity: exposure concentration, the long tail, popularity bias and calibration, and for a
recommendation log with timestamps, exposure over time."""

import numpy as np
import streamlit as st

from recaudit.app import audit
from recaudit.app import shell as support
from recaudit.bundle.logs import RecLog
from recaudit.metrics import AuditResult, metric_names
from recaudit.metrics.calibration import category_distributions
from recaudit.metrics.exposure import gini_at_k
from recaudit.metrics.windows import WINDOWS
from recaudit.textsafe import md_code, md_text, plot_text
from recaudit.viz import audit_charts as charts
from recaudit.viz import window_charts

source = support.require_source()
st.title(f"🌈 Diversity & popularity: {md_text(source.name)}")
audit.require_test_data(source)

k = audit.k_selector(options=audit.k_options(source))
# Slow steps are named as they run (scoring, aligning, bootstrapping); what needs only the lists (the
# exposure charts) is drawn before the metrics, whose cards fill the space reserved for them above.
steps = support.StepStatus("Preparing the audit")
inputs = support.guarded("audit inputs", lambda: audit.audit_steps(source, k, steps))
if inputs is None:
    steps.done()
    st.stop()
lists = inputs.lists.truncate(k)
st.caption(
    f"{lists.n_users:,} held-out users, top-{k} lists over a catalogue of {lists.n_items:,} items. "
    "Definitions: docs/metrics.md; intervals: 95% percentile bootstrap over users."
)

# ---------------------------------------------------------------------------------------------- cards
cards_area = st.container()  # filled once the metrics are computed, below the charts' code


NAMES = metric_names(set="diversity")  # the cards, from the metric catalogue


def metric_cards(result: AuditResult) -> None:
    """The headline metric cards with their intervals, and what could not be computed."""
    names = [f"{n}@{k}" for n in NAMES if f"{n}@{k}" in result.values]
    cards = charts.metric_cards_frame(result, names)
    for column, row in zip(st.columns(len(cards)), cards.itertuples(index=False), strict=True):
        interval = (
            ""
            if np.isnan(row.ci_low)
            else f"95% CI {audit.fmt(row.ci_low, 3)} – {audit.fmt(row.ci_high, 3)}"
        )
        column.metric(row.metric, audit.fmt(row.value, 3), help=md_text(row.help))
        if interval:
            column.caption(interval)
    with st.expander("All numbers"):
        support.table(cards, "diversity_metrics")
    missing = [f"{n}@{k}" for n in NAMES if f"{n}@{k}" not in result.values]
    if missing:
        # reasons may quote data
        reasons = (md_text(f"{m} ({result.skipped.get(m, 'n/a')})") for m in missing)
        st.caption("Not computed: " + "; ".join(reasons))


# ----------------------------------------------------------------------------------- exposure charts
counts = lists.exposure_counts()
gini_k = gini_at_k(lists)  # the registry's gini@k, from the lists alone
left, right = st.columns(2)
with left:
    st.subheader("Exposure concentration")
    st.plotly_chart(
        charts.lorenz_chart(counts, gini=gini_k, title=f"Lorenz curve of c_i @ {k}"),
        key="lorenz_chart",
    )
    st.caption(
        f"Gini@{k} = {audit.fmt(gini_k)} over all {lists.n_items:,} catalogue items "
        "(RecBole GiniIndex; never-recommended items included): 0 = equal exposure."
    )
with right:
    st.subheader("Long tail")
    st.plotly_chart(
        charts.long_tail_chart(inputs.item_popularity, counts, head_mask=inputs.head_mask),
        key="long_tail_chart",
    )
    st.caption(
        f"Items by training popularity rank; the head ({int(inputs.head_mask.sum()):,} items) holds 80% of "
        "training interactions."
    )

# ------------------------------------------------------------------------------------- the metrics
steps.step("computing every metric with 1,000-resample bootstrap intervals (3 of 3)")
result = support.guarded("audit", lambda: audit.get_audit(source, k))
steps.done()
if result is None:
    st.stop()
with cards_area:
    metric_cards(result)

# ------------------------------------------------------------------------------------ popularity lift
st.subheader("Popularity lift per user group")
lift = result.popularity_lift.get(f"popularity_lift@{k}")
if lift is None or lift.empty:
    st.info("No popularity lift for these lists.")
else:
    chart, numbers = st.columns([3, 2])
    with chart:
        st.plotly_chart(charts.popularity_lift_chart(lift), key="lift_chart")
    with numbers:
        support.table(lift, "popularity_lift")
        st.caption(
            "ΔGAP = (GAP_recommended − GAP_profile) / GAP_profile, GAP the mean item popularity "
            "users(i)/n_users (Abdollahpouri et al. 2020). Users grouped by the share of head items in "
            "their history: top 20% blockbuster, bottom 20% niche."
        )

# ---------------------------------------------------------------------------------------- calibration
st.subheader("Calibration")
column = f"miscalibration@{k}"
if column not in result.per_user.columns or inputs.categories is None:
    st.info("Miscalibration needs item categories.")
else:
    hist, user_side = st.columns(2)
    with hist:
        st.plotly_chart(
            charts.miscalibration_hist(
                result.per_user[column].to_numpy(), title=f"Per-user miscalibration @ {k}"
            ),
            key="miscalibration_hist",
        )
        st.caption(
            f"mean C_KL = {audit.fmt(result.values.get(column))}: Steck 2018, KL(history ‖ list) of "
            "category distributions, α = 0.01."
        )
    with user_side:
        users = [str(u) for u in lists.user_ids]
        user = support.sticky(
            st.selectbox, "User", key=support.SELECTED_USER, default=users[0], options=users
        )
        row = users.index(user)
        membership, category_names = inputs.categories
        history_rows = inputs.train[row].indices
        distributions = category_distributions(
            history_rows, lists.items[row], membership, category_names
        )
        st.plotly_chart(
            charts.category_bars(  # category names and the user id are data: plotly text, escaped
                distributions.rename(index=plot_text), title=f"{plot_text(user)}: history vs top-{k}"
            ),
            key="category_bars",
        )
        st.caption(
            f"{md_text(user)}: C_KL = {audit.fmt(result.per_user[column].get(user))} "
            f"({len(history_rows)} history items)"
        )

# ----------------------------------------------------------------------------------- exposure over time
st.subheader("Exposure over time")
if not isinstance(source, RecLog) or not source.has_timestamps:
    st.caption(
        "A recommendation log with a timestamp column (Import page, log tab) is audited per day, week or "
        "month here: each list (a user's rows from one rank 1 to the next) in the window of its rank-1 time."
    )
else:
    window = support.sticky(
        st.radio, "Window", key="div_window", default="week", options=list(WINDOWS), horizontal=True
    )
    windows = support.guarded("exposure over time", lambda: audit.get_windows(source, window, k))
    if windows is not None and not windows.metrics.empty:
        st.caption(
            f"{len(windows.metrics)} windows, as {md_code(f'recaudit metrics … --window {window} --k {k}')}: "
            "the same definitions per window (docs/metrics.md)."
        )
        over_time, numbers = st.columns([3, 2])
        with over_time:
            st.plotly_chart(
                window_charts.window_metrics_chart(
                    windows.metrics, ["gini", "exposure_gini", "coverage"],
                    title=f"Exposure concentration and coverage per {window} @ {k}",
                ),
                key="window_metrics_chart",
            )  # fmt: skip
        with numbers:
            support.table(windows.metrics, "window_metrics")
        group_columns = list(dict.fromkeys(windows.groups["column"])) if not windows.groups.empty else []
        shares, lifts = st.columns(2)
        with shares:
            if group_columns:
                group_column = support.sticky(
                    st.selectbox, "Item groups by", key="div_window_groups", default=group_columns[0],
                    options=group_columns,
                )  # fmt: skip
                st.plotly_chart(
                    window_charts.window_shares_chart(
                        windows.groups.assign(group=windows.groups["group"].map(plot_text)), group_column,
                        title=f"Exposure share per {plot_text(group_column)} and {window}",
                    ),
                    key="window_shares_chart",
                )  # fmt: skip
            else:
                st.info("The catalogue has no provider, category or domain column to group items by.")
        with lifts:
            if not windows.lift.empty:
                st.plotly_chart(
                    window_charts.window_lift_chart(
                        windows.lift, title=f"Popularity lift per user group and {window}"
                    ),
                    key="window_lift_chart",
                )
