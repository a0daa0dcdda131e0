"""recaudit app: the router. Run with ``streamlit run app.py`` (or ``make run``).

Draws the frame every page shares (page config, sidebar bundle picker) and hands over to the page
chosen in ``st.navigation``. Pages are registered in :data:`recaudit.app.shell.PAGES`, never
auto-discovered.
"""

import streamlit as st

from recaudit.app.shell import PAGES, sidebar_bundle_picker

st.set_page_config(page_title="recaudit", layout="wide")

navigation = st.navigation(
    [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path) for p in PAGES]
)
sidebar_bundle_picker()
navigation.run()
