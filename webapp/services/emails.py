"""A person's email address: set, confirmed by a signed link, changed (telling the old one)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import sqlalchemy as sa
from flask import url_for
from itsdangerous import URLSafeTimedSerializer

from webapp.extensions import db
from webapp.infra import mail
from webapp.models import MailMessage, User
from webapp.services import notifications, signed_links

ADDRESS_MAX = 254
ADDRESS_RE = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]+\.[A-Za-z0-9-]{2,63}$")
CONFIRM_LASTS = timedelta(hours=48)


def normalize(address: str) -> str:
    """Keep addresses trimmed and lowercase, so one address is always written one way."""
    return address.strip().lower()


def address_problem(address: str) -> str | None:
    """Explain what is wrong with an address, or return None (empty means "remove it")."""
    if not address:
        return None
    if len(address) > ADDRESS_MAX or not ADDRESS_RE.match(address) or ".." in address:
        return "That doesn't look like an email address, like you@example.com."
    if any(ch < " " or ch in "<>,;\"'\\" for ch in address):
        return "That doesn't look like an email address, like you@example.com."
    return None


def serializer() -> URLSafeTimedSerializer:
    """Sign confirmation links with the app's secret key."""
    return signed_links.serializer("email-confirm")


def change(user: User, address: str) -> list[MailMessage]:
    """Ask for a new address (or none); return the messages to send once committed.

    The new address is used for nothing until confirmed; a confirmed old one is told.
    """
    address = normalize(address)
    messages: list[MailMessage] = []
    if address == (user.email or "") and not user.new_email:
        return messages
    if user.email and address != user.email:
        messages.append(notice_to_old(user, address))
    if not address:
        user.email = user.new_email = None
        spend_reset_links(user)
        notifications.stop_all(user)  # nowhere to send them; choosing again starts afresh
        return messages
    if address == user.email:
        user.new_email = None  # back to the confirmed one: nothing to confirm
        return messages
    user.new_email = address
    messages.append(confirmation(user))
    return messages


def confirmation(user: User) -> MailMessage:
    """Queue the link that confirms the user's new address."""
    token = serializer().dumps({"u": user.id, "e": user.new_email})
    link = url_for("auth.confirm_email", token=token, _external=True)
    text, html = mail.compose(
        [
            f"Hello {user.username},",
            "Someone, hopefully you, asked Praisewall to use this address for the account "
            f"“{user.username}”. Follow the link to confirm it; it works for 48 hours.",
            "If it wasn't you, ignore this message: nothing changes.",
        ],
        link,
        "Confirm my address",
    )
    key = f"confirm:{uuid.uuid4().hex}"
    return mail.queue(key, user.new_email, "Confirm your email address", text, html, user)


def notice_to_old(user: User, address: str) -> MailMessage:
    """Queue a notice to the confirmed address that it is being replaced or removed."""
    news = (
        "asked to replace it with another address; this one stays until the new one is confirmed."
        if address
        else "removed it: Praisewall will send nothing more to this address."
    )
    text, html = mail.compose(
        [
            f"Hello {user.username},",
            f"This address is on your Praisewall account “{user.username}”. Someone signed in "
            f"to it just {news}",
            "If that wasn't you, change your password in your settings at once.",
        ]
    )
    key = f"notice:{uuid.uuid4().hex}"
    return mail.queue(key, user.email, "Your email address is changing", text, html, user)


def new_way_in(user: User, what: str) -> list[MailMessage]:
    """Tell the confirmed address that a new way into the account was just made, if it has one."""
    if not user.email:
        return []
    text, html = mail.compose(
        [
            f"Hello {user.username},",
            f"Someone signed in to your Praisewall account “{user.username}” just made {what}. "
            "It signs in to your account from now on.",
            "If that wasn't you, remove it in your settings and change your password at once.",
        ]
    )
    key = f"notice:{uuid.uuid4().hex}"
    return [mail.queue(key, user.email, "A new way into your account", text, html, user)]


def confirm(token: str) -> User | None:
    """Confirm the address a link names, if the link is genuine, fresh and still wanted."""
    found = signed_links.read(serializer(), token, CONFIRM_LASTS)
    if found is None:
        return None
    user, data = found
    if not user.new_email or user.new_email != data.get("e"):
        return None
    return user


def use(user: User) -> None:
    """Make the confirmed new address the one mail goes to."""
    user.email, user.new_email = user.new_email, None
    spend_reset_links(user)


def spend_reset_links(user: User) -> None:
    """Make reset links already sent stop working: they went to an address no longer ours."""
    user.reset_counter = (user.reset_counter or 0) + 1


def users_with(address: str) -> list[User]:
    """Return the accounts whose confirmed address this is."""
    return list(db.session.scalars(sa.select(User).where(User.email == normalize(address))))
