"""Share links for a page, and a story made from what another app shared into ours."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlencode

from flask import url_for

from webapp.models import BODY_MAX
from webapp.text import strip_text

SHARED_MAX = 1000  # a shared title, text or link longer than this is not a story


def query(params: dict[str, str]) -> str:
    """Encode query parameters with %20 for spaces, which every site and mail app reads."""
    return urlencode(params, quote_via=quote)


def share_links(url: str, text: str) -> list[tuple[str, str]]:
    """Return (label, address) pairs that share a page on other sites, with no script of theirs."""
    both = f"{text} {url}".strip()
    return [
        ("Mastodon", url_for("pwa.share_mastodon") + "?" + query({"text": both})),
        ("Bluesky", "https://bsky.app/intent/compose?" + query({"text": both})),
        ("X", "https://x.com/intent/post?" + query({"text": text, "url": url})),
        ("Facebook", "https://www.facebook.com/sharer/sharer.php?" + query({"u": url})),
        ("LinkedIn", "https://www.linkedin.com/sharing/share-offsite/?" + query({"url": url})),
        ("Email", "mailto:?" + query({"subject": text, "body": f"{text}\n\n{url}"})),
    ]


def shared_story(args: Mapping[str, str]) -> str:
    """Make a story's first words from a share sheet's title, text and link."""
    title, text, link = (
        strip_text(args.get(name, "")[:SHARED_MAX]) or "" for name in ("title", "text", "url")
    )
    parts = [text or title]
    if link and link not in text:
        parts.append(link)
    return "\n".join(part for part in parts if part)[:BODY_MAX]
