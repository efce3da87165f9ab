"""A business's numbers: praise, complaints, how many got resolved and how fast, ratings."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import VISIBLE_MODERATION, Business, ComplaintStatus, Crosspost, Kind, Post


@dataclass
class BusinessNumbers:
    """The headline figures on a business's wall."""

    praise: int
    complaints: int
    resolved: int
    median_days_to_resolve: float | None
    average_rating: float | None
    mentioned: int = 0  # statuses sent that mentioned the business's resolved handle
    replied: int = 0
    median_reply: timedelta | None = None

    @property
    def reply_rate(self) -> float | None:
        """Return the share of mentioning statuses the business replied to."""
        return self.replied / self.mentioned if self.mentioned else None

    @property
    def resolved_share(self) -> float | None:
        """Return the share of complaints resolved, or None with no complaints."""
        return self.resolved / self.complaints if self.complaints else None


def business_numbers(business: Business) -> BusinessNumbers:
    """Compute a business's numbers from its public posts."""
    public = sa.and_(
        Post.business_id == business.id,
        Post.is_on_wall.is_(True),
        Post.moderation.in_(VISIBLE_MODERATION),
    )
    is_complaint = Post.kind == Kind.COMPLAINT
    praise, complaints, resolved, average = db.session.execute(
        sa.select(
            sa.func.count().filter(Post.kind == Kind.PRAISE),
            sa.func.count().filter(is_complaint),
            sa.func.count().filter(is_complaint, Post.complaint_status == ComplaintStatus.RESOLVED),
            sa.func.avg(Post.rating),
        ).where(public)
    ).one()
    # Resolution spans and reply delays come back in one round trip, told apart by `what`.
    spans = sa.select(
        sa.literal_column("0").label("what"), Post.created_at, Post.resolved_at
    ).where(public, is_complaint, Post.complaint_status == ComplaintStatus.RESOLVED)
    watched = (
        sa.select(sa.literal_column("1").label("what"), Crosspost.sent_at, Crosspost.replied_at)
        .join(Post, Crosspost.post_id == Post.id)
        .where(public, Crosspost.sent_at.is_not(None), Crosspost.mention_resolved.is_(True))
    )
    days, delays, mentioned = [], [], 0
    for what, start, end in db.session.execute(sa.union_all(spans, watched)):
        if what == 0 and end is not None:
            days.append((end - start).total_seconds() / 86400)
        elif what == 1:
            mentioned += 1
            if end is not None:
                delays.append(end - start)
    return BusinessNumbers(
        praise=praise,
        complaints=complaints,
        resolved=resolved,
        median_days_to_resolve=statistics.median(days) if days else None,
        average_rating=float(average) if average is not None else None,
        mentioned=mentioned,
        replied=len(delays),
        median_reply=statistics.median(delays) if delays else None,
    )
