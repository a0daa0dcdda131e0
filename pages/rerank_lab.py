"""Re-ranking lab: re-rank a seeded sample of users live and compare with the base lists; λ frontiers."""

import pandas as pd
import streamlit as st

from recaudit.app import audit
from recaudit.app import shell as support
from recaudit.metrics import AuditResult, metric_names
from recaudit.textsafe import md_text
from recaudit.views import audit_tables
from recaudit.viz import audit_charts as charts
from recaudit.workflows.audit import audit_users, frontier_metrics

bundle = support.require_bundle()
st.title(f"🎚️ Re-ranking lab: {md_text(bundle.name)}")
audit.require_test_data(bundle)

names = list(audit.RERANKER_LABELS)
controls = st.columns([1, 2, 2, 1])
with controls[0]:
    k = audit.k_selector()
with controls[1]:
    name = support.sticky(
        st.selectbox, "Re-ranker", key="rerank_name", default="mmr", options=names,
        format_func=audit.RERANKER_LABELS.get,
    )
with controls[2]:
    lam = support.sticky(
        st.slider, "λ (0 = base ranking, 1 = only the re-ranker's objective)", key="rerank_lambda",
        default=0.3, min_value=0.0, max_value=1.0, step=0.05,
    )
with controls[3]:
    n_sample = support.sticky(
        st.number_input, "Users in the sample", key="rerank_sample", default=500, min_value=10,
        max_value=100_000, step=100,
    )

everyone = audit_users(bundle)
users = audit_tables.sample_users(everyone, int(n_sample), seed=0)
spec = audit_tables.rerank_spec(name, lam)
st.caption(
    f"`{spec}` on {len(users):,} of {len(everyone):,} held-out users (seeded sample), top-{k} re-ranked from "
    "each user's candidate pool of the base model."
)

LAB = metric_names(set="rerank_lab")  # ndcg, recall, coverage, ... from the metric catalogue
metrics = [f"{m}@{k}" for m in LAB]



def audited(title: str, rerank: str | None) -> AuditResult | None:
    """The sample's audit with or without ``rerank``, each slow step named in a status box."""
    return audit.stepped_audit(
        bundle, k, title=title, rerank=rerank, users=users, ci=False, metrics=metrics, what=(title, title)
    )[1]


base = audited("Base lists", None)
reranked = audited(f"Re-ranked lists ({spec})", spec)
if base is None or reranked is None:
    st.stop()
comparison = audit_tables.comparison_table(base, reranked, metrics)
for row_start in range(0, len(comparison), 5):
    chunk = comparison.iloc[row_start : row_start + 5]
    for column, row in zip(st.columns(5), chunk.itertuples(index=False), strict=False):
        column.metric(
            row.metric, audit.fmt(row.reranked, 3), delta=audit.fmt(row.change, 3),
            delta_color="off", help=f"base lists: {audit.fmt(row.base)}",
        )
support.table(comparison, "rerank_comparison")

# ---------------------------------------------------------------------------------------------- frontier
st.subheader("Trade-off frontier")
left, middle, right = st.columns(3)
with left:
    first = support.sticky(
        st.selectbox, "Re-ranker A", key="frontier_a", default="mmr", options=names,
        format_func=audit.RERANKER_LABELS.get,
    )
with middle:
    second = support.sticky(
        st.selectbox, "Re-ranker B", key="frontier_b", default="calibrated", options=names,
        format_func=audit.RERANKER_LABELS.get,
    )
sweep = frontier_metrics(k)  # ndcg (x), then the catalogue's frontier set: ild_category, coverage, gini
x, axes = sweep[0], sweep[1:]
with right:
    y = support.sticky(st.selectbox, "Versus", key="frontier_y", default=axes[0], options=axes)
frontiers = {}
for choice in dict.fromkeys([first, second]):
    sweeping = support.StepStatus(f"Sweeping λ for {audit.RERANKER_LABELS[choice]}")
    frame = support.guarded(
        f"{choice} frontier",
        lambda choice=choice, sweeping=sweeping: audit.get_frontier(
            bundle, k, choice, audit.DEFAULT_LAMBDAS, users=users, metrics=sweep,
            progress=lambda step, _fraction: sweeping.step(step),
        ),
    )
    sweeping.done()
    if frame is not None:
        frontiers[audit.RERANKER_LABELS[choice]] = frame
if frontiers:
    st.plotly_chart(charts.frontier_chart(frontiers, x=x, y=y), key="frontier_chart")
    table = [frame.assign(reranker=label) for label, frame in frontiers.items()]
    support.table(pd.concat(table, ignore_index=True)[["reranker", "lambda", *sweep]], "frontier_table")
    st.caption(f"λ = {', '.join(f'{v:g}' for v in audit.DEFAULT_LAMBDAS)} on the same user sample.")
