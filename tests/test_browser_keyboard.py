"""Posting by keyboard alone, with a visible focus at every stop; the type-ahead by tap."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser_support import PHONE, LiveServer, Phone
from webapp.extensions import db
from webapp.services import accounts, businesses

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
# Far more than any page here has stops before the one wanted: a loop that never arrives fails.
MAX_STOPS = 60
FOCUS = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const style = getComputedStyle(el);
    const ring = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
    const shadow = style.boxShadow && style.boxShadow !== "none";
    return {
        ring: Boolean(ring || shadow),
        tag: el.tagName.toLowerCase(),
        id: el.id,
        name: el.getAttribute("name") || "",
        type: el.getAttribute("type") || "",
        text: (el.innerText || el.value || "").trim().slice(0, 40),
        html: el.outerHTML.slice(0, 120),
    };
}"""


@pytest.fixture
def live_app(live_app: Flask) -> Flask:
    """Return the shared live app with alice, Corner Bakery and Cornflower Florist."""
    with live_app.app_context():
        accounts.create_user("alice", PASSWORD)
        businesses.create_business("Corner Bakery", website="cornerbakery.example")
        businesses.create_business("Cornflower Florist")
        db.session.commit()
    return live_app


@pytest.fixture
def open_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Return a factory for phone-sized contexts, closed after the test."""
    contexts: list[BrowserContext] = []

    def factory(**options) -> BrowserContext:
        """Open a 390×844 context with these extra options."""
        context = browser.new_context(viewport=PHONE, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield factory
    for context in contexts:
        context.close()


def focused(page: Page) -> dict:
    """Return what has focus, and assert it shows a focus indicator."""
    now = page.evaluate(FOCUS)
    assert now is not None, f"{page.url}: focus fell back to the page itself"
    assert now["ring"], f"{page.url}: no visible focus indicator on {now['html']}"
    return now


def press_until(page: Page, key: str, wanted: Callable[[dict], bool]) -> dict:
    """Press a key (Tab, Shift+Tab) until focus reaches what is wanted, checking every stop."""
    for _ in range(MAX_STOPS):
        page.keyboard.press(key)
        now = focused(page)
        if wanted(now):
            return now
    raise AssertionError(f"{page.url}: {key} never reached the element wanted")


def test_posting_praise_by_keyboard_alone(
    open_context: Callable[..., BrowserContext], live_server: LiveServer
) -> None:
    """Sign in, compose, pick the business from the type-ahead and post, never touching a mouse."""
    phone = Phone(open_context(), live_server.url)
    page = phone.page
    page.goto(f"{live_server.url}/login")
    press_until(page, "Tab", lambda el: el["id"] == "username")
    page.keyboard.type("alice")
    press_until(page, "Tab", lambda el: el["id"] == "password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Me", exact=True)).to_be_visible()

    # From the top of a page, going backwards reaches the footer's "Log a win" in a few stops.
    press_until(page, "Shift+Tab", lambda el: el["text"] == "Log a win")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/posts/new$"))
    make_right = page.get_by_label("What would make it right?")

    press_until(page, "Tab", lambda el: el["name"] == "kind")
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="Complaint", exact=True)).to_be_checked()
    expect(make_right).to_be_visible()
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("radio", name="Praise", exact=True)).to_be_checked()
    expect(make_right).to_be_hidden()

    business = page.get_by_role("combobox", name="Business")
    press_until(page, "Tab", lambda el: el["id"] == "business")
    page.keyboard.type("corn")
    first = page.get_by_role("option", name="Corner Bakery", exact=True)
    expect(first).to_be_visible()
    expect(business).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    expect(first).to_have_attribute("aria-selected", "true")
    expect(business).to_have_attribute("aria-activedescendant", first.get_attribute("id"))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    expect(first).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    expect(business).to_have_value("Corner Bakery")
    expect(business).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("listbox")).to_be_hidden()
    assert page.url.endswith("/posts/new"), "Enter on an option must not send the form"

    story = "They boxed up a birthday cake after closing and carried it to my car."
    press_until(page, "Tab", lambda el: el["name"] == "body")
    page.keyboard.type(story)
    expect(page.locator("#body-count")).to_have_text(f"{len(story)} / 2,000 characters")
    press_until(page, "Tab", lambda el: el["name"] == "rating")
    page.keyboard.type("5")
    expect(page.get_by_label("Rating")).to_have_value("5")
    press_until(page, "Tab", lambda el: el["name"] == "shows_name")
    page.keyboard.press("Space")
    expect(page.get_by_label("Show my name")).not_to_be_checked()
    page.keyboard.press("Space")
    expect(page.get_by_label("Show my name")).to_be_checked()
    press_until(page, "Tab", lambda el: el["text"] == "Post it")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(re.escape(live_server.url) + r"/posts/\d+$"))
    expect(page.get_by_text("Posted. Thank you for saying it in public.")).to_be_visible()
    permalink = page.locator("article.permalink")
    expect(permalink).to_contain_text(story)
    expect(permalink.locator(".business")).to_have_text("Corner Bakery")
    expect(permalink.get_by_role("img", name="Rated 5 of 5")).to_be_visible()
    phone.check_clean()


def test_adding_a_new_business_from_the_type_ahead_by_keyboard(
    open_context: Callable[..., BrowserContext], live_server: LiveServer
) -> None:
    """ArrowUp reaches "Add … as a new business"; Enter opens its fields, Escape just closes."""
    phone = Phone(open_context(), live_server.url)
    page = log_in(phone)
    page.goto(f"{live_server.url}/posts/new")
    business = page.get_by_role("combobox", name="Business")
    press_until(page, "Tab", lambda el: el["id"] == "business")
    page.keyboard.type("Corner Deli")
    add = page.get_by_role("option", name="Add “Corner Deli” as a new business")
    expect(add).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("listbox")).to_be_hidden()
    expect(business).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(add).to_be_visible()
    page.keyboard.press("ArrowUp")
    expect(add).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Corner Deli")
    expect(page.get_by_label("Website (optional)")).to_be_focused()
    focused(page)
    phone.check_clean()


def log_in(phone: Phone) -> Page:
    """Log in through the form (filling it is fine here: only compose is under test)."""
    page = phone.visit("/login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").press("Enter")
    expect(page.get_by_role("link", name="Me", exact=True)).to_be_visible()
    return page


def test_type_ahead_option_chosen_by_tap(
    open_context: Callable[..., BrowserContext], live_server: LiveServer
) -> None:
    """On a touch screen, tapping an offered business picks it and the post is about it."""
    phone = Phone(open_context(is_mobile=True, has_touch=True), live_server.url)
    page = log_in(phone)
    phone.visit("/posts/new")
    business = page.get_by_role("combobox", name="Business")
    page.tap("#business")
    page.keyboard.type("corn")
    expect(page.locator("#business-options [role=option]")).to_have_count(3)
    phone.check_page()
    page.tap("[role=option] >> text='Cornflower Florist'")
    expect(business).to_have_value("Cornflower Florist")
    expect(page.get_by_role("listbox")).to_be_hidden()
    expect(page.locator("input[type=hidden][name=business_id]")).not_to_have_value("")
    page.tap("#body")
    page.keyboard.type("They wrapped the flowers so they survived a rainy bike ride.")
    page.tap("button[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(live_server.url) + r"/posts/\d+$"))
    expect(page.locator("article.permalink .business")).to_have_text("Cornflower Florist")
    phone.check_clean()
