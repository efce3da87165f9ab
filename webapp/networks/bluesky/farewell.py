"""A deleted account's Bluesky connection: kept, belonging to nobody, while its posts are
deleted, then its session ended and the connection forgotten."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import BlueskyAccount, Crosspost, CrosspostState
from webapp.networks.bluesky import signin


def farewells_done(account_ids: list[int] | None = None, limit: int = 100) -> list[int]:
    """Return deleted accounts' connections (of these, if given) with nothing left to delete."""
    deleting = sa.select(Crosspost.id).where(
        Crosspost.network == BlueskyAccount.NETWORK,
        Crosspost.account_id == BlueskyAccount.id,
        Crosspost.state == CrosspostState.DELETING,
    )
    query = sa.select(BlueskyAccount.id).where(BlueskyAccount.user_id.is_(None), ~deleting.exists())
    if account_ids is not None:
        query = query.where(BlueskyAccount.id.in_(account_ids))
    return list(db.session.scalars(query.order_by(BlueskyAccount.id).limit(limit)))


def end_farewell(account_id: int) -> bool | None:
    """End the session of a deleted account's connection and forget it, once its posts are gone.

    Returns whether the server confirmed it, or None when there was nothing to end (deletions
    still running, the row gone, or its person signed in again and took it over).
    """
    if not farewells_done([account_id]):
        return None
    account = db.session.get(BlueskyAccount, account_id)
    revoked = signin.revoke(account)
    # Checked again with the row locked: its person may have signed in again meanwhile.
    row = BlueskyAccount.__table__.c
    db.session.execute(
        sa.update(BlueskyAccount.__table__)
        .where(row.id == account_id)
        .values(needs_login=row.needs_login)
    )
    if not farewells_done([account_id]):
        return None
    db.session.execute(
        sa.update(Crosspost).where(Crosspost.of_account(account)).values(account_id=None)
    )
    db.session.delete(account)
    return revoked
