"""The delivery log: one line per delivery, deletion or reply check, for operators.

Never a token or status text: the row, its server, what happened, and what is next.
"""

from __future__ import annotations

import logging

from webapp.models import Crosspost, CrosspostState
from webapp.networks import get

STOPPED = (CrosspostState.FAILED, CrosspostState.NEEDS_LOGIN, CrosspostState.GAVE_UP)

delivery_log = logging.getLogger("webapp.delivery")


def where(crosspost: Crosspost) -> str:
    """Name the row's server as its host, for the log."""
    return get(crosspost.network).where(crosspost.account)


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
