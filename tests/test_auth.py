"""Registering, logging in and out, and the limit on login attempts."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import PASSWORD
from helpers import page_text

from webapp.extensions import db
from webapp.models import User


def test_register_logs_in_and_opens_compose(client, auth):
    """A new account is logged in and sent to write its first post."""
    response = auth.register("maria_k")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/posts/new")
    assert "Log out" in client.get("/me").text
    user = db.session.scalar(sa.select(User).where(User.username == "maria_k"))
    assert user is not None and user.password_hash != PASSWORD


def test_usernames_are_case_insensitive(client, auth, make_user):
    """Registering "Alice" when "alice" exists is refused; logging in as "ALICE" works."""
    make_user("alice")
    response = auth.register("Alice")
    assert response.status_code == 422
    assert "That username is taken" in response.text
    assert auth.login("ALICE").status_code == 302


@pytest.mark.parametrize(
    ("username", "password", "confirm", "message"),
    [
        ("", PASSWORD, PASSWORD, "Choose a username."),
        ("ab", PASSWORD, PASSWORD, "Use 3 to 30 letters, digits or underscores."),
        ("no spaces", PASSWORD, PASSWORD, "Use 3 to 30 letters, digits or underscores."),
        ("<script>", PASSWORD, PASSWORD, "Use 3 to 30 letters, digits or underscores."),
        ("bob", "", "", "Choose a password."),
        ("bob", "short", "short", "Use at least 10 characters."),
        ("bob", "password123", "password123", "too easy to guess"),
        ("bob", "aaaaaaaaaaaa", "aaaaaaaaaaaa", "too easy to guess"),
        ("bobthebuilder", "bobthebuilder99", "bobthebuilder99", "Don&#39;t put your username"),
        ("bob", PASSWORD, PASSWORD + "x", "The two passwords don&#39;t match."),
    ],
)
def test_register_explains_what_is_wrong(client, username, password, confirm, message):
    """Each bad sign-up gets its own plain message, the username kept, and a 422."""
    response = client.post(
        "/register", data={"username": username, "password": password, "confirm": confirm}
    )
    assert response.status_code == 422
    assert message in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_login_and_logout(client, auth, make_user):
    """Logging in shows my pages; logging out hides them again."""
    make_user("alice")
    assert auth.login().status_code == 302
    assert client.get("/me").status_code == 200
    assert auth.logout().status_code == 302
    response = client.get("/me")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def copy_cookies(source, target, *names: str) -> None:
    """Give another client copies of some of a client's cookies, as a thief who took them."""
    for name in names:
        cookie = source.get_cookie(name, domain="praisewall.test")
        assert cookie is not None, name
        target.set_cookie(name, cookie.value, domain=cookie.domain, path=cookie.path)


@pytest.mark.parametrize("stolen", [("session",), ("remember_token",)])
def test_a_copied_cookie_stops_working_when_its_owner_logs_out(
    app, client, auth, make_user, stolen
):
    """Logging out ends the session on the server: a copy of a cookie taken before stops too."""
    make_user("alice")
    assert auth.login(remember=True).status_code == 302
    thief = app.test_client()
    copy_cookies(client, thief, *stolen)
    assert thief.get("/me").status_code == 200
    response = auth.logout()
    assert response.status_code == 302
    assert "You're logged out, on this device and every other." in page_text(client.get("/"))
    response = thief.get("/me")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert thief.get("/settings").status_code == 302
    # Signing in again works as before.
    assert auth.login().status_code == 302
    assert client.get("/me").status_code == 200


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong password here"), ("nobody", PASSWORD)],
)
def test_wrong_login_is_refused_plainly(client, auth, make_user, username, password):
    """A wrong username or password gets the same message and a 401."""
    make_user("alice")
    response = auth.login(username, password)
    assert response.status_code == 401
    assert "That username and password don&#39;t match." in response.text
    assert f'value="{username}"' in response.text


def test_remember_me_sets_a_lasting_cookie(client, auth, make_user):
    """Ticking "remember me" sets an HttpOnly remember cookie; not ticking it doesn't."""
    make_user("alice")
    auth.login(remember=False)
    assert client.get_cookie("remember_token") is None
    auth.logout()
    response = auth.login(remember=True)
    cookie = next(
        h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token=")
    )
    assert "HttpOnly" in cookie and "Expires=" in cookie


def test_login_redirects_only_to_local_pages(client, auth, make_user):
    """?next= may send me back to a page here but never to another site."""
    make_user("alice")
    response = client.post(
        "/login?next=/challenge", data={"username": "alice", "password": PASSWORD}
    )
    assert response.headers["Location"].endswith("/challenge")
    client.post("/logout")
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post(
            "/login", query_string={"next": evil}, data={"username": "alice", "password": PASSWORD}
        )
        assert "evil.example" not in response.headers["Location"]
        client.post("/logout")


def test_failed_logins_are_rate_limited(make_app, make_user):
    """After the allowed number of failed attempts, the login form answers 429."""
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    with app.app_context():
        make_user("alice")
    bad = {"username": "alice", "password": "not the password"}
    assert [client.post("/login", data=bad).status_code for _ in range(3)] == [401, 401, 401]
    response = client.post("/login", data=bad)
    assert response.status_code == 429
    assert "Too many tries" in response.text
    # Even the right password waits until the window passes.
    assert (
        client.post("/login", data={"username": "alice", "password": PASSWORD}).status_code == 429
    )


def test_successful_logins_do_not_use_up_the_limit(make_app, make_user):
    """Logging in and out repeatedly is not punished."""
    app = make_app(LOGIN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    with app.app_context():
        make_user("alice")
    for _ in range(4):
        assert (
            client.post("/login", data={"username": "alice", "password": PASSWORD}).status_code
            == 302
        )
        client.post("/logout")


def test_logged_in_visitors_skip_the_forms(client, auth):
    """Register and login pages send a logged-in person onwards."""
    auth.register()
    assert client.get("/register").status_code == 302
    assert client.get("/login").status_code == 302


def test_guessing_one_account_from_many_addresses_is_limited(make_app, make_user):
    """Failed logins for one username are limited even when each comes from a new address."""
    app = make_app(LOGIN_ACCOUNT_RATE_LIMIT="3 per minute")
    with app.app_context():
        make_user("alice")
        client = app.test_client()
        bad = {"username": "alice", "password": "not the password"}
        statuses = [
            client.post("/login", data=bad, environ_base={"REMOTE_ADDR": f"10.0.0.{n}"}).status_code
            for n in range(4)
        ]
        assert statuses == [401, 401, 401, 429]


GUESS = {"username": "alice", "password": "not the password"}
OWNER = {"username": "alice", "password": PASSWORD}


def attempt(client, data: dict, address: str) -> int:
    """Try to log in from an address; return the status."""
    return client.post("/login", data=data, environ_base={"REMOTE_ADDR": address}).status_code


def test_guessing_from_one_address_cannot_lock_the_owner_out(make_app, make_user):
    """An attacker's failures hold back their address, not the owner signing in elsewhere."""
    app = make_app(
        LOGIN_RATE_LIMIT="10 per minute",
        LOGIN_ADDRESS_ACCOUNT_RATE_LIMIT="3 per minute",
        LOGIN_ACCOUNT_RATE_LIMIT="6 per minute",
    )
    with app.app_context():
        make_user("alice", is_admin=True)
    attacker, owner = app.test_client(), app.test_client()
    statuses = [attempt(attacker, GUESS, "203.0.113.5") for _ in range(20)]
    assert statuses == [401] * 3 + [429] * 17
    # A first visit from the owner's own address, without any cookie of ours, still gets in.
    assert attempt(owner, OWNER, "198.51.100.20") == 302
    assert owner.get("/me").status_code == 200
    # And the attacker is still held back, even with the right password.
    assert attempt(attacker, GUESS, "203.0.113.5") == 429
    assert attempt(app.test_client(), OWNER, "203.0.113.5") == 429


def test_guessing_from_many_addresses_cannot_lock_out_a_device_that_signed_in_before(
    make_app, make_user
):
    """Past the per-account limit strangers wait, but the owner's own device signs in."""
    app = make_app(LOGIN_ACCOUNT_RATE_LIMIT="5 per minute")
    with app.app_context():
        make_user("alice", is_admin=True)
    laptop = app.test_client()
    assert attempt(laptop, OWNER, "198.51.100.20") == 302
    laptop.post("/logout")
    attacker = app.test_client()
    statuses = [attempt(attacker, GUESS, f"203.0.113.{n}") for n in range(1, 16)]
    assert statuses == [401] * 5 + [429] * 10
    # A device that never signed in to alice waits, whoever it is...
    assert attempt(app.test_client(), OWNER, "198.51.100.30") == 429
    # ...but the laptop alice used before gets in, from a new address too.
    assert attempt(laptop, OWNER, "192.0.2.44") == 302
    assert laptop.get("/me").status_code == 200
    assert attempt(attacker, GUESS, "203.0.113.99") == 429


def test_a_device_known_to_another_account_or_a_forged_one_is_still_limited(make_app, make_user):
    """The mark names the accounts signed in to, and is signed: it can't be borrowed or made."""
    app = make_app(LOGIN_ACCOUNT_RATE_LIMIT="2 per minute")
    with app.app_context():
        make_user("alice")
        make_user("mallory")
    attacker = app.test_client()
    assert attempt(attacker, {"username": "mallory", "password": PASSWORD}, "203.0.113.1") == 302
    attacker.post("/logout")
    assert [attempt(attacker, GUESS, f"203.0.113.{n}") for n in range(2, 5)] == [401, 401, 429]
    forger = app.test_client()
    forger.set_cookie("known_device", "WzFd.forged", path="/login")
    assert attempt(forger, GUESS, "203.0.113.9") == 429


@pytest.mark.parametrize("how", ["login", "register"])
def test_signing_in_marks_the_device_with_a_lasting_httponly_cookie(client, auth, make_user, how):
    """The mark is sent only to the login form, lasts a year and scripts can't read it."""
    if how == "login":
        make_user("alice")
        response = auth.login()
    else:
        response = auth.register()
    cookies = response.headers.getlist("Set-Cookie")
    cookie = next(h for h in cookies if h.startswith("known_device="))
    assert "HttpOnly" in cookie and "Path=/login" in cookie and "Max-Age=31536000" in cookie
    assert "alice" not in cookie
