"""Report: the audit `recaudit audit` runs (k, optional re-ranker), or for a recommendation log the audit
`recaudit metrics` runs, with HTML, PDF and JSON downloads."""

import streamlit as st

from recaudit.app import audit
from recaudit.app import shell as support
from recaudit.bundle.logs import RecLog
from recaudit.report_pdf import find_chromium
from recaudit.textsafe import md_code, md_text
from recaudit.views import audit_tables

source = support.require_source()
st.title(f"📄 Report: {md_text(source.name)}")
audit.require_test_data(source)

is_log = isinstance(source, RecLog)  # a log's lists are audited as given: no re-ranker
names = ["none"] if is_log else ["none", *audit.RERANKER_LABELS]
labels = {"none": "None (base lists)", **audit.RERANKER_LABELS}
controls = st.columns([1, 2, 2])
with controls[0]:
    k = audit.k_selector(options=audit.k_options(source))
with controls[1]:
    name = support.sticky(
        st.selectbox, "Re-ranker", key="report_rerank", default="none", options=names, format_func=labels.get
    )
with controls[2]:
    lam = support.sticky(
        st.slider, "λ", key="report_lambda", default=0.3, min_value=0.0, max_value=1.0, step=0.05,
        disabled=name == "none", help="re-ranking needs a model's scores" if is_log else None,
    )
spec = audit_tables.rerank_spec(name, lam)
command = audit.audit_command(source, k, spec)
st.caption(
    f"The same audit as {md_code(command)}: "
    + ("every list of the log" if is_log else "every held-out user known to the model")
    + ", 95% bootstrap CIs."
)

_, result = audit.stepped_audit(source, k, rerank=spec)  # names each slow step while it runs
if result is None:
    st.stop()

title = f"recaudit audit: {source.name} @ {k}" + (f" ({spec})" if spec else "")


stem = f"audit-{source.name}-k{k}" + (f"-{spec.replace(':', '-')}" if spec else "")
left, middle, right = st.columns(3)
with left:
    st.download_button(
        "⬇️ HTML report", data=lambda: audit.report_html(source, result, k, rerank=spec, title=title),
        file_name=f"{stem}.html", mime="text/html", key="download_html", on_click="ignore",
    )
with middle:
    if find_chromium() is None:
        st.caption("PDF: this server has no Chromium to print with (apt install chromium).")
    else:
        st.download_button(
            "⬇️ PDF report", data=lambda: audit.report_pdf(source, result, k, rerank=spec, title=title),
            file_name=f"{stem}.pdf", mime="application/pdf", key="download_pdf", on_click="ignore",
        )
with right:
    st.download_button(
        "⬇️ JSON", data=lambda: audit.report_json(result), file_name=f"{stem}.json",
        mime="application/json", key="download_json", on_click="ignore",
    )

st.subheader("Metrics")
support.table(result.to_frame(), "report_metrics")
if result.skipped:
    st.subheader("Skipped")
    support.table(
        [{"metric": metric, "why": why} for metric, why in result.skipped.items()], "report_skipped"
    )
with st.expander("Settings, data and model"):
    st.json(
        {
            "model": result.info.get("model"), "rerank": result.info.get("rerank"),
            "data": result.info.get("data"), "settings": result.info.get("settings"),
            "fingerprints": result.info.get("fingerprints"),
        },
        expanded=True,
    )
