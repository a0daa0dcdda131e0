"""Cross-domain: pick a target domain and a transfer; lift and negative transfer by the users' interaction
count in the target, one user's target lists with and without transfer beside their source-domain history,
per-domain exposure, the users' taste correlation across domains, and where each domain's items sit."""

import streamlit as st

from recaudit.app import crossdomain as page
from recaudit.app import shell as support
from recaudit.textsafe import md_code, md_text

bundle = support.require_bundle()
st.title(f"🔀 Cross-domain: {md_text(bundle.name)}")
st.caption(
    "Transfer from data-rich domains helps users new to a sparse one, and can hurt everyone else: every "
    "transfer is measured against the target-only model on the same test users, cold and warm apart."
)
if len(bundle.domains) < 2:
    st.info("This bundle's catalogue has one domain (or none): there is nothing to transfer between.")
elif bundle.crossdomain is None:
    st.info(
        "This bundle has no transfer model. Train one with "
        + md_code("recaudit train INTERACTIONS --items ITEMS --transfer gated --out BUNDLE")
        + " (ITEMS with a domain column)."
    )
else:
    page.render(bundle)
