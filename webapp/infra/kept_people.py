"""The signed-in person's row and network accounts, kept in the process between requests.

Every request from a signed-in person reads them (Flask-Login's user loader): to know who the
cookie names, whether its token still signs them in, and what the layout shows them. Posting a
form and seeing the post took three such reads, as much of the server's time as the post's own
writes. So the rows are kept here, under the generations of the person's account scope and of
everything (webapp/infra/fragments.py). Every change to the person's row or accounts moves that
scope on when it commits, in this process or, with REDIS_URL, in every process, so the next
request reads afresh: a new password or signing out everywhere (a new token), a new name, an
account connected, lost or asking for a new sign-in. A kept row also ends after
FRAGMENT_CACHE_SECONDS (5 s at most with Redis, whose bumps can fail), so a change made
outside the app, in SQL by hand, shows within that; nothing is kept while the fragment cache
is off. Only a row read afresh is kept: not one the request already held, nor one read by a
request that has written something.

A kept row is never handed out itself: each request gets its own copy in its own session
(merged without loading), which it may change and commit as if it had read it. Secrets stay
out of memory between requests: the password hash and the networks' tokens are left unloaded
in the copy and read from the database by whatever needs them.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Container
from time import monotonic

import redis
import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app

from webapp.extensions import db
from webapp.infra import fragments
from webapp.infra.fragment_scopes import PENDING
from webapp.infra.fragments import account_scope
from webapp.models import BlueskyAccount, MastodonAccount, User

log = logging.getLogger(__name__)

ACCOUNTS = ("mastodon_account", "bluesky_account")
# Columns left out of a kept row: read from the database when something asks for them.
SECRETS: dict[type, tuple[str, ...]] = {
    User: ("password_hash",),
    MastodonAccount: ("access_token",),
    # Bluesky's tokens are renewed on a connection of their own (networks/bluesky/auth.py).
    BlueskyAccount: (
        "access_token",
        "refresh_token",
        "dpop_key",
        "dpop_nonces",
        "expires_at",
        "token_version",
    ),
}
MAX_PEOPLE = 5000  # kept at most in one process; past that, the longest unused go first
# With generations in Redis, a change whose bump Redis missed (an outage at that moment) is
# heard by no process: a person is kept this long at most there, not FRAGMENT_CACHE_SECONDS.
SHARED_SECONDS = 5.0


@functools.cache
def person_by_id() -> sa.Select:
    """Return the statement that reads a signed-in person, built once: every request runs it.

    Their network accounts come in the same query: every page asks whether either wants a new
    sign-in (base.html's banners), and a wall whether this person may claim it.
    """
    return (
        sa.select(User)
        .options(so.joinedload(User.mastodon_account), so.joinedload(User.bluesky_account))
        .where(User.id == sa.bindparam("id"))
    )


class KeptPeople:
    """Detached copies of people's rows by key, each with the time it was kept."""

    def __init__(self, seconds: float) -> None:
        """Keep each row for at most `seconds`."""
        self.seconds = seconds
        self.rows: OrderedDict[str, tuple[float, User]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> User | None:
        """Return the row kept under this key, if still fresh."""
        with self.lock:
            entry = self.rows.get(key)
            if entry is None or monotonic() - entry[0] >= self.seconds:
                return None
            self.rows.move_to_end(key)
            return entry[1]

    def put(self, key: str, person: User) -> None:
        """Keep a detached copy of the person under this key."""
        with self.lock:
            self.rows[key] = (monotonic(), person)
            self.rows.move_to_end(key)
            while len(self.rows) > MAX_PEOPLE:
                self.rows.popitem(last=False)


def current() -> KeptPeople | None:
    """Return this app's kept people, or None while the fragment cache is off."""
    store = fragments.current()
    return kept_beside(store) if store is not None else None


def kept_beside(store: fragments.Fragments) -> KeptPeople:
    """Return the people this app keeps beside its fragment cache, made on first use."""
    kept = current_app.extensions.get("kept_people")
    if kept is None:
        seconds = store.seconds if store.shared is None else min(store.seconds, SHARED_SECONDS)
        kept = current_app.extensions.setdefault("kept_people", KeptPeople(seconds))
    return kept


def person(person_id: int) -> User | None:
    """Return the person with this id in the request's session, from the kept copy when fresh."""
    store = fragments.current()
    if store is None:
        return read(person_id)
    kept = kept_beside(store)
    try:
        key = store.key("person", (person_id,), (account_scope(person_id),))
    except redis.RedisError as error:
        log.warning("fragment cache unavailable, reading the person afresh: %s", error)
        return read(person_id)
    copy = kept.get(key)
    if copy is not None and not any_held(copy, db.session.identity_map):
        # Merging over rows the request holds would write over changes of its own.
        return attach(copy)
    held = held_keys()
    found = read(person_id)
    # Rows the session held before come back as held, not as read (with the token they had
    # before a change committed since, or with the request's own changes), and a request that
    # has written anything may have written them: only the database's committed word is kept.
    if found is not None and not any_held(found, held) and not db.session.info.get(PENDING):
        # Under the key read before the query: a change committed in between moved the
        # scope on, so this copy is never served under the newer key.
        kept.put(key, detached_copy(found))
    return found


def read(person_id: int) -> User | None:
    """Read the person and their accounts from the database."""
    return db.session.scalar(person_by_id(), {"id": person_id})


def held_keys() -> set:
    """Return the identities of the people and accounts the request's session holds."""
    return {key for key in db.session.identity_map.keys() if key[0] in SECRETS}


def rows_of(found: User) -> list:
    """Return the person's row and those of their network accounts."""
    accounts = (getattr(found, name) for name in ACCOUNTS)
    return [found, *(account for account in accounts if account is not None)]


def any_held(found: User, held: Container) -> bool:
    """Tell whether any of the person's rows is among the identities held."""
    return any(sa.inspect(row).key in held for row in rows_of(found))


def attach(copy: User) -> User:
    """Return the request's own copy of a kept person, its secrets left to load on use."""
    # A column the kept copy lacks is left expired in the merged one, so it loads on use.
    return db.session.merge(copy, load=False)


def detached_copy(found: User) -> User:
    """Return a copy of the person and accounts as read, in no session, without secrets."""
    copy = copied_columns(found)
    for name in ACCOUNTS:
        account = getattr(found, name)
        so.attributes.set_committed_value(
            copy, name, copied_columns(account) if account is not None else None
        )
    for row in rows_of(copy):
        so.make_transient_to_detached(row)
    return copy


def copied_columns(row: object) -> object:
    """Return a new, unattached object of the row's class holding its columns but secrets."""
    mapper = sa.inspect(row).mapper
    copy = mapper.class_manager.new_instance()
    secrets = SECRETS.get(mapper.class_, ())
    for column in mapper.column_attrs:
        if column.key not in secrets:
            so.attributes.set_committed_value(copy, column.key, getattr(row, column.key))
    return copy
