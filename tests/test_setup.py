"""Setup a newcomer can trust: settings, secrets, migrations and demo data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import TEST_DATABASE_URL
from helpers import count

from webapp import ROOT, create_app, database_url
from webapp.extensions import db
from webapp.models import Business, ChallengeRound, Post, User
from webapp.services import challenge


def flask_command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the `flask` command line the way a person would."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "webapp", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def instance_env(tmp_path: Path) -> dict[str, str]:
    """Point the app at an empty instance folder (and the test database, when PostgreSQL)."""
    env = {"WEBAPP_INSTANCE_PATH": str(tmp_path / "instance")}
    if TEST_DATABASE_URL:
        env["DATABASE_URL"] = TEST_DATABASE_URL
    return env


@pytest.fixture
def empty_database():
    """On PostgreSQL, hand the shared test database over empty and restore the tables after."""
    if not TEST_DATABASE_URL:
        yield
        return
    engine = sa.create_engine(TEST_DATABASE_URL)
    with engine.begin() as conn:
        db.metadata.drop_all(conn)
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    yield
    with engine.begin() as conn:
        db.metadata.drop_all(conn)
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        db.metadata.create_all(conn)
    engine.dispose()


def test_first_run_generates_a_secret_key_into_instance(tmp_path, monkeypatch):
    """No key is hard-coded: the first run writes a random one into instance/ and reuses it."""
    monkeypatch.setenv("WEBAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("WEBAPP_SECRET_KEY", raising=False)
    first = create_app()
    key_file = tmp_path / "instance" / "secret_key"
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert len(first.config["SECRET_KEY"]) == 64
    assert create_app().config["SECRET_KEY"] == first.config["SECRET_KEY"]
    other = tmp_path / "other"
    monkeypatch.setenv("WEBAPP_INSTANCE_PATH", str(other))
    assert create_app().config["SECRET_KEY"] != first.config["SECRET_KEY"]
    with first.app_context():
        db.engine.dispose()


def test_settings_come_from_the_environment(tmp_path, monkeypatch):
    """DATABASE_URL and WEBAPP_* settings override the defaults; postgres:// gets psycopg 3."""
    monkeypatch.setenv("WEBAPP_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgres://someone@db.internal/praise")
    monkeypatch.setenv("WEBAPP_SECRET_KEY", '"from-env"')
    monkeypatch.setenv("WEBAPP_PER_PAGE", "7")
    app = create_app()
    assert (
        app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://someone@db.internal/praise"
    )
    assert app.config["SECRET_KEY"] == "from-env" and app.config["PER_PAGE"] == 7
    assert not (tmp_path / "secret_key").exists()
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"
    with app.app_context():
        db.engine.dispose()


def test_default_database_is_sqlite_in_instance(tmp_path, monkeypatch):
    """Out of the box the database is a SQLite file in instance/: WAL, foreign keys, patience."""
    monkeypatch.setenv("WEBAPP_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app()
    with app.app_context():
        assert db.engine.url.database == str(tmp_path / "praisewall.db")
        assert db.session.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        assert db.session.execute(sa.text("PRAGMA busy_timeout")).scalar() == 15000
        assert db.session.execute(sa.text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        db.session.remove()
        db.engine.dispose()


def test_migrations_build_the_schema_from_empty_and_match_the_models(instance_env, empty_database):
    """`flask db upgrade` creates everything from nothing, and `flask db check` finds no drift."""
    upgrade = flask_command("db", "upgrade", env=instance_env)
    assert upgrade.returncode == 0, upgrade.stderr
    check = flask_command("db", "check", env=instance_env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    again = flask_command("db", "upgrade", env=instance_env)
    assert again.returncode == 0, again.stderr


def test_demo_data_fills_an_empty_database_once(instance_env, empty_database, monkeypatch):
    """`flask demo-data` makes a believable community, and refuses a database with posts."""
    # The app below makes its key file in the test's instance folder, not the project's.
    monkeypatch.setenv("WEBAPP_INSTANCE_PATH", instance_env["WEBAPP_INSTANCE_PATH"])
    assert flask_command("db", "upgrade", env=instance_env).returncode == 0
    first = flask_command("demo-data", env=instance_env)
    assert first.returncode == 0, first.stderr
    assert "200 posts" in first.stdout
    again = flask_command("demo-data", env=instance_env)
    assert again.returncode != 0
    assert "already has posts" in again.stderr

    url = TEST_DATABASE_URL or f"sqlite:///{instance_env['WEBAPP_INSTANCE_PATH']}/praisewall.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True})
    with app.app_context():
        assert 3 <= count(User) <= 12
        assert 15 <= count(Business) <= 30
        assert 180 <= count(Post) <= 220
        kinds = db.session.execute(sa.select(Post.kind, sa.func.count()).group_by(Post.kind)).all()
        assert {kind for kind, _ in kinds} == {"praise", "complaint"}
        spread = db.session.execute(
            sa.select(sa.func.min(Post.created_at), sa.func.max(Post.created_at))
        ).one()
        assert (spread[1] - spread[0]).days >= 60
        rounds = db.session.scalars(sa.select(ChallengeRound)).all()
        finished = [r for r in rounds if r.completed_at is not None]
        assert len(finished) >= 2
        for round_ in rounds:
            progress = challenge.progress(round_)
            assert (progress.count == round_.goal) == (round_.completed_at is not None)
        client = app.test_client()
        slug = db.session.scalars(sa.select(Business.slug)).first()
        for path in ("/", "/wall", f"/b/{slug}", "/businesses", "/challenge"):
            assert client.get(path).status_code == 200, path
        db.session.remove()
        db.engine.dispose()


def test_upgrading_a_populated_database_fills_the_weeks_and_medians(instance_env, empty_database):
    """Downgrading past business_week and back rebuilds the same weeks and medians from posts."""
    assert flask_command("db", "upgrade", env=instance_env).returncode == 0
    assert flask_command("demo-data", env=instance_env).returncode == 0
    url = TEST_DATABASE_URL or f"sqlite:///{instance_env['WEBAPP_INSTANCE_PATH']}/praisewall.db"
    engine = sa.create_engine(database_url(url))

    def numbers() -> tuple[list, list]:
        with engine.connect() as conn:
            weeks = conn.execute(
                sa.text("SELECT * FROM business_week WHERE praise + complaints > 0 ORDER BY 1, 2")
            ).all()
            medians = conn.execute(
                sa.text(
                    "SELECT id, median_resolve_days, median_reply_seconds FROM business ORDER BY id"
                )
            ).all()
        return weeks, medians

    try:
        kept = numbers()
        assert kept[0] and any(days is not None for _, days, _ in kept[1])
        down = flask_command("db", "downgrade", "5b1e0c2d7a41", env=instance_env)
        assert down.returncode == 0, down.stderr
        up = flask_command("db", "upgrade", env=instance_env)
        assert up.returncode == 0, up.stderr
        assert numbers() == kept
    finally:
        engine.dispose()
