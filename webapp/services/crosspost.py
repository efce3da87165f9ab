"""Crossposting: a post's status on Mastodon, delivered exactly once, and deleted with it.

The row is the truth; the queue only says "look at row N now". Every attempt sends the row's
own idempotency key, so however often a delivery runs, the server keeps one status.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app

from webapp.extensions import db
from webapp.infra import crypto
from webapp.infra.links import safe_remote_url
from webapp.models import (
    ComplaintStatus,
    Crosspost,
    CrosspostState,
    Kind,
    MastodonAccount,
    Post,
    utcnow,
)
from webapp.services import challenge, connect, mastodon, status_text

BACKOFF_BASE = 30  # seconds before the first retry
BACKOFF_CAP = 6 * 3600
STUCK_AFTER = timedelta(minutes=10)  # pending and due this long ago: the queue lost it
WATCH_FOR = timedelta(days=14)
REPLIES_TRIED = 2  # candidate replies confirmed with the business's server per check
RETRYABLE = CrosspostState.RETRYABLE
# No key reads the stored token: the site's keys are wrong, which the operator must put right.
# The person's sign-in is fine, so they aren't asked to reconnect; it is tried again later.
UNREADABLE_TOKEN = mastodon.Outcome("retry", "Praisewall couldn't send it just now.")
# How long a claimed attempt may wait on the server (three calls at most, each with a timeout).
CLAIM_FOR = timedelta(minutes=2)
TOO_LONG = "It is too long for your server, even shortened."
STRICT_TOO_LONG = (
    "Your server says it is too long, even shortened to count every character as written."
)
STOPPED = (CrosspostState.FAILED, CrosspostState.NEEDS_LOGIN, CrosspostState.GAVE_UP)

log = logging.getLogger(__name__)
# One line per delivery, deletion or reply check, for operators: never a token or status text.
delivery_log = logging.getLogger("webapp.delivery")


def start(
    post: Post,
    account: MastodonAccount,
    *,
    visibility: str,
    spoiler_text: str | None,
    post_url: str,
) -> Crosspost:
    """Add the crosspost row for a new post (committed with it, delivered after)."""
    crosspost = Crosspost(
        post=post,
        account=account,
        idempotency_key=str(uuid.uuid4()),
        visibility=visibility,
        spoiler_text=spoiler_text or None,
        post_url=post_url,
        mention_acct=post.business.handle,
        next_attempt_at=utcnow(),
    )
    db.session.add(crosspost)
    db.session.flush()
    return crosspost


def preview(post_like: dict, user) -> status_text.Status:
    """Build the exact status a post would send, counted against the user's own server."""
    max_characters, url_length = connect.limits_for(user)
    return status_text.compose(
        post_like["body"],
        kind=post_like["kind"],
        business_name=post_like["business_name"],
        handle=post_like["handle"],
        link=post_like["link"],
        spoiler_text=post_like.get("spoiler_text") or "",
        max_characters=max_characters,
        url_length=url_length,
    )


def backoff(attempts: int) -> timedelta:
    """Return the wait before the next attempt: doubling from 30 s, capped, with jitter."""
    seconds = min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)
    return timedelta(seconds=seconds * random.uniform(0.75, 1.25))  # nosec B311 # retry jitter


def client_for(account: MastodonAccount):
    """Return an API client signed in as the account."""
    return mastodon.api(account.server.base_url, crypto.decrypt(account.access_token))


def load(crosspost_id: int) -> Crosspost | None:
    """Load a crosspost with its account, server and post."""
    return db.session.scalar(
        sa.select(Crosspost)
        .where(Crosspost.id == crosspost_id)
        .options(
            so.joinedload(Crosspost.account).joinedload(MastodonAccount.server),
            so.joinedload(Crosspost.post).joinedload(Post.business),
        )
    )


def deliver(crosspost_id: int) -> str | None:
    """Try to post the status once; record what happened and return the new state."""
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
        crosspost.last_error = "Reconnect your Mastodon account to send this."
        report("deliver", crosspost, "not signed in")
        return crosspost.state
    if not is_due(crosspost):
        return None
    try:
        client = client_for(account)
    except crypto.InvalidToken:
        log.error(
            "No encryption key reads Mastodon account %s's token: check WEBAPP_FERNET_KEYS or "
            "instance/fernet_keys. Crosspost %s will be tried again.",
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
    if crosspost.mention_acct != crosspost.post.business.handle:
        # The post was edited to name another business before it went out.
        crosspost.mention_acct = crosspost.post.business.handle
        crosspost.mention_resolved = crosspost.mention_account_id = None
    # No writes may reach SQLite while we wait on the network, or the web would wait on us.
    with db.session.no_autoflush:
        return send(crosspost, client, attempt, earlier)


def claim(crosspost: Crosspost) -> int | None:
    """Count the attempt in its own committed transaction; return its number, None if taken.

    The worker commits here (services otherwise don't) so the attempt is on record before the
    network call: a deletion meanwhile sees it may have posted, and a second task for the same
    row finds it claimed. A non-NULL status text marks "an attempt may have posted"; the attempt
    puts back what was there if it ends sure that it posted nothing.
    """
    now = utcnow()
    row = Crosspost.__table__.c
    taken = db.session.execute(
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
    ).rowcount
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
        db.session.execute(
            sa.update(Crosspost.__table__)
            .where(
                row.id == crosspost.id,
                row.state == CrosspostState.PENDING,
                row.attempts == attempt,
            )
            .values(attempts=attempt)
        ).rowcount
    )


class Refused(Exception):
    """The status can't be made to fit the server: stop with this reason."""

    def __init__(self, reason: str, outcome: str) -> None:
        """Keep the reason shown to the person and the outcome logged."""
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome


def send(crosspost: Crosspost, client, attempt: int, earlier: str | None) -> str | None:
    """Post the status (or adopt one an earlier attempt made) and record the outcome.

    `earlier` is the status text as it was before this attempt's claim: not None when an
    earlier attempt may have posted without our hearing back.
    """
    server = where(crosspost)
    tried: list[str] = []  # the texts this attempt sent, in order
    try:
        resolve_mention(crosspost, client)
        status = build_status(crosspost)
        sent, outcome = None, "adopted"
        if earlier is not None:
            # Only after an attempt that may have posted: the server forgets idempotency keys
            # after an hour, so look for what it made before posting again.
            strict = build_status(crosspost, strict=True)
            sent = posted_before(crosspost, client, [status.text, strict.text])
        if sent is None:
            if not status.fits:
                raise Refused(TOO_LONG, "too long")
            sent, outcome = post(crosspost, client, status.text, tried)
    except Refused as refused:
        if not still_claimed(crosspost, attempt):
            return moved(crosspost, client, None, None, server)
        crosspost.status_text = earlier
        state = fail(crosspost, refused.reason)
        report("deliver", crosspost, refused.outcome, server=server)
        return state
    except mastodon.MastodonError as error:
        outcome = mastodon.classify(error, client)
        posted = tried[-1] if tried and may_have_posted(error) else None
        if not still_claimed(crosspost, attempt):
            return moved(crosspost, client, None, posted, server)
        # A refusal (or a call before the post) made nothing: put back what was known before.
        crosspost.status_text = posted if posted is not None else earlier
        state = record_failure(crosspost, outcome)
        report("deliver", crosspost, mastodon.outcome_name(error), server=server)
        return state
    tried_text = tried[-1] if tried else None
    if not still_claimed(crosspost, attempt):
        return moved(crosspost, client, sent, tried_text, server)
    crosspost.status_text = tried_text or crosspost.status_text or status.text
    crosspost.state = CrosspostState.SENT
    crosspost.remote_id = sent["id"]
    crosspost.remote_url = safe_remote_url(sent["url"])
    # The server's own time, as replies are timed by it too (and to the same precision).
    crosspost.sent_at = sent["created_at"] or utcnow()
    crosspost.last_error = None
    crosspost.next_attempt_at = None
    if crosspost.mention_account_id:
        crosspost.next_reply_check_at = crosspost.sent_at + next_reply_check(timedelta(0))
    challenge.record_praise(crosspost.post)
    report("deliver", crosspost, outcome, server=server)
    return crosspost.state


def post(crosspost: Crosspost, client, text: str, tried: list[str]) -> tuple[dict, str]:
    """Post the text; if the server finds it too long, shorten it by the strictest count once.

    Some servers count every character although they advertise Mastodon's shorter count for
    links. Each text is added to `tried` as it goes out. Return (status, outcome for the log).

    :raise Refused: if even the strictly shortened status is too long for the server.
    """
    try:
        return post_text(crosspost, client, text, tried), "HTTP 200"
    except mastodon.MastodonAPIError as error:
        if not mastodon.too_long(error, client):
            raise
        strict = build_status(crosspost, strict=True)
        if strict.text == text or not strict.fits:
            raise Refused(STRICT_TOO_LONG, mastodon.outcome_name(error)) from None
    # A key of its own: Pleroma and Akkoma answer a repeated key with the first answer, even a
    # refusal. Derived from the row's key, so a retry of this attempt still sends the same one.
    strict_key = f"{crosspost.idempotency_key}-strict"
    try:
        return post_text(
            crosspost, client, strict.text, tried, strict_key
        ), "HTTP 200 counted strictly"
    except mastodon.MastodonAPIError as error:
        if mastodon.too_long(error, client):
            raise Refused(STRICT_TOO_LONG, mastodon.outcome_name(error)) from None
        raise


def post_text(
    crosspost: Crosspost, client, text: str, tried: list[str], key: str | None = None
) -> dict:
    """Post the text with the row's visibility, content warning and (unless given) its key."""
    tried.append(text)
    return mastodon.post_status(
        client,
        text,
        visibility=crosspost.visibility,
        spoiler_text=crosspost.spoiler_text,
        key=key or crosspost.idempotency_key,
    )


def may_have_posted(error: Exception) -> bool:
    """Tell whether a failed post may still have made the status (no answer, or a 5xx)."""
    if isinstance(error, mastodon.MastodonRatelimitError):
        return False
    status = mastodon.api_status(error)
    return not (status is not None and 400 <= status < 500)


def moved(
    crosspost: Crosspost, client, sent: dict | None, tried_text: str | None, server: str = "-"
) -> str | None:
    """Hand what an attempt made to the deletion that overtook it; return the row's state now.

    Our outcome is dropped. A row that went altogether (nothing was found to delete) leaves us
    to delete the status ourselves.
    """
    crosspost_id = crosspost.id
    db.session.rollback()
    row = Crosspost.__table__.c
    handed = db.session.execute(
        sa.update(Crosspost.__table__)
        .where(row.id == crosspost_id, row.state == CrosspostState.DELETING)
        .values(
            remote_id=sa.func.coalesce(row.remote_id, sent["id"] if sent else None),
            # What this attempt sent is the text to look for; else keep what is known.
            status_text=tried_text if tried_text else sa.func.coalesce(row.status_text, ""),
            next_attempt_at=utcnow(),
        )
    ).rowcount
    if handed:
        log_line("deliver", crosspost_id, server, "overtaken", CrosspostState.DELETING, utcnow())
        return CrosspostState.DELETING
    current = db.session.get(Crosspost, crosspost_id)
    if current is None and sent is not None:
        try:
            mastodon.delete_status(client, sent["id"])
        except mastodon.MastodonError:
            log.warning("could not delete status %s of a deleted post", sent["id"])
    state = current.state if current is not None else None
    log_line("deliver", crosspost_id, server, "overtaken", state or "deleted", None)
    return state


def where(crosspost: Crosspost) -> str:
    """Name the row's server as its host, for the log."""
    account = crosspost.account
    return account.server.domain if account is not None and account.server else "-"


def report(
    action: str,
    crosspost: Crosspost,
    outcome: str,
    *,
    server: str | None = None,
    state: str | None = None,
) -> None:
    """Log the one line an attempt leaves: the row, its server, what happened, what is next."""
    state = state or crosspost.state
    waiting = state in (CrosspostState.PENDING, CrosspostState.DELETING)
    log_line(
        action,
        crosspost.id,
        server or where(crosspost),
        outcome,
        state,
        crosspost.next_attempt_at if waiting else None,
    )


def log_line(
    action: str, crosspost_id: int, server: str, outcome: str, state: str, next_at
) -> None:
    """Write one delivery log line; a stop that needs a person is a warning."""
    level = logging.WARNING if state in STOPPED else logging.INFO
    delivery_log.log(
        level,
        "%s crosspost=%s server=%s outcome=%r state=%s next=%s",
        action,
        crosspost_id,
        server,
        outcome,
        state,
        next_at.isoformat(timespec="seconds") if next_at else "-",
    )


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


def posted_before(crosspost: Crosspost, client, texts: list[str] | None = None) -> dict | None:
    """Return the status an earlier, unanswered attempt made, if there was such an attempt.

    Only a status made since the first attempt began, saying what an attempt sent (the stored
    text, or any of `texts`), is adopted.
    """
    if crosspost.status_text is None:  # no attempt may have posted
        return None
    return mastodon.find_own_status(
        client,
        crosspost.account.remote_id,
        crosspost.post_url,
        since=crosspost.first_attempt_at or crosspost.created_at,
        texts=[crosspost.status_text, *(texts or [])],
    )


def resolve_mention(crosspost: Crosspost, client) -> None:
    """Look the business's handle up through the user's server, once."""
    if crosspost.mention_acct is None or crosspost.mention_resolved is not None:
        return
    found = mastodon.find_account(client, crosspost.mention_acct)
    crosspost.mention_resolved = found is not None
    crosspost.mention_account_id = found["id"] if found else None


def build_status(crosspost: Crosspost, *, strict: bool = False) -> status_text.Status:
    """Compose the status from the post as it is now (`strict`: count every character)."""
    post = crosspost.post
    handle = crosspost.mention_acct if crosspost.mention_resolved else None
    max_characters, url_length = connect.limits_for(post.author)
    return status_text.compose(
        post.body,
        kind=post.kind,
        business_name=post.business.name,
        handle=handle,
        link=crosspost.post_url,
        spoiler_text=crosspost.spoiler_text or "",
        max_characters=max_characters,
        url_length=url_length,
        strict=strict,
    )


def record_failure(crosspost: Crosspost, outcome: mastodon.Outcome) -> str:
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


def start_deleting(post: Post) -> Crosspost | None:
    """Mark the post's status for deletion before the post goes; None if there is none."""
    if post.crosspost is None:
        return None
    return mark_for_deletion(post.crosspost)


def mark_for_deletion(crosspost: Crosspost) -> Crosspost | None:
    """Mark a row's status for deletion; drop the row (and return None) if there is none."""
    if crosspost.state == CrosspostState.DELETING:
        return crosspost
    # Sent, or tried without an answer (the server may have made it): it has to go.
    maybe_posted = crosspost.status_text is not None and crosspost.state != CrosspostState.GONE
    if crosspost.state == CrosspostState.SENT or maybe_posted:
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
        client = client_for(crosspost.account)
    except crypto.InvalidToken:
        # Without a readable token nothing can be deleted there; the person can do it.
        report("delete", crosspost, "InvalidToken", state="abandoned")
        db.session.delete(crosspost)
        return "abandoned"
    with db.session.no_autoflush:
        return remove_status(crosspost, client)


def remove_status(crosspost: Crosspost, client) -> str:
    """Delete the status on the server, then the row; on failure, schedule another try."""
    try:
        if crosspost.remote_id is None:
            found = posted_before(crosspost, client)
            crosspost.remote_id = found["id"] if found else None
        if crosspost.remote_id is not None:
            mastodon.delete_status(client, crosspost.remote_id)
    except mastodon.MastodonError as error:
        outcome = mastodon.classify(error, client)
        crosspost.last_error = outcome.reason
        if outcome.kind == "needs_login":
            if crosspost.account.user_id is None:
                # Its person has left: nobody is here to sign in again and let us finish.
                report("delete", crosspost, mastodon.outcome_name(error), state="abandoned")
                db.session.delete(crosspost)
                return "abandoned"
            crosspost.account.needs_login = True
        # Deletion is retried until done, however long it takes, at most daily.
        wait = max(backoff(crosspost.attempts), timedelta(seconds=1))
        crosspost.next_attempt_at = max(utcnow() + wait, outcome.retry_at or utcnow())
        report("delete", crosspost, mastodon.outcome_name(error))
        return crosspost.state
    done = "HTTP 200" if crosspost.remote_id is not None else "none found"
    report("delete", crosspost, done, state="deleted")
    db.session.delete(crosspost)
    return "deleted"


def due(states: tuple[str, ...], limit: int = 100) -> list[int]:
    """Return crossposts in these states whose next attempt is overdue (the queue lost them)."""
    return list(
        db.session.scalars(
            sa.select(Crosspost.id)
            .where(Crosspost.state.in_(states), Crosspost.next_attempt_at <= utcnow() - STUCK_AFTER)
            .order_by(Crosspost.next_attempt_at)
            .limit(limit)
        )
    )


# --- Watching for the business's reply ---


def next_reply_check(age: timedelta) -> timedelta:
    """Return the wait before looking again: minutes at first, then hours, then daily."""
    if age < timedelta(hours=1):
        return timedelta(minutes=5)
    if age < timedelta(hours=6):
        return timedelta(minutes=30)
    if age < timedelta(days=2):
        return timedelta(hours=3)
    return timedelta(days=1)


def watch_due(limit: int = 100) -> list[int]:
    """Return sent crossposts whose reply check is due."""
    return list(
        db.session.scalars(
            sa.select(Crosspost.id)
            .where(
                Crosspost.state == CrosspostState.SENT,
                Crosspost.next_reply_check_at <= utcnow(),
            )
            .order_by(Crosspost.next_reply_check_at)
            .limit(limit)
        )
    )


def check_reply(crosspost_id: int) -> str | None:
    """Look once for the business's reply in the thread; the watch ends at a reply or 14 days."""
    crosspost = load(crosspost_id)
    if crosspost is None or crosspost.state != CrosspostState.SENT:
        return None
    if crosspost.next_reply_check_at is None:
        return None
    if crosspost.account is None or crosspost.post is None:
        # Disconnected, or the post is gone: there is no one left to watch for.
        crosspost.next_reply_check_at = None
        return None
    now = utcnow()
    try:
        client = client_for(crosspost.account)
    except crypto.InvalidToken:
        crosspost.next_reply_check_at = None
        return None
    with db.session.no_autoflush:
        return look_for_reply(crosspost, client, now)


def look_for_reply(crosspost: Crosspost, client, now: datetime) -> str:
    """Read the thread once and record a reply, a vanished status, or when to look again."""
    crosspost.reply_checked_at = now
    try:
        reply = find_reply(crosspost, client)
    except mastodon.MastodonError as error:
        outcome = mastodon.classify(error, client)
        if outcome.kind == "gone":
            crosspost.state = CrosspostState.GONE
            crosspost.next_reply_check_at = None
            result = "gone"
        else:
            if outcome.kind == "needs_login":
                crosspost.account.needs_login = True
            crosspost.next_reply_check_at = schedule_next_check(crosspost, now)
            result = "error"
        log_reply_check(crosspost, mastodon.outcome_name(error))
        return result
    if reply is not None:
        record_reply(crosspost, reply["created_at"], reply["url"], reply["text"])
        log_reply_check(crosspost, "replied")
        return "replied"
    crosspost.next_reply_check_at = schedule_next_check(crosspost, now)
    log_reply_check(crosspost, "waiting")
    return "waiting"


def find_reply(crosspost: Crosspost, client) -> dict | None:
    """Return the business's first reply, as the business's own server confirms it.

    The user's server only points at candidates: whoever runs it can show any reply by any
    name. A reply counts once WebFinger on the handle's domain names the business's actor and
    that actor's server has the reply, by it, in our thread; until then it is looked for again.
    """
    candidates = mastodon.replies_by(
        client, crosspost.remote_id, crosspost.mention_account_id or "", crosspost.mention_acct
    )
    if not candidates:
        return None
    actor = mastodon.find_actor(crosspost.mention_acct)
    root = mastodon.status_uri(client, crosspost.remote_id) if actor else None
    if root is None:
        return None
    # Bounded: someone who fills a thread with fakes can't make us fetch them all.
    for candidate in candidates[:REPLIES_TRIED]:
        reply = mastodon.confirmed_reply(candidate["uri"], actor, root, crosspost.sent_at)
        if reply is not None:
            return reply
    return None


def log_reply_check(crosspost: Crosspost, outcome: str) -> None:
    """Log the one line a reply check leaves, with when it looks next."""
    log_line(
        "check-reply",
        crosspost.id,
        where(crosspost),
        outcome,
        crosspost.state,
        crosspost.next_reply_check_at,
    )


def schedule_next_check(crosspost: Crosspost, now: datetime) -> datetime | None:
    """Return when to look again, or None once the watch is over."""
    age = now - crosspost.sent_at
    if age >= WATCH_FOR:
        return None
    return now + next_reply_check(age)


def record_reply(
    crosspost: Crosspost, replied_at: datetime, url: str | None, text: str | None = None
) -> None:
    """Store the first reply and move a waiting complaint to "business replied"."""
    crosspost.replied_at = replied_at
    crosspost.reply_url = safe_remote_url(url)
    crosspost.reply_text = text or None
    crosspost.next_reply_check_at = None
    post = crosspost.post
    if post is not None and post.kind == Kind.COMPLAINT:
        if post.complaint_status == ComplaintStatus.OPEN:
            post.complaint_status = ComplaintStatus.REPLIED


def reply_delay(crosspost: Crosspost) -> timedelta | None:
    """Return how long the business took to reply, if it did."""
    if crosspost.replied_at is None or crosspost.sent_at is None:
        return None
    return max(crosspost.replied_at - crosspost.sent_at, timedelta(0))
