"""Reporting posts, and the admins' review of reports."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp import audit
from webapp.extensions import db, limiter
from webapp.models import BusinessReply, Post
from webapp.posts.routes import render_post
from webapp.services import moderation
from webapp.web.limits import setting, user_key, went_through

bp = Blueprint("moderation", __name__)


def admin_required(view):
    """Let only admins through; others get 403."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


@bp.post("/posts/<int:post_id>/report")
@login_required
@limiter.limit(setting("REPORT_RATE_LIMIT"), key_func=user_key, deduct_when=went_through)
def report(post_id: int):
    """Report a public post."""
    post = db.get_or_404(Post, post_id)
    if not post.is_public:
        abort(404)
    detail = (request.form.get("detail") or "").strip()[:500]
    try:
        moderation.report_post(
            post,
            current_user,
            request.form.get("reason", ""),
            detail,
            current_app.config["REPORTS_TO_HIDE"],
        )
    except moderation.ReportRefused as refusal:
        flash(str(refusal), "error")
        return render_post(post, status=refusal.status)
    db.session.commit()
    flash("Thanks for reporting. An admin will look at it.", "success")
    return redirect(url_for("posts.show", post_id=post.id))


def wall_reply_or_404(post_id: int) -> BusinessReply:
    """Return the business's answer under this post.

    :raise 404: if the post has none.
    """
    post = db.get_or_404(Post, post_id)
    if post.wall_reply is None:
        abort(404, description="This post has no reply from the business.")
    return post.wall_reply


@bp.post("/posts/<int:post_id>/reply/report")
@login_required
@limiter.limit(setting("REPORT_RATE_LIMIT"), key_func=user_key, deduct_when=went_through)
def report_reply(post_id: int):
    """Report the business's answer under a public post."""
    reply = wall_reply_or_404(post_id)
    if not (reply.is_visible and reply.post.is_public):
        abort(404)
    detail = (request.form.get("detail") or "").strip()[:500]
    try:
        moderation.report_reply(
            reply,
            current_user,
            request.form.get("reason", ""),
            detail,
            current_app.config["REPORTS_TO_HIDE"],
        )
    except moderation.ReportRefused as refusal:
        flash(str(refusal), "error")
        return render_post(reply.post, status=refusal.status)
    db.session.commit()
    flash("Thanks for reporting. An admin will look at it.", "success")
    return redirect(url_for("posts.show", post_id=post_id))


@bp.get("/admin/reports")
@admin_required
def reports():
    """List reported posts and answers on walls for review."""
    return render_template(
        "moderation/reports.html",
        rows=moderation.reported_posts(),
        reply_rows=moderation.reported_replies(),
        reasons=moderation.REPORT_REASONS,
    )


@bp.post("/admin/posts/<int:post_id>/reply/hide")
@admin_required
def hide_reply(post_id: int):
    """Hide the business's answer under a post from the walls."""
    reply = wall_reply_or_404(post_id)
    was = reply.moderation
    moderation.hide_reply(reply)
    audit.record(current_user, "reply.hide", reply, post=post_id, was=was)
    db.session.commit()
    flash("The reply is hidden from the walls.", "info")
    return redirect(url_for("moderation.reports"))


@bp.post("/admin/posts/<int:post_id>/reply/restore")
@admin_required
def restore_reply(post_id: int):
    """Show a reported answer on the walls again."""
    reply = wall_reply_or_404(post_id)
    was = reply.moderation
    moderation.restore_reply(reply)
    audit.record(current_user, "reply.restore", reply, post=post_id, was=was)
    db.session.commit()
    flash("The reply is restored to the walls.", "info")
    return redirect(url_for("moderation.reports"))


@bp.post("/admin/posts/<int:post_id>/hide")
@admin_required
def hide(post_id: int):
    """Hide a post from every wall."""
    post = db.get_or_404(Post, post_id)
    was = post.moderation
    moderation.hide(post)
    audit.record(current_user, "post.hide", post, was=was)
    db.session.commit()
    flash("Hidden from the walls.", "info")
    return redirect(url_for("moderation.reports"))


@bp.post("/admin/posts/<int:post_id>/restore")
@admin_required
def restore(post_id: int):
    """Show a reported post again."""
    post = db.get_or_404(Post, post_id)
    was = post.moderation
    moderation.restore(post)
    audit.record(current_user, "post.restore", post, was=was)
    db.session.commit()
    flash("Restored to the walls.", "info")
    return redirect(url_for("moderation.reports"))


@bp.get("/admin/audit")
@admin_required
def audit_log():
    """List the latest admin actions, newest first."""
    return render_template("moderation/audit.html", entries=audit.recent())
