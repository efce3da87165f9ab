"""Work done off the request: deliver statuses, delete them, end farewells, watch replies, sweep,
prove claimed walls' owners again, send mail, and find the notifications people asked for."""

from __future__ import annotations

import logging
from datetime import datetime

from huey import crontab

from webapp.extensions import db
from webapp.infra import mail
from webapp.infra.queue import huey, task_app
from webapp.models import Business, CrosspostState, utcnow
from webapp.networks import delivery, replies, rows
from webapp.networks.bluesky import farewell as bluesky_farewell
from webapp.networks.mastodon import signin
from webapp.services import crosspost, notifications, owners

log = logging.getLogger(__name__)


def enqueue(task, row_id: int, eta: datetime | None = None) -> None:
    """Queue work on a row; if the queue is down, the sweep finds the row later."""
    try:
        if eta is None:
            task(row_id)
        else:
            # Huey reads a naive time as local time; an aware one is converted correctly.
            task.schedule((row_id,), eta=eta)
    except Exception:  # noqa: BLE001 - the row is the truth; losing a message loses nothing
        log.exception("could not queue %s for row %s", task.name, row_id)


def send_mail_soon(rows: list) -> None:
    """Queue the sending of committed outbox rows."""
    for row in rows:
        enqueue(send_mail, row.id)


def run_in_app(work, crosspost_id: int):
    """Run one piece of work on a row inside the app, committing what it changed."""
    with task_app().app_context():
        try:
            result = work(crosspost_id)
            row = rows.load(crosspost_id)
            db.session.commit()
            return result, row.state if row else None, row.next_attempt_at if row else None
        except Exception as error:
            # Anything unforeseen must not leave the row stuck: note it and try again later.
            log.exception("%s failed on crosspost %s", work.__name__, crosspost_id)
            db.session.rollback()
            row = delivery.record_crash(crosspost_id, type(error).__name__)
            db.session.commit()
            return None, row.state if row else None, row.next_attempt_at if row else None
        finally:
            db.session.remove()


def commit_in_app(work, row_id: int, failure: str) -> None:
    """Run work on a row inside the app and commit it; log and roll back whatever fails."""
    with task_app().app_context():
        try:
            work(row_id)
            db.session.commit()
        except Exception:
            log.exception(failure, row_id)
            db.session.rollback()
        finally:
            db.session.remove()


@huey.task()
def deliver(crosspost_id: int) -> None:
    """Try to send a status, and queue the retry when it must wait."""
    result, state, next_at = run_in_app(crosspost.deliver, crosspost_id)
    if state == CrosspostState.PENDING and next_at is not None:
        enqueue(deliver, crosspost_id, next_at)
    elif result == CrosspostState.DELETING:
        # The post was deleted while we were sending: what we made goes too.
        enqueue(delete_status, crosspost_id, next_at)


@huey.task()
def delete_status(crosspost_id: int) -> None:
    """Try to delete a status, and queue the retry when it must wait."""
    result, state, next_at = run_in_app(delivery.delete_remote, crosspost_id)
    if state == CrosspostState.DELETING and next_at is not None:
        enqueue(delete_status, crosspost_id, next_at)
    elif result in ("deleted", "abandoned"):
        # It may have been the last status of a deleted account: end that farewell now.
        for account_id in farewells_done():
            enqueue(end_farewell, account_id)
        for account_id in bluesky_farewells_done():
            enqueue(end_bluesky_farewell, account_id)


def farewells_done() -> list[int]:
    """Return deleted accounts' connections with no statuses left to delete."""
    with task_app().app_context():
        try:
            return signin.farewells_done()
        finally:
            db.session.remove()


def bluesky_farewells_done() -> list[int]:
    """Return deleted accounts' Bluesky connections with no posts left to delete."""
    with task_app().app_context():
        try:
            return bluesky_farewell.farewells_done()
        finally:
            db.session.remove()


@huey.task()
def end_bluesky_farewell(account_id: int) -> None:
    """End a deleted account's Bluesky session and forget it, once its posts are all deleted."""
    commit_in_app(
        bluesky_farewell.end_farewell,
        account_id,
        "could not end the farewell of Bluesky account %s",
    )


@huey.task()
def end_farewell(account_id: int) -> None:
    """Revoke a deleted account's token and forget its connection, once nothing is left to do."""
    # On failure the sweep finds the connection again next time.
    commit_in_app(
        signin.end_farewell, account_id, "could not end the farewell of Mastodon account %s"
    )


@huey.task()
def check_reply(crosspost_id: int) -> None:
    """Look for the business's reply once."""
    run_in_app(replies.check_reply, crosspost_id)


@huey.periodic_task(crontab(minute="*"))
def sweep() -> None:
    """Re-queue rows whose queued work went missing, start due reply checks, end farewells."""
    with task_app().app_context():
        try:
            pending = rows.due((CrosspostState.PENDING,))
            deleting = rows.due((CrosspostState.DELETING,))
            watching = replies.watch_due()
            farewells = signin.farewells_done()
            bluesky_farewells = bluesky_farewell.farewells_done()
            letters = mail.due()
        finally:
            db.session.remove()
    for crosspost_id in pending:
        enqueue(deliver, crosspost_id)
    for crosspost_id in deleting:
        enqueue(delete_status, crosspost_id)
    for crosspost_id in watching:
        enqueue(check_reply, crosspost_id)
    for account_id in farewells:
        enqueue(end_farewell, account_id)
    for account_id in bluesky_farewells:
        enqueue(end_bluesky_farewell, account_id)
    for message_id in letters:
        enqueue(send_mail, message_id)


@huey.task()
def send_mail(message_id: int) -> None:
    """Send one message from the outbox, and queue the retry when it must wait."""
    with task_app().app_context():
        try:
            row = mail.deliver(message_id)
            db.session.commit()
            retry_at = row.next_attempt_at if row is not None and row.state == "pending" else None
        except Exception:
            # The row stays claimed; the sweep gives it up rather than risk sending it twice.
            log.exception("could not send mail %s", message_id)
            db.session.rollback()
            retry_at = None
        finally:
            db.session.remove()
    if retry_at is not None:
        enqueue(send_mail, message_id, retry_at)


@huey.task()
def recheck_claim(business_id: int) -> None:
    """Prove a claimed wall's owner is still the business's handle, or drop the claim."""
    # On failure the wall stays put off for a while, then comes round again.
    commit_in_app(recheck, business_id, "could not check the claim on business %s")


def recheck(business_id: int) -> None:
    """Check the claim on a business, if it is still there."""
    business = db.session.get(Business, business_id)
    if business is not None:
        owners.recheck(business)


@huey.periodic_task(crontab(minute="*/10"))
def recheck_claims() -> None:
    """Queue the checks of claimed walls that are due, a bounded batch at a time."""
    with task_app().app_context():
        try:
            due = owners.due_claims()
            db.session.commit()
        finally:
            db.session.remove()
    for business_id in due:
        enqueue(recheck_claim, business_id)


@huey.periodic_task(crontab(minute="*/5"))
def notify() -> None:
    """Queue the notifications people chose for what happened since, then send them."""
    with task_app().app_context():
        try:
            queued = [row.id for row in notifications.due_notifications(utcnow())]
            db.session.commit()
        except Exception:
            # Nothing is lost: the next run finds the same events again.
            log.exception("could not queue notifications")
            db.session.rollback()
            queued = []
        finally:
            db.session.remove()
    for message_id in queued:
        enqueue(send_mail, message_id)
