"""Shared fixtures: an app per test on SQLite (or PostgreSQL), a client, and data factories."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fake_mastodon import FakeMastodon, fake_mastodon_server
from flask import Flask, g
from flask.testing import FlaskClient, FlaskCliRunner

from tests.browser_support import PHONE, LiveServer, Phone
from webapp import create_app
from webapp.extensions import db
from webapp.infra.queue import huey
from webapp.models import Business, Crosspost, CrosspostState, Kind, Post, User, utcnow
from webapp.services import accounts, businesses, posts

PASSWORD = "correct horse battery"
TEST_FERNET_KEY = Fernet.generate_key().decode()
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
REDIS_URL = "redis://127.0.0.1:6379/15"  # a database of its own, for the Redis tests


def base_config(**overrides: Any) -> dict[str, Any]:
    """Return the settings every test app starts from."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-only-secret",
        "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL or "sqlite://",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        "SERVER_NAME": "praisewall.test",
        # Deliberately cheap hashing: the suite hashes hundreds of passwords.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "FERNET_KEYS": TEST_FERNET_KEY,
        "QUEUE_BACKEND": "memory",
        # The fake Mastodon server lives on loopback over plain http.
        "MASTODON_ALLOW_INSECURE": True,
        # Tests read pages straight after changing them; tests/test_page_cache.py turns it on.
        "PAGE_CACHE_SECONDS": 0,
    }
    config.update(overrides)
    return config


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that connects anywhere but this machine's loopback."""
    real_connect = socket.socket.connect

    def guarded_connect(sock: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in (
            "127.0.0.1",
            "::1",
            "localhost",
        ):
            raise AssertionError(f"test tried to reach {host!r}; tests stay on loopback")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(scope="session")
def database_ready() -> Iterator[None]:
    """Create the tables once on PostgreSQL; SQLite gets a fresh in-memory database per test."""
    if not TEST_DATABASE_URL:
        yield
        return
    app = create_app(base_config())
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.engine.dispose()
    yield
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


def empty_tables() -> None:
    """Delete every row, children first, so the next test starts clean."""
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def make_app(database_ready: None) -> Iterator[Callable[..., Flask]]:
    """Return a factory for test apps with extra settings."""
    apps: list[Flask] = []

    def factory(*, with_tables: bool = True, **overrides: Any) -> Flask:
        app = create_app(base_config(**overrides))
        # Tests keep an app context open, which Flask reuses for every request. Start each
        # request as production does: no `g` left over, and nothing stale in the session.
        app.teardown_request(lambda exc: g.__dict__.clear())
        app.before_request(db.session.expire_all)
        # The PostgreSQL run shares one database made once; an app given its own gets tables.
        shared = bool(TEST_DATABASE_URL) and overrides.get("SQLALCHEMY_DATABASE_URI") in (
            None,
            TEST_DATABASE_URL,
        )
        if with_tables and not shared:
            with app.app_context():
                db.create_all()
        apps.append((app, with_tables and shared))
        return app

    yield factory
    for app, shared_tables in apps:
        with app.app_context():
            db.session.remove()
            if shared_tables:
                empty_tables()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    """Return the app under test, with its context pushed so tests can read the database."""
    app = make_app()
    with app.app_context():
        yield app


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return an instance folder shared by this test and the `flask` commands it starts."""
    folder = tmp_path / "instance"
    folder.mkdir()
    monkeypatch.setenv("WEBAPP_INSTANCE_PATH", str(folder))
    return folder


@pytest.fixture
def instance_app(make_app: Callable[..., Flask], instance: Path) -> Iterator[Flask]:
    """Return an app on the instance folder's database and SQLite queue, context pushed."""
    settings = {"SERVER_NAME": "praisewall.example.com", "QUEUE_BACKEND": "sqlite"}
    if not TEST_DATABASE_URL:
        settings["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'praisewall.db'}"
    app = make_app(**settings)
    with app.app_context():
        yield app
    # Later tests choose their own queue; don't leave this one's file behind in theirs.
    make_app(with_tables=False)


@pytest.fixture
def csrf_app(app: Flask) -> Flask:
    """Return the app with CSRF protection on, as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Return a test client."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """Return a runner for the app's commands."""
    return app.test_cli_runner()


class AuthActions:
    """Register, log in and log out through the real forms."""

    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def register(self, username: str = "alice", password: str = PASSWORD):
        """Sign up through the form."""
        return self._client.post(
            "/register", data={"username": username, "password": password, "confirm": password}
        )

    def login(self, username: str = "alice", password: str = PASSWORD, remember: bool = False):
        """Log in through the form."""
        data = {"username": username, "password": password}
        if remember:
            data["remember"] = "y"
        return self._client.post("/login", data=data)

    def logout(self):
        """Log out."""
        return self._client.post("/logout")


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    """Return helpers that log in through the real forms."""
    return AuthActions(client)


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    """Return a factory for users (password: PASSWORD)."""

    def factory(
        username: str = "alice", *, is_admin: bool = False, password: str = PASSWORD
    ) -> User:
        user = accounts.create_user(username, password, is_admin=is_admin)
        db.session.commit()
        return user

    return factory


@pytest.fixture
def make_business(app: Flask) -> Callable[..., Business]:
    """Return a factory for businesses."""

    def factory(name: str = "Corner Bakery", **kwargs: Any) -> Business:
        business = businesses.create_business(name, **kwargs)
        db.session.commit()
        return business

    return factory


@pytest.fixture
def make_post(app: Flask) -> Callable[..., Post]:
    """Return a factory for posts, written as the compose form would."""

    def factory(author: User, business: Business, **kwargs: Any) -> Post:
        draft_fields = posts.Draft.__dataclass_fields__
        drafted = {name: kwargs.pop(name) for name in list(kwargs) if name in draft_fields}
        if isinstance(drafted.get("fixes"), Post):
            drafted["fixes"] = drafted["fixes"].id
        draft = posts.Draft(
            **{
                "kind": Kind.PRAISE,
                "body": "They were lovely.",
                "happened_on": date.today(),
                "business": business,
                **drafted,
            }
        )
        written_at = kwargs.pop("created_at", None)
        post = posts.publish(author, draft, written_at=written_at).post
        # What happens to a post after it is written: moderation, a resolved complaint.
        for name, value in kwargs.items():
            setattr(post, name, value)
        db.session.commit()
        return post

    return factory


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    """Return a fake Mastodon server on loopback, with alice and a business account."""
    for fake in fake_mastodon_server():
        fake.add_account("alice", display_name="Alice")
        fake.add_account("support", domain="cornerbakery.example", display_name="Corner Bakery")
        yield fake


def business_on(fake: FakeMastodon, make_business, acct: str) -> Business:
    """Return Corner Bakery, whose Mastodon account `acct` is a local one on the fake server."""
    fake.add_account(acct, display_name="Corner Bakery")
    business = make_business("Corner Bakery")
    # Set directly: a handle on a loopback test server has a port, which the form refuses.
    business.handle = f"@{acct}@{fake.domain}"
    db.session.commit()
    return business


def localhost(fake: FakeMastodon) -> str:
    """Return the fake's address under the name "localhost", a domain apart from its API host."""
    return f"localhost:{urlsplit(fake.url).port}"


@pytest.fixture
def harbour_server() -> Iterator[FakeMastodon]:
    """Harbour Savings' own split-domain server: its handle domain answers WebFinger for @care."""
    for fake in fake_mastodon_server():
        fake.split_domain(localhost(fake))
        fake.add_account("care", display_name="Harbour Savings")
        yield fake


@pytest.fixture
def harbour(make_business, harbour_server: FakeMastodon) -> Business:
    """Harbour Savings, whose Mastodon handle is @care on its own server's handle domain."""
    business = make_business("Harbour Savings")
    business.handle = f"@care@{localhost(harbour_server)}"
    db.session.commit()
    return business


def mastodon_sign_in(client: FlaskClient, fake: FakeMastodon, username: str = "alice", entry=None):
    """Sign in (or connect) through the real OAuth flow; return the callback's response."""
    start = client.post("/login/mastodon", data={"handle": entry or f"{username}@{fake.domain}"})
    assert start.status_code == 302, start.text
    back = urlsplit(fake.approve(start.headers["Location"], username))
    return client.get(f"{back.path}?{back.query}")


@pytest.fixture
def connected(client: FlaskClient, fake_mastodon: FakeMastodon, make_user) -> User:
    """Alice, logged in with a password and connected to her Mastodon account on the fake."""
    user = make_user("alice")
    AuthActions(client).login()
    response = mastodon_sign_in(client, fake_mastodon)
    assert response.status_code == 302, response.text
    db.session.refresh(user)
    return user


def run_queued_tasks(*, scheduled: bool = False) -> int:
    """Run what the app queued (and, if asked, what it scheduled for later); return the count."""
    ran = 0
    while (task := huey.dequeue()) is not None:
        run_task(task, scheduled)
        ran += 1
    if scheduled:
        for task in huey.read_schedule(FAR_FUTURE):
            run_task(task, scheduled)
            ran += 1
    db.session.expire_all()
    return ran


def run_task(task, scheduled: bool) -> None:
    """Run one queued task; for scheduled work, first move the clock to when it is due."""
    if scheduled:
        db.session.execute(
            sa.update(Crosspost)
            .where(Crosspost.next_attempt_at > utcnow())
            .values(next_attempt_at=utcnow())
        )
        db.session.commit()
    huey.execute(task, timestamp=FAR_FUTURE if scheduled else None)


FAR_FUTURE = datetime(2200, 1, 1)


@pytest.fixture
def redis_url() -> str:
    """Return the Redis URL, skipping (or, on CI, failing) when Redis isn't running."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError:
        if ON_CI:
            pytest.fail("Redis is not running on 127.0.0.1:6379; CI needs it for this test")
        pytest.skip("Redis is not running on 127.0.0.1:6379: skipping this test")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(scope="session")
def browser():
    """Launch Debian's Chromium once (skip without it, but fail on CI)."""
    from playwright.sync_api import expect, sync_playwright

    from tests.browser_support import CHROMIUM_ARGS, require_chromium

    executable = require_chromium()
    expect.set_options(timeout=10_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


def compose_form(business, **fields: str | None) -> dict[str, str]:
    """Return a complete compose form that also posts to Mastodon, with fields overridden."""
    data: dict[str, str | None] = {
        "kind": "praise",
        "business_id": str(business.id),
        "body": "They saved the last sourdough for me.",
        "happened_on": date.today().isoformat(),
        "channel": "in_person",
        "is_on_wall": "y",
        "shows_name": "y",
        "to_mastodon": "y",
        "visibility": "public",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def submit(client, business, **fields: str | None) -> Crosspost:
    """Post through the compose form and return the crosspost row it committed."""
    response = client.post("/posts/new", data=compose_form(business, **fields))
    assert response.status_code == 302, response.text
    post_id = int(response.headers["Location"].rsplit("/", 1)[1])
    return db.session.scalars(sa.select(Crosspost).where(Crosspost.post_id == post_id)).one()


def send(client, business, **fields: str | None) -> Crosspost:
    """Post through the compose form and run the queued delivery."""
    row = submit(client, business, **fields)
    run_queued_tasks()
    assert row.state == CrosspostState.SENT, row.last_error
    return row


# The browser tests: one live server on a database every server thread shares, and phones.


@pytest.fixture
def live_app(make_app: Callable[..., Flask], tmp_path) -> Flask:
    """Return an app on a database every server thread shares, with CSRF on."""
    uri = TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'test.db'}"
    return make_app(SQLALCHEMY_DATABASE_URI=uri, SERVER_NAME=None, WTF_CSRF_ENABLED=True)


@pytest.fixture
def live_server(live_app: Flask) -> Iterator[LiveServer]:
    """Serve the live app on a loopback port for the length of one test."""
    server = LiveServer(live_app).start()
    yield server
    server.stop()


@pytest.fixture
def open_phone(browser, live_server: LiveServer) -> Iterator[Callable[..., Phone]]:
    """Return a factory for phone-sized browser contexts, closed after the test.

    Its keyword arguments go to Playwright's new_context (java_script_enabled, timezone_id, ...).
    """
    contexts = []

    def factory(**options: Any) -> Phone:
        """Open a new phone-sized context."""
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return Phone(context, live_server.url)

    yield factory
    for context in contexts:
        context.close()


def add_user(app: Flask, username: str = "alice") -> None:
    """Create an account straight in the database."""
    with app.app_context():
        accounts.create_user(username, PASSWORD)
        db.session.commit()


def add_business(app: Flask, name: str = "Corner Bakery", **kwargs: Any) -> str:
    """Create a business straight in the database and return its slug."""
    with app.app_context():
        business = businesses.create_business(name, **kwargs)
        db.session.commit()
        return business.slug
