"""The JSON API: reading walls and posts, posting with a personal token, errors and limits."""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, run_queued_tasks
from helpers import count, csrf_token, page_text, utc

from webapp.extensions import db
from webapp.models import (
    ApiToken,
    Business,
    ChallengeRound,
    Crosspost,
    CrosspostState,
    Kind,
    Moderation,
    Post,
)
from webapp.services import api_tokens, stats

PROBLEM = "application/problem+json"


def bearer(plain: str) -> dict[str, str]:
    """Return the header that carries a token."""
    return {"Authorization": f"Bearer {plain}"}


def assert_problem(response, status: int) -> dict:
    """Check an answer is problem details with this status, and return its body."""
    assert response.status_code == status, response.text
    assert response.mimetype == PROBLEM
    body = response.json
    assert body["status"] == status and body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    return body


@pytest.fixture
def token(alice) -> str:
    """Return a working API token of alice's, in plain text."""
    made = api_tokens.create(alice, "Phone shortcut")
    db.session.commit()
    return made.plain


def new_post(client, plain: str, **fields):
    """POST a post through the API with a token; body and business filled in by default."""
    payload = {"business": "corner-bakery", "body": "They saved me the last loaf."}
    payload.update(fields)
    return client.post("/api/v1/posts", json=payload, headers=bearer(plain))


def collect_pages(client, url: str) -> list[int]:
    """Follow `next` links from url to the end; return the post ids in order."""
    ids: list[int] = []
    seen_cursors = set()
    while url:
        body = client.get(url).json
        ids += [item["id"] for item in body["items"]]
        assert body["next_cursor"] not in seen_cursors
        seen_cursors.add(body["next_cursor"])
        url = body["next"]
    return ids


# Reading


def test_search_keeps_the_type_ahead_shape_and_adds_links(client, bakery_with_handle):
    """compose.js reads name, id, slug and handle; results also link to the wall and resource."""
    response = client.get("/api/v1/businesses?q=corn")
    assert response.status_code == 200
    (result,) = response.json["results"]
    assert result["name"] == "Corner Bakery" and result["id"] == bakery_with_handle.id
    assert result["slug"] == "corner-bakery"
    assert result["handle"] == "@support@cornerbakery.example"
    assert result["url"] == "http://praisewall.test/b/corner-bakery"
    assert result["api_url"] == "http://praisewall.test/api/v1/businesses/corner-bakery"


def test_business_numbers_match_its_wall(client, bakery_with_handle, alice, make_user, make_post):
    """The API's numbers are the wall's: public posts only, complaints resolved, ratings."""
    bob = make_user("bob")
    make_post(alice, bakery_with_handle, rating=5)
    make_post(bob, bakery_with_handle, rating=4)
    make_post(bob, bakery_with_handle, is_on_wall=False, rating=1)
    make_post(
        alice,
        bakery_with_handle,
        kind=Kind.COMPLAINT,
        complaint_status="resolved",
        created_at=utc(2026, 1, 1),
        resolved_at=utc(2026, 1, 3),
    )
    make_post(bob, bakery_with_handle, kind=Kind.COMPLAINT)
    response = client.get("/api/v1/businesses/corner-bakery")
    assert response.status_code == 200
    data = response.json
    assert data["name"] == "Corner Bakery" and data["verified"] is False
    numbers = data["numbers"]
    expected = stats.business_numbers(bakery_with_handle)
    assert numbers["praise"] == expected.praise == 2
    assert numbers["complaints"] == expected.complaints == 2
    assert numbers["resolved"] == 1 and numbers["resolved_share"] == 0.5
    assert numbers["median_days_to_resolve"] == pytest.approx(2.0)
    assert numbers["average_rating"] == pytest.approx(4.5)
    assert numbers["reply_rate"] is None and numbers["median_reply_seconds"] is None
    wall = client.get("/b/corner-bakery").text
    assert "Praise (2)" in wall and "Complaints (2)" in wall


def test_unknown_business_is_a_problem_404(client):
    """A slug nobody has is a 404 in problem details."""
    body = assert_problem(client.get("/api/v1/businesses/no-such-shop"), 404)
    assert "business" in body["detail"]


def test_business_posts_page_by_cursor(client, bakery_with_handle, alice, make_post):
    """Pages follow each other by cursor with no repeats or gaps; private posts never show."""
    made = [
        make_post(alice, bakery_with_handle, body=f"Praise {n}", created_at=utc(2026, 2, n))
        for n in range(1, 8)
    ]
    make_post(
        alice, bakery_with_handle, body="Private", is_on_wall=False, created_at=utc(2026, 3, 1)
    )
    make_post(alice, bakery_with_handle, body="Reported", moderation=Moderation.PENDING)
    make_post(alice, bakery_with_handle, kind=Kind.COMPLAINT, body="Cold coffee")

    first = client.get("/api/v1/businesses/corner-bakery/posts?limit=3").json
    assert [item["body"] for item in first["items"]] == ["Praise 7", "Praise 6", "Praise 5"]
    assert first["next_cursor"] and "cursor=" in first["next"]
    ids = collect_pages(client, "/api/v1/businesses/corner-bakery/posts?limit=3")
    assert ids == [post.id for post in reversed(made)]

    complaints = client.get("/api/v1/businesses/corner-bakery/posts?kind=complaint").json
    assert [item["body"] for item in complaints["items"]] == ["Cold coffee"]
    assert complaints["items"][0]["complaint_status"] == "open"
    assert complaints["next"] is None


@pytest.mark.parametrize(
    "query", ["kind=rant", "cursor=garbage", "cursor=W10", "cursor=eyJhIjogMX0"]
)
def test_bad_page_parameters_are_a_problem_400(client, bakery_with_handle, query):
    """A kind we don't have or a broken cursor is a 400, never a 500."""
    assert_problem(client.get(f"/api/v1/businesses/corner-bakery/posts?{query}"), 400)


def test_wall_pages_through_everyones_public_praise(make_app, make_user, make_business, make_post):
    """The wall uses the configured page size and walks every public praise exactly once."""
    app = make_app(PER_PAGE=2)
    with app.app_context():
        client = app.test_client()
        shop = make_business("Corner Bakery")
        people = [make_user(name) for name in ("alice", "bob", "carol")]
        made = [
            make_post(people[n % 3], shop, body=f"Win {n}", created_at=utc(2026, 1, 1 + n))
            for n in range(5)
        ]
        make_post(people[0], shop, kind=Kind.COMPLAINT)
        make_post(people[1], shop, body="Just for me", is_on_wall=False)
        first = client.get("/api/v1/wall").json
        assert len(first["items"]) == 2
        assert collect_pages(client, "/api/v1/wall") == [post.id for post in reversed(made)]


def test_a_public_post_reads_as_its_page_shows_it(client, bakery_with_handle, alice, make_post):
    """The post's fields, its author (or none when anonymous) and links."""
    named = make_post(
        alice, bakery_with_handle, rating=4, channel="phone", body="Called back in minutes."
    )
    anonymous = make_post(alice, bakery_with_handle, shows_name=False)
    data = client.get(f"/api/v1/posts/{named.id}").json
    assert data["body"] == "Called back in minutes." and data["rating"] == 4
    assert data["author"] == "alice" and data["author_url"] == "http://praisewall.test/u/alice"
    assert data["channel"] == "phone" and data["kind"] == "praise"
    assert data["business"]["slug"] == "corner-bakery"
    assert data["url"] == f"http://praisewall.test/posts/{named.id}"
    assert "on_wall" not in data and "crosspost" not in data
    hidden_name = client.get(f"/api/v1/posts/{anonymous.id}").json
    assert hidden_name["author"] is None and hidden_name["author_url"] is None


@pytest.mark.parametrize(
    "fields",
    [{"is_on_wall": False}, {"moderation": Moderation.PENDING}, {"moderation": Moderation.HIDDEN}],
    ids=["private", "reported", "hidden"],
)
def test_posts_not_public_are_404(client, bakery_with_handle, alice, make_post, fields):
    """Private and hidden posts are 404 to strangers, like their pages."""
    post = make_post(alice, bakery_with_handle, **fields)
    assert_problem(client.get(f"/api/v1/posts/{post.id}"), 404)
    assert client.get(f"/posts/{post.id}").status_code == 404


def test_the_author_reads_their_private_post_with_a_token(
    client, bakery_with_handle, alice, token, make_post
):
    """With the author's token the private post shows, with its privacy and delivery state."""
    post = make_post(alice, bakery_with_handle, is_on_wall=False)
    response = client.get(f"/api/v1/posts/{post.id}", headers=bearer(token))
    assert response.status_code == 200
    assert response.json["on_wall"] is False and response.json["crosspost"] is None
    assert response.headers["Cache-Control"] == "no-store"


def test_someone_elses_token_does_not_open_a_private_post(
    client, bakery_with_handle, alice, make_user, make_post
):
    """Bob's token is no key to alice's private post."""
    post = make_post(alice, bakery_with_handle, is_on_wall=False)
    bob_token = api_tokens.create(make_user("bob"), "Bob's phone").plain
    db.session.commit()
    assert_problem(client.get(f"/api/v1/posts/{post.id}", headers=bearer(bob_token)), 404)


def test_a_users_public_challenge(client, bakery_with_handle, alice, make_post):
    """Finished rounds show, as on the profile; the round under way stays private."""
    for n in range(3):
        make_post(alice, bakery_with_handle, created_at=utc(2026, 1, 1 + n))
    db.session.add(ChallengeRound(user_id=alice.id, started_at=utc(2026, 2, 1)))
    db.session.commit()
    data = client.get("/api/v1/users/alice/challenge").json
    assert data == {
        "username": "alice",
        "url": "http://praisewall.test/u/alice",
        "member_since": alice.created_at.isoformat(),
        "goal": 3,
        "completed_rounds": 1,
    }
    assert "Three-praise challenge × 1" in client.get("/u/alice").text
    assert_problem(client.get("/api/v1/users/nobody/challenge"), 404)


# Writing


def test_posting_with_a_token_puts_the_post_on_the_wall(client, bakery_with_handle, alice, token):
    """201, a Location to read it back, the post on the wall, and the token marked as used."""
    response = new_post(client, token, rating=5, channel="online")
    assert response.status_code == 201, response.text
    post = db.session.scalars(sa.select(Post)).one()
    assert response.headers["Location"] == f"http://praisewall.test/api/v1/posts/{post.id}"
    assert response.json["id"] == post.id and response.json["on_wall"] is True
    assert post.author_id == alice.id and post.business_id == bakery_with_handle.id
    assert post.rating == 5 and post.channel == "online" and post.happened_on == date.today()
    assert post.kind == Kind.PRAISE and post.shows_name is True
    assert response.json["crosspost"] is None  # alice has no Mastodon account
    assert client.get(response.headers["Location"]).json["body"] == "They saved me the last loaf."
    assert client.get("/api/v1/wall").json["items"][0]["id"] == post.id
    assert "They saved me the last loaf." in client.get("/wall").text
    assert db.session.scalars(sa.select(ApiToken)).one().last_used_at is not None


def test_a_retried_post_with_its_idempotency_key_makes_one_post(
    client, bakery_with_handle, alice, token
):
    """A phone that never heard back sends again with the same key: it gets the first post."""
    headers = bearer(token) | {"Idempotency-Key": "6f1c0c52-5d1e-4a8e-9a43-0d2f6f0b8d11"}
    payload = {"business": "corner-bakery", "body": "They saved me the last loaf."}

    first = client.post("/api/v1/posts", json=payload, headers=headers)
    again = client.post("/api/v1/posts", json=payload, headers=headers)
    other = client.post("/api/v1/posts", json=payload, headers=bearer(token))

    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["Location"] == first.headers["Location"]
    assert again.json["id"] == first.json["id"] != other.json["id"]
    assert count(Post) == 2
    bad = client.post(
        "/api/v1/posts", json=payload, headers=bearer(token) | {"Idempotency-Key": "no spaces"}
    )
    assert_problem(bad, 422)
    assert count(Post) == 2


def test_posting_a_private_anonymous_complaint(client, bakery_with_handle, alice, token):
    """The form's privacy options map to JSON booleans; complaints keep what would fix it."""
    response = new_post(
        client,
        token,
        kind="complaint",
        body="THEY LOST MY PARCEL AND NOBODY CARES",
        make_right="Find it or refund me.",
        on_wall=False,
        show_name=False,
        happened_on=(date.today() - timedelta(days=2)).isoformat(),
    )
    assert response.status_code == 201, response.text
    post = db.session.get(Post, response.json["id"])
    assert post.kind == Kind.COMPLAINT and post.complaint_status == "open"
    assert post.is_on_wall is False and post.shows_name is False
    assert post.make_right == "Find it or refund me."
    assert post.happened_on == date.today() - timedelta(days=2)
    assert any("capital letters" in s for s in response.json["tone_suggestions"])
    assert client.get(response.headers["Location"]).status_code == 404
    assert client.get(response.headers["Location"], headers=bearer(token)).status_code == 200


def test_posting_about_a_new_business_adds_it(client, alice, token):
    """new_business adds the business, through the form's checks."""
    response = new_post(
        client,
        token,
        business=None,
        new_business={"name": "Quick Cobbler", "website": "cobbler.example"},
    )
    assert response.status_code == 201, response.text
    business = db.session.scalars(sa.select(Business)).one()
    assert business.name == "Quick Cobbler" and business.domain == "cobbler.example"
    assert response.json["business"]["slug"] == "quick-cobbler"


def test_posting_by_exact_business_name(client, bakery_with_handle, alice, token):
    """business_name finds a business by its name, as typing it in the form does."""
    response = new_post(client, token, business=None, business_name="corner bakery")
    assert response.status_code == 201, response.text
    assert response.json["business"]["id"] == bakery_with_handle.id


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"body": "   "}, "body", "Tell us what happened."),
        ({"body": "x" * 2001}, "body", "Keep it under 2,000 characters."),
        ({"body": 42}, "body", "Must be a string."),
        ({"rating": 9}, "rating", "Not a valid choice"),
        ({"rating": True}, "rating", "Must be a whole number."),
        ({"kind": "rant"}, "kind", "Not a valid choice"),
        ({"channel": "carrier pigeon"}, "channel", "Not a valid choice"),
        ({"happened_on": "2999-01-01"}, "happened_on", "That date is in the future."),
        ({"happened_on": "yesterday"}, "happened_on", "Not a valid date"),
        ({"on_wall": "yes"}, "on_wall", "Must be true or false."),
        ({"colour": "blue"}, "colour", "We don't know this field."),
        ({"business": "no-such-shop"}, "business", "We don't know a business at that slug."),
        ({"business_name": "Corner Bakery"}, "business_name", "one way only"),
        ({"business": None}, "business", "Which business was it?"),
        (
            {"business": None, "business_name": "Corner"},
            "business_name",
            "Did you mean one of: corner-bakery?",
        ),
        (
            {"business": None, "new_business": {"name": "Corner Bakery!"}},
            "new_business",
            "“Corner Bakery” is already here: send it as business: corner-bakery.",
        ),
        (
            {"business": None, "new_business": {"name": "Shop", "website": "not a site"}},
            "new_business.website",
            "That doesn't look like a website.",
        ),
        (
            {"business": None, "new_business": {"name": "Shop", "motto": "hi"}},
            "new_business.motto",
            "We don't know this field.",
        ),
        ({"content_warning": "w" * 201}, "content_warning", "under 200 characters"),
        ({"body": "nul\x00byte", "business": "corner\x00bakery"}, "business", "NUL"),
    ],
)
def test_bad_input_is_a_422_with_field_errors(
    client, bakery_with_handle, alice, token, fields, field, message
):
    """Each mistake is named by field in problem details, and nothing is written."""
    response = new_post(client, token, **fields)
    body = assert_problem(response, 422)
    assert any(message in text for text in body["errors"][field]), body["errors"]
    assert count(Post) == 0 and count(Business) == 1


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400),
        ({"json": ["a", "list"]}, 400),
        ({"data": "body=hi", "content_type": "application/x-www-form-urlencoded"}, 415),
        ({"json": {"body": "x" * (300 * 1024)}}, 413),
    ],
    ids=["broken json", "not an object", "a form", "huge"],
)
def test_bodies_that_are_not_a_json_object(
    client, bakery_with_handle, alice, token, kwargs, status
):
    """Malformed, misdirected and oversized bodies get problem details, never a 500."""
    response = client.post("/api/v1/posts", headers=bearer(token), **kwargs)
    assert_problem(response, status)
    assert count(Post) == 0


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer pw_not-a-real-token", "Basic YWxpY2U6cGFzcw==", "Bearer " + "x" * 500],
)
def test_no_or_a_bad_token_is_a_401(client, bakery_with_handle, alice, token, header):
    """Without a working bearer token the API asks for one, and writes nothing."""
    headers = {"Authorization": header} if header else {}
    response = client.post(
        "/api/v1/posts", json={"business": "corner-bakery", "body": "Hi"}, headers=headers
    )
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="Praisewall"')
    assert count(Post) == 0


def test_a_revoked_token_stops_working(client, bakery_with_handle, alice, token):
    """After revoking, the same token is a 401."""
    assert new_post(client, token).status_code == 201
    api_tokens.revoke(db.session.scalars(sa.select(ApiToken)).one())
    db.session.commit()
    response = new_post(client, token)
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert count(Post) == 1


def test_a_session_cookie_cannot_post_through_the_api(csrf_app, bakery_with_handle, alice):
    """Logged in by cookie, with or without the form's CSRF token: still a 401, nothing written."""
    client = csrf_app.test_client()
    page = client.get("/login").text
    login = {"username": "alice", "password": PASSWORD, "csrf_token": csrf_token(page)}
    assert client.post("/login", data=login).status_code == 302
    payload = {"business": "corner-bakery", "body": "Riding on a cookie."}
    assert_problem(client.post("/api/v1/posts", json=payload), 401)
    with_csrf = {"X-CSRFToken": csrf_token(client.get("/settings").text)}
    assert_problem(client.post("/api/v1/posts", json=payload, headers=with_csrf), 401)
    assert count(Post) == 0


def test_a_token_posts_even_with_csrf_protection_on(csrf_app, bakery_with_handle, alice, token):
    """A bearer token is no ambient credential, so the API needs no CSRF token."""
    response = new_post(csrf_app.test_client(), token)
    assert response.status_code == 201, response.text


def test_a_connected_user_gets_the_post_crossposted(
    client, connected, fake_mastodon, bakery_with_handle
):
    """Posting via the API queues the same crosspost the form does, and it reaches Mastodon."""
    plain = api_tokens.create(connected, "Phone").plain
    db.session.commit()
    response = new_post(client, plain, content_warning="Bread talk")
    assert response.status_code == 201, response.text
    assert response.json["crosspost"]["state"] == "pending"
    row = db.session.scalars(sa.select(Crosspost)).one()
    assert row.post_id == response.json["id"] and row.visibility == "public"
    assert run_queued_tasks() >= 1
    assert row.state == CrosspostState.SENT, row.last_error
    (status,) = fake_mastodon.statuses
    assert "They saved me the last loaf." in status["status"]
    assert "@support@cornerbakery.example" in status["status"]
    assert f"/posts/{row.post_id}" in status["status"]
    assert status["spoiler_text"] == "Bread talk"
    again = client.get(f"/api/v1/posts/{row.post_id}", headers=bearer(plain)).json
    assert again["crosspost"]["state"] == "sent" and again["crosspost"]["url"]


def test_a_connected_user_may_leave_mastodon_out(
    client, connected, fake_mastodon, bakery_with_handle
):
    """to_mastodon false posts here only."""
    plain = api_tokens.create(connected, "Phone").plain
    db.session.commit()
    response = new_post(client, plain, to_mastodon=False)
    assert response.status_code == 201 and response.json["crosspost"] is None
    assert count(Crosspost) == 0 and run_queued_tasks() == 0


# Errors and limits


def test_unknown_paths_and_methods_are_problems(client):
    """404 and 405 under /api are problem details, the 405 with Allow."""
    assert_problem(client.get("/api/v1/nothing-here"), 404)
    response = client.delete("/api/v1/wall")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_a_server_error_is_a_problem_500(app, client):
    """An unexpected failure under /api answers problem details, without a traceback."""

    @app.get("/api/v1/boom")
    def boom():
        raise RuntimeError("kaboom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    body = assert_problem(client.get("/api/v1/boom"), 500)
    assert "kaboom" not in body["detail"]


def test_reads_are_rate_limited_with_headers(make_app):
    """Responses count down in X-RateLimit-* headers; over the limit is a 429 with Retry-After."""
    app = make_app(API_RATE_LIMIT="2 per minute")
    with app.app_context():
        client = app.test_client()
        first = client.get("/api/v1/wall")
        assert first.headers["X-RateLimit-Limit"] == "2"
        assert first.headers["X-RateLimit-Remaining"] == "1"
        assert int(first.headers["X-RateLimit-Reset"]) > 0
        client.get("/api/v1/businesses?q=a")  # all reads share one allowance
        response = client.get("/api/v1/wall")
        body = assert_problem(response, 429)
        assert "wait" in body["detail"]
        assert response.headers["X-RateLimit-Remaining"] == "0"
        assert 0 < int(response.headers["Retry-After"]) <= 60
        other = client.get("/api/v1/wall", environ_base={"REMOTE_ADDR": "198.51.100.7"})
        assert other.status_code == 200


def test_writes_are_rate_limited_per_person(make_app, make_user, make_business):
    """One person's allowance runs out for all their tokens, without touching another's."""
    app = make_app(API_WRITE_RATE_LIMIT="2 per minute")
    with app.app_context():
        client = app.test_client()
        make_business("Corner Bakery")
        alice = make_user("alice")
        phone, laptop = (api_tokens.create(alice, name).plain for name in ("Phone", "Laptop"))
        bob = api_tokens.create(make_user("bob"), "Phone").plain
        db.session.commit()
        assert [new_post(client, phone).status_code for _ in range(2)] == [201, 201]
        response = new_post(client, laptop)
        assert_problem(response, 429)
        assert response.headers["Retry-After"]
        assert new_post(client, bob).status_code == 201
        assert count(Post) == 3


def test_the_openapi_document_names_every_api_route(app, client):
    """Each /api/v1 route and method is in the document, which says it is OpenAPI 3.1."""
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "http://praisewall.test/api/v1"}]
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            served |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert documented == served


# Tokens in settings


def test_a_token_is_shown_once_and_only_its_hash_is_kept(client, auth, alice, bakery_with_handle):
    """The page shows the new token once, uncached; the database holds only its SHA-256."""
    auth.login()
    response = client.post("/settings/tokens", data={"name": "Phone shortcut"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    plain = re.search(r'id="new-token">(pw_[A-Za-z0-9_-]{40,})<', response.text).group(1)
    token = db.session.scalars(sa.select(ApiToken)).one()
    assert token.name == "Phone shortcut" and token.user_id == alice.id
    assert token.token_hash == hashlib.sha256(plain.encode()).hexdigest()
    for row in db.session.execute(sa.select(ApiToken.__table__)).all():
        assert plain not in [str(value) for value in row]
    later = client.get("/settings")
    assert plain not in later.text and "<td>Phone shortcut</td>" in later.text
    assert "<td>Never</td>" in later.text
    assert new_post(client, plain).status_code == 201
    assert "<td>Never</td>" not in client.get("/settings").text


def test_a_token_needs_a_name(client, auth, alice):
    """No name, no token: a 422 with the reason."""
    auth.login()
    response = client.post("/settings/tokens", data={"name": "  "})
    assert response.status_code == 422
    assert "Give the token a name" in response.text
    assert count(ApiToken) == 0


def test_a_person_holds_at_most_ten_tokens(client, auth, alice):
    """At the cap, making another is a 422 that says why; revoking one makes room."""
    auth.login()
    for n in range(api_tokens.MAX_PER_USER):
        assert client.post("/settings/tokens", data={"name": f"Phone {n}"}).status_code == 200
    assert "You hold 10 tokens, the most one person may." in page_text(client.get("/settings"))
    response = client.post("/settings/tokens", data={"name": "One more"})
    assert response.status_code == 422
    assert "You have 10 API tokens, the most one person may hold." in page_text(response)
    assert "pw_" not in response.text
    assert count(ApiToken) == api_tokens.MAX_PER_USER
    token_id = db.session.scalars(sa.select(ApiToken.id)).first()
    assert client.post(f"/settings/tokens/{token_id}/revoke").status_code == 302
    assert client.post("/settings/tokens", data={"name": "One more"}).status_code == 200


def test_revoking_my_token_from_settings(client, auth, alice, token):
    """Revoke removes it from the list, and it stops working."""
    auth.login()
    token_id = db.session.scalars(sa.select(ApiToken.id)).one()
    response = client.post(f"/settings/tokens/{token_id}/revoke")
    assert response.status_code == 302
    assert response.headers["Location"] == "/settings#api-tokens"
    assert "Revoked “Phone shortcut”." in client.get("/settings").text
    assert count(ApiToken) == 0
    assert_problem(new_post(client, token), 401)


def test_nobody_revokes_someone_elses_token(client, auth, alice, token, make_user):
    """Bob can't revoke alice's token: a 404, and it keeps working."""
    make_user("bob")
    auth.login("bob")
    token_id = db.session.scalars(sa.select(ApiToken.id)).one()
    assert client.post(f"/settings/tokens/{token_id}/revoke").status_code == 404
    assert count(ApiToken) == 1
    assert "<td>Phone shortcut</td>" not in client.get("/settings").text


def test_token_forms_need_csrf(csrf_app, alice, token):
    """Making and revoking tokens are forms like any other: no CSRF token, no change."""
    client = csrf_app.test_client()
    page = client.get("/login").text
    login = {"username": "alice", "password": PASSWORD, "csrf_token": csrf_token(page)}
    assert client.post("/login", data=login).status_code == 302
    token_id = db.session.scalars(sa.select(ApiToken.id)).one()
    assert client.post("/settings/tokens", data={"name": "Sneaky"}).status_code == 400
    assert client.post(f"/settings/tokens/{token_id}/revoke").status_code == 400
    assert count(ApiToken) == 1
    made = client.post(
        "/settings/tokens",
        data={"name": "Laptop", "csrf_token": csrf_token(client.get("/settings").text)},
    )
    assert made.status_code == 200 and count(ApiToken) == 2


def test_export_lists_my_tokens_without_their_hashes(client, auth, alice, token):
    """The export names my tokens and their dates, never the secret or its hash."""
    auth.login()
    stored = db.session.scalars(sa.select(ApiToken)).one()
    response = client.get("/settings/export.json")
    (exported,) = response.json["api_tokens"]
    assert exported == {
        "id": stored.id,
        "name": "Phone shortcut",
        "created_at": stored.created_at.isoformat(),
        "last_used_at": None,
    }
    assert stored.token_hash not in response.text and token not in response.text


def test_deleting_my_account_deletes_my_tokens(client, auth, alice, token):
    """Leaving takes the tokens too, and they stop working."""
    auth.login()
    response = client.post("/settings/delete", data={"password": PASSWORD})
    assert response.status_code == 302
    assert count(ApiToken) == 0
    assert_problem(new_post(client, token), 401)
