"""Forgotten passwords: a signed link, good for an hour and once, sent to a confirmed address.

The link carries the account's reset counter, not a stored secret: a newer link, using it,
or any new password moves the counter on, and every earlier link stops working.
"""

from __future__ import annotations

from datetime import timedelta

from flask import url_for
from itsdangerous import URLSafeTimedSerializer

from webapp.infra import mail
from webapp.models import MailMessage, User
from webapp.services import accounts, emails, signed_links

LASTS = timedelta(hours=1)


def serializer() -> URLSafeTimedSerializer:
    """Sign reset links with the app's secret key."""
    return signed_links.serializer("password-reset")


def accounts_named(name_or_address: str) -> list[User]:
    """Return the accounts a username, or a confirmed address, names."""
    if "@" in name_or_address.strip().lstrip("@"):
        return emails.users_with(name_or_address)
    user = accounts.find_user(name_or_address)
    return [user] if user is not None else []


def request_links(name_or_address: str) -> list[MailMessage]:
    """Queue a reset link to each named account with a confirmed address; the caller commits."""
    return [send_link(user) for user in accounts_named(name_or_address) if user.email]


def send_link(user: User) -> MailMessage:
    """Queue a fresh link, which makes every earlier one stop working."""
    user.reset_counter = (user.reset_counter or 0) + 1
    token = serializer().dumps({"u": user.id, "n": user.reset_counter})
    link = url_for("auth.reset_password", token=token, _external=True)
    text, html = mail.compose(
        [
            f"Hello {user.username},",
            "Someone, hopefully you, asked to set a new password for your Praisewall account "
            f"“{user.username}”. The link works once, for an hour.",
            "If it wasn't you, ignore this message: your password stays as it is.",
        ],
        link,
        "Choose a new password",
    )
    key = f"reset:{user.id}:{user.reset_counter}"
    return mail.queue(key, user.email, "Set a new Praisewall password", text, html, user)


def account_for(token: str) -> User | None:
    """Return the account a link is for, if it is genuine, fresh and the latest unused one."""
    found = signed_links.read(serializer(), token, LASTS)
    if found is None:
        return None
    user, data = found
    if not user.email or data.get("n") != user.reset_counter:
        return None
    return user


def reset(user: User, password: str) -> int:
    """Set the new password: every session ends, every API token and link stops working."""
    return accounts.change_password(user, password)
