"""End to end with Mastodon: `flask serve` as `make run` starts it, a fake server, and Chromium.

The app runs as a real subprocess with its in-process queue worker and nothing else, so a
status reaching the fake server proves delivery works out of the box. Playwright drives
Debian's Chromium on a phone-sized screen through sign-in, compose, delivery and the reply.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fake_mastodon import FakeMastodon
from flask import Flask
from helpers import clean_env, stop
from playwright.sync_api import (
    Browser,
    Locator,
    Page,
    expect,
)

from tests.browser_support import (
    PHONE,
    Phone,
    require_chromium,
    screenshot,
)
from webapp.extensions import db
from webapp.models import Crosspost
from webapp.networks import replies as crosspost
from webapp.networks.mastodon.text import status_length

pytestmark = pytest.mark.browser

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")  # as in conftest
ROOT = Path(__file__).resolve().parent.parent
BUSINESS_ACCT = "support@cornerbakery.example"
STARTUP_SECONDS = 30
DELIVERY_SECONDS = 20
STOP_SECONDS = 15
POLL_SECONDS = 0.2


@dataclass
class Praisewall:
    """The app running as `make run` runs it, and an app on the same database for operators."""

    url: str
    instance: Path
    log: Path
    app: Flask

    def log_tail(self) -> str:
        """Return the end of the server's output, for failure messages."""
        return self.log.read_text(errors="replace")[-4000:]


def free_port() -> int:
    """Return a loopback port nobody is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(instance: Path) -> dict[str, str]:
    """Return the environment `make run` would see, with the development Mastodon setting."""
    env = clean_env()
    env.update(
        WEBAPP_INSTANCE_PATH=str(instance),
        WEBAPP_MASTODON_ALLOW_INSECURE="true",
        WEBAPP_PASSWORD_HASH_METHOD='"pbkdf2:sha256:1000"',
        PYTHONUNBUFFERED="1",
    )
    if TEST_DATABASE_URL:
        env["DATABASE_URL"] = TEST_DATABASE_URL
    return env


def healthy(url: str) -> bool:
    """Tell whether /healthz answers 200."""
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@pytest.fixture
def praisewall(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Praisewall]:
    """Run `flask db upgrade` and `flask serve` in a subprocess, as `make run` does."""
    require_chromium()  # no point starting a server the browser can't reach
    instance = tmp_path / "instance"
    env = server_env(instance)
    flask = [sys.executable, "-m", "flask", "--app", "webapp"]
    if not TEST_DATABASE_URL:
        # On PostgreSQL conftest's create_all made the tables, with no alembic_version, so an
        # upgrade would try to create them again; SQLite starts empty, as on a new machine.
        upgrade = subprocess.run(
            [*flask, "db", "upgrade"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*flask, "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not healthy(url):
            assert process.poll() is None, f"flask serve exited:\n{log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"no /healthz after {STARTUP_SECONDS} s"
            time.sleep(POLL_SECONDS)
        keys = (instance / "fernet_keys").read_text()
        uri = TEST_DATABASE_URL or f"sqlite:///{instance / 'praisewall.db'}"
        # With PostgreSQL, make_app's teardown empties the shared tables after the server stops.
        app = make_app(
            with_tables=bool(TEST_DATABASE_URL),
            SQLALCHEMY_DATABASE_URI=uri,
            SERVER_NAME=None,
            FERNET_KEYS=keys,
        )
        yield Praisewall(url, instance, log, app)
    finally:
        killed = stop(process, STOP_SECONDS)
    assert not killed, f"flask serve ignored Ctrl-C for {STOP_SECONDS} s"


@pytest.fixture
def phone(browser: Browser, praisewall: Praisewall) -> Iterator[Phone]:
    """Return a phone-sized browser on the running app."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    phone = Phone(context, praisewall.url)
    yield phone
    context.close()


def reload_until(page: Page, locator: Locator, seconds: float) -> None:
    """Reload the page until the locator shows, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            expect(locator).to_be_visible(timeout=500)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        page.reload()


def expect_counted(preview: Locator) -> None:
    """Check the live count says what the server's rule says of the status shown."""
    shown = preview.locator(".status-text").text_content()
    url_length = int(preview.get_attribute("data-url-length"))
    expected = status_length(shown, "", url_length)
    expect(preview.locator("#status-count")).to_have_text(str(expected))


def number(page: Page, label: str) -> Locator:
    """Return the value beside a label in a business's numbers."""
    return page.locator(".numbers div", has=page.locator("dt", has_text=label)).locator("dd")


def test_mastodon_sign_in_post_delivery_and_reply(
    praisewall: Praisewall, fake_mastodon: FakeMastodon, phone: Phone
) -> None:
    """Sign in with Mastodon, post praise that `flask serve` delivers, and see the reply."""
    fake = fake_mastodon
    acct = f"alice@{fake.domain}"

    # Sign in on the fake server, the way a person approves an app on theirs.
    page = phone.visit("/login/mastodon")
    page.get_by_label("Your Mastodon handle or server").fill(acct)
    page.get_by_role("button", name="Continue to my server").tap()
    try:
        expect(page).to_have_url(re.compile(re.escape(fake.url) + "/oauth/authorize"))
    except AssertionError as error:
        raise AssertionError(f"never reached the server; the page logged {phone.errors}") from error
    expect(page.get_by_role("heading", name="Authorization required")).to_be_visible()
    page.get_by_label("Username").fill("alice")
    page.get_by_role("button", name="Authorize").tap()
    expect(page.get_by_text(f"Signed in as @{acct}.")).to_be_visible()
    assert page.url.startswith(praisewall.url)
    phone.check_page()

    # Compose praise for a business nobody has added yet, watching the status preview.
    page = phone.visit("/posts/new")
    page.get_by_role("radio", name="Praise", exact=True).check()
    page.get_by_role("combobox", name="Business").press_sequentially("Corner Bakery")
    page.get_by_role("option", name="Add “Corner Bakery” as a new business").tap()
    expect(page.get_by_label("Name", exact=True)).to_have_value("Corner Bakery")
    page.get_by_label("Fediverse handle (optional)").fill(f"@{BUSINESS_ACCT}")
    expect(page.get_by_label("Also post to my Mastodon account")).to_be_checked()
    preview = page.locator("#status-preview")
    expect(preview).to_contain_text(f"from @{acct}")
    expect(preview.locator(".count")).to_contain_text("/ 500 characters")
    status_text = preview.locator(".status-text")
    expect_counted(preview)
    story = "They stayed open ten minutes late so I could pick up the birthday cake."
    page.get_by_label("What happened?").press_sequentially(story[:20])
    expect(status_text).to_contain_text(story[:20])
    expect_counted(preview)
    page.get_by_label("What happened?").fill(story)
    expect(status_text).to_contain_text(story)
    expect_counted(preview)
    expect(status_text).to_contain_text("#CustomerServiceWin")
    expect(status_text).to_contain_text(f"@{BUSINESS_ACCT}")
    phone.check_page()
    screenshot(page, "mastodon-compose-preview")

    page.get_by_role("button", name="Post it").tap()
    expect(page).to_have_url(re.compile(re.escape(praisewall.url) + r"/posts/\d+$"))
    permalink = page.url
    expect(page.locator(".crosspost")).to_contain_text(
        re.compile("Sending to Mastodon…|Sent to Mastodon.")
    )
    sent = page.locator(".crosspost", has_text="Sent to Mastodon.")
    reload_until(page, sent, DELIVERY_SECONDS)
    phone.check_page()
    see_it = sent.get_by_role("link", name="See it there")
    expect(see_it).to_have_attribute(
        "href", re.compile("^" + re.escape(fake.url) + "/@alice/\\d+$")
    )

    # Exactly one status reached the fake, naming the business so it is notified.
    assert len(fake.statuses) == 1, fake.statuses
    status = fake.statuses[0]
    assert status["account"] == "alice"
    assert status["visibility"] == "public"
    assert status["mentions"] == [BUSINESS_ACCT]
    assert f"@{BUSINESS_ACCT}" in status["status"]
    assert permalink in status["status"]
    assert story in status["status"]
    assert see_it.get_attribute("href") == f"{fake.url}/@alice/{status['id']}"

    # The business answers 2 h 10 min later. The worker first looks 5 minutes after sending;
    # rather than wait, run that check here as an operator could, on the same database.
    # A reply counts once the business's own server confirms it, and the made-up domain above
    # has none: here the business answers from an account on Alice's server, which does.
    fake.add_account("bakery")
    reply = fake.reply(
        status["id"],
        "bakery",
        "@alice thank you!",
        at=status["created_at"] + timedelta(hours=2, minutes=10),
    )
    post_id = int(permalink.rsplit("/", 1)[1])
    with praisewall.app.app_context():
        row = db.session.scalars(sa.select(Crosspost).where(Crosspost.post_id == post_id)).one()
        row.mention_acct = f"@bakery@{fake.domain}"
        db.session.commit()
        assert crosspost.check_reply(row.id) == "replied"
        db.session.commit()

    page.reload()
    reply_line = page.locator("article.permalink .reply")
    # Non-breaking spaces keep the duration on one line.
    expect(reply_line).to_have_text(re.compile(r"^Corner Bakery replied after 2\s+h\s+10\s+min\."))
    expect(reply_line.get_by_role("link", name="Read the reply")).to_have_attribute(
        "href", reply["url"]
    )
    phone.check_page()
    screenshot(page, "mastodon-permalink-replied")

    page = phone.visit("/b/corner-bakery")
    expect(page.locator(".meta")).to_contain_text(f"@{BUSINESS_ACCT}")
    expect(number(page, "Replies")).to_have_text("100%")
    expect(number(page, "Median reply time")).to_have_text("2\u00a0h\u00a010\u00a0min")
    phone.check_clean(allowed=(fake.url + "/",))
    # Delivery needed nothing but `flask serve`: its queue lives in the instance folder.
    assert (praisewall.instance / "queue.db").is_file()
    assert "Traceback" not in praisewall.log.read_text(errors="replace"), praisewall.log_tail()
