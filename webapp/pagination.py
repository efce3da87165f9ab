"""Keyset pagination: pages follow a cursor, never an OFFSET."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import abort, current_app, request

from webapp.extensions import db
from webapp.models import Post, as_utc, parse_id


@dataclass
class Page:
    """One page of results and the cursor for the next, if any."""

    items: list[Any]
    next_cursor: str | None


def encode_cursor(key: Any, row_id: int) -> str:
    """Pack the last row's sort key and id into an opaque string."""
    if isinstance(key, datetime):
        key = key.isoformat()
    raw = json.dumps([key, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, key_type: type) -> tuple[Any, int]:
    """Unpack a cursor; a malformed one is a 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, row_id = json.loads(raw)
        if key_type is datetime:
            key = as_utc(datetime.fromisoformat(key))
        elif not isinstance(key, key_type) or "\x00" in key:
            raise ValueError
        if not isinstance(row_id, int) or parse_id(row_id) is None:
            raise ValueError
    except (ValueError, TypeError, OverflowError, binascii.Error):
        abort(400, description="That page link is broken. Go back to the first page.")
    return key, row_id


def keyset_page(
    stmt: sa.Select,
    key: sa.ColumnElement,
    row_id: sa.ColumnElement,
    cursor: str | None,
    per_page: int,
    *,
    descending: bool = True,
    key_type: type = datetime,
) -> Page:
    """Return the page of stmt that follows cursor, ordered by (key, id)."""
    if cursor:
        last_key, last_id = decode_cursor(cursor, key_type)
        # A row-value comparison lets the (key, id) index seek straight to the cursor.
        position, last = (
            sa.tuple_(key, row_id),
            sa.tuple_(sa.literal(last_key, key.type), sa.literal(last_id)),
        )
        stmt = stmt.where(position < last if descending else position > last)
    order = (key.desc(), row_id.desc()) if descending else (key.asc(), row_id.asc())
    rows = list(db.session.scalars(stmt.order_by(*order).limit(per_page + 1)).unique())
    items = rows[:per_page]
    next_cursor = None
    if len(rows) > per_page:
        last = items[-1]
        next_cursor = encode_cursor(getattr(last, key.key), getattr(last, row_id.key))
    return Page(items, next_cursor)


def newest_posts_page(stmt: sa.Select) -> Page:
    """Return the page of posts, newest first, that follows ?cursor=."""
    return keyset_page(
        stmt, Post.created_at, Post.id, request.args.get("cursor"), current_app.config["PER_PAGE"]
    )
