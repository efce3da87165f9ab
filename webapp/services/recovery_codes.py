"""One-time recovery codes: the way back into an account whose passkeys are lost.

Codes are random and long, so a fast salted hash is enough to keep them safe at rest; each
signs in once and is gone.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import cast

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import RecoveryCode, User

COUNT = 10
log = logging.getLogger(__name__)
# No 0/o, 1/l/i: codes are copied by hand from paper.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
LENGTH = 10  # about 49 bits each


def normalize(code: str) -> str:
    """Read a code as typed: any case, with or without its dash and spaces."""
    return "".join(ch for ch in code.lower() if ch.isalnum())


def digest(salt: str, code: str) -> str:
    """Hash a normalized code with its salt."""
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def hashed(code: str) -> str:
    """Return what is stored for a code: a random salt and the hash."""
    salt = secrets.token_hex(8)
    return f"{salt}${digest(salt, normalize(code))}"


def matches(stored: str, code: str) -> bool:
    """Tell whether a typed code is the one stored."""
    salt, _, expected = stored.partition("$")
    return hmac.compare_digest(digest(salt, normalize(code)), expected)


def new_code() -> str:
    """Return a fresh code, as shown: two groups of five."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def regenerate(user: User) -> list[str]:
    """Replace the person's codes with COUNT new ones and return them, for showing once."""
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [new_code() for _ in range(COUNT)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=hashed(code)) for code in codes)
    db.session.flush()
    log.info("user %s made %d new recovery codes", user.id, COUNT)
    return codes


def remaining(user: User) -> int:
    """Count the person's unused codes."""
    query = sa.select(sa.func.count()).where(RecoveryCode.user_id == user.id)
    return db.session.scalar(query.select_from(RecoveryCode)) or 0


def use(user: User | None, code: str) -> bool:
    """Burn the person's code if it is one of theirs; tell whether it was."""
    if user is None or not normalize(code):
        return False
    rows = db.session.scalars(sa.select(RecoveryCode).where(RecoveryCode.user_id == user.id))
    for row in rows:
        if matches(row.code_hash, code):
            # Counted, not assumed: of two requests racing with one code, only one burns it.
            burnt = cast(
                sa.CursorResult,
                db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.id == row.id)),
            )
            if burnt.rowcount == 1:
                log.info("user %s signed in with a recovery code", user.id)
            return burnt.rowcount == 1
    return False
