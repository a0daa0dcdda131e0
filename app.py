"""recaudit app: the router. Run with ``streamlit run app.py`` (or ``make run``).

Draws the frame every page shares (page config, sidebar picker of bundles and logs) and hands over to the page
chosen in ``st.navigation``, listed in sections (Model, Audit, Scenarios). Pages are registered in
:data:`recaudit.app.shell.PAGES`, never auto-discovered; the Overview is the default page at ``/``.
"""

import streamlit as st

from recaudit.app.shell import DEFAULT_PAGE, PAGES, SECTIONS, sidebar_bundle_picker

st.set_page_config(page_title="recaudit", layout="wide")

sections: dict[str, list] = {name: [] for name in SECTIONS}
for spec in PAGES:
    page = st.Page(
        spec.path, title=spec.title, icon=spec.icon, url_path=spec.url_path, default=spec.path == DEFAULT_PAGE
    )
    sections[spec.section].append(page)
navigation = st.navigation({name: pages for name, pages in sections.items() if pages}, expanded=True)
sidebar_bundle_picker()
navigation.run()
