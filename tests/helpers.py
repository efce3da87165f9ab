"""Small helpers for tests."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import sqlalchemy as sa

from webapp.extensions import db


def utc(*args: int) -> datetime:
    """Build an aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)


def count(model: type) -> int:
    """Count the rows of a model."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def csrf_token(html: str) -> str:
    """Pull the CSRF token out of a rendered form."""
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def page_text(page) -> str:
    """Return the words a person reads on a page or in HTML: tags dropped, spaces collapsed."""
    markup = page if isinstance(page, str) else page.text
    without_tags = re.sub(r"<[^>]+>", " ", markup)
    return " ".join(html.unescape(without_tags).split())
