"""Signing in with Mastodon: naming a server, OAuth with PKCE, connecting, and secrets at rest.

Everything runs against the fake Mastodon server on loopback; nothing of ours is patched. Tests of
the server-name guard turn the development setting off, as in production.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
import re
import socket
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, AuthActions, mastodon_sign_in, run_queued_tasks
from cryptography.fernet import Fernet, InvalidToken
from fake_mastodon import FakeMastodon
from helpers import count, link_named, page_text
from mastodon import Mastodon, MastodonUnauthorizedError

from webapp.extensions import db
from webapp.infra import crypto
from webapp.infra.http import ServerProblem, check_address
from webapp.models import MastodonAccount, MastodonServer, User
from webapp.networks.mastodon.oauth import SCOPES
from webapp.networks.mastodon.servers import parse_server

CALLBACK = "http://praisewall.test/auth/mastodon/callback"
LONG_NAME = ".".join(["a" * 60] * 5) + ".example"  # 313 characters, every label a legal length


# --- helpers ---


def handle_value(response) -> str | None:
    """Return what the handle box on the page holds."""
    field = re.search(r'<input[^>]*name="handle"[^>]*>', response.text)
    assert field, "no handle box on the page"
    value = re.search(r'value="([^"]*)"', field.group(0))
    return html.unescape(value.group(1)) if value else None


def start(client, entry: str):
    """Submit the Mastodon sign-in form."""
    return client.post("/login/mastodon", data={"handle": entry})


def come_back(client, location: str):
    """Follow the server's redirect back to our callback."""
    back = urlsplit(location)
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK, location
    return client.get(f"{back.path}?{back.query}")


def query_of(url: str) -> dict[str, str]:
    """Return a URL's query as single values."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def requests_to(fake: FakeMastodon, method: str, path: str) -> list[dict]:
    """Return what the fake received at method + path."""
    return [r for r in fake.requests if r["method"] == method and r["path"] == path]


def code_exchanges(fake: FakeMastodon) -> list[dict]:
    """Return the token requests that traded an authorization code."""
    return [
        r
        for r in requests_to(fake, "POST", "/oauth/token")
        if r["form"].get("grant_type") == "authorization_code"
    ]


def signed_in_as(client) -> str | None:
    """Return the username the client is logged in as, read from /me, or None."""
    response = client.get("/me")
    if response.status_code != 200:
        return None
    match = re.search(r'href="/u/([^"]+)"', response.text)
    assert match, "no link to my public page on /me"
    return match.group(1)


def our_app(fake: FakeMastodon) -> dict:
    """Return the one app Praisewall registered at the fake."""
    apps = [app for app in fake.apps.values() if app["name"] == "Praisewall"]
    assert len(apps) == 1, apps
    return apps[0]


def live_token(fake: FakeMastodon, username: str = "alice") -> str:
    """Return the token the fake issued our app for this account (it reuses live tokens)."""
    return fake.create_token(username, SCOPES, client_id=our_app(fake)["client_id"])


def stored_secrets() -> list[str]:
    """Return the raw encrypted columns, as they sit in the database."""
    rows = db.session.execute(sa.select(MastodonServer.client_id, MastodonServer.client_secret))
    tokens = db.session.scalars(sa.select(MastodonAccount.access_token))
    return [value for row in rows for value in row] + list(tokens)


def token_works(fake: FakeMastodon, token: str) -> bool:
    """Tell whether the fake still accepts a token, asking through Mastodon.py."""
    client = Mastodon(access_token=token, api_base_url=fake.url, request_timeout=5)
    try:
        client.account_verify_credentials()
    except MastodonUnauthorizedError:
        return False
    return True


@pytest.fixture
def resolve_to(monkeypatch: pytest.MonkeyPatch):
    """Return a way to make made-up names resolve to chosen addresses, without real DNS."""
    real_getaddrinfo = socket.getaddrinfo
    table: dict[str, list[str]] = {}

    def fake_getaddrinfo(host, *args, **kwargs):
        """Answer from the table, else as the system would."""
        if host in table:
            return [
                (
                    socket.AF_INET6 if ":" in ip else socket.AF_INET,
                    socket.SOCK_STREAM,
                    socket.IPPROTO_TCP,
                    "",
                    (ip, 0),
                )
                for ip in table[host]
            ]
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)

    def add(name: str, *addresses: str) -> None:
        table[name] = list(addresses)

    return add


# --- naming the server ---


@pytest.mark.parametrize(
    "entry",
    [
        "@alice@{domain}",
        "alice@{domain}",
        "{domain}",
        "http://{domain}",
        "http://{domain}/",
        "http://{domain}/@alice",
        "  @Alice@{domain}  ",
    ],
)
def test_every_way_of_naming_the_server_signs_in(client, app, fake_mastodon, entry):
    """A handle, a bare server or a server URL all reach the same server and sign in."""
    response = mastodon_sign_in(
        client, fake_mastodon, entry=entry.format(domain=fake_mastodon.domain)
    )
    assert response.status_code == 302, response.text
    assert signed_in_as(client) == "alice"
    assert db.session.scalars(sa.select(MastodonServer.base_url)).all() == [fake_mastodon.url]


@pytest.mark.parametrize(
    ("entry", "allow_insecure", "base_url"),
    [
        ("@alice@mastodon.social", False, "https://mastodon.social"),
        ("alice@mastodon.social", False, "https://mastodon.social"),
        ("mastodon.social", False, "https://mastodon.social"),
        ("https://mastodon.social", False, "https://mastodon.social"),
        ("HTTPS://Mastodon.Social/@alice", False, "https://mastodon.social"),
        ("  @Alice@Mastodon.Social  ", False, "https://mastodon.social"),
        ("https://127.0.0.1:3000", False, "https://127.0.0.1:3000"),
        ("https://127.0.0.1:3000", True, "https://127.0.0.1:3000"),
        ("127.0.0.1:3000", False, "https://127.0.0.1:3000"),
        ("127.0.0.1:3000", True, "http://127.0.0.1:3000"),
        ("@admin@localhost:3000", True, "http://localhost:3000"),
        ("http://localhost:3000", True, "http://localhost:3000"),
        ("mastodon.example:8443", True, "https://mastodon.example:8443"),
        ("[::1]:3000", True, "http://[::1]:3000"),
        ("[::1]", False, "https://[::1]"),
        ("::1", False, "https://[::1]"),
        ("https://[::1]:3000", True, "https://[::1]:3000"),
    ],
)
def test_entry_is_read_as_a_server_address(entry, allow_insecure, base_url):
    """Each accepted form becomes one normalised base URL; https stays https."""
    assert parse_server(entry, allow_insecure=allow_insecure) == base_url


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("", "Enter your handle"),
        ("   ", "Enter your handle"),
        ("@", "doesn't look like a server name"),
        ("@@", "doesn't look like a server name"),
        ("user@", "doesn't look like a server name"),
        ("not a server", "doesn't look like a server name"),
        ("ftp://x.example", "Enter your server like mastodon.social"),
        ("javascript://x.example", "Enter your server like mastodon.social"),
        ("https://", "Enter your server like mastodon.social"),
        ("mastodon", "has a dot in it"),
        ("x.example:abc", "broken port number"),
        ("x.example:99999", "broken port number"),
        ("a" * 300, "too long"),
        ("a" * 64 + ".example", "doesn't look like a server name"),
        (LONG_NAME, "too long"),
        ("<script>alert(1)</script>.example", "doesn't look like a server name"),
        ("nowhere.invalid", "couldn't find a server called nowhere.invalid"),
    ],
)
def test_bad_entry_is_explained_and_kept(client, app, entry, message):
    """A bad entry gets 422, a plain message by the box, and the text left in it."""
    response = start(client, entry)
    assert response.status_code == 422
    assert message in page_text(response)
    assert (handle_value(response) or "") == entry
    assert count(MastodonServer) == 0


# --- the server-name guard, before any request ---


@pytest.mark.parametrize("entry", ["http://x.example", "http://{domain}", "HTTP://{domain}/@alice"])
def test_plain_http_is_refused_in_production(client, strict, fake_mastodon, entry):
    """Without the development setting, http:// servers are refused before any request."""
    response = start(client, entry.format(domain=fake_mastodon.domain))
    assert response.status_code == 422
    assert "Mastodon servers are reached over https only." in page_text(response)
    assert fake_mastodon.requests == []
    assert count(MastodonServer) == 0


@pytest.mark.parametrize(
    "entry",
    [
        "{domain}",
        "@alice@{domain}",
        "https://{domain}",
        "127.0.0.1",
        "127.1",
        "0.0.0.0",
        "10.1.2.3",
        "172.16.5.4",
        "192.168.0.1",
        "169.254.1.1",
        "169.254.169.254",
        "100.100.100.200",
        "[::1]",
        "::1",
        "[::1]:3000",
        "https://[::1]",
        "@alice@[::1]",
        "[fe80::1]",
        "[fd00::1]",
        "[::ffff:127.0.0.1]",
        "localhost",
        "localhost:3000",
        "@alice@localhost",
    ],
)
def test_private_and_loopback_servers_are_refused(client, strict, fake_mastodon, entry):
    """Servers at private, loopback or link-local addresses are refused before any request."""
    response = start(client, entry.format(domain=fake_mastodon.domain))
    assert response.status_code == 422
    assert "isn't a public server" in page_text(response)
    assert fake_mastodon.requests == []
    assert count(MastodonServer) == 0


@pytest.mark.parametrize(
    "addresses",
    [("10.0.0.7",), ("192.168.1.20",), ("fd12:3456::1",), ("93.184.215.14", "127.0.0.1")],
)
def test_name_resolving_inside_the_network_is_refused(
    client, strict, fake_mastodon, resolve_to, addresses
):
    """A public-looking name that leads to an inside address (even one of several) is refused."""
    resolve_to("intranet.example", *addresses)
    response = start(client, "@alice@intranet.example")
    assert response.status_code == 422
    assert "intranet.example isn't a public server" in page_text(response)
    assert fake_mastodon.requests == []
    assert count(MastodonServer) == 0


def test_name_resolving_to_public_addresses_passes_the_guard(resolve_to):
    """The guard lets a server whose every address is public through."""
    resolve_to("mastodon.example", "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    check_address("https://mastodon.example", allow_insecure=False)


@pytest.mark.parametrize("entry", ["nowhere.invalid", "@alice@nowhere.invalid"])
def test_unknown_name_is_refused_plainly(client, strict, entry):
    """A name that resolves nowhere gets a plain "couldn't find" and no server row."""
    response = start(client, entry)
    assert response.status_code == 422
    assert "We couldn't find a server called nowhere.invalid" in page_text(response)
    assert count(MastodonServer) == 0


def test_guard_refuses_loopback_without_the_development_setting():
    """check_address refuses loopback unless the development setting allows it."""
    with pytest.raises(ServerProblem, match="isn't a public server"):
        check_address("https://127.0.0.1:3000", allow_insecure=False)
    check_address("http://127.0.0.1:3000", allow_insecure=True)


# --- registering our app at each server ---


def test_app_registers_once_per_server(client, app, fake_mastodon):
    """A second sign-in reuses the registration: one POST /api/v1/apps, one server row."""
    assert mastodon_sign_in(client, fake_mastodon).status_code == 302
    AuthActions(client).logout()
    assert mastodon_sign_in(client, fake_mastodon).status_code == 302
    assert signed_in_as(client) == "alice"
    assert len(requests_to(fake_mastodon, "POST", "/api/v1/apps")) == 1
    assert count(MastodonServer) == 1


def test_app_asks_only_for_the_scopes_it_uses(client, app, fake_mastodon):
    """Registration, the authorize URL and the granted token carry exactly our three scopes."""
    response = start(client, f"alice@{fake_mastodon.domain}")
    (registration,) = requests_to(fake_mastodon, "POST", "/api/v1/apps")
    assert registration["form"]["scopes"] == "read:accounts read:statuses write:statuses"
    assert registration["form"]["redirect_uris"] == CALLBACK
    assert registration["form"]["client_name"] == "Praisewall"
    assert our_app(fake_mastodon)["scopes"] == ["read:accounts", "read:statuses", "write:statuses"]
    query = query_of(response.headers["Location"])
    assert query["scope"] == "read:accounts read:statuses write:statuses"
    assert query["redirect_uri"] == CALLBACK
    assert query["response_type"] == "code"
    come_back(client, fake_mastodon.approve(response.headers["Location"], "alice"))
    account = db.session.scalars(sa.select(MastodonAccount)).one()
    assert set(account.scopes.split()) == {"read:accounts", "read:statuses", "write:statuses"}


def test_forgotten_app_is_registered_again_without_bothering_anyone(client, app, fake_mastodon):
    """If the server forgot our app, the next sign-in registers anew and just works."""
    assert mastodon_sign_in(client, fake_mastodon).status_code == 302
    AuthActions(client).logout()
    fake_mastodon.forget_apps()
    response = mastodon_sign_in(client, fake_mastodon)
    assert response.status_code == 302
    landing = client.get(response.headers["Location"])
    assert "flash-error" not in landing.text
    assert signed_in_as(client) == "alice"
    assert len(requests_to(fake_mastodon, "POST", "/api/v1/apps")) == 2
    assert count(User) == 1
    assert count(MastodonServer) == 1


def test_app_forgotten_mid_sign_in_sends_the_person_round_again(client, app, fake_mastodon):
    """Forgotten between authorize and callback: register again and re-authorize."""
    first = start(client, f"alice@{fake_mastodon.domain}")
    old_client_id = query_of(first.headers["Location"])["client_id"]
    back = fake_mastodon.approve(first.headers["Location"], "alice")
    fake_mastodon.forget_apps()
    again = come_back(client, back)
    assert again.status_code == 302
    assert again.headers["Location"].startswith(f"{fake_mastodon.url}/oauth/authorize?")
    new_client_id = query_of(again.headers["Location"])["client_id"]
    assert new_client_id != old_client_id
    assert new_client_id == our_app(fake_mastodon)["client_id"]
    assert signed_in_as(client) is None
    finish = come_back(client, fake_mastodon.approve(again.headers["Location"], "alice"))
    assert finish.status_code == 302
    assert signed_in_as(client) == "alice"


# --- what the server answers ---


def test_metadata_pointing_at_another_host_is_ignored(client, app, fake_mastodon, elsewhere):
    """OAuth endpoints the server advertises on another host are not used; the usual paths are."""
    fake_mastodon.fail_next(
        "GET",
        "/.well-known/oauth-authorization-server",
        200,
        body={
            "authorization_endpoint": f"{elsewhere.url}/oauth/authorize",
            "token_endpoint": f"{elsewhere.url}/oauth/token",
            "revocation_endpoint": f"{elsewhere.url}/oauth/revoke",
            "code_challenge_methods_supported": ["S256"],
        },
    )
    response = mastodon_sign_in(client, fake_mastodon)
    assert response.status_code == 302
    assert signed_in_as(client) == "alice"
    server = db.session.scalars(sa.select(MastodonServer)).one()
    assert server.token_url == f"{fake_mastodon.url}/oauth/token"
    assert server.supports_pkce is True
    assert elsewhere.requests == []


@pytest.mark.parametrize(
    ("method", "path", "signs_in"),
    [
        ("GET", "/.well-known/oauth-authorization-server", True),
        ("POST", "/api/v1/apps", False),
        ("POST", "/oauth/token", False),
    ],
)
def test_redirects_from_the_server_are_not_followed(
    client, app, fake_mastodon, elsewhere, method, path, signs_in
):
    """A redirect to another address is never followed, so it can't dodge the guard."""
    fake_mastodon.fail_next(method, path, 302, headers={"Location": f"{elsewhere.url}{path}"})
    response = start(client, f"alice@{fake_mastodon.domain}")
    if response.status_code == 302:
        response = come_back(client, fake_mastodon.approve(response.headers["Location"], "alice"))
    assert (signed_in_as(client) == "alice") is signs_in
    assert elsewhere.requests == []


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "message"),
    [
        ("POST", "/oauth/token", 500, None, "Your server didn't answer. Please try again."),
        ("POST", "/oauth/token", 503, None, "Your server didn't answer. Please try again."),
        ("POST", "/oauth/token", 400, None, "Your server didn't accept the sign-in."),
        (
            "POST",
            "/oauth/token",
            200,
            {"access_token": "trimmed", "token_type": "Bearer", "scope": "read:accounts"},
            "Praisewall needs permission to read your account and post for you.",
        ),
        (
            "GET",
            "/api/v1/accounts/verify_credentials",
            500,
            None,
            "Your server didn't tell us who you are.",
        ),
    ],
)
def test_server_trouble_at_the_callback_is_explained(
    client, app, fake_mastodon, method, path, status, body, message
):
    """A failing or stingy server brings the person back with a plain message, signed out."""
    response = start(client, f"alice@{fake_mastodon.domain}")
    back = fake_mastodon.approve(response.headers["Location"], "alice")
    fake_mastodon.fail_next(method, path, status, body=body)
    refused = come_back(client, back)
    assert urlsplit(refused.headers["Location"]).path == "/login/mastodon"
    assert message in page_text(client.get("/login/mastodon"))
    assert signed_in_as(client) is None
    assert count(User) == 0


DEEP = "[" * 60_000  # under the body limits, far over Python's recursion limit


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/oauth/token"),
        ("GET", "/api/v1/accounts/verify_credentials"),
    ],
)
def test_deeply_nested_json_at_the_callback_is_no_error(client, app, fake_mastodon, method, path):
    """JSON nested past any depth we can read is a bad answer: back to sign-in or signed in."""
    response = start(client, f"alice@{fake_mastodon.domain}")
    back = fake_mastodon.approve(response.headers["Location"], "alice")
    fake_mastodon.fail_next(method, path, 200, body=DEEP, content_type="application/json")
    answer = come_back(client, back)
    assert answer.status_code == 302
    if signed_in_as(client) is None:
        assert urlsplit(answer.headers["Location"]).path == "/login/mastodon"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/.well-known/oauth-authorization-server", 302),
        ("GET", "/api/v2/instance", 302),
        ("GET", "/api/v1/instance", 302),
        ("POST", "/api/v1/apps", 422),
    ],
)
def test_deeply_nested_json_at_the_start_is_no_error(
    client, app, fake_mastodon, method, path, status
):
    """Server documents nested past any depth we can read: ignored, or not a Mastodon server."""
    fake_mastodon.fail_next(method, path, 200, body=DEEP, content_type="application/json")
    response = start(client, f"alice@{fake_mastodon.domain}")
    assert response.status_code == status
    if status == 422:
        assert "doesn't look like a Mastodon server" in page_text(response)


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, None), (422, {"error": "Validation failed: Redirect URI must be an absolute URI."})],
)
def test_server_refusing_registration_is_explained(client, app, fake_mastodon, status, body):
    """If registering fails, the form says so plainly and nothing is half-saved."""
    fake_mastodon.fail_next("POST", "/api/v1/apps", status, body=body)
    response = start(client, f"alice@{fake_mastodon.domain}")
    assert response.status_code == 422
    assert "doesn't look like a Mastodon server" in page_text(response)
    assert handle_value(response) == f"alice@{fake_mastodon.domain}"


# --- PKCE and state ---


def test_authorize_url_carries_a_pkce_challenge_and_state(client, app, fake_mastodon):
    """The authorize URL has an S256 challenge and a state; the exchange sends the verifier."""
    response = start(client, f"alice@{fake_mastodon.domain}")
    query = query_of(response.headers["Location"])
    assert query["code_challenge_method"] == "S256"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", query["code_challenge"])
    assert len(query["state"]) >= 20
    come_back(client, fake_mastodon.approve(response.headers["Location"], "alice"))
    (exchange,) = code_exchanges(fake_mastodon)
    digest = hashlib.sha256(exchange["form"]["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"]


def test_each_sign_in_gets_its_own_state_and_challenge(client, app, fake_mastodon):
    """Two sign-ins never share a state or a PKCE challenge."""
    first = query_of(start(client, fake_mastodon.domain).headers["Location"])
    second = query_of(start(client, fake_mastodon.domain).headers["Location"])
    assert first["state"] != second["state"]
    assert first["code_challenge"] != second["code_challenge"]


@pytest.mark.parametrize("state", [None, "", "not-the-state-we-sent"])
def test_callback_with_the_wrong_state_is_refused(client, app, fake_mastodon, state):
    """A callback whose state doesn't match gets no token exchange and no sign-in."""
    response = start(client, f"alice@{fake_mastodon.domain}")
    back = urlsplit(fake_mastodon.approve(response.headers["Location"], "alice"))
    query = {k: v for k, v in parse_qs(back.query).items() if k != "state"}
    if state is not None:
        query["state"] = [state]
    refused = client.get(back.path, query_string=query)
    assert refused.status_code in (302, 303)
    assert urlsplit(refused.headers["Location"]).path == "/login/mastodon"
    assert "didn't match" in page_text(client.get("/login/mastodon"))
    assert code_exchanges(fake_mastodon) == []
    assert signed_in_as(client) is None
    assert count(MastodonAccount) == 0


def test_callback_used_twice_is_refused_the_second_time(client, app, fake_mastodon):
    """A replayed callback has no pending sign-in, so the code is not traded again."""
    response = start(client, f"alice@{fake_mastodon.domain}")
    back = fake_mastodon.approve(response.headers["Location"], "alice")
    assert come_back(client, back).status_code == 302
    AuthActions(client).logout()
    replay = come_back(client, back)
    assert urlsplit(replay.headers["Location"]).path == "/login/mastodon"
    assert len(code_exchanges(fake_mastodon)) == 1
    assert signed_in_as(client) is None


def test_callback_without_starting_is_refused(client, app, fake_mastodon):
    """A callback nobody started here is turned away before any request to a server."""
    refused = client.get("/auth/mastodon/callback?code=abc&state=xyz")
    assert urlsplit(refused.headers["Location"]).path == "/login/mastodon"
    assert fake_mastodon.requests == []
    assert signed_in_as(client) is None


def test_tampered_code_verifier_is_refused(client, app, fake_mastodon):
    """A code traded with a verifier that doesn't match the challenge signs nobody in."""
    response = start(client, f"alice@{fake_mastodon.domain}")
    with client.session_transaction() as session:
        pending = dict(session["mastodon_sign_in"])
        pending["verifier"] = "x" * 64
        session["mastodon_sign_in"] = pending
    back = fake_mastodon.approve(response.headers["Location"], "alice")
    refused = come_back(client, back)
    assert urlsplit(refused.headers["Location"]).path == "/login/mastodon"
    assert "didn't accept the sign-in" in page_text(client.get("/login/mastodon"))
    (exchange,) = code_exchanges(fake_mastodon)
    assert exchange["status"] == 400
    assert signed_in_as(client) is None
    assert count(User) == 0


def test_server_without_pkce_is_signed_in_without_it(client, app):
    """A pre-4.3 server gets no PKCE parameters, and signing in still works."""
    with FakeMastodon(pkce=False) as old_server:
        old_server.add_account("alice", display_name="Alice")
        response = start(client, f"@alice@{old_server.domain}")
        query = query_of(response.headers["Location"])
        assert "code_challenge" not in query
        assert "code_challenge_method" not in query
        assert query["state"]
        done = come_back(client, old_server.approve(response.headers["Location"], "alice"))
        assert done.status_code == 302
        (exchange,) = code_exchanges(old_server)
        assert "code_verifier" not in exchange["form"]
    assert signed_in_as(client) == "alice"
    assert db.session.scalars(sa.select(MastodonServer.supports_pkce)).one() is False


def test_denying_on_the_server_returns_to_sign_in_with_a_message(client, app, fake_mastodon):
    """Clicking "Deny" on the server brings the person back with a plain message."""
    response = start(client, f"alice@{fake_mastodon.domain}")
    back = come_back(client, fake_mastodon.deny(response.headers["Location"]))
    assert urlsplit(back.headers["Location"]).path == "/login/mastodon"
    page = client.get(back.headers["Location"])
    assert "Sign-in was cancelled on your server." in page_text(page)
    assert code_exchanges(fake_mastodon) == []
    assert signed_in_as(client) is None
    assert count(User) == 0


# --- finding it ---


@pytest.mark.parametrize(
    ("page", "lands_on"),
    [("/", "/"), ("/login", "/"), ("/register", "/"), ("/login?next=/me", "/me")],
)
def test_signed_out_pages_lead_to_sign_in_with_mastodon(client, app, fake_mastodon, page, lands_on):
    """The front page, log-in and sign-up show "Sign in with Mastodon", and it signs people in."""
    address = link_named(client.get(page), "Sign in with Mastodon")
    form = client.get(address)
    assert form.status_code == 200
    assert "<h1>Sign in with Mastodon</h1>" in form.text
    response = client.post(address, data={"handle": f"alice@{fake_mastodon.domain}"})
    back = come_back(client, fake_mastodon.approve(response.headers["Location"], "alice"))
    assert urlsplit(back.headers["Location"]).path == lands_on
    assert signed_in_as(client) == "alice"


def test_signed_in_pages_do_not_offer_to_sign_in(client, make_user):
    """Once signed in, the front page no longer offers "Sign in with Mastodon"."""
    make_user("alice")
    AuthActions(client).login()
    assert "Sign in with Mastodon" not in page_text(client.get("/"))


# --- who gets signed in ---


def test_first_visit_creates_a_user_named_after_the_handle(client, app, fake_mastodon):
    """Signing in with Mastodon the first time makes a password-less user named alice."""
    response = mastodon_sign_in(client, fake_mastodon)
    assert response.status_code == 302
    assert "Signed in as @alice@" in page_text(client.get(response.headers["Location"]))
    user = db.session.scalars(sa.select(User)).one()
    assert user.username == "alice"
    assert user.password_hash is None
    assert user.mastodon_account.acct == f"alice@{fake_mastodon.domain}"
    assert signed_in_as(client) == "alice"


def test_second_visit_signs_into_the_same_user(client, app, fake_mastodon):
    """Coming back with the same Mastodon account signs into the same user."""
    mastodon_sign_in(client, fake_mastodon)
    first_id = db.session.scalars(sa.select(User.id)).one()
    AuthActions(client).logout()
    mastodon_sign_in(client, fake_mastodon)
    assert db.session.scalars(sa.select(User.id)).all() == [first_id]
    assert count(MastodonAccount) == 1
    assert signed_in_as(client) == "alice"


def test_taken_username_gets_a_suffix(client, make_user, fake_mastodon):
    """When the handle's name is taken locally, the new user gets a numbered name."""
    local = make_user("alice")
    mastodon_sign_in(client, fake_mastodon)
    assert signed_in_as(client) == "alice_2"
    db.session.refresh(local)
    assert local.mastodon_account is None


def test_signing_in_with_a_connected_account_reaches_its_local_user(
    client, connected, fake_mastodon
):
    """After connecting, "Sign in with Mastodon" logs into the same password account."""
    AuthActions(client).logout()
    mastodon_sign_in(client, fake_mastodon)
    assert signed_in_as(client) == "alice"
    assert count(User) == 1


def test_local_user_can_connect_and_sees_it_in_settings(client, connected, fake_mastodon):
    """A password user who connects sees the connection and a disconnect button."""
    settings = client.get("/settings")
    assert f"Connected as @alice@{fake_mastodon.domain}" in page_text(settings)
    assert "Disconnect and revoke access" in page_text(settings)
    assert connected.mastodon_account.acct == f"alice@{fake_mastodon.domain}"


def test_disconnecting_revokes_the_token_and_removes_the_connection(
    client, connected, fake_mastodon
):
    """Disconnecting revokes our token at the server and forgets the account here."""
    token = live_token(fake_mastodon)
    assert token_works(fake_mastodon, token)
    response = client.post("/settings/mastodon/disconnect")
    assert urlsplit(response.headers["Location"]).path == "/settings"
    settings = client.get("/settings")
    assert "Praisewall can no longer post for you" in page_text(settings)
    assert "Connect Mastodon" in page_text(settings)
    (revoke,) = requests_to(fake_mastodon, "POST", "/oauth/revoke")
    assert revoke["status"] == 200
    assert not token_works(fake_mastodon, token)
    assert count(MastodonAccount) == 0
    assert signed_in_as(client) == "alice"


def test_mastodon_only_user_must_set_a_password_before_disconnecting(client, app, fake_mastodon):
    """Someone who only signs in with Mastodon is told to set a password first."""
    mastodon_sign_in(client, fake_mastodon)
    token = live_token(fake_mastodon)
    assert "Set a password below before disconnecting" in page_text(client.get("/settings"))
    response = client.post("/settings/mastodon/disconnect")
    assert urlsplit(response.headers["Location"]).path == "/settings"
    assert "Set a password first" in page_text(client.get("/settings"))
    assert requests_to(fake_mastodon, "POST", "/oauth/revoke") == []
    assert token_works(fake_mastodon, token)
    assert count(MastodonAccount) == 1


def test_mastodon_account_connects_to_only_one_user(client, connected, make_user, fake_mastodon):
    """A Mastodon account already connected to alice can't also be connected to bob."""
    AuthActions(client).logout()
    bob = make_user("bob")
    AuthActions(client).login("bob", PASSWORD)
    response = mastodon_sign_in(client, fake_mastodon)
    assert urlsplit(response.headers["Location"]).path == "/settings"
    assert "connected to another Praisewall account" in page_text(client.get("/settings"))
    db.session.refresh(bob)
    db.session.refresh(connected)
    assert bob.mastodon_account is None
    assert connected.mastodon_account.acct == f"alice@{fake_mastodon.domain}"
    assert count(MastodonAccount) == 1


# --- secrets at rest, in pages and in logs ---


def test_tokens_and_client_secrets_are_encrypted_at_rest(client, connected, fake_mastodon):
    """The database holds ciphertexts that decrypt back to the working id, secret and token."""
    registered = our_app(fake_mastodon)
    token = live_token(fake_mastodon)
    stored = stored_secrets()
    assert len(stored) == 3
    for plaintext in (registered["client_id"], registered["client_secret"], token):
        assert all(plaintext not in value for value in stored)
    server = db.session.scalars(sa.select(MastodonServer)).one()
    account = db.session.scalars(sa.select(MastodonAccount)).one()
    assert crypto.decrypt(server.client_id) == registered["client_id"]
    assert crypto.decrypt(server.client_secret) == registered["client_secret"]
    assert crypto.decrypt(account.access_token) == token
    assert token_works(fake_mastodon, crypto.decrypt(account.access_token))


def test_old_ciphertexts_still_decrypt_after_a_new_key_is_added(app):
    """With "new,old" keys, secrets written under the old key still read back."""
    old_ciphertext = crypto.encrypt("s3cret-token")
    new_key = Fernet.generate_key().decode()
    app.config["FERNET_KEYS"] = f"{new_key},{app.config['FERNET_KEYS']}"
    crypto.init_app(app)
    assert crypto.decrypt(old_ciphertext) == "s3cret-token"
    fresh = crypto.encrypt("another")
    assert Fernet(new_key).decrypt(fresh.encode()) == b"another"


def test_rotate_re_encrypts_under_the_newest_key(app):
    """rotate() turns an old-key ciphertext into one only the new key needs."""
    old_key = app.config["FERNET_KEYS"]
    old_ciphertext = crypto.encrypt("s3cret-token")
    new_key = Fernet.generate_key().decode()
    app.config["FERNET_KEYS"] = f"{new_key},{old_key}"
    crypto.init_app(app)
    rotated = crypto.rotate(old_ciphertext)
    assert rotated != old_ciphertext
    assert Fernet(new_key).decrypt(rotated.encode()) == b"s3cret-token"
    with pytest.raises(InvalidToken):
        Fernet(old_key).decrypt(rotated.encode())


def test_connection_survives_a_key_rotation(client, connected, fake_mastodon, tmp_path):
    """Add a key, rotate, drop the old key: the stored secrets still revoke the token."""
    token = live_token(fake_mastodon)
    new_key = Fernet.generate_key().decode()
    app = client.application
    app.instance_path = str(tmp_path)  # no key file there for a site to read instead
    app.config["FERNET_KEYS"] = f"{new_key},{app.config['FERNET_KEYS']}"
    crypto.init_app(app)
    result = app.test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    app.config["FERNET_KEYS"] = new_key
    crypto.init_app(app)
    for value in stored_secrets():
        Fernet(new_key).decrypt(value.encode())
    client.post("/settings/mastodon/disconnect")
    assert "Praisewall can no longer post for you" in page_text(client.get("/settings"))
    assert not token_works(fake_mastodon, token)


def compose_crossposted(client, business) -> int:
    """Post a praise through the compose form with "also post to Mastodon" on; return its id."""
    response = client.post(
        "/posts/new",
        data={
            "kind": "praise",
            "business_id": str(business.id),
            "body": "They found my lost order in minutes.",
            "happened_on": date.today().isoformat(),
            "channel": "in_person",
            "is_on_wall": "y",
            "shows_name": "y",
            "to_mastodon": "y",
            "visibility": "public",
        },
    )
    assert response.status_code == 302, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_no_token_or_secret_appears_in_any_page(client, connected, fake_mastodon, make_business):
    """Settings, /me, the permalink, compose and profile pages never show a secret."""
    shop = make_business("Corner Bakery", handle="@support@cornerbakery.example")
    post_id = compose_crossposted(client, shop)
    run_queued_tasks()
    assert len(fake_mastodon.statuses) == 1
    secrets = [our_app(fake_mastodon)["client_secret"], live_token(fake_mastodon)]
    secrets += stored_secrets()
    for path in (
        "/settings",
        "/me",
        f"/posts/{post_id}",
        "/posts/new",
        f"/posts/new?business={shop.slug}",
        "/u/alice",
        f"/b/{shop.slug}",
        "/",
        "/login/mastodon",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        for secret in secrets:
            assert secret not in response.text, path


def test_no_token_or_secret_appears_in_the_logs(
    client, make_user, fake_mastodon, make_business, caplog
):
    """Sign-in, posting, delivery and disconnecting log nothing secret, even at DEBUG."""
    caplog.set_level(logging.DEBUG)
    make_user("alice")
    AuthActions(client).login()
    assert mastodon_sign_in(client, fake_mastodon).status_code == 302
    shop = make_business("Corner Bakery", handle="@support@cornerbakery.example")
    secrets = [our_app(fake_mastodon)["client_secret"], live_token(fake_mastodon)]
    compose_crossposted(client, shop)
    run_queued_tasks()
    assert len(fake_mastodon.statuses) == 1
    client.post("/settings/mastodon/disconnect")
    assert requests_to(fake_mastodon, "POST", "/oauth/revoke")
    assert caplog.records, "expected some logging at DEBUG"
    for record in caplog.records:
        logged = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for secret in secrets:
            assert secret not in logged, record.name
