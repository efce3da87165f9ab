"""Tokens at rest: after signing in, posting and delivering, no access token or client secret
is anywhere in the database or in the logs, even at DEBUG."""

from __future__ import annotations

import email
import email.policy
import logging
import re

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, AuthActions, mastodon_sign_in, run_queued_tasks, send
from passkey_support import Authenticator, sign_up

from webapp.extensions import db


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every logger at DEBUG, the HTTP libraries' included."""
    caplog.set_level(logging.DEBUG)
    for name in ("werkzeug", "urllib3", "requests", "authlib", "mastodon", "webapp", "huey"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def every_value_in_the_database() -> str:
    """Dump every row of every table as text."""
    rows = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)):
            rows.append(repr(tuple(row)))
    return "\n".join(rows)


def test_no_token_or_secret_in_the_database_or_logs(
    debug_logs, client, make_user, make_business, fake_mastodon
):
    """Real OAuth against the fake, a delivered status: nothing secret is stored or logged."""
    make_user("alice")
    AuthActions(client).login()
    assert mastodon_sign_in(client, fake_mastodon).status_code == 302
    bakery = make_business("Corner Bakery", handle="@support@cornerbakery.example")
    send(client, bakery, body="They kept a loaf for me.")
    assert fake_mastodon.statuses, "nothing was delivered"

    tokens = list(fake_mastodon._tokens)
    secrets = [app["client_secret"] for app in fake_mastodon.apps.values()]
    client_ids = [app["client_id"] for app in fake_mastodon.apps.values()]
    assert tokens and secrets
    dump = every_value_in_the_database()
    logs = "\n".join(
        f"{record.name} {record.getMessage()} {record.args!r}" for record in debug_logs.records
    )
    assert debug_logs.records, "nothing was logged, so the check would prove nothing"
    for secret in tokens + secrets:
        assert secret not in dump
        assert secret not in logs
    for client_id in client_ids:
        assert client_id not in dump  # encrypted like the secret


def test_no_mail_link_or_password_in_the_database_or_logs(
    debug_logs, app, client, make_user, tmp_path
):
    """Confirmation and reset links live only in the messages (encrypted in the outbox), and
    neither they nor the passwords typed reach a log."""
    app.instance_path = str(tmp_path)  # no mail server: messages go to instance/outbox/
    make_user("alice")
    AuthActions(client).login()
    client.post("/settings/email", data={"email": "alice@example.com", "password": PASSWORD})
    run_queued_tasks()
    confirm = link_in_outbox(tmp_path)
    assert client.post(confirm).status_code == 302
    AuthActions(client).logout()
    client.post("/forgot", data={"name": "alice"})
    run_queued_tasks()
    reset = link_in_outbox(tmp_path)
    new_password = "a password nobody logs"
    data = {"password": new_password, "confirm": new_password}
    assert client.post(reset, data=data).status_code == 302

    dump = every_value_in_the_database()
    logs = "\n".join(
        f"{record.name} {record.getMessage()} {record.args!r}" for record in debug_logs.records
    )
    assert "mail" in logs, "nothing was logged about mail, so the check would prove nothing"
    for secret in (confirm, reset, new_password, PASSWORD):
        secret = secret.rsplit("/", 1)[-1]
        assert secret not in dump
        assert secret not in logs


def link_in_outbox(folder) -> str:
    """Return the link in the newest message written to the outbox folder, as a path."""
    newest = max((folder / "outbox").glob("*.eml"))
    message = email.message_from_bytes(newest.read_bytes(), policy=email.policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    [link] = re.findall(r"https?://praisewall\.test(/\S+)", text)
    return link


def test_no_recovery_code_in_the_database_or_logs(debug_logs, client):
    """Recovery codes are kept only as salted hashes, and neither made nor used ones are logged."""
    assert sign_up(client, Authenticator()).status_code == 200
    page = client.post("/settings/recovery-codes").text
    codes = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", page)
    assert len(codes) == 10
    AuthActions(client).logout()
    used = {"username": "alice", "code": codes[0]}
    assert client.post("/login/recovery", data=used).status_code == 302
    dump = every_value_in_the_database()
    logs = "\n".join(
        f"{record.name} {record.getMessage()} {record.args!r}" for record in debug_logs.records
    )
    assert "recovery code" in logs, (
        "nothing was logged about codes, so the check would prove nothing"
    )
    for code in codes:
        for form in (code, code.replace("-", "")):
            assert form not in dump
            assert form not in logs
