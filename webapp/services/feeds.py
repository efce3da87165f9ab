"""Atom feeds of public posts, with ids that never change."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from xml.etree import ElementTree as ET  # nosec B405 # only builds feeds, never parses

from webapp.models import Post
from webapp.text import duration, xml_safe

ATOM = "http://www.w3.org/2005/Atom"
FEED_SIZE = 50
XML_DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>\n"


def tag_uri(host: str, start: datetime, specific: str) -> str:
    """Return a tag: URI (RFC 4151), stable for as long as the thing exists."""
    return f"tag:{host.split(':')[0]},{start:%Y-%m-%d}:{specific}"


def entry_title(post: Post) -> str:
    """Title an entry like "Praise for Corner Bakery"."""
    kind = "Praise for " if post.is_praise else "A complaint about "
    return kind + xml_safe(post.business.name)


def entry_text(post: Post) -> str:
    """Return the entry's text: the post, where the business replied on a network, then its
    answer on its wall, if any."""
    text = post.body
    answered = post.business_reply
    if answered is not None and answered.sent_at is not None:
        delay = max(answered.replied_at - answered.sent_at, timedelta(0))
        text += (
            f"\n\n{post.business.name} replied on {answered.network_label} after {duration(delay)}."
        )
    reply = post.shown_wall_reply
    if reply is None:
        return text
    edited = " (edited)" if reply.is_edited else ""
    return (
        f"{text}\n\nReply from {post.business.name} after {duration(reply.delay)}"
        f"{edited}:\n{reply.body}"
    )


def atom(
    *,
    title: str,
    feed_id: str,
    self_url: str,
    page_url: str,
    posts: Iterable[Post],
    link_for,
    id_for,
    updated: datetime,
) -> bytes:
    """Build an Atom 1.0 document for the posts, newest first.

    ElementTree writes control characters as they are, so people's text goes through xml_safe.
    """
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = xml_safe(title)
    ET.SubElement(feed, f"{{{ATOM}}}id").text = feed_id
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = updated.isoformat()
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=self_url)
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", href=page_url, type="text/html")
    ET.SubElement(ET.SubElement(feed, f"{{{ATOM}}}author"), f"{{{ATOM}}}name").text = "Praisewall"
    for post in posts:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}title").text = entry_title(post)
        ET.SubElement(entry, f"{{{ATOM}}}id").text = id_for(post)
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=link_for(post))
        ET.SubElement(entry, f"{{{ATOM}}}published").text = post.created_at.isoformat()
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = post.last_changed_at.isoformat()
        author = ET.SubElement(entry, f"{{{ATOM}}}author")
        ET.SubElement(author, f"{{{ATOM}}}name").text = xml_safe(post.shown_author) or "a customer"
        ET.SubElement(entry, f"{{{ATOM}}}content", type="text").text = xml_safe(entry_text(post))
    # The same bytes as tostring(encoding="utf-8", xml_declaration=True), without its
    # character-by-character trip through a text wrapper: that was a third of a feed's cost.
    text = ET.tostring(feed, encoding="unicode")
    return XML_DECLARATION + text.encode("utf-8", "xmlcharrefreplace")
