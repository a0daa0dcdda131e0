"""Fairness: item-group exposure vs catalogue and merit, and accuracy gaps between user groups."""

import streamlit as st

from recaudit.app import audit
from recaudit.app import shell as support
from recaudit.metrics.fairness import explain_disparity
from recaudit.metrics.groups import ACTIVITY_LABELS, user_group_labels
from recaudit.metrics.popularity import POPULARITY_GROUPS
from recaudit.metrics.registry import metric_help, metric_names
from recaudit.textsafe import md_text, plot_text
from recaudit.views import audit_tables
from recaudit.viz import audit_charts as charts

source = support.require_source()
st.title(f"⚖️ Fairness: {md_text(source.name)}")
audit.require_test_data(source)

k = audit.k_selector(options=audit.k_options(source))
inputs, result = audit.stepped_audit(source, k)  # names each slow step while it runs
if result is None or inputs is None:
    st.stop()

# ------------------------------------------------------------------------------------------ item groups
st.subheader("Item-group exposure")
columns = [key.split("@")[0] for key in result.item_groups if key.endswith(f"@{k}")]
if not columns:
    st.info("The catalogue has no provider, category or domain column to group items by.")
else:
    column = support.sticky(
        st.selectbox, "Group items by", key="fair_item_group", default=columns[0], options=columns
    )
    table = result.item_groups[f"{column}@{k}"]
    disparity = result.values.get(f"exposure_disparity[{column}]@{k}")
    st.metric(
        md_text(f"exposure_disparity[{column}]@{k}"), audit.fmt(disparity, 3),
        help=md_text(metric_help("exposure_disparity")),  # the catalogue's one-line formula
    )
    if disparity is not None and (why := explain_disparity(table, column)):
        st.text(why)  # why the card shows ∞ or —; it names groups (data values): plain text, not markdown
    chart, numbers = st.columns([3, 2])
    with chart:
        st.plotly_chart(
            charts.group_exposure_chart(  # group names are data (providers, categories): escaped
                table.assign(group=table["group"].map(plot_text)),
                title=f"Exposure vs catalogue vs merit share by {plot_text(column)} @ {k}",
            ),
            key="group_exposure_chart",
        )
    with numbers:
        support.table(table, "item_groups")
    st.caption(
        "exposure_share: position-weighted exposure Σ 1/log2(r+1) of the group's items; catalog_share: its "
        "share of catalogue items; merit_share: its share of test interactions; exposure_ratio = "
        "exposure_share / merit_share. Items in several categories count for each."
    )

# ------------------------------------------------------------------------------------------ user groups
st.subheader("Accuracy gaps between user groups")
labels = user_group_labels(inputs, users=source.users)
ACCURACY = metric_names(set="fairness")  # ndcg, recall, ... from the metric catalogue
accuracy = [m for m in ACCURACY if f"{m}@{k}" in result.per_user]
if not accuracy:
    st.info("No accuracy metric could be computed (no test interactions).")
    st.stop()
left, right = st.columns(2)
with left:
    grouping = support.sticky(
        st.selectbox, "Group users by", key="fair_user_group", default="activity", options=list(labels)
    )
with right:
    metric = support.sticky(
        st.selectbox, "Metric", key="fair_metric", default=f"ndcg@{k}", options=[f"{m}@{k}" for m in accuracy]
    )
order = {"activity": ACTIVITY_LABELS, "popularity": POPULARITY_GROUPS}.get(grouping)
values = result.per_user[metric].reindex(inputs.lists.user_ids).to_numpy()
cis = audit_tables.group_ci_table(values, labels[grouping], order=order, n_boot=1000, seed=0)
cis = cis[cis["n_users"] > 0].reset_index(drop=True)
chart, numbers = st.columns([3, 2])
with chart:
    plotted = cis.assign(group=cis["group"].map(plot_text)).set_index("group")  # values of a users column
    means = plotted[["n_users", "mean"]].rename(columns={"mean": metric})
    st.plotly_chart(
        charts.group_metric_chart(means, metric, ci=plotted[["ci_low", "ci_high"]]),
        key="group_metric_chart",
    )
with numbers:
    support.table(cis, "user_groups")
st.caption(
    f"overall {metric} = {audit.fmt(result.values.get(metric))}; gap = group mean − overall. 95% percentile "
    "bootstrap over each group's users. activity: training interactions ≤ 5 cold, ≤ 20 light, ≤ 100 "
    "medium, else heavy; popularity: share of head items in the history (top 20% blockbuster, bottom 20% "
    "niche)."
)
