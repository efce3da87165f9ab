"""Export: everything we hold about a person, column by column, and no credential."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, send
from passkey_support import Authenticator, add_passkey

from webapp import audit
from webapp.audit import AuditEntry
from webapp.extensions import db
from webapp.infra import crypto
from webapp.models import (
    ApiToken,
    BlueskyAccount,
    BusinessManager,
    BusinessReply,
    ChallengeRound,
    Crosspost,
    MailMessage,
    MastodonAccount,
    MastodonServer,
    Passkey,
    Post,
    RecoveryCode,
    ReplyReport,
    Report,
    User,
    utcnow,
)
from webapp.services.export import EXPORTED_AS, NOT_EXPORTED

# Tables that hold nobody's personal data (or only other people's), and why.
NOT_PERSONAL = {
    "business": "exported as businesses added and managed, by what the person gave",
    "mastodon_server": "our app's registration at a server, shared by everyone there",
}


@pytest.fixture
def everything(client, connected, make_business, make_user, make_post, fake_mastodon):
    """Alice with one of everything: a sent and replied status, a complaint, a report filed,
    an API token, a passkey, recovery codes, a challenge round and an audit entry; return her
    export."""
    bakery = make_business("Corner Bakery", handle="@support@cornerbakery.example")
    row = send(client, bakery, body="Alice praises the crust.")
    row.replied_at = utcnow()
    row.reply_url = f"{fake_mastodon.url}/@support/99"
    row.reply_text = "Thank you, Alice!"
    bobs = make_post(make_user("bob"), bakery, body="Bob's own post.")
    assert client.post(f"/posts/{bobs.id}/report", data={"reason": "other"}).status_code == 302
    assert client.post("/settings/tokens", data={"name": "Phone"}).status_code == 200
    assert add_passkey(client, Authenticator(), "My phone").status_code == 200
    assert client.post("/settings/recovery-codes").status_code == 200
    audit.record(None, "admin.create", connected, username="alice")
    db.session.add(BusinessManager(business_id=bakery.id, user_id=connected.id))
    answer = BusinessReply(
        post_id=bobs.id, business_id=bakery.id, author_id=connected.id, body="Thanks, Bob!"
    )
    db.session.add(answer)
    db.session.add(ReplyReport(reply=answer, reporter=connected, reason="spam", detail="Ad."))
    # Connected to Bluesky too; how she connected is shown by the Bluesky tests.
    db.session.add(
        BlueskyAccount(
            user=connected,
            did="did:plc:alicealicealicealiceali",
            handle="alice.example",
            pds_url="https://pds.example",
            issuer="https://pds.example",
            access_token=crypto.encrypt("bluesky-access"),
            refresh_token=crypto.encrypt("bluesky-refresh"),
            dpop_key=crypto.encrypt("{}"),
            scopes="atproto transition:generic",
        )
    )
    connected.email = "alice@example.com"
    db.session.commit()
    assert (
        client.post(
            "/settings/email", data={"email": "alice@new.example", "password": PASSWORD}
        ).status_code
        == 302
    )
    response = client.get("/settings/export.json")
    assert response.status_code == 200
    return response


def test_every_column_is_exported_or_left_out_for_a_reason(everything, app):
    """Each column of each table about the person is in the export, or listed with a reason."""
    data = everything.json
    post = next(p for p in data["posts"] if p["crossposts"])
    exported = {
        User: data["account"],
        Post: post,
        Crosspost: post["crossposts"][0],
        Report: data["reports_filed"][0],
        ChallengeRound: data["challenge_rounds"][0],
        ApiToken: data["api_tokens"][0],
        MastodonAccount: data["mastodon_account"],
        BlueskyAccount: data["bluesky_account"],
        AuditEntry: data["audit_entries"][0],
        MailMessage: data["mail"][0],
        BusinessManager: data["managing_for_owner"][0],
        BusinessReply: data["business_replies_written"][0],
        ReplyReport: data["reply_reports_filed"][0],
        Passkey: data["passkeys"][0],
        RecoveryCode: data["recovery_codes"][0],
    }
    for model, obj in exported.items():
        table = model.__tablename__
        for column in model.__table__.columns:
            name = EXPORTED_AS.get(table, {}).get(column.name, column.name)
            assert column.name in NOT_EXPORTED.get(table, {}) or name in obj, (
                f"{table}.{column.name} is neither exported nor listed in NOT_EXPORTED"
            )
    covered = {m.__tablename__ for m in exported} | set(NOT_PERSONAL)
    for table in db.metadata.sorted_tables:
        refers_to_user = any(fk.column.table.name == "user" for fk in table.foreign_keys)
        if refers_to_user or table.name == "user":
            assert table.name in covered, f"{table.name} refers to a user but is not exported"


def test_export_holds_moderation_crosspost_reports_tokens_and_audit(everything, fake_mastodon):
    """The new parts carry what the person would want to see."""
    data = everything.json
    post = next(p for p in data["posts"] if p["crossposts"])
    assert post["moderation"] == "ok"
    crosspost = post["crossposts"][0]
    assert crosspost["state"] == "sent"
    assert crosspost["remote_url"].startswith(fake_mastodon.url)
    assert crosspost["sent_at"] and crosspost["replied_at"]
    assert crosspost["reply_text"] == "Thank you, Alice!"
    assert data["reports_filed"][0]["reason"] == "other"
    assert [t["name"] for t in data["api_tokens"]] == ["Phone"]
    [passkey] = data["passkeys"]
    assert passkey["name"] == "My phone" and passkey["created_at"]
    assert len(data["recovery_codes"]) == 10
    assert data["mastodon_account"]["acct"] == f"alice@{fake_mastodon.domain}"
    assert data["mastodon_account"]["server"] == fake_mastodon.url
    assert data["audit_entries"][0]["action"] == "admin.create"
    assert [m["business"] for m in data["managing_for_owner"]] == ["corner-bakery"]
    assert data["account"]["email"] == "alice@example.com"
    assert data["account"]["unconfirmed_email"] == "alice@new.example"
    assert {(m["to_address"], m["subject"]) for m in data["mail"]} == {
        ("alice@example.com", "Your email address is changing"),
        ("alice@new.example", "Confirm your email address"),
    }


def test_export_holds_no_credential(everything, connected):
    """No password hash, session token, API token hash, access token, client secret, passkey
    or recovery code hash."""
    text = everything.text
    account = db.session.scalars(sa.select(MastodonAccount)).one()
    server = db.session.scalars(sa.select(MastodonServer)).one()
    secrets = [
        connected.password_hash,
        connected.session_token,
        crypto.decrypt(account.access_token),
        account.access_token,
        crypto.decrypt(server.client_secret),
        *db.session.scalars(sa.select(ApiToken.token_hash)),
        *db.session.scalars(sa.select(MailMessage.body_encrypted)),
        *db.session.scalars(sa.select(Passkey.credential_id)),
        *db.session.scalars(sa.select(Passkey.user_handle)),
        *db.session.scalars(sa.select(RecoveryCode.code_hash)),
    ]
    assert "/email/confirm/" not in text
    for secret in secrets:
        assert secret and secret not in text
    json.loads(text)


def test_export_of_a_person_with_nothing_yet(client, make_user, auth):
    """A new account exports cleanly, with empty lists."""
    make_user("carol")
    auth.login("carol")
    data = client.get("/settings/export.json").json
    assert data["account"]["username"] == "carol"
    assert data["posts"] == data["reports_filed"] == data["audit_entries"] == []
    assert data["mastodon_account"] is None
    assert date.fromisoformat(data["account"]["created_at"][:10])
