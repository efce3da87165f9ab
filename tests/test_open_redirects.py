"""Every `next` parameter keeps people on this site, however it is dressed up."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from conftest import PASSWORD, AuthActions
from flask.testing import FlaskClient
from passkey_support import Authenticator

from webapp.auth.routes import safe_next

HOST = "praisewall.test"
EVIL = [
    "//evil.example",
    "//evil.example/path",
    "https://evil.example",
    "http://evil.example/",
    "https:evil.example",
    "http:/evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "///evil.example",
    "////evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "%2F%2Fevil.example",
    "%252F%252Fevil.example",
    "/%2F/evil.example",
    "/%5Cevil.example",
    " //evil.example",
    "\t//evil.example",
    "\n//evil.example",
    "\x01//evil.example",
    "\x7f//evil.example",
    "\u3000//evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/ /evil.example",
    "/\x0b/evil.example",
    "/.//evil.example",
    "/./\\evil.example",
    "/@evil.example",
    "//praisewall.test@evil.example",
    "/challenge\r\nLocation: https://evil.example",
    "\uff0f\uff0fevil.example",
]
# Where the application reads `next`; a new place must get its cases below.
READS_NEXT = {
    "webapp/auth/routes.py",
    "webapp/auth/mastodon_routes.py",
    "webapp/auth/passkey_routes.py",
    "webapp/auth/bluesky_routes.py",
}


def browser_destination(location: str) -> tuple[str, str]:
    """Return the (scheme, host) a browser would go to for a Location header.

    Browsers drop leading and trailing spaces and control characters, remove tabs and
    newlines anywhere, and read a backslash as a slash in http(s) URLs.
    """
    cleaned = location.strip("".join(chr(n) for n in range(0x21)))
    cleaned = re.sub(r"[\t\n\r]", "", cleaned).replace("\\", "/")
    url = urlsplit(urljoin(f"http://{HOST}/", cleaned))
    return url.scheme, url.hostname or ""


def assert_stays_here(response) -> None:
    """Check the response redirects, and only to a page on this site."""
    assert response.status_code in (302, 303), response.status_code
    scheme, host = browser_destination(response.headers["Location"])
    assert (scheme, host) == ("http", HOST), response.headers["Location"]
    assert "evil" not in urlsplit(response.headers["Location"]).netloc


def test_every_place_that_reads_next_is_covered():
    """A new `next` parameter must be added to this file's cases."""
    root = Path(__file__).resolve().parent.parent
    readers = {
        str(path.relative_to(root))
        for path in (root / "webapp").rglob("*.py")
        if re.search(r"""\.get\(\s*["']next["']""", path.read_text())
    }
    assert readers == READS_NEXT, "add cases to tests/test_open_redirects.py for " + str(
        readers - READS_NEXT
    )


@pytest.mark.parametrize("target", EVIL)
def test_safe_next_never_leaves_the_site(app, target):
    """The one function every redirect goes through refuses all of them."""
    with app.test_request_context():
        scheme, host = browser_destination(safe_next(target))
    assert (scheme, host) == ("http", HOST)


@pytest.mark.parametrize("target", ["/challenge", "/posts/new?kind=praise", "/b/caf%C3%A9"])
def test_local_pages_are_still_allowed(app, target):
    """Ordinary local paths (and their query strings) go through unchanged."""
    with app.test_request_context():
        assert safe_next(target) == target


def test_non_ascii_local_paths_are_sent_encoded(app):
    """A local path in any script is percent-encoded, never a raw byte in a header."""
    with app.test_request_context():
        assert safe_next("/b/café") == "/b/caf%C3%A9"


@pytest.mark.parametrize("target", EVIL)
def test_login_form_next(client, make_user, target):
    """Logging in with ?next= stays here."""
    make_user("alice")
    response = client.post(
        "/login", query_string={"next": target}, data={"username": "alice", "password": PASSWORD}
    )
    assert_stays_here(response)


@pytest.mark.parametrize("target", EVIL)
def test_login_page_next_when_already_logged_in(client, auth, make_user, target):
    """A logged-in visitor sent to /login?next= stays here."""
    make_user("alice")
    auth.login()
    assert_stays_here(client.get("/login", query_string={"next": target}))


@pytest.mark.parametrize("target", EVIL)
def test_register_next(client, target):
    """Signing up with ?next= stays here."""
    data = {"username": "alice", "password": PASSWORD, "confirm": PASSWORD}
    assert_stays_here(client.post("/register", query_string={"next": target}, data=data))


def mastodon_round_trip(client: FlaskClient, fake, target: str):
    """Start a Mastodon sign-in with ?next=, approve it on the fake server, and come back."""
    start = client.post(
        "/login/mastodon",
        query_string={"next": target},
        data={"handle": f"alice@{fake.domain}"},
        # One address per case, so the sign-in form's own rate limit stays out of the way.
        environ_base={"REMOTE_ADDR": f"10.9.{EVIL.index(target)}.1"},
    )
    assert start.status_code == 302, start.text
    back = urlsplit(fake.approve(start.headers["Location"], "alice"))
    return client.get(f"{back.path}?{back.query}")


def test_mastodon_sign_in_next(app, fake_mastodon):
    """Signing in with Mastodon with ?next= comes back here, for every case."""
    for target in EVIL:
        client = app.test_client()
        assert_stays_here(mastodon_round_trip(client, fake_mastodon, target))


def test_mastodon_connect_next(app, client, make_user, fake_mastodon):
    """Connecting Mastodon from a logged-in account with ?next= comes back here too."""
    make_user("alice")
    AuthActions(client).login()
    for target in EVIL:
        assert_stays_here(mastodon_round_trip(client, fake_mastodon, target))


@pytest.mark.parametrize("target", EVIL)
def test_passkey_sign_up_and_sign_in_next(client, target):
    """Where the script is sent after a passkey signs up or in stays here."""
    device = Authenticator()
    options = client.post("/register/passkey/options", json={"username": "alice"}).json
    response = client.post(
        "/register/passkey",
        query_string={"next": target},
        json={"credential": device.create(options)},
    )
    assert browser_destination(response.json["redirect"]) == ("http", HOST)
    AuthActions(client).logout()
    options = client.post("/login/passkey/options", json={}).json
    response = client.post(
        "/login/passkey", query_string={"next": target}, json={"credential": device.get(options)}
    )
    assert browser_destination(response.json["redirect"]) == ("http", HOST)


# Bluesky's consent happens on the PDS's own pages, so its round trips run in Chromium: a few
# cases of each kind (every `next` goes through `safe_next`, which the cases above cover).
BLUESKY_EVIL = ["//evil.example", "https://evil.example", "/\\evil.example", "javascript:alert(1)"]


@pytest.mark.browser
def test_bluesky_sign_in_next(browser, make_app, tmp_path, atproto_network):
    """Signing in with Bluesky with ?next= comes back here, whatever it names."""
    from urllib.parse import quote

    from tests.browser_support import LiveServer
    from tests.fixtures.app import TEST_DATABASE_URL
    from tests.fixtures.bluesky import bluesky_settings

    uri = TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'test.db'}"
    app = make_app(
        SQLALCHEMY_DATABASE_URI=uri, SERVER_NAME=None, **bluesky_settings(atproto_network)
    )
    server = LiveServer(app).start()
    account = atproto_network.create_account("next")
    try:
        for target in BLUESKY_EVIL:
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{server.url}/login/bluesky?next={quote(target)}")
            page.get_by_label("Your Bluesky handle or server").fill(account.handle)
            page.get_by_role("button", name="Continue to my server").click()
            page.get_by_role("textbox", name="Password").fill(account.password)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("button", name="Authorize").click()
            page.get_by_text(f"Signed in as @{account.handle}.").wait_for()
            assert urlsplit(page.url).netloc == urlsplit(server.url).netloc, (target, page.url)
            context.close()
    finally:
        server.stop()
