"""Passkeys in Debian's Chromium at 360 px, with a virtual authenticator standing in for the
phone's fingerprint reader: sign up, sign out, sign back in; and the page without script."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import expect

from tests.browser_support import PHONE, SMALL_PHONE, LiveServer, Phone, screenshot
from webapp.extensions import db
from webapp.models import Passkey, User

pytestmark = pytest.mark.browser


@pytest.fixture
def phone_on_localhost(browser, live_server: LiveServer) -> Iterator[Phone]:
    """Return a 360 px phone that opens the live server as http://localhost.

    Passkeys need a secure context and a domain to belong to: 127.0.0.1 is an address, not a
    domain, while localhost is both a name and secure over plain http.
    """
    context = browser.new_context(viewport=SMALL_PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    yield Phone(context, live_server.url.replace("127.0.0.1", "localhost"))
    context.close()


def add_fingerprint_reader(phone: Phone) -> None:
    """Give the phone a platform authenticator that verifies its owner, through DevTools."""
    cdp = phone.context.new_cdp_session(phone.page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )


def passkeys_of(app: Flask, username: str) -> list[str]:
    """Return the names of the person's passkeys."""
    with app.app_context():
        user = db.session.scalars(sa.select(User).where(User.username == username)).one()
        return list(db.session.scalars(sa.select(Passkey.name).where(Passkey.user_id == user.id)))


def test_sign_up_sign_out_and_sign_in_with_a_passkey_on_a_small_phone(
    phone_on_localhost: Phone, live_app: Flask
):
    """No password anywhere: a username and a fingerprint make the account and open it again."""
    phone = phone_on_localhost
    add_fingerprint_reader(phone)
    page = phone.visit("/register")
    page.get_by_label("Username").fill("alice")
    page.get_by_role("button", name="Sign up with a passkey").tap()
    expect(page).to_have_url(re.compile(r"/posts/new$"))
    expect(page.get_by_text("Your passkey is your way in.")).to_be_visible()
    assert passkeys_of(live_app, "alice") == ["Passkey 1"]

    page = phone.visit("/settings")
    expect(page.get_by_text("Passkey 1", exact=True)).to_be_visible()
    expect(page.get_by_text("you lose your account")).to_be_visible()
    expect(page.get_by_role("button", name="Add a passkey")).to_be_visible()
    expect(page.get_by_text("open this page in a browser that supports them")).to_be_hidden()
    screenshot(page, "passkeys-settings")

    page.get_by_role("button", name="Log out").tap()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()

    page = phone.visit("/login")
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_visible()
    screenshot(page, "passkeys-login")
    page.get_by_role("button", name="Sign in with a passkey").tap()
    expect(page.get_by_role("link", name="Me", exact=True)).to_be_visible()
    page = phone.visit("/settings")
    expect(page.get_by_text(re.compile(r"last used"))).to_be_visible()
    phone.check_clean()


def test_without_script_the_passkey_buttons_stay_hidden(browser, live_server: LiveServer):
    """With JavaScript off, the forms work as before and no dead passkey button shows."""
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, java_script_enabled=False
    )
    try:
        phone = Phone(context, live_server.url)
        page = phone.visit("/login")
        expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_hidden()
        expect(page.get_by_role("link", name="Use a recovery code")).to_be_visible()
        page = phone.visit("/register")
        expect(page.get_by_role("button", name="Sign up with a passkey")).to_be_hidden()
        page.get_by_label("Username").fill("bob")
        page.get_by_label("Password", exact=True).fill("a long enough sentence")
        page.get_by_label("Password again").fill("a long enough sentence")
        page.get_by_role("button", name="Create my account").tap()
        expect(page.get_by_role("link", name="Me", exact=True)).to_be_visible()
        page = phone.visit("/settings")
        expect(page.get_by_role("button", name="Add a passkey")).to_be_hidden()
        expect(page.get_by_text("open this page in a browser that supports them")).to_be_visible()
    finally:
        context.close()
