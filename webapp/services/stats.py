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
    spans = db.session.execute(
        sa.select(Post.created_at, Post.resolved_at).where(
            public, is_complaint, Post.complaint_status == ComplaintStatus.RESOLVED
        )
    ).all()
    days = [(done - made).total_seconds() / 86400 for made, done in spans if done]
    watched = db.session.execute(
        sa.select(Crosspost.sent_at, Crosspost.replied_at)
        .join(Post, Crosspost.post_id == Post.id)
        .where(
            Post.business_id == business.id,
            Post.is_on_wall.is_(True),
            Post.moderation.in_(VISIBLE_MODERATION),
            Crosspost.sent_at.is_not(None),
            Crosspost.mention_resolved.is_(True),
        )
    ).all()
    delays = [replied - sent for sent, replied in watched if replied is not None]
    return BusinessNumbers(
        praise=praise,
        complaints=complaints,
        resolved=resolved,
        median_days_to_resolve=statistics.median(days) if days else None,
        average_rating=float(average) if average is not None else None,
        mentioned=len(watched),
        replied=len(delays),
        median_reply=statistics.median(delays) if delays else None,
    )
