"""`flask crossposts …`: look at deliveries and run due work now, for operators and trials."""

from __future__ import annotations

import click
import sqlalchemy as sa
import sqlalchemy.orm as so
from flask.cli import AppGroup

from webapp.extensions import db
from webapp.models import Crosspost, CrosspostState, MastodonAccount, utcnow
from webapp.networks import delivery, replies, rows
from webapp.networks.log import where

crossposts = AppGroup("crossposts", help="Look at crossposts and deliver them now.")
STATES = [state.value for state in CrosspostState]


def find(crosspost_id: int) -> Crosspost:
    """Return the crosspost, or stop with a plain message.

    :raise click.ClickException: if there is no such crosspost.
    """
    row = rows.load(crosspost_id)
    if row is None:
        raise click.ClickException(f"There is no crosspost {crosspost_id}.")
    return row


def when(moment) -> str:
    """Format a time for the terminal, or "-"."""
    return moment.isoformat(timespec="seconds") if moment else "-"


def summary(row: Crosspost) -> str:
    """Describe a crosspost on one line: id, post, state, server, tries, next attempt, reason."""
    server = where(row)
    reason = f"  {row.last_error}" if row.last_error else ""
    return (
        f"{row.id:>6}  post {row.post_id or '-':<6} {row.state:<11} {server:<24} "
        f"tries {row.attempts:<2} next {when(row.next_attempt_at)}{reason}"
    )


@crossposts.command("list")
@click.option("--state", type=click.Choice(STATES), help="Only crossposts in this state.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def list_crossposts(state: str | None, limit: int) -> None:
    """List the latest crossposts, newest first."""
    query = (
        sa.select(Crosspost)
        .options(so.joinedload(Crosspost.mastodon_account).joinedload(MastodonAccount.server))
        .order_by(Crosspost.id.desc())
        .limit(limit)
    )
    if state:
        query = query.where(Crosspost.state == state)
    rows = db.session.scalars(query).all()
    if not rows:
        click.echo("No crossposts.")
    for row in rows:
        click.echo(summary(row))


@crossposts.command("show")
@click.argument("crosspost_id", type=int)
def show(crosspost_id: int) -> None:
    """Show everything about one crosspost but its account's token."""
    row = find(crosspost_id)
    account = row.account
    fields = [
        ("crosspost", row.id),
        ("post", row.post_id or "- (deleted)"),
        ("state", row.state),
        ("account", account.acct if account else "- (disconnected)"),
        ("server", where(row)),
        ("visibility", row.visibility),
        ("link", row.post_url),
        ("mention", f"{row.mention_acct or '-'} (found: {row.mention_resolved})"),
        ("attempts", row.attempts),
        ("first attempt", when(row.first_attempt_at)),
        ("next attempt", when(row.next_attempt_at)),
        ("last error", row.last_error or "-"),
        ("status", row.remote_url or row.remote_id or "-"),
        ("sent", when(row.sent_at)),
        ("reply", f"{when(row.replied_at)} {row.reply_url or ''}".strip()),
        ("next reply check", when(row.next_reply_check_at)),
    ]
    for name, value in fields:
        click.echo(f"{name + ':':<18}{value}")
    if row.status_text:
        click.echo("status text:")
        click.echo(row.status_text)


def deliver_now(crosspost_id: int) -> None:
    """Run one delivery in this process and commit what it did (retries still go on the queue)."""
    from webapp import tasks

    tasks.deliver.call_local(crosspost_id)
    db.session.expire_all()


@crossposts.command("deliver")
@click.argument("crosspost_id", type=int)
def deliver(crosspost_id: int) -> None:
    """Try to send one crosspost now; a stopped one is put back in line first, as "Try again" does.

    An attempt already under way elsewhere is harmless: every attempt sends the same
    idempotency key, and only the latest one is recorded.
    """
    row = find(crosspost_id)
    if row.state in delivery.RETRYABLE:
        delivery.retry(row)
    elif row.state != CrosspostState.PENDING:
        raise click.ClickException(f"Crosspost {crosspost_id} is {row.state}; nothing to send.")
    row.next_attempt_at = utcnow()
    db.session.commit()
    deliver_now(crosspost_id)
    click.echo(summary(find(crosspost_id)))


@crossposts.command("run-due")
def run_due() -> None:
    """Deliver, delete and check replies for everything due now, in this process."""
    from webapp import tasks

    now = utcnow()
    due = {
        state: list(
            db.session.scalars(
                sa.select(Crosspost.id).where(
                    Crosspost.state == state, Crosspost.next_attempt_at <= now
                )
            )
        )
        for state in (CrosspostState.PENDING, CrosspostState.DELETING)
    }
    watching = replies.watch_due(limit=10_000)
    for crosspost_id in due[CrosspostState.PENDING]:
        deliver_now(crosspost_id)
        click.echo(summary(find(crosspost_id)))
    for crosspost_id in due[CrosspostState.DELETING]:
        tasks.delete_status.call_local(crosspost_id)
        db.session.expire_all()
        left = rows.load(crosspost_id)
        click.echo(summary(left) if left else f"{crosspost_id:>6}  deleted")
    for crosspost_id in watching:
        tasks.check_reply.call_local(crosspost_id)
        db.session.expire_all()
        click.echo(reply_summary(find(crosspost_id)))
    total = sum(len(ids) for ids in due.values()) + len(watching)
    click.echo(f"Ran {total} due {'task' if total == 1 else 'tasks'}.")


def reply_summary(row: Crosspost) -> str:
    """Describe where a crosspost's reply watch stands."""
    if row.replied_at:
        return f"{row.id:>6}  replied {when(row.replied_at)} {row.reply_url or ''}".rstrip()
    return f"{row.id:>6}  no reply yet; next check {when(row.next_reply_check_at)}"


@crossposts.command("check-replies")
@click.argument("crosspost_id", type=int)
def check_replies(crosspost_id: int) -> None:
    """Look for the business's reply to one sent crosspost now, even if no check is due."""
    from webapp import tasks

    row = find(crosspost_id)
    if row.state != CrosspostState.SENT:
        raise click.ClickException(f"Crosspost {crosspost_id} is {row.state}, not sent.")
    if not row.mention_account_id:
        raise click.ClickException(
            f"Crosspost {crosspost_id} mentions no account its server knows; nobody to watch for."
        )
    row.next_reply_check_at = utcnow()
    db.session.commit()
    tasks.check_reply.call_local(crosspost_id)
    db.session.expire_all()
    click.echo(reply_summary(find(crosspost_id)))
