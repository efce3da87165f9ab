"""Headers, cookies, CSRF, oversized bodies, and who may change what."""

from __future__ import annotations

import pytest
from conftest import PASSWORD
from helpers import count, csrf_token

from webapp.extensions import db
from webapp.models import Post


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


def test_every_state_changing_route_requires_csrf(csrf_app, make_user, make_business, make_post):
    """Every POST route refuses a logged-in request that lacks the token."""
    alice = make_user("alice")
    post = make_post(alice, make_business(), kind="complaint")
    client = csrf_app.test_client()
    token = csrf_token(client.get("/login").text)
    login = {"username": "alice", "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=login).status_code == 302
    posting_rules = [
        rule for rule in csrf_app.url_map.iter_rules() if "POST" in rule.methods
    ]
    assert len(posting_rules) >= 12
    for rule in posting_rules:
        path = rule.rule.replace("<int:post_id>", str(post.id))
        response = client.post(path, data={"reason": "spam", "note": "x", "password": PASSWORD})
        assert response.status_code == 400, path
    assert count(Post) == 1


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
