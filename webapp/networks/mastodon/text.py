"""Counting as Mastodon counts, and the words of a status: the story, the business (by handle,
so it is notified), tags, link; and statuses' HTML read back as plain text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import grapheme
from mastodon._url_regex import url_regex

from webapp.models import Kind
from webapp.networks import Status

DEFAULT_MAX_CHARACTERS = 500
DEFAULT_URL_LENGTH = 23
REMOTE_MENTION_RE = re.compile(r"(^|[^/\w])@(([a-z0-9_]+)@[a-z0-9.\-]+[a-z0-9]+)", re.IGNORECASE)


def status_length(text: str, spoiler_text: str = "", url_length: int = DEFAULT_URL_LENGTH) -> int:
    """Count a status as Mastodon does: graphemes, each link as url_length, @user@host as @user."""
    counted = url_regex.sub(lambda m: m.group(2) + "x" * url_length, text)
    counted = REMOTE_MENTION_RE.sub(r"\1@\3", counted)
    return grapheme.length(counted) + grapheme.length(spoiler_text)


def raw_length(text: str, spoiler_text: str = "") -> int:
    """Count a status the strictest way: every character as written, links and mentions whole."""
    return len(text) + len(spoiler_text)


class _TextOnly(HTMLParser):
    """Collects the words of a status's HTML, with its paragraphs and line breaks."""

    def __init__(self) -> None:
        """Start with no text."""
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Turn a line break into a newline; note the start of text nobody reads."""
        if tag == "br":
            self.parts.append("\n")
        elif tag in UNREAD_TAGS:
            self.skipping += 1

    def handle_endtag(self, tag: str) -> None:
        """End a paragraph with a blank line."""
        if tag in ("p", "div", "blockquote", "li", "h1", "h2", "h3", "h4", "h5", "h6"):
            self.parts.append("\n\n")
        elif tag in UNREAD_TAGS:
            self.skipping = max(self.skipping - 1, 0)

    def handle_data(self, data: str) -> None:
        """Keep the words, except inside script or style."""
        if not self.skipping:
            self.parts.append(data)


UNREAD_TAGS = ("script", "style", "template")
REPLY_TEXT_MAX = 500


def plain_text(content: str, limit: int = REPLY_TEXT_MAX) -> str:
    """Return a status's HTML content as plain text, tags dropped, at most `limit` characters.

    The result is shown escaped, never as HTML.
    """
    parser = _TextOnly()
    parser.feed(content[: limit * 20])  # markup is verbose, but a reply is no book
    parser.close()
    text = "".join(parser.parts).replace("\x00", "").replace("\r", "")
    lines = [" ".join(line.split()) for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


# --- The status ---

HASHTAGS = {Kind.PRAISE: "#CustomerServiceWin", Kind.COMPLAINT: "#CustomerService"}
ELLIPSIS = "…"


def tail(kind: str, business_name: str, handle: str | None, link: str) -> str:
    """Return the part that is never shortened: who it's about, the hashtag, the link."""
    about = handle or business_name
    return f"{about} {HASHTAGS[Kind(kind)]}\n{link}"


def compose(
    body: str,
    *,
    kind: str,
    business_name: str,
    handle: str | None,
    link: str,
    spoiler_text: str = "",
    max_characters: int = DEFAULT_MAX_CHARACTERS,
    url_length: int = DEFAULT_URL_LENGTH,
    strict: bool = False,
) -> Status:
    """Build the status; if it is too long, shorten the story with "…", never the rest.

    `strict` counts every character as written, for servers that don't count as Mastodon does.
    """
    end = tail(kind, business_name, handle, link)

    def build(story: str) -> str:
        return f"{story}\n\n{end}" if story else end

    def length(text: str) -> int:
        if strict:
            return raw_length(text, spoiler_text)
        return status_length(text, spoiler_text, url_length)

    text = build(body.strip())
    if length(text) <= max_characters:
        return Status(text, length(text), max_characters)
    # Find the longest start of the story that fits once "…" is added.
    low, high = 0, grapheme.length(body)
    while low < high:
        middle = (low + high + 1) // 2
        if length(build(grapheme.slice(body, 0, middle).rstrip() + ELLIPSIS)) <= max_characters:
            low = middle
        else:
            high = middle - 1
    story = grapheme.slice(body, 0, low).rstrip() + ELLIPSIS if low else ""
    text = build(story)
    return Status(text, length(text), max_characters, shortened=True)
