"""The compose page's Bluesky preview in a real browser: the post rebuilt and counted as the
person types, shortened with "…" past 300 graphemes, the mention and link kept."""

from __future__ import annotations

import grapheme
from playwright.sync_api import expect

from tests.browser_support import Phone, screenshot
from tests.fixtures.browser import add_business
from tests.fixtures.people import PASSWORD
from webapp.extensions import db
from webapp.infra import crypto
from webapp.models import BlueskyAccount
from webapp.networks.bluesky import text
from webapp.services import accounts


def test_the_bluesky_preview_follows_the_story(live_app, open_phone) -> None:
    with live_app.app_context():
        user = accounts.create_user("alice", PASSWORD)
        db.session.add(
            BlueskyAccount(
                user=user,
                did="did:plc:alice",
                handle="alice.test",
                pds_url="http://127.0.0.1:1",
                kind="app_password",
                access_token=crypto.encrypt("unused"),
            )
        )
        db.session.commit()
    slug = add_business(live_app, "Corner Bakery", bluesky_handle="corner-bakery.test")
    phone: Phone = open_phone()
    page = phone.visit("/login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").tap()
    expect(page.get_by_role("link", name="Me", exact=True)).to_be_visible()

    page = phone.visit(f"/posts/new?business={slug}")
    expect(page.get_by_label("Also post to my Bluesky account")).to_be_checked()
    preview = page.locator("#bluesky-preview")
    expect(preview).to_contain_text("from @alice.test")
    shown = preview.locator(".status-text")
    expect(shown).to_contain_text("@corner-bakery.test #CustomerServiceWin")

    story = "Warm bread, kind words — merci ☕ "
    page.get_by_label("What happened?").fill(story)
    expect(shown).to_contain_text(story.strip())
    posted = shown.text_content()
    expect(page.locator("#bluesky-count")).to_have_text(str(grapheme.length(posted)))
    expect(page.locator("#bluesky-bytes")).to_have_text(f"{len(posted.encode()):,}")

    page.get_by_label("What happened?").fill(story * 20)
    expect(preview).to_have_class("preview over")
    expect(preview.locator(".shorten-note")).to_be_visible()
    posted = shown.text_content()
    assert grapheme.length(posted) <= text.MAX_GRAPHEMES
    link = page.url.split("/posts/new")[0] + "/posts/new"
    assert posted.endswith(f"…\n\n@corner-bakery.test #CustomerServiceWin\n{text.shown_link(link)}")
    # The server, sending the same story, shortens it the same way.
    server = text.compose(
        (story * 20).strip(),
        kind="praise",
        business_name="Corner Bakery",
        handle="corner-bakery.test",
        link=link,
    )
    assert posted == server.text
    phone.check_page()
    screenshot(page, "bluesky-compose-preview")
