"""Headers, cookies, CSRF, oversized bodies, and who may change what."""

from __future__ import annotations

import base64

import pytest
from conftest import PASSWORD
from helpers import count, csrf_token

from webapp.extensions import db
from webapp.models import ApiToken, Passkey, Post, User, utcnow
from webapp.services import api_tokens, notifications


@pytest.mark.parametrize("path", ["/", "/wall", "/login", "/api/v1/businesses?q=a", "/nope"])
def test_every_response_carries_security_headers(client, path):
    """CSP without inline script, nosniff, a referrer policy and no framing."""
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_pages_have_no_inline_script_or_third_party_requests(client, auth):
    """Scripts and styles come from our own /static only."""
    auth.register()
    for path in ("/", "/posts/new", "/wall", "/challenge", "/settings", "/me"):
        page = client.get(path).text
        assert "<script>" not in page and "style=" not in page and "onclick" not in page
        assert "http://" not in page.replace("http://praisewall.test", "")
        assert "https://" not in page


def test_session_cookie_is_httponly_and_lax(client, auth):
    """The session cookie can't be read by scripts or sent cross-site."""
    response = auth.register()
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_session_cookie_is_secure_under_https(client):
    """Over https the session cookie is marked Secure."""
    response = client.post(
        "/register",
        base_url="https://praisewall.test",
        data={"username": "alice", "password": PASSWORD, "confirm": PASSWORD},
    )
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "Secure" in cookie


def test_forms_carry_a_csrf_token_and_posts_without_it_are_refused(csrf_app, make_user):
    """A POST without the form's token is a 400 with a plain message; with it, it works."""
    client = csrf_app.test_client()
    make_user("alice")
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "This form expired" in response.text
    token = csrf_token(client.get("/login").text)
    response = client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302


# POST routes that take no CSRF token, each with the reason.
CSRF_EXEMPT = {
    # RFC 8058 one-click unsubscribe: a mail client POSTs to the link in List-Unsubscribe with
    # no session and no token of ours. The signed link naming the person and the kind is the
    # authorization, and all it can do is turn that one kind of email off.
    "/unsubscribe/<token>": "one-click unsubscribe (RFC 8058)",
}


def test_every_state_changing_route_requires_csrf(csrf_app, make_user, make_business, make_post):
    """Every POST route refuses a logged-in request that lacks the token, but the exempt ones."""
    alice = make_user("alice")
    post = make_post(alice, make_business(), kind="complaint")
    api_token = api_tokens.create(alice, "Phone").token
    passkey = a_passkey(alice.id)
    db.session.commit()
    client = csrf_app.test_client()
    token = csrf_token(client.get("/login").text)
    login = {"username": "alice", "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=login).status_code == 302
    posting_rules = [rule for rule in csrf_app.url_map.iter_rules() if "POST" in rule.methods]
    assert len(posting_rules) >= 12
    for rule in posting_rules:
        if rule.rule in CSRF_EXEMPT:
            continue
        path = rule.rule.replace("<int:post_id>", str(post.id))
        path = path.replace("<int:token_id>", str(api_token.id))
        path = path.replace("<int:user_id>", str(alice.id))
        path = path.replace("<int:passkey_id>", str(passkey.id))
        response = client.post(path, data={"reason": "spam", "note": "x", "password": PASSWORD})
        # The API takes no cookies at all, only a bearer token, so a session gets it nowhere.
        assert response.status_code == (401 if path.startswith("/api/") else 400), path
    assert count(Post) == 1
    assert count(ApiToken) == 1
    assert set(CSRF_EXEMPT) <= {rule.rule for rule in posting_rules}


def test_one_click_unsubscribe_needs_no_csrf_token(csrf_app, make_user):
    """The exempt route works without a token, for its signed link only."""
    alice = make_user("alice")
    alice.email, alice.notify_nudge_since = "alice@example.com", utcnow()
    db.session.commit()
    client = csrf_app.test_client()
    assert client.post("/unsubscribe/not-a-link").status_code == 400
    token = notifications.unsubscribe_token(alice, "nudge")
    assert client.post(f"/unsubscribe/{token}").status_code == 200
    db.session.expire_all()
    assert db.session.get(User, alice.id).notify_nudge_since is None


def a_passkey(user_id: int) -> Passkey:
    """Give the person a passkey row, for the routes that name one."""
    passkey = Passkey(
        user_id=user_id,
        credential_id="cGhvbmU",
        public_key=b"key",
        sign_count=0,
        user_handle="aGFuZGxl",
        name="Phone",
    )
    db.session.add(passkey)
    db.session.flush()
    return passkey


def test_a_ten_megabyte_body_is_refused_plainly(client, auth):
    """Huge bodies get a 413 and a message, never a 500."""
    auth.register()
    response = client.post("/posts/new", data={"body": "x" * (10 * 1024 * 1024)})
    assert response.status_code == 413
    assert "far too much" in response.text
    assert count(Post) == 0


def test_a_server_error_is_a_friendly_page(app, client):
    """An unexpected failure shows a friendly 500 page without a traceback."""

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaboom")

    app.testing = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text and "kaboom" not in response.text


# Who may change a post: anonymous visitors are sent to log in (302 to /login); the author
# succeeds; another user, or an admin (who moderates but never rewrites), gets 403.
OWNER_ROUTES = [
    ("get", "/posts/{id}/edit", {"anonymous": 302, "owner": 200, "other": 403, "admin": 403}),
    ("post", "/posts/{id}/edit", {"anonymous": 302, "owner": 302, "other": 403, "admin": 403}),
    ("post", "/posts/{id}/resolve", {"anonymous": 302, "owner": 302, "other": 403, "admin": 403}),
    ("post", "/posts/{id}/reopen", {"anonymous": 302, "owner": 302, "other": 403, "admin": 403}),
    ("post", "/posts/{id}/delete", {"anonymous": 302, "owner": 302, "other": 403, "admin": 403}),
]


@pytest.mark.parametrize("who", ["anonymous", "owner", "other", "admin"])
@pytest.mark.parametrize(("method", "template", "expected"), OWNER_ROUTES)
def test_only_the_author_changes_a_post(
    client, auth, make_user, make_business, make_post, who, method, template, expected
):
    """Each post-changing route answers each kind of visitor as the table says."""
    owner = make_user("owner")
    make_user("other")
    make_user("admin", is_admin=True)
    shop = make_business()
    post = make_post(owner, shop, kind="complaint", body="Original")
    if who != "anonymous":
        auth.login(who)
    path = template.format(id=post.id)
    data = {
        "kind": "complaint",
        "business_id": str(shop.id),
        "body": "Changed",
        "happened_on": "2026-01-01",
        "channel": "phone",
    }
    response = client.get(path) if method == "get" else client.post(path, data=data)
    assert response.status_code == expected[who]
    if who == "anonymous":
        assert "/login" in response.headers["Location"]
    if who in ("anonymous", "other", "admin"):
        unchanged = db.session.get(Post, post.id)
        assert unchanged is not None
        assert (unchanged.body, unchanged.complaint_status) == ("Original", "open")


def test_private_posts_are_404_to_others(client, auth, make_user, make_business, make_post):
    """A private post is invisible to others, visible to its author and to admins."""
    owner = make_user("owner")
    make_user("other")
    make_user("admin", is_admin=True)
    post = make_post(owner, make_business(), is_on_wall=False)
    assert client.get(f"/posts/{post.id}").status_code == 404
    for who, status in (("other", 404), ("owner", 200), ("admin", 200)):
        auth.login(who)
        assert client.get(f"/posts/{post.id}").status_code == status, who
        auth.logout()


def test_a_deleted_account_never_hands_its_session_to_a_newcomer(app, make_user):
    """Ids are never reused, and a session outlives nothing it belonged to."""
    alice = make_user("alice")
    old_id = alice.id
    phone, laptop = app.test_client(), app.test_client()
    for device in (phone, laptop):
        assert (
            device.post("/login", data={"username": "alice", "password": PASSWORD}).status_code
            == 302
        )
    phone.post("/settings/delete", data={"password": PASSWORD})
    newcomer = make_user("mallory")
    assert newcomer.id != old_id
    response = laptop.get("/me")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_new_password_logs_out_other_devices(app, make_user):
    """Changing the password ends other sessions and remember-me cookies, but not this one."""
    make_user("alice")
    phone, laptop = app.test_client(), app.test_client()
    login = {"username": "alice", "password": PASSWORD, "remember": "y"}
    for device in (phone, laptop):
        assert device.post("/login", data=login).status_code == 302
    new = "a brand new sentence"
    response = phone.post(
        "/settings/password", data={"current": PASSWORD, "password": new, "confirm": new}
    )
    assert response.status_code == 302
    assert phone.get("/me").status_code == 200
    assert laptop.get("/me").status_code == 302
    laptop.delete_cookie("session", domain="praisewall.test")
    assert laptop.get("/me").status_code == 302, "the old remember-me cookie must not log in"


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/u/ali%00ce", None),
        ("get", "/b/x%00", None),
        ("get", "/posts/new?business=a%00", None),
        ("get", "/businesses?q=%00", None),
        ("post", "/login", {"username": "ali\x00ce", "password": PASSWORD}),
        ("post", "/register", {"username": "a\x00b", "password": PASSWORD, "confirm": PASSWORD}),
    ],
)
def test_nul_characters_are_refused_plainly(client, method, path, data):
    """A NUL byte anywhere in a request is a 400 (PostgreSQL can't store one), never a 500."""
    response = getattr(client, method)(path, data=data)
    assert response.status_code == 400
    assert "NUL character" in response.text


@pytest.mark.parametrize(
    "raw",
    [
        '["2026-01-01T00:00:00+00:00", 1180591620717411303424]',
        '["9999-12-31T23:59:59-14:00", 1]',
        '["0001-01-01T00:00:00+01:00", 1]',
        '["2026-01-01T00:00:00+00:00", -5]',
        '["2026-01-01T00:00:00+00:00", true]',
        '["not a date", 1]',
        "[1, 2, 3]",
        '{"a": 1}',
    ],
)
@pytest.mark.parametrize("path", ["/wall", "/u/alice", "/b/corner-bakery", "/me"])
def test_crafted_cursors_are_a_400(client, make_user, make_business, raw, path):
    """A hand-made cursor with absurd values gets a 400, not a crash."""
    make_user("alice")
    make_business("Corner Bakery")
    client.post("/login", data={"username": "alice", "password": PASSWORD})
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    response = client.get(path, query_string={"cursor": cursor})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/wall",
        "/u/alice",
        "/b/corner-bakery",
        "/b/corner-bakery?sort=rating",
        "/me",
        "/businesses",
        "/api/v1/wall",
        "/api/v1/businesses/corner-bakery/posts",
    ],
)
@pytest.mark.parametrize(
    "raw", ["[" * 2000 + "]" * 2000, "[" * 100_000, '["2026-01-01T00:00:00+00:00", 1]' * 500]
)
def test_deeply_nested_or_huge_cursors_are_a_400(client, make_user, make_business, raw, path):
    """A cursor of thousands of nested brackets, or just a long one, is a plain 400."""
    make_user("alice")
    make_business("Corner Bakery")
    client.post("/login", data={"username": "alice", "password": PASSWORD})
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    response = client.get(f"{path}{'&' if '?' in path else '?'}cursor={cursor}")
    assert response.status_code == 400
    if path.startswith("/api/"):
        assert response.mimetype == "application/problem+json"
        assert "page link is broken" in response.json["detail"]
    else:
        assert "That page link is broken" in response.text


@pytest.mark.parametrize(
    "extra", ["endpoint=x", "slug=x", "username=bob", "_external=1", "_anchor=x"]
)
def test_next_page_links_survive_odd_query_arguments(
    app, client, make_user, make_business, make_post, extra
):
    """Extra query arguments are carried along, never trip up the "Older" link."""
    app.config["PER_PAGE"] = 1
    alice = make_user("alice")
    shop = make_business("Corner Bakery")
    make_post(alice, shop)
    make_post(alice, shop)
    for path in ("/wall", "/b/corner-bakery", "/u/alice"):
        response = client.get(f"{path}?{extra}")
        assert response.status_code == 200, path
        assert f'href="{path}?{extra}&amp;cursor=' in response.text


def test_wrong_method_says_which_are_allowed(client):
    """A GET to a POST-only address is a 405 with an Allow header."""
    response = client.get("/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


def test_remember_cookie_is_secure_under_https(client, make_user):
    """Over https the remember-me cookie is Secure too."""
    make_user("alice")
    response = client.post(
        "/login",
        base_url="https://praisewall.test",
        data={"username": "alice", "password": PASSWORD, "remember": "y"},
    )
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies and all("Secure" in cookie for cookie in cookies)


@pytest.mark.parametrize("raw", ["[1, 1]", '["a", 1180591620717411303424]', '["a\\u0000", 1]'])
def test_crafted_business_list_cursors_are_a_400(client, raw):
    """The A-to-Z list's cursor is checked just as strictly."""
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    assert client.get("/businesses", query_string={"cursor": cursor}).status_code == 400


def test_behind_a_trusted_proxy_https_and_addresses_are_believed(make_app, make_user):
    """With PROXY_FIX_HOPS, X-Forwarded-Proto makes cookies Secure; limits key on the client."""
    proxied = make_app(PROXY_FIX_HOPS=1, LOGIN_RATE_LIMIT="2 per minute")
    with proxied.app_context():
        make_user("alice")
        client = proxied.test_client()
        for n in range(2):
            bad = {"username": f"nobody{n}", "password": "wrong password here"}
            client.post("/login", data=bad, headers={"X-Forwarded-For": "203.0.113.1"})
        blocked = client.post(
            "/login",
            data={"username": "alice", "password": PASSWORD},
            headers={"X-Forwarded-For": "203.0.113.1"},
        )
        assert blocked.status_code == 429
        fine = client.post(
            "/login",
            data={"username": "alice", "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"},
        )
        assert fine.status_code == 302
        assert all("Secure" in c for c in fine.headers.getlist("Set-Cookie"))


# Open to anyone: signing in, and the links sent by mail (they prove who follows them).
OPEN_TO_ANYONE = {
    "/login",
    "/register",
    "/login/mastodon",
    "/login/bluesky",
    "/forgot",
    "/reset/<token>",
    "/email/confirm/<token>",
    "/unsubscribe/<token>",
    "/register/passkey/options",
    "/register/passkey",
    "/login/passkey/options",
    "/login/passkey",
    "/login/recovery",
}


def test_every_state_changing_route_needs_a_login(app, client, make_user, make_business, make_post):
    """Anonymous POSTs to any route but login and register are sent to log in, changing nothing."""
    alice = make_user("alice")
    post = make_post(alice, make_business(), kind="complaint")
    api_token = api_tokens.create(alice, "Phone").token
    passkey = a_passkey(alice.id)
    db.session.commit()
    rules = [r for r in app.url_map.iter_rules() if "POST" in r.methods]
    guarded = [r.rule for r in rules if r.rule not in OPEN_TO_ANYONE]
    assert {r.rule for r in rules} - set(guarded) == OPEN_TO_ANYONE
    for rule in guarded:
        path = rule.replace("<int:post_id>", str(post.id))
        path = path.replace("<int:token_id>", str(api_token.id))
        path = path.replace("<int:user_id>", str(alice.id))
        path = path.replace("<int:passkey_id>", str(passkey.id))
        response = client.post(path, data={"reason": "spam"})
        if path.startswith("/api/"):
            # The API asks for a bearer token instead of sending people to a login page.
            assert response.status_code == 401, rule
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), rule
            continue
        assert response.status_code == 302, rule
        assert response.headers["Location"].startswith("/login"), rule
    assert count(Post) == 1
    assert count(ApiToken) == 1
    assert db.session.get(Post, post.id).complaint_status == "open"


def test_the_mastodon_sign_in_form_may_send_people_to_their_server(app, client):
    """Browsers check a form's redirect against form-action: only this page allows other servers."""
    app.config["MASTODON_ALLOW_INSECURE"] = False
    csp = client.get("/login/mastodon").headers["Content-Security-Policy"]
    assert "form-action 'self' https:;" in csp and "http:" not in csp.replace("https:", "")
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert "form-action 'self';" in client.get("/login").headers["Content-Security-Policy"]
