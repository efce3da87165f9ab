"""Per-connection database settings, SQLite writers taking turns, and the user loader."""

from __future__ import annotations

import secrets
import select
import sqlite3
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import make_url

from webapp.extensions import db, login_manager

BUSY_TIMEOUT = 15  # seconds a write waits for SQLite's write lock before it is refused
# A pooled connection to a server left unused this long is pinged before it is used again: a
# firewall or NAT in between may have dropped it without a word.
QUIET_BEFORE_PING = 30.0
# The statements that start a write transaction (as Python's sqlite3 module begins one).
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_turns: dict[str, Turn] = {}
_turns_lock = threading.Lock()


class WriteTurnHeld(sqlite3.OperationalError):
    """A thread asked to write on a second connection while its first holds the write turn."""


class Turn:
    """The lock one database's writers take turns with, and which thread holds it."""

    def __init__(self) -> None:
        """Start free."""
        self.lock = threading.Lock()
        self.holder: int | None = None

    def acquire(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the turn; tell whether we have it."""
        if not self.lock.acquire(timeout=timeout):
            return False
        self.holder = threading.get_ident()
        return True

    def release(self) -> None:
        """Give the turn back."""
        self.holder = None
        self.lock.release()

    def locked(self) -> bool:
        """Tell whether some connection holds the turn."""
        return self.lock.locked()


def engine_options(app: Flask) -> None:
    """Make a SQLite file's connections take turns at writing; call before the engine is made."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    options["connect_args"] = {**options.get("connect_args", {}), "factory": TurnTakingConnection}
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def turn_for(database: str) -> Turn:
    """Return the turn the writers of one database file take, in this process."""
    key = str(Path(database).resolve())
    with _turns_lock:
        return _turns.setdefault(key, Turn())


class TurnTakingConnection(sqlite3.Connection):
    """A SQLite connection whose writes wait in line in this process for SQLite's write lock.

    SQLite gives its write lock to whoever asks at the moment it is free: the others poll,
    sleeping up to 100 ms between tries, so under a burst of posters an unlucky one waits
    seconds while later ones go first. Here a write waits on a lock in this process instead,
    taken at its transaction's first write and given back when the transaction ends (COMMIT,
    ROLLBACK, or the RELEASE of a SAVEPOINT that began it), and is woken the moment it is its
    turn. A thread that holds the turn and asks again on another connection would only wait
    for itself: it is refused at once (WriteTurnHeld). SQLite still guards the file: other
    processes (the `flask` commands, a separate worker) wait for it as before, with the busy
    timeout.
    """

    def __init__(self, database, *args, **kwargs) -> None:
        """Open the connection and find the lock its writers share."""
        super().__init__(database, *args, **kwargs)
        self.turn = turn_for(database)
        self.has_turn = False

    def cursor(self, factory=None):  # type: ignore[override]
        """Return a cursor whose writes wait for their turn."""
        return super().cursor(factory or TurnTakingCursor)

    def execute(self, sql, parameters=(), /):  # type: ignore[override]
        """Run a statement on a new cursor, as sqlite3's shortcut does, waiting if it writes."""
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):  # type: ignore[override]
        """Run a statement for each set of parameters on a new cursor, waiting if it writes."""
        return self.cursor().executemany(sql, seq_of_parameters)

    def wait_turn(self, statement: str) -> None:
        """Before a transaction's first write, wait until no other connection here is writing."""
        if self.has_turn or not statement.lstrip()[:7].upper().startswith(WRITES):
            return
        if self.turn.holder == threading.get_ident():
            raise WriteTurnHeld(
                "This thread is already writing on another connection to the database: commit "
                "or roll that back before writing here (it would wait for itself)."
            )
        # Past the busy timeout, go on and let SQLite's own wait decide.
        self.has_turn = self.turn.acquire(timeout=BUSY_TIMEOUT)

    def after(self) -> None:
        """Let the next writer go once no transaction is open (RELEASE may have ended it)."""
        if self.has_turn and not self.in_transaction:
            self.end_turn()

    def end_turn(self) -> None:
        """Let the next writer go."""
        if self.has_turn:
            self.has_turn = False
            self.turn.release()

    def commit(self) -> None:
        """Commit, then let the next writer go."""
        try:
            super().commit()
        finally:
            self.end_turn()

    def rollback(self) -> None:
        """Roll back, then let the next writer go."""
        try:
            super().rollback()
        finally:
            self.end_turn()

    def close(self) -> None:
        """Close, then let the next writer go."""
        try:
            super().close()
        finally:
            self.end_turn()

    def __del__(self) -> None:
        """A connection dropped in the middle of a write must not keep the turn."""
        if getattr(self, "has_turn", False):
            self.end_turn()


class TurnTakingCursor(sqlite3.Cursor):
    """A cursor that waits for its connection's turn before a transaction's first write."""

    def execute(self, sql, parameters=(), /):  # type: ignore[override]
        """Run a statement, waiting for the turn first if it writes."""
        self.connection.wait_turn(sql)  # type: ignore[attr-defined]
        try:
            return super().execute(sql, parameters)
        finally:
            self.connection.after()  # type: ignore[attr-defined]

    def executemany(self, sql, seq_of_parameters, /):  # type: ignore[override]
        """Run a statement for each set of parameters, waiting for the turn first if it writes."""
        self.connection.wait_turn(sql)  # type: ignore[attr-defined]
        try:
            return super().executemany(sql, seq_of_parameters)
        finally:
            self.connection.after()  # type: ignore[attr-defined]


def init_app(app: Flask) -> None:
    """Set up SQLite for real use (see _sqlite_pragmas), or PostgreSQL's pings (see below)."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        elif engine.dialect.name == "postgresql":
            ping_when_in_doubt(engine)


def ping_when_in_doubt(engine: sa.Engine) -> None:
    """Before a pooled connection is used, ping it only if it sat quiet long or the server spoke.

    A ping before every use (pool_pre_ping) is a round trip per request. PostgreSQL says so when
    it ends a session (a restart, a terminated backend) and closes the socket, so a connection
    it has dropped has something to read: a poll finds that without a round trip. One left quiet
    past QUIET_BEFORE_PING may have been dropped in between without a word, and is pinged.
    A connection that fails its ping is replaced before the request uses it.
    """

    errors = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "checkin")
    def note_return(dbapi_connection, record) -> None:
        """Remember when the connection went back to the pool."""
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_in_doubt(dbapi_connection, record, proxy) -> None:
        """Ping a connection that sat quiet long or has something to read; replace a dead one."""
        returned_at = record.info.get("returned_at")
        if returned_at is None:
            return  # just opened
        quiet = time.monotonic() - returned_at > QUIET_BEFORE_PING
        if not quiet and not _has_something_to_read(dbapi_connection, errors):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except errors as exc:
            raise sa.exc.DisconnectionError("The database closed this connection.") from exc


def _has_something_to_read(dbapi_connection, errors: type[Exception]) -> bool:
    """Tell whether the server sent anything (a goodbye, the socket's end) to an idle connection."""
    try:
        poll = select.poll()
        poll.register(dbapi_connection.fileno(), select.POLLIN)
    except (OSError, ValueError, errors):
        return True
    return bool(poll.poll(0))


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """Enforce foreign keys (off by default in SQLite) and let readers run beside a writer."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # Under a burst of posters a write may queue for seconds behind the others: waiting is
    # better than refusing the post ("database is locked"), and browsers wait far longer.
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT * 1000}")
    # Under WAL this is still safe against crashes; only a power cut can lose the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@login_manager.user_loader
def load_user(cookie_id: str):
    """Load the user from "id:token"; a stale token (new password, deleted user) is nobody."""
    from webapp.infra import kept_people
    from webapp.models import parse_id

    user_id, _, token = cookie_id.partition(":")
    number = parse_id(user_id)
    user = kept_people.person(number) if number else None
    if user is None or not secrets.compare_digest(user.session_token, token):
        return None
    return user
