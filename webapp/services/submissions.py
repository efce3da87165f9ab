"""Exactly-once posting: a compose form sent again (from a phone's outbox) makes one post."""

from __future__ import annotations

import re

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Post, User

KEY_MAX = 64
KEY_RE = re.compile(r"^[A-Za-z0-9-]{1,64}\Z")


def valid_key(key: str | None) -> bool:
    """Tell whether a submission key has the shape a device makes (a UUID, say)."""
    return bool(key) and KEY_RE.match(key) is not None


def earlier_post(author: User, key: str | None) -> Post | None:
    """Return the post this author already made with this key, if any."""
    if not valid_key(key):
        return None
    return db.session.scalar(
        sa.select(Post).where(Post.author_id == author.id, Post.submission_key == key)
    )


def claim(post: Post, key: str | None) -> None:
    """Mark a new post with its submission key before its flush, so a submission makes one post.

    The flush that writes the post raises sqlalchemy.exc.IntegrityError when a concurrent
    request claimed the key first.
    """
    if valid_key(key):
        post.submission_key = key
