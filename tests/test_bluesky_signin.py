"""Signing in with Bluesky, connecting by app password, renewing and revoking, claiming a wall.

The forms' answers to bad input need no network; everything else runs against the real local
AT Protocol network (`atproto_network`: PLC, PDS and AppView from the reference services).
The OAuth round trip itself goes through the PDS's own pages in Chromium:
tests/test_browser_bluesky.py.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from helpers import page_text
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.fixtures.app import TEST_DATABASE_URL
from tests.fixtures.bluesky import bluesky_settings
from tests.fixtures.people import PASSWORD, AuthActions
from webapp.extensions import db
from webapp.infra import crypto
from webapp.models import BlueskyAccount, Business, User, utcnow
from webapp.networks.bluesky import dpop, errors, identity, oauth
from webapp.networks.bluesky.auth import SessionEnded
from webapp.networks.bluesky.client import Client
from webapp.services import accounts, owners

APP_PASSWORD_SHAPE = "abcd-efgh-ijkl-mnop"


@pytest.fixture
def on_network(app: Flask, atproto_network):
    """Point the app under test at the local AT Protocol network."""
    app.config.update(bluesky_settings(atproto_network))
    return atproto_network


def app_password(network, account) -> str:
    """Make an app password for the account, as its owner would in Bluesky's settings."""
    answer = network.call(
        account, "POST", "com.atproto.server.createAppPassword", json={"name": "Praisewall"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["password"]


def connect_with_app_password(client, network, account) -> None:
    """Connect the signed-in person's Bluesky account through the app-password form."""
    response = client.post(
        "/settings/bluesky/app-password",
        data={"handle": account.handle, "app_password": app_password(network, account)},
    )
    assert response.status_code == 302, page_text(response)


def stored_account(did: str) -> BlueskyAccount:
    """Read the connection for a DID afresh from the database."""
    db.session.expire_all()
    return db.session.scalar(sa.select(BlueskyAccount).where(BlueskyAccount.did == did))


# --- What the forms say, with no network at all ---


def test_the_client_metadata_document_names_the_site(app, client):
    """Our client id is the https address of a document saying who we are and where to return."""
    app.config["SITE_URL"] = "https://praisewall.example"
    document = client.get("/bluesky/client-metadata.json").get_json()
    assert document["client_id"] == "https://praisewall.example/bluesky/client-metadata.json"
    assert document["redirect_uris"] == ["https://praisewall.example/auth/bluesky/callback"]
    assert document["scope"] == "atproto transition:generic"
    assert document["dpop_bound_access_tokens"] is True
    assert set(document["grant_types"]) == {"authorization_code", "refresh_token"}


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "Enter your handle"),
        ("not a handle!", "That isn't a Bluesky handle"),
        ("alice", "That isn't a Bluesky handle"),
        ("ftp://bsky.example", "must be https://"),
        ("alice.example", "That isn't a Bluesky handle"),  # a reserved name
    ],
)
def test_a_bad_entry_is_refused_and_kept(client, typed, says):
    """The form says what is wrong, keeps what was typed, and answers 422."""
    response = client.post("/login/bluesky", data={"handle": typed})
    assert response.status_code == 422
    assert says in page_text(response)
    if typed:
        assert f'value="{typed}"' in response.text.replace("&#34;", '"').replace("&#39;", "'")


def test_production_needs_the_sites_https_address(app, client):
    """Without the development setting, a site on http can't give servers a client id."""
    app.config["MASTODON_ALLOW_INSECURE"] = False
    response = client.post("/login/bluesky", data={"handle": "alice.bsky.social"})
    assert response.status_code == 422
    assert "needs this site's https address (WEBAPP_SITE_URL)" in page_text(response)


def test_a_main_password_is_never_sent(client, signed_in_alice):
    """Anything not shaped like an app password is refused before any server is asked."""
    response = client.post(
        "/settings/bluesky/app-password",
        data={"handle": "alice.bsky.social", "app_password": "my real password"},
    )
    assert response.status_code == 422
    text = page_text(response)
    assert "doesn't look like an app password" in text
    assert "Never type your main password here" in text
    assert 'value="alice.bsky.social"' in response.text
    assert "my real password" not in response.text


def test_a_callback_nobody_started_goes_back_to_sign_in(client):
    """A callback without our sign-in state signs nobody in."""
    response = client.get("/auth/bluesky/callback?code=abc&state=xyz&iss=https://bsky.social")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/login/bluesky")
    assert "didn't match" in page_text(client.get("/login/bluesky"))


def test_a_dpop_proof_names_the_request_and_the_token():
    """Each proof is signed by the connection's key, for one method and URL, with the token's
    hash and the server's nonce."""
    key = dpop.load(dpop.new_key())
    proof = dpop.proof(
        key, "post", "https://pds.example/xrpc/x?y=1#z", nonce="n1", access_token="tok"
    )
    decoded = jwt.decode(proof, ECKey.import_key(key.as_dict(private=False)))
    assert decoded.header["typ"] == "dpop+jwt"
    assert decoded.header["alg"] == "ES256"
    assert "d" not in decoded.header["jwk"]
    assert decoded.claims["htm"] == "POST"
    assert decoded.claims["htu"] == "https://pds.example/xrpc/x"
    assert decoded.claims["nonce"] == "n1"
    assert decoded.claims["ath"] == dpop.token_hash("tok")
    second = jwt.decode(dpop.proof(key, "GET", "https://pds.example/", nonce=None), key)
    assert second.claims["jti"] != decoded.claims["jti"]
    assert "nonce" not in second.claims


@pytest.mark.parametrize(
    ("typed", "handle"),
    [
        ("@Alice.BSKY.social", "alice.bsky.social"),
        ("at://brand.example.com", "brand.example.com"),
        ("alice.bsky.social.", "alice.bsky.social"),
        ("alice", None),
        ("-bad.example.com", None),
        ("alice.local", None),
        ("alice.123", None),
    ],
)
def test_handles_are_read_as_the_protocol_writes_them(app, typed, handle):
    """A handle is a domain name, lower case, without @ or at://; reserved names are none."""
    assert identity.normalize_handle(typed) == handle


# --- Against the local network ---


def test_a_handle_is_believed_only_both_ways(app, on_network):
    """handle → DID by the handle's domain, DID → document naming the handle and the PDS."""
    shop = on_network.create_account("shop")
    who = identity.resolve_handle(f"@{shop.handle.upper()}")
    assert who == identity.Identity(shop.did, shop.handle, on_network.pds_url)
    assert identity.resolve_did(shop.did) == who
    assert identity.resolve_handle("nobody-here.test") is None
    # A new handle: the old one names nobody now, and the DID's handle follows.
    renamed = f"renamed-{shop.handle}"
    answer = on_network.call(
        shop, "POST", "com.atproto.identity.updateHandle", json={"handle": renamed}
    )
    assert answer.status_code == 200, answer.text
    assert identity.resolve_handle(shop.handle) is None
    assert identity.resolve_did(shop.did).handle == renamed


def test_a_handle_whose_document_names_another_is_not_believed(app, on_network):
    """A domain may say any DID is its own: the DID's document must name the handle back."""
    shop = on_network.create_account("shop")

    class Impostor(BaseHTTPRequestHandler):
        """A handle's domain that claims the shop's DID for every name."""

        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            """Answer every well-known question with the shop's DID."""
            body = shop.did.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            """Keep the test's output quiet."""

    server = HTTPServer(("127.0.0.1", 0), Impostor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        app.config["BLUESKY_DEV_HANDLE_SERVER"] = f"http://127.0.0.1:{server.server_port}"
        assert identity.handle_to_did("impostor-1.test") == shop.did  # the domain's claim
        assert identity.resolve_handle("impostor-1.test") is None  # ...not believed
        # The shop's own document still names the shop, and its handle still proves itself.
        assert identity.resolve_handle(shop.handle).did == shop.did
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_connect_with_an_app_password_then_disconnect_revokes(client, signed_in_alice, on_network):
    """The app password connects the account; disconnecting ends that session at the PDS."""
    bob = on_network.create_account("bob")
    connect_with_app_password(client, on_network, bob)
    text = page_text(client.get("/settings"))
    assert f"Connected as @{bob.handle}, with an app password." in text
    account = stored_account(bob.did)
    assert account.kind == "app_password"
    assert Client(account).get("com.atproto.server.getSession")["did"] == bob.did
    refresh_jwt = crypto.decrypt(account.refresh_token)
    assert refresh_jwt not in json.dumps([account.access_token, account.refresh_token])
    response = client.post("/settings/bluesky/disconnect", follow_redirects=True)
    assert "Praisewall can no longer post to your Bluesky account" in page_text(response)
    assert stored_account(bob.did) is None
    again = requests.post(
        f"{on_network.pds_url}/xrpc/com.atproto.server.refreshSession",
        headers={"Authorization": f"Bearer {refresh_jwt}"},
        timeout=10,
    )
    assert again.status_code in (400, 401), again.text


def test_the_main_password_is_refused_even_when_shaped_like_an_app_password(
    client, signed_in_alice, on_network
):
    """A PDS session made with the account's main password is ended, not kept."""
    carol = on_network.create_account("carol")
    answer = on_network.call(
        None,
        "POST",
        "com.atproto.server.createAccount",
        json={
            "handle": f"main-{carol.handle}",
            "email": f"main-{carol.handle}@praisewall.test",
            "password": APP_PASSWORD_SHAPE,
        },
    )
    assert answer.status_code == 200, answer.text
    response = client.post(
        "/settings/bluesky/app-password",
        data={"handle": f"main-{carol.handle}", "app_password": APP_PASSWORD_SHAPE},
    )
    assert response.status_code == 422
    assert "That is your account's main password" in page_text(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BlueskyAccount)) == 0


def test_an_ended_access_token_is_renewed(client, signed_in_alice, on_network):
    """Past its end, the token is renewed with the refresh token, which rotates."""
    dave = on_network.create_account("dave")
    connect_with_app_password(client, on_network, dave)
    account = stored_account(dave.did)
    old_refresh = account.refresh_token
    version = account.token_version
    account.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert Client(account).get("com.atproto.server.getSession")["handle"] == dave.handle
    account = stored_account(dave.did)
    assert account.token_version == version + 2  # renewed once
    assert crypto.decrypt(account.refresh_token) != crypto.decrypt(old_refresh)
    assert account.expires_at > utcnow()


@pytest.fixture
def shared_app(make_app: Callable[..., Flask], tmp_path, atproto_network) -> Flask:
    """Return an app on a database file several threads can use at once, on the network."""
    uri = TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'race.db'}"
    return make_app(SQLALCHEMY_DATABASE_URI=uri, **bluesky_settings(atproto_network))


def race_renewals(app: Flask, did: str) -> list[tuple[str, str]]:
    """Call the network as the account from two threads at once, each like a worker process
    with a context of its own; return each one's (DID answered, access token used)."""
    start = threading.Barrier(2)
    seen: list[tuple[str, str]] = []
    failures: list[BaseException] = []

    def worker() -> None:
        """Call once both workers are ready."""
        try:
            with app.app_context():
                account = stored_account(did)
                start.wait(timeout=10)
                answer = Client(account).get("com.atproto.server.getSession")
                seen.append((answer["did"], crypto.decrypt(account.access_token)))
        except BaseException as failure:  # reported below, with the test's own assertion
            failures.append(failure)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert [answered for answered, _ in seen] == [did, did]
    return seen


def test_two_workers_renewing_at_once_lose_nothing(shared_app, atproto_network):
    """Both find the token ended; one renews, the other waits and adopts what it stored."""
    erin = atproto_network.create_account("erin")
    with shared_app.app_context():
        user = User(username="erin")
        db.session.add(user)
        db.session.flush()
        session = requests.post(
            f"{atproto_network.pds_url}/xrpc/com.atproto.server.createSession",
            json={"identifier": erin.did, "password": app_password(atproto_network, erin)},
            timeout=10,
        ).json()
        db.session.add(
            BlueskyAccount(
                user=user,
                did=erin.did,
                handle=erin.handle,
                pds_url=atproto_network.pds_url,
                kind="app_password",
                access_token=crypto.encrypt(session["accessJwt"]),
                refresh_token=crypto.encrypt(session["refreshJwt"]),
                expires_at=utcnow() - timedelta(minutes=1),
            )
        )
        db.session.commit()
    seen = race_renewals(shared_app, erin.did)
    assert seen[0][1] == seen[1][1]  # both use the one renewal
    with shared_app.app_context():
        account = stored_account(erin.did)
        assert account.token_version == 2  # renewed once
        assert not account.needs_login
        assert crypto.decrypt(account.access_token) == seen[0][1]
        assert Client(account).get("com.atproto.server.getSession")["did"] == erin.did


def test_a_revoked_session_asks_to_reconnect(client, signed_in_alice, on_network):
    """An app password deleted in Bluesky ends the session: the banner asks to reconnect."""
    fay = on_network.create_account("fay")
    connect_with_app_password(client, on_network, fay)
    answer = on_network.call(
        fay, "POST", "com.atproto.server.revokeAppPassword", json={"name": "Praisewall"}
    )
    assert answer.status_code == 200, answer.text
    account = stored_account(fay.did)
    account.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    with pytest.raises(SessionEnded) as ended:
        Client(account).get("com.atproto.server.getSession")
    assert errors.failed(ended.value).outcome.kind == "needs_login"
    assert stored_account(fay.did).needs_login
    text = page_text(client.get("/settings"))
    assert "Your Bluesky server no longer accepts our sign-in" in text
    assert "Reconnect Bluesky" in text


def test_refusals_mean_what_delivery_needs(app, on_network):
    """A post over the limit fails with the server's words; a rate limit waits its reset."""
    from webapp.networks.bluesky.client import XrpcError

    limited = errors.failed(
        XrpcError(429, "RateLimitExceeded", "", {"ratelimit-reset": "2000000000"})
    )
    assert limited.outcome.kind == "retry"
    assert limited.outcome.retry_at.timestamp() == 2_000_000_000
    assert errors.failed(XrpcError(502, "UpstreamFailure", "")).outcome.kind == "retry"
    assert errors.failed(XrpcError(401, "AuthMissing", "")).outcome.kind == "needs_login"
    assert errors.failed(requests.ConnectTimeout()).may_have_posted is False
    assert errors.failed(requests.ReadTimeout()).may_have_posted is True


def test_a_business_claims_its_wall_by_its_bluesky_handle(
    client, signed_in_alice, on_network, make_business
):
    """Signed in as the wall's handle, the owner claims it; the daily check proves it again."""
    shop = on_network.create_account("shop")
    bakery = make_business("Harbour Bakery", website=f"https://{shop.handle}")
    bakery.bluesky_handle = shop.handle
    other = make_business("Other Shop")
    other.bluesky_handle = "someone-else.test"
    db.session.commit()
    connect_with_app_password(client, on_network, shop)
    wall = page_text(client.get(f"/b/{bakery.slug}"))
    assert f"Claim this page as @{shop.handle}" in wall
    assert client.post(f"/b/{other.slug}/claim/bluesky").status_code == 403
    response = client.post(f"/b/{bakery.slug}/claim/bluesky", follow_redirects=True)
    text = page_text(response)
    assert f"Verified on Bluesky as @{shop.handle}" in text
    # The handle is the website's own domain: the domain shows as verified too.
    assert f"their website {shop.handle} is their Bluesky handle's own domain" in text
    db.session.expire_all()
    bakery = db.session.get(Business, bakery.id)
    assert bakery.claim_proof == "bluesky"
    assert owners.recheck(bakery) == "held"
    # The account moves to another handle: the wall's handle no longer names it.
    on_network.call(
        shop, "POST", "com.atproto.identity.updateHandle", json={"handle": f"moved-{shop.handle}"}
    )
    assert owners.recheck(bakery) == "retry"  # no proof now; dropped after the grace period
    bakery.claim_checked_at = utcnow() - owners.RECHECK_GRACE - timedelta(hours=1)
    assert owners.recheck(bakery) == "dropped"
    db.session.commit()
    assert "Verified on Bluesky" not in page_text(client.get(f"/b/{bakery.slug}"))


def test_a_sign_in_from_a_server_address_keeps_its_secrets_sealed(app, client, on_network):
    """Typing the server's address starts a pushed request there; what the sign-in must
    remember (verifier, key, state) is in the cookie only encrypted."""
    response = client.post(
        "/login/bluesky", data={"handle": on_network.pds_url}, base_url="http://127.0.0.1:5000"
    )
    assert response.status_code == 302, page_text(response)
    location = response.headers["Location"]
    assert location.startswith(f"{on_network.pds_url}/oauth/authorize?")
    assert "request_uri=urn" in location
    assert "code_challenge" not in location  # pushed, not in the address
    with client.session_transaction(base_url="http://127.0.0.1:5000") as session:
        pending = session["bluesky_sign_in"]
    assert set(pending) == {"sealed", "next"}
    secret = json.loads(crypto.decrypt(pending["sealed"]))
    assert secret["issuer"] == on_network.pds_url
    assert secret["did"] is None  # typed a server: the DID is checked when they come back
    assert secret["redirect_uri"] == "http://127.0.0.1:5000/auth/bluesky/callback"
    for word in ("verifier", "state"):
        assert secret[word] not in pending["sealed"]


def test_key_rotation_re_encrypts_bluesky_secrets(client, signed_in_alice, on_network, tmp_path):
    """`flask rotate-keys` re-encrypts the tokens; with the old key gone they still work."""
    from cryptography.fernet import Fernet

    jon = on_network.create_account("jon")
    connect_with_app_password(client, on_network, jon)
    app = client.application
    app.instance_path = str(tmp_path)  # no key file there for a site to read instead
    new_key = Fernet.generate_key().decode()
    app.config["FERNET_KEYS"] = f"{new_key},{app.config['FERNET_KEYS']}"
    crypto.init_app(app)
    result = app.test_cli_runner().invoke(args=["rotate-keys"])
    assert result.exit_code == 0, result.output
    app.config["FERNET_KEYS"] = new_key
    crypto.init_app(app)
    account = stored_account(jon.did)
    for value in (account.access_token, account.refresh_token):
        Fernet(new_key).decrypt(value.encode())
    assert Client(account).get("com.atproto.server.getSession")["did"] == jon.did


def test_who_signed_in_is_never_the_servers_word(app, on_network):
    """The token's subject must be the DID we resolved, and its PDS must trust the issuer;
    an answer from another issuer, or with another state, is refused before any exchange."""
    from webapp.infra.http import ServerProblem
    from webapp.networks.bluesky import signin

    shop, other = on_network.create_account("shop"), on_network.create_account("other")
    issuer = on_network.pds_url

    def tokens_for(did: str) -> oauth.Tokens:
        """Return tokens as a server might answer, for this DID."""
        return oauth.Tokens("access", "refresh", None, oauth.SCOPES, did)

    assert signin.verify_subject(tokens_for(shop.did), {"did": shop.did, "issuer": issuer}).handle
    with pytest.raises(ServerProblem, match="another account than the handle you typed"):
        signin.verify_subject(tokens_for(other.did), {"did": shop.did, "issuer": issuer})
    with pytest.raises(ServerProblem, match="doesn't speak for the account"):
        signin.verify_subject(tokens_for(shop.did), {"did": None, "issuer": "http://localhost:1"})
    pending = {"sealed": crypto.encrypt(json.dumps({"state": "s1", "issuer": issuer}))}
    with pytest.raises(ServerProblem, match="didn't match"):
        signin.finish(pending, "s2", issuer, "code")
    with pytest.raises(ServerProblem, match="another sign-in service"):
        signin.finish(pending, "s1", "http://localhost:1", "code")
    with pytest.raises(ServerProblem, match="didn't match"):
        signin.finish({"sealed": "not sealed by us"}, "s1", issuer, "code")


def test_the_entryways_bare_name_is_a_server(app, client, on_network):
    """Typing the entryway's name ("bsky.social") signs in there, as a server address would."""
    app.config["BLUESKY_ENTRYWAY"] = on_network.pds_url
    response = client.post(
        "/login/bluesky", data={"handle": "localhost"}, base_url="http://127.0.0.1:5000"
    )
    assert response.status_code == 302, page_text(response)
    assert response.headers["Location"].startswith(f"{on_network.pds_url}/oauth/authorize?")


def new_app_password(network, account) -> str:
    """Make another app password for the account, under a name of its own."""
    answer = network.call(
        account,
        "POST",
        "com.atproto.server.createAppPassword",
        json={"name": f"Praisewall {secrets.token_hex(4)}"},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["password"]


def test_a_renewal_under_way_never_overwrites_a_new_sign_in(
    shared_app, atproto_network, faulty_pds
):
    """The person reconnects while a worker is renewing: the worker's tokens lose, and it
    goes on with the new sign-in's."""
    net = atproto_network
    gus = net.create_account("gus")
    client = shared_app.test_client()
    with shared_app.app_context():
        accounts.create_user("gus", PASSWORD)
        db.session.commit()
    AuthActions(client).login("gus")
    form = {"handle": gus.handle, "app_password": new_app_password(net, gus)}
    assert client.post("/settings/bluesky/app-password", data=form).status_code == 302
    with shared_app.app_context():
        account = stored_account(gus.did)
        account.pds_url = faulty_pds.url  # the renewal goes through the proxy, slowly
        account.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    faulty_pds.delay_next("/xrpc/com.atproto.server.refreshSession", seconds=4, forward=True)
    answered: list[object] = []

    def worker() -> None:
        """Call as the account, like a worker whose token has ended."""
        with shared_app.app_context():
            try:
                answer = Client(stored_account(gus.did)).get("com.atproto.server.getSession")
                answered.append(answer["did"])
            except BaseException as failure:  # reported by the test's assertion
                answered.append(failure)

    thread = threading.Thread(target=worker)
    thread.start()
    while "/xrpc/com.atproto.server.refreshSession" not in faulty_pds.paths():
        assert thread.is_alive(), answered
        time.sleep(0.05)
    form = {"handle": gus.handle, "app_password": new_app_password(net, gus)}
    assert client.post("/settings/bluesky/app-password", data=form).status_code == 302
    with shared_app.app_context():
        signed_in = stored_account(gus.did)
        new_token, new_version = crypto.decrypt(signed_in.access_token), signed_in.token_version
    thread.join(timeout=60)
    assert answered == [gus.did]
    with shared_app.app_context():
        account = stored_account(gus.did)
        assert crypto.decrypt(account.access_token) == new_token
        assert account.token_version == new_version
        assert not account.needs_login
    assert "Connected as @" in page_text(client.get("/settings"))


def test_a_claim_is_not_proved_by_a_server_that_no_longer_holds_the_account(
    client, signed_in_alice, on_network, make_business, faulty_pds
):
    """The handle now resolves to another server than the one signed in at: no proof."""
    shop = on_network.create_account("shop")
    bakery = make_business("Harbour Bakery")
    bakery.bluesky_handle = shop.handle
    db.session.commit()
    connect_with_app_password(client, on_network, shop)
    response = client.post(f"/b/{bakery.slug}/claim/bluesky", follow_redirects=True)
    assert f"Verified on Bluesky as @{shop.handle}" in page_text(response)
    # The stored server still answers for the account (here, through a proxy to it), but
    # the account's DID document names another: that server's word proves nothing now.
    account = stored_account(shop.did)
    account.pds_url = faulty_pds.url
    db.session.commit()
    bakery = db.session.get(Business, bakery.id)
    assert owners.recheck(bakery) == "dropped"
    db.session.commit()
    assert "Verified on Bluesky" not in page_text(client.get(f"/b/{bakery.slug}"))
    assert faulty_pds.paths() == []  # refused before the stale server was asked anything


# --- Hostile authorization servers: answers capped in size and time, never a 500 ---


class HostileServer:
    """An authorization server (and PDS) on loopback that answers PAR and XRPC calls as told:
    slowly, hugely, not JSON."""

    def __init__(self) -> None:
        """Serve on a free loopback port; PAR answers a request_uri until told otherwise."""
        hostile = self
        self.par_body = b'{"request_uri": "urn:ietf:params:oauth:request_uri:x"}'
        self.trickle = 0.0  # seconds between bytes of the PAR answer (discovery is quick)

        class Handler(BaseHTTPRequestHandler):
            """Answer discovery properly and PAR as told."""

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                """Keep quiet."""

            def answer(self, body: bytes, content_type: str = "application/json") -> None:
                """Send the answer, byte by byte if trickling."""
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not hostile.trickle or self.command != "POST":
                    self.wfile.write(body)
                    return
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    if hostile.stop.wait(hostile.trickle):
                        return

            def do_GET(self) -> None:  # noqa: N802 # the name http.server calls
                """Answer discovery."""
                url = hostile.url
                if self.path == "/.well-known/oauth-protected-resource":
                    self.answer(json.dumps({"authorization_servers": [url]}).encode())
                elif self.path == "/.well-known/oauth-authorization-server":
                    meta = {
                        "issuer": url,
                        "authorization_endpoint": f"{url}/authorize",
                        "token_endpoint": f"{url}/token",
                        "pushed_authorization_request_endpoint": f"{url}/par",
                        "code_challenge_methods_supported": ["S256"],
                        "dpop_signing_alg_values_supported": ["ES256"],
                        "scopes_supported": ["atproto"],
                    }
                    self.answer(json.dumps(meta).encode())
                elif self.path.startswith("/xrpc/"):
                    self.answer(hostile.par_body)
                else:
                    self.send_error(404)

            def do_POST(self) -> None:  # noqa: N802
                """Answer PAR as told."""
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                content_type = "application/json" if hostile.par_body[:1] == b"{" else "text/html"
                self.answer(hostile.par_body, content_type)

        self.stop = threading.Event()
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving, ending any trickle."""
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def hostile():
    """Return a hostile authorization server on loopback."""
    server = HostileServer()
    yield server
    server.close()


def start_sign_in(client, server_url: str):
    """Type the server's address into the Bluesky sign-in form."""
    return client.post(
        "/login/bluesky", data={"handle": server_url}, base_url="http://127.0.0.1:5000"
    )


def test_a_well_behaved_server_gets_the_person_sent_there(client, hostile):
    """The hostile server's discovery is sound: by default the sign-in goes ahead."""
    response = start_sign_in(client, hostile.url)
    assert response.status_code == 302, page_text(response)
    assert response.headers["Location"].startswith(f"{hostile.url}/authorize?")


def test_an_answer_that_isnt_json_is_a_clear_refusal(client, hostile):
    """A PAR answer that isn't JSON is refused in words, the entry kept."""
    hostile.par_body = b"<html>Welcome!</html>"
    response = start_sign_in(client, hostile.url)
    assert response.status_code == 422
    assert "Your Bluesky server refused to start the sign-in" in page_text(response)
    assert "not JSON" in page_text(response)


def test_a_huge_answer_is_not_read(client, hostile):
    """An answer over a megabyte is cut off and refused, not read whole."""
    padding = "x" * (2 * 1024 * 1024)
    hostile.par_body = json.dumps(
        {"request_uri": "urn:ietf:params:oauth:request_uri:x", "padding": padding}
    ).encode()
    response = start_sign_in(client, hostile.url)
    assert response.status_code == 422
    assert "Your Bluesky server didn't answer" in page_text(response)


def test_an_answer_trickling_in_is_given_up_by_the_deadline(app, client, hostile):
    """Each byte comes well within the read timeout, the whole answer not by the deadline."""
    app.config["FETCH_DEADLINE"] = 1
    hostile.trickle = 0.1
    response = start_sign_in(client, hostile.url)
    assert response.status_code == 422
    assert "Your Bluesky server didn't answer" in page_text(response)


def test_a_huge_xrpc_answer_is_not_read(app, make_user, hostile):
    """A PDS answering a call with more than a megabyte gets no further than the cap."""
    hostile.par_body = json.dumps({"did": "did:plc:x", "padding": "x" * (2 * 1024 * 1024)})
    hostile.par_body = hostile.par_body.encode()
    account = BlueskyAccount(
        user=make_user("alice"),
        did="did:plc:x",
        handle="x.test",
        pds_url=hostile.url,
        kind="app_password",
        access_token=crypto.encrypt("access"),
    )
    db.session.add(account)
    db.session.commit()
    with pytest.raises(requests.RequestException, match="larger than"):
        Client(account).get("com.atproto.server.getSession")


@pytest.mark.parametrize("expires_in", ["1e400", str(10**30), "-5", "NaN", "true"])
def test_a_tokens_lifetime_is_believed_within_a_year(app, expires_in):
    """An absurd expires_in neither breaks the sign-in nor makes a token last for ever."""
    response = requests.Response()
    response.status_code = 200
    response._content = (
        b'{"access_token": "a", "token_type": "DPoP", "scope": "atproto", "sub": "did:plc:x", '
        b'"expires_in": ' + expires_in.encode() + b"}"
    )
    asked_at = utcnow()
    tokens = oauth.read_tokens(response)
    if tokens.expires_at is not None:
        assert asked_at <= tokens.expires_at <= utcnow() + timedelta(days=365)


def test_a_state_that_isnt_ascii_is_a_mismatch_not_a_crash(client):
    """A callback whose state has characters beyond ASCII says the link didn't match."""
    with client.session_transaction() as session:
        session["bluesky_sign_in"] = {
            "sealed": crypto.encrypt(json.dumps({"state": "s1", "issuer": "http://x"}))
        }
    response = client.get("/auth/bluesky/callback?code=c&state=%C3%A9t%C3%A9&iss=http://x")
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert "That sign-in link didn't match the one we started" in page_text(page)
