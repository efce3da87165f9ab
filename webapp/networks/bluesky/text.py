"""Counting as Bluesky counts, and the words of a post: the story, the business (by handle, as
a mention facet so it is notified), the tag, the link (a link facet), and the link card.

Bluesky counts a post's text in graphemes (at most 300) and UTF-8 bytes (at most 3,000); a
facet marks a stretch of the text by UTF-8 byte offsets. The link is counted as it is shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import grapheme

from webapp.models import Kind
from webapp.networks import LinkCard, Status

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
DESCRIPTION_MAX = 300  # the card's description: the story's first words
HASHTAGS = {Kind.PRAISE: "#CustomerServiceWin", Kind.COMPLAINT: "#CustomerService"}
TITLES = {Kind.PRAISE: "Praise for {name}", Kind.COMPLAINT: "A complaint about {name}"}
ELLIPSIS = "…"
# A handle is a domain name: labels of letters, digits and hyphens, and a last label that
# doesn't start with a digit (https://atproto.com/specs/handle).
HANDLE_RE = re.compile(
    r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE
)


def parse_handle(value: str) -> str | None:
    """Read a Bluesky handle as people write it (`@brand.bsky.social`, `brand.example`)."""
    handle = value.strip().removeprefix("@").removeprefix("at://").rstrip(".").lower()
    if len(handle) > 253 or not HANDLE_RE.match(handle):
        return None
    return handle


def shown_link(link: str) -> str:
    """Return the link as the post shows it: without its scheme, as Bluesky's own app does."""
    return re.sub(r"^https?://", "", link)


def count(text: str) -> tuple[int, int]:
    """Count a post's text as Bluesky does: (graphemes, UTF-8 bytes)."""
    return grapheme.length(text), len(text.encode("utf-8"))


def byte_span(text: str, start: int, part: str) -> dict:
    """Return the UTF-8 byte offsets of `part`, found in `text` from character `start`."""
    at = text.index(part, start)
    first = len(text[:at].encode("utf-8"))
    return {"byteStart": first, "byteEnd": first + len(part.encode("utf-8"))}


def facets(
    text: str, *, tail_at: int, mention: str | None, did: str | None, tag: str, link: str
) -> list[dict]:
    """Mark the mention (by DID), the tag and the link in the text's tail, by byte offsets."""
    marks = []
    if mention and did:
        marks.append(
            {
                "index": byte_span(text, tail_at, mention),
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}],
            }
        )
    tag_span = byte_span(text, tail_at, tag)
    marks.append(
        {
            "index": tag_span,
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag.removeprefix("#")}],
        }
    )
    marks.append(
        {
            "index": byte_span(text, text.rindex(shown_link(link)), shown_link(link)),
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": link}],
        }
    )
    return marks


def first_words(body: str, limit: int = DESCRIPTION_MAX) -> str:
    """Return the story's first words for the card, cut at a word with "…" when long."""
    words = " ".join(body.split())
    if grapheme.length(words) <= limit:
        return words
    cut = grapheme.slice(words, 0, limit - 1)
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + ELLIPSIS


def compose(
    body: str,
    *,
    kind: str,
    business_name: str,
    handle: str | None,
    link: str,
    did: str | None = None,
    image: Callable[[], bytes | None] | None = None,
    max_graphemes: int = MAX_GRAPHEMES,
    max_bytes: int = MAX_BYTES,
) -> Status:
    """Build the post; if it is too long, shorten the story with "…", never the rest.

    `handle` is the business's handle (mentioned when `did` says whom it names), `link` the
    permalink; `image` draws the card's picture when the post is sent.
    """
    hashtag = HASHTAGS[Kind(kind)]
    about = f"@{handle}" if handle else business_name
    end = f"{about} {hashtag}\n{shown_link(link)}"

    def build(story: str) -> str:
        return f"{story}\n\n{end}" if story else end

    def fits(text: str) -> bool:
        graphemes, size = count(text)
        return graphemes <= max_graphemes and size <= max_bytes

    story = body.strip()
    shortened = False
    if not fits(build(story)):
        shortened = True
        # Find the longest start of the story that fits once "…" is added.
        low, high = 0, grapheme.length(story)
        while low < high:
            middle = (low + high + 1) // 2
            if fits(build(grapheme.slice(story, 0, middle).rstrip() + ELLIPSIS)):
                low = middle
            else:
                high = middle - 1
        story = grapheme.slice(story, 0, low).rstrip() + ELLIPSIS if low else ""
    text = build(story)
    graphemes, size = count(text)
    tail_at = len(text) - len(end)
    card = LinkCard(
        uri=link,
        title=TITLES[Kind(kind)].format(name=business_name),
        description=first_words(body),
        image=image,
    )
    return Status(
        text,
        graphemes,
        max_graphemes,
        shortened=shortened,
        size=size,
        max_size=max_bytes,
        facets=facets(
            text,
            tail_at=tail_at,
            mention=about if handle else None,
            did=did,
            tag=hashtag,
            link=link,
        ),
        card=card,
    )
