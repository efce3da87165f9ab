"""Delivery: a post's status on its network, delivered exactly once, and deleted with it.

The row is the truth; the queue only says "look at row N now". Every attempt sends the row's
own idempotency key, so however often a delivery runs, the server keeps one status. The
network is reached only through `webapp.networks` (its `Network` and `Session`); what a sent
status means for challenges and walls is for the services to decide.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import timedelta
from typing import cast

import sqlalchemy as sa
from flask import current_app

from webapp.extensions import db
from webapp.infra import crypto
from webapp.infra.links import safe_remote_url
from webapp.models import Crosspost, CrosspostState, Post, utcnow
from webapp.networks import (
    CallFailed,
    Draft,
    LinkCard,
    Network,
    Outcome,
    Sent,
    Session,
    Status,
    get,
)
from webapp.networks.log import log_line, report, where
from webapp.networks.replies import next_reply_check, schedule_next_check
from webapp.networks.rows import load

BACKOFF_BASE = 30  # seconds before the first retry
BACKOFF_CAP = 6 * 3600
RETRYABLE = CrosspostState.RETRYABLE
# No key reads the stored token: the site's keys are wrong, which the operator must put right.
# The person's sign-in is fine, so they aren't asked to reconnect; it is tried again later.
UNREADABLE_TOKEN = Outcome("retry", "Praisewall couldn't send it just now.")
# How long a claimed attempt may wait on the server (three calls at most, each with a timeout).
CLAIM_FOR = timedelta(minutes=2)
TOO_LONG = "It is too long for your server, even shortened."
STRICT_TOO_LONG = (
    "Your server says it is too long, even shortened to count every character as written."
)

log = logging.getLogger(__name__)

# Draws a post's share card (PNG), for a network that shows the link back as a card.
CardImage = Callable[[Post], bytes]


def start(
    post: Post,
    account,
    *,
    visibility: str,
    spoiler_text: str | None,
    post_url: str,
) -> Crosspost:
    """Add the crosspost row for a new post on the account's network (committed with it)."""
    network = get(account.NETWORK)
    crosspost = Crosspost(
        post=post,
        account=account,
        idempotency_key=network.new_key(),
        visibility=visibility,
        spoiler_text=spoiler_text or None,
        post_url=post_url,
        mention_acct=network.mention_of(post.business),
        next_attempt_at=utcnow(),
    )
    db.session.add(crosspost)
    db.session.flush()
    return crosspost


def preview(post_like: dict, user, network_name: str = "mastodon") -> Status:
    """Build the exact status a post would send, counted against the user's own limits."""
    return get(network_name).compose(
        Draft(
            post_like["body"],
            kind=post_like["kind"],
            business_name=post_like["business_name"],
            handle=post_like["handle"],
            link=post_like["link"],
            spoiler_text=post_like.get("spoiler_text") or "",
        ),
        user,
    )


def backoff(attempts: int) -> timedelta:
    """Return the wait before the next attempt: doubling from 30 s, capped, with jitter."""
    seconds = min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)
    return timedelta(seconds=seconds * random.uniform(0.75, 1.25))  # nosec B311 # retry jitter


def network_of(crosspost: Crosspost) -> Network:
    """Return the network the row's status goes to."""
    return get(crosspost.network)


def deliver(crosspost_id: int, card_image: CardImage | None = None) -> str | None:
    """Try to post the status once; record what happened and return the new state.

    `card_image` draws the post's share card, for a network that shows the link as a card.
    """
    crosspost = load(crosspost_id)
    if crosspost is None or crosspost.state != CrosspostState.PENDING:
        return None
    if crosspost.post is None:
        crosspost.state = CrosspostState.GONE
        report("deliver", crosspost, "post deleted")
        return crosspost.state
    account = crosspost.account
    if account is None or account.needs_login:
        crosspost.state = CrosspostState.NEEDS_LOGIN
        crosspost.last_error = f"Reconnect your {network_of(crosspost).label} account to send this."
        report("deliver", crosspost, "not signed in")
        return crosspost.state
    if not is_due(crosspost):
        return None
    try:
        session = network_of(crosspost).session(account)
    except crypto.InvalidToken:
        log.error(
            "No encryption key reads %s account %s's token: check WEBAPP_FERNET_KEYS or "
            "instance/fernet_keys. Crosspost %s will be tried again.",
            network_of(crosspost).label,
            account.id,
            crosspost.id,
        )
        crosspost.attempts += 1
        state = record_failure(crosspost, UNREADABLE_TOKEN)
        report("deliver", crosspost, "InvalidToken")
        return state
    # Before the claim marks this attempt: did an earlier one perhaps post it?
    earlier = crosspost.status_text
    attempt = claim(crosspost)
    if attempt is None:
        return None
    mention = network_of(crosspost).mention_of(crosspost.post.business)
    if crosspost.mention_acct != mention:
        # The post was edited to name another business before it went out.
        crosspost.mention_acct = mention
        crosspost.mention_resolved = crosspost.mention_account_id = None
    # No writes may reach SQLite while we wait on the network, or the web would wait on us.
    with db.session.no_autoflush:
        return send(crosspost, session, attempt, earlier, card_image)


def changed(statement: sa.Update) -> int:
    """Run an UPDATE and return how many rows it changed."""
    return cast(sa.CursorResult, db.session.execute(statement)).rowcount


def claim(crosspost: Crosspost) -> int | None:
    """Count the attempt in its own committed transaction; return its number, None if taken.

    The worker commits here (services otherwise don't) so the attempt is on record before the
    network call: a deletion meanwhile sees it may have posted, and a second task for the same
    row finds it claimed. A non-NULL status text marks "an attempt may have posted"; the attempt
    puts back what was there if it ends sure that it posted nothing.
    """
    now = utcnow()
    row = Crosspost.__table__.c
    taken = changed(
        sa.update(Crosspost.__table__)
        .where(
            row.id == crosspost.id,
            row.state == CrosspostState.PENDING,
            row.attempts == crosspost.attempts,
            sa.or_(row.next_attempt_at.is_(None), row.next_attempt_at <= now),
        )
        .values(
            attempts=row.attempts + 1,
            next_attempt_at=now + CLAIM_FOR,
            status_text=sa.func.coalesce(row.status_text, ""),
            first_attempt_at=sa.func.coalesce(row.first_attempt_at, now),
        )
    )
    attempt = crosspost.attempts + 1
    db.session.commit()
    return attempt if taken else None


def still_claimed(crosspost: Crosspost, attempt: int) -> bool:
    """Lock the row and tell whether it is still ours (pending, at our attempt): compare-and-set.

    The no-op update takes the row's write lock, so nothing can move the row between this
    check and the commit that records our outcome.
    """
    row = Crosspost.__table__.c
    return bool(
        changed(
            sa.update(Crosspost.__table__)
            .where(
                row.id == crosspost.id,
                row.state == CrosspostState.PENDING,
                row.attempts == attempt,
            )
            .values(attempts=attempt)
        )
    )


class Refused(Exception):
    """The status can't be made to fit the server: stop with this reason."""

    def __init__(self, reason: str, outcome: str) -> None:
        """Keep the reason shown to the person and the outcome logged."""
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome


def send(
    crosspost: Crosspost,
    session: Session,
    attempt: int,
    earlier: str | None,
    card_image: CardImage | None = None,
) -> str | None:
    """Post the status (or adopt one an earlier attempt made) and record the outcome.

    `earlier` is the status text as it was before this attempt's claim: not None when an
    earlier attempt may have posted without our hearing back.
    """
    server = where(crosspost)
    tried: list[str] = []  # the texts this attempt sent, in order
    try:
        resolve_mention(crosspost, session)
        status = build_status(crosspost, card_image=card_image)
        sent, outcome = None, "adopted"
        if earlier is not None:
            # Only after an attempt that may have posted: the server forgets idempotency keys
            # after an hour, so look for what it made before posting again.
            strict = build_status(crosspost, strict=True)
            sent = posted_before(crosspost, session, [status.text, strict.text])
        if sent is None:
            if not status.fits:
                raise Refused(TOO_LONG, "too long")
            sent, outcome = post(crosspost, session, status, tried)
    except Refused as refused:
        if not still_claimed(crosspost, attempt):
            return moved(crosspost, session, None, None, server)
        crosspost.status_text = earlier
        state = fail(crosspost, refused.reason)
        report("deliver", crosspost, refused.outcome, server=server)
        return state
    except CallFailed as failure:
        posted = tried[-1] if tried and failure.may_have_posted else None
        if not still_claimed(crosspost, attempt):
            return moved(crosspost, session, None, posted, server)
        # A refusal (or a call before the post) made nothing: put back what was known before.
        crosspost.status_text = posted if posted is not None else earlier
        state = record_failure(crosspost, failure.outcome)
        report("deliver", crosspost, failure.name, server=server)
        return state
    tried_text = tried[-1] if tried else None
    if not still_claimed(crosspost, attempt):
        return moved(crosspost, session, sent, tried_text, server)
    crosspost.status_text = tried_text or crosspost.status_text or status.text
    crosspost.state = CrosspostState.SENT
    crosspost.remote_id = sent.id
    crosspost.remote_url = safe_remote_url(sent.url)
    # The server's own time, as replies are timed by it too (and to the same precision).
    crosspost.sent_at = sent.created_at or utcnow()
    crosspost.last_error = None
    crosspost.next_attempt_at = None
    if crosspost.mention_account_id:
        crosspost.next_reply_check_at = crosspost.sent_at + next_reply_check(timedelta(0))
    report("deliver", crosspost, outcome, server=server)
    return crosspost.state


def post(
    crosspost: Crosspost, session: Session, status: Status, tried: list[str]
) -> tuple[Sent, str]:
    """Post the text; if the server finds it too long, shorten it by the strictest count once.

    Some servers count every character although they advertise Mastodon's shorter count for
    links. Each text is added to `tried` as it goes out. Return (status, outcome for the log).

    :raise Refused: if even the strictly shortened status is too long for the server.
    """
    try:
        return post_text(crosspost, session, status, tried), "HTTP 200"
    except CallFailed as failure:
        if not failure.too_long:
            raise
        strict = build_status(crosspost, strict=True, card=status.card)
        if strict.text == status.text or not strict.fits:
            raise Refused(STRICT_TOO_LONG, failure.name) from None
    # A key of its own: Pleroma and Akkoma answer a repeated key with the first answer, even a
    # refusal. Derived from the row's key, so a retry of this attempt still sends the same one.
    strict_key = f"{crosspost.idempotency_key}-strict"
    try:
        return post_text(crosspost, session, strict, tried, strict_key), "HTTP 200 counted strictly"
    except CallFailed as failure:
        if failure.too_long:
            raise Refused(STRICT_TOO_LONG, failure.name) from None
        raise


def post_text(
    crosspost: Crosspost,
    session: Session,
    status: Status,
    tried: list[str],
    key: str | None = None,
) -> Sent:
    """Post the status with the row's visibility, content warning and (unless given) its key."""
    tried.append(status.text)
    return session.post(
        status.text,
        visibility=crosspost.visibility,
        spoiler_text=crosspost.spoiler_text,
        key=key or crosspost.idempotency_key,
        status=status,
    )


def moved(
    crosspost: Crosspost,
    session: Session,
    sent: Sent | None,
    tried_text: str | None,
    server: str = "-",
) -> str | None:
    """Hand what an attempt made to the deletion that overtook it; return the row's state now.

    Our outcome is dropped. A row that went altogether (nothing was found to delete) leaves us
    to delete the status ourselves.
    """
    crosspost_id = crosspost.id
    db.session.rollback()
    row = Crosspost.__table__.c
    handed = changed(
        sa.update(Crosspost.__table__)
        .where(row.id == crosspost_id, row.state == CrosspostState.DELETING)
        .values(
            remote_id=sa.func.coalesce(row.remote_id, sent.id if sent else None),
            # What this attempt sent is the text to look for; else keep what is known.
            status_text=tried_text if tried_text else sa.func.coalesce(row.status_text, ""),
            next_attempt_at=utcnow(),
        )
    )
    if handed:
        log_line("deliver", crosspost_id, server, "overtaken", CrosspostState.DELETING, utcnow())
        return CrosspostState.DELETING
    # Nothing handed over: end the transaction the UPDATE began (it holds SQLite's write lock)
    # before the server is asked anything, as a renewal of the tokens writes on its own.
    db.session.commit()
    current = db.session.get(Crosspost, crosspost_id)
    if current is None and sent is not None:
        try:
            session.delete(sent.id)
        except CallFailed:
            log.warning("could not delete status %s of a deleted post", sent.id)
    state = current.state if current is not None else None
    log_line("deliver", crosspost_id, server, "overtaken", state or "deleted", None)
    return state


def is_due(crosspost: Crosspost) -> bool:
    """Tell whether the row's next attempt is due (a task may arrive early or twice)."""
    return crosspost.next_attempt_at is None or crosspost.next_attempt_at <= utcnow()


def record_crash(crosspost_id: int, error_name: str = "error") -> Crosspost | None:
    """After an unforeseen error, count the attempt and schedule the next one."""
    crosspost = load(crosspost_id)
    if crosspost is None:
        return None
    if crosspost.state == CrosspostState.SENT:
        if crosspost.next_reply_check_at is not None:
            crosspost.next_reply_check_at = schedule_next_check(crosspost, utcnow())
        log_line(
            "check-reply",
            crosspost.id,
            where(crosspost),
            error_name,
            "sent",
            crosspost.next_reply_check_at,
        )
        return crosspost
    if crosspost.state in (CrosspostState.PENDING, CrosspostState.DELETING):
        if crosspost.state == CrosspostState.DELETING:
            crosspost.attempts += 1  # a delivery's claim has counted its attempt already
        crosspost.last_error = "Something unexpected went wrong; we'll try again."
        crosspost.next_attempt_at = utcnow() + backoff(crosspost.attempts)
        limit = current_app.config["DELIVERY_MAX_ATTEMPTS"]
        if crosspost.state == CrosspostState.PENDING and crosspost.attempts >= limit:
            crosspost.state = CrosspostState.GAVE_UP
            crosspost.next_attempt_at = None
        action = "delete" if crosspost.state == CrosspostState.DELETING else "deliver"
        report(action, crosspost, error_name)
    return crosspost


def posted_before(
    crosspost: Crosspost, session: Session, texts: list[str] | None = None
) -> Sent | None:
    """Return the status an earlier, unanswered attempt made, if there was such an attempt.

    Only a status made since the first attempt began, saying what an attempt sent (the stored
    text, or any of `texts`), is adopted.
    """
    if crosspost.status_text is None:  # no attempt may have posted
        return None
    return session.find_own(
        crosspost.post_url,
        key=crosspost.idempotency_key,
        since=crosspost.first_attempt_at or crosspost.created_at,
        texts=[crosspost.status_text, *(texts or [])],
    )


def resolve_mention(crosspost: Crosspost, session: Session) -> None:
    """Look the business's handle up through the user's server, once."""
    if crosspost.mention_acct is None or crosspost.mention_resolved is not None:
        return
    found = session.find_mention(crosspost.mention_acct)
    crosspost.mention_resolved = found is not None
    crosspost.mention_account_id = found


def build_status(
    crosspost: Crosspost,
    *,
    strict: bool = False,
    card_image: CardImage | None = None,
    card: LinkCard | None = None,
) -> Status:
    """Compose the status from the post as it is now (`strict`: count every character).

    `card_image` draws the post's card when the status is sent; `card` is one drawn already.
    """
    post = crosspost.post
    handle = crosspost.mention_acct if crosspost.mention_resolved else None
    draft = Draft(
        post.body,
        kind=post.kind,
        business_name=post.business.name,
        handle=handle,
        link=crosspost.post_url,
        spoiler_text=crosspost.spoiler_text or "",
        mention_id=crosspost.mention_account_id if crosspost.mention_resolved else None,
        image=(lambda: card_image(post)) if card_image is not None else None,
    )
    status = network_of(crosspost).compose(draft, post.author, strict=strict)
    if card is not None and status.card is not None:
        status.card = card
    return status


def record_failure(crosspost: Crosspost, outcome: Outcome) -> str:
    """Turn a failed attempt into the next state: retry later, reconnect, or stop."""
    if outcome.kind == "needs_login":
        crosspost.state = CrosspostState.NEEDS_LOGIN
        crosspost.last_error = outcome.reason
        crosspost.account.needs_login = True
        return crosspost.state
    if outcome.kind in ("failed", "gone"):
        return fail(crosspost, outcome.reason)
    crosspost.last_error = outcome.reason
    if crosspost.attempts >= current_app.config["DELIVERY_MAX_ATTEMPTS"]:
        crosspost.state = CrosspostState.GAVE_UP
        crosspost.next_attempt_at = None
        return crosspost.state
    wait_until = utcnow() + backoff(crosspost.attempts)
    if outcome.retry_at is not None and outcome.retry_at > wait_until:
        wait_until = outcome.retry_at
    crosspost.next_attempt_at = wait_until
    return crosspost.state


def fail(crosspost: Crosspost, reason: str) -> str:
    """Stop trying, with the reason in plain words."""
    crosspost.state = CrosspostState.FAILED
    crosspost.last_error = reason
    crosspost.next_attempt_at = None
    return crosspost.state


def retry(crosspost: Crosspost) -> None:
    """Put a stopped crosspost back in line, keeping its idempotency key."""
    crosspost.last_error = None
    crosspost.state = CrosspostState.PENDING
    crosspost.attempts = 0
    crosspost.next_attempt_at = utcnow()


def start_deleting(post: Post) -> list[Crosspost]:
    """Mark the post's statuses for deletion before the post goes; return those left to go."""
    marked = [mark_for_deletion(crosspost) for crosspost in list(post.crossposts)]
    return [crosspost for crosspost in marked if crosspost is not None]


def may_exist(crosspost: Crosspost) -> bool:
    """Tell whether the row's status is (or may be) on its server: sent, or tried unanswered."""
    maybe_posted = crosspost.status_text is not None and crosspost.state != CrosspostState.GONE
    return crosspost.state == CrosspostState.SENT or maybe_posted


def to_delete(crosspost: Crosspost, delete_statuses: bool) -> bool:
    """Tell whether leaving (deleting statuses or not) leaves this row's status to delete."""
    if crosspost.state == CrosspostState.DELETING:
        return True
    return delete_statuses and may_exist(crosspost)


def mark_for_deletion(crosspost: Crosspost) -> Crosspost | None:
    """Mark a row's status for deletion; drop the row (and return None) if there is none."""
    if crosspost.state == CrosspostState.DELETING:
        return crosspost
    # Sent, or tried without an answer (the server may have made it): it has to go.
    if may_exist(crosspost):
        now = utcnow()
        waiting = crosspost.state == CrosspostState.PENDING and crosspost.next_attempt_at
        crosspost.state = CrosspostState.DELETING
        crosspost.attempts = 0
        # An attempt may still be waiting on the server; it hands over what it made when it
        # ends, so look no sooner than its claim runs out.
        if waiting and crosspost.next_attempt_at > now:
            crosspost.next_attempt_at = min(crosspost.next_attempt_at, now + CLAIM_FOR)
        else:
            crosspost.next_attempt_at = now
        crosspost.next_reply_check_at = None
        return crosspost
    # Never tried, or already gone there: nothing to delete, so nothing to keep.
    db.session.delete(crosspost)
    return None


def delete_remote(crosspost_id: int) -> str | None:
    """Try to delete the status once; the row goes when the status has."""
    crosspost = load(crosspost_id)
    if crosspost is None or crosspost.state != CrosspostState.DELETING:
        return None
    if crosspost.account is None:
        # The account was disconnected: we no longer may delete anything there.
        report("delete", crosspost, "disconnected", state="abandoned")
        db.session.delete(crosspost)
        return "abandoned"
    if not is_due(crosspost):
        return None
    crosspost.attempts += 1
    try:
        session = network_of(crosspost).session(crosspost.account)
    except crypto.InvalidToken:
        # Without a readable token nothing can be deleted there; the person can do it.
        report("delete", crosspost, "InvalidToken", state="abandoned")
        db.session.delete(crosspost)
        return "abandoned"
    with db.session.no_autoflush:
        return remove_status(crosspost, session)


def remove_status(crosspost: Crosspost, session: Session) -> str:
    """Delete the status on the server, then the row; on failure, schedule another try."""
    try:
        if crosspost.remote_id is None:
            found = posted_before(crosspost, session)
            crosspost.remote_id = found.id if found else None
        if crosspost.remote_id is not None:
            session.delete(crosspost.remote_id)
    except CallFailed as failure:
        outcome = failure.outcome
        crosspost.last_error = outcome.reason
        if outcome.kind == "needs_login":
            if crosspost.account.user_id is None:
                # Its person has left: nobody is here to sign in again and let us finish.
                report("delete", crosspost, failure.name, state="abandoned")
                db.session.delete(crosspost)
                return "abandoned"
            crosspost.account.needs_login = True
        # Deletion is retried until done, however long it takes, at most daily.
        wait = max(backoff(crosspost.attempts), timedelta(seconds=1))
        crosspost.next_attempt_at = max(utcnow() + wait, outcome.retry_at or utcnow())
        report("delete", crosspost, failure.name)
        return crosspost.state
    done = "HTTP 200" if crosspost.remote_id is not None else "none found"
    report("delete", crosspost, done, state="deleted")
    db.session.delete(crosspost)
    return "deleted"
