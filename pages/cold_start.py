"""Cold start: how the model serves newcomers. Learning curves for new items (content vs collaborative vs
blend) and new users (fold-in vs learned prior vs popularity), where cold items land in top-k lists, and two
playgrounds: describe a new item and see who would get it, onboard a new user click by click."""

import streamlit as st

from recaudit.app import coldstart as page
from recaudit.app import shell as support
from recaudit.textsafe import md_text

bundle = support.require_bundle()
st.title(f"🧊 Cold start: {md_text(bundle.name)}")
st.caption(
    "Newcomers have no interactions, so collaborative vectors cannot score them: items are placed from "
    "their content, users from their first clicks. This page measures how well, and lets you try it."
)
page.render(bundle)
