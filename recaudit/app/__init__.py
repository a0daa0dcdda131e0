"""The Streamlit app: the only package that imports Streamlit (``tests/test_layers.py`` checks it).

:mod:`.shell` draws the frame every page shares and holds the page registry; :mod:`.audit` and
:mod:`.map` cache the audit and embedding-map work for their pages. Pure tables live in
:mod:`recaudit.views`, figures in :mod:`recaudit.viz`.
"""
