"""`flask walls`: look after business walls from the command line."""

from __future__ import annotations

import click

from webapp.extensions import db
from webapp.models import Business
from webapp.services import owners

OUTCOMES = {
    "held": "{name}: the claim holds; checked now.",
    "retry": "{name}: no answer from {where}; the claim stays and is checked again later.",
    "dropped": "{name}: the claim no longer holds; the wall is not verified any more.",
    "unclaimed": "{name} has not been claimed.",
}


@click.group("walls")
def walls() -> None:
    """Business walls."""


@walls.command("recheck")
@click.argument("slug")
def recheck(slug: str) -> None:
    """Prove the claim on the wall at SLUG again now, on Mastodon or its website."""
    business = db.session.scalar(db.select(Business).where(Business.slug == slug))
    if business is None:
        raise click.ClickException(f"No business at /b/{slug}.")
    where = business.domain if business.claim_proof == owners.WEBSITE else "Mastodon"
    outcome = owners.recheck(business)
    db.session.commit()
    click.echo(OUTCOMES[outcome].format(name=business.name, where=where))
