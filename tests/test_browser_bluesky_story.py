"""The whole story on a 360 px phone: sign in with Bluesky on the local PDS's own pages, connect
Mastodon (the fake server) beside it, praise a business on both networks, see both posts sent,
and see the business's Bluesky reply on the post's page and in its wall's numbers.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from fake_mastodon import FakeMastodon
from playwright.sync_api import Page, expect

from tests.browser_support import Phone
from tests.fixtures.app import run_queued_tasks
from tests.fixtures.bluesky import AtprotoNetwork
from tests.fixtures.browser import add_business, consent_on_the_pds
from webapp import tasks
from webapp.extensions import db
from webapp.models import Business, Crosspost, CrosspostState, utcnow

pytestmark = pytest.mark.browser

POST = "app.bsky.feed.post"


def number(page: Page, label: str):
    """Return the value beside a label in a business's numbers."""
    return page.locator(".numbers div", has=page.locator("dt", has_text=label)).locator("dd")


def test_praise_on_both_networks_and_the_bluesky_reply(
    small_phone: Phone, bluesky_site, atproto_network: AtprotoNetwork, fake_mastodon: FakeMastodon
) -> None:
    """Bluesky sign-in, Mastodon beside it, one praise sent to both, the reply counted."""
    app, _ = bluesky_site
    net, fake = atproto_network, fake_mastodon
    gus, shop = net.create_account("gus"), net.create_account("bakery")
    fake.add_account("bakery", display_name="Corner Bakery")
    slug = add_business(app, "Corner Bakery", bluesky_handle=shop.handle)
    with app.app_context():
        # Set directly: a handle on a loopback test server has a port, which the form refuses.
        db.session.execute(
            sa.update(Business).where(Business.slug == slug).values(handle=f"@bakery@{fake.domain}")
        )
        db.session.commit()

    # Sign in with Bluesky: the PDS asks for the password and for consent on its own pages.
    page = small_phone.visit("/login")
    page.get_by_role("link", name="Sign in with Bluesky").click()
    page.get_by_label("Your Bluesky handle or server").fill(gus.handle)
    page.get_by_role("button", name="Continue to my server").click()
    consent_on_the_pds(page, gus.password)
    expect(page.get_by_text(f"Signed in as @{gus.handle}.")).to_be_visible()

    # Connect Mastodon from the settings, approving the app on the fake server.
    page = small_phone.visit("/settings")
    page.get_by_role("link", name="Connect Mastodon").click()
    page.get_by_label("Your Mastodon handle or server").fill(f"alice@{fake.domain}")
    page.get_by_role("button", name="Continue to my server").click()
    expect(page.get_by_role("heading", name="Authorization required")).to_be_visible()
    page.get_by_label("Username").fill("alice")
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_text(f"Connected to @alice@{fake.domain}.")).to_be_visible()
    small_phone.check_page()

    # Praise the bakery with both switches on.
    page = small_phone.visit(f"/posts/new?business={slug}")
    page.get_by_role("radio", name="Praise", exact=True).check()
    expect(page.get_by_label("Also post to my Mastodon account")).to_be_checked()
    expect(page.get_by_label("Also post to my Bluesky account")).to_be_checked()
    expect(page.locator("#bluesky-preview")).to_contain_text(f"@{shop.handle}")
    story = "They stayed open late so I could pick up the birthday cake."
    page.get_by_label("What happened?").fill(story)
    small_phone.check_page()
    page.get_by_role("button", name="Post it").tap()
    expect(page).to_have_url(re.compile(r"/posts/\d+$"))
    post_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_text("Sending to Mastodon…")).to_be_visible()
    expect(page.get_by_text("Sending to Bluesky…")).to_be_visible()

    # The queued deliveries run, as the worker would.
    with app.app_context():
        run_queued_tasks()
        rows = {
            row.network: row
            for row in db.session.scalars(sa.select(Crosspost).where(Crosspost.post_id == post_id))
        }
        assert {n: r.state for n, r in rows.items()} == {
            "mastodon": CrosspostState.SENT,
            "bluesky": CrosspostState.SENT,
        }, [r.last_error for r in rows.values()]
        bluesky_key, mastodon_id = rows["bluesky"].remote_id, rows["mastodon"].remote_id

    page.reload()
    on_mastodon = page.locator(".crosspost", has_text="Sent to Mastodon.")
    on_bluesky = page.locator(".crosspost", has_text="Sent to Bluesky.")
    expect(on_mastodon.get_by_role("link", name="See it there")).to_have_attribute(
        "href", f"{fake.url}/@alice/{mastodon_id}"
    )
    expect(on_bluesky.get_by_role("link", name="See it there")).to_have_attribute(
        "href", f"https://bsky.app/profile/{gus.did}/post/{bluesky_key}"
    )
    small_phone.check_page()
    # Each network got the story once, naming the business so it is notified.
    [status] = fake.statuses
    assert status["mentions"] == ["bakery"]
    assert story in status["status"]
    [record] = net.list_records(gus.did, POST)
    assert story in record["value"]["text"]
    assert any(
        feature.get("did") == shop.did
        for facet in record["value"]["facets"]
        for feature in facet["features"]
    )

    # The bakery answers on Bluesky; the reply watch, once due, finds it.
    net.post(
        shop, "Happy birthday! See you soon.", reply_to={"uri": record["uri"], "cid": record["cid"]}
    )
    net.process_all()
    with app.app_context():
        db.session.execute(
            sa.update(Crosspost)
            .where(Crosspost.post_id == post_id)
            .values(next_reply_check_at=utcnow())
        )
        db.session.commit()
        tasks.sweep.call_local()
        assert run_queued_tasks() == 2  # one check per network

    page.reload()
    bakery_reply = re.compile("^" + re.escape(f"https://bsky.app/profile/{shop.did}/post/"))
    expect(page.get_by_text(re.compile(r"^Corner Bakery replied after \d+"))).to_be_visible()
    expect(page.get_by_role("link", name="Read the reply on Bluesky")).to_have_attribute(
        "href", bakery_reply
    )
    expect(page.get_by_role("blockquote")).to_contain_text("Happy birthday! See you soon.")
    small_phone.check_page()

    page = small_phone.visit(f"/b/{slug}")
    expect(number(page, "Praise")).to_have_text("1")
    expect(number(page, "Replies")).to_have_text("100%")
    expect(page.get_by_text("Answers: 1 on Bluesky")).to_be_visible()
    # The post on the wall says where the answer came from.
    expect(page.get_by_text("Corner Bakery replied on Bluesky")).to_be_visible()
    expect(page.get_by_role("link", name="See the reply")).to_have_attribute("href", bakery_reply)
    small_phone.check_clean(allowed=(fake.url + "/", net.pds_url + "/"))
