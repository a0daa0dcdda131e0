"""Live session: pick a user, click items (or step through a logged test session) and watch the top-k change
after each event, with the latency of each update, the items that entered and left, and the session vector's
path on the item map; then compare the session encoder with the baselines on the test sessions."""

import streamlit as st

from recaudit.app import session as page
from recaudit.app import shell as support
from recaudit.textsafe import md_text

bundle = support.require_bundle()
st.title(f"⚡ Live session: {md_text(bundle.name)}")
st.caption(
    "Each click is one event of a real-time session: the live scorer updates the user's query (session "
    "encoder fused with the long-term vector, or fold-in) and re-ranks the catalogue."
)
page.render(bundle)
