"""A business's wall and finding a business."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from webapp.caching import cacheable_page
from webapp.extensions import db
from webapp.lookups import business_or_404
from webapp.models import Business, Kind
from webapp.pagination import keyset_page, newest_posts_page
from webapp.services import businesses, posts, stats

bp = Blueprint("businesses", __name__)


@bp.get("/b/<slug>")
def wall(slug: str):
    """Show a business's praise (or complaints) and its numbers."""
    business = business_or_404(slug)
    tab = Kind.COMPLAINT if request.args.get("tab") == "complaints" else Kind.PRAISE
    return cacheable_page(
        render_template(
            "businesses/wall.html",
            business=business,
            tab=tab,
            numbers=stats.business_numbers(business),
            page=newest_posts_page(posts.business_posts(business, tab)),
        )
    )


@bp.get("/businesses")
def index():
    """Find a business by name, or browse them all A to Z."""
    q = request.args.get("q", "").strip()[:120]
    per_page = current_app.config["PER_PAGE"]
    if q:
        stmt = businesses.search_query(q)
        results = db.session.scalars(stmt.limit(per_page)).all() if stmt is not None else []
        page = None
    else:
        page = keyset_page(
            db.select(Business),
            Business.normalized_name,
            Business.id,
            request.args.get("cursor"),
            per_page,
            descending=False,
            key_type=str,
        )
        results = page.items
    return render_template("businesses/index.html", q=q, results=results, page=page)
