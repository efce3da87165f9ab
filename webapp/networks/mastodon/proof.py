"""Proof of a business's reply: its own server, found by WebFinger, must say it wrote it."""

from __future__ import annotations

from datetime import datetime

from webapp.infra.http import fetch_json, origin
from webapp.networks.mastodon.client import CLOCK_SKEW, as_datetime
from webapp.networks.mastodon.handles import webfinger
from webapp.networks.mastodon.text import plain_text

ACTIVITY_JSON = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'


def find_actor(acct: str) -> str | None:
    """Return the actor URI WebFinger on the handle's own domain names for it, or None.

    None when the domain can't be reached as well as when it doesn't know the handle.
    """
    document = webfinger(acct.lstrip("@"))
    if document is None:
        return None
    links = document.get("links")
    return next(
        (
            link["href"]
            for link in (links if isinstance(links, list) else [])
            if isinstance(link, dict)
            and link.get("rel") == "self"
            and isinstance(link.get("href"), str)
            and origin(link["href"])[0] in ("https", "http")
        ),
        None,
    )


def fetch_object(uri: str) -> dict | None:
    """Fetch an ActivityPub object from its own server; None unless the server says it is it."""
    document = fetch_json(uri, accept=ACTIVITY_JSON)
    if not isinstance(document, dict) or object_id(document) != uri:
        return None
    return document


def object_id(value: object) -> str | None:
    """Return the id an ActivityPub reference carries: a bare URI, or an object with an id."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def confirmed_reply(uri: str, actor: str, root: str, since: datetime) -> dict | None:
    """Return the reply as its own server has it, if that is the actor's server and it says the
    actor wrote it, after `since` (our status's sending), in reply to `root`, directly or to a
    reply to it; else None, unreachable servers included.

    A reply in between is believed only from the actor's server or `root`'s (the poster's):
    any other server could say whatever it likes about what its note answers.
    """
    if not uri or origin(uri) != origin(actor):
        return None
    note = fetch_object(uri)
    if note is None or object_id(note.get("attributedTo")) != actor:
        return None
    published = as_datetime(note.get("published"))
    if published is None or published < since - CLOCK_SKEW:
        return None
    parent = object_id(note.get("inReplyTo"))
    if parent is not None and parent != root:
        trusted = origin(parent) in (origin(actor), origin(root))
        above = fetch_object(parent) if trusted else None
        parent = object_id(above.get("inReplyTo")) if above else None
    if parent != root:
        return None
    url = note.get("url")
    url = object_id(url if not isinstance(url, list) else (url or [None])[0])
    return {
        "created_at": published,
        # The page to link to, only on the business's server; else the id, which is.
        "url": url if url and origin(url) == origin(actor) else uri,
        "text": plain_text(str(note.get("content") or "")),
    }
