"""What each commit changes, in fragment scopes: every page part that shows it is dropped.

Every flush and every bulk UPDATE or DELETE through the session is read for the rows it
touches: a post moves its business, its author and the list of all posts on; a reply or status
on a network moves its post's; a business or person moves its own, and everything when renamed,
since its name is shown beside posts everywhere. A person's row and network accounts also move
their account scope on, which their posts and rounds leave be (the compose form shows only
those); a Mastodon server's new limits move everything on, as nothing says whose form shows
them. The scopes are gathered in the session and moved on right after the commit, so a person
who changed something sees it on their next page.
"""

from __future__ import annotations

from typing import cast

import sqlalchemy as sa
import sqlalchemy.orm as so

from webapp.infra import fragments
from webapp.infra.fragments import (
    ALL,
    CHALLENGES,
    POSTS,
    account_scope,
    business_scope,
    person_scopes,
    user_scope,
)
from webapp.models import (
    BlueskyAccount,
    Business,
    BusinessManager,
    BusinessReply,
    ChallengeRound,
    Crosspost,
    MastodonAccount,
    MastodonServer,
    Post,
    User,
)

PENDING = "fragments.scopes"
# Columns shown beside posts on every page: a change to one of them moves everything on.
SHOWN_EVERYWHERE = {Business: ("name", "slug"), User: ("username",)}
# A server's limits, shown on the compose form of each person there.
SERVER_LIMITS = ("max_characters", "url_length")
# Tables whose rows hang off a post: what they show is their post's.
ON_A_POST = (Crosspost, BusinessReply)
# Tables whose bulk changes are rare enough to move everything on.
OF_THEIR_OWN = (
    Business,
    User,
    ChallengeRound,
    MastodonAccount,
    BlueskyAccount,
    BusinessManager,
    MastodonServer,
)


def post_scopes(business_id: int | None, author_id: int | None) -> set[str]:
    """Return the scopes a post shows in: its business's, its author's and all posts'."""
    scopes = {POSTS}
    if business_id is not None:
        scopes.add(business_scope(business_id))
    if author_id is not None:
        scopes.add(user_scope(author_id))
    return scopes


def values_of(obj: object, attribute: str) -> set:
    """Return an attribute's values before and after this flush."""
    history = so.attributes.get_history(obj, attribute)
    return {v for v in (*history.unchanged, *history.deleted, *history.added) if v is not None}


def changes_any(obj: object, attributes: tuple[str, ...]) -> bool:
    """Tell whether a flush changes any of these attributes of the object."""
    return any(so.attributes.get_history(obj, attribute).has_changes() for attribute in attributes)


def renamed(obj: object) -> bool:
    """Tell whether a flush changes a name shown beside posts everywhere."""
    return changes_any(obj, SHOWN_EVERYWHERE.get(type(obj), ()))


def of_posts(connection: sa.Connection, session: so.Session, post_ids: set[int]) -> set[str]:
    """Return the scopes of these posts, read from the session where held, else the database."""
    scopes: set[str] = set()
    missing = set()
    for post_id in post_ids:
        post = session.identity_map.get(so.util.identity_key(Post, post_id))
        if post is None:
            missing.add(post_id)
        else:
            scopes |= post_scopes(post.business_id, post.author_id)
    if missing:
        rows = connection.execute(
            sa.select(Post.business_id, Post.author_id).where(Post.id.in_(sorted(missing)))
        )
        for business_id, author_id in rows:
            scopes |= post_scopes(business_id, author_id)
        scopes.add(POSTS)
    return scopes


def flushed_scopes(session: so.Session) -> set[str]:
    """Return the scopes of everything this flush writes or deletes."""
    scopes: set[str] = set()
    post_ids: set[int] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Post):
            for business_id in values_of(obj, "business_id") or {None}:
                scopes |= post_scopes(business_id, obj.author_id)
        elif isinstance(obj, ON_A_POST):
            post_ids |= values_of(obj, "post_id")
            scopes |= {business_scope(b) for b in values_of(obj, "business_id")}
        elif isinstance(obj, Business | User) and (
            obj in session.deleted or (obj not in session.new and renamed(obj))
        ):
            scopes.add(ALL)
        elif isinstance(obj, Business):
            scopes.add(business_scope(obj.id))
        elif isinstance(obj, User):
            scopes.add(user_scope(obj.id))
            if obj in session.new or session.is_modified(obj, include_collections=False):
                scopes.add(account_scope(obj.id))
        elif isinstance(obj, ChallengeRound):
            scopes |= {CHALLENGES, user_scope(obj.user_id)}
        elif isinstance(obj, MastodonAccount | BlueskyAccount):
            for user_id in values_of(obj, "user_id"):
                scopes |= person_scopes(user_id)
        elif (
            isinstance(obj, MastodonServer)
            and obj not in session.new
            and changes_any(obj, SERVER_LIMITS)
        ):
            scopes.add(ALL)
        elif isinstance(obj, BusinessManager):
            scopes.add(business_scope(obj.business_id))
    if post_ids:
        scopes |= of_posts(session.connection(), session, post_ids)
    return scopes


def note(session: so.Session, scopes: set[str]) -> None:
    """Remember scopes to move on when the session's transaction commits."""
    if scopes:
        session.info.setdefault(PENDING, set()).update(scopes)


@sa.event.listens_for(so.Session, "after_flush")
def _note_flush(session: so.Session, flush_context) -> None:
    """Note the scopes of what this flush wrote."""
    if fragments.current() is not None:
        note(session, flushed_scopes(session))


@sa.event.listens_for(so.Session, "do_orm_execute")
def _note_bulk(state: so.ORMExecuteState) -> None:
    """Note the scopes of the rows a bulk UPDATE or DELETE is about to change."""
    if not (state.is_update or state.is_delete) or fragments.current() is None:
        return
    statement = cast(sa.Update | sa.Delete, state.statement)
    table = statement.table
    where = statement.whereclause
    connection = state.session.connection()
    if table == Post.__table__:
        query = sa.select(Post.business_id, Post.author_id)
    elif table in (model.__table__ for model in ON_A_POST):
        query = sa.select(Post.business_id, Post.author_id).join_from(
            table, Post, Post.id == table.c.post_id
        )
    elif table in (model.__table__ for model in OF_THEIR_OWN):
        note(state.session, {ALL})
        return
    else:
        return
    if where is not None:
        query = query.where(where)
    scopes = {POSTS}
    for business_id, author_id in connection.execute(query):
        scopes |= post_scopes(business_id, author_id)
    note(state.session, scopes)


@sa.event.listens_for(so.Session, "after_commit")
def _bump(session: so.Session) -> None:
    """Move the noted scopes on, now that the change is there for every reader."""
    fragments.bump(session.info.pop(PENDING, set()))


@sa.event.listens_for(so.Session, "after_transaction_end")
def _forget(session: so.Session, transaction: so.SessionTransaction) -> None:
    """Forget the noted scopes once the outermost transaction ends (after any commit's bump)."""
    if transaction.parent is None:
        session.info.pop(PENDING, None)
