"""Command-line tools: `flask create-admin`, `flask demo-data`."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask

from webapp.extensions import db
from webapp.models import Post
from webapp.services import accounts


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(create_admin)
    app.cli.add_command(demo_data)


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
        click.echo(f"Created admin {user.username}.")
    else:
        user.is_admin = True
        click.echo(f"{user.username} is now an admin.")
        if password is not None:
            click.echo("Their password is unchanged; they can change it in /settings.", err=True)
    db.session.commit()


@click.command("demo-data")
@click.option("--seed", default=2026, show_default=True, help="Random seed for a repeatable run.")
def demo_data(seed: int) -> None:
    """Fill an empty database with a believable community."""
    from webapp.services import demo

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
