"""A business's numbers: praise, complaints, how many got resolved and how fast, ratings."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import VISIBLE_MODERATION, Business, ComplaintStatus, Kind, Post


@dataclass
class BusinessNumbers:
    """The headline figures on a business's wall."""

    praise: int
    complaints: int
    resolved: int
    median_days_to_resolve: float | None
    average_rating: float | None

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
    return BusinessNumbers(
        praise=praise,
        complaints=complaints,
        resolved=resolved,
        median_days_to_resolve=statistics.median(days) if days else None,
        average_rating=float(average) if average is not None else None,
    )
