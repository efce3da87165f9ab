"""Keyset pagination: pages follow a cursor, never an OFFSET."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import abort, current_app, request

from webapp.extensions import db
from webapp.models import MAX_ID, Post, as_utc, parse_id

# Our cursors hold two or three short values; anything much longer wasn't made by us.
CURSOR_MAX = 200
# Unrated posts sort below every rating.
RATING_KEY = sa.func.coalesce(Post.rating, sa.literal_column("0"))


@dataclass
class Page:
    """One page of results and the cursor for the next, if any."""

    items: list[Any]
    next_cursor: str | None


def encode_cursor(key: Any, row_id: int) -> str:
    """Pack the last row's sort key (one value or a tuple of them) and id into an opaque string."""
    keys = list(key) if isinstance(key, tuple) else [key]
    keys = [k.isoformat() if isinstance(k, datetime) else k for k in keys]
    raw = json.dumps([*keys, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, key_type: type | tuple[type, ...]) -> tuple[Any, int]:
    """Unpack a cursor made for these key types; a malformed one is a 400."""
    types = key_type if isinstance(key_type, tuple) else (key_type,)
    try:
        if len(cursor) > CURSOR_MAX:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        *keys, row_id = json.loads(raw)
        if len(keys) != len(types):
            raise ValueError
        keys = [read_key(k, t) for k, t in zip(keys, types, strict=True)]
        if not isinstance(row_id, int) or parse_id(row_id) is None:
            raise ValueError
    except (ValueError, TypeError, OverflowError, RecursionError, binascii.Error):
        abort(400, description="That page link is broken. Go back to the first page.")
    return (tuple(keys) if isinstance(key_type, tuple) else keys[0]), row_id


def read_key(value: Any, key_type: type) -> Any:
    """Check one decoded sort value against its type.

    :raise ValueError: if it isn't one.
    """
    if key_type is datetime:
        return as_utc(datetime.fromisoformat(value))
    if key_type is int:
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_ID:
            raise ValueError
        return value
    if not isinstance(value, key_type) or (isinstance(value, str) and "\x00" in value):
        raise ValueError
    return value


def keyset_page(
    stmt: sa.Select,
    key: sa.ColumnElement | tuple[sa.ColumnElement, ...],
    row_id: sa.ColumnElement,
    cursor: str | None,
    per_page: int,
    *,
    descending: bool = True,
    key_type: type | tuple[type, ...] = datetime,
    key_of: Callable[[Any], Any] | None = None,
) -> Page:
    """Return the page of stmt that follows cursor, ordered by (key, id).

    :param key: a column, or a tuple of columns and expressions sorted in turn.
    :param key_of: reads a row's key for the next cursor; needed when a key is an
        expression rather than a column of the row.
    """
    keys = key if isinstance(key, tuple) else (key,)
    types = key_type if isinstance(key_type, tuple) else (key_type,)
    if cursor:
        last_key, last_id = decode_cursor(cursor, types)
        # A row-value comparison lets the (key, id) index seek straight to the cursor.
        position = sa.tuple_(*keys, row_id)
        last = sa.tuple_(
            *(sa.literal(v, k.type) for v, k in zip(last_key, keys, strict=True)),
            sa.literal(last_id),
        )
        stmt = stmt.where(position < last if descending else position > last)
    columns = (*keys, row_id)
    order = [c.desc() if descending else c.asc() for c in columns]
    rows = list(db.session.scalars(stmt.order_by(*order).limit(per_page + 1)).unique())
    items = rows[:per_page]
    next_cursor = None
    if len(rows) > per_page:
        last = items[-1]
        if key_of is not None:
            values = key_of(last)
        else:
            values = tuple(getattr(last, k.key) for k in keys)
            values = values if isinstance(key, tuple) else values[0]
        next_cursor = encode_cursor(values, getattr(last, row_id.key))
    return Page(items, next_cursor)


def newest_posts_page(stmt: sa.Select) -> Page:
    """Return the page of posts, newest first, that follows ?cursor=."""
    return keyset_page(
        stmt, Post.created_at, Post.id, request.args.get("cursor"), current_app.config["PER_PAGE"]
    )


def rated_posts_page(stmt: sa.Select) -> Page:
    """Return the page of posts, best rated first (unrated last), that follows ?cursor=."""
    return keyset_page(
        stmt,
        (RATING_KEY, Post.created_at),
        Post.id,
        request.args.get("cursor"),
        current_app.config["PER_PAGE"],
        key_type=(int, datetime),
        key_of=lambda post: (post.rating or 0, post.created_at),
    )
