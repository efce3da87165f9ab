"""No write waits on another server: SQLite's write turn is given back before any remote call.

On a database file, writers take turns (webapp/infra/db_setup.py). A write transaction left
open while a server is asked something would keep every other writer (the web, a renewal of
the same account's tokens) waiting on that server. Each test here puts a loopback server in
the way that, when asked, looks whether the database is free to write.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from helpers import page_text

from tests.conftest import PASSWORD, AuthActions, run_queued_tasks
from tests.fault_proxy import FaultProxy
from tests.fixtures.app import TEST_DATABASE_URL
from tests.fixtures.bluesky import AtprotoNetwork
from webapp.extensions import db
from webapp.infra import crypto
from webapp.infra.db_setup import turn_for
from webapp.models import BlueskyAccount, Business, Crosspost, User, utcnow
from webapp.networks import delivery
from webapp.networks.bluesky import signin

pytestmark = pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite's write lock")

POST = "app.bsky.feed.post"
CREATE = "/xrpc/com.atproto.repo.createRecord"


def database_free(path: str) -> bool:
    """Tell whether a writer could start now: no turn taken here, no write lock on the file."""
    if turn_for(path).locked():
        return False
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()
    return True


class Watcher:
    """A server on loopback answering `{}` to anything, noting whether the database was free."""

    def __init__(self, database: str) -> None:
        """Serve on a free loopback port."""
        watcher = self
        self.database = database
        self.seen: list[tuple[str, bool]] = []

        class Handler(BaseHTTPRequestHandler):
            """Note the request and whether a writer could start, then answer."""

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                """Keep quiet: `seen` is the log."""

            def do_POST(self) -> None:  # noqa: N802 # the name http.server calls
                """Answer any POST."""
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                watcher.seen.append((self.path, database_free(watcher.database)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def database(tmp_path: Path) -> str:
    """Return the path of the test's database file."""
    return str(tmp_path / "turns.db")


@pytest.fixture
def app(make_app: Callable[..., Flask], database: str) -> Iterator[Flask]:
    """The app on a database file, whose writers take turns."""
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{database}")
    with app.app_context():
        yield app


@pytest.fixture
def watcher(database: str) -> Iterator[Watcher]:
    """Return a server that notes whether the database was free when it was asked."""
    watcher = Watcher(database)
    yield watcher
    watcher.close()


def on_network(app: Flask, net: AtprotoNetwork) -> None:
    """Point the app at the local AT Protocol network."""
    app.config.update(
        BLUESKY_PLC_URL=net.plc_url,
        BLUESKY_DEV_HANDLE_SERVER=net.pds_url,
        BLUESKY_APPVIEW=f"{net.appview_did}#bsky_appview",
        MASTODON_TIMEOUT=5,
    )


def compose(client, business: Business, body: str = "Kind and quick, thank you.") -> Crosspost:
    """Write a praise through the compose form, to Bluesky; return its crosspost row."""
    response = client.post(
        "/posts/new",
        data={
            "kind": "praise",
            "business_id": str(business.id),
            "body": body,
            "happened_on": datetime.now(UTC).date().isoformat(),
            "channel": "in_person",
            "is_on_wall": "y",
            "shows_name": "y",
            "to_bluesky": "y",
        },
    )
    assert response.status_code == 302, page_text(response)
    post_id = int(response.headers["Location"].rsplit("/", 1)[1])
    return db.session.scalars(sa.select(Crosspost).where(Crosspost.post_id == post_id)).one()


def test_leaving_ends_the_bluesky_session_before_deleting_anything(
    app, client, make_user, make_business, watcher
):
    """Leaving asks the server to end our session first, then deletes the account's rows."""
    alice = make_user("alice")
    db.session.add(
        BlueskyAccount(
            user=alice,
            did="did:plc:alicealicealicealice",
            handle="alice.test",
            pds_url=watcher.url,
            kind="app_password",
            access_token=crypto.encrypt("access"),
            refresh_token=crypto.encrypt("refresh"),
        )
    )
    db.session.commit()
    AuthActions(client).login()
    compose(client, make_business("Corner Bakery"))  # never sent: deleted with the account
    response = client.post("/settings/delete", data={"password": PASSWORD}, follow_redirects=True)
    assert "Your account and your posts are gone" in page_text(response)
    assert watcher.seen == [("/xrpc/com.atproto.server.deleteSession", True)]
    assert db.session.scalars(sa.select(BlueskyAccount)).all() == []
    assert db.session.scalars(sa.select(Crosspost)).all() == []


def app_password_for(net: AtprotoNetwork, account) -> str:
    """Make an app password for the account, as its owner would in Bluesky's settings."""
    answer = net.call(
        account,
        "POST",
        "com.atproto.server.createAppPassword",
        json={"name": f"praisewall-{time.time_ns()}"},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["password"]


def test_connecting_another_account_ends_the_old_session_before_writing(
    app, client, make_user, atproto_network, watcher
):
    """Connecting a second Bluesky account revokes the first at its server, then writes."""
    net = atproto_network
    on_network(app, net)
    make_user("alice")
    AuthActions(client).login()
    first, second = net.create_account("first"), net.create_account("second")
    for account in (first, second):
        response = client.post(
            "/settings/bluesky/app-password",
            data={"handle": account.handle, "app_password": app_password_for(net, account)},
        )
        assert response.status_code == 302, page_text(response)
        if account is first:
            # The old session ends at a server that notes whether the database was free.
            stored = db.session.scalar(sa.select(BlueskyAccount))
            stored.pds_url = watcher.url
            db.session.commit()
    assert watcher.seen == [("/xrpc/com.atproto.server.deleteSession", True)]
    assert f"Connected as @{second.handle}" in page_text(client.get("/settings"))


def test_a_post_overtaken_by_its_deletion_is_deleted_even_when_the_token_must_be_renewed(
    app, client, make_user, make_business, atproto_network, faulty_pds: FaultProxy
):
    """The row went while the post was being made: the worker deletes the post it made, and
    renews the ended token on the way (a write of its own) without waiting on itself."""
    net = atproto_network
    on_network(app, net)
    alice = make_user("alice")
    alice_there = net.create_account("alice")
    signin.connect_app_password(alice, alice_there.handle, app_password_for(net, alice_there))
    alice.bluesky_account.pds_url = faulty_pds.url
    db.session.commit()
    AuthActions(client).login()
    row = compose(client, make_business("Corner Bakery"))
    account_id, version = alice.bluesky_account.id, alice.bluesky_account.token_version
    row_id = row.id
    faulty_pds.delay_next(CREATE, seconds=2, forward=True)
    outcome: list[object] = []

    def worker() -> None:
        """Deliver the row, as the worker process would."""
        with app.app_context():
            try:
                outcome.append(delivery.deliver(row_id))
                db.session.commit()
            except BaseException as failure:  # reported by the test's assertion
                outcome.append(failure)
            finally:
                db.session.remove()

    thread = threading.Thread(target=worker)
    thread.start()
    while CREATE not in faulty_pds.paths() and thread.is_alive():
        time.sleep(0.05)
    # Meanwhile the row goes, and the access token ends.
    db.session.execute(sa.delete(Crosspost).where(Crosspost.id == row_id))
    db.session.execute(
        sa.update(BlueskyAccount)
        .where(BlueskyAccount.id == account_id)
        .values(expires_at=utcnow() - timedelta(minutes=1))
    )
    db.session.commit()
    thread.join(timeout=120)
    assert outcome == [None], outcome
    assert net.list_records(alice_there.did, POST) == []
    account = db.session.get(BlueskyAccount, account_id)
    db.session.refresh(account)
    assert account.token_version == version + 2  # renewed once, on the way
    assert not account.needs_login
    run_queued_tasks()
    assert db.session.get(User, alice.id) is not None
