"""The notifications section of the settings on a 360 px phone, with and without JavaScript."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from conftest import add_user
from flask import Flask
from playwright.sync_api import expect
from test_browser import log_in

from tests.browser_support import SMALL_PHONE, Phone
from webapp.extensions import db
from webapp.models import User


def confirm_address(app: Flask, username: str = "alice") -> None:
    """Give the account a confirmed address, straight in the database."""
    with app.app_context():
        user = db.session.scalars(sa.select(User).where(User.username == username)).one()
        user.email = f"{username}@example.com"
        db.session.commit()


@pytest.mark.parametrize("javascript", [True, False])
def test_choosing_notifications_on_a_small_phone(
    live_app: Flask, open_phone: Callable[..., Phone], javascript: bool
) -> None:
    """Each box is a thumb-sized target at 360 px; ticking and saving works without scripts."""
    add_user(live_app)
    confirm_address(live_app)
    phone = open_phone(java_script_enabled=javascript)
    phone.page.set_viewport_size(SMALL_PHONE)
    log_in(phone)
    page = phone.visit("/settings#notifications")
    replies = page.get_by_label("A business replied to my post")
    nudge = page.get_by_label("A monthly nudge: “Has a company impressed you lately?”")
    expect(replies).to_be_enabled()
    replies.tap()
    nudge.tap()
    page.get_by_role("button", name="Save notifications").tap()
    expect(page.get_by_text("Notifications saved.")).to_be_visible()
    phone.check_page()
    expect(page.get_by_label("A business replied to my post")).to_be_checked()
    expect(page.get_by_label("My complaint changed status")).not_to_be_checked()
    expect(
        page.get_by_label("A monthly nudge: “Has a company impressed you lately?”")
    ).to_be_checked()
    phone.check_clean()


def test_the_boxes_wait_for_a_confirmed_address_on_a_phone(
    live_app: Flask, open_phone: Callable[..., Phone]
) -> None:
    """Without a confirmed address the boxes are disabled and the page says why."""
    add_user(live_app)
    phone = open_phone()
    phone.page.set_viewport_size(SMALL_PHONE)
    log_in(phone)
    page = phone.visit("/settings#notifications")
    expect(page.get_by_label("I finished a challenge round")).to_be_disabled()
    expect(page.get_by_text("We send these only to a confirmed email address")).to_be_visible()
    phone.check_clean()
