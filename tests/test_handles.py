"""People are named by their real fediverse handle: user@<the server's handle domain>.

A server speaks for its own address only. A handle on another domain (a split-domain server,
whose people are @alice@example.com while its API answers at social.example.com) is believed
when WebFinger on that domain points at the very account that signed in; otherwise the person is
named by the server's address, and can't claim a business wall with the handle it claimed.

Every server here is a fake Mastodon on loopback. A handle domain is "localhost:PORT": the name
"localhost" leads to the same loopback server as "127.0.0.1", as a handle domain's web server
leads to its Mastodon.
"""

from __future__ import annotations

import socket

import pytest
import requests
from conftest import AuthActions, localhost, mastodon_sign_in
from fake_mastodon import FakeMastodon
from helpers import page_text

from webapp.extensions import db
from webapp.models import Business, MastodonAccount, MastodonServer, User
from webapp.networks.mastodon import handles as mastodon


def webfinger_requests(fake: FakeMastodon) -> list[dict]:
    """Return the WebFinger requests the fake answered."""
    return [r for r in fake.requests if r["path"] == "/.well-known/webfinger"]


def settings_text(client) -> str:
    """Return what the person reads on their settings page."""
    return page_text(client.get("/settings"))


def sign_in_as(app, fake: FakeMastodon, username: str):
    """Sign in with Mastodon in a fresh browser; return (browser, the callback's response)."""
    browser = app.test_client()
    response = mastodon_sign_in(browser, fake, username)
    assert response.status_code == 302, response.text
    return browser, response


# --- a split-domain server, proven by WebFinger ---


@pytest.mark.parametrize("redirect", [False, True], ids=["answers", "redirects"])
def test_a_split_domain_server_names_people_by_its_handle_domain(
    app, client, fake_mastodon, make_user, redirect
):
    handle_domain = localhost(fake_mastodon)
    # Its handle domain answers WebFinger itself, or redirects to the API host as documented.
    fake_mastodon.split_domain(handle_domain, redirect_webfinger=redirect)
    make_user("alice")
    AuthActions(client).login()

    response = mastodon_sign_in(client, fake_mastodon)

    assert response.status_code == 302
    assert f"Connected as @alice@{handle_domain}" in settings_text(client)
    compose = page_text(client.get("/posts/new"))
    assert f"The status as it will be posted from @alice@{handle_domain}" in compose
    export = client.get("/settings/export.json").json
    assert export["mastodon_account"]["acct"] == f"alice@{handle_domain}"
    asked = webfinger_requests(fake_mastodon)
    assert asked[0]["query"] == {"resource": f"acct:alice@{handle_domain}"}
    assert asked[0]["headers"]["Host"] == handle_domain
    assert len(asked) == (2 if redirect else 1)


def test_signing_in_with_a_split_domain_account_names_it_by_the_handle(app, fake_mastodon):
    fake_mastodon.split_domain(localhost(fake_mastodon))

    browser, _ = sign_in_as(app, fake_mastodon, "alice")

    assert f"Signed in as @alice@{localhost(fake_mastodon)}." in settings_text(browser)


def test_a_handle_domain_whose_webfinger_does_not_know_the_account_is_not_believed(
    app, fake_mastodon, harbour_server
):
    # The server says its people are on the other server's domain, which has no alice.
    fake_mastodon.split_domain(localhost(harbour_server))

    browser, _ = sign_in_as(app, fake_mastodon, "alice")

    text = settings_text(browser)
    assert f"Connected as @alice@{fake_mastodon.domain}" in text
    assert (
        f"Your server calls you @alice@{localhost(harbour_server)}, "
        f"but {localhost(harbour_server)} doesn't confirm it, "
        f"so on Praisewall you are @alice@{fake_mastodon.domain}."
    ) in text
    assert webfinger_requests(harbour_server)


def test_older_servers_name_their_domain_in_the_v1_instance_document(app, fake_mastodon):
    fake_mastodon.split_domain(localhost(fake_mastodon))
    # Before Mastodon 4.0 there is no v2 instance document; v1's "uri" is the handle domain.
    fake_mastodon.fail_next("GET", "/api/v2/instance", 404, times=9)

    browser, _ = sign_in_as(app, fake_mastodon, "alice")

    assert f"Signed in as @alice@{localhost(fake_mastodon)}." in settings_text(browser)


@pytest.mark.parametrize(
    ("path", "document"),
    [
        # GoToSocial: "domain" is its web host, "account_domain" the handle domain.
        ("/api/v2/instance", {"domain": "{api}", "account_domain": "{handles}"}),
        # Akkoma before v2: v1's "uri" is a URL.
        ("/api/v1/instance", {"uri": "http://{handles}"}),
    ],
    ids=["gotosocial", "akkoma"],
)
def test_other_server_software_names_its_handle_domain_its_own_way(
    app, fake_mastodon, path, document
):
    handles = localhost(fake_mastodon)
    fake_mastodon.split_domain(handles)
    if path == "/api/v1/instance":
        fake_mastodon.fail_next("GET", "/api/v2/instance", 404, times=9)
    body = {k: v.format(handles=handles, api=fake_mastodon.domain) for k, v in document.items()}
    fake_mastodon.fail_next("GET", path, 200, body=body)

    browser, _ = sign_in_as(app, fake_mastodon, "alice")

    assert f"Signed in as @alice@{handles}." in settings_text(browser)


def test_the_handle_domain_is_read_with_the_limits_once_and_kept(app, fake_mastodon):
    fake_mastodon.split_domain(localhost(fake_mastodon))
    for _ in range(2):
        sign_in_as(app, fake_mastodon, "alice")

    assert [r["path"] for r in fake_mastodon.requests].count("/api/v2/instance") == 1
    server = db.session.scalar(db.select(MastodonServer))
    assert server.handle_domain == localhost(fake_mastodon)


def test_a_server_row_from_before_handle_domains_reads_it_at_the_next_sign_in(app, fake_mastodon):
    sign_in_as(app, fake_mastodon, "alice")
    # A row saved before handle domains were kept, on a server that has split its domain since.
    server = db.session.scalar(db.select(MastodonServer))
    server.handle_domain = None
    db.session.commit()
    fake_mastodon.split_domain(localhost(fake_mastodon))

    browser, _ = sign_in_as(app, fake_mastodon, "alice")

    assert f"Signed in as @alice@{localhost(fake_mastodon)}." in settings_text(browser)


# --- a plain server: its own address is its handle domain, no WebFinger needed ---


def test_a_plain_server_names_people_by_its_address_without_webfinger(
    client, connected, fake_mastodon
):
    assert f"Connected as @alice@{fake_mastodon.domain}" in settings_text(client)
    compose = page_text(client.get("/posts/new"))
    assert f"The status as it will be posted from @alice@{fake_mastodon.domain}" in compose
    assert not webfinger_requests(fake_mastodon)


# --- a lying server: an acct on a domain it doesn't own ---


@pytest.fixture
def liar(fake_mastodon: FakeMastodon, harbour_server: FakeMastodon) -> FakeMastodon:
    """A server of someone's own, with an account "care" it calls care@<the other's domain>."""
    fake_mastodon.add_account("care")
    fake_mastodon.lie_about("care", acct=f"care@{localhost(harbour_server)}")
    return fake_mastodon


def test_a_lying_server_s_account_is_named_by_that_server_and_cannot_claim_the_wall(
    app, liar, harbour_server, harbour
):
    browser, _ = sign_in_as(app, liar, "care")

    text = settings_text(browser)
    assert f"Connected as @care@{liar.domain}" in text
    assert f"Your server calls you @care@{localhost(harbour_server)}, but" in text
    wall = page_text(browser.get(f"/b/{harbour.slug}"))
    assert "Claim this page" not in wall

    response = browser.post(f"/b/{harbour.slug}/claim")

    assert response.status_code == 403
    assert (
        f"Your Mastodon server says you are @care@{localhost(harbour_server)}, but "
        f"{localhost(harbour_server)} doesn't confirm it, so you can't claim this page."
    ) in page_text(response)
    db.session.expire_all()
    assert db.session.get(Business, harbour.id).owner_id is None
    # WebFinger was asked at the domain the liar named, never at the liar.
    assert webfinger_requests(harbour_server)
    assert not webfinger_requests(liar)


def test_a_liar_copying_the_real_account_s_addresses_is_not_believed(
    app, liar, harbour_server, harbour
):
    # WebFinger at the real domain points at these, but they aren't on the liar's host.
    real = harbour_server._find_account("care")
    liar.lie_about(
        "care", acct=f"care@{localhost(harbour_server)}", url=real["url"], uri=real["uri"]
    )

    browser, _ = sign_in_as(app, liar, "care")

    assert f"Connected as @care@{liar.domain}" in settings_text(browser)
    assert browser.post(f"/b/{harbour.slug}/claim").status_code == 403


def test_a_handle_stored_unchecked_is_checked_again_when_claiming(
    app, liar, harbour_server, harbour
):
    browser, _ = sign_in_as(app, liar, "care")
    # A connection saved before handles were checked kept the server's word for it.
    account = db.session.scalar(db.select(MastodonAccount))
    account.acct = f"care@{localhost(harbour_server)}"
    db.session.commit()

    response = browser.post(f"/b/{harbour.slug}/claim")

    assert response.status_code == 403
    assert "doesn't confirm it, so you can't claim this page" in page_text(response)
    db.session.expire_all()
    assert db.session.get(Business, harbour.id).owner_id is None
    assert db.session.get(MastodonAccount, account.id).acct == f"care@{liar.domain}"


def test_the_real_account_on_a_split_domain_server_claims_its_wall(app, harbour_server, harbour):
    browser, _ = sign_in_as(app, harbour_server, "care")
    assert f"Claim this page as @care@{localhost(harbour_server)}" in page_text(
        browser.get(f"/b/{harbour.slug}")
    )

    assert browser.post(f"/b/{harbour.slug}/claim").status_code == 302

    db.session.expire_all()
    owner = db.session.get(Business, harbour.id).owner
    assert isinstance(owner, User)
    assert owner.mastodon_account.acct == f"care@{localhost(harbour_server)}"


def test_a_lie_about_a_domain_nobody_answers_for_is_not_believed(app, fake_mastodon):
    # Port 9 on loopback: nothing answers there (discard), so WebFinger gets no answer.
    fake_mastodon.lie_about("alice", acct="alice@localhost:9")

    browser, _ = sign_in_as(app, fake_mastodon, "alice")

    assert f"Connected as @alice@{fake_mastodon.domain}" in settings_text(browser)


@pytest.mark.parametrize("acct", ["", "@x.example", "a b@x.example", "<b>care</b>"])
def test_a_server_naming_nobody_usable_is_refused_plainly(app, fake_mastodon, acct):
    fake_mastodon.lie_about("alice", acct=acct)
    browser = app.test_client()

    response = mastodon_sign_in(browser, fake_mastodon)

    assert response.status_code == 302
    page = page_text(browser.get(response.headers["Location"]))
    assert "Your server didn't tell us who you are. Try again." in page
    assert db.session.scalar(db.select(MastodonAccount)) is None


def test_in_production_webfinger_never_connects_inside_a_network(app, fake_mastodon, monkeypatch):
    """A handle domain is named by a server we don't trust, so it gets the checked transport."""
    app.config["MASTODON_ALLOW_INSECURE"] = False
    fake_mastodon.split_domain(localhost(fake_mastodon))
    connects = []
    guarded = socket.socket.connect
    monkeypatch.setattr(
        socket.socket,
        "connect",
        lambda sock, address: connects.append(address) or guarded(sock, address),
    )
    me = {"url": "https://social.example/@alice", "uri": "https://social.example/users/alice"}

    confirmed = mastodon.webfinger_confirms(
        f"alice@{localhost(fake_mastodon)}", "https://social.example", me
    )

    assert not confirmed
    assert connects == []
    assert not webfinger_requests(fake_mastodon)


# --- the fake server behaves like such servers ---


def test_the_fake_serves_webfinger_and_instance_documents_for_its_handle_domain(fake_mastodon):
    handles = localhost(fake_mastodon)
    fake_mastodon.split_domain(handles)
    webfinger = f"{fake_mastodon.url}/.well-known/webfinger"

    found = requests.get(webfinger, params={"resource": f"acct:alice@{handles}"}, timeout=5)
    unknown = requests.get(webfinger, params={"resource": f"acct:nobody@{handles}"}, timeout=5)
    elsewhere = requests.get(webfinger, params={"resource": "acct:alice@other.example"}, timeout=5)
    v2 = requests.get(f"{fake_mastodon.url}/api/v2/instance", timeout=5).json()
    v1 = requests.get(f"{fake_mastodon.url}/api/v1/instance", timeout=5).json()

    assert found.headers["Content-Type"].startswith("application/jrd+json")
    assert found.json()["subject"] == f"acct:alice@{handles}"
    self_link = next(link for link in found.json()["links"] if link["rel"] == "self")
    assert self_link["href"] == f"{fake_mastodon.url}/users/alice"
    assert (unknown.status_code, elsewhere.status_code) == (404, 404)
    assert v2["domain"] == v1["uri"] == handles


def test_the_fake_redirects_webfinger_reached_by_the_handle_domain_s_name(fake_mastodon):
    handles = localhost(fake_mastodon)
    fake_mastodon.split_domain(handles, redirect_webfinger=True)

    response = requests.get(
        f"http://{handles}/.well-known/webfinger",
        params={"resource": f"acct:alice@{handles}"},
        allow_redirects=False,
        timeout=5,
    )

    assert response.status_code == 301
    assert response.headers["Location"].startswith(f"{fake_mastodon.url}/.well-known/webfinger?")


def test_the_lying_fake_says_what_it_is_told_about_an_account(fake_mastodon):
    fake_mastodon.lie_about("alice", acct="care@bank.example")
    token = fake_mastodon.create_token("alice")

    me = requests.get(
        f"{fake_mastodon.url}/api/v1/accounts/verify_credentials",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ).json()

    assert me["acct"] == "care@bank.example"
    assert me["url"] == f"{fake_mastodon.url}/@alice"
