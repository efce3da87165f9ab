"""Finding crosspost rows: one by its id, and those whose queued work went missing (the sweep).

The row is the truth and the queue only a reminder, so a lost reminder is found here again.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from webapp.extensions import db
from webapp.models import Crosspost, Post, utcnow

STUCK_AFTER = timedelta(minutes=10)  # pending and due this long ago: the queue lost it


def load(crosspost_id: int) -> Crosspost | None:
    """Load a crosspost with its post and business (its account comes when first asked)."""
    return db.session.scalar(
        sa.select(Crosspost)
        .where(Crosspost.id == crosspost_id)
        .options(so.joinedload(Crosspost.post).joinedload(Post.business))
    )


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
