"""Reports on public posts, and what admins decide about them."""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so

from webapp.extensions import db
from webapp.models import BusinessReply, Moderation, Post, ReplyReport, Report, User, utcnow
from webapp.services import challenge, owners

REPORT_REASONS = {
    "spam": "Spam or advertising",
    "abuse": "Abusive or hateful",
    "personal": "Shares someone's personal details",
    "false": "Not true, or not about this business",
    "other": "Something else",
}


class ReportRefused(Exception):
    """A report that can't be taken, with the reason in plain words and an HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def report_post(
    post: Post, reporter: User, reason: str, detail: str | None, threshold: int
) -> None:
    """File a report; enough distinct reports hide the post until an admin decides."""
    if reason not in REPORT_REASONS:
        raise ReportRefused("Choose a reason from the list.", 422)
    if post.author_id == reporter.id:
        raise ReportRefused("You can't report your own post. You can edit or delete it.", 403)
    earlier = db.session.scalar(
        sa.select(Report).where(Report.post_id == post.id, Report.reporter_id == reporter.id)
    )
    if earlier is not None and not answered(post, earlier):
        raise ReportRefused("You've already reported this post. Thanks, we'll look at it.", 409)
    if earlier is None:
        db.session.add(Report(post=post, reporter=reporter, reason=reason, detail=detail or None))
    else:
        # An admin's restore answered the earlier report; this one is about what it says now.
        earlier.reason, earlier.detail, earlier.created_at = reason, detail or None, utcnow()
    db.session.flush()
    if post.moderation == Moderation.OK and report_count(post) >= threshold:
        post.moderation = Moderation.PENDING


def answered(post: Post, report: Report) -> bool:
    """Tell whether an admin's restore has answered this report on the post."""
    return post.restored_at is not None and report.created_at <= post.restored_at


def report_count(post: Post) -> int:
    """Count the distinct people who reported a post since an admin last restored it."""
    stmt = sa.select(sa.func.count()).select_from(Report).where(Report.post_id == post.id)
    if post.restored_at is not None:
        stmt = stmt.where(Report.created_at > post.restored_at)
    return db.session.scalar(stmt)


def reported_posts() -> list[tuple[Post, list[Report]]]:
    """List reported posts with their reports, those awaiting a decision first."""
    reports = db.session.scalars(
        sa.select(Report)
        .options(
            so.joinedload(Report.reporter),
            so.joinedload(Report.post).joinedload(Post.author),
            so.joinedload(Report.post).joinedload(Post.business),
        )
        .order_by(Report.created_at)
    ).all()
    by_post: dict[int, list[Report]] = {}
    for item in reports:
        by_post.setdefault(item.post_id, []).append(item)
    rows = [(items[0].post, items) for items in by_post.values()]
    rows.sort(key=lambda row: (row[0].moderation != Moderation.PENDING, -len(row[1]), -row[0].id))
    return rows


def hide(post: Post) -> None:
    """Hide a post from every wall (an admin's decision)."""
    post.moderation = Moderation.HIDDEN


def restore(post: Post) -> None:
    """Show a reported post again (an admin's decision); it counts for the challenge again.

    The reports so far are answered: only those filed after an edit can hide it again.
    """
    post.moderation = Moderation.RESTORED
    post.restored_at = utcnow()
    challenge.record_praise(post)


def report_reply(
    reply: BusinessReply, reporter: User, reason: str, detail: str | None, threshold: int
) -> None:
    """File a report on a business's answer; enough of them hide it until an admin decides.

    :raise ReportRefused: for an unknown reason, the business's own people, or a second report.
    """
    if reason not in REPORT_REASONS:
        raise ReportRefused("Choose a reason from the list.", 422)
    if owners.can_manage(reply.business, reporter):
        raise ReportRefused("You can't report your business's own reply. Edit or delete it.", 403)
    earlier = db.session.scalar(
        sa.select(ReplyReport.id).where(
            ReplyReport.reply_id == reply.id, ReplyReport.reporter_id == reporter.id
        )
    )
    if earlier is not None:
        raise ReportRefused("You've already reported this reply. Thanks, we'll look at it.", 409)
    db.session.add(
        ReplyReport(reply=reply, reporter=reporter, reason=reason, detail=detail or None)
    )
    db.session.flush()
    count = db.session.scalar(
        sa.select(sa.func.count()).select_from(ReplyReport).where(ReplyReport.reply_id == reply.id)
    )
    if reply.moderation == Moderation.OK and count >= threshold:
        reply.moderation = Moderation.PENDING


def reported_replies() -> list[tuple[BusinessReply, list[ReplyReport]]]:
    """List reported answers on walls with their reports, those awaiting a decision first."""
    reports = db.session.scalars(
        sa.select(ReplyReport)
        .options(so.joinedload(ReplyReport.reporter), so.joinedload(ReplyReport.reply))
        .order_by(ReplyReport.created_at)
    ).all()
    by_reply: dict[int, list[ReplyReport]] = {}
    for item in reports:
        by_reply.setdefault(item.reply_id, []).append(item)
    rows = [(items[0].reply, items) for items in by_reply.values()]
    rows.sort(key=lambda row: (row[0].moderation != Moderation.PENDING, -len(row[1]), -row[0].id))
    return rows


def hide_reply(reply: BusinessReply) -> None:
    """Hide a business's answer from the walls (an admin's decision)."""
    reply.moderation = Moderation.HIDDEN


def restore_reply(reply: BusinessReply) -> None:
    """Show a reported answer again (an admin's decision); its reports so far are answered."""
    reply.moderation = Moderation.RESTORED
    db.session.execute(sa.delete(ReplyReport).where(ReplyReport.reply_id == reply.id))
