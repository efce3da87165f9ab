"""Local accounts: username and password rules, sign-up, and leaving."""

from __future__ import annotations

import re

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Crosspost, Post, User

USERNAME_RE = re.compile(r"^[a-z0-9_]{3,30}$")
PASSWORD_MIN = 10
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


def delete_account(user: User) -> None:
    """Delete a user and everything they wrote; businesses they added stay, unattributed.

    Statuses already on their Mastodon account stay there: that account is theirs.
    """
    mine = sa.select(Post.id).where(Post.author_id == user.id)
    db.session.execute(sa.delete(Crosspost).where(Crosspost.post_id.in_(mine)))
    db.session.delete(user)
    db.session.flush()
