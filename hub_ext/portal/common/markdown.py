"""Markdown as the portal shows it, safely: the one renderer of every text the platform takes as
Markdown (announcements, datasets' descriptions).

markdown-it-py (CommonMark, raw HTML off) renders it, and nh3 keeps only a short list of tags and
attributes and the http, https and mailto links, so nothing in a text can run in a reader's
browser (no ``<script>``, no ``on…`` handler, no ``javascript:`` link), whatever its author wrote.
"""

from __future__ import annotations

import html
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {"p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h1", "h2",
                "h3", "h4", "h5", "h6", "hr", "del", "s", "table", "thead", "tbody", "tr", "th", "td"}
_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")


@lru_cache(maxsize=512)
def render_markdown(text: str) -> str:
    """Markdown to HTML that is safe to insert into a page."""
    return nh3.clean(_md.render(text or ""), tags=ALLOWED_TAGS, attributes={"a": {"href", "title"}},
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer nofollow")


@lru_cache(maxsize=512)
def markdown_text(text: str) -> str:
    """The words of a Markdown text without its markup, on one line (a list's one-line summary)."""
    words = nh3.clean(_md.render(text or ""), tags=set())
    return " ".join(html.unescape(words).split())
