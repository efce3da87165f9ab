"""Businesses: names, de-duplication, search and creation."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

import sqlalchemy as sa
import sqlalchemy.orm as so

from webapp.extensions import db
from webapp.infra.links import safe_remote_url
from webapp.models import Business, BusinessWord, User
from webapp.text import xml_safe

HANDLE_RE = re.compile(
    r"^@?(?P<user>[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})$"
)
DOMAIN_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
SEARCH_LIMIT = 10
CANDIDATES = 50  # matches ranked per query, from each of the word and the name index
# Words of a query that are searched for; each is a join, and few names have more.
SEARCH_WORDS = 6
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
        slug=unique_slug(name),
        website=site[0] if site else None,
        domain=site[1] if site else None,
        handle=parse_handle(handle) if handle else None,
        category=category,
        created_by=created_by,
    )
    rename_business(business, name)
    db.session.add(business)
    db.session.flush()
    return business


def rename_business(business: Business, name: str) -> None:
    """Give a business a new name, keeping its slug and re-indexing its words for search."""
    name = xml_safe(name)
    business.name = " ".join(name.split())
    business.normalized_name = normalize_name(name)
    wanted = name_words(business.normalized_name)
    # Keep rows that stay, so a rename deletes and inserts only the words that changed.
    kept = [row for row in business.words if row.word in wanted]
    have = {row.word for row in kept}
    business.words = kept + [BusinessWord(word=w) for w in sorted(wanted - have)]


def name_words(normalized_name: str) -> set[str]:
    """Return the distinct words of a normalized name, each cut to fit the word column."""
    return {word[:NAME_MAX] for word in normalized_name.split()}


def prefix_end(term: str) -> str | None:
    """Return the smallest string above every string starting with term, or None if unbounded.

    Only a plain range, so an ordinary index serves it on SQLite and on PostgreSQL whatever the
    database's collation: "z" and "9" carry over ("az" ends at "b", "a9" at "aa", as digits sort
    before letters), since a collation may sort the character after them anywhere.
    """
    for i in range(len(term) - 1, -1, -1):
        char = term[i]
        if char == "z":
            continue
        if char == "9":
            return term[:i] + "a"
        return term[:i] + chr(ord(char) + 1)
    return None


def search_query(q: str) -> sa.Select | None:
    """Select businesses whose name starts with q or has a word starting with q, best first."""
    # No name is longer than NAME_MAX, and SQLite refuses LIKE patterns past 50,000 bytes.
    words = normalize_name(q[: NAME_MAX * 4])[:NAME_MAX].split()
    term = " ".join(words[:SEARCH_WORDS])
    if not term:
        return None
    name = Business.normalized_name
    rank = sa.case((name == term, 0), (name.like(term + "%"), 1), else_=2)
    stmt = sa.select(Business).where(
        Business.id.in_(candidates(term)),
        sa.or_(name.like(term + "%"), name.like("% " + term + "%")),
    )
    return stmt.order_by(rank, sa.func.length(name), name, Business.id)


def candidates(term: str) -> sa.CompoundSelect:
    """Select up to 2 × CANDIDATES ids worth ranking for a query, each read in index order.

    Those whose name starts with the query, and those with its words: the last one as typed so
    far, the others whole ("corner bak": a word "corner" and a word starting with "bak"). Words
    come shortest first, since a word sorts before its longer forms ("gold" before "golden"),
    so the best matches are among the first: a bounded handful however many thousand names
    match a single letter. Only plain ranges and equalities, which both databases read straight
    off an index and stop at the limit (a LIKE here would spoil PostgreSQL's row estimate and
    make it sort every match); the caller's LIKE keeps exactly the matching names.
    """
    *whole, last = term.split(" ")
    name, word = Business.normalized_name, BusinessWord.word
    by_word = sa.select(BusinessWord.business_id.label("id")).where(*prefix_range(word, last))
    for n, other in enumerate(dict.fromkeys(whole)):
        also = so.aliased(BusinessWord, name=f"also_{n}")
        by_word = by_word.join(
            also, sa.and_(also.business_id == BusinessWord.business_id, also.word == other)
        )
    by_word = by_word.order_by(word, BusinessWord.business_id).limit(CANDIDATES).subquery()
    by_name = (
        sa.select(Business.id)
        .where(*prefix_range(name, term))
        .order_by(name)
        .limit(CANDIDATES)
        .subquery()
    )
    return sa.union(sa.select(by_word.c.id), sa.select(by_name.c.id))


def prefix_range(column: sa.ColumnElement, prefix: str) -> list[sa.ColumnElement[bool]]:
    """Return the conditions for an indexed range that holds every value starting with prefix."""
    end = prefix_end(prefix)
    return [column >= prefix, column < end] if end else [column >= prefix]


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
        "website": safe_remote_url(business.website),
        "handle": business.handle,
        "category": business.category,
    }
