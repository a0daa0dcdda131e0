"""The app's text escaping (:mod:`recaudit.textsafe`) over hostile strings (issue 8, item 6).

A CommonMark renderer (markdown-it-py, with GFM tables and strikethrough) is the oracle for markdown:
``md_text(s)`` must come out as one paragraph holding exactly ``s`` as text. Streamlit's own extensions
(``:red[..]``, ``:material/..:``, emoji shortcodes, ``$..$``) and GFM's autolinker are not in it, so for
those the test checks what they need and ``md_text`` takes away: an unescaped ``:``, ``$`` or ``[``, and a
bare ``http://``, ``www.`` or ``x@y.z``. ``tests/browser/test_hostile_data.py`` checks the real rendering.
"""

from __future__ import annotations

import html
import math
import re
import string

import pytest
from markdown_it import MarkdownIt

from recaudit.textsafe import WORD_JOINER, md_code, md_text, plot_text, plot_texts

STREAMLIT_MARKUP = [
    "$x^2$ and $$y$$",
    ":red[x] :blue-background[y] :small[z]",
    ":material/home:",
    ":smile: :+1:",
]
"""Streamlit's own markdown extensions (LaTeX, colours, icons, emoji shortcodes): plain text to CommonMark."""
BARE_TEXT = [
    "http://127.0.0.2:9/bare.png",
    "HTTPS://127.0.0.2:9/upper",
    "www.example.com",
    "mail me: someone@example.com",
    "u\u00e9 \u2603 plain unicode",
    "",
]
"""Text without markup: what GFM's autolinker would link, plain unicode, nothing."""

HOSTILE = [
    "![x](http://127.0.0.2:9/md.png)",
    "[click](javascript:alert(1))",
    "[ref]: http://127.0.0.2:9/ref.png",
    "![r][ref]",
    "<img src=http://127.0.0.2:9/html.png>",
    '<img src="x" onerror="alert(1)">',
    "<script>alert(1)</script>",
    "<http://127.0.0.2:9/angle.png>",
    *STREAMLIT_MARKUP,
    "**bold** __bold__ *it* _it_ ~~gone~~",
    "# heading",
    "### heading ###",
    "- item",
    "+ item",
    "* item",
    "1. item",
    "1) item",
    "> quote",
    "---",
    "a | b | c",
    "| a |\n|---|",
    "back\\slash \\* \\\\",
    "`code` ``x``",
    "```fence",
    "&amp; &lt;b&gt; &#42;",
    "line one\nline two\n\n# heading",
    "hard  \nbreak",
    *BARE_TEXT,
]

# CommonMark with GFM tables and strikethrough; html=True so that raw HTML would pass through (the oracle
# must be able to see it), typographer off so quotes stay as they are
RENDERER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
AUTOLINKS = [re.compile(r"(?i)https?://"), re.compile(r"(?i)www\."), re.compile(r"[\w.+-]+@[\w-]+\.")]


def one_line(text: str) -> str:
    return " ".join(text.splitlines())


def as_paragraph(text: str) -> str:
    """What CommonMark makes of plain text ``text`` on one line: a paragraph of the escaped text."""
    shown = one_line(text).strip()
    return f"<p>{html.escape(shown, quote=True)}</p>\n" if shown else ""


def unescaped_punctuation(source: str) -> set[str]:
    """ASCII punctuation in markdown ``source`` that is not backslash-escaped."""
    return {c for c in re.sub(r"\\.", "", source) if c in string.punctuation}


@pytest.mark.parametrize("text", HOSTILE)
def test_md_text_renders_as_the_literal_text(text: str) -> None:
    rendered = RENDERER.render(md_text(text)).replace(WORD_JOINER, "")
    assert rendered == as_paragraph(text)


NOT_COMMONMARK = {
    "[click](javascript:alert(1))",  # markdown-it refuses the javascript: link and prints the text
    "![r][ref]",  # the reference is defined in another string
    *STREAMLIT_MARKUP,
    "a | b | c",  # a table needs a delimiter row
    *BARE_TEXT,
}
"""Strings plain CommonMark leaves as text; Streamlit's extensions and GFM's autolinker do not (the
checks below and the browser test cover them)."""


def test_the_markdown_oracle_sees_markup() -> None:
    # unescaped, every other string does not come out as its own text: the oracle can tell
    unchanged = {t for t in HOSTILE if RENDERER.render(t) == as_paragraph(t)}
    assert unchanged == NOT_COMMONMARK


@pytest.mark.parametrize("text", HOSTILE)
def test_md_text_leaves_no_markup_character_unescaped(text: str) -> None:
    source = md_text(text)
    assert unescaped_punctuation(source) == set()  # so no :color[..], :icon:, $..$, emphasis, link...
    assert "\n" not in source and "\r" not in source
    # the escapes and word joiners are all that was added
    assert re.sub(r"\\(.)", r"\1", source).replace(WORD_JOINER, "") == one_line(text)


@pytest.mark.parametrize("text", [t for t in HOSTILE if any(p.search(t) for p in AUTOLINKS)])
def test_md_text_breaks_what_gfm_would_autolink(text: str) -> None:
    shown = re.sub(r"\\(.)", r"\1", md_text(text))  # the text the autolinker scans
    assert not any(pattern.search(shown) for pattern in AUTOLINKS), shown


def test_md_text_keeps_plain_text_as_it_is() -> None:
    assert md_text("u07") == "u07"
    assert md_text("Top 10 items") == "Top 10 items"
    assert md_text(42) == "42"


@pytest.mark.parametrize(
    "value", ["recaudit audit bundles/a --k 10", "a`b", "``x``", "`lead", "trail`", " spaced ", "/p/**h**"]
)
def test_md_code_is_one_code_span_of_the_value(value: str) -> None:
    assert RENDERER.render(md_code(value)) == f"<p><code>{html.escape(value)}</code></p>\n"


@pytest.mark.parametrize("text", HOSTILE)
def test_plot_text_has_no_tag_and_decodes_to_the_value(text: str) -> None:
    shown = plot_text(text)
    assert "<" not in shown and ">" not in shown
    assert html.unescape(shown) == text


def test_plot_texts_escapes_each_value_and_keeps_missing_ones() -> None:
    out = plot_texts(["<b>p1</b>", None, math.nan, 3, "a & b"])
    assert out.dtype == object
    assert out[0] == "&lt;b&gt;p1&lt;/b&gt;" and out[1] is None and math.isnan(out[2])
    assert out[3] == "3" and out[4] == "a &amp; b"
