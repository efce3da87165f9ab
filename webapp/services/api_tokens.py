"""Personal API tokens: made once, shown once, kept only as a hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import cast

import sqlalchemy as sa
import sqlalchemy.orm as so

from webapp.extensions import db
from webapp.models import ApiToken, User, utcnow

PREFIX = "pw_"
NAME_MAX = 60
# A token is used on every request: note its use at most this often, not on every call.
TOUCH_EVERY_SECONDS = 60
# One for each phone and app a person uses; many more would only multiply their allowances.
MAX_PER_USER = 10


def at_limit(held: int) -> bool:
    """Tell whether someone holding this many tokens may make no more."""
    return held >= MAX_PER_USER


@dataclass
class NewToken:
    """A token just made: the row, and the plain token that is never stored."""

    token: ApiToken
    plain: str


def token_hash(plain: str) -> str:
    """Return the SHA-256 hex digest we keep in place of a token.

    A token carries 256 random bits, so a fast hash is enough: there is nothing to guess.
    """
    return hashlib.sha256(plain.encode("utf-8", "surrogatepass")).hexdigest()


def create(user: User, name: str) -> NewToken:
    """Make a token for the user and return it with its plain text, for showing once."""
    plain = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name.strip()[:NAME_MAX], token_hash=token_hash(plain))
    db.session.add(token)
    db.session.flush()
    return NewToken(token, plain)


def well_formed(plain: str) -> bool:
    """Tell whether a string could be one of our tokens, before looking it up."""
    return plain.startswith(PREFIX) and len(plain) <= 200


def owner_id(plain: str) -> int | None:
    """Return the id of a token's owner, without noting its use, or None for an unknown one."""
    if not well_formed(plain):
        return None
    return db.session.scalar(
        sa.select(ApiToken.user_id).where(ApiToken.token_hash == token_hash(plain))
    )


def authenticate(plain: str) -> User | None:
    """Return the owner of a token, noting its use, or None for an unknown one."""
    if not well_formed(plain):
        return None
    token = db.session.scalar(
        sa.select(ApiToken)
        .options(so.joinedload(ApiToken.user))
        .where(ApiToken.token_hash == token_hash(plain))
    )
    if token is None:
        return None
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > (
        TOUCH_EVERY_SECONDS
    ):
        token.last_used_at = now
    return token.user


def cap_problem(user: User) -> str | None:
    """Explain why the user may not make another token, or return None."""
    held = db.session.scalar(
        sa.select(sa.func.count()).select_from(ApiToken).where(ApiToken.user_id == user.id)
    )
    if at_limit(held):
        return (
            f"You have {held} API tokens, the most one person may hold. "
            "Revoke one you no longer use, then make this one."
        )
    return None


def revoke_all(user: User) -> int:
    """Delete every token the user holds; return how many there were."""
    result = db.session.execute(sa.delete(ApiToken).where(ApiToken.user_id == user.id))
    return cast(sa.CursorResult, result).rowcount


def user_tokens(user: User) -> list[ApiToken]:
    """List the user's tokens, newest first."""
    return list(
        db.session.scalars(
            sa.select(ApiToken)
            .where(ApiToken.user_id == user.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def find(user: User, token_id: int) -> ApiToken | None:
    """Return one of the user's own tokens; someone else's is None, like a missing one."""
    return db.session.scalar(
        sa.select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    )


def revoke(token: ApiToken) -> None:
    """Delete a token so it no longer works."""
    db.session.delete(token)
    db.session.flush()
