"""End to end in Debian's Chromium on a phone-sized screen: sign up, compose, walls, challenge."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from conftest import add_business, add_user
from fake_mastodon import FakeMastodon
from flask import Flask
from playwright.sync_api import expect

from tests.browser_support import (
    SMALL_PHONE,
    Phone,
    screenshot,
)
from webapp.extensions import db
from webapp.models import Business, Post

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


def business_names(app: Flask) -> list[str]:
    """Return every business's name, in order."""
    with app.app_context():
        return list(db.session.scalars(sa.select(Business.name).order_by(Business.id)))


def post_count(app: Flask) -> int:
    """Count the posts."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Post))


def log_in(phone: Phone, username: str = "alice") -> None:
    """Log in through the form."""
    page = phone.visit("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").tap()
    expect(page.get_by_role("link", name="Me", exact=True)).to_be_visible()


def submit_post(phone: Phone) -> None:
    """Tap "Post it" and check the permalink is where it lands."""
    page = phone.page
    page.get_by_role("button", name="Post it").tap()
    expect(page).to_have_url(re.compile(re.escape(phone.base_url) + r"/posts/\d+$"))
    expect(page.get_by_text("Posted. Thank you for saying it in public.")).to_be_visible()
    phone.check_page()


def test_praise_for_a_new_business_from_sign_up_to_the_challenge(
    live_app: Flask, open_phone: Callable[..., Phone]
) -> None:
    """A newcomer signs up, praises a business nobody has added yet, and finds it everywhere."""
    phone = open_phone()
    page = phone.visit("/register")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").tap()
    expect(page.get_by_text("Welcome, alice!")).to_be_visible()

    page = phone.visit("/posts/new")
    page.get_by_role("radio", name="Praise", exact=True).check()
    expect(page.get_by_label("What would make it right?")).to_be_hidden()
    business = page.get_by_role("combobox", name="Business")
    business.press_sequentially("Corner Bakery")
    expect(page.get_by_role("option", name="Add “Corner Bakery” as a new business")).to_be_visible()
    business.press("Escape")
    expect(page.get_by_role("listbox")).to_be_hidden()
    page.locator("summary", has_text="Add a new business").tap()
    page.get_by_label("Name", exact=True).fill("Corner Bakery")
    page.get_by_label("Website (optional)").fill("cornerbakery.example")
    page.get_by_label("Fediverse handle (optional)").fill("@hello@cornerbakery.example")
    story = "They stayed open ten minutes late so I could pick up the birthday cake."
    page.get_by_label("What happened?").fill(story)
    phone.check_page()
    screenshot(page, "compose-new-business")
    submit_post(phone)
    expect(page.locator("article.permalink")).to_contain_text(story)
    expect(page.locator("article.permalink .business")).to_have_text("Corner Bakery")
    assert business_names(live_app) == ["Corner Bakery"]

    page = phone.visit("/b/corner-bakery")
    expect(page.get_by_role("heading", name="Corner Bakery")).to_be_visible()
    expect(page.locator(".meta")).to_contain_text("@hello@cornerbakery.example")
    expect(page.locator("article.post")).to_contain_text(story)
    screenshot(page, "business-wall")

    page = phone.visit("/wall")
    expect(page.locator("article.post").first).to_contain_text(story)

    page = phone.visit("/challenge")
    expect(page.locator(".ring figcaption")).to_have_text("1 of 3")
    expect(page.locator(".counted")).to_contain_text("Corner Bakery")
    phone.check_clean()


def test_type_ahead_picks_an_existing_business(
    live_app: Flask, open_phone: Callable[..., Phone]
) -> None:
    """Typing a prefix offers the business; picking it tags the post without adding a new one."""
    add_user(live_app)
    add_business(live_app, "Corner Bakery", website="cornerbakery.example")
    phone = open_phone()
    log_in(phone)
    page = phone.visit("/posts/new")
    business = page.get_by_role("combobox", name="Business")
    business.press_sequentially("corn")
    option = page.get_by_role("option", name="Corner Bakery", exact=True)
    expect(option).to_be_visible()
    expect(business).to_have_attribute("aria-expanded", "true")
    phone.check_page()
    screenshot(page, "compose-type-ahead")
    option.tap()
    expect(business).to_have_value("Corner Bakery")
    expect(page.get_by_role("listbox")).to_be_hidden()
    page.get_by_label("What happened?").fill("The baker remembered my order from last week.")
    submit_post(phone)
    expect(page).to_have_title(re.compile("^Praise for Corner Bakery"))
    expect(page.locator("article.permalink .business")).to_have_text("Corner Bakery")
    assert business_names(live_app) == ["Corner Bakery"]
    phone.check_clean()


def test_did_you_mean_choice_works_with_javascript_on(
    live_app: Flask, open_phone: Callable[..., Phone]
) -> None:
    """A name that isn't exact gets "Did you mean"; picking the suggestion posts about it."""
    add_user(live_app)
    add_business(live_app, "Corner Bakery")
    phone = open_phone()
    log_in(phone)
    page = phone.visit("/posts/new")
    business = page.get_by_role("combobox", name="Business")
    business.press_sequentially("Corner")
    expect(page.get_by_role("option", name="Corner Bakery", exact=True)).to_be_visible()
    business.press("Escape")
    page.get_by_label("What happened?").fill("Warm bread and a warmer welcome.")
    page.get_by_role("button", name="Post it").tap()
    expect(page.get_by_role("group", name="Did you mean")).to_be_visible()
    expect(page.get_by_label("What happened?")).to_have_value("Warm bread and a warmer welcome.")
    phone.check_page()
    page.get_by_role("radio", name="Corner Bakery").check()
    submit_post(phone)
    expect(page.locator("article.permalink .business")).to_have_text("Corner Bakery")
    assert business_names(live_app) == ["Corner Bakery"]
    phone.check_clean(expected_errors=("status of 422",))


def test_complaint_without_javascript(live_app: Flask, open_phone: Callable[..., Phone]) -> None:
    """With JavaScript off, a complaint about a business typed by its exact name still posts."""
    add_user(live_app)
    slug = add_business(live_app, "Corner Bakery")
    phone = open_phone(java_script_enabled=False)
    log_in(phone)
    page = phone.visit("/posts/new")
    make_right = page.get_by_label("What would make it right?")
    page.get_by_role("radio", name="Praise", exact=True).check()
    expect(make_right).to_be_hidden()
    page.get_by_role("radio", name="Complaint", exact=True).check()
    expect(make_right).to_be_visible()
    expect(make_right).to_be_editable()
    page.get_by_role("combobox", name="Business").fill("Corner Bakery")
    page.get_by_label("What happened?").fill("The cake I ordered a week ahead wasn't ready.")
    make_right.fill("A refund of the deposit.")
    phone.check_page()
    screenshot(page, "compose-complaint-no-js")
    submit_post(phone)
    permalink = page.locator("article.permalink")
    expect(permalink.locator(".badge")).to_have_text("Complaint")
    expect(permalink.locator(".business")).to_have_text("Corner Bakery")
    expect(permalink).to_contain_text("A refund of the deposit.")
    expect(permalink.locator(".state")).to_be_visible()
    assert post_count(live_app) == 1

    page = phone.visit(f"/b/{slug}?tab=complaints")
    expect(page.locator("article.post")).to_contain_text("wasn't ready")
    phone.check_clean()


def test_a_newcomer_finds_sign_in_with_mastodon_on_a_small_phone_without_javascript(
    live_app: Flask, open_phone: Callable[..., Phone], fake_mastodon: FakeMastodon
) -> None:
    """From the front page or "Log in", "Sign in with Mastodon" is on screen and signs in."""
    phone = open_phone(java_script_enabled=False)
    phone.page.set_viewport_size(SMALL_PHONE)
    page = phone.visit("/")
    expect(page.get_by_role("link", name="Sign in with Mastodon")).to_be_in_viewport()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in").tap()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    screenshot(page, "log-in")
    sign_in = page.get_by_role("link", name="Sign in with Mastodon")
    expect(sign_in).to_be_in_viewport()
    sign_in.tap()
    expect(page.get_by_role("heading", name="Sign in with Mastodon")).to_be_visible()
    phone.check_page()
    page.get_by_label("Your Mastodon handle or server").fill(f"alice@{fake_mastodon.domain}")
    page.get_by_role("button", name="Continue to my server").tap()
    expect(page.get_by_role("heading", name="Authorization required")).to_be_visible()
    page.get_by_label("Username").fill("alice")
    page.get_by_role("button", name="Authorize").tap()
    expect(page.get_by_text(f"Signed in as @alice@{fake_mastodon.domain}.")).to_be_visible()
    expect(page.get_by_role("link", name="Me", exact=True)).to_be_visible()
    phone.check_page()
    phone.check_clean(allowed=(fake_mastodon.url + "/",))


def test_long_unbroken_names_fit_a_small_phone(
    live_app: Flask, open_phone: Callable[..., Phone]
) -> None:
    """A business with a long one-word name, handle and website never widens a 360 px page."""
    name = "Wolfeschlegelsteinhausenbergerdorffwelchevoralternwarengewissenhaft" + "bakery"
    add_user(live_app)
    slug = add_business(
        live_app,
        name,
        website="https://customer-service-department.wolfeschlegelsteinhausen.example",
        handle="@customer_service_department_international@wolfeschlegelsteinhausen.example",
    )
    phone = open_phone()
    phone.page.set_viewport_size(SMALL_PHONE)
    log_in(phone)
    page = phone.visit(f"/posts/new?business={slug}")
    expect(page.get_by_role("combobox", name="Business")).to_have_value(name)
    link = "https://wolfeschlegelsteinhausen.example/" + "receipt-number-" * 8 + "12345"
    page.get_by_label("What happened?").fill(f"They refunded me without a fuss: {link}")
    submit_post(phone)
    for path in (f"/b/{slug}", "/wall", "/me", "/u/alice", "/challenge", "/businesses?q=wolfe"):
        page = phone.visit(path)
        expect(page.get_by_text(name).first).to_be_visible()
    screenshot(phone.visit(f"/b/{slug}"), "business-wall-long-name")
    phone.check_clean()


@pytest.mark.browser
@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "America/Los_Angeles", "Pacific/Pago_Pago"])
def test_when_it_happened_defaults_to_the_phones_own_today(
    live_app: Flask, open_phone: Callable[..., Phone], zone: str
) -> None:
    """The date field starts at the person's local date, not the server's UTC one."""
    add_user(live_app)
    phone = open_phone(timezone_id=zone)
    log_in(phone)
    page = phone.visit("/posts/new")
    expect(page.get_by_label("When did it happen?")).to_have_value(
        datetime.now(ZoneInfo(zone)).date().isoformat()
    )


def test_every_settings_field_fills_the_width_of_a_phone(
    live_app: Flask, open_phone: Callable[..., Phone]
) -> None:
    """Email, password and token name fields are all as wide and as tall as a thumb needs."""
    add_user(live_app)
    phone = open_phone()
    log_in(phone)
    page = phone.visit("/settings")
    fields = [
        page.get_by_label("Email address", exact=True),
        page.get_by_label("Your password, to confirm"),
        page.get_by_label("New password", exact=True),
    ]
    boxes = [field.bounding_box() for field in fields]
    assert len({round(box["width"]) for box in boxes}) == 1, boxes
    assert all(box["height"] >= 44 for box in boxes), boxes
    phone.check_clean()
