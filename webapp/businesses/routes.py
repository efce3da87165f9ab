"""A business's wall and finding a business."""

from __future__ import annotations

from flask import Blueprint, current_app, make_response, render_template, request
from flask_login import current_user

from webapp.extensions import db, limiter
from webapp.infra import fragments
from webapp.infra.fragments import Rendered, business_scope
from webapp.models import Business, Kind
from webapp.services import businesses, owners, posts, stats, trend
from webapp.web import kept_pages, lookups, security
from webapp.web.caching import cacheable, cacheable_page
from webapp.web.limits import setting
from webapp.web.lookups import business_or_404
from webapp.web.pagination import keyset_page, newest_posts_page, rated_posts_page

bp = Blueprint("businesses", __name__)
EMBED_PRAISE = 3  # praise snippets in the widget; more would crowd a sidebar


def wall_scopes(slug: str) -> tuple[str, ...] | None:
    """Name what a business's wall shows: its own posts, numbers and details."""
    found = lookups.business_id(slug)
    return None if found is None else (business_scope(found),)


@bp.get("/b/<slug>")
@kept_pages.for_person("business", wall_scopes)
def wall(slug: str):
    """Show a business's praise, complaints or unanswered praise, its numbers and trend."""
    business_id = lookups.business_id_or_404(slug)
    tab = request.args.get("tab")
    tab = tab if tab in ("complaints", "unanswered") else "praise"
    # Unanswered praise is a list to work through, not to rank: always newest first.
    sort = "rating" if request.args.get("sort") == "rating" and tab != "unanswered" else "newest"
    shown = (business_id, tab, sort, request.args.get("cursor", ""))
    scope = business_scope(business_id)
    if not current_user.is_authenticated:

        def render_for_visitors() -> str:
            """Render all of the wall inside the layout, as any visitor sees it."""
            business = business_or_404(slug)
            return render_parts(business, wall_body(business, tab, sort, owner=False))

        # The same for every visitor: all of the wall inside the layout is kept.
        parts = fragments.cached("wall", shown, (scope,), render_for_visitors)
        return cacheable_page(render_template("businesses/wall.html", **parts_by_name(parts)))
    # A signed-in person's claim button and an owner's buttons are theirs alone.
    business = business_or_404(slug)
    owner = owners.can_manage(business, current_user)
    if owner:
        # Who manages a wall is not the person's own scope: their page is made each time.
        kept_pages.not_for_keeping()
        body = wall_body(business, tab, sort, owner=True)
    else:
        body = fragments.cached(
            "wall-body", shown, (scope,), lambda: wall_body(business, tab, sort, owner=False)
        )
    parts = render_parts(business, str(body))
    return cacheable_page(render_template("businesses/wall.html", **parts_by_name(parts)))


# Cuts a wall's parts apart: what the page shows can't hold it, since Jinja escapes "<".
PART_CUT = "<!--cut-->"
PARTS = ("title", "description", "head", "claim", "body")


def render_parts(business: Business, body: str) -> str:
    """Join a wall's outer parts, rendered now, to its body, all cut apart."""
    return render_outer(business) + PART_CUT + body


def render_outer(business: Business) -> str:
    """Render a wall's name, description, head links and claim section, cut apart."""
    return render_template(
        "businesses/_wall_outer.html",
        business=business,
        numbers=stats.business_numbers(business, by_network=False),
    )


def parts_by_name(parts: str) -> dict[str, Rendered]:
    """Return a wall's rendered parts by name."""
    # As plain text: Markup would escape the cut before looking for it.
    pieces = (piece.strip() for piece in str(parts).split(PART_CUT))
    # Rendered by our templates, escaped by Jinja.
    return {name: Rendered(piece) for name, piece in zip(PARTS, pieces, strict=True)}  # nosec B704


def wall_body(business: Business, tab: str, sort: str, owner: bool) -> str:
    """Render a wall's numbers, trend, featured praise, tabs and a page of its posts."""
    if tab == "unanswered":
        stmt = posts.unanswered_praise(business, current_app.config["PER_PAGE"])
    else:
        kind = Kind.COMPLAINT if tab == "complaints" else Kind.PRAISE
        stmt = posts.business_wall_posts(business, kind)
    page = rated_posts_page(stmt) if sort == "rating" else newest_posts_page(stmt)
    return render_template(
        "businesses/_wall_body.html",
        business=business,
        tab=tab,
        sort=sort,
        numbers=stats.business_numbers(business),
        trend=trend.chart(trend.weekly_counts(business)),
        page=page,
        arcs=posts.arcs(page.items),
        featured=owners.featured_posts(business),
        can_feature=owner,
        is_owner=owner,
    )


@bp.get("/b/<slug>/embed")
def embed(slug: str):
    """A small widget of a business's praise and numbers, for its own website's iframe."""
    business = business_or_404(slug)
    theme = request.args.get("theme")
    response = make_response(
        render_template(
            "businesses/embed.html",
            business=business,
            numbers=stats.business_numbers(business),
            praise=posts.latest_praise(business, EMBED_PRAISE),
            theme=theme if theme in ("light", "dark") else "auto",
        )
    )
    return cacheable(security.allow_framing(response))


def browsing() -> bool:
    """Tell whether the A to Z list is asked for rather than a search."""
    return not request.args.get("q", "").strip()


@bp.get("/businesses")
@limiter.limit(setting("SEARCH_RATE_LIMIT"), exempt_when=browsing)
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
    return cacheable_page(render_template("businesses/index.html", q=q, results=results, page=page))
