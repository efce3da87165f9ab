"""Reporting posts, and the admins' review of reports."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp import audit
from webapp.extensions import db, limiter
from webapp.models import Post
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


@bp.get("/admin/reports")
@admin_required
def reports():
    """List reported posts for review."""
    return render_template(
        "moderation/reports.html",
        rows=moderation.reported_posts(),
        reasons=moderation.REPORT_REASONS,
    )


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
