"""Build a message's plain body and its HTML together, escaping every piece of user text.

Only this module writes HTML tags. `@room` in text is neutralised with a word joiner so
user text can never ping a whole room.
"""

from __future__ import annotations

import html
from urllib.parse import quote

from bot.messages import SMS_ONLY, on_matrix

_WORD_JOINER = "\u2060"


def neutralise(text: str) -> str:
    """Keep `@room` from notifying everyone, in any case."""
    out = []
    lowered = text.lower()
    start = 0
    while (i := lowered.find("@room", start)) != -1:
        out.append(text[start:i + 1])
        out.append(_WORD_JOINER)
        start = i + 1
    out.append(text[start:])
    return "".join(out)


class Rich:
    """A message under construction: every method appends to both plain and HTML forms."""

    def __init__(self) -> None:
        self._plain: list[str] = []
        self._html: list[str] = []

    def text(self, value: str) -> Rich:
        value = neutralise(value)
        self._plain.append(value)
        self._html.append(html.escape(value, quote=False))
        return self

    def bold(self, value: str) -> Rich:
        """Bold in HTML; the plain body (what a lock screen shows) carries no Markdown markers."""
        value = neutralise(value)
        self._plain.append(value)
        self._html.append(f"<strong>{html.escape(value, quote=False)}</strong>")
        return self

    def code(self, value: str) -> Rich:
        value = neutralise(value)
        self._plain.append(value)
        self._html.append(f"<code>{html.escape(value, quote=False)}</code>")
        return self

    def link(self, url: str, label: str) -> Rich:
        """A link; the plain body shows the address once, and a phone number as people read it."""
        shown = neutralise(label)
        self._plain.append(shown if url.startswith("tel:") or label == url else f"{shown} ({url})")
        self._html.append(f'<a href="{html.escape(url)}">{html.escape(neutralise(label), quote=False)}</a>')
        return self

    def pill(self, user_id: str, label: str | None = None) -> Rich:
        """A mention that Matrix clients show as a pill (a holder reached by SMS only: the name, as text)."""
        if not on_matrix(user_id):
            return self.text(label or f"{user_id.removeprefix(SMS_ONLY)} (SMS)")
        shown = neutralise(label or user_id)
        self._plain.append(shown)
        href = "https://matrix.to/#/" + quote(user_id, safe="@:")
        self._html.append(f'<a href="{html.escape(href)}">{html.escape(shown, quote=False)}</a>')
        return self

    def quote(self, value: str) -> Rich:
        """Someone else's words, unaltered, set apart as a quotation: in the plain body each line on a line of its
        own after "> ", the first too (a lock screen shows the plain body)."""
        value = neutralise(value)
        lead = "\n" if self._plain and not self.plain.endswith("\n") else ""
        self._plain.append(lead + "\n".join("> " + line for line in value.splitlines() or [""]))
        self._html.append("<blockquote>" + "<br>".join(html.escape(line, quote=False) for line in value.splitlines())
                          + "</blockquote>")
        return self

    def br(self) -> Rich:
        self._plain.append("\n")
        self._html.append("<br>")
        return self

    def indent(self) -> Rich:
        """A new line set in, as a continuation of the line above (spaces alone collapse in HTML)."""
        self.br()
        self._plain.append("   ")
        self._html.append("&emsp;")
        return self

    def item(self) -> Rich:
        """Start a bullet line."""
        if self._plain:
            self.br()
        self._plain.append("• ")
        self._html.append("• ")
        return self

    def extend(self, other: Rich) -> Rich:
        self._plain.extend(other._plain)
        self._html.extend(other._html)
        return self

    def page(self, title: str) -> str:
        """The message as an HTML document to keep, forward or print."""
        return (f'<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" '
                f'content="width=device-width, initial-scale=1"><title>{html.escape(neutralise(title))}</title>'
                f"</head><body>{self.html}</body></html>")

    @property
    def plain(self) -> str:
        return "".join(self._plain)

    @property
    def html(self) -> str:
        return "".join(self._html)
