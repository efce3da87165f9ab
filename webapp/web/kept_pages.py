"""Whole pages kept for the signed-in person who saw them, so their next look costs little.

A signed-in person's page is a layout made for them (their links, banners and log-out form)
around parts kept for everyone (webapp/infra/fragments.py). With those parts kept, reading the
person and rendering the layout cost more than the rest, so the page is also kept whole for the
person, in the same store, under their own scope and the scopes of what it shows: it is
rendered afresh when either moves on, and after FRAGMENT_CACHE_SECONDS at the latest.

The person is recognised by the signed session cookie alone ("id:token", as Flask-Login keeps
it), without reading them: the page is kept with a hash of the cookie value that saw it and
served only to a cookie with that same value. A new password, signing out everywhere or a
deleted account changes the person's row, which moves their scopes on (both the scope of all
their pages and the narrower one of their row and accounts), so a kept page is never served to
a cookie that no longer signs them in. A page with a message to show once (a flash)
is rendered, not kept, and each reader's own CSRF token is put back on the way out.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import Callable, Sequence

import redis
from flask import Response, g, make_response, request, session
from flask_login import current_user

from webapp.infra import fragments
from webapp.infra.fragments import user_scope
from webapp.models import parse_id
from webapp.web.caching import cacheable

log = logging.getLogger(__name__)

SIGNED_IN_AS = "_user_id"  # where Flask-Login keeps "id:token" in the session
FLASHES = "_flashes"  # where Flask keeps messages waiting to be shown


def signed_in_as() -> tuple[int, str] | None:
    """Return the person the session cookie names and a hash of its sign-in, or None."""
    value = session.get(SIGNED_IN_AS)
    if not isinstance(value, str) or FLASHES in session:
        return None
    person = parse_id(value.partition(":")[0])
    if person is None:
        return None
    return person, hashlib.sha256(value.encode()).hexdigest()


def not_for_keeping() -> None:
    """Tell the page being rendered not to be kept: it shows what the person's scope misses."""
    g.keep_page = False


def for_person(
    name: str,
    scopes: Callable[..., Sequence[str] | None],
    whose: Callable[[int], str] = user_scope,
    parts: Callable[[], Sequence[object]] = tuple,
):
    """Keep the view's page whole for each signed-in person, under their scope and `scopes`.

    `scopes` takes the view's arguments and names the scopes the page shows, or returns None
    to have it rendered as usual (an address that names nothing). `whose` names the person's
    scope the page shows: all of their pages (user_scope), or only their own row and accounts
    (account_scope). `parts` gives anything else the page shows that no scope covers, such as
    today's date. Visitors are left to the page cache and the kept parts.
    """

    def decorate(view: Callable[..., Response | str]):
        """Wrap one view."""

        @functools.wraps(view)
        def keep(**kwargs):
            """Serve the person's kept page, or render it and keep it."""
            store = fragments.current()
            person = signed_in_as() if store is not None else None
            shown = scopes(**kwargs) if person is not None else None
            if store is None or person is None or shown is None:
                return view(**kwargs)
            person_id, signed = person
            try:
                # The query as bytes read: a byte that isn't UTF-8 must not stop the page.
                query = request.query_string.decode("latin-1")
                key = store.key(
                    "page:" + name,
                    (request.host_url, request.path, query, person_id, *parts()),
                    (*shown, whose(person_id)),
                )
                kept = store.get(key)
            except redis.RedisError as error:
                log.warning("fragment cache unavailable, rendering afresh: %s", error)
                return view(**kwargs)
            if kept is not None:
                seen_by, _, html = kept.partition("\n")
                if hmac.compare_digest(seen_by, signed):
                    page = make_response(fragments.with_csrf(html))
                    return cacheable(page, shared=False)
            g.keep_page = True
            response = make_response(view(**kwargs))
            if not keepable(response, signed):
                return response
            if response.get_etag() == (None, None):
                # As the kept copy will be answered: checked by the person's browser each time.
                response = cacheable(response, shared=False)
            html = fragments.without_csrf(response.get_data(as_text=True))
            try:
                store.put(key, signed + "\n" + html)
            except redis.RedisError as error:
                log.warning("fragment cache unavailable, not keeping a page: %s", error)
            return response

        return keep

    return decorate


def keepable(response: Response, signed: str) -> bool:
    """Tell whether a page just rendered may be kept for the sign-in the cookie holds: the
    person who saw it signed in by that very cookie value, not by another way in."""
    return bool(
        g.pop("keep_page", False)
        and response.status_code == 200
        and response.mimetype == "text/html"
        and not response.direct_passthrough
        and FLASHES not in session
        and current_user.is_authenticated
        and hmac.compare_digest(hashlib.sha256(current_user.get_id().encode()).hexdigest(), signed)
    )
