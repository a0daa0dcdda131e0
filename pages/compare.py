"""Compare: the sidebar's bundle or log (A) against another (B) on the users both audit: every metric's B − A
with its 95% interval and p-value, who gained and lost most, and the A vs B report."""

import streamlit as st

from recaudit.app import audit
from recaudit.app import compare as comparing
from recaudit.app import shell as support
from recaudit.bundle import list_bundles
from recaudit.bundle.logs import is_log_dir, list_logs
from recaudit.report import render_comparison_html
from recaudit.textsafe import md_code, md_text
from recaudit.viz import audit_charts as charts

bundle = support.require_source()
heading = st.empty()  # "A vs B" once B is chosen
heading.title(f"🆚 Compare: {md_text(bundle.name)}")
audit.require_test_data(bundle)

folder = support.bundle_dir()
logs = {p.name for p in list_logs(folder)}
others = [p for p in [*list_bundles(folder), *list_logs(folder)] if p.name != bundle.name]
if not others:
    st.info(
        "Compare needs a second bundle (or log) in the bundles folder, e.g. "
        + md_code(support.create_command(support.bundle_dir()))
    )
    st.stop()
controls = st.columns([2, 1])
with controls[0]:
    name_b = support.sticky(
        st.selectbox,
        "B: compare with",
        key="compare_b",
        default=others[0].name,
        options=[p.name for p in others],
        format_func=lambda n: f"{n} (log)" if n in logs else n,
    )
with controls[1]:
    k = audit.k_selector(options=audit.k_options(bundle))
path_b = folder / name_b
if is_log_dir(path_b):
    other = support.guarded(f"{path_b}: could not load the log", support.get_log, path_b)
else:
    other = support.try_load(path_b)
if other is None:
    st.stop()
heading.title(f"🆚 Compare: {md_text(bundle.name)} vs {md_text(other.name)}")
command = f"recaudit compare {bundle.path} {other.path} --k {k}"  # bundles; logs: the page only
st.caption(
    f"A = {md_text(bundle.name)} (the sidebar's choice), B = {md_text(other.name)}. Paired over the users "
    f"both audit, as {md_code(command)}: per-user metrics with a {comparing.N_BOOT:,}-resample paired "
    f"bootstrap and a sign-flip p-value; catalogue metrics recomputed on {comparing.CATALOGUE_DRAWS} user "
    "resamples (the command's --n-boot sets more), with lists swapped per user for p."
)

comparison = comparing.stepped_comparison(bundle, other, k)
if comparison is None:
    st.stop()
table = comparison.table
significant = table[table["p_value"] < 0.05]
st.markdown(
    f"**{comparison.n_shared:,} shared users.** {len(significant)} of {len(table)} metrics differ "
    "with p < 0.05" + (": " + md_text(", ".join(significant["metric"])) if len(significant) else ".")
)
for note in comparison.notes:
    st.caption(md_text(note))

st.subheader("B − A, every metric")
only = st.toggle("Only metrics with p < 0.05", key="compare_only_significant")
shown = significant if only else table
view = shown.assign(
    interval=[
        f"[{lo:+.4f}, {hi:+.4f}]" if lo == lo else ""
        for lo, hi in zip(shown.ci_low, shown.ci_high, strict=True)
    ]
)[["metric", "kind", "a", "b", "delta", "interval", "p_value", "n_users"]]
view = view.rename(columns={"a": f"A ({bundle.name})", "b": f"B ({other.name})", "delta": "B − A",
                            "interval": "95% CI of B − A", "p_value": "p"})  # fmt: skip
number = st.column_config.NumberColumn(format="%.4f")
support.table(view, "compare_table", column_config={c: number for c in view.columns[2:5]} | {"p": number})

left, right = st.columns(2)
for column, kind, heading in (
    (left, "user", "Per-user metrics"),
    (right, "catalogue", "Catalogue metrics"),
):
    part = shown[shown["kind"] == kind]
    with column:
        if part.empty:
            st.caption(f"No {kind} metric to draw.")
        else:
            st.plotly_chart(
                charts.difference_chart(part, title=f"{heading}: B − A with its 95% interval"),
                key=f"compare_chart_{kind}",
            )

st.subheader("For whom: B − A per user group")
by_user = comparison.user_groups
if by_user.empty:
    st.caption("No user group to break the per-user metrics down by.")
else:
    metrics = list(dict.fromkeys(by_user["metric"]))
    chosen = support.sticky(
        st.selectbox,
        "Metric",
        key="compare_group_metric",
        default=comparison.lead or metrics[0],
        options=metrics,
    )
    part = by_user[by_user["metric"] == chosen].drop(columns="metric")
    support.table(
        part,
        "compare_user_groups",
        column_config={c: number for c in ("a", "b", "delta", "ci_low", "ci_high", "p_value")},
    )
st.subheader("Which items: exposure share per item group")
by_item = comparison.item_groups
if by_item.empty:
    st.caption("No item group to compare (no provider, category or domain column, or two catalogues).")
else:
    support.table(
        by_item,
        "compare_item_groups",
        column_config={c: number for c in ("a", "b", "delta", "ci_low", "ci_high", "p_value")},
    )

st.subheader(f"Who gained and who lost ({md_text(comparison.lead or 'n/a')})")
movers = comparison.movers
if movers.empty:
    st.caption("No user's value differs between A and B.")
else:
    support.table(movers, "compare_movers")
    pick = st.selectbox("Open a user in the User explorer", list(movers["user_id"]), key="compare_user")
    if st.button("Open in User explorer", key="compare_open_user"):
        st.session_state[support.SELECTED_USER] = pick
        st.switch_page("pages/user_explorer.py")

title = f"recaudit compare: {bundle.name} vs {other.name} @ {k}"
stem = f"compare-{bundle.name}-vs-{other.name}-k{k}"
down = st.columns(2)
with down[0]:
    st.download_button(
        "⬇️ HTML report",
        data=lambda: render_comparison_html(comparison, title=title),
        file_name=f"{stem}.html",
        mime="text/html",
        key="compare_html",
        on_click="ignore",
    )
with down[1]:
    st.download_button(
        "⬇️ JSON",
        data=comparison.to_json,
        file_name=f"{stem}.json",
        mime="application/json",
        key="compare_json",
        on_click="ignore",
    )
