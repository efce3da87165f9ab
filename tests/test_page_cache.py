"""Visitors without a cookie get public pages from a few seconds' copy; nobody else ever does."""

from __future__ import annotations

import gzip
import re

import pytest
import sqlalchemy as sa

from webapp.extensions import db
from webapp.web import page_cache

SECONDS = 5


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A clock the test moves by hand: clock[0] is now, in seconds."""
    now = [1000.0]
    monkeypatch.setattr(page_cache, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def app(make_app, clock):
    """The app with the page cache on, as it runs in production."""
    app = make_app(PAGE_CACHE_SECONDS=SECONDS)
    with app.app_context():
        yield app


def bodies(html: str) -> list[str]:
    """Return the post texts on a page, in order."""
    return re.findall(r'<p class="body">(.*?)</p>', html, re.S)


def queries_during(action) -> int:
    """Run action() and return how many SQL statements it sent."""
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return len(statements)


def test_visitors_share_a_copy_for_a_few_seconds(app, clock, bob, bakery, make_post):
    """A second visitor within the window gets the same page without a query; later, a new one."""
    make_post(bob, bakery, body="First praise")
    first = app.test_client().get("/wall")
    make_post(bob, bakery, body="Second praise")
    clock[0] += SECONDS - 1
    repeat: list = []
    assert queries_during(lambda: repeat.append(app.test_client().get("/wall"))) == 0
    assert repeat[0].status_code == 200
    assert bodies(repeat[0].text) == bodies(first.text) == ["First praise"]
    assert repeat[0].headers["Age"] == str(SECONDS - 1)
    clock[0] += 1
    assert bodies(app.test_client().get("/wall").text) == ["Second praise", "First praise"]


def test_signed_in_people_always_get_a_fresh_page(app, client, auth, bob, bakery, make_post):
    """An author sees their own new post at once, while visitors still have the older copy."""
    app.test_client().get(f"/b/{bakery.slug}")
    auth.login("bob")
    make_post(bob, bakery, body="Just posted")
    assert "Just posted" in client.get(f"/b/{bakery.slug}").text
    assert "Just posted" not in app.test_client().get(f"/b/{bakery.slug}").text


def test_a_request_with_any_cookie_skips_the_copy(app, bob, bakery, make_post):
    """A cookie could mean a session: such requests are answered by the app itself."""
    app.test_client().get("/wall")
    make_post(bob, bakery, body="Fresh")
    visitor = app.test_client(use_cookies=False)
    with_cookie = visitor.get("/wall", headers={"Cookie": "theme=dark"})
    assert bodies(with_cookie.text) == ["Fresh"]


def test_personal_and_failed_answers_are_never_kept(app, make_business):
    """404s and pages that aren't public stay out, so a new business shows up at once."""
    assert app.test_client().get("/b/new-bakery").status_code == 404
    make_business("New Bakery")
    assert app.test_client().get("/b/new-bakery").status_code == 200
    assert app.test_client().get("/login").status_code == 200
    assert not any(key[2] == "/login" for key in app.wsgi_app.entries)


def test_each_encoding_gets_its_own_copy(app, bob, bakery, make_post):
    """A browser asking for gzip and a client asking for plain text each get what they asked."""
    make_post(bob, bakery, body="Squeezed " * 100)
    for _ in range(2):
        zipped = app.test_client().get("/wall", headers={"Accept-Encoding": "gzip"})
        plain = app.test_client().get("/wall")
        assert zipped.headers["Content-Encoding"] == "gzip"
        assert "Content-Encoding" not in plain.headers
        assert gzip.decompress(zipped.data) == plain.data


def test_a_kept_page_answers_304_to_a_current_copy(app, bob, bakery, make_post):
    """A visitor holding the page's ETag gets 304 from the copy, with no body and no query."""
    make_post(bob, bakery)
    etag = app.test_client().get("/wall").headers["ETag"]
    answers: list = []
    queries = queries_during(
        lambda: answers.append(app.test_client().get("/wall", headers={"If-None-Match": etag}))
    )
    assert queries == 0
    assert answers[0].status_code == 304 and answers[0].data == b""
    assert answers[0].headers["ETag"] == etag


def test_head_gets_headers_without_a_body(app, bob, bakery, make_post):
    """HEAD is answered from the copy too, with its headers and no body."""
    make_post(bob, bakery)
    full = app.test_client().get("/wall")
    head = app.test_client().head("/wall")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["ETag"] == full.headers["ETag"]


def test_posting_is_never_answered_from_a_copy(app, client, auth, bob, bakery):
    """Only GET and HEAD can be kept: a form sent twice is handled twice."""
    auth.login("bob")
    form = {
        "kind": "praise",
        "business_id": str(bakery.id),
        "body": "Kind and quick.",
        "happened_on": "2026-01-02",
        "channel": "in_person",
        "is_on_wall": "y",
        "shows_name": "y",
    }
    first = client.post("/posts/new", data=form)
    second = client.post("/posts/new", data={**form, "body": "Kind and quick, again."})
    assert first.headers["Location"] != second.headers["Location"]


def test_the_copy_is_bounded(app, monkeypatch, make_business):
    """The cache holds at most MAX_ENTRIES pages, dropping the oldest first."""
    monkeypatch.setattr(page_cache, "MAX_ENTRIES", 3)
    for name in ("Alpha", "Beta", "Gamma", "Delta"):
        make_business(name)
        app.test_client().get(f"/b/{name.lower()}")
    assert [key[2] for key in app.wsgi_app.entries] == ["/b/beta", "/b/gamma", "/b/delta"]


def test_the_copy_is_bounded_in_bytes(app, monkeypatch, make_business):
    """Past MAX_BYTES of pages the oldest go, so junk query strings can't fill the memory."""
    make_business("Alpha")
    page = len(app.test_client().get("/b/alpha?n=0").data)
    monkeypatch.setattr(page_cache, "MAX_BYTES", page * 2 + page // 2)
    for n in range(1, 6):
        app.test_client().get(f"/b/alpha?n={n}")
    cache = app.wsgi_app
    assert [key[3] for key in cache.entries] == ["n=4", "n=5"]
    assert cache.size == sum(len(entry.body) for entry in cache.entries.values())


def test_off_when_zero(make_app):
    """PAGE_CACHE_SECONDS = 0 leaves the app as it is."""
    app = make_app(PAGE_CACHE_SECONDS=0)
    assert not isinstance(app.wsgi_app, page_cache.PageCache)


@pytest.mark.parametrize(
    ("status", "headers", "kept"),
    [
        ("200 OK", [("Cache-Control", "public, max-age=300"), ("Vary", "Cookie")], True),
        ("200 OK", [("Cache-Control", "max-age=300")], False),
        ("200 OK", [("Cache-Control", 'public, private="Set-Cookie"')], False),
        ("200 OK", [("Cache-Control", "public, no-cache")], False),
        ("200 OK", [("Cache-Control", "public, max-age=0")], False),
        ("200 OK", [("Cache-Control", "public, s-maxage=0")], False),
        ("200 OK", [("Cache-Control", "public"), ("Set-Cookie", "session=x")], False),
        ("200 OK", [("Cache-Control", "public"), ("Vary", "Authorization")], False),
        ("404 NOT FOUND", [("Cache-Control", "public")], False),
    ],
)
def test_only_public_answers_that_set_nothing_are_kept(status, headers, kept):
    """What the app says about an answer decides whether it may be kept for other visitors."""
    assert page_cache.keepable({"status": status, "headers": headers}) is kept


def test_a_visitor_holding_any_version_gets_304(app, bob, bakery, make_post):
    """If-None-Match: * matches the kept page, as it would the app's."""
    make_post(bob, bakery)
    app.test_client().get("/wall")
    assert app.test_client().get("/wall", headers={"If-None-Match": "*"}).status_code == 304
