"""Devices that have signed in to an account before, remembered in a signed cookie.

Failed logins from unknown devices are limited per account, so guessing from many addresses
is slowed; a device the owner has signed in from is exempt, so the guessing can't lock them out.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

from webapp.models import User
from webapp.services import accounts

COOKIE = "known_device"
KEEP = 10  # accounts one device remembers; a shared family laptop has a few
LASTS = timedelta(days=365)


def serializer() -> URLSafeSerializer:
    """Sign and read the cookie with the app's secret key."""
    return URLSafeSerializer(current_app.secret_key, salt="known-device")


def known_ids() -> list[int]:
    """Return the ids of the accounts this device has signed in to; a forged cookie names none."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return []
    try:
        ids = serializer().loads(raw)
    except BadSignature:
        return []
    return [n for n in ids if type(n) is int] if isinstance(ids, list) else []


def knows(username: str) -> bool:
    """Tell whether this device has signed in to the named account before."""
    ids = known_ids()
    if not ids:
        return False
    user = accounts.find_user(username)
    return user is not None and user.id in ids


def remember(response: Response, user: User) -> Response:
    """Mark this device as one the user signs in from."""
    ids = [user.id, *(n for n in known_ids() if n != user.id)][:KEEP]
    response.set_cookie(
        COOKIE,
        serializer().dumps(ids),
        max_age=int(LASTS.total_seconds()),
        path="/login",
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response
