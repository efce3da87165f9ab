"""Rendered parts of pages, kept between requests and dropped the moment what they show changes.

A page rendered for a signed-in person can't come from the page cache in front of the app
(webapp/web/page_cache.py), yet most of it is the same for everyone: a wall's numbers, trend and
posts; a person's public posts; the latest praise. Those parts are rendered once and kept under
a key that carries the generation of every scope they show: a business, a person, all posts.
Every commit that changes a post, a reply, a business or a person moves its scopes' generations
on (webapp/infra/fragment_scopes.py), so the next request renders afresh, the author included.

Generations live in Redis when REDIS_URL is set, so a change made in one process is seen by
every other at once, and the rendered parts are shared too. Without Redis they live in the
process, which is right only when a single process serves the site and runs the queue
(`flask serve`); anywhere else the cache stays off. Kept parts also expire after
FRAGMENT_CACHE_SECONDS (60 by default; 0 turns the cache off), for what only time changes,
such as "3 minutes ago".
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from time import monotonic

import redis
from flask import Flask, current_app, g, has_app_context, has_request_context, request
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from webapp.extensions import db
from webapp.models import Business

log = logging.getLogger(__name__)

ALL = "all"  # moved on by what every page may show: a business renamed, a person renamed
POSTS = "posts"  # moved on by any post anywhere: the wall and the site's feed
CHALLENGES = "challenges"  # moved on by any challenge round: the community's totals
# What one process keeps at most; past either, the oldest parts go first.
MAX_ENTRIES = 5000
MAX_BYTES = 64 * 1024 * 1024
# Stands in for the person's CSRF token in a kept part; the token is put back on the way out.
CSRF_MARK = "\x00csrf\x00"
PREFIX = "praisewall:fragments:"


class Rendered(Markup):
    """HTML our templates rendered: each value in it was made printable as it was printed.

    Printing it again inside a page needs no second look at its characters
    (webapp.web.template_helpers.printable), which cost as much as the rest of a kept page.
    Only ever print it whole: joined to other text, it would vouch for what it never saw.
    """

    __slots__ = ()


def business_scope(business_id: int) -> str:
    """Name the scope of one business's wall."""
    return f"b{business_id}"


def user_scope(user_id: int) -> str:
    """Name the scope of one person's pages."""
    return f"u{user_id}"


def account_scope(user_id: int) -> str:
    """Name the scope of a person's own row and network accounts, which their posts leave be."""
    return f"a{user_id}"


def person_scopes(user_id: int) -> set[str]:
    """Name both scopes of a person: all of their pages, and their own row and accounts."""
    return {user_scope(user_id), account_scope(user_id)}


class Fragments:
    """Scope generations and rendered parts: in Redis when given one, else in this process."""

    def __init__(self, seconds: float, shared: redis.Redis | None, site: str = "") -> None:
        """Keep parts for `seconds`; share generations and parts through `shared` when given,
        under a prefix of `site`'s own, so two sites on one Redis never see each other's."""
        self.seconds = seconds
        self.shared = shared
        self.prefix = f"{PREFIX}{hashlib.sha256(site.encode()).hexdigest()[:12]}:"
        self.generations: dict[str, int] = {}
        self.kept: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def key(self, name: str, parts: Sequence[object], scopes: Sequence[str]) -> str:
        """Return the key of a part: its name and parts, and its scopes' generations now."""
        scopes = (ALL, *scopes)
        if self.shared is None:
            numbers = [self.generations.get(scope, 0) for scope in scopes]
        else:
            found = self.shared.mget([self.prefix + "gen:" + scope for scope in scopes])
            numbers = [int(value or 0) for value in found]
        return "|".join([name, *map(str, parts), *map(str, numbers)])

    def bump(self, scopes: Iterable[str]) -> None:
        """Move each scope's generation on, so parts that show it are rendered afresh."""
        scopes = sorted(set(scopes))
        if not scopes:
            return
        if self.shared is None:
            with self.lock:
                for scope in scopes:
                    self.generations[scope] = self.generations.get(scope, 0) + 1
            return
        pipe = self.shared.pipeline(transaction=False)
        for scope in scopes:
            pipe.incr(self.prefix + "gen:" + scope)
        pipe.execute()

    def get(self, key: str) -> str | None:
        """Return a kept part, from this process or else from Redis, if fresh."""
        now = monotonic()
        entry = self.kept.get(key)
        if entry is not None and now - entry[0] < self.seconds:
            return entry[1]
        if self.shared is None:
            return None
        found = self.shared.get(self.prefix + key)
        if found is None:
            return None
        html = found.decode()
        self.keep_here(key, html, now)
        return html

    def put(self, key: str, html: str) -> None:
        """Keep a part here, and in Redis for the other processes."""
        self.keep_here(key, html, monotonic())
        if self.shared is not None:
            self.shared.set(self.prefix + key, html.encode(), ex=max(1, int(self.seconds)))

    def keep_here(self, key: str, html: str, made: float) -> None:
        """Keep a part in this process, dropping the oldest when full."""
        size = len(html)
        with self.lock:
            self.forget(key)
            while self.kept and (len(self.kept) >= MAX_ENTRIES or self.size + size > MAX_BYTES):
                self.forget(next(iter(self.kept)))
            self.kept[key] = (made, html)
            self.size += size

    def forget(self, key: str) -> None:
        """Drop one kept part, if kept; the caller holds the lock."""
        old = self.kept.pop(key, None)
        if old is not None:
            self.size -= len(old[1])


def current() -> Fragments | None:
    """Return this app's fragment cache, or None when it is off."""
    if not has_app_context():
        return None
    return current_app.extensions.get("fragments")


def remembered(
    name: str, parts: Sequence[object], scopes: Sequence[str], find: Callable[[], str | None]
) -> str | None:
    """Return the value named by `name` and `parts`, finding it only when none is kept fresh.

    `scopes` are what it depends on, besides everything (ALL). Nothing found is never kept,
    so something made after a look that found nothing is found on the next.
    """
    store = current()
    if store is None:
        return find()
    try:
        key = store.key(name, parts, scopes)
        value = store.get(key)
    except redis.RedisError as error:
        log.warning("fragment cache unavailable, finding afresh: %s", error)
        return find()
    if value is not None:
        return value
    value = find()
    if value is not None:
        try:
            store.put(key, value)
        except redis.RedisError as error:
            log.warning("fragment cache unavailable, not keeping a part: %s", error)
    return value


def cached(name: str, parts: Sequence[object], scopes: Sequence[str], render: Callable[[], str]):
    """Return the part named by `name` and `parts`, rendering it only when none is kept fresh.

    `scopes` are what the part shows; `render` must depend on nothing else (the person looking
    included, unless their id is among `parts`).
    """
    if current() is None:
        return Rendered(render())  # nosec B704 # rendered by our templates, escaped by Jinja
    if has_request_context():
        # Links in a part carry the host and the request's own arguments (the pager keeps
        # them): a part is kept for exactly the address it was rendered for.
        parts = (request.host_url, request.query_string.decode("latin-1"), *parts)

    def fresh() -> str:
        """Render the part, for keeping: the reader's CSRF token swapped for the mark."""
        # A business the view loaded before the key was read may predate a post that moved
        # its counters and these scopes on since: read it afresh, so the part kept under this
        # key shows what it stands for. (A person renamed in that instant is the same race,
        # rare enough to leave to FRAGMENT_CACHE_SECONDS; their row stays as loaded.)
        for loaded in list(db.session.identity_map.values()):
            if isinstance(loaded, Business):
                db.session.expire(loaded)
        return without_csrf(render())

    html = remembered(name, parts, scopes, fresh) or ""
    # Kept as our templates rendered it, in this process or our own Redis.
    return Rendered(with_csrf(html))  # nosec B704 # rendered by our templates, escaped by Jinja


def without_csrf(html: str) -> str:
    """Return rendered HTML with this request's CSRF token, if it used one, swapped for a mark."""
    token = g.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    return html.replace(token, CSRF_MARK) if token else html


def with_csrf(html: str) -> str:
    """Return kept HTML with this request's own CSRF token where the mark stands."""
    return html.replace(CSRF_MARK, generate_csrf()) if CSRF_MARK in html else html


def bump(scopes: Iterable[str]) -> None:
    """Move these scopes on now, in this app's cache; a Redis outage is logged, not raised."""
    store = current()
    if store is None:
        return
    try:
        store.bump(scopes)
    except redis.RedisError as error:
        # Other processes may show the old part until it expires (FRAGMENT_CACHE_SECONDS),
        # and keep the people they read for a few seconds (kept_people.SHARED_SECONDS); this
        # one forgets its people now, as the change may be a new password.
        current_app.extensions.pop("kept_people", None)
        log.warning("fragment cache could not be told of a change: %s", error)


def init_app(app: Flask) -> None:
    """Turn the cache on: shared through Redis, or in the process when one process serves."""
    seconds = float(app.config.get("FRAGMENT_CACHE_SECONDS", 0))
    url = app.config.get("FRAGMENT_CACHE_REDIS_URL", "")
    if seconds <= 0 or not (url or app.config.get("ONE_PROCESS")):
        app.extensions.pop("fragments", None)
        return
    shared = None
    if url:
        shared = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    site = str(app.config.get("SQLALCHEMY_DATABASE_URI", ""))
    app.extensions["fragments"] = Fragments(seconds, shared, site)
