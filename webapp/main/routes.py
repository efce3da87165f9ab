"""The front page, the community wall, profiles, my posts, and the health check."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required

from webapp.extensions import db
from webapp.models import Post
from webapp.pagination import keyset_page
from webapp.services import accounts, challenge, posts

bp = Blueprint("main", __name__)


def page_of(stmt: sa.Select):
    """Return the page of posts, newest first, that follows ?cursor=."""
    return keyset_page(
        stmt, Post.created_at, Post.id, request.args.get("cursor"), current_app.config["PER_PAGE"]
    )


@bp.get("/")
def index():
    """Say what Praisewall is and show the latest praise."""
    latest = db.session.scalars(
        posts.wall_posts().order_by(Post.created_at.desc(), Post.id.desc()).limit(5)
    ).all()
    return render_template("main/index.html", latest=latest, totals=challenge.community_totals())


@bp.get("/wall")
def wall():
    """Show everyone's latest public praise."""
    return render_template("main/wall.html", page=page_of(posts.wall_posts()))


@bp.get("/me")
@login_required
def me():
    """Show my posts, newest first, each with its state."""
    round_ = challenge.current_round(current_user)
    progress = challenge.progress(round_) if round_ else None
    return render_template(
        "main/me.html", page=page_of(posts.my_posts(current_user)), progress=progress
    )


@bp.get("/u/<username>")
def profile(username: str):
    """Show a person's public posts and finished challenge rounds."""
    user = accounts.find_user(username)
    if user is None:
        return render_template("error.html", status=404, message="Nobody goes by that name here."), 404
    return render_template(
        "main/profile.html",
        user=user,
        page=page_of(posts.profile_posts(user)),
        completed=challenge.completed_rounds(user),
    )


@bp.get("/healthz")
def healthz():
    """Answer 200 when the database answers, 503 when it doesn't."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return {"status": "error", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}


