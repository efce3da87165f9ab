"""Tokens at rest: after signing in, posting and delivering, no access token or client secret
is anywhere in the database or in the logs, even at DEBUG."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from conftest import AuthActions, mastodon_sign_in, send

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
