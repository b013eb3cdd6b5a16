"""Strings from users, links and data, made safe to put where Streamlit renders Markdown (labels,
expander titles, messages): every Markdown and HTML character is escaped, so they show as text."""

from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:@])")  # @: no e-mail address becomes a link


def plain(text: object) -> str:
    """`text` as literal characters in a Markdown context ("[x](http://…)" shows as typed)."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def shorten(text: object, limit: int = 40) -> str:
    """At most `limit` characters of `text` (a link may carry anything, at any length)."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
