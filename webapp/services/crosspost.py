"""Crossposting as the rest of the app sees it: start a post's status, send it, take it back.

Delivery itself (webapp/networks/delivery.py) knows no walls or challenges; here a status that
went out counts toward its author's challenge.
"""

from __future__ import annotations

from webapp.models import CrosspostState
from webapp.networks import delivery, rows
from webapp.networks.delivery import (
    RETRYABLE,
    mark_for_deletion,
    preview,
    retry,
    start,
    start_deleting,
)
from webapp.services import cards, challenge

__all__ = [
    "RETRYABLE",
    "deliver",
    "mark_for_deletion",
    "preview",
    "retry",
    "start",
    "start_deleting",
]


def deliver(crosspost_id: int) -> str | None:
    """Try to post the status once; a praise that went out counts toward the challenge."""
    state = delivery.deliver(crosspost_id, card_image=cards.post_card)
    if state == CrosspostState.SENT:
        row = rows.load(crosspost_id)
        if row is not None and row.post is not None:
            challenge.record_praise(row.post)
    return state
