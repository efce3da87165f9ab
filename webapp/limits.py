"""Rate limits that several routes share."""

from __future__ import annotations

from collections.abc import Callable

from webapp.auth.routes import setting, went_through
from webapp.extensions import limiter


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
