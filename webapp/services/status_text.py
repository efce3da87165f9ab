"""The words of a status: the story, the business (by handle, so it is notified), tags, link."""

from __future__ import annotations

from dataclasses import dataclass

import grapheme

from webapp.models import Kind
from webapp.services.mastodon import (
    DEFAULT_MAX_CHARACTERS,
    DEFAULT_URL_LENGTH,
    raw_length,
    status_length,
)

HASHTAGS = {Kind.PRAISE: "#CustomerServiceWin", Kind.COMPLAINT: "#CustomerService"}
ELLIPSIS = "…"


@dataclass
class Status:
    """A status ready to post, with its length as the server will count it."""

    text: str
    length: int
    limit: int
    shortened: bool = False

    @property
    def fits(self) -> bool:
        """Tell whether the server will accept it."""
        return self.length <= self.limit


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
