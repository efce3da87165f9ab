"""Per-connection database settings and the user loader."""

from __future__ import annotations

import secrets

from flask import Flask
from sqlalchemy import event

from webapp.extensions import db, login_manager


def init_app(app: Flask) -> None:
    """Set up SQLite for real use (see _sqlite_pragmas) and teach Flask-Login to load users."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """Enforce foreign keys (off by default in SQLite) and let readers run beside a writer."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # Under a burst of posters a write may queue for seconds behind the others: waiting is
    # better than refusing the post ("database is locked"), and browsers wait far longer.
    cursor.execute("PRAGMA busy_timeout=15000")
    # Under WAL this is still safe against crashes; only a power cut can lose the last commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@login_manager.user_loader
def load_user(cookie_id: str):
    """Load the user from "id:token"; a stale token (new password, deleted user) is nobody."""
    from webapp.models import User, parse_id

    user_id, _, token = cookie_id.partition(":")
    number = parse_id(user_id)
    user = db.session.get(User, number) if number else None
    if user is None or not secrets.compare_digest(user.session_token, token):
        return None
    return user
