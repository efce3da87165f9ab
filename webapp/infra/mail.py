"""Mail: an outbox row per message, sent by the worker over SMTP or written to instance/outbox/.

The row is the truth, as for crossposts: a task only says "send row N now". A row is claimed
before it is sent, so no message goes twice; one interrupted mid-send is given up rather than
risk a second copy.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import sqlalchemy as sa
from flask import current_app
from markupsafe import escape

from webapp.extensions import db
from webapp.infra import crypto
from webapp.models import MailMessage, MailState, User, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
# A row claimed for sending longer ago than this was interrupted.
SENDING_LEASE = timedelta(minutes=10)
SENDING = "sending"


@dataclass
class Transport:
    """Where mail goes: an SMTP server, or files in instance/outbox/ when none is set."""

    scheme: str  # "smtp", "smtps" or "file"
    host: str = ""
    port: int = 0
    username: str = ""
    password: str = ""
    starttls: bool = False


class PermanentFailure(Exception):
    """The server refused the message for good: trying again would not help."""


def transport() -> Transport:
    """Read the transport from MAIL_URL (WEBAPP_MAIL_URL), the password from MAIL_PASSWORD."""
    url = current_app.config.get("MAIL_URL") or ""
    if not url:
        return Transport("file")
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("MAIL_URL must start with smtp:// or smtps://")
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
    # Read raw from the environment: a password made of digits must not turn into a number.
    password = (
        os.environ.get("WEBAPP_MAIL_PASSWORD")
        or str(current_app.config.get("MAIL_PASSWORD") or "")
        or unquote(parts.password or "")
    )
    return Transport(
        scheme=parts.scheme,
        host=parts.hostname or "localhost",
        port=parts.port or (465 if parts.scheme == "smtps" else 587 if starttls else 25),
        username=unquote(parts.username or ""),
        password=password,
        starttls=starttls,
    )


def queue(
    key: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    user: User | None = None,
    headers: dict[str, str] | None = None,
) -> MailMessage:
    """Add a message to the outbox, once per key; the caller commits, then queues its sending.

    Extra headers travel encrypted with the body: an unsubscribe link is a credential too.
    """
    row = db.session.scalar(sa.select(MailMessage).where(MailMessage.key == key))
    if row is not None:
        return row
    content = {"text": text, "html": html}
    if headers:
        content["headers"] = headers
    body = crypto.encrypt(json.dumps(content))
    row = MailMessage(
        key=key,
        to_address=to,
        subject=subject,
        body_encrypted=body,
        user_id=user.id if user is not None else None,
        state=MailState.PENDING,
        next_attempt_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    return row


def compose(
    paragraphs: list[str], link: str | None = None, label: str = "", unsubscribe: str | None = None
) -> tuple[str, str]:
    """Write a message as plain text and as simple HTML: paragraphs, then perhaps one link,
    then perhaps a link that stops messages like it."""
    text = "\n\n".join(paragraphs)
    html = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    if link:
        text += f"\n\n{label}:\n{link}"
        html += f'<p><a href="{escape(link)}">{escape(label)}</a></p>'
    if unsubscribe:
        text += f"\n\nNo more emails like this one:\n{unsubscribe}"
        html += (
            f'<p><small><a href="{escape(unsubscribe)}">No more emails like this one</a>'
            "</small></p>"
        )
    text += "\n\n-- \nPraisewall\n"
    html = f"<!doctype html><html><body>{html}<p>— Praisewall</p></body></html>"
    return text, html


def claim(message_id: int) -> bool:
    """Mark a due row as being sent, so no other worker sends it too; commits."""
    claimed = db.session.execute(
        sa.update(MailMessage)
        .where(MailMessage.id == message_id, MailMessage.state == MailState.PENDING)
        .values(
            state=SENDING,
            attempts=MailMessage.attempts + 1,
            next_attempt_at=utcnow() + SENDING_LEASE,
        )
    ).rowcount
    db.session.commit()
    return claimed == 1


def deliver(message_id: int) -> MailMessage | None:
    """Send one outbox row if it is still pending; note the outcome on the row (caller commits)."""
    if not claim(message_id):
        return None
    row = db.session.get(MailMessage, message_id)
    try:
        where = send(row)
    except PermanentFailure as error:
        give_up(row, str(error))
    except (OSError, smtplib.SMTPException) as error:
        # Certificate failures too (an OSError): a server's certificate can be fixed.
        retry_later(row, describe(error))
    except crypto.InvalidToken:
        # The body is under a key no longer held: no later try can read it either.
        give_up(row, "its body can't be read with the encryption keys we hold")
    except ValueError as error:
        give_up(row, str(error))  # a MAIL_URL we can't read: trying again would not help
    else:
        row.state = MailState.SENT
        row.sent_at = utcnow()
        row.next_attempt_at = None
        row.last_error = None
        # The subject and where, never the body: it can hold a link that signs someone in.
        log.info("mail %s sent (%s): %s", row.id, where, row.subject)
    return row


def describe(error: Exception) -> str:
    """Say what went wrong in a few words, for the row and the log."""
    return f"{type(error).__name__}: {error}"[:500]


def retry_later(row: MailMessage, error: str) -> None:
    """Put a row back to try again later, with a growing pause, or give up after many tries."""
    if row.attempts >= MAX_ATTEMPTS:
        give_up(row, error)
        return
    row.state = MailState.PENDING
    row.last_error = error
    row.next_attempt_at = utcnow() + timedelta(minutes=2**row.attempts)
    log.warning("mail %s not sent (attempt %s), trying later: %s", row.id, row.attempts, error)


def give_up(row: MailMessage, error: str) -> None:
    """Stop trying to send a row."""
    row.state = MailState.FAILED
    row.last_error = error[:500]
    row.next_attempt_at = None
    log.warning("mail %s given up after %s attempts: %s", row.id, row.attempts, error)


def build(row: MailMessage) -> EmailMessage:
    """Make the message: plain text with an HTML alternative, from MAIL_FROM."""
    body = json.loads(crypto.decrypt(row.body_encrypted))
    sender = current_app.config["MAIL_FROM"]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.to_address
    message["Subject"] = row.subject
    message["Date"] = formatdate(localtime=False)
    domain = sender.rpartition("@")[2].strip("> ") or "localhost"
    message["Message-ID"] = make_msgid(idstring=row.key[:32], domain=domain)
    for name, value in body.get("headers", {}).items():
        message[name] = value
    message.set_content(body["text"])
    message.add_alternative(body["html"], subtype="html")
    return message


def send(row: MailMessage) -> str:
    """Hand the message to the configured transport; return where it went."""
    message = build(row)
    how = transport()
    if how.scheme == "file":
        return write_file(row, message)
    if how.username and how.scheme == "smtp" and not how.starttls:
        # Trying again would not help, and the password must not cross the network in clear.
        raise ValueError(
            "MAIL_URL logs in without TLS: use smtps:// or add ?starttls=true, so the password "
            "isn't sent in the clear"
        )
    timeout = current_app.config.get("MAIL_TIMEOUT", 10)
    if how.scheme == "smtps":
        server = smtplib.SMTP_SSL(
            how.host, how.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        server = smtplib.SMTP(how.host, how.port, timeout=timeout)
    try:
        if how.starttls:
            server.starttls(context=ssl.create_default_context())
        if how.username:
            server.login(how.username, how.password)
        try:
            server.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            if all(500 <= code < 600 for code in codes):
                raise PermanentFailure(f"recipient refused ({codes[0]})") from error
            raise
    finally:
        hang_up(server)
    return f"smtp {how.host}:{how.port}"


def hang_up(server: smtplib.SMTP) -> None:
    """Say goodbye to the server, ignoring a failure: once it has the message, it is sent, and
    an error here must not send it again."""
    try:
        server.quit()
    except (OSError, smtplib.SMTPException):
        server.close()


def outbox_dir() -> Path:
    """Return instance/outbox/, where mail goes when no SMTP server is set."""
    return Path(current_app.instance_path) / "outbox"


def write_file(row: MailMessage, message: EmailMessage) -> str:
    """Write the message to instance/outbox/ as an .eml file only its owner can read."""
    folder = outbox_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{row.id:06d}.eml"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(message.as_bytes())
    return f"written to {path}"


def due() -> list[int]:
    """Return pending rows whose time has come, and give up rows interrupted mid-send."""
    now = utcnow()
    stuck = db.session.scalars(
        sa.select(MailMessage).where(
            MailMessage.state == SENDING, MailMessage.next_attempt_at <= now
        )
    ).all()
    for row in stuck:
        # It may have gone out: sending it again could deliver it twice.
        give_up(row, "interrupted while sending; not sent again, so it can't arrive twice")
    db.session.commit()
    return list(
        db.session.scalars(
            sa.select(MailMessage.id)
            .where(MailMessage.state == MailState.PENDING, MailMessage.next_attempt_at <= now)
            .order_by(MailMessage.id)
            .limit(100)
        )
    )
