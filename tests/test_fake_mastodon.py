"""Prove the fake Mastodon server behaves like Mastodon, using the real Mastodon.py and Authlib.

Nothing is patched: both libraries talk HTTP to the fake on loopback. AUTHLIB_INSECURE_TRANSPORT
is removed from the environment in the OAuth tests to show it isn't needed against loopback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonServiceUnavailableError,
    MastodonUnauthorizedError,
)

from tests.fake_mastodon import AuthorizationError, FakeMastodon, fake_mastodon_server

SCOPES = "read:accounts read:statuses write:statuses"
REDIRECT_URI = "http://localhost:5000/auth/mastodon/callback"
LONG_URL = "https://example.com/a/very/long/path/that/is/longer/than/twentythree?x=1"


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    """Return a running fake server with a local user and a known remote business."""
    for server in fake_mastodon_server():
        server.add_account("alice", display_name="Alice")
        server.add_account("support", domain="brand.example", display_name="Brand Support")
        yield server


@pytest.fixture
def oauth(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., OAuth2Session]]:
    """Return a factory for Authlib sessions, closed after the test."""
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    sessions: list[OAuth2Session] = []

    def factory(
        client_id: str, client_secret: str, *, pkce: bool = True, **kwargs
    ) -> OAuth2Session:
        options = {
            "scope": SCOPES,
            "redirect_uri": REDIRECT_URI,
            "token_endpoint_auth_method": "client_secret_post",
            "default_timeout": 5,
            "code_challenge_method": "S256" if pkce else None,
        }
        options.update(kwargs)
        session = OAuth2Session(client_id, client_secret, **options)
        sessions.append(session)
        return session

    yield factory
    for session in sessions:
        session.close()


@pytest.fixture
def make_api(fake: FakeMastodon) -> Iterator[Callable[..., Mastodon]]:
    """Return a factory for Mastodon.py clients on the fake, closing their sessions afterwards."""
    clients: list[Mastodon] = []

    def factory(access_token: str | None = None, **kwargs) -> Mastodon:
        options = {"api_base_url": fake.url, "ratelimit_method": "throw", "request_timeout": 5}
        options.update(kwargs)
        client = Mastodon(access_token=access_token, **options)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.session.close()


@pytest.fixture
def api(fake: FakeMastodon, make_api: Callable[..., Mastodon]) -> Mastodon:
    """Return a Mastodon.py client signed in as alice with the app's scopes."""
    return make_api(fake.create_token("alice", SCOPES))


def register(fake: FakeMastodon, scopes: str = SCOPES) -> tuple[str, str]:
    """Register our app with Mastodon.py, as the app does once per instance."""
    return Mastodon.create_app(
        "Praise Wall",
        scopes=scopes.split(),
        redirect_uris=[REDIRECT_URI],
        website="https://praisewall.test",
        api_base_url=fake.url,
        request_timeout=5,
    )


def metadata(fake: FakeMastodon) -> dict:
    """Fetch the OAuth metadata, falling back to the fixed paths as MASTODON.md §2.2 does."""
    response = requests.get(f"{fake.url}/.well-known/oauth-authorization-server", timeout=5)
    if response.ok and "json" in response.headers.get("content-type", ""):
        return response.json()
    return {
        "authorization_endpoint": f"{fake.url}/oauth/authorize",
        "token_endpoint": f"{fake.url}/oauth/token",
        "revocation_endpoint": f"{fake.url}/oauth/revoke",
    }


def authorize(
    fake: FakeMastodon, client: OAuth2Session, username: str = "alice", *, pkce: bool = True
) -> tuple[str, str | None]:
    """Run the browser part of the flow; return the code and the PKCE verifier."""
    verifier = generate_token(48) if pkce else None
    url, state = client.create_authorization_url(
        metadata(fake)["authorization_endpoint"], code_verifier=verifier
    )
    query = parse_qs(urlsplit(fake.approve(url, username)).query)
    assert query["state"] == [state]
    return query["code"][0], verifier


def query_of(url: str) -> dict[str, str]:
    """Return a URL's query parameters as a flat dict."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


# -- app registration -------------------------------------------------------------------------


def test_create_app_registers_client_with_scopes_and_redirect_uri(fake: FakeMastodon) -> None:
    """Mastodon.create_app() gets credentials; the fake stores what was registered."""
    client_id, client_secret = register(fake)

    app = fake.apps[client_id]
    assert app["client_secret"] == client_secret
    assert app["redirect_uris"] == [REDIRECT_URI]
    assert app["scopes"] == SCOPES.split()
    assert (app["name"], app["website"]) == ("Praise Wall", "https://praisewall.test")


def test_app_registration_answers_like_mastodon_4_3(fake: FakeMastodon) -> None:
    """A JSON registration with a URI list gets a CredentialApplication; scopes default to read."""
    response = requests.post(
        f"{fake.url}/api/v1/apps",
        json={"client_name": "x", "redirect_uris": [REDIRECT_URI, "urn:ietf:wg:oauth:2.0:oob"]},
        timeout=5,
    )

    body = response.json()
    assert body["scopes"] == ["read"]
    assert body["redirect_uris"] == [REDIRECT_URI, "urn:ietf:wg:oauth:2.0:oob"]
    assert body["redirect_uri"] == f"{REDIRECT_URI}\nurn:ietf:wg:oauth:2.0:oob"
    assert body["client_secret_expires_at"] == 0
    assert {"id", "name", "website", "client_id", "client_secret", "vapid_key"} <= body.keys()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"redirect_uris": REDIRECT_URI}, "Validation failed: Application name can't be blank"),
        ({"client_name": "x"}, "Validation failed: Redirect URI can't be blank"),
        (
            {"client_name": "x", "redirect_uris": "not a uri"},
            "Validation failed: Redirect URI must be an absolute URI.",
        ),
        (
            {"client_name": "x", "redirect_uris": REDIRECT_URI, "scopes": "read bogus"},
            "Validation failed: Scopes doesn't match configured on the server.",
        ),
    ],
)
def test_app_registration_rejects_invalid_input(fake: FakeMastodon, data: dict, error: str) -> None:
    """Invalid registrations get 422 with Mastodon's message."""
    response = requests.post(f"{fake.url}/api/v1/apps", data=data, timeout=5)

    assert (response.status_code, response.json()) == (422, {"error": error})


def test_create_app_turns_a_validation_error_into_key_error(fake: FakeMastodon) -> None:
    """Mastodon.py has no error handling here: a 422 surfaces as KeyError('client_id')."""
    with pytest.raises(KeyError, match="client_id"):
        Mastodon.create_app("", scopes=["read"], api_base_url=fake.url, request_timeout=5)


# -- OAuth --------------------------------------------------------------------------------------


def test_metadata_advertises_s256_pkce(fake: FakeMastodon) -> None:
    """Mastodon 4.3+ publishes RFC 8414 metadata with S256 and both client auth methods."""
    meta = metadata(fake)

    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint"] == f"{fake.url}/oauth/token"
    assert meta["revocation_endpoint"] == f"{fake.url}/oauth/revoke"
    assert set(SCOPES.split()) <= set(meta["scopes_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= set(
        meta["token_endpoint_auth_methods_supported"]
    )


def test_pkce_sign_in_with_authlib(
    fake: FakeMastodon, oauth: Callable[..., OAuth2Session], make_api: Callable[..., Mastodon]
) -> None:
    """The §2.2 flow: authorize with a challenge, exchange with the verifier, call the API."""
    client = oauth(*register(fake))
    code, verifier = authorize(fake, client)

    token = client.fetch_token(metadata(fake)["token_endpoint"], code=code, code_verifier=verifier)

    assert token["token_type"] == "Bearer"
    assert token["scope"] == SCOPES
    assert "expires_in" not in token and "refresh_token" not in token
    me = make_api(token["access_token"]).account_verify_credentials()
    assert (me.acct, me.username, me.display_name) == ("alice", "alice", "Alice")
    assert isinstance(me.id, str) and me.source.privacy == "public"
    authorize_request = next(r for r in fake.requests if r["path"] == "/oauth/authorize")
    assert authorize_request["query"]["code_challenge_method"] == "S256"
    token_request = next(r for r in fake.requests if r["path"] == "/oauth/token")
    assert token_request["form"]["code_verifier"] == verifier


def test_client_secret_basic_is_accepted(
    fake: FakeMastodon, oauth: Callable[..., OAuth2Session]
) -> None:
    """Authlib's default client auth (HTTP Basic) works too."""
    client = oauth(*register(fake), token_endpoint_auth_method="client_secret_basic")
    code, verifier = authorize(fake, client)

    token = client.fetch_token(metadata(fake)["token_endpoint"], code=code, code_verifier=verifier)

    assert token["scope"] == SCOPES
    token_request = next(r for r in fake.requests if r["path"] == "/oauth/token")
    assert token_request["headers"]["Authorization"] == "Basic …"


def test_signing_in_again_reuses_the_token(
    fake: FakeMastodon, oauth: Callable[..., OAuth2Session]
) -> None:
    """Mastodon enables Doorkeeper's reuse_access_token: same app, user and scopes, same token."""
    client_id, client_secret = register(fake)
    tokens = []
    for _ in range(2):
        client = oauth(client_id, client_secret)
        code, verifier = authorize(fake, client)
        tokens.append(
            client.fetch_token(metadata(fake)["token_endpoint"], code=code, code_verifier=verifier)
        )

    assert tokens[0]["access_token"] == tokens[1]["access_token"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_verifier": "x" * 48}, "invalid_grant"),
        ({"code_verifier": None}, "invalid_request"),
        ({"redirect_uri": "http://localhost:5000/other"}, "invalid_grant"),
        ({"code": "not-a-code"}, "invalid_grant"),
    ],
)
def test_token_exchange_rejects_bad_grants(
    fake: FakeMastodon, oauth: Callable[..., OAuth2Session], change: dict, error: str
) -> None:
    """A wrong or missing verifier, another redirect URI or an unknown code are refused."""
    client = oauth(*register(fake))
    code, verifier = authorize(fake, client)
    params = {"code": code, "code_verifier": verifier, **change}

    with pytest.raises(OAuthError) as caught:
        client.fetch_token(metadata(fake)["token_endpoint"], **params)

    assert caught.value.error == error


def test_code_is_single_use(fake: FakeMastodon, oauth: Callable[..., OAuth2Session]) -> None:
    """Exchanging the same code twice fails the second time."""
    client = oauth(*register(fake))
    code, verifier = authorize(fake, client)
    client.fetch_token(metadata(fake)["token_endpoint"], code=code, code_verifier=verifier)

    with pytest.raises(OAuthError) as caught:
        client.fetch_token(metadata(fake)["token_endpoint"], code=code, code_verifier=verifier)

    assert caught.value.error == "invalid_grant"


def test_code_expires_after_ten_minutes(
    fake: FakeMastodon, oauth: Callable[..., OAuth2Session]
) -> None:
    """Doorkeeper's codes live ten minutes."""
    client = oauth(*register(fake))
    code, verifier = authorize(fake, client)
    fake.advance_clock(601)

    with pytest.raises(OAuthError) as caught:
        client.fetch_token(metadata(fake)["token_endpoint"], code=code, code_verifier=verifier)

    assert caught.value.error == "invalid_grant"


def test_wrong_client_secret_is_invalid_client(
    fake: FakeMastodon, oauth: Callable[..., OAuth2Session]
) -> None:
    """A wrong secret gets 401 invalid_client."""
    client_id, _ = register(fake)
    client = oauth(client_id, "wrong-secret")
    code, verifier = authorize(fake, client)

    with pytest.raises(OAuthError) as caught:
        client.fetch_token(metadata(fake)["token_endpoint"], code=code, code_verifier=verifier)

    assert caught.value.error == "invalid_client"
    assert fake.requests[-1]["status"] == 401


def test_forgotten_app_is_invalid_client(
    fake: FakeMastodon, oauth: Callable[..., OAuth2Session]
) -> None:
    """After the server vacuums apps, exchange and authorize both reject the old client."""
    client = oauth(*register(fake))
    code, verifier = authorize(fake, client)
    fake.forget_apps()

    with pytest.raises(OAuthError) as caught:
        client.fetch_token(metadata(fake)["token_endpoint"], code=code, code_verifier=verifier)
    assert caught.value.error == "invalid_client"

    url, _ = client.create_authorization_url(metadata(fake)["authorization_endpoint"])
    with pytest.raises(AuthorizationError) as page:
        fake.approve(url, "alice")
    assert (page.value.error, page.value.status) == ("invalid_client", 401)


def test_unregistered_redirect_uri_shows_an_error_page(
    fake: FakeMastodon, oauth: Callable[..., OAuth2Session]
) -> None:
    """The server won't redirect to a URI the app didn't register."""
    client = oauth(*register(fake), redirect_uri="https://evil.example/cb")
    url, _ = client.create_authorization_url(metadata(fake)["authorization_endpoint"])

    with pytest.raises(AuthorizationError) as page:
        fake.approve(url, "alice")

    assert page.value.error == "invalid_redirect_uri"


def test_scope_beyond_registration_redirects_with_invalid_scope(
    fake: FakeMastodon, oauth: Callable[..., OAuth2Session]
) -> None:
    """Requesting a scope the app didn't register comes back as error=invalid_scope."""
    client = oauth(*register(fake, scopes="read:accounts"))
    url, state = client.create_authorization_url(metadata(fake)["authorization_endpoint"])

    query = query_of(fake.approve(url, "alice"))

    assert (query["error"], query["state"]) == ("invalid_scope", state)


def test_only_s256_is_accepted(fake: FakeMastodon) -> None:
    """A plain PKCE challenge is refused."""
    client_id, _ = register(fake)
    url = (
        f"{fake.url}/oauth/authorize?response_type=code&client_id={client_id}"
        f"&redirect_uri={REDIRECT_URI}&scope=read:accounts&state=s"
        "&code_challenge=abc&code_challenge_method=plain"
    )

    assert query_of(fake.approve(url, "alice"))["error"] == "invalid_request"


def test_deny_redirects_with_access_denied(
    fake: FakeMastodon, oauth: Callable[..., OAuth2Session]
) -> None:
    """Clicking Deny sends the user back with error=access_denied and the state."""
    client = oauth(*register(fake))
    url, state = client.create_authorization_url(metadata(fake)["authorization_endpoint"])

    query = query_of(fake.deny(url))

    assert (query["error"], query["state"]) == ("access_denied", state)


def test_server_without_pkce_behaves_like_mastodon_before_4_3(
    oauth: Callable[..., OAuth2Session],
) -> None:
    """No metadata (404); the flow works without a verifier and refuses one."""
    with FakeMastodon(pkce=False) as old:
        old.add_account("alice")
        assert (
            requests.get(f"{old.url}/.well-known/oauth-authorization-server", timeout=5).status_code
            == 404
        )
        client = oauth(*register(old), pkce=False)
        code, verifier = authorize(old, client, pkce=False)
        assert verifier is None and "code_challenge" not in old.requests[-2]["query"]

        token = client.fetch_token(f"{old.url}/oauth/token", code=code)
        assert token["scope"] == SCOPES

        code, _ = authorize(old, client, pkce=False)
        with pytest.raises(OAuthError) as caught:
            client.fetch_token(f"{old.url}/oauth/token", code=code, code_verifier="x" * 48)
        assert caught.value.error == "invalid_request"


# -- accounts and scopes -------------------------------------------------------------------------


def test_verify_credentials_needs_read_accounts(
    fake: FakeMastodon, make_api: Callable[..., Mastodon]
) -> None:
    """A token without read:accounts (or read/profile) gets 403."""
    api = make_api(fake.create_token("alice", "write:statuses"))

    with pytest.raises(MastodonAPIError) as caught:
        api.account_verify_credentials()

    assert caught.value.args[1] == 403
    assert caught.value.args[3] == "This action is outside the authorized scopes"


def test_account_lookup_finds_local_and_known_remote_accounts(api: Mastodon) -> None:
    """Lookup returns known accounts, remote ones with user@domain acct; unknown is 404."""
    assert api.account_lookup("alice").acct == "alice"
    business = api.account_lookup("@support@brand.example")
    assert (business.acct, business.url) == (
        "support@brand.example",
        "https://brand.example/@support",
    )

    with pytest.raises(MastodonNotFoundError):
        api.account_lookup("nobody@elsewhere.example")


def test_account_search_lists_matches(api: Mastodon) -> None:
    """Search finds known accounts by acct."""
    found = api.account_search("support@brand.example", resolve=True, limit=1)

    assert [a.acct for a in found] == ["support@brand.example"]


# -- instance -----------------------------------------------------------------------------------


def test_instance_reports_configured_limits(make_api: Callable[..., Mastodon]) -> None:
    """v2 and v1 report max_characters and characters_reserved_per_url."""
    with FakeMastodon(max_characters=1000, characters_reserved_per_url=30) as big:
        api = make_api(api_base_url=big.url)
        statuses = api.instance_v2().configuration.statuses
        assert (statuses.max_characters, statuses.characters_reserved_per_url) == (1000, 30)
        v1 = api.instance_v1()
        assert (v1.configuration.statuses.max_characters, v1.max_toot_chars) == (1000, 1000)
        assert api.instance_v2().version == "4.3.0"


# -- statuses -----------------------------------------------------------------------------------


def test_status_post_returns_a_status_and_records_it(fake: FakeMastodon, api: Mastodon) -> None:
    """Posting returns a Status with string id, url, aware created_at, mentions and tags."""
    status = api.status_post("Thanks @support@brand.example! #GreatService", visibility="unlisted")

    assert isinstance(status.id, str) and status.url.endswith(f"/@alice/{status.id}")
    assert status.created_at.tzinfo is not None
    assert [m.acct for m in status.mentions] == ["support@brand.example"]
    assert [t.name for t in status.tags] == ["greatservice"]
    assert 'class="u-url mention"' in status.content
    record = fake.statuses[0]
    assert (record["account"], record["visibility"], record["mentions"]) == (
        "alice",
        "unlisted",
        ["support@brand.example"],
    )


def test_unknown_handles_are_not_mentions(api: Mastodon) -> None:
    """A handle the server doesn't know stays plain text: nobody is notified."""
    status = api.status_post("Hello @ghost@nowhere.example")

    assert status.mentions == []


def test_idempotency_key_returns_the_original_status(fake: FakeMastodon, api: Mastodon) -> None:
    """The same key within the hour returns the first status, even with other text."""
    first = api.status_post("Lovely bakery", idempotency_key="post-1")
    again = api.status_post("Lovely bakery (retry)", idempotency_key="post-1")
    other = api.status_post("Lovely bakery", idempotency_key="post-2")

    assert again.id == first.id and other.id != first.id
    assert [s["idempotency_key"] for s in fake.statuses] == ["post-1", "post-2"]
    assert fake.requests[-2]["headers"]["Idempotency-Key"] == "post-1"


def test_idempotency_key_expires_after_an_hour(fake: FakeMastodon, api: Mastodon) -> None:
    """After an hour the same key creates a new status."""
    first = api.status_post("Lovely bakery", idempotency_key="post-1")
    fake.advance_clock(3601)

    assert api.status_post("Lovely bakery", idempotency_key="post-1").id != first.id
    assert int(fake.statuses[1]["id"]) > int(first.id)


def test_over_length_status_is_rejected_with_422(fake: FakeMastodon, api: Mastodon) -> None:
    """501 characters fail with Mastodon's message; nothing is stored."""
    with pytest.raises(MastodonAPIError) as caught:
        api.status_post("x" * 501)

    assert caught.value.args[1] == 422
    assert caught.value.args[3] == "Validation failed: Text character limit of 500 exceeded"
    assert fake.statuses == []


@pytest.mark.parametrize(
    ("text", "spoiler_text"),
    [
        (f"see {LONG_URL} ok", ""),
        ("hi @support@brand.example thanks", ""),
        ("x", "cw"),
        ("👩‍👩‍👧‍👦 café", ""),
        (f"({LONG_URL}).", ""),
    ],
)
def test_length_rule_matches_mastodon_py(
    make_api: Callable[..., Mastodon], text: str, spoiler_text: str
) -> None:
    """URLs count 23, @user@domain counts as @user, graphemes count once, spoilers count."""
    length = Mastodon.get_status_length(text, spoiler_text)
    with (
        FakeMastodon(max_characters=length) as exact,
        FakeMastodon(max_characters=length - 1) as short,
    ):
        for server in (exact, short):
            server.add_account("alice")
            server.add_account("support", domain="brand.example")
        make_api(exact.create_token("alice"), api_base_url=exact.url).status_post(
            text, spoiler_text=spoiler_text or None
        )
        with pytest.raises(MastodonAPIError):
            make_api(short.create_token("alice"), api_base_url=short.url).status_post(
                text, spoiler_text=spoiler_text or None
            )


def test_long_url_fits_in_a_full_length_status(api: Mastodon) -> None:
    """A 477-character text plus a long URL is exactly 500."""
    text = "x" * 476 + " " + LONG_URL

    assert api.status_post(text).id


def test_context_lists_business_replies(fake: FakeMastodon, api: Mastodon) -> None:
    """Replies by the business, at any depth, appear as descendants with account and parent."""
    post = api.status_post("Thanks @support@brand.example!")
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    reply = fake.reply(
        post.id, "support@brand.example", f"@alice@{fake.domain} glad to help", at=at
    )
    nested = fake.reply(reply["id"], "alice", "@support@brand.example you rock")

    context = api.status_context(post.id)

    assert [d.id for d in context.descendants] == [reply["id"], nested["id"]]
    first = context.descendants[0]
    assert (first.account.acct, first.in_reply_to_id, first.created_at) == (
        "support@brand.example",
        post.id,
        at,
    )
    assert first.url.startswith("https://brand.example/@support/")
    assert [m.acct for m in first.mentions] == ["alice"]
    assert api.status_context(nested["id"]).ancestors[0].id == post.id


def test_followers_only_reply_without_mention_is_hidden(fake: FakeMastodon, api: Mastodon) -> None:
    """A private reply is visible only to those it mentions."""
    post = api.status_post("Thanks @support@brand.example!")
    fake.reply(post.id, "support@brand.example", "thanks", visibility="private")
    fake.reply(
        post.id, "support@brand.example", f"@alice@{fake.domain} thanks", visibility="private"
    )

    assert len(api.status_context(post.id).descendants) == 1


def test_status_delete_removes_own_status(fake: FakeMastodon, api: Mastodon) -> None:
    """Deleting returns the status with its source text; it is then gone (404)."""
    post = api.status_post("Oops")
    reply = fake.reply(post.id, "support@brand.example", "hm")

    assert api.status_delete(post.id).text == "Oops"
    assert fake.statuses[0]["deleted"] is True
    with pytest.raises(MastodonNotFoundError):
        api.status(post.id)
    with pytest.raises(MastodonNotFoundError):
        api.status_delete(post.id)
    with pytest.raises(MastodonNotFoundError):
        api.status_delete(reply["id"])


# -- faults -------------------------------------------------------------------------------------


def test_server_error_raises_and_then_recovers(fake: FakeMastodon, api: Mastodon) -> None:
    """An injected 503 raises MastodonServerError once and stores nothing."""
    fake.fail_next("POST", "/api/v1/statuses", 503)

    with pytest.raises(MastodonServiceUnavailableError) as caught:
        api.status_post("hello", idempotency_key="k")

    assert isinstance(caught.value, MastodonServerError) and fake.statuses == []
    assert api.status_post("hello", idempotency_key="k").id == fake.statuses[0]["id"]


def test_rate_limit_raises_with_reset(fake: FakeMastodon, api: Mastodon) -> None:
    """A 429 raises MastodonRatelimitError; api.ratelimit_reset comes from X-RateLimit-Reset."""
    # Mastodon.py corrects the reset by the server's Date header, which follows the fake clock.
    fake.advance_clock(3600)
    reset = fake.now() + timedelta(minutes=10)
    fake.fail_next(
        "POST",
        "/api/v1/statuses",
        429,
        headers={
            "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        },
    )

    with pytest.raises(MastodonRatelimitError):
        api.status_post("hello")

    assert not isinstance(MastodonRatelimitError(), MastodonAPIError)
    assert api.ratelimit_reset == pytest.approx(time.time() + 600, abs=2)
    assert api.ratelimit_remaining == 0


def test_normal_responses_carry_rate_limit_headers(api: Mastodon) -> None:
    """Every API answer has the X-RateLimit-* headers Mastodon.py reads."""
    api.account_verify_credentials()
    api.account_verify_credentials()

    assert api.ratelimit_limit == 300
    # 299 only if the two calls straddle the 5-minute window boundary.
    assert api.ratelimit_remaining in (298, 299)
    assert time.time() < api.ratelimit_reset <= time.time() + 300 + 2


def test_slow_answer_times_out_but_status_exists(
    fake: FakeMastodon, make_api: Callable[..., Mastodon]
) -> None:
    """A slow server times the client out after creating the status; a same-key retry is safe."""
    api = make_api(fake.create_token("alice"), request_timeout=0.5)
    fake.delay_next("POST", "/api/v1/statuses", 3)

    with pytest.raises(MastodonNetworkError):
        api.status_post("hello", idempotency_key="k")

    assert len(fake.statuses) == 1
    assert api.status_post("hello", idempotency_key="k").id == fake.statuses[0]["id"]
    assert len(fake.statuses) == 1


def test_revoked_token_is_unauthorized(fake: FakeMastodon, api: Mastodon) -> None:
    """After revoke_tokens() every API call answers 401."""
    fake.revoke_tokens("alice")

    with pytest.raises(MastodonUnauthorizedError):
        api.account_verify_credentials()


def test_mastodon_py_revoke_needs_allow_http_and_works(
    fake: FakeMastodon, oauth: Callable[..., OAuth2Session], make_api: Callable[..., Mastodon]
) -> None:
    """revoke_access_token() needs allow_http for the http metadata URL; then the token is dead."""
    client_id, client_secret = register(fake)
    client = oauth(client_id, client_secret)
    code, verifier = authorize(fake, client)
    token = client.fetch_token(metadata(fake)["token_endpoint"], code=code, code_verifier=verifier)
    owner = make_api(token["access_token"], client_id=client_id, client_secret=client_secret)

    with pytest.raises(MastodonIllegalArgumentError):
        owner.revoke_access_token()
    owner.revoke_access_token(allow_http=True)

    with pytest.raises(MastodonUnauthorizedError):
        make_api(token["access_token"]).account_verify_credentials()


def test_authlib_revoke_and_foreign_client(
    fake: FakeMastodon, oauth: Callable[..., OAuth2Session], make_api: Callable[..., Mastodon]
) -> None:
    """Only the owning client may revoke a token (403 otherwise); revoking is idempotent."""
    client = oauth(*register(fake))
    code, verifier = authorize(fake, client)
    token = client.fetch_token(metadata(fake)["token_endpoint"], code=code, code_verifier=verifier)
    stranger = oauth(*register(fake))

    assert (
        stranger.revoke_token(f"{fake.url}/oauth/revoke", token=token["access_token"]).status_code
        == 403
    )
    for _ in range(2):
        response = client.revoke_token(f"{fake.url}/oauth/revoke", token=token["access_token"])
        assert (response.status_code, response.json()) == (200, {})
    with pytest.raises(MastodonUnauthorizedError):
        make_api(token["access_token"]).account_verify_credentials()


def test_reset_clears_everything(fake: FakeMastodon, api: Mastodon) -> None:
    """reset() leaves a server with no accounts, apps, statuses or log."""
    api.status_post("hello")
    register(fake)

    fake.reset()

    assert (fake.statuses, fake.requests, fake.apps) == ([], [], {})
    with pytest.raises(MastodonUnauthorizedError):
        api.account_verify_credentials()
