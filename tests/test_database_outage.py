"""PostgreSQL going away and coming back: a plain 503 meanwhile, and nothing lost after.

The app reaches its own PostgreSQL database through a small TCP forwarder on loopback that the
test cuts (closing every connection and refusing new ones) and restores, as a restart would.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from conftest import ON_CI, AuthActions, compose_form, run_queued_tasks
from test_faults import author_and_bakery, new_crosspost

from webapp import tasks
from webapp.extensions import db
from webapp.infra import db_setup
from webapp.models import Crosspost, CrosspostState, Post
from webapp.services import businesses

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class Forwarder:
    """Forward loopback TCP connections to a target; `cut()` drops them all until `restore()`."""

    def __init__(self, target: tuple[str, int]) -> None:
        """Listen on a free loopback port."""
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.is_cut = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        """Accept connections and pump each both ways, or close it at once while cut."""
        while True:
            try:
                inbound, _ = self.listener.accept()
            except OSError:
                return
            if self.is_cut:
                inbound.close()
                continue
            outbound = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [inbound, outbound]
            threading.Thread(target=self.pump, args=(inbound, outbound), daemon=True).start()
            threading.Thread(target=self.pump, args=(outbound, inbound), daemon=True).start()

    @staticmethod
    def pump(source: socket.socket, sink: socket.socket) -> None:
        """Copy bytes from one socket to the other until either closes."""
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Drop every connection and refuse new ones, as a stopped server would."""
        self.is_cut = True
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self.sockets.clear()

    def restore(self) -> None:
        """Let connections through again."""
        self.is_cut = False

    def close(self) -> None:
        """Stop listening and drop everything."""
        self.cut()
        self.listener.close()


@pytest.fixture
def database() -> Iterator[str]:
    """Create a database of our own for this test and drop it after; skip without PostgreSQL."""
    try:
        admin = psycopg.connect(ADMIN_URL, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError:
        message = "PostgreSQL is not running on 127.0.0.1:5432"
        if ON_CI:
            pytest.fail(message + "; CI needs it for the outage test")
        pytest.skip(message + ": skipping the outage test")
    name = f"praisewall_outage_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def forwarder() -> Iterator[Forwarder]:
    """Return a cuttable forwarder to PostgreSQL."""
    proxy = Forwarder(("127.0.0.1", 5432))
    yield proxy
    proxy.close()


@pytest.fixture
def app(make_app, database: str, forwarder: Forwarder):
    """Return the app on its own PostgreSQL database behind the forwarder, context pushed."""
    app = make_app(
        with_tables=False,
        SERVER_NAME="praisewall.example.com",
        SQLALCHEMY_DATABASE_URI=(
            f"postgresql+psycopg://postgres@127.0.0.1:{forwarder.port}/{database}?connect_timeout=3"
        ),
    )
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


def test_the_web_answers_503_while_the_database_is_away_and_nothing_is_lost(
    app, client, fake_mastodon, forwarder, make_business
):
    """During the outage: 503 pages, no stack trace; after it, pending posts are delivered."""
    user, bakery = author_and_bakery(fake_mastodon, make_business, "frank")
    before = new_crosspost(user, bakery, 1)
    db.session.commit()
    before_id, slug = before.id, bakery.slug
    form = compose_form(bakery, body="Lovely bread.")
    assert AuthActions(client).login("frank").status_code == 302

    forwarder.cut()
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["database"] == "unreachable"
    for path in ("/", "/me", f"/b/{slug}"):
        page = client.get(path)
        assert page.status_code == 503, (path, page.text[:500])
        assert page.headers["Retry-After"] == "30"
        assert "can't reach our database" in page.text.replace("&#39;", "'")
        assert "Traceback" not in page.text and "psycopg" not in page.text
    api = client.get("/api/v1/wall")
    assert api.status_code == 503 and api.mimetype == "application/problem+json"
    assert api.json["status"] == 503
    posted = client.post("/posts/new", data=form)
    assert posted.status_code == 503
    # The worker fails loudly on the row, and loses it not: the row is still there after.
    with pytest.raises(sa.exc.DBAPIError):
        tasks.deliver.call_local(before_id)

    forwarder.restore()
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 200
    made = client.post("/posts/new", data={**form, "body": "Lovely bread, again."})
    assert made.status_code == 302
    db.session.rollback()
    tasks.enqueue(tasks.deliver, before_id)
    run_queued_tasks(scheduled=True)
    rows = db.session.scalars(sa.select(Crosspost).order_by(Crosspost.id)).all()
    assert [row.state for row in rows] == [CrosspostState.SENT] * 2
    statuses = [s for s in fake_mastodon.statuses if not s["deleted"]]
    assert sorted(s["idempotency_key"] for s in statuses) == sorted(r.idempotency_key for r in rows)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Post)) == 2


def end_sessions(database: str) -> int:
    """End every session on the database, as a restart of PostgreSQL does; return how many.

    Returns once they are gone, so each has said goodbye and closed its socket.
    """
    sessions = "FROM pg_stat_activity WHERE datname = %s"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        ended = admin.execute(f"SELECT pg_terminate_backend(pid) {sessions}", (database,))
        count = len(ended.fetchall())
        deadline = time.monotonic() + 10
        while admin.execute(f"SELECT count(*) {sessions}", (database,)).fetchone() != (0,):
            assert time.monotonic() < deadline, "the sessions did not end"
            time.sleep(0.01)
    return count


@pytest.fixture
def direct_app(make_app, database: str):
    """Return the app on its own PostgreSQL database, reached directly, with a business.

    No context is left pushed: each request checks a connection out of the pool and back in.
    """
    app = make_app(
        with_tables=False,
        SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}",
    )
    with app.app_context():
        db.create_all()
        businesses.create_business("Harbour Bikes")
        db.session.commit()
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def pings(direct_app, monkeypatch) -> list[int]:
    """Count the pings the app's pool sends before handing out a connection."""
    with direct_app.app_context():
        dialect = db.engine.dialect
    sent: list[int] = []
    ping = dialect.do_ping

    def counted(dbapi_connection):
        """Ping, and count it."""
        sent.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    return sent


def test_connections_in_steady_use_are_not_pinged_but_ended_ones_are_replaced_unseen(
    direct_app, database, pings
):
    """Requests one after another cost no ping; after a restart's goodbye, pages answer as ever."""
    client = direct_app.test_client()
    AuthActions(client).register("ines")
    for _ in range(5):
        assert client.get("/me").status_code == 200
        assert client.get("/healthz").status_code == 200
    assert pings == []

    assert end_sessions(database) >= 1
    for path in ("/healthz", "/me", "/b/harbour-bikes", "/challenge"):
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:300])
    assert pings, "a connection the database ended must be pinged before use"


def test_a_connection_left_quiet_long_is_pinged_before_use(direct_app, pings, monkeypatch):
    """One that sat unused past the quiet limit may have been dropped on the way: it is pinged."""
    client = direct_app.test_client()
    assert client.get("/healthz").status_code == 200
    assert pings == []
    monkeypatch.setattr(db_setup, "QUIET_BEFORE_PING", 0.0)
    assert client.get("/healthz").status_code == 200
    assert pings == [1]
