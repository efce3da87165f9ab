"""Who is calling the API: a personal token in the Authorization header, never a cookie."""

from __future__ import annotations

from flask import abort, current_app, g, request
from flask_limiter.util import get_remote_address

from webapp.extensions import db
from webapp.models import User
from webapp.services import api_tokens
from webapp.web.errors import problem

REALM = 'Bearer realm="Praisewall"'


def bearer_token() -> str | None:
    """Return the token from "Authorization: Bearer ...", "" if malformed, None if absent."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.strip()


def unauthorized(detail: str, *, invalid: bool) -> None:
    """Answer 401 with a challenge that says how to authenticate.

    :raise 401: always.
    """
    challenge = REALM + (', error="invalid_token"' if invalid else "")
    abort(problem(401, detail, headers={"WWW-Authenticate": challenge}))


def token_user(*, required: bool = True) -> User | None:
    """Return the user whose token came with the request.

    :param required: answer 401 when no token came; otherwise that is an anonymous caller.
    :raise 401: when a token came but does not work, or none came and one is required.
    """
    token = bearer_token()
    if token is None:
        if not required:
            return None
        unauthorized(
            "Send your personal API token as “Authorization: Bearer <token>”. "
            "Make one on your settings page.",
            invalid=False,
        )
    user = api_tokens.authenticate(token) if token else None
    if user is None:
        unauthorized(
            "That API token doesn't work. It may have been revoked; make a new one in settings.",
            invalid=True,
        )
    # The token's "last used" is worth keeping even if the request fails later.
    db.session.commit()
    return user


def token_owner_key() -> str:
    """Key write limits by the token's owner: all of one person's tokens share an allowance."""
    if "token_owner" not in g:
        g.token_owner = api_tokens.owner_id(bearer_token() or "")
    if g.token_owner is not None:
        return f"user:{g.token_owner}"
    return "addr:" + get_remote_address()


def read_limit() -> str:
    """Return the configured limit for API calls per address."""
    return current_app.config["API_RATE_LIMIT"]


def write_limit() -> str:
    """Return the configured limit for API writes per person."""
    return current_app.config["API_WRITE_RATE_LIMIT"]
