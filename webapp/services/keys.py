"""Key rotation: a new encryption key, every stored secret re-encrypted under it, old keys retired.

With keys in instance/fernet_keys the rotation writes the new key at the top of the file first,
so running processes (which read the file again when it changes) can read what it re-encrypts.
With WEBAPP_FERNET_KEYS the operator gives every process the new key first; the rotation then
refuses to run beside a key file without that key, which is what a `make run` site reads.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

from webapp.extensions import db
from webapp.infra import crypto
from webapp.models import (
    BlueskyAccount,
    MailMessage,
    MailState,
    MastodonAccount,
    MastodonServer,
)


class KeyProblem(Exception):
    """A rotation that would leave secrets unreadable, refused with what to do instead."""


# A Bluesky connection's tokens and the DPoP key (with what it is bound to).
BLUESKY_SECRETS = ("access_token", "refresh_token", "dpop_key")


def stored_secrets() -> Iterator[tuple[object, str]]:
    """Yield (row, attribute) for every encrypted value in the database."""
    for server in db.session.scalars(sa.select(MastodonServer)):
        for name in ("client_id", "client_secret"):
            if getattr(server, name):
                yield server, name
    for account in db.session.scalars(sa.select(MastodonAccount)):
        yield account, "access_token"
    for bluesky in db.session.scalars(sa.select(BlueskyAccount)):
        for name in BLUESKY_SECRETS:
            if getattr(bluesky, name):
                yield bluesky, name
    # Mail still to send: its links must outlive a retired key. Sent or given up, it's done.
    unsent = sa.select(MailMessage).where(
        MailMessage.state.not_in((MailState.SENT, MailState.FAILED))
    )
    for message in db.session.scalars(unsent):
        yield message, "body_encrypted"


def rotation_problem() -> str | None:
    """Say why rotating under WEBAPP_FERNET_KEYS's newest key would break the site, if it would."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    path = crypto.key_file_path(app)
    if crypto.uses_key_file(app) or not path.exists():
        return None
    newest = crypto.split_keys(crypto.configured_keys(app))[:1]
    if newest and newest[0] in crypto.read_keys(path):
        return None
    return (
        f"A site started without WEBAPP_FERNET_KEYS reads its keys from {path}, which doesn't "
        "have the first key of WEBAPP_FERNET_KEYS: re-encrypting under it would leave that site "
        "unable to read any Mastodon token. To rotate the file's keys, run `flask rotate-keys` "
        "without WEBAPP_FERNET_KEYS. If every process is given WEBAPP_FERNET_KEYS, move the file "
        "out of the way first."
    )


def add_key_to_file() -> str:
    """Put a fresh key at the top of instance/fernet_keys, keeping the others; return the path."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    path = crypto.key_file_path(app)
    crypto.write_keys(path, [Fernet.generate_key().decode(), *crypto.read_keys(path)])
    crypto.reload_if_changed(app)
    return str(path)


def reencrypt() -> tuple[int, int]:
    """Re-encrypt every stored secret under the newest key; return (re-encrypted, unreadable)."""
    done = unreadable = 0
    for row, name in stored_secrets():
        if isinstance(row, BlueskyAccount):
            continue  # below, all at once, unless a renewal got there first
        try:
            setattr(row, name, crypto.rotate(getattr(row, name)))
        except InvalidToken:
            unreadable += 1
        else:
            done += 1
    for account in db.session.scalars(sa.select(BlueskyAccount)):
        values = {}
        for name in BLUESKY_SECRETS:
            if getattr(account, name):
                try:
                    values[name] = crypto.rotate(getattr(account, name))
                except InvalidToken:
                    unreadable += 1
        done += reencrypt_bluesky(account, values)
    return done, unreadable


def reencrypt_bluesky(account: BlueskyAccount, values: dict[str, str]) -> int:
    """Store a connection's re-encrypted secrets unless its tokens were renewed meanwhile.

    A worker renewing the tokens writes them on a connection of its own: writing back what
    this command read would put the spent tokens back. Returns how many were re-encrypted.
    """
    if not values:
        return 0
    table = BlueskyAccount.__table__
    result = db.session.execute(
        sa.update(table)
        .where(table.c.id == account.id, table.c.token_version == account.token_version)
        .values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return 0  # renewed meanwhile, under the keys its worker had: run the rotation again
    db.session.expire(account)
    return len(values)


def retire() -> str:
    """Keep only the newest key once every stored secret is under it; say what was done.

    :raise KeyProblem: while some secret still needs an older key.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    keys = (
        crypto.read_keys(crypto.key_file_path(app))
        if crypto.uses_key_file(app)
        else crypto.split_keys(crypto.configured_keys(app))
    )
    newest = Fernet(keys[0])
    waiting = 0
    for row, name in stored_secrets():
        try:
            newest.decrypt(getattr(row, name).encode())
        except InvalidToken:
            waiting += 1
    if waiting:
        raise KeyProblem(
            f"{waiting} stored secrets still need an older key; run `flask rotate-keys` first."
        )
    if len(keys) == 1:
        return "Only one key is in use; nothing to retire."
    if not crypto.uses_key_file(app):
        return (
            "Every stored secret is under the newest key: drop the others from "
            "WEBAPP_FERNET_KEYS on every process."
        )
    path = crypto.key_file_path(app)
    crypto.write_keys(path, keys[:1])
    crypto.reload_if_changed(app)
    return f"Dropped {len(keys) - 1} older keys from {path}."
