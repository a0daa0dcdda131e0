"""Text from users' files made safe for markdown and plotly: it displays literally, never as markup.

User ids, item ids and titles, categories, domains, providers, user-group values, bundle names and model
kinds all come from data files, in a shared deployment from someone else's. Streamlit renders titles,
headers, captions, info/warning/error boxes, ``st.markdown``, widget and metric labels and their help as
GitHub-flavoured markdown plus its own extensions (``:red[..]`` colours, ``:material/..:`` icons, emoji
shortcodes, ``$..$`` LaTeX), and plotly renders a subset of HTML (``<a href>``, ``<b>``, ``<br>``, ...) in
titles, tick labels, legends and hovers. Without escaping, an interactions file whose first user id was
``![x](http://127.0.0.2:9/md.png)`` made every analyst's browser fetch that URL (issue 8, item 6).

* :func:`md_text` for data inside any markdown string (escape each value, not the whole message, so the
  app's own formatting still works);
* :func:`md_code` for data shown as inline code (a path, a command);
* :func:`plot_text` / :func:`plot_texts` for data that becomes plotly text (titles, trace names, category
  values, hover text).

Tables (``st.dataframe``), select/multiselect options and ``st.json`` draw plain text and need nothing.
The HTML report escapes with :func:`html.escape` itself (:mod:`recaudit.report`). No Streamlit here, so the
report and tests use the same functions.
"""

from __future__ import annotations

import html
import math
import re
import string
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["WORD_JOINER", "md_code", "md_text", "plot_text", "plot_texts"]

WORD_JOINER = "\u2060"
"""Invisible, zero-width: :func:`md_text` puts it inside URL and e-mail patterns (see there)."""

_MARKDOWN_PUNCTUATION = frozenset(string.punctuation)
# GFM turns bare URLs and e-mail addresses in text into links after parsing, so a backslash does not stop
# it; a word joiner between the scheme (or "www", or the local part) and what follows does.
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|xmpp)(?=:)|(www)(?=\.)|(?=@)")


def _one_line(value: object) -> str:
    # a line break inside a value could start a new markdown block (a heading, a list, a table row)
    return " ".join(str(value).splitlines())


def md_text(value: object) -> str:
    """``value`` as markdown source that Streamlit displays literally, as plain text, on one line.

    Every ASCII punctuation character gets a backslash (CommonMark allows escaping any of them), which
    stops emphasis, links and images, headings, lists, tables, code, HTML, LaTeX, ``:color[..]``,
    ``:material/..:`` and emoji shortcodes; line breaks become spaces; a :data:`WORD_JOINER` goes after
    ``http``/``https``/``ftp``/``mailto``/``xmpp`` before ``:``, after ``www`` before ``.`` and before
    ``@``, so GFM's autolinker does not turn a URL or an e-mail address from the data into a link (the
    visible text is unchanged).
    """
    text = _AUTOLINK.sub(lambda m: (m.group(1) or m.group(2) or "") + WORD_JOINER, _one_line(value))
    return "".join("\\" + c if c in _MARKDOWN_PUNCTUATION else c for c in text)


def md_code(value: object) -> str:
    """``value`` as a markdown inline code span that shows it literally (a backtick inside cannot close it).

    The fence is one backtick longer than the longest run of backticks in the value; a value starting or
    ending with a backtick is padded with a space, which CommonMark strips again.
    """
    text = _one_line(value)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[:1] in {"`", " "} or text[-1:] in {"`", " "} else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def plot_text(value: object) -> str:
    """``value`` as plotly text that displays literally: ``&``, ``<`` and ``>`` as HTML entities.

    Plotly interprets tags such as ``<a href=..>``, ``<b>`` and ``<br>`` in titles, legends, tick labels,
    bar text and hover labels, and decodes entities, so an escaped value shows exactly as written.
    """
    return html.escape(str(value), quote=False)


def plot_texts(values: Iterable[Any]) -> np.ndarray:
    """:func:`plot_text` of each value (an object array); missing values (None, NaN) stay missing."""
    return np.array(
        [
            v if v is None or (isinstance(v, float) and math.isnan(v)) else plot_text(v)
            for v in values
        ],
        dtype=object,
    )
