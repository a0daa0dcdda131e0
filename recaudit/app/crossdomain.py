"""The Cross-domain page's sections (an app-support module: it may import Streamlit).

The transfer evaluation (:func:`recaudit.workflows.crossdomain.evaluate_transfer`) is computed once per
bundle version and k, and cached for the process; the page reads it for the lift and negative-transfer
charts, the summary, per-domain exposure and the preference correlation. A selected user's lists with and
without transfer are scored on demand (one domain, one user: milliseconds).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from recaudit.app import map as app_map
from recaudit.app import shell as support
from recaudit.bundle import Bundle
from recaudit.data.schema import DOMAIN, TITLE
from recaudit.models.crossdomain.family import served_transfer
from recaudit.textsafe import md_text, plot_texts
from recaudit.views import crossdomain as views
from recaudit.viz import map_charts
from recaudit.viz.charts import CUT_COLOUR, transfer_bucket_bars
from recaudit.workflows.crossdomain import TransferEvaluation, evaluate_transfer

K = 10
N_BOOT = 500
MAX_USER_OPTIONS = 5_000
MAP_CAP = 20_000


@st.cache_data(max_entries=8, show_spinner="Evaluating every transfer on the test users…")
def _evaluation(path: str, mtime_ns: int, k: int) -> TransferEvaluation:
    return evaluate_transfer(support.get_bundle(path), k, n_boot=N_BOOT)


def get_evaluation(bundle: Bundle, k: int = K) -> TransferEvaluation:
    """The cached transfer evaluation of ``bundle`` at ``k``."""
    return _evaluation(*support.disk_key(bundle, "evaluated"), int(k))


def render(bundle: Bundle) -> None:
    """The whole page for a bundle with a transfer model (the caller checks it has one)."""
    model = bundle.crossdomain
    assert model is not None
    domains = list(model.domains)
    left, right = st.columns(2)
    with left:
        target = support.sticky(
            st.selectbox, "Target domain", key="cd_target", default=domains[-1], options=domains
        )
    with right:
        modes = ["gated", "mapping", "shared"]
        served = served_transfer(bundle.manifest)
        default = modes.index(served) if served in modes else 0
        mode = st.selectbox(
            "Transfer to inspect", modes, index=default, key="cd_mode",
            format_func=lambda m: views.MODE_LABELS[m] + (" (served)" if m == served else ""),
        )  # fmt: skip
    sources = ", ".join(md_text(d) for d in domains if d != target)
    st.caption(
        f"Source: {sources} → target: {md_text(target)}. Every list is ranked within the target's catalogue."
    )
    evaluation = support.guarded("transfer evaluation", get_evaluation, bundle)
    if evaluation is None:
        return
    if target not in evaluation.tables:
        st.info(f"No test user has test items in {md_text(target)}.")
        return
    tables = evaluation.tables[target]
    st.subheader("What transfer does, against target-only")
    number = st.column_config.NumberColumn(format="percent")
    summary = views.summary_rows(tables, served)
    support.table(
        summary, "cd_summary",
        column_config={c: number for c in summary.columns if c.endswith(("lift", "hurt"))},
    )  # fmt: skip
    rows = views.bucket_rows(tables[mode])
    a, b = st.columns(2)
    with a:
        title = f"Lift of {views.MODE_LABELS[mode]} over target-only"
        st.plotly_chart(transfer_bucket_bars(rows, value="transfer_lift", title=title), key="cd_lift_chart")
    with b:
        st.plotly_chart(
            transfer_bucket_bars(
                rows, value="negative_transfer_rate", title="Share of users hurt (negative transfer)",
                colour=CUT_COLOUR,
            ),
            key="cd_hurt_chart",
        )  # fmt: skip
    st.caption(
        f"ndcg@{evaluation.k} per test user in {md_text(target)}, by the user's training interactions there "
        "(0 = cold); bars are 95% bootstrap intervals over users. Ties are not negative."
    )
    _user_section(bundle, target, mode, evaluation)
    _domain_section(bundle, evaluation)


def _user_section(bundle: Bundle, target: str, mode: str, evaluation: TransferEvaluation) -> None:
    model = bundle.crossdomain
    assert model is not None
    st.subheader("One user, with and without transfer")
    users = evaluation.per_user[target].index.to_numpy(dtype=object)[:MAX_USER_OPTIONS]
    if not len(users):
        st.info("No test user in this domain.")
        return
    user = st.selectbox("Test user", users, key="cd_user")
    count = views.target_count(model, bundle, target, str(user))
    state = "cold (no training interaction there)" if count == 0 else f"{count} training interactions there"
    st.caption(f"User {md_text(str(user))} in {md_text(target)}: {state}.")
    without, with_transfer = views.user_lists(bundle, model, target, str(user), mode, evaluation.k)
    a, b, c = st.columns(3)
    with a:
        st.markdown(f"**Without transfer** (target-only{', popularity' if count == 0 else ''})")
        support.table(without, "cd_without")
    with b:
        st.markdown(f"**With {md_text(views.MODE_LABELS[mode])}**")
        support.table(with_transfer, "cd_with")
    with c:
        st.markdown("**Source-domain history**")
        history = views.source_history(bundle, str(user), target)
        if history.empty:
            st.info("No interaction in another domain: transfer has nothing to go on.")
        else:
            support.table(history, "cd_history")


def _domain_section(bundle: Bundle, evaluation: TransferEvaluation) -> None:
    st.subheader("Per domain: exposure and taste across domains")
    exposure = evaluation.exposure.copy()
    exposure["mode"] = exposure["mode"].map(views.MODE_LABELS).fillna(exposure["mode"])
    support.table(exposure, "cd_exposure")
    if not evaluation.correlation.empty:
        for row in evaluation.correlation.itertuples(index=False):
            st.metric(
                f"Preference correlation {row.domains}", f"{row.preference_correlation:.3f}",
                help="Mean over users active in both domains of the Pearson correlation of their category "
                "distributions in the two domains: how much taste there is to transfer.",
            )  # fmt: skip
    item_map = app_map.ready_item_map(bundle)
    if item_map is None or DOMAIN not in bundle.items.columns:
        st.info("The bundle stores no item map (train with --map umap or pca) to show where the domains sit.")
        return
    rows, total = app_map.get_shown_rows(bundle, MAP_CAP)
    domain = bundle.items[DOMAIN].astype(str).to_numpy(dtype=object)
    titles = bundle.items[TITLE].to_numpy(dtype=object) if TITLE in bundle.items.columns else None
    fig = map_charts.item_map_figure(
        item_map.xy[rows], rows, popularity=bundle.item_popularity[rows], groups=plot_texts(domain[rows]),
        group_name="domain", titles=None if titles is None else plot_texts(titles[rows]),
        title="Items of every domain on the joint model's map", height=520,
    )  # fmt: skip
    st.plotly_chart(fig, key="cd_map")
    st.caption(
        f"showing {len(rows):,} of {total:,} items, coloured by domain: the joint (shared) model's item "
        "space, where the domains' items meet or stay apart."
    )


def domain_counts(bundle: Bundle) -> pd.DataFrame:
    """Items per domain (for the page's header line)."""
    if DOMAIN not in bundle.items.columns:
        return pd.DataFrame(columns=[DOMAIN, "items"])
    counts = bundle.items[DOMAIN].astype(str).value_counts().sort_index()
    return pd.DataFrame({DOMAIN: counts.index, "items": counts.to_numpy(np.int64)})
