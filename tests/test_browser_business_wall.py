"""A business's wall and its widget in Debian's Chromium, on a 360 px phone and in an iframe."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect

from tests.browser_support import ARTIFACTS, SMALL_PHONE, LiveServer, Phone, screenshot
from webapp.extensions import db
from webapp.models import Crosspost, Post, utcnow
from webapp.services import accounts, businesses

pytestmark = pytest.mark.browser


@pytest.fixture
def live_app(live_app: Flask) -> Flask:
    """Return the shared live app, with CSRF off: these tests only read pages."""
    live_app.config["WTF_CSRF_ENABLED"] = False
    return live_app


@pytest.fixture
def slug(live_app: Flask) -> str:
    """A bakery with weeks of praise and complaints, a reply, and a fixed complaint."""
    with live_app.app_context():
        bob = accounts.create_user("bob", "correct horse battery")
        shop = businesses.create_business("Corner Bakery", handle="@support@cornerbakery.example")
        now = utcnow()

        def post(**fields) -> Post:
            """Add one post."""
            values = {
                "author": bob,
                "business": shop,
                "kind": "praise",
                "body": "Warm bread and a warmer welcome.",
                "happened_on": date.today(),
                "channel": "in_person",
            }
            values.update(fields)
            made = Post(**values)
            db.session.add(made)
            return made

        for n in range(24):
            post(created_at=now - timedelta(days=n * 3.5), rating=n % 5 + 1)
            if n % 4 == 0:
                post(
                    kind="complaint",
                    body="Cold coffee.",
                    complaint_status="open",
                    created_at=now - timedelta(days=n * 3.5 + 1),
                )
        complaint = post(
            kind="complaint",
            body="They lost my order.",
            complaint_status="resolved",
            created_at=now - timedelta(days=5),
            resolved_at=now - timedelta(days=3),
        )
        replied = post(body="They found it and added a cake.", fixes=complaint, rating=5)
        db.session.flush()
        db.session.add(
            Crosspost(
                post=replied,
                idempotency_key=str(uuid.uuid4()),
                post_url="http://x.test/p",
                state="sent",
                mention_resolved=True,
                sent_at=now - timedelta(hours=3),
                replied_at=now - timedelta(hours=1),
                reply_url="https://cornerbakery.example/1",
                reply_text="@bob So glad we could make it right!\n\nSee you Saturday.",
            )
        )
        db.session.commit()
        return shop.slug


def test_wall_fits_a_small_phone(browser: Browser, live_server: LiveServer, slug: str) -> None:
    """The numbers, trend, tabs, reply and arc fit 360 px with nothing loaded from elsewhere."""
    context = browser.new_context(viewport=SMALL_PHONE, is_mobile=True, has_touch=True)
    phone = Phone(context, live_server.url)
    try:
        page = phone.visit(f"/b/{slug}")
        chart = page.locator("svg.trend-chart")
        expect(chart).to_be_visible()
        assert chart.bounding_box()["width"] <= SMALL_PHONE["width"]
        expect(page.locator(".reply-text").first).to_contain_text("See you Saturday.")
        expect(page.locator("ol.arc").first).to_be_visible()
        page.get_by_text("Put this on your website").tap()
        expect(page.locator("#embed-code")).to_be_visible()
        screenshot(page, "business-wall")
        for path in (f"/b/{slug}?tab=complaints", f"/b/{slug}?tab=unanswered&x=1"):
            phone.visit(path)
        screenshot(phone.visit(f"/b/{slug}?tab=complaints&sort=rating"), "business-wall-complaints")
        phone.check_clean()
    finally:
        context.close()


@pytest.fixture
def host_site() -> Iterator[Callable[[str, str, str], str]]:
    """Return a starter for another site (another origin) that frames the widget and the wall."""
    servers: list[LiveServer] = []

    def start(praisewall: str, slug: str, theme: str) -> str:
        """Serve a page framing both, and return the site's address."""
        site = Flask("someone_elses_site")
        site.add_url_rule(
            "/",
            "index",
            lambda: (
                f'<iframe id="widget" src="{praisewall}/b/{slug}/embed?theme={theme}" '
                'width="320" height="360"></iframe>'
                f'<iframe id="wall" src="{praisewall}/b/{slug}"></iframe>'
            ),
        )
        servers.append(LiveServer(site).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize(
    ("theme", "scheme", "dark"),
    [
        ("light", "dark", False),
        ("dark", "light", True),
        ("auto", "dark", True),
        ("auto", "light", False),
    ],
)
def test_widget_works_framed_in_light_and_dark(
    browser: Browser,
    live_server: LiveServer,
    host_site: Callable[[str, str, str], str],
    slug: str,
    theme: str,
    scheme: str,
    dark: bool,
) -> None:
    """Another site can frame the widget (never the wall); its colours follow ?theme=."""
    context = browser.new_context(viewport={"width": 360, "height": 700}, color_scheme=scheme)
    try:
        page = context.new_page()
        page.goto(f"{host_site(live_server.url, slug, theme)}/")
        widget = page.frame_locator("#widget")
        expect(widget.get_by_role("link", name="Corner Bakery")).to_be_visible()
        expect(widget.locator("dd").first).to_have_text("25")
        embed_url = f"{live_server.url}/b/{slug}/embed"
        frame = next(f for f in page.frames if f.url.startswith(embed_url))
        background = frame.evaluate("getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(22, 27, 34)") is dark, background
        width, inner = frame.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert width <= inner
        wall_texts = [
            f.evaluate("document.body ? document.body.innerText : ''")
            for f in page.frames
            if f is not page.main_frame and not f.url.startswith(embed_url)
        ]
        assert not any("Corner Bakery" in text for text in wall_texts)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"widget-{theme}-{scheme}.png"))
    finally:
        context.close()


def test_an_owner_replies_on_a_phone_and_the_reply_shows_on_the_wall(
    browser: Browser, live_app: Flask, live_server: LiveServer
) -> None:
    """At 360 px the owner taps "Reply as…" under a complaint, publishes, and everyone sees it."""
    live_app.config["WTF_CSRF_ENABLED"] = True  # the forms go through as in production
    with live_app.app_context():
        owner = accounts.create_user("bakery", "correct horse battery")
        carol = accounts.create_user("carol", "correct horse battery")
        shop = businesses.create_business("Corner Bakery")
        shop.owner, shop.claimed_at = owner, utcnow()
        db.session.add(
            Post(
                author=carol,
                business=shop,
                kind="complaint",
                body="The bread was stale.",
                complaint_status="open",
                happened_on=date.today(),
                channel="in_person",
            )
        )
        db.session.commit()
        slug = shop.slug
    context = browser.new_context(viewport=SMALL_PHONE, is_mobile=True, has_touch=True)
    phone = Phone(context, live_server.url)
    try:
        page = phone.visit("/login")
        page.get_by_label("Username").fill("bakery")
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Log in").tap()
        expect(page.get_by_role("link", name="Me", exact=True)).to_be_visible()
        page = phone.visit(f"/b/{slug}?tab=complaints")
        page.get_by_role("link", name="Reply as Corner Bakery").tap()
        expect(page.get_by_role("heading", name="Reply as Corner Bakery")).to_be_visible()
        page.wait_for_load_state()
        phone.check_page()
        page.get_by_label("Your reply").fill("Sorry! Come by for a fresh loaf, on us.")
        page.get_by_role("button", name="Publish reply").tap()
        expect(page.get_by_text("Your reply is under the post.")).to_be_visible()
        page.wait_for_load_state()
        phone.check_page()
        page = phone.visit(f"/b/{slug}?tab=complaints")
        reply = page.locator(".wall-reply")
        expect(reply).to_contain_text("Reply from Corner Bakery")
        expect(reply).to_contain_text("Sorry! Come by for a fresh loaf, on us.")
        expect(page.get_by_text("Business replied")).to_be_visible()
        screenshot(page, "business-wall-reply")
        phone.check_clean()
    finally:
        context.close()
