"""Mail, email addresses and forgotten passwords, against a real SMTP server on loopback.

Messages leave through the outbox and the queue worker only after the change is committed,
once each, again after a failure; addresses are confirmed by a link before any use; reset links
work once, for an hour, only the newest, and never after a new password.
"""

from __future__ import annotations

import email
import ipaddress
import logging
import re
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import PASSWORD, AuthActions, run_queued_tasks
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from helpers import count, page_text

from webapp import tasks
from webapp.extensions import db
from webapp.infra import crypto, mail
from webapp.infra.queue import huey
from webapp.models import ApiToken, MailMessage, MailState, User, utcnow
from webapp.services import accounts, api_tokens

NEW_PASSWORD = "a brand new passphrase"


def free_port() -> int:
    """Return a loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Inbox:
    """What the SMTP server received, and the logins it accepted."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Return the MAIL_URL that reaches this server."""
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        """Keep each message as it arrived."""
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        """Return the messages sent to one address."""
        return [m for m in self.messages if m["To"] == address]


def authenticate(inbox: Inbox):
    """Accept any login, noting the name and password given."""

    def check(server, session, envelope, mechanism, auth_data):
        inbox.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)

    return check


def start_smtp(inbox: Inbox, **options) -> Controller:
    """Run an SMTP server on loopback that hands what it receives to the inbox."""
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, **options)
    controller.start()
    return controller


@pytest.fixture
def smtp() -> Iterator[Inbox]:
    """A real SMTP server on loopback."""
    inbox = Inbox(free_port())
    controller = start_smtp(inbox)
    yield inbox
    controller.stop()


@pytest.fixture
def app(make_app, smtp):
    """The app, sending its mail to the loopback SMTP server."""
    app = make_app(MAIL_URL=smtp.url, MAIL_FROM="Praisewall <hello@praisewall.test>")
    with app.app_context():
        yield app


def body(message: EmailMessage, kind: str = "plain") -> str:
    """Return a message's text or HTML part."""
    return message.get_body(preferencelist=(kind,)).get_content()


def link_in(message: EmailMessage) -> str:
    """Return the link in a message's text, as a path the test client can follow."""
    found = re.findall(r"https?://praisewall\.test(/\S+)", body(message))
    assert len(found) == 1, body(message)
    return found[0]


def set_address(client, address: str):
    """Send the settings form that sets my email address."""
    return client.post("/settings/email", data={"email": address, "password": PASSWORD})


def alice_asks_for_mail(app, make_user):
    """Sign alice in on this app and set her address, which queues its confirmation."""
    make_user("alice")
    client = app.test_client()
    AuthActions(client).login()
    set_address(client, "alice@example.com")


def confirmed(client, smtp: Inbox, address: str) -> str:
    """Set an address and follow the link mailed to it; return the link."""
    assert set_address(client, address).status_code == 302
    run_queued_tasks()
    link = link_in(smtp.to(address)[-1])
    assert client.post(link).status_code == 302
    return link


def forgot(client, name: str, addr: str = "127.0.0.1"):
    """Ask for a password reset link."""
    return client.post("/forgot", data={"name": name}, environ_base={"REMOTE_ADDR": addr})


def later(monkeypatch, seconds: float) -> None:
    """Move the clock the links are checked against forward."""
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + seconds)


@pytest.fixture
def signed_in_alice_with_email(client, make_user, smtp) -> User:
    """Alice, signed in, with alice@example.com confirmed."""
    user = make_user("alice")
    AuthActions(client).login()
    confirmed(client, smtp, "alice@example.com")
    smtp.messages.clear()
    db.session.refresh(user)
    return user


# --- Mail ---


def test_a_message_goes_out_after_commit_as_text_and_html(client, make_user, auth, smtp):
    """Setting an address queues its confirmation; the worker sends it, once, from MAIL_FROM."""
    make_user("alice")
    auth.login()
    assert set_address(client, "Alice@Example.com ").status_code == 302
    assert smtp.messages == []  # the worker sends it, not the request
    row = db.session.scalars(sa.select(MailMessage)).one()
    assert row.state == MailState.PENDING
    assert run_queued_tasks() == 1
    [message] = smtp.messages
    assert message["From"] == "Praisewall <hello@praisewall.test>"
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "Confirm your email address"
    assert "/email/confirm/" in body(message)
    assert "Confirm my address</a>" in body(message, "html")
    db.session.refresh(row)
    assert (row.state, row.attempts) == (MailState.SENT, 1)
    # The task for the same row again, or the sweep: nothing goes twice.
    tasks.send_mail.call_local(row.id)
    tasks.sweep.call_local()
    run_queued_tasks()
    assert len(smtp.messages) == 1


def test_one_message_per_key(app):
    """Queuing the same message twice makes one row."""
    first = mail.queue("notice:x", "a@example.com", "Hi", "Hi.", "<p>Hi.</p>")
    second = mail.queue("notice:x", "a@example.com", "Hi", "Hi.", "<p>Hi.</p>")
    db.session.commit()
    assert first.id == second.id and count(MailMessage) == 1


def test_a_failed_send_is_tried_again_later(make_app, make_user):
    """With the server down the row waits and says why; once it is up the message goes."""
    inbox = Inbox(free_port())
    app = make_app(MAIL_URL=inbox.url)
    with app.app_context():
        alice_asks_for_mail(app, make_user)
        run_queued_tasks()
        row = db.session.scalars(sa.select(MailMessage)).one()
        assert (row.state, row.attempts) == (MailState.PENDING, 1)
        assert "ConnectionRefusedError" in row.last_error and row.next_attempt_at is not None
        controller = start_smtp(inbox)
        try:
            run_queued_tasks(scheduled=True)
        finally:
            controller.stop()
        db.session.refresh(row)
        assert row.state == MailState.SENT and row.attempts == 2
        assert [m["To"] for m in inbox.messages] == ["alice@example.com"]


def test_the_sweep_sends_a_row_whose_task_was_lost(client, make_user, auth, smtp):
    """A pending row with no task queued for it is found and sent by the sweep."""
    make_user("alice")
    auth.login()
    set_address(client, "alice@example.com")
    while huey.dequeue() is not None:  # the task is lost; the row stays
        pass
    tasks.sweep.call_local()
    run_queued_tasks()
    assert [m["To"] for m in smtp.messages] == ["alice@example.com"]


def test_a_row_cut_off_mid_send_is_given_up_not_sent_twice(client, make_user, auth, smtp):
    """A row claimed by a worker that died is marked failed once its lease is over."""
    make_user("alice")
    auth.login()
    set_address(client, "alice@example.com")
    row = db.session.scalars(sa.select(MailMessage)).one()
    assert mail.claim(row.id)  # a worker took it, then died before saying how it went
    row.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    tasks.sweep.call_local()
    run_queued_tasks()
    db.session.refresh(row)
    assert row.state == MailState.FAILED and "can't arrive twice" in row.last_error
    assert smtp.messages == []


def test_smtp_login_takes_the_password_from_the_environment(
    make_app, make_user, monkeypatch, tmp_path
):
    """smtp://user@host with WEBAPP_MAIL_PASSWORD logs in as that user with that password."""
    inbox = Inbox(free_port())
    context, cert_file = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert_file)
    controller = start_smtp(
        inbox, authenticator=authenticate(inbox), tls_context=context, require_starttls=True
    )
    monkeypatch.setenv("WEBAPP_MAIL_PASSWORD", "s3cret-mail-pass")
    try:
        app = make_app(MAIL_URL=f"smtp://mailer@127.0.0.1:{inbox.port}?starttls=true")
        with app.app_context():
            alice_asks_for_mail(app, make_user)
            run_queued_tasks()
    finally:
        controller.stop()
    assert inbox.logins == [("mailer", "s3cret-mail-pass")]
    assert len(inbox.messages) == 1


def test_smtp_login_without_tls_is_refused(make_app, make_user, caplog):
    """A user name on plain smtp:// would send the password in the clear: the message is given
    up, saying why, and the server never sees a login."""
    inbox = Inbox(free_port())
    controller = start_smtp(inbox, authenticator=authenticate(inbox), auth_require_tls=False)
    try:
        app = make_app(MAIL_URL=f"smtp://mailer:s3cret@127.0.0.1:{inbox.port}")
        with app.app_context():
            alice_asks_for_mail(app, make_user)
            run_queued_tasks()
            row = db.session.scalars(sa.select(MailMessage)).one()
            assert row.state == MailState.FAILED and "without TLS" in row.last_error
    finally:
        controller.stop()
    assert "without TLS" in caplog.text and "s3cret" not in caplog.text
    assert inbox.logins == [] and inbox.messages == []


class HangingUpBadly(Inbox):
    """A server that takes the message, then answers QUIT with an error."""

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        """Fail the goodbye."""
        return "421 Going away badly"


def test_a_message_taken_is_sent_even_if_the_goodbye_fails(make_app, make_user):
    """Once the server has the message it is sent: an error at QUIT doesn't send it again."""
    inbox = HangingUpBadly(free_port())
    controller = start_smtp(inbox)
    try:
        app = make_app(MAIL_URL=inbox.url)
        with app.app_context():
            alice_asks_for_mail(app, make_user)
            run_queued_tasks()
            row = db.session.scalars(sa.select(MailMessage)).one()
            assert row.state == MailState.SENT and row.attempts == 1
            run_queued_tasks(scheduled=True)
    finally:
        controller.stop()
    assert len(inbox.messages) == 1


def self_signed(tmp_path) -> tuple[ssl.SSLContext, str]:
    """Make a certificate for 127.0.0.1; return a server context and the certificate's file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, str(cert_file)


@pytest.mark.parametrize("scheme", ["smtps", "starttls"])
def test_mail_goes_over_tls_with_the_certificate_checked(
    make_app, make_user, monkeypatch, tmp_path, scheme
):
    """smtps:// and ?starttls=true both encrypt, checking the server's certificate; a
    certificate nobody vouches for stops the message, which waits to be tried again."""
    inbox = Inbox(free_port())
    context, cert_file = self_signed(tmp_path)
    if scheme == "smtps":
        controller = start_smtp(inbox, ssl_context=context)
        url = f"smtps://127.0.0.1:{inbox.port}"
    else:
        controller = start_smtp(inbox, tls_context=context, require_starttls=True)
        url = f"smtp://127.0.0.1:{inbox.port}?starttls=true"
    try:
        app = make_app(MAIL_URL=url)
        with app.app_context():
            alice_asks_for_mail(app, make_user)
            run_queued_tasks()  # the certificate isn't trusted yet
            row = db.session.scalars(sa.select(MailMessage)).one()
            assert row.state == MailState.PENDING and "CERTIFICATE_VERIFY_FAILED" in row.last_error
            monkeypatch.setenv("SSL_CERT_FILE", cert_file)
            run_queued_tasks(scheduled=True)
            db.session.refresh(row)
            assert row.state == MailState.SENT
    finally:
        controller.stop()
    assert [m["To"] for m in inbox.messages] == ["alice@example.com"]


def test_without_a_server_mail_is_written_to_the_outbox_folder(
    make_app, make_user, tmp_path, caplog
):
    """No MAIL_URL: an .eml file in instance/outbox/ a person can read, and a log line without
    the link."""
    caplog.set_level(logging.INFO, logger="webapp")
    app = make_app()
    app.instance_path = str(tmp_path)
    with app.app_context():
        alice_asks_for_mail(app, make_user)
        run_queued_tasks()
    [written] = (tmp_path / "outbox").glob("*.eml")
    message = email.message_from_bytes(written.read_bytes(), policy=default_policy)
    assert message["To"] == "alice@example.com"
    link = link_in(message)
    assert oct(written.stat().st_mode & 0o777) == "0o600"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Confirm your email address" in logged and str(tmp_path / "outbox") in logged
    assert link.rsplit("/", 1)[1] not in logged


# --- Email on the account ---


def test_an_address_is_unconfirmed_until_its_link_is_followed(client, make_user, auth, smtp):
    """Settings show it unconfirmed; the link asks, then confirms it; it works only once."""
    user = make_user("alice")
    auth.login()
    set_address(client, "alice@example.com")
    page = page_text(client.get("/settings"))
    assert "alice@example.com (unconfirmed)" in page
    run_queued_tasks()
    link = link_in(smtp.to("alice@example.com")[0])
    assert user.email is None  # used for nothing yet
    asked = client.get(link)
    assert asked.status_code == 200 and "Use alice@example.com" in page_text(asked)
    assert client.post(link).status_code == 302
    db.session.refresh(user)
    assert (user.email, user.new_email) == ("alice@example.com", None)
    assert "Confirmed: alice@example.com" in page_text(client.get("/settings"))
    again = client.post(link)
    assert again.status_code == 400 and "This link no longer works" in page_text(again)


def test_a_confirmation_link_expires_after_48_hours(client, make_user, auth, smtp, monkeypatch):
    """A link two days old confirms nothing."""
    user = make_user("alice")
    auth.login()
    set_address(client, "alice@example.com")
    run_queued_tasks()
    link = link_in(smtp.messages[0])
    later(monkeypatch, 48 * 3600 + 60)
    assert client.post(link).status_code == 400
    assert client.get(link).status_code == 400
    db.session.refresh(user)
    assert user.email is None


def test_a_forged_or_mangled_link_confirms_nothing(client, signed_in_alice_with_email):
    """Links that were never signed by us are refused plainly."""
    for token in ("nonsense", "eyJ1IjoxLCJlIjoibWVAZXZpbC5leGFtcGxlIn0.AAAA.BBBB"):
        assert client.post(f"/email/confirm/{token}").status_code == 400


def test_changing_the_address_tells_the_old_one_and_keeps_it_until_confirmed(
    client, signed_in_alice_with_email, smtp
):
    """The old address hears of it; the new one gets a link, and is used only once confirmed."""
    set_address(client, "alice@new.example")
    run_queued_tasks()
    [notice] = smtp.to("alice@example.com")
    assert "Your email address is changing" == notice["Subject"]
    assert "/email/confirm/" not in body(notice)
    db.session.refresh(signed_in_alice_with_email)
    assert (signed_in_alice_with_email.email, signed_in_alice_with_email.new_email) == (
        "alice@example.com",
        "alice@new.example",
    )
    assert "alice@new.example (unconfirmed)" in page_text(client.get("/settings"))
    assert client.post(link_in(smtp.to("alice@new.example")[0])).status_code == 302
    db.session.refresh(signed_in_alice_with_email)
    assert (signed_in_alice_with_email.email, signed_in_alice_with_email.new_email) == (
        "alice@new.example",
        None,
    )


def test_an_earlier_address_s_link_stops_working_after_another_is_asked_for(
    client, make_user, auth, smtp
):
    """Only the address last asked for can be confirmed."""
    user = make_user("alice")
    auth.login()
    set_address(client, "first@example.com")
    set_address(client, "second@example.com")
    run_queued_tasks()
    assert client.post(link_in(smtp.to("first@example.com")[0])).status_code == 400
    db.session.refresh(user)
    assert user.email is None


@pytest.mark.parametrize(
    "address", ["not-an-address", "a@b", "<x>@example.com", "a" * 250 + "@e.com"]
)
def test_a_malformed_address_is_refused(client, make_user, auth, address):
    """Something that can't be an address is sent back to fix, and nothing is queued."""
    make_user("alice")
    auth.login()
    response = set_address(client, address)
    assert response.status_code == 422
    assert "email address" in page_text(response)
    assert count(MailMessage) == 0


def test_resending_the_link_is_limited(make_app, make_user, smtp):
    """The confirmation can be sent again, but only a few times an hour."""
    app = make_app(MAIL_URL=smtp.url, EMAIL_RESEND_RATE_LIMIT="3 per hour")
    with app.app_context():
        make_user("alice")
        client = app.test_client()
        AuthActions(client).login()
        set_address(client, "alice@example.com")  # the first of the three
        assert client.post("/settings/email/resend").status_code == 302
        assert client.post("/settings/email/resend").status_code == 302
        assert client.post("/settings/email/resend").status_code == 429
        run_queued_tasks()
        assert len(smtp.to("alice@example.com")) == 3


def test_changing_the_address_is_limited_together_with_resending(make_app, make_user, smtp):
    """Each change mails the address typed: changes and resends share the same few an hour."""
    app = make_app(MAIL_URL=smtp.url, EMAIL_RESEND_RATE_LIMIT="2 per hour")
    with app.app_context():
        make_user("alice")
        client = app.test_client()
        AuthActions(client).login()
        assert set_address(client, "one@example.com").status_code == 302
        assert client.post("/settings/email/resend").status_code == 302
        assert set_address(client, "two@example.com").status_code == 429
        run_queued_tasks()
        assert smtp.to("two@example.com") == []


@pytest.mark.parametrize(
    ("password", "says"), [("", "Enter your password."), ("wrong", "That isn't your password.")]
)
def test_changing_the_address_asks_for_the_password(
    client, signed_in_alice_with_email, smtp, password, says
):
    """A borrowed session can't set an address of its own to reset the password with."""
    response = client.post(
        "/settings/email", data={"email": "mallory@example.com", "password": password}
    )
    assert response.status_code == 422
    assert says in page_text(response)
    run_queued_tasks()
    assert smtp.to("mallory@example.com") == []
    db.session.refresh(signed_in_alice_with_email)
    assert (signed_in_alice_with_email.email, signed_in_alice_with_email.new_email) == (
        "alice@example.com",
        None,
    )


def test_resending_with_nothing_to_confirm_is_a_409(client, signed_in_alice_with_email):
    """There is no link to send again once the address is confirmed."""
    assert client.post("/settings/email/resend").status_code == 409


# --- Key rotation ---


def test_mail_waiting_in_the_outbox_survives_a_key_rotation(make_app, smtp, tmp_path, monkeypatch):
    """`flask rotate-keys` re-encrypts queued mail too, so --retire can't strand its links."""
    monkeypatch.setenv("WEBAPP_INSTANCE_PATH", str(tmp_path))  # no key file there
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app = make_app(MAIL_URL=smtp.url, FERNET_KEYS=old_key)
    with app.app_context():
        accounts.create_user("alice", PASSWORD)
        db.session.commit()
        client = app.test_client()
        AuthActions(client).login()
        assert set_address(client, "alice@example.com").status_code == 302  # queued, not sent
        app.config["FERNET_KEYS"] = f"{new_key},{old_key}"
        crypto.init_app(app)
        rotated = app.test_cli_runner().invoke(args=["rotate-keys"])
        assert rotated.exit_code == 0, rotated.output
        assert "Re-encrypted 1 secrets" in rotated.output
        retired = app.test_cli_runner().invoke(args=["rotate-keys", "--retire"])
        assert retired.exit_code == 0 and "drop the others" in retired.output
        app.config["FERNET_KEYS"] = new_key
        crypto.init_app(app)
        run_queued_tasks()
        (message,) = smtp.to("alice@example.com")
        assert client.post(link_in(message)).status_code == 302
        assert db.session.scalar(sa.select(User.email)) == "alice@example.com"


def test_mail_no_key_reads_is_given_up_with_a_reason(app, client, make_user, smtp, caplog):
    """A queued body under a key nobody holds: the row is given up, saying why, body unlogged."""
    make_user("alice")
    AuthActions(client).login()
    set_address(client, "alice@example.com")
    row = db.session.scalar(sa.select(MailMessage))
    secret_body = '{"text": "secret link", "html": "secret link"}'
    row.body_encrypted = Fernet(Fernet.generate_key()).encrypt(secret_body.encode()).decode()
    db.session.commit()
    caplog.set_level(logging.DEBUG)
    run_queued_tasks()
    db.session.refresh(row)
    assert row.state == MailState.FAILED
    assert "can't be read with the encryption keys" in row.last_error
    assert "can't be read with the encryption keys" in caplog.text
    assert "secret link" not in caplog.text
    assert smtp.messages == []


# --- Forgotten passwords ---


def test_a_reset_link_sets_a_new_password_and_signs_out_everywhere(
    app, client, signed_in_alice_with_email, smtp, auth
):
    """The link sets a new password; other sessions end, API tokens stop, the link is spent."""
    other_device = app.test_client()
    AuthActions(other_device).login()
    api_tokens.create(signed_in_alice_with_email, "Phone")
    db.session.commit()
    auth.logout()
    assert "Forgot your password?" in page_text(client.get("/login"))
    answer = forgot(client, "alice")
    assert answer.status_code == 200
    run_queued_tasks()
    [message] = smtp.to("alice@example.com")
    link = link_in(message)
    form = client.get(link)
    assert form.status_code == 200 and "Choose a new password" in page_text(form)
    done = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].startswith("/login")
    assert other_device.get("/settings").status_code == 302  # signed out
    assert count(ApiToken) == 0
    assert auth.login(password=PASSWORD).status_code == 401
    assert auth.login(password=NEW_PASSWORD).status_code == 302
    auth.logout()
    used = client.get(link)
    assert used.status_code == 400 and "This link no longer works" in page_text(used)
    again = client.post(link, data={"password": "yet another passphrase", "confirm": ""})
    assert again.status_code == 400


@pytest.mark.parametrize("change", ["confirmed a new one", "removed it"])
def test_a_reset_link_stops_working_once_the_address_changes(
    app, client, signed_in_alice_with_email, smtp, change
):
    """A link mailed to the old address can't set the password after the address is changed."""
    stranger = app.test_client()
    assert forgot(stranger, "alice").status_code == 200
    run_queued_tasks()
    link = link_in(smtp.to("alice@example.com")[-1])
    assert stranger.get(link).status_code == 200
    if change == "confirmed a new one":
        confirmed(client, smtp, "alice@new.example")
    else:
        assert set_address(client, "").status_code == 302
    stale = stranger.get(link)
    assert stale.status_code == 400 and "This link no longer works" in page_text(stale)
    refused = stranger.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert refused.status_code == 400


def test_a_weak_new_password_is_sent_back(client, signed_in_alice_with_email, smtp, auth):
    """The new password follows the usual rules; the link still works afterwards."""
    auth.logout()
    forgot(client, "alice")
    run_queued_tasks()
    link = link_in(smtp.messages[0])
    refused = client.post(link, data={"password": "short", "confirm": "short"})
    assert refused.status_code == 422 and "at least 10 characters" in page_text(refused)
    assert client.get(link).status_code == 200


def test_the_link_can_be_asked_for_by_address(client, signed_in_alice_with_email, smtp, auth):
    """A confirmed address names the account as well as its username does."""
    auth.logout()
    forgot(client, "ALICE@example.com")
    run_queued_tasks()
    assert len(smtp.to("alice@example.com")) == 1


def test_a_reset_link_expires_after_an_hour(
    client, signed_in_alice_with_email, smtp, auth, monkeypatch
):
    """An hour and a minute on, the link is dead."""
    auth.logout()
    forgot(client, "alice")
    run_queued_tasks()
    link = link_in(smtp.messages[0])
    later(monkeypatch, 3660)
    assert client.get(link).status_code == 400
    data = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert client.post(link, data=data).status_code == 400
    monkeypatch.undo()
    assert auth.login(password=PASSWORD).status_code == 302


def test_a_newer_link_replaces_the_older(client, signed_in_alice_with_email, smtp, auth):
    """Only the latest link works."""
    auth.logout()
    forgot(client, "alice")
    forgot(client, "alice")
    run_queued_tasks()
    first, second = (link_in(m) for m in smtp.to("alice@example.com"))
    assert first != second
    assert client.get(first).status_code == 400
    assert client.get(second).status_code == 200


def test_a_password_change_ends_the_link(client, signed_in_alice_with_email, smtp):
    """Changing the password in settings kills a link already sent."""
    forgot(client, "alice")
    run_queued_tasks()
    link = link_in(smtp.messages[0])
    data = {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert client.post("/settings/password", data=data).status_code == 302
    assert client.get(link).status_code == 400


def test_no_link_goes_to_an_unconfirmed_address(client, make_user, auth, smtp):
    """An address not yet confirmed receives no reset link."""
    make_user("alice")
    auth.login()
    set_address(client, "alice@example.com")
    run_queued_tasks()
    smtp.messages.clear()
    auth.logout()
    forgot(client, "alice")
    forgot(client, "alice@example.com")
    run_queued_tasks()
    assert smtp.messages == []


def test_the_answer_is_the_same_whoever_is_asked_about(
    client, signed_in_alice_with_email, make_user, smtp, auth
):
    """An account with an address, one without, and nobody at all: the same status and page."""
    make_user("bob")
    auth.logout()
    client.get("/")  # shows, and so clears, the logout notice
    answers = [
        forgot(client, name, addr=f"192.0.2.{n}")
        for n, name in enumerate(["alice", "bob", "nobody_here", "alice@example.com", "x@y.org"])
    ]
    assert {a.status_code for a in answers} == {200}
    assert len({a.get_data() for a in answers}) == 1
    assert "If that account has a confirmed email address" in page_text(answers[0])
    run_queued_tasks()
    assert [m["To"] for m in smtp.messages] == ["alice@example.com"] * 2


def test_asking_is_limited_per_account(make_app, make_user, smtp):
    """From many addresses, one account gets only a few links an hour."""
    app = make_app(MAIL_URL=smtp.url, RESET_ACCOUNT_RATE_LIMIT="2 per hour")
    with app.app_context():
        user = make_user("alice")
        user.email = "alice@example.com"
        db.session.commit()
        client = app.test_client()
        statuses = [forgot(client, "alice", addr=f"192.0.2.{n}").status_code for n in range(3)]
        assert statuses == [200, 200, 429]
        # Another account is not held back by it.
        assert forgot(client, "bob", addr="192.0.2.50").status_code == 200
        run_queued_tasks()
        assert len(smtp.messages) == 2


def test_asking_is_limited_per_address(make_app, smtp):
    """One address can't ask about name after name at speed."""
    app = make_app(MAIL_URL=smtp.url, RESET_RATE_LIMIT="3 per hour")
    with app.app_context():
        client = app.test_client()
        statuses = [forgot(client, f"name{n}").status_code for n in range(4)]
        assert statuses == [200, 200, 200, 429]


def test_an_empty_request_is_sent_back(client):
    """Asking about nobody is a form to fix, not a 500."""
    response = client.post("/forgot", data={"name": ""})
    assert response.status_code == 422
    assert "Enter your username or your email address." in page_text(response)


def test_no_link_token_or_password_in_the_database_or_logs(client, make_user, auth, smtp, caplog):
    """Confirmation and reset links, and the passwords typed, are never stored or logged."""
    caplog.set_level(logging.DEBUG)
    for name in ("werkzeug", "webapp", "huey"):
        caplog.set_level(logging.DEBUG, logger=name)
    make_user("alice")
    auth.login()
    set_address(client, "alice@example.com")
    run_queued_tasks()
    confirm = link_in(smtp.messages[-1])
    client.post(confirm)
    auth.logout()
    forgot(client, "alice")
    run_queued_tasks()
    reset = link_in(smtp.messages[-1])
    client.post(reset, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    dump = "\n".join(
        repr(tuple(row))
        for table in db.metadata.sorted_tables
        for row in db.session.execute(sa.select(table))
    )
    logs = "\n".join(
        f"{record.name} {record.getMessage()} {record.args!r}"
        for record in caplog.records
        if not record.name.startswith("mail.log")  # the test's own SMTP server, not ours
    )
    assert "mail" in logs, "nothing was logged, so the check would prove nothing"
    for secret in (confirm.rsplit("/", 1)[1], reset.rsplit("/", 1)[1], NEW_PASSWORD, PASSWORD):
        assert secret not in dump
        assert secret not in logs


def test_leaving_takes_the_address_and_its_mail_along(client, signed_in_alice_with_email, smtp):
    """Deleting the account deletes the address and every outbox row for it."""
    set_address(client, "alice@new.example")  # a message waits in the outbox
    assert count(MailMessage) > 0
    assert client.post("/settings/delete", data={"password": PASSWORD}).status_code == 302
    assert count(MailMessage) == 0
    assert db.session.scalar(sa.select(User).where(User.email.is_not(None))) is None
    run_queued_tasks()
    assert smtp.to("alice@new.example") == []
