"""The front page, the community wall, profiles, my posts, and the health check."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from webapp.extensions import db
from webapp.infra import fragments
from webapp.infra.fragments import CHALLENGES, POSTS, user_scope
from webapp.models import Post, User
from webapp.services import accounts, challenge, posts
from webapp.web import kept_pages, lookups
from webapp.web.caching import cacheable_page
from webapp.web.pagination import newest_posts_page

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    """Say what Praisewall is and show the latest praise."""
    latest = db.session.scalars(
        posts.wall_posts().order_by(Post.created_at.desc(), Post.id.desc()).limit(5)
    ).all()
    return cacheable_page(
        render_template("main/index.html", latest=latest, totals=challenge.community_totals())
    )


@bp.get("/wall")
@kept_pages.for_person("wall", lambda: (POSTS,))
def wall():
    """Show everyone's latest public praise."""
    body = fragments.cached(
        "wall-posts",
        (request.args.get("cursor", ""),),
        (POSTS,),
        lambda: render_template(
            "main/_wall_posts.html", page=newest_posts_page(posts.wall_posts())
        ),
    )
    return cacheable_page(render_template("main/wall.html", body=body))


@bp.get("/me")
@kept_pages.for_person("me", lambda: (CHALLENGES,))
@login_required
def me():
    """Show my posts, newest first, each with its state."""
    user = current_user._get_current_object()
    body = fragments.cached(
        "me",
        (user.id, request.args.get("cursor", "")),
        (user_scope(user.id), CHALLENGES),
        lambda: render_template(
            "main/_me_body.html",
            page=newest_posts_page(posts.my_posts(user)),
            progress=challenge.latest_progress(user),
        ),
    )
    return render_template("main/me.html", body=body)


def profile_scopes(username: str) -> tuple[str, ...] | None:
    """Name what a person's public page shows: their own posts and rounds."""
    found = lookups.user_id(username)
    return None if found is None else (user_scope(found),)


@bp.get("/u/<username>")
@kept_pages.for_person("profile", profile_scopes)
def profile(username: str):
    """Show a person's public posts and finished challenge rounds."""
    # Found by exactly this name: it is theirs, as stored. Only a part rendered afresh reads them.
    user_id = lookups.user_id_or_404(username)
    name = accounts.normalize_username(username)

    def render_body() -> str:
        """Render the person's public posts and rounds."""
        user = db.get_or_404(User, user_id)
        return render_template(
            "main/_profile_body.html",
            user=user,
            page=newest_posts_page(posts.profile_posts(user)),
            completed=challenge.completed_rounds(user),
        )

    body = fragments.cached(
        "profile", (user_id, request.args.get("cursor", "")), (user_scope(user_id),), render_body
    )
    return cacheable_page(render_template("main/profile.html", username=name, body=body))


@bp.get("/ping")
def ping():
    """Answer "ok" without touching the database or the session: the benchmarks' floor."""
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}


@bp.get("/healthz")
def healthz():
    """Answer 200 when the database answers, 503 when it doesn't."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return {"status": "error", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}
