"""Limits on signing up, posting and reporting; one report per person per post."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, TEST_DATABASE_URL, compose_form
from flask import Flask
from helpers import count, page_text

from webapp.extensions import db
from webapp.models import Post, Report, User
from webapp.services import accounts, api_tokens, businesses


def seed(app: Flask, *names: str) -> None:
    """Create people (password: PASSWORD) and the Corner Bakery in this app's database."""
    with app.app_context():
        for name in names:
            accounts.create_user(name, PASSWORD)
        businesses.create_business("Corner Bakery")
        db.session.commit()


def logged_in(app: Flask, username: str):
    """Return a client of this app, logged in as the person."""
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def form(app: Flask, body: str) -> dict[str, str]:
    """Return a complete compose form about the Corner Bakery."""
    with app.app_context():
        shop = businesses.find_duplicate("Corner Bakery", None)
        return compose_form(shop, body=body, to_mastodon=None)


def bearer(plain: str) -> dict[str, str]:
    """Return the header that carries an API token."""
    return {"Authorization": f"Bearer {plain}"}


def rows(app: Flask, model: type) -> int:
    """Count a model's rows in this app's database."""
    with app.app_context():
        return count(model)


def test_sign_ups_from_one_address_are_limited(make_app):
    """Past the limit, the sign-up form answers 429 with the friendly page and makes nobody."""
    app = make_app(REGISTER_RATE_LIMIT="2 per minute")
    for name in ("alice", "bob"):
        client = app.test_client()
        data = {"username": name, "password": PASSWORD, "confirm": PASSWORD}
        assert client.post("/register", data=data).status_code == 302
    client = app.test_client()
    data = {"username": "carol", "password": PASSWORD, "confirm": PASSWORD}
    response = client.post("/register", data=data)
    assert response.status_code == 429
    assert "Too many tries" in response.text
    assert rows(app, User) == 2
    # Another address is not held back, and reading the form is never limited.
    assert client.get("/register").status_code == 200
    other = client.post("/register", data=data, environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert other.status_code == 302


@pytest.mark.parametrize(
    ("limit", "wait", "longest"),
    [
        ("1 per hour", "try again in about an hour.", 3600),
        ("1 per 10 minutes", "try again in 10 minutes.", 600),
        ("1 per minute", "try again in a minute.", 60),
        ("1 per day", "try again in about a day.", 86400),
    ],
)
def test_the_limit_page_says_how_long_to_wait_as_retry_after_does(make_app, limit, wait, longest):
    """The 429 page names the wait until the limit resets, which Retry-After gives in seconds."""
    app = make_app(REGISTER_RATE_LIMIT=limit)
    client = app.test_client()
    for name in ("alice", "bob"):
        data = {"username": name, "password": PASSWORD, "confirm": PASSWORD}
        response = client.post("/register", data=data)
    assert response.status_code == 429
    assert longest * 0.9 < int(response.headers["Retry-After"]) <= longest
    text = page_text(response)
    assert f"Too many tries. Please wait and {wait}" in text
    if longest > 600:
        assert "minute" not in text


def test_posting_is_limited_per_person(make_app):
    """Past the limit a post is refused with 429 and nothing is saved; others still post."""
    app = make_app(POST_RATE_LIMIT="2 per minute")
    seed(app, "alice", "bob")
    alice = logged_in(app, "alice")
    for n in range(2):
        assert alice.post("/posts/new", data=form(app, f"Lovely {n}")).status_code == 302
    response = alice.post("/posts/new", data=form(app, "One too many"))
    assert response.status_code == 429
    assert "Too many tries" in response.text
    assert rows(app, Post) == 2
    assert logged_in(app, "bob").post("/posts/new", data=form(app, "Mine")).status_code == 302
    assert rows(app, Post) == 3
    assert alice.get("/posts/new").status_code == 200


def test_a_form_sent_back_to_fix_does_not_use_up_the_posting_limit(make_app):
    """Only posts that were saved count against the limit."""
    app = make_app(POST_RATE_LIMIT="1 per minute")
    seed(app, "alice")
    alice = logged_in(app, "alice")
    for _ in range(3):
        assert alice.post("/posts/new", data=form(app, "")).status_code == 422
    assert alice.post("/posts/new", data=form(app, "Finally")).status_code == 302


def test_posts_from_the_form_and_every_token_share_one_allowance(make_app):
    """Four tokens and the form together get the one per-person allowance, not five of them."""
    app = make_app(POST_RATE_LIMIT="5 per minute", API_WRITE_RATE_LIMIT="100 per minute")
    seed(app, "alice", "bob")
    with app.app_context():
        alice, bob = (accounts.find_user(name) for name in ("alice", "bob"))
        tokens = [api_tokens.create(alice, f"Phone {n}").plain for n in range(4)]
        bob_token = api_tokens.create(bob, "Phone").plain
        db.session.commit()
    client = app.test_client()
    payload = {"business": "corner-bakery", "body": "Lovely."}
    statuses = [
        client.post("/api/v1/posts", json=payload, headers=bearer(tokens[n % 4])).status_code
        for n in range(8)
    ]
    assert statuses == [201] * 5 + [429] * 3
    alice = logged_in(app, "alice")
    response = alice.post("/posts/new", data=form(app, "From the form"))
    assert response.status_code == 429
    assert rows(app, Post) == 5
    # Someone else's allowance is their own, and a refused post used none of it.
    bob = client.post("/api/v1/posts", json=payload, headers=bearer(bob_token))
    assert bob.status_code == 201


def test_the_form_uses_up_the_allowance_the_api_then_shares(make_app):
    """Posts made with the form count when the same person posts with a token."""
    app = make_app(POST_RATE_LIMIT="2 per minute")
    seed(app, "alice")
    with app.app_context():
        plain = api_tokens.create(accounts.find_user("alice"), "Phone").plain
        db.session.commit()
    alice = logged_in(app, "alice")
    for n in range(2):
        assert alice.post("/posts/new", data=form(app, f"Lovely {n}")).status_code == 302
    payload = {"business": "corner-bakery", "body": "One too many."}
    response = alice.post("/api/v1/posts", json=payload, headers=bearer(plain))
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert rows(app, Post) == 2


def test_searching_businesses_on_the_page_is_limited_per_address(make_app):
    """Like the API's searches, the page's are limited per address; the A to Z list isn't."""
    app = make_app(SEARCH_RATE_LIMIT="2 per minute")
    seed(app)
    client = app.test_client()
    assert [client.get("/businesses?q=corner").status_code for _ in range(2)] == [200, 200]
    response = client.get("/businesses?q=bakery")
    assert response.status_code == 429
    assert "Too many tries" in response.text
    assert client.get("/businesses").status_code == 200
    other = client.get("/businesses?q=corner", environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert other.status_code == 200


def test_reporting_is_limited_per_person(make_app):
    """Past the limit a report is refused with 429 and not stored."""
    app = make_app(REPORT_RATE_LIMIT="2 per minute")
    seed(app, "alice", "bob")
    alice = logged_in(app, "alice")
    for n in range(3):
        assert alice.post("/posts/new", data=form(app, f"Story {n}")).status_code == 302
    with app.app_context():
        ids = db.session.scalars(sa.select(Post.id).order_by(Post.id)).all()
    bob = logged_in(app, "bob")
    statuses = [
        bob.post(f"/posts/{post_id}/report", data={"reason": "spam"}).status_code for post_id in ids
    ]
    assert statuses == [302, 302, 429]
    assert rows(app, Report) == 2


def test_one_report_per_person_per_post(make_app):
    """A second report of the same post is a 409, and the database refuses one too."""
    app = make_app()
    seed(app, "alice", "bob")
    alice = logged_in(app, "alice")
    assert alice.post("/posts/new", data=form(app, "Story")).status_code == 302
    with app.app_context():
        post_id = db.session.scalar(sa.select(Post.id))
        bob_id = accounts.find_user("bob").id
    bob = logged_in(app, "bob")
    assert bob.post(f"/posts/{post_id}/report", data={"reason": "spam"}).status_code == 302
    again = bob.post(f"/posts/{post_id}/report", data={"reason": "abuse"})
    assert again.status_code == 409
    assert rows(app, Report) == 1
    with app.app_context():
        db.session.add(Report(post_id=post_id, reporter_id=bob_id, reason="abuse"))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.commit()
        db.session.rollback()


def test_two_processes_share_the_posting_limit_through_redis(make_app, redis_url):
    """Two app instances on one Redis count one person's posts together."""
    shared = {
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "POST_RATE_LIMIT": "2 per minute",
    }
    first, second = make_app(**shared), make_app(**shared)
    seed(first, "alice")
    if not TEST_DATABASE_URL:
        # Each has its own in-memory database; alice is user 1 in both, as if they shared one.
        seed(second, "alice")
    on_first, on_second = logged_in(first, "alice"), logged_in(second, "alice")
    assert on_first.post("/posts/new", data=form(first, "One")).status_code == 302
    assert on_second.post("/posts/new", data=form(second, "Two")).status_code == 302
    assert on_first.post("/posts/new", data=form(first, "Three")).status_code == 429
    assert on_second.post("/posts/new", data=form(second, "Four")).status_code == 429
    with second.app_context():
        plain = api_tokens.create(accounts.find_user("alice"), "Phone").plain
        db.session.commit()
    payload = {"business": "corner-bakery", "body": "Five"}
    api = second.test_client().post("/api/v1/posts", json=payload, headers=bearer(plain))
    assert api.status_code == 429
    assert rows(first, Post) + (0 if TEST_DATABASE_URL else rows(second, Post)) == 2
