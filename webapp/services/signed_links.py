"""Links mailed to a person: signed with the app's secret key, good for a limited time."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from webapp.extensions import db
from webapp.models import User


def serializer(salt: str) -> URLSafeTimedSerializer:
    """Sign one kind of link (named by `salt`) with the app's secret key."""
    return URLSafeTimedSerializer(current_app.secret_key, salt=salt)


def read(signer: URLSafeTimedSerializer, token: str, lasts: timedelta) -> tuple[User, dict] | None:
    """Return the account a link is for and the link's data, if the link is genuine and fresh."""
    try:
        data = signer.loads(token, max_age=int(lasts.total_seconds()))
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    user = db.session.get(User, data["u"])
    return (user, data) if user is not None else None
