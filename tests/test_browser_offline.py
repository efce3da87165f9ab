"""Phone-first in Debian's Chromium at 390×844: drafts, the offline outbox, install, sharing."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, AuthActions, add_business, add_user, mastodon_sign_in
from fake_mastodon import FakeMastodon
from flask import Flask
from playwright.sync_api import Page, expect

from tests.browser_support import LiveServer, Phone, screenshot
from webapp.extensions import db
from webapp.infra import queue
from webapp.models import Crosspost, Post

pytestmark = pytest.mark.browser

STORY = "They stayed open ten minutes late so I could pick up the birthday cake."
WAITING = "1 post waiting — it will send when you're back online"
DELIVERY_SECONDS = 20
OFFLINE_ERROR = "net::ERR_INTERNET_DISCONNECTED"
HANDLE = "@support@cornerbakery.example"


@pytest.fixture
def live_server(live_app: Flask) -> Iterator[LiveServer]:
    """Serve the app on a loopback port, with its queue worker running as `flask serve` runs it."""
    server = LiveServer(live_app).start()
    consumer = queue.start_in_process(workers=1)
    yield server
    consumer.stop(graceful=True)
    server.stop()


def count(app: Flask, model: type) -> int:
    """Count a model's rows."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def log_in(phone: Phone, username: str = "alice") -> Page:
    """Log in through the form."""
    page = phone.visit("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").tap()
    expect(page.get_by_role("link", name="Me", exact=True)).to_be_visible()
    return page


def accept_leaving(page: Page) -> list[str]:
    """Say yes to "leave this page?" and note each time it was asked."""
    asked: list[str] = []

    def answer(dialog) -> None:
        """Accept the dialog, noting its type."""
        asked.append(dialog.type)
        dialog.accept()

    page.on("dialog", answer)
    return asked


def test_a_draft_comes_back_after_a_reload_and_a_closed_tab(
    live_app: Flask, open_phone: Callable[..., Phone]
) -> None:
    """Words typed into compose survive a reload and a closed tab; leaving asks first."""
    add_user(live_app)
    phone = open_phone()
    log_in(phone)
    page = phone.visit("/posts/new")
    page.get_by_role("radio", name="Complaint", exact=True).check()
    page.get_by_label("What happened?").press_sequentially(STORY)
    page.get_by_label("What would make it right?").fill("An apology.")
    asked = accept_leaving(page)
    page.reload()
    assert asked == ["beforeunload"]
    expect(page.get_by_label("What happened?")).to_have_value(STORY)
    expect(page.get_by_label("What would make it right?")).to_have_value("An apology.")
    expect(page.get_by_role("radio", name="Complaint", exact=True)).to_be_checked()
    expect(page.locator("#draft-note")).to_contain_text("Your unsent words are back")
    key = page.locator("input[name=submission_key]").input_value()
    assert re.fullmatch(r"[0-9a-f-]{36}", key)
    phone.check_page()
    screenshot(page, "compose-draft-restored")

    # A closed tab (or a crash) loses nothing either: the draft lives on the device.
    page.close(run_before_unload=False)
    phone.page = phone.context.new_page()
    page = phone.visit("/posts/new")
    expect(page.get_by_label("What happened?")).to_have_value(STORY)
    assert page.locator("input[name=submission_key]").input_value() == key

    # Starting over empties the form and forgets the draft.
    page.get_by_role("button", name="Start over").tap()
    expect(page.get_by_label("What happened?")).to_have_value("")
    page.reload()
    expect(page.get_by_label("What happened?")).to_have_value("")
    expect(page.locator("#draft-note")).to_be_hidden()
    phone.check_clean()


def test_a_post_made_offline_is_sent_once_when_back_online(
    live_app: Flask, open_phone: Callable[..., Phone], fake_mastodon: FakeMastodon
) -> None:
    """Offline, the post waits on the phone; back online it goes once, with one status."""
    add_user(live_app)
    add_business(live_app, handle=HANDLE)
    # Connect alice's Mastodon account as the OAuth test does, before the phone opens.
    live_app.config["WTF_CSRF_ENABLED"] = False
    client = live_app.test_client()
    AuthActions(client).login()
    assert mastodon_sign_in(client, fake_mastodon).status_code == 302
    live_app.config["WTF_CSRF_ENABLED"] = True

    phone = open_phone()
    log_in(phone)
    page = phone.visit("/posts/new")
    page.get_by_role("combobox", name="Business").fill("Corner Bakery")
    page.get_by_label("What happened?").fill(STORY)
    expect(page.get_by_label("Also post to my Mastodon account")).to_be_checked()

    phone.context.set_offline(True)
    page.get_by_role("button", name="Post it").tap()
    outbox = page.locator("#outbox")
    expect(outbox).to_have_text(WAITING)
    # Tapping again while waiting doesn't make a second post.
    page.get_by_role("button", name="Post it").tap()
    expect(outbox).to_have_text(WAITING)
    assert count(live_app, Post) == 0
    phone.check_page()
    screenshot(page, "compose-offline-waiting")

    phone.context.set_offline(False)
    expect(page).to_have_url(re.compile(re.escape(phone.base_url) + r"/posts/\d+$"))
    expect(page.get_by_text("Posted. Thank you for saying it in public.")).to_be_visible()
    expect(page.locator("article.permalink")).to_contain_text(STORY)
    assert page.evaluate("localStorage.getItem('praisewall:outbox')") is None

    deadline = time.monotonic() + DELIVERY_SECONDS
    while not fake_mastodon.statuses and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # room for a second status, were one on its way
    assert count(live_app, Post) == 1
    assert count(live_app, Crosspost) == 1
    assert len(fake_mastodon.statuses) == 1, fake_mastodon.statuses
    assert STORY in fake_mastodon.statuses[0]["status"]

    # Nothing is left over: the next compose starts empty, with a new key.
    page = phone.visit("/posts/new")
    expect(page.get_by_label("What happened?")).to_have_value("")
    expect(page.locator("#draft-note")).to_be_hidden()
    # The browser itself logs what couldn't load while offline (here, the type-ahead's search).
    phone.check_clean(allowed=(fake_mastodon.url + "/",), expected_errors=(OFFLINE_ERROR,))


def test_a_waiting_post_the_server_refuses_comes_back_to_the_form(
    live_app: Flask, open_phone: Callable[..., Phone]
) -> None:
    """A waiting post with a problem the server finds comes back with its words and the reason."""
    add_user(live_app)
    phone = open_phone()
    log_in(phone)
    page = phone.visit("/posts/new")
    page.get_by_label("What happened?").fill(STORY)  # but no business named
    phone.context.set_offline(True)
    page.get_by_role("button", name="Post it").tap()
    expect(page.locator("#outbox")).to_have_text(WAITING)
    phone.context.set_offline(False)
    expect(page.get_by_text("Which business was it?")).to_be_visible()
    expect(page.get_by_label("What happened?")).to_have_value(STORY)
    assert count(live_app, Post) == 0
    assert page.evaluate("localStorage.getItem('praisewall:outbox')") is None
    # Chromium logs the outbox's refused request, as it does any 4xx answer.
    phone.check_clean(expected_errors=("status of 422",))


def test_share_links_on_a_post(live_app: Flask, open_phone: Callable[..., Phone]) -> None:
    """A public post offers the share sheet where there is one, and plain links to elsewhere."""
    add_user(live_app)
    add_business(live_app, "Bread & Butter", handle=HANDLE)
    phone = open_phone(permissions=["clipboard-read", "clipboard-write"])
    log_in(phone)
    page = phone.visit("/posts/new")
    page.get_by_role("combobox", name="Business").fill("Bread & Butter")
    page.get_by_label("What happened?").fill(STORY)
    page.get_by_role("button", name="Post it").tap()
    expect(page).to_have_url(re.compile(r"/posts/\d+$"))
    url = page.url
    text = "Praise for Bread & Butter on Praisewall"

    def enc(value: str) -> str:
        """Encode a query value whole."""
        return quote(value, safe="")

    share = page.locator("section.share")
    expected = {
        "Mastodon": f"/share/mastodon?text={enc(text + ' ' + url)}",
        "Bluesky": f"https://bsky.app/intent/compose?text={enc(text + ' ' + url)}",
        "X": f"https://x.com/intent/post?text={enc(text)}&url={enc(url)}",
        "Facebook": f"https://www.facebook.com/sharer/sharer.php?u={enc(url)}",
        "LinkedIn": f"https://www.linkedin.com/sharing/share-offsite/?url={enc(url)}",
        "Email": f"mailto:?subject={enc(text)}&body={enc(text + chr(10) * 2 + url)}",
    }
    for label, href in expected.items():
        expect(share.get_by_role("link", name=label, exact=True)).to_have_attribute("href", href)
    expect(share.get_by_label("Link")).to_have_value(url)
    has_share_sheet = page.evaluate("() => typeof navigator.share === 'function'")
    share_button = share.get_by_role("button", name="Share…")
    expect(share_button).to_be_visible() if has_share_sheet else expect(share_button).to_be_hidden()
    share.get_by_role("button", name="Copy link").tap()
    expect(share.get_by_role("status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == url
    phone.check_page()
    screenshot(page, "post-share-links")

    # Mastodon: say which server, and the browser goes there (we never call it ourselves).
    page.route("https://social.example/**", lambda route: route.fulfill(body="shared"))
    share.get_by_role("link", name="Mastodon", exact=True).tap()
    expect(page.get_by_role("heading", name="Share on Mastodon")).to_be_visible()
    phone.check_page()
    page.get_by_label("Your Mastodon server").fill("not a server")
    page.get_by_role("button", name="Open my server's share page").tap()
    expect(page.get_by_text("That doesn't look like a server name.")).to_be_visible()
    page.get_by_label("Your Mastodon server").fill("@alice@social.example")
    page.get_by_role("button", name="Open my server's share page").tap()
    expect(page).to_have_url(f"https://social.example/share?text={enc(text + ' ' + url)}")
    # The refused server name above was a 422 page, which Chromium logs.
    phone.check_clean(allowed=("https://social.example/",), expected_errors=("status of 422",))


def test_installable_with_a_manifest_and_a_working_service_worker(
    live_app: Flask, open_phone: Callable[..., Phone]
) -> None:
    """The manifest and service worker load; offline, a page falls back to the offline page."""
    phone = open_phone()
    page = phone.visit("/")
    manifest = page.evaluate(
        """() => fetch(document.querySelector('link[rel=manifest]').href).then((r) => r.json())"""
    )
    assert manifest["display"] == "standalone"
    assert manifest["share_target"]["action"] == "/posts/new"
    for icon in manifest["icons"]:
        size = page.evaluate(
            """(src) => new Promise((done) => { const img = new Image();
                img.onload = () => done(img.naturalWidth + "x" + img.naturalHeight);
                img.onerror = () => done("broken"); img.src = src; })""",
            icon["src"],
        )
        assert size == icon["sizes"], icon
    worker = page.evaluate(
        "() => navigator.serviceWorker.ready.then((r) => new URL(r.active.scriptURL).pathname)"
    )
    assert worker == "/sw.js"
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")

    phone.context.set_offline(True)
    page.goto(phone.base_url + "/wall")
    expect(page.get_by_role("heading", name="You're offline")).to_be_visible()
    phone.check_page()
    screenshot(page, "offline-page")
    phone.context.set_offline(False)
    page.get_by_role("link", name="Try again").tap()
    expect(page.get_by_role("heading", name="You're offline")).to_be_hidden()
    expect(page).to_have_url(phone.base_url + "/wall")
    phone.check_clean()
