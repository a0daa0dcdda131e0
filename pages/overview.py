"""Overview: the dataset and model card of the selected bundle, popularity and held-out accuracy."""

import streamlit as st

from recaudit.app import shell as support
from recaudit.textsafe import md_text, plot_text
from recaudit.views import explorer as explore
from recaudit.views.modelcard import domain_counts, model_card_table
from recaudit.viz import domain_counts_bar, popularity_curve, training_curve

bundle = support.require_bundle()
st.title(f"📊 Overview: {md_text(bundle.name)}")

counts = domain_counts(bundle)
n_train = "—" if bundle.train is None else f"{len(bundle.train):,}"
n_test = "—" if bundle.test is None else f"{len(bundle.test):,}"
for column, (label, value) in zip(
    st.columns(4),
    [
        ("Users (model)", f"{len(bundle.users):,}"),
        ("Items (catalogue)", f"{len(bundle.items):,}"),
        ("Train interactions", n_train),
        ("Test interactions", n_test),
    ],
    strict=True,
):
    column.metric(label, value)

left, right = st.columns([1, 1])
with left:
    st.subheader("Data per domain")
    support.table(counts, "domain_counts")
    st.caption("users: users with at least one training interaction in that domain")
with right:
    # domain names come from the items file: plotly would render tags in them
    chart_counts = counts.assign(domain=counts["domain"].map(plot_text))
    st.plotly_chart(domain_counts_bar(chart_counts), key="domain_chart")

st.subheader("Model card")
card, config = st.columns([3, 2])
with card:
    support.table(model_card_table(bundle), "model_card")
with config:
    st.caption("training configuration")
    st.json(bundle.manifest.get("model", {}).get("config", {}), expanded=True)
training = bundle.manifest.get("training") or {}
if training.get("history"):
    curve = training_curve(training["history"], best_epoch=training.get("best_epoch"))
    st.plotly_chart(curve, key="training_chart")

st.subheader("Popularity")
if bundle.train is None:
    st.info("This bundle has no training interactions, so there is no popularity distribution.")
else:
    st.plotly_chart(popularity_curve(bundle.item_popularity), key="popularity_chart")

st.subheader("Held-out accuracy")
if not support.has_evaluation(bundle):
    st.info("No held-out test data in this bundle.")
elif evaluation := support.guarded("held-out evaluation", support.get_evaluation, bundle):
    number = st.column_config.NumberColumn(format="%.4f")
    columns = {"model": number, "popularity": number}
    per_domain = evaluation.get("domains") or {}
    table = explore.evaluation_frame(evaluation).reset_index()
    support.table(table, "evaluation", column_config=columns)
    unknown = evaluation.get("n_unknown_users", 0)
    st.caption(
        f"{evaluation.get('n_users', '?')} evaluated users (users with at least one test item"
        + (f"; {unknown} unknown to the model count as zeros" if unknown else "")
        + "). Training items are excluded from each list; the popularity baseline ranks items by "
        "training interactions."
        + (
            f" Each test item is ranked within its own domain's catalogue, by the model and by popularity "
            f"within that domain; the table above is the mean over {evaluation.get('n_units', '?')} "
            "(user, domain) pairs."
            if per_domain
            else ""
        )
    )
    for domain, cell in zip(per_domain, st.columns(len(per_domain)) if per_domain else [], strict=True):
        with cell:
            part = per_domain[domain]
            st.markdown(f"**{md_text(domain)}**: {part.get('n_users', '?')} users")
            support.table(
                explore.evaluation_frame(part).reset_index(), f"evaluation_{domain}", column_config=columns
            )
