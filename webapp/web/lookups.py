"""Finding the person or business a public URL names, or answering 404."""

from __future__ import annotations

from flask import abort

from webapp.extensions import db
from webapp.models import Business, User
from webapp.services import accounts


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
    return db.one_or_404(
        db.select(Business).where(Business.slug == slug),
        description="We don't know a business at that address.",
    )
