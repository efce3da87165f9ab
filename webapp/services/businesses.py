"""Businesses: names, de-duplication, search and creation."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Business, User

HANDLE_RE = re.compile(
    r"^@?(?P<user>[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})$"
)
DOMAIN_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
SEARCH_LIMIT = 10
NAME_MAX = 120
WEBSITE_MAX = 300
DOMAIN_MAX = 253


def normalize_name(name: str) -> str:
    """Reduce a name to lowercase ASCII-ish words, so "Joe's Café" matches "joes cafe"."""
    text = unicodedata.normalize("NFKD", name).casefold()
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("&", " and ").replace("'", "").replace("\u2019", "")
    text = re.sub(r"[^\w]+", " ", text).replace("_", " ")
    return " ".join(text.split())


def slugify(name: str) -> str:
    """Make a URL slug from a business name."""
    slug = re.sub(r"[^a-z0-9]+", "-", normalize_name(name)).strip("-")
    return slug[:120] or "business"


def unique_slug(name: str) -> str:
    """Return a slug for the name that no business has yet."""
    base = slugify(name)
    taken = set(
        db.session.scalars(
            sa.select(Business.slug).where(
                sa.or_(Business.slug == base, Business.slug.like(base + "-%"))
            )
        )
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def parse_website(value: str) -> tuple[str, str] | None:
    """Return (url, domain) for a website entry like "brand.example" or None if it isn't one."""
    value = value.strip()
    if not value:
        return None
    if "://" not in value:
        value = "https://" + value
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not DOMAIN_RE.match(host):
        return None
    if len(value) > WEBSITE_MAX or len(host) > DOMAIN_MAX:
        return None
    domain = host.removeprefix("www.")
    return value, domain


def parse_handle(value: str) -> str | None:
    """Return a fediverse handle as "@user@domain", or None if it isn't one."""
    match = HANDLE_RE.match(value.strip())
    if not match:
        return None
    return f"@{match['user']}@{match['domain'].lower()}"


def find_duplicate(name: str, domain: str | None) -> Business | None:
    """Find a business that already has this name (normalized) or website domain."""
    conditions = [Business.normalized_name == normalize_name(name)]
    if domain:
        conditions.append(Business.domain == domain)
    return db.session.scalars(sa.select(Business).where(sa.or_(*conditions)).limit(1)).first()


def create_business(
    name: str,
    *,
    website: str | None = None,
    handle: str | None = None,
    category: str | None = None,
    created_by: User | None = None,
) -> Business:
    """Add a business; the caller has already checked for duplicates and formats."""
    site = parse_website(website or "")
    business = Business(
        name=" ".join(name.split()),
        slug=unique_slug(name),
        normalized_name=normalize_name(name),
        website=site[0] if site else None,
        domain=site[1] if site else None,
        handle=parse_handle(handle) if handle else None,
        category=category,
        created_by=created_by,
    )
    db.session.add(business)
    db.session.flush()
    return business


def search_query(q: str) -> sa.Select | None:
    """Select businesses whose name starts with q or has a word starting with q, best first."""
    term = normalize_name(q)
    if not term:
        return None
    name = Business.normalized_name
    rank = sa.case((name == term, 0), (name.like(term + "%"), 1), else_=2)
    return (
        sa.select(Business)
        .where(sa.or_(name.like(term + "%"), name.like("% " + term + "%")))
        .order_by(rank, sa.func.length(name), name, Business.id)
    )


def search(q: str, limit: int = SEARCH_LIMIT) -> list[Business]:
    """Return the best matches for a type-ahead query."""
    stmt = search_query(q)
    if stmt is None:
        return []
    return list(db.session.scalars(stmt.limit(limit)))


def business_json(business: Business) -> dict:
    """Describe a business for the JSON API."""
    return {
        "id": business.id,
        "name": business.name,
        "slug": business.slug,
        "website": business.website,
        "handle": business.handle,
        "category": business.category,
    }
