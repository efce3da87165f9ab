"""Local accounts: username and password rules, sign-up, and leaving."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import sqlalchemy as sa

from webapp import crypto
from webapp.extensions import db
from webapp.models import Crosspost, CrosspostState, MastodonAccount, Post, User
from webapp.services import connect, mastodon

USERNAME_RE = re.compile(r"^[a-z0-9_]{3,30}$")
PASSWORD_MIN = 10
# Deleting statuses happens while the person waits, before their token is revoked. Mastodon lets
# an account delete 30 statuses per 30 minutes, so more would only meet its rate limit.
STATUS_DELETE_LIMIT = 30
STATUS_DELETE_SECONDS = 20
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


def find_user(username: str) -> User | None:
    """Look a user up by name."""
    return db.session.scalar(sa.select(User).where(User.username == normalize_username(username)))


def create_user(username: str, password: str, *, is_admin: bool = False) -> User:
    """Add a local account."""
    user = User(username=normalize_username(username), is_admin=is_admin)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


@dataclass
class Farewell:
    """What leaving did on Mastodon: statuses deleted and left, and whether access was revoked."""

    statuses_deleted: int = 0
    statuses_left: int = 0
    revoked: bool = True
    profile_url: str | None = None


def delete_account(user: User, *, delete_statuses: bool = False) -> Farewell:
    """Delete a user and everything they wrote; businesses they added stay, unattributed.

    Their statuses on Mastodon are deleted first when they ask (and those of posts they deleted
    earlier, which they asked for then), with their token, which is revoked afterwards.
    """
    farewell = Farewell()
    account = user.mastodon_account
    theirs = sa.select(Post.id).where(Post.author_id == user.id)
    crossposts = sa.or_(Crosspost.post_id.in_(theirs))
    if account is not None:
        farewell.profile_url = account.profile_url
        farewell.statuses_deleted, farewell.statuses_left = delete_remote_statuses(
            account, everything=delete_statuses
        )
        crossposts = sa.or_(crossposts, Crosspost.account_id == account.id)
        # Collected now: revoking deletes the account row, and with it this link.
        ids = list(db.session.scalars(sa.select(Crosspost.id).where(crossposts)))
        farewell.revoked = connect.disconnect(user)
        crossposts = Crosspost.id.in_(ids)
    db.session.execute(sa.delete(Crosspost).where(crossposts))
    db.session.delete(user)
    db.session.flush()
    return farewell


def delete_remote_statuses(account: MastodonAccount, *, everything: bool) -> tuple[int, int]:
    """Delete the account's statuses we sent (or only those already being deleted).

    Returns (deleted, left). Stops at STATUS_DELETE_LIMIT, after STATUS_DELETE_SECONDS, or when
    the server refuses us; what is left stays on Mastodon, for the person to delete there.
    """
    states = (CrosspostState.DELETING,)
    if everything:
        states += (CrosspostState.SENT, CrosspostState.NEEDS_LOGIN, CrosspostState.FAILED)
    remote_ids = list(
        db.session.scalars(
            sa.select(Crosspost.remote_id)
            .where(
                Crosspost.account_id == account.id,
                Crosspost.remote_id.is_not(None),
                Crosspost.state.in_(states),
            )
            .order_by(Crosspost.id.desc())
        )
    )
    if not remote_ids:
        return 0, 0
    try:
        client = mastodon.api(account.server.base_url, crypto.decrypt(account.access_token))
    except crypto.InvalidToken:
        return 0, len(remote_ids)
    deleted = 0
    deadline = time.monotonic() + STATUS_DELETE_SECONDS
    for remote_id in remote_ids[:STATUS_DELETE_LIMIT]:
        if time.monotonic() > deadline:
            break
        try:
            mastodon.delete_status(client, remote_id)
        except mastodon.MastodonError as error:
            if mastodon.classify(error, client).kind in ("needs_login", "retry"):
                break  # the server won't take more now; the rest stay for the person
            continue
        deleted += 1
    return deleted, len(remote_ids) - deleted
