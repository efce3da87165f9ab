"""Rate limits that several routes share."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, g
from flask_limiter.util import get_remote_address
from flask_login import current_user

from webapp.extensions import limiter


def setting(name: str) -> Callable[[], str]:
    """Return a reader of a rate limit from the settings, for a limit decorator."""
    return lambda: current_app.config[name]


def went_through(response) -> bool:
    """Count only requests that did something, not forms sent back with errors."""
    return response.status_code < 400


def user_key() -> str:
    """Key a limit by the signed-in person, or by address for anyone else."""
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return "addr:" + get_remote_address()


def posting_limit(key_func: Callable[[], str]):
    """Limit posts per person, counted together however they post (the form or the API).

    :param key_func: names the person as "user:<id>", whether a cookie or a token says who.
    """
    return limiter.shared_limit(
        setting("POST_RATE_LIMIT"),
        scope="posting",
        key_func=key_func,
        methods=["POST"],
        deduct_when=went_through,
    )


def wrong_password(response) -> bool:
    """Count only forms refused for a wrong password (the view notes it in g)."""
    return bool(g.get("wrong_password"))


# Forms that ask for the password again count wrong ones per person, as logins do per address
# and account: a borrowed session must not become a way to guess the password at speed.
password_check_limit = limiter.shared_limit(
    setting("LOGIN_ADDRESS_ACCOUNT_RATE_LIMIT"),
    scope="password-check",
    key_func=user_key,
    methods=["POST"],
    deduct_when=wrong_password,
)
