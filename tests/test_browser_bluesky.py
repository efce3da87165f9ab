"""Sign in with Bluesky for real: Chromium on a 360 px phone, the local PDS's own sign-in and
consent pages, and the PDS sending the person back to the live app on loopback.

The PDS sets `Secure` cookies even over http, which only a browser keeps: that is why the
round trip runs in Chromium. Afterwards the tokens are renewed (DPoP-bound, against the PDS's
authorization server), revoked there, and the person is asked to reconnect.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import expect

from tests.fixtures.browser import add_user, consent_on_the_pds
from tests.fixtures.people import PASSWORD
from tests.test_bluesky_signin import race_renewals
from webapp.extensions import db
from webapp.infra import crypto
from webapp.models import BlueskyAccount, utcnow
from webapp.networks.bluesky import dpop, oauth, signin
from webapp.networks.bluesky.auth import Binding, SessionEnded
from webapp.networks.bluesky.client import Client

pytestmark = pytest.mark.browser


def stored(app: Flask, did: str) -> BlueskyAccount:
    """Read the connection for a DID afresh."""
    db.session.expire_all()
    return db.session.scalar(sa.select(BlueskyAccount).where(BlueskyAccount.did == did))


def test_sign_in_with_bluesky_then_renew_then_revoke(small_phone, bluesky_site, atproto_network):
    """A handle is enough: the PDS asks for the password, we get DPoP-bound tokens, renew
    them when they end, and once revoked the person is asked to reconnect."""
    app, _ = bluesky_site
    gus = atproto_network.create_account("gus")
    page = small_phone.visit("/login")
    page.get_by_role("link", name="Sign in with Bluesky").click()
    page.get_by_label("Your Bluesky handle or server").fill(f"@{gus.handle}")
    page.get_by_role("button", name="Continue to my server").click()
    expect(page.get_by_role("textbox", name="Username or Email")).to_have_value(gus.handle)
    consent_on_the_pds(page, gus.password)
    expect(page.get_by_text(f"Signed in as @{gus.handle}.")).to_be_visible()
    small_phone.check_page()
    settings = small_phone.visit("/settings")
    expect(settings.locator("#bluesky")).to_contain_text(f"Connected as @{gus.handle}.")

    with app.app_context():
        account = stored(app, gus.did)
        assert account.kind == "oauth"
        assert account.issuer == atproto_network.pds_url
        assert "atproto" in account.scopes.split()
        binding = Binding.loads(crypto.decrypt(account.dpop_key))
        assert binding.client_id.startswith("http://localhost?redirect_uri=")
        # The access token ends: it is renewed against the authorization server, with DPoP.
        version, refresh = account.token_version, crypto.decrypt(account.refresh_token)
        account.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        assert Client(account).get("com.atproto.server.getSession")["did"] == gus.did
        account = stored(app, gus.did)
        assert account.token_version == version + 2
        assert crypto.decrypt(account.refresh_token) != refresh
        # Ended again, and two workers find it so at once: one renewal, both carry on.
        account.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        seen = race_renewals(app, gus.did)
        assert seen[0][1] == seen[1][1]
        account = stored(app, gus.did)
        assert account.token_version == version + 4
        assert not account.needs_login
        profile = Client(account).get(
            "app.bsky.actor.getProfile", {"actor": gus.did}, proxy_appview=True
        )
        assert profile["handle"] == gus.handle
        # Revoked at the server (as disconnecting does): the next renewal is refused.
        assert signin.revoke(account)
        account.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        with pytest.raises(SessionEnded):
            Client(account).get("com.atproto.server.getSession")
        assert stored(app, gus.did).needs_login

    page = small_phone.visit("/settings")
    expect(page.get_by_role("alert")).to_contain_text(
        "Your Bluesky server no longer accepts our sign-in"
    )
    expect(page.get_by_role("link", name="Reconnect Bluesky")).to_be_visible()


def test_connect_bluesky_from_settings_then_disconnect(small_phone, bluesky_site, atproto_network):
    """Someone with a password connects Bluesky beside it, and disconnecting revokes it."""
    app, _ = bluesky_site
    add_user(app, "hana")
    ida = atproto_network.create_account("ida")
    page = small_phone.visit("/login")
    page.get_by_label("Username").fill("hana")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    page = small_phone.visit("/settings")
    page.get_by_role("link", name="Connect Bluesky").click()
    page.get_by_label("Your Bluesky handle or server").fill(ida.handle)
    page.get_by_role("button", name="Continue to my server").click()
    consent_on_the_pds(page, ida.password)
    expect(page.get_by_text(f"Connected to @{ida.handle}.")).to_be_visible()
    expect(page.locator("#bluesky")).to_contain_text(f"Connected as @{ida.handle}.")
    with app.app_context():
        account = stored(app, ida.did)
        binding = Binding.loads(crypto.decrypt(account.dpop_key))
        refresh = crypto.decrypt(account.refresh_token)
    page.get_by_role("button", name="Disconnect Bluesky and revoke access").click()
    expect(
        page.get_by_text("Praisewall can no longer post to your Bluesky account")
    ).to_be_visible()
    expect(page.get_by_role("link", name="Connect Bluesky")).to_be_visible()
    with app.app_context():
        assert stored(app, ida.did) is None
        # Revoked at the authorization server: the refresh token renews nothing now.
        with pytest.raises(oauth.OAuthRefused) as refused:
            oauth.refresh(
                binding.token_endpoint, binding.client_id, refresh, dpop.load(binding.jwk), {}
            )
        assert refused.value.error == "invalid_grant"


def test_saying_no_on_the_pds_signs_nobody_in(small_phone, bluesky_site, atproto_network):
    """Deny access on the consent page: back on Praisewall, told so, signed in as nobody."""
    app, _ = bluesky_site
    kim = atproto_network.create_account("kim")
    page = small_phone.visit("/login/bluesky")
    page.get_by_label("Your Bluesky handle or server").fill(kim.handle)
    page.get_by_role("button", name="Continue to my server").click()
    page.get_by_role("textbox", name="Password").fill(kim.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Deny access").click()
    expect(page.get_by_text("Sign-in was cancelled on your Bluesky server.")).to_be_visible()
    expect(page.get_by_role("link", name="Log in", exact=True)).to_be_visible()
    with app.app_context():
        assert stored(app, kim.did) is None
