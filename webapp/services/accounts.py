"""Local accounts: username and password rules, sign-up, and leaving."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from webapp import networks
from webapp.extensions import db
from webapp.models import (
    BlueskyAccount,
    Crosspost,
    CrosspostState,
    MailMessage,
    MastodonAccount,
    Post,
    User,
    utcnow,
)
from webapp.networks import delivery
from webapp.services import api_tokens

USERNAME_RE = re.compile(r"^[a-z0-9_]{3,30}$")
PASSWORD_MIN = 10
# Mastodon lets an account delete 30 statuses per 30 minutes.
DELETE_BATCH = 30
DELETE_WINDOW = timedelta(minutes=30)
COMMON_PASSWORDS = frozenset(
    """
    password password1 password12 password123 passw0rd 1234567890 0123456789 12345678910
    qwertyuiop qwerty1234 qwerty12345 iloveyou12 letmein123 welcome123 abcdefghij
    1q2w3e4r5t abc1234567 football12 baseball12 monkey1234 dragon1234 sunshine12
    princess12 trustno1234 praisewall praisewall1
    """.split()
)


def normalize_username(name: str) -> str:
    """Usernames are case-insensitive: keep them lowercase."""
    return name.strip().lstrip("@").lower()


def username_problem(name: str) -> str | None:
    """Explain what is wrong with a wanted username, or return None."""
    if not USERNAME_RE.match(name):
        return "Use 3 to 30 letters, digits or underscores."
    if find_user(name) is not None:
        return "That username is taken. Try another."
    return None


def password_problem(password: str, username: str = "") -> str | None:
    """Explain why a password is too weak, or return None."""
    if len(password) < PASSWORD_MIN:
        return f"Use at least {PASSWORD_MIN} characters."
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or len(set(password)) < 4:
        return "That password is too easy to guess. Try a short sentence."
    if username and username.lower() in lowered:
        return "Don't put your username in your password."
    return None


# Built once: every profile, feed and sign-in looks a person up by name.
USER_BY_NAME = sa.select(User).where(User.username == sa.bindparam("username"))


def find_user(username: str) -> User | None:
    """Look a user up by name."""
    return db.session.scalar(USER_BY_NAME, {"username": normalize_username(username)})


def create_user(username: str, password: str | None, *, is_admin: bool = False) -> User:
    """Add a local account; without a password, a passkey is its way in."""
    user = User(username=normalize_username(username), is_admin=is_admin)
    if password is not None:
        user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def change_password(user: User, password: str) -> int:
    """Set a new password, ending every session and revoking every API token; return how many.

    A new password is what someone sets when they fear another has theirs, and whoever had it
    could have made a token as easily as they signed in.
    """
    user.set_password(password)
    return api_tokens.revoke_all(user)


@dataclass
class Farewell:
    """What leaving does on Mastodon: statuses queued for deletion, and whether access ended."""

    # (crosspost id, when its deletion is due), for the caller to queue once committed.
    deleting: list[tuple[int, datetime]] = field(default_factory=list)
    # None while access is kept to delete statuses; it is revoked when they are gone.
    revoked: bool | None = True
    # The networks (by name) with statuses still to delete.
    deleting_on: list[str] = field(default_factory=list)


def delete_account(user: User, *, delete_statuses: bool = False) -> Farewell:
    """Delete a user and everything they wrote; businesses they added stay, unattributed.

    Their statuses on Mastodon and posts on Bluesky are deleted when they ask (and those of
    posts they deleted earlier, which they asked for then). That takes time, so each
    connection stays behind, belonging to nobody, until the worker has deleted them all and
    ends our access; with nothing to delete, access ends now.
    """
    farewell = Farewell()
    others: sa.ColumnElement[bool] = Crosspost.post_id.in_(
        sa.select(Post.id).where(Post.author_id == user.id)
    )
    connected = []
    for name in networks.names():
        network = networks.get(name)
        account = network.account_of(user)
        if account is not None:
            query = sa.select(Crosspost).where(Crosspost.of_account(account))
            rows = list(db.session.scalars(query))
            connected.append((name, network, account, rows))
    # Servers are asked first, before anything is written: a write transaction held open
    # while a server takes its time would keep every other writer waiting.
    revoked: list[bool] = [
        network.revoke(account)
        for _, network, account, rows in connected
        if not any(delivery.to_delete(row, delete_statuses) for row in rows)
    ]
    for name, network, account, rows in connected:
        others = sa.and_(
            others, sa.or_(Crosspost.account_id.is_(None), ~Crosspost.of_account(account))
        )
        for row in rows:
            if delete_statuses or row.state == CrosspostState.DELETING:
                delivery.mark_for_deletion(row)
            else:
                db.session.delete(row)
        db.session.flush()
        deleting = pace_deletions(account)
        if deleting:
            farewell.deleting += deleting
            farewell.deleting_on.append(name)
            account.user = None
        else:
            network.forget(user)
    # None while some access is kept to delete posts; else whether every server confirmed.
    farewell.revoked = None if farewell.deleting else all(revoked)
    db.session.execute(sa.delete(Crosspost).where(others))
    # Mail for them goes too, unsent or not: their address leaves with them.
    db.session.execute(sa.delete(MailMessage).where(MailMessage.user_id == user.id))
    db.session.delete(user)
    db.session.flush()
    return farewell


def pace_deletions(account: MastodonAccount | BlueskyAccount) -> list[tuple[int, datetime]]:
    """Spread the account's status deletions over Mastodon's limit: DELETE_BATCH per window.

    Returns each row's (id, due time). A 429 from the server still reschedules a row after
    the limit resets (webapp/networks/delivery.py, remove_status). Bluesky's limit is far
    higher, and the same pace keeps well under it.
    """
    rows = db.session.scalars(
        sa.select(Crosspost)
        .where(Crosspost.of_account(account), Crosspost.state == CrosspostState.DELETING)
        .order_by(Crosspost.id)
    )
    now = utcnow()
    paced = []
    for number, row in enumerate(rows):
        slot = now + DELETE_WINDOW * (number // DELETE_BATCH)
        row.next_attempt_at = max(row.next_attempt_at or slot, slot)
        paced.append((row.id, row.next_attempt_at))
    return paced
