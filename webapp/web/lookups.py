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
