"""Finding the person or business a public URL names, or answering 404."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort

from webapp.extensions import db
from webapp.infra import fragments
from webapp.models import Business, User
from webapp.services import accounts

# Built once: every wall, feed and badge looks its business up, and building the statement
# cost as much as running it.
BUSINESS_BY_SLUG = sa.select(Business).where(Business.slug == sa.bindparam("slug"))
BUSINESS_ID_BY_SLUG = sa.select(Business.id).where(Business.slug == sa.bindparam("slug"))
USER_ID_BY_NAME = sa.select(User.id).where(User.username == sa.bindparam("username"))
NO_BUSINESS = "We don't know a business at that address."
NOBODY = "Nobody goes by that name here."


def user_or_404(username: str) -> User:
    """Return the user with this name.

    :raise 404: if nobody has it.
    """
    user = accounts.find_user(username)
    if user is None:
        abort(404, description=NOBODY)
    return user


def business_or_404(slug: str) -> Business:
    """Return the business at this slug.

    :raise 404: if there is none.
    """
    business = db.session.scalar(BUSINESS_BY_SLUG, {"slug": slug})
    if business is None:
        abort(404, description=NO_BUSINESS)
    return business


def business_id(slug: str) -> int | None:
    """Return the id of the business at this slug, or None, kept until a business is renamed
    or deleted (which moves everything on): a kept page then needs no database at all."""
    found = fragments.remembered(
        "business-id", (slug,), (), lambda: found_id(BUSINESS_ID_BY_SLUG, {"slug": slug})
    )
    return int(found) if found is not None else None


def user_id(username: str) -> int | None:
    """Return the id of the person with this name, or None, kept as business_id is."""
    name = accounts.normalize_username(username)
    found = fragments.remembered(
        "user-id", (name,), (), lambda: found_id(USER_ID_BY_NAME, {"username": name})
    )
    return int(found) if found is not None else None


def business_id_or_404(slug: str) -> int:
    """Return the id of the business at this slug, kept as business_id keeps it, or answer 404."""
    return id_or_404(business_id(slug), NO_BUSINESS)


def user_id_or_404(username: str) -> int:
    """Return the id of the person with this name, kept as user_id keeps it, or answer 404."""
    return id_or_404(user_id(username), NOBODY)


def id_or_404(found: int | None, missing: str) -> int:
    """Return an id that was found, or answer 404 saying what is missing."""
    if found is None:
        abort(404, description=missing)
    return found


def found_id(statement: sa.Select, parameters: dict[str, str]) -> str | None:
    """Run a statement that finds one id; return it as text, or None."""
    found = db.session.scalar(statement, parameters)
    return str(found) if found is not None else None
