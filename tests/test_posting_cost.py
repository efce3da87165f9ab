"""What a post costs the database, and SQLite writers taking turns, so a burst stays quick."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import pytest
import sqlalchemy as sa
from conftest import TEST_DATABASE_URL
from helpers import templates_compiled

from webapp.cli.serve import compile_templates
from webapp.extensions import db
from webapp.infra.db_setup import TurnTakingConnection, WriteTurnHeld, turn_for
from webapp.models import Post

# Per POST /posts/new of a praise (the author's round already complete): who is signed in,
# with their connections on each network (read together, for the layout's banners and the
# compose switches), the earlier-submission check (form, then publish), the business picked;
# then, from the
# INSERT on, holding the write lock: the INSERT, the business's counters, its week and the
# round; nothing after the COMMIT: what the redirect needs is read before it. Lower these
# when a change saves a statement; raise them only for a good reason.
STATEMENTS_PER_POST = 8
STATEMENTS_HOLDING_THE_LOCK = 4
COMMIT = "-- commit"


@contextmanager
def statements_sent() -> Iterator[list[str]]:
    """Collect the SQL statements sent within the block (and, while in it, where it commits)."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append(statement)

    def commit(conn) -> None:
        sent.append(COMMIT)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    sa.event.listen(db.engine, "commit", commit)
    try:
        yield sent
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
        sa.event.remove(db.engine, "commit", commit)
    while COMMIT in sent:
        sent.remove(COMMIT)


def praise(business_id: int, n: int) -> dict[str, str]:
    """Return a filled compose form, as a browser with the outbox sends it."""
    return {
        "kind": "praise",
        "business_id": str(business_id),
        "body": f"Quick, kind and patient with my order, time {n}.",
        "happened_on": date.today().isoformat(),
        "channel": "in_person",
        "is_on_wall": "y",
        "shows_name": "y",
        "rating": "5",
        "submission_key": f"key-{n}",
    }


def test_a_post_costs_a_fixed_number_of_statements(client, signed_in_alice, bakery):
    """Posting sends the same few statements each time, and few while it holds the write lock."""
    for n in range(3):  # the first three complete the author's round
        assert client.post("/posts/new", data=praise(bakery.id, n)).status_code == 302
    business_id = bakery.id
    with statements_sent() as sent:
        response = client.post("/posts/new", data=praise(business_id, 3))
        holding = sent[[sql.startswith("INSERT INTO post") for sql in sent].index(True) :]
        holding = holding[: holding.index(COMMIT)]
    assert response.status_code == 302
    assert (len(sent), len(holding)) == (STATEMENTS_PER_POST, STATEMENTS_HOLDING_THE_LOCK), sent
    assert db.session.scalar(sa.select(sa.func.count(Post.id))) == 4


def test_sending_the_same_post_again_writes_nothing(client, signed_in_alice, bakery):
    """The outbox sending a post twice gets the first one back, with no write at all."""
    first = client.post("/posts/new", data=praise(bakery.id, 1))
    business_id = bakery.id
    with statements_sent() as sent:
        again = client.post("/posts/new", data=praise(business_id, 1))
    assert again.headers["Location"] == first.headers["Location"]
    assert not [sql for sql in sent if not sql.startswith("SELECT")]


def test_templates_compiled_at_start_leave_nothing_to_compile_while_people_post(
    app, client, signed_in_alice, bakery, monkeypatch
):
    """What a serving process compiles as it starts is all a burst needs: the first people to
    open the form, post and see their post don't wait for a template, nor does the wall."""
    compile_templates(app)
    compiled = templates_compiled(app, monkeypatch)
    assert client.get("/posts/new").status_code == 200
    posted = client.post("/posts/new", data=praise(bakery.id, 1))
    assert posted.status_code == 302
    page = client.get(posted.headers["Location"])
    assert "Quick, kind and patient" in page.text
    assert client.get(f"/b/{bakery.slug}").status_code == 200
    assert compiled == []


@pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite's write lock")
def test_sqlite_writers_take_turns_until_commit_or_rollback(instance_app):
    """A second writer waits for the first's COMMIT or ROLLBACK, then writes; readers never wait."""
    engine = db.engine
    raw = engine.raw_connection()
    assert isinstance(raw.dbapi_connection, TurnTakingConnection)
    raw.close()
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE turns (name TEXT)")
    table = sa.table("turns", sa.column("name"))
    done: list[str] = []

    def write(name: str) -> None:
        with engine.begin() as conn:
            conn.execute(table.insert().values(name=name))
        done.append(name)

    first = engine.connect()
    first.execute(table.insert().values(name="first"))
    second = threading.Thread(target=write, args=("second",))
    second.start()
    with engine.connect() as reader:
        # Outside any write, a read goes ahead while a writer holds the lock.
        assert reader.scalar(sa.select(sa.func.count()).select_from(table)) == 0
    second.join(timeout=0.5)
    assert second.is_alive() and done == []
    first.rollback()
    second.join()
    assert done == ["second"]
    # The turn came back with the rollback, and comes back with each commit.
    write("third")
    first.close()
    with engine.connect() as reader:
        names = reader.scalars(sa.select(table.c.name).order_by(table.c.name)).all()
    assert names == ["second", "third"]


@pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite's write lock")
def test_a_connection_dropped_while_writing_gives_its_turn_back(instance):
    """Losing a connection in the middle of a write doesn't leave the other writers waiting."""
    path = str(instance / "dropped.db")
    connection = TurnTakingConnection(path)
    connection.execute("CREATE TABLE turns (name TEXT)")
    connection.execute("INSERT INTO turns VALUES ('unfinished')")
    assert turn_for(path).locked()
    del connection
    gc.collect()
    assert not turn_for(path).locked()


@pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite's write lock")
def test_a_thread_writing_on_a_second_connection_is_told_at_once(instance):
    """A thread holding the turn on one connection would wait for itself on another: refused."""
    path = str(instance / "twice.db")
    first, second = TurnTakingConnection(path), TurnTakingConnection(path)
    first.execute("CREATE TABLE turns (name TEXT)")
    first.commit()
    first.execute("INSERT INTO turns VALUES ('first')")
    with pytest.raises(WriteTurnHeld, match="commit or roll that back before writing here"):
        second.execute("INSERT INTO turns VALUES ('second')")
    first.commit()
    second.execute("INSERT INTO turns VALUES ('second')")
    second.commit()
    assert [name for (name,) in first.execute("SELECT name FROM turns ORDER BY name")] == [
        "first",
        "second",
    ]
    first.close()
    second.close()


@pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite's write lock")
def test_the_turn_comes_back_when_a_savepoint_ends_the_transaction(instance_app):
    """A savepoint begun outside any transaction commits at its RELEASE: the turn goes back."""
    engine = db.engine
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE turns (name TEXT)")
    table = sa.table("turns", sa.column("name"))
    turn = turn_for(engine.url.database)
    with engine.connect() as conn:
        with conn.begin_nested():
            conn.execute(table.insert().values(name="nested"))
            assert turn.locked()
        assert not turn.locked()
        # Another writer goes ahead at once, while this connection is still open.
        with engine.begin() as other:
            other.execute(table.insert().values(name="other"))
    with engine.connect() as reader:
        names = reader.scalars(sa.select(table.c.name).order_by(table.c.name)).all()
    assert names == ["nested", "other"]
