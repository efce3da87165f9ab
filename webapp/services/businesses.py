"""Businesses: names, de-duplication, search and creation."""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
import sqlalchemy.orm as so

from webapp.extensions import db
from webapp.infra.links import safe_remote_url
from webapp.models import Business, BusinessWord, User, parse_id
from webapp.networks.bluesky import text as bluesky_text
from webapp.text import xml_safe

HANDLE_RE = re.compile(
    r"^@?(?P<user>[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})$"
)
DOMAIN_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
SEARCH_LIMIT = 10
SUGGESTIONS = 5  # "did you mean" choices offered for a name that matches none exactly
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


def parse_bluesky_handle(value: str) -> str | None:
    """Return a Bluesky handle as its bare domain name, or None if it isn't one."""
    return bluesky_text.parse_handle(value)


def find_duplicate(name: str, domain: str | None) -> Business | None:
    """Find a business that already has this name (normalized) or website domain."""
    conditions = [Business.normalized_name == normalize_name(name)]
    if domain:
        conditions.append(Business.domain == domain)
    return db.session.scalars(sa.select(Business).where(sa.or_(*conditions)).limit(1)).first()


@dataclass(frozen=True)
class NewBusiness:
    """A business to add with a post, as its author described it."""

    name: str
    website: str | None = None
    handle: str | None = None
    bluesky_handle: str | None = None


@dataclass(frozen=True)
class BusinessChoice:
    """What a person said about the business a post is about, before anything is settled.

    Ids are kept as sent: an id that can't be one is a pick of a business that isn't here.
    """

    picked_id: str | None = None  # a "did you mean" pick, which always wins
    kept_id: str | None = None  # the type-ahead's pick, valid while the typed name still fits
    typed_name: str | None = None
    new: NewBusiness | None = None


class Outcome(enum.StrEnum):
    """How a business choice settled."""

    EXISTING = "existing"  # a business already here
    NEW = "new"  # a business to add
    DUPLICATE = "duplicate"  # a "new" business that is already here, picked instead
    SUGGESTIONS = "suggestions"  # a typed name that matches none exactly, with likely ones
    UNKNOWN = "unknown"  # a typed name that matches nothing: offer to add it
    NOT_FOUND = "not_found"  # a picked business that isn't here
    BAD_NAME = "bad_name"  # a new business whose name can't be one
    MISSING = "missing"  # no business named at all


@dataclass(frozen=True)
class Resolved:
    """Which business a choice settled on, or why it didn't, in words for the person."""

    outcome: Outcome
    business: Business | None = None  # the one settled on, or the duplicate found
    new: NewBusiness | None = None
    suggestions: tuple[Business, ...] = ()
    message: str = ""

    @property
    def settled(self) -> Business | NewBusiness | None:
        """Return the business the post may be about, or None until the person answers."""
        if self.outcome == Outcome.EXISTING:
            return self.business
        if self.outcome == Outcome.NEW:
            return self.new
        return None


def resolve(choice: BusinessChoice) -> Resolved:
    """Settle which business a post is about: a picked one, a new one, or an exact name match."""
    if choice.picked_id or choice.kept_id:
        picked = resolve_pick(choice)
        if picked is not None:
            return picked
    if choice.new is not None and choice.new.name:
        return resolve_new(choice.new)
    if not choice.typed_name:
        return Resolved(
            Outcome.MISSING, message="Which business was it? Search for it or add it as new."
        )
    exact = db.session.scalar(
        sa.select(Business).where(Business.normalized_name == normalize_name(choice.typed_name))
    )
    if exact is not None:
        return Resolved(Outcome.EXISTING, business=exact)
    suggestions = tuple(search(choice.typed_name, limit=SUGGESTIONS))
    if suggestions:
        return Resolved(
            Outcome.SUGGESTIONS,
            suggestions=suggestions,
            message="Pick one of these, or add it as a new business below.",
        )
    return Resolved(
        Outcome.UNKNOWN,
        new=NewBusiness(choice.typed_name),
        message="We don't know that business yet. Check the details below and add it.",
    )


def resolve_pick(choice: BusinessChoice) -> Resolved | None:
    """Use the business picked from a list; None when the typed name has moved on from it."""
    wanted = parse_id(choice.picked_id or choice.kept_id)
    business = db.session.get(Business, wanted) if wanted else None
    if business is None:
        return Resolved(
            Outcome.NOT_FOUND,
            message="We couldn't find that business. Search again or add it as new.",
        )
    typed = normalize_name(choice.typed_name or "")
    if choice.picked_id or not typed or typed == business.normalized_name:
        return Resolved(Outcome.EXISTING, business=business)
    # Without JavaScript a kept id can't follow a name edited after an error.
    return None


def resolve_new(new: NewBusiness) -> Resolved:
    """Catch a new business that is already here under its name or website."""
    site = parse_website(new.website or "")
    duplicate = find_duplicate(new.name, site[1] if site else None)
    if duplicate is not None:
        return Resolved(
            Outcome.DUPLICATE,
            business=duplicate,
            message=f"“{duplicate.name}” is already here, so we picked it for you. Check and post.",
        )
    normalized = normalize_name(new.name)
    if not normalized:
        return Resolved(Outcome.BAD_NAME, message="Give the business a name with letters in it.")
    if len(normalized) > NAME_MAX:
        return Resolved(Outcome.BAD_NAME, message="That name is too long. Try a shorter form.")
    return Resolved(Outcome.NEW, new=new)


def create_business(
    name: str,
    *,
    website: str | None = None,
    handle: str | None = None,
    bluesky_handle: str | None = None,
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
        bluesky_handle=parse_bluesky_handle(bluesky_handle) if bluesky_handle else None,
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
    words = sa.select(BusinessWord.business_id.label("id")).where(*prefix_range(word, last))
    for n, other in enumerate(dict.fromkeys(whole)):
        also = so.aliased(BusinessWord, name=f"also_{n}")
        words = words.join(
            also, sa.and_(also.business_id == BusinessWord.business_id, also.word == other)
        )
    by_word = words.order_by(word, BusinessWord.business_id).limit(CANDIDATES).subquery()
    by_name = (
        sa.select(Business.id)
        .where(*prefix_range(name, term))
        .order_by(name)
        .limit(CANDIDATES)
        .subquery()
    )
    return sa.union(sa.select(by_word.c.id), sa.select(by_name.c.id))


def prefix_range(
    column: sa.ColumnElement | so.InstrumentedAttribute, prefix: str
) -> list[sa.ColumnElement[bool]]:
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
        "bluesky_handle": business.bluesky_handle,
        "category": business.category,
    }
