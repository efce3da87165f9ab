"""Command-line tools: serving, the queue worker, admins, demo data, key rotation."""

from __future__ import annotations

import getpass
import os
import shlex
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

from webapp import audit
from webapp.cli import crossposts
from webapp.cli.walls import walls
from webapp.extensions import db
from webapp.models import Post
from webapp.services import accounts


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(create_admin)
    app.cli.add_command(demo_data)
    app.cli.add_command(serve_site)
    app.cli.add_command(worker)
    app.cli.add_command(rotate_keys)
    app.cli.add_command(backup)
    app.cli.add_command(crossposts.crossposts)
    app.cli.add_command(walls)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, envvar="PORT", type=int)
@click.option("--threads", default=64, show_default=True, help="Request threads.")
@click.option(
    "--running", default=2, show_default=True, help="Requests running at once; others wait."
)
@click.option("--workers", default=2, show_default=True, help="Queue worker threads.")
def serve_site(host: str, port: int, threads: int, running: int, workers: int) -> None:
    """Serve the site with gunicorn on one machine, with the queue worker in the same process."""
    from webapp.cli.serve import Server

    click.echo(f"Praisewall is running at http://{host}:{port}  (Ctrl-C stops it)")
    Server(current_app._get_current_object(), host, port, threads, workers, running).run()


@click.command("worker")
@click.option("--workers", default=4, show_default=True, help="Worker threads.")
def worker(workers: int) -> None:
    """Run the queue worker on its own: delivers statuses, watches for replies, sweeps."""
    from webapp.infra import queue

    queue.run_worker(workers)


@click.command("rotate-keys")
@click.option("--retire", is_flag=True, help="Drop the older keys once no secret needs them.")
def rotate_keys(retire: bool) -> None:
    """Re-encrypt stored tokens and client secrets under a new key.

    With keys in instance/fernet_keys, a fresh key goes at the top of the file first; with
    WEBAPP_FERNET_KEYS, its first key is the new one. --retire then drops the older keys.
    """
    from webapp.infra import crypto
    from webapp.services import keys

    if retire:
        try:
            click.echo(keys.retire())
        except keys.KeyProblem as problem:
            raise click.ClickException(str(problem)) from None
        return
    problem = keys.rotation_problem()
    if problem:
        raise click.ClickException(problem)
    if crypto.uses_key_file(current_app):
        click.echo(f"Added a new key at the top of {keys.add_key_to_file()}.")
    done, unreadable = keys.reencrypt()
    db.session.commit()
    click.echo(f"Re-encrypted {done} secrets under the newest key.")
    if unreadable:
        raise click.ClickException(
            f"{unreadable} stored secrets could be read by no key and were left as they were: "
            "give back the key they were encrypted with, then run this again."
        )


@click.command("backup")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup(path: Path | None) -> None:
    """Copy the SQLite database to PATH, consistently, while the site keeps running.

    PATH defaults to instance/backups/praisewall-<UTC time>.db. For PostgreSQL, print the
    pg_dump command to run instead, and fail.
    """
    url = db.engine.url
    if url.get_backend_name() != "sqlite":
        safe = url.set(password="PASSWORD") if url.password else url  # nosec B106 # placeholder
        plain = safe.set(drivername=url.get_backend_name()).render_as_string(hide_password=False)
        raise click.ClickException(
            "`flask backup` copies SQLite databases only. For PostgreSQL, run:\n  "
            f"pg_dump --format=custom --file=praisewall.dump {shlex.quote(plain)}"
        )
    source = url.database
    if not source or source == ":memory:" or source.startswith("file::memory:"):
        raise click.ClickException("The database is in memory; there is no file to back up.")
    if path is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = Path(current_app.instance_path) / "backups" / f"praisewall-{stamp}.db"
    if path.exists():
        raise click.ClickException(f"{path} exists already; choose a new name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed, so PATH is never a half-written copy.
    partial = path.with_name(f".{path.name}.partial")
    live = sqlite3.connect(f"{Path(source).resolve().as_uri()}?mode=ro", uri=True)
    copy = sqlite3.connect(partial)
    try:
        # One step (pages=-1) reads a single snapshot, however much the site writes meanwhile.
        live.backup(copy)
    finally:
        copy.close()
        live.close()
    os.replace(partial, path)
    click.echo(f"Backed up {source} to {path}.")


@click.command("create-admin")
@click.argument("name")
@click.option("--password", envvar="ADMIN_PASSWORD", help="Password for a new account.")
def create_admin(name: str, password: str | None) -> None:
    """Make NAME an admin, creating the account (asking for a password) if needed."""
    user = accounts.find_user(name)
    if user is None:
        problem = accounts.username_problem(accounts.normalize_username(name))
        if problem:
            raise click.ClickException(problem)
        if password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        problem = accounts.password_problem(password, name)
        if problem:
            raise click.ClickException(problem)
        user = accounts.create_user(name, password, is_admin=True)
        audit.record(
            None,
            "admin.create",
            user,
            actor_name=command_line_user(),
            username=user.username,
            created=True,
        )
        click.echo(f"Created admin {user.username}.")
    else:
        was_admin = user.is_admin
        user.is_admin = True
        audit.record(
            None,
            "admin.create",
            user,
            actor_name=command_line_user(),
            username=user.username,
            was_admin=was_admin,
        )
        click.echo(f"{user.username} is now an admin.")
        if password is not None:
            click.echo("Their password is unchanged; they can change it in /settings.", err=True)
    db.session.commit()


def command_line_user() -> str:
    """Name who ran a command, as the audit log shows it."""
    try:
        return f"command line ({getpass.getuser()})"
    except OSError:
        return "command line"


@click.command("demo-data")
@click.option("--seed", default=2026, show_default=True, help="Random seed for a repeatable run.")
def demo_data(seed: int) -> None:
    """Fill an empty database with a believable community."""
    from webapp import demo

    if db.session.scalar(sa.select(sa.func.count()).select_from(Post)):
        raise click.ClickException(
            "The database already has posts; demo data goes only into an empty one."
        )
    counts = demo.fill(seed)
    db.session.commit()
    click.echo(
        "Added {users} people, {businesses} businesses, {posts} posts "
        "and {completed} finished challenge rounds.".format(**counts)
    )
