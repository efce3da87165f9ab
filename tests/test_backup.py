"""`flask backup`: a consistent copy of the SQLite database while the site keeps writing."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Kind, Post
from webapp.services import accounts, businesses


@pytest.fixture
def file_app(make_app, tmp_path: Path):
    """Return an app on a SQLite file, with a user and a business, and the file's path."""
    path = tmp_path / "praisewall.db"
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")
    with app.app_context():
        accounts.create_user("alice", "correct horse battery")
        businesses.create_business("Corner Bakery")
        db.session.commit()
    return app


def add_post(body: str) -> None:
    """Write one post, as the site would."""
    db.session.add(
        Post(
            author_id=1,
            business_id=1,
            kind=Kind.PRAISE,
            body=body,
            happened_on=date.today(),
            channel="in_person",
        )
    )
    db.session.commit()


def posts_in(path: Path) -> int:
    """Count the posts in a database file."""
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT count(*) FROM post").fetchone()[0]


def test_backup_while_the_site_writes_is_consistent(file_app, tmp_path):
    """A writer keeps adding posts during the backup; the copy is whole and in between."""
    stop = threading.Event()
    started = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        """Keep adding posts until told to stop."""
        try:
            with file_app.app_context():
                n = 0
                while not stop.is_set():
                    add_post(f"Post number {n}")
                    n += 1
                    if n == 20:
                        started.set()
                db.session.remove()
        except BaseException as error:  # reported by the test thread
            errors.append(error)
            started.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert started.wait(10)
        with file_app.app_context():
            before = db.session.scalar(sa.select(sa.func.count()).select_from(Post))
            db.session.remove()
        target = tmp_path / "copy" / "backup.db"
        result = file_app.test_cli_runner().invoke(args=["backup", str(target)])
        with file_app.app_context():
            after = db.session.scalar(sa.select(sa.func.count()).select_from(Post))
            db.session.remove()
    finally:
        stop.set()
        writer.join(10)
    assert not errors, errors
    assert result.exit_code == 0, result.output
    assert f"to {target}" in result.output
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert before <= posts_in(target) <= after
    assert not list(target.parent.glob(".*.partial"))


def test_backup_goes_to_instance_backups_by_default(file_app, tmp_path):
    """Without a path, the copy is named after the UTC time under instance/backups."""
    file_app.instance_path = str(tmp_path / "instance")
    result = file_app.test_cli_runner().invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    (made,) = (tmp_path / "instance" / "backups").glob("praisewall-*Z.db")
    assert posts_in(made) == 0


def test_backup_never_overwrites(file_app, tmp_path):
    """An existing file is left alone."""
    target = tmp_path / "taken.db"
    target.write_text("keep me")
    result = file_app.test_cli_runner().invoke(args=["backup", str(target)])
    assert result.exit_code != 0
    assert "exists already" in result.output
    assert target.read_text() == "keep me"


def test_backup_of_postgresql_explains_pg_dump(make_app):
    """On PostgreSQL it prints the pg_dump command, without the password, and fails."""
    app = make_app(
        with_tables=False,
        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://pw:s3cret@db.example:5432/praisewall",
    )
    result = app.test_cli_runner().invoke(args=["backup"])
    assert result.exit_code != 0
    assert "pg_dump --format=custom" in result.output
    assert "db.example:5432/praisewall" in result.output
    assert "s3cret" not in result.output


def test_backup_of_an_in_memory_database_is_refused(make_app):
    """There is no file to copy."""
    app = make_app(SQLALCHEMY_DATABASE_URI="sqlite://")
    result = app.test_cli_runner().invoke(args=["backup"])
    assert result.exit_code != 0
    assert "in memory" in result.output
