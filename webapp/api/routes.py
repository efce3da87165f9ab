"""The JSON API (v1): businesses, walls, posts and challenges; posting with a personal token."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, request, url_for
from sqlalchemy.exc import IntegrityError

from webapp import tasks
from webapp.api import compose, openapi, serialize
from webapp.api.auth import read_limit, token_owner_key, token_user, write_limit
from webapp.extensions import csrf, db, limiter
from webapp.models import Kind, Post
from webapp.services import businesses, challenge, posts, stats, submissions
from webapp.web.errors import problem
from webapp.web.limits import posting_limit
from webapp.web.lookups import business_or_404, user_or_404
from webapp.web.pagination import Page, keyset_page

bp = Blueprint("api", __name__)

# Every call counts against the caller's address; all API reads share one allowance.
per_address = limiter.shared_limit(read_limit, scope="api")
per_person = limiter.limit(write_limit, key_func=token_owner_key)


@bp.after_request
def private_when_authorized(response):
    """Keep responses that answer a token out of shared caches."""
    if "Authorization" in request.headers:
        response.headers["Cache-Control"] = "no-store"
    response.vary.add("Authorization")
    return response


def limit_arg(default: int) -> int:
    """Read ?limit=, clamped to what a page may hold; nonsense means the default."""
    maximum = current_app.config["API_MAX_PAGE"]
    try:
        return min(max(int(request.args.get("limit", default)), 1), maximum)
    except ValueError:
        return min(default, maximum)


def newest_page(stmt) -> tuple[Page, int]:
    """Return the page of posts, newest first, that follows ?cursor=, and its size."""
    per_page = limit_arg(current_app.config["PER_PAGE"])
    cursor = request.args.get("cursor")
    return keyset_page(stmt, Post.created_at, Post.id, cursor, per_page), per_page


@bp.get("/openapi.json")
@per_address
def openapi_document():
    """Describe this API as an OpenAPI 3.1 document."""
    return openapi.document(url_for("api.openapi_document", _external=True))


@bp.get("/businesses")
@per_address
def search_businesses():
    """Find businesses for the type-ahead: prefix and word matches, best first."""
    q = request.args.get("q", "")[:120]
    limit = limit_arg(businesses.SEARCH_LIMIT)
    found = businesses.search(q, min(limit, 25))
    return {"query": q, "results": [serialize.business_summary(b) for b in found]}


@bp.get("/businesses/<slug>")
@per_address
def business(slug: str):
    """Describe a business and its numbers."""
    found = business_or_404(slug)
    return serialize.business_detail(found, stats.business_numbers(found))


@bp.get("/businesses/<slug>/posts")
@per_address
def business_posts(slug: str):
    """List a business's public praise (or complaints), newest first."""
    found = business_or_404(slug)
    kind = request.args.get("kind", Kind.PRAISE)
    if kind not in (Kind.PRAISE, Kind.COMPLAINT):
        abort(400, description="kind is either praise or complaint.")
    page, per_page = newest_page(posts.business_posts(found, kind))
    return serialize.page_json(
        page, "api.business_posts", slug=found.slug, kind=kind, limit=per_page
    )


@bp.get("/wall")
@per_address
def wall():
    """List everyone's public praise, newest first."""
    page, per_page = newest_page(posts.wall_posts())
    return serialize.page_json(page, "api.wall", limit=per_page)


@bp.get("/posts/<int:post_id>")
@per_address
def post(post_id: int):
    """Show one post: anyone sees a public one; its author, with a token, a private one too."""
    found = db.session.get(Post, post_id)
    user = token_user(required=False)
    if found is None or not posts.can_view(found, user):
        abort(404, description="There's no post with that number, or it isn't public.")
    if user is not None and found.author_id == user.id:
        return serialize.own_post_json(found)
    return serialize.post_json(found)


@bp.get("/users/<username>/challenge")
@per_address
def user_challenge(username: str):
    """Show what a person's profile shows of their three-praise challenge."""
    user = user_or_404(username)
    return serialize.challenge_json(user, challenge.completed_rounds(user))


@bp.post("/posts")
@csrf.exempt
@per_address
@per_person
@posting_limit(token_owner_key)
def create_post():
    """Write a post as the token's owner: the compose form's rules, and its crosspost."""
    # Only the bearer token counts: a cookie alone could be sent by any site the person visits.
    user = token_user()
    if not request.is_json:
        abort(415, description="Send the post as JSON, with Content-Type: application/json.")
    payload = request.get_json(silent=True)
    if payload is None:
        abort(
            400,
            description="We couldn't read that body as JSON. Check its syntax; "
            "a post is one object of plain fields, nested no deeper.",
        )
    if not isinstance(payload, dict):
        abort(400, description="Send the post as one JSON object.")
    key = request.headers.get("Idempotency-Key")
    if key is not None and not submissions.valid_key(key):
        message = "Idempotency-Key is 1 to 64 letters, digits or dashes."
        abort(problem(422, message, errors={"Idempotency-Key": [message]}))
    if (earlier := posts.earlier_submission(user, key)) is not None:
        return posted(earlier.post, 200)
    result = compose.read_payload(payload)
    if result.errors:
        abort(problem(422, "Some fields need another look.", errors=result.errors))
    try:
        published = posts.publish(user, result.form.draft(), key)
        db.session.commit()
    except IntegrityError as error:
        published = posts.lost_race(user, key, error)
    for crosspost in published.crossposts:
        tasks.enqueue(tasks.deliver, crosspost.id)
    return posted(published.post, 201 if published.is_new else 200)


def posted(post: Post, status: int):
    """Answer with the post made for this request, and where it lives."""
    location = url_for("api.post", post_id=post.id, _external=True)
    return serialize.own_post_json(post), status, {"Location": location}
