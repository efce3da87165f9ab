"""Finding the person or business a public URL names, or answering 404."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort

from webapp.extensions import db
from webapp.models import Business, User
from webapp.services import accounts

# Built once: every wall, feed and badge looks its business up, and building the statement
# cost as much as running it.
BUSINESS_BY_SLUG = sa.select(Business).where(Business.slug == sa.bindparam("slug"))
BUSINESS_ID_BY_SLUG = sa.select(Business.id).where(Business.slug == sa.bindparam("slug"))
USER_ID_BY_NAME = sa.select(User.id).where(User.username == sa.bindparam("username"))


def user_or_404(username: str) -> User:
    """Return the user with this name.

    :raise 404: if nobody has it.
    """
    user = accounts.find_user(username)
    if user is None:
        abort(404, description="Nobody goes by that name here.")
    return user


def business_or_404(slug: str) -> Business:
    """Return the business at this slug.

    :raise 404: if there is none.
    """
    business = db.session.scalar(BUSINESS_BY_SLUG, {"slug": slug})
    if business is None:
        abort(404, description="We don't know a business at that address.")
    return business


def business_id(slug: str) -> int | None:
    """Return the id of the business at this slug, without loading it, or None."""
    return db.session.scalar(BUSINESS_ID_BY_SLUG, {"slug": slug})


def user_id(username: str) -> int | None:
    """Return the id of the person with this name, without loading them, or None."""
    return db.session.scalar(USER_ID_BY_NAME, {"username": accounts.normalize_username(username)})
