"""Settings: changing my password, exporting my data, and deleting my account."""

from __future__ import annotations

import html
import json
import re
from datetime import date

import pytest
import sqlalchemy as sa
from conftest import PASSWORD
from helpers import count, csrf_token

from webapp.extensions import db
from webapp.models import Business, ChallengeRound, Post, Report, User
from webapp.services import api_tokens

NEW_PASSWORD = "a brand new sentence"


def page_text(response) -> str:
    """Return the words a person reads on the page: tags dropped, spaces collapsed."""
    without_tags = re.sub(r"<[^>]+>", " ", response.text)
    return " ".join(html.unescape(without_tags).split())


def compose(client, **fields) -> int:
    """Post through the real compose form (public, named praise by default); return the post id."""
    data = {
        "kind": "praise",
        "body": "They went out of their way for me.",
        "happened_on": date.today().isoformat(),
        "channel": "in_person",
        "is_on_wall": "y",
        "shows_name": "y",
    }
    data.update(fields)
    response = client.post("/posts/new", data={k: v for k, v in data.items() if v is not None})
    assert response.status_code == 302, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def user_exists(username: str) -> bool:
    """Tell whether an account with this name is in the database."""
    return db.session.scalar(sa.select(User.id).where(User.username == username)) is not None


@pytest.mark.parametrize(
    ("method", "path", "location"),
    [
        ("get", "/settings", "/login?next=%2Fsettings"),
        ("post", "/settings/password", "/login?next=%2Fsettings%2Fpassword"),
        ("get", "/settings/export.json", "/login?next=%2Fsettings%2Fexport.json"),
        ("post", "/settings/delete", "/login?next=%2Fsettings%2Fdelete"),
    ],
)
def test_settings_need_a_login(client, make_user, method, path, location):
    """Anonymous visitors are sent to log in, and nothing changes."""
    make_user("alice")
    data = {"password": PASSWORD, "current": PASSWORD, "confirm": NEW_PASSWORD}
    response = getattr(client, method)(path, data=data if method == "post" else None)
    assert response.status_code == 302
    assert response.headers["Location"] == location
    assert user_exists("alice")


def test_settings_page_offers_password_export_and_delete(client, signed_in_alice):
    """The page has the three things a person comes here for."""
    response = client.get("/settings")
    assert response.status_code == 200
    text = page_text(response)
    assert "Change password" in text
    assert "Export my data" in text
    assert 'href="/settings/export.json"' in response.text
    assert "Delete my account" in text


@pytest.mark.parametrize(
    ("current", "password", "confirm", "message"),
    [
        pytest.param(
            "not my password",
            NEW_PASSWORD,
            NEW_PASSWORD,
            "That isn't your current password.",
            id="wrong current",
        ),
        pytest.param(
            "", NEW_PASSWORD, NEW_PASSWORD, "Enter your current password.", id="no current"
        ),
        pytest.param(PASSWORD, "", "", "Choose a new password.", id="no new"),
        pytest.param(PASSWORD, "short", "short", "Use at least 10 characters.", id="too short"),
        pytest.param(PASSWORD, "password123", "password123", "too easy to guess", id="common"),
        pytest.param(
            PASSWORD,
            "alice in wonderland",
            "alice in wonderland",
            "Don't put your username in your password.",
            id="has username",
        ),
        pytest.param(
            PASSWORD,
            NEW_PASSWORD,
            NEW_PASSWORD + "!",
            "The two passwords don't match.",
            id="mismatch",
        ),
    ],
)
def test_change_password_explains_what_is_wrong(
    client, auth, signed_in_alice, current, password, confirm, message
):
    """Each bad change gets a plain message and a 422, and the old password still works."""
    response = client.post(
        "/settings/password", data={"current": current, "password": password, "confirm": confirm}
    )
    assert response.status_code == 422
    assert message in page_text(response)
    auth.logout()
    assert auth.login(password=PASSWORD).status_code == 302


def test_changed_password_replaces_the_old_one(client, auth, signed_in_alice):
    """After a change, the new password logs in and the old one doesn't."""
    response = client.post(
        "/settings/password",
        data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/settings"
    assert "Password changed." in client.get("/settings").text
    auth.logout()
    assert auth.login(password=PASSWORD).status_code == 401
    assert auth.login(password=NEW_PASSWORD).status_code == 302


def test_a_new_password_signs_out_other_devices_and_revokes_api_tokens(
    app, client, auth, signed_in_alice
):
    """The page says what a change ends, and it does: the other phone and every token stop."""
    assert "logs you out everywhere else and revokes your API tokens" in page_text(
        client.get("/settings")
    )
    phone = app.test_client()
    assert phone.post("/login", data={"username": "alice", "password": PASSWORD}).status_code == 302
    tokens = [api_tokens.create(signed_in_alice, name).plain for name in ("Shortcut", "Laptop")]
    db.session.commit()
    response = client.post(
        "/settings/password",
        data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    text = page_text(client.get("/settings"))
    assert "Password changed. You're still logged in here; everywhere else is logged out." in text
    assert "Your 2 API tokens no longer work" in text
    assert "No tokens yet." in text
    assert phone.get("/me").status_code == 302
    for plain in tokens:
        posted = client.post(
            "/api/v1/posts",
            json={"business": "Corner Bakery", "body": "Lovely."},
            headers={"Authorization": f"Bearer {plain}"},
        )
        assert posted.status_code == 401
    assert count(Post) == 0


def test_guessing_the_password_with_a_borrowed_session_is_limited(make_app, make_user):
    """Wrong current passwords count per person across both forms; other mistakes don't."""
    app = make_app(LOGIN_ADDRESS_ACCOUNT_RATE_LIMIT="3 per minute")
    with app.app_context():
        make_user("alice")
        make_user("bob")
    client = app.test_client()
    assert (
        client.post("/login", data={"username": "alice", "password": PASSWORD}).status_code == 302
    )
    mismatch = {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": "something else"}
    for _ in range(4):
        assert client.post("/settings/password", data=mismatch).status_code == 422
    guesses = [
        client.post(
            "/settings/password",
            data={"current": f"guess {n}", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        ).status_code
        for n in range(2)
    ]
    guesses.append(client.post("/settings/delete", data={"password": "guess 3"}).status_code)
    assert guesses == [422, 422, 422]
    right = {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert client.post("/settings/password", data=right).status_code == 429
    assert client.post("/settings/delete", data={"password": PASSWORD}).status_code == 429
    with app.app_context():
        assert user_exists("alice")
    bob = app.test_client()
    assert bob.post("/login", data={"username": "bob", "password": PASSWORD}).status_code == 302
    assert bob.post("/settings/password", data=right).status_code == 302


def test_export_is_a_json_attachment(client, signed_in_alice):
    """The export downloads as a JSON file named after me, and isn't cached."""
    response = client.get("/settings/export.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == 'attachment; filename="praisewall-alice.json"'
    assert response.headers["Cache-Control"] == "no-store"
    assert json.loads(response.text)["account"]["username"] == "alice"


def test_export_holds_my_posts_businesses_and_rounds(
    client, signed_in_alice, make_user, make_business, make_post
):
    """My posts (private ones too), businesses I added and my rounds; nobody else's."""
    bakery = make_business("Corner Bakery")
    praise_id = compose(
        client, new_business_name="Quick Cobbler", body="Resoled my boots while I waited."
    )
    complaint_id = compose(
        client,
        kind="complaint",
        business_id=str(bakery.id),
        body="Sold me a stale loaf.",
        make_right="A fresh one next time.",
        is_on_wall=None,
    )
    bob = make_user("bob")
    make_post(bob, bakery, body="Bob's own praise.")
    make_business("Night Pharmacy", created_by=bob)

    data = client.get("/settings/export.json").json
    posts = {post["id"]: post for post in data["posts"]}
    assert set(posts) == {praise_id, complaint_id}
    assert posts[praise_id]["kind"] == "praise"
    assert posts[praise_id]["business"]["slug"] == "quick-cobbler"
    assert posts[praise_id]["on_public_wall"] is True
    assert posts[complaint_id]["body"] == "Sold me a stale loaf."
    assert posts[complaint_id]["on_public_wall"] is False
    assert posts[complaint_id]["what_would_make_it_right"] == "A fresh one next time."
    assert posts[complaint_id]["complaint_status"] == "open"
    assert [b["name"] for b in data["businesses_added"]] == ["Quick Cobbler"]
    assert len(data["challenge_rounds"]) == 1
    assert data["challenge_rounds"][0]["posts_counted"] == [praise_id]
    assert data["challenge_rounds"][0]["completed_at"] is None


@pytest.mark.parametrize(
    ("password", "message"),
    [("not my password", "That isn't your password."), ("", "Enter your password.")],
)
def test_delete_with_the_wrong_password_deletes_nothing(
    client, signed_in_alice, make_business, make_post, password, message
):
    """A wrong or missing password gets a message and a 422; the account and posts stay."""
    post = make_post(signed_in_alice, make_business("Corner Bakery"), body="Still here afterwards.")
    response = client.post("/settings/delete", data={"password": password})
    assert response.status_code == 422
    assert message in page_text(response)
    assert user_exists("alice")
    assert db.session.scalar(sa.select(Post.id).where(Post.id == post.id)) == post.id
    assert client.get("/me").status_code == 200
    assert "Still here afterwards." in client.get("/wall").text


def test_deleting_my_account_removes_me_and_my_posts(
    client, auth, signed_in_alice, make_user, make_business, make_post
):
    """The right password logs me out; me, my posts, reports and rounds go; businesses stay."""
    alice_id = signed_in_alice.id
    bob = make_user("bob")
    bakery = make_business("Corner Bakery")
    compose(client, new_business_name="Quick Cobbler", body="Alice praises the cobbler.")
    compose(client, business_id=str(bakery.id), body="Alice praises the bakery.")
    cobbler = db.session.scalar(sa.select(Business).where(Business.slug == "quick-cobbler"))
    bobs = make_post(bob, cobbler, body="Bob praises the cobbler too.")
    assert client.post(f"/posts/{bobs.id}/report", data={"reason": "other"}).status_code == 302
    rounds = sa.select(sa.func.count()).where(ChallengeRound.user_id == alice_id)
    added_by = sa.select(Business.created_by_id).where(Business.slug == "quick-cobbler")
    assert (db.session.scalar(rounds), count(Report)) == (1, 1)
    assert db.session.scalar(added_by) == alice_id
    assert "Alice praises the cobbler." in client.get("/b/quick-cobbler").text

    response = client.post("/settings/delete", data={"password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "Your account and your posts are gone." in client.get("/").text

    assert client.get("/me").headers["Location"] == "/login?next=%2Fme"
    assert not user_exists("alice")
    assert count(Post) == 1
    assert count(Report) == 0
    assert db.session.scalar(rounds) == 0
    wall = client.get("/wall").text
    assert "Alice praises" not in wall
    assert "Bob praises the cobbler too." in wall
    for slug in ("quick-cobbler", "corner-bakery"):
        page = client.get(f"/b/{slug}")
        assert page.status_code == 200
        assert "Alice praises" not in page.text
    assert "Bob praises the cobbler too." in client.get("/b/quick-cobbler").text
    assert db.session.scalar(added_by) is None
    assert client.get("/u/alice").status_code == 404
    assert auth.login().status_code == 401


def test_delete_without_a_csrf_token_is_refused(make_app):
    """With CSRF on, a delete without the form's token is a 400 and the account stays."""
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    token = csrf_token(client.get("/register").text)
    response = client.post(
        "/register",
        data={"username": "alice", "password": PASSWORD, "confirm": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302

    response = client.post("/settings/delete", data={"password": PASSWORD})
    assert response.status_code == 400
    assert "This form expired or came from somewhere else." in response.text
    with app.app_context():
        assert user_exists("alice")

    token = csrf_token(client.get("/settings").text)
    response = client.post("/settings/delete", data={"password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    with app.app_context():
        assert not user_exists("alice")
