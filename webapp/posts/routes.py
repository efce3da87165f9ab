"""Compose, read, edit and delete posts; resolve and reopen complaints."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy.orm as so
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from webapp import networks, tasks
from webapp.extensions import db
from webapp.infra import fragments
from webapp.infra.fragments import account_scope
from webapp.models import Business, Kind, Post, parse_id
from webapp.networks.bluesky import text as bluesky_text
from webapp.networks.mastodon import text as status_text
from webapp.networks.mastodon.signin import limits_for
from webapp.networks.mastodon.text import status_length
from webapp.posts.forms import PostForm, ResolveForm
from webapp.pwa.share import shared_story
from webapp.services import crosspost, posts, tone, wall_replies
from webapp.services.businesses import parse_bluesky_handle, parse_handle
from webapp.services.moderation import REPORT_REASONS
from webapp.web import kept_pages
from webapp.web.caching import cacheable_page
from webapp.web.limits import posting_limit, user_key

bp = Blueprint("posts", __name__)


# What a post's page shows of it, read with the post in one query: its business, the
# business's answer and the post's statuses on the networks (none to a few).
SHOWN_WITH_POST = (
    so.joinedload(Post.business),
    so.joinedload(Post.wall_reply),
    so.joinedload(Post.crossposts),
)


def get_post(post_id: int, check_author: bool = True) -> Post:
    """Fetch a post the current user may see.

    :param check_author: also require that the current user wrote it.
    :raise 404: if the post doesn't exist or the user may not see it.
    :raise 403: if check_author is set and the user isn't the author.
    """
    post = db.get_or_404(Post, post_id, options=SHOWN_WITH_POST)
    if not posts.can_view(post, current_user):
        abort(404)
    if check_author and post.author_id != current_user.id:
        abort(403)
    return post


def get_complaint(post_id: int) -> Post:
    """Fetch my own complaint; praise has no lifecycle, so it is a 400."""
    post = get_post(post_id)
    if post.kind != Kind.COMPLAINT:
        abort(400, description="Only complaints can be resolved or reopened.")
    return post


def prefill(form: PostForm) -> None:
    """Fill a fresh compose form from ?kind=, ?business= and ?fixes=."""
    if request.args.get("kind") in (Kind.PRAISE, Kind.COMPLAINT):
        form.kind.data = request.args["kind"]
    slug = request.args.get("business")
    if slug:
        business = db.session.scalar(db.select(Business).where(Business.slug == slug))
        if business is not None:
            form.business.data = business.name
            form.business_id.data = str(business.id)
    complaint = posts.fixable_complaint(current_user, request.args.get("fixes"))
    if complaint is not None:
        form.kind.data = Kind.PRAISE
        form.fixes.data = str(complaint.id)
        form.business.data = complaint.business.name
        form.business_id.data = str(complaint.business_id)


def saved_fields(post: Post) -> dict:
    """Return a post's fields as the compose form expects them."""
    return {
        "kind": post.kind,
        "business": post.business.name,
        "business_id": str(post.business_id),
        "body": post.body,
        "make_right": post.make_right or "",
        "rating": post.rating,
        "happened_on": post.happened_on,
        "channel": post.channel,
        "is_on_wall": post.is_on_wall,
        "shows_name": post.shows_name,
    }


def previewed_business(form: PostForm) -> tuple[Business | None, str]:
    """Return the business the form names (None for a new one) and its name."""
    business = form.chosen_business
    if business is None and form.business_id.data:
        wanted = parse_id(form.business_id.data)
        business = db.session.get(Business, wanted) if wanted else None
    name = business.name if business else (form.new_business_name.data or "the business")
    return business, name


def preview_link(editing: Post | None) -> str:
    """Return the link back a status would carry (a new post's has the same form)."""
    if editing is not None:
        return url_for("posts.show", post_id=editing.id, _external=True)
    return url_for("posts.new", _external=True)


def preview_kind(form: PostForm) -> str:
    """Return the kind the form says, praise until it says otherwise."""
    return form.kind.data if form.kind.data in (Kind.PRAISE, Kind.COMPLAINT) else Kind.PRAISE


def bluesky_preview(form: PostForm, editing: Post | None) -> dict:
    """Work out the post the form would send to Bluesky, for the preview beside it."""
    business, name = previewed_business(form)
    if business is not None:
        handle = business.bluesky_handle
    else:
        handle = parse_bluesky_handle(form.new_business_bluesky.data or "")
    link = preview_link(editing)
    status = crosspost.preview(
        {
            "body": form.body.data or "",
            "kind": preview_kind(form),
            "business_name": name,
            "handle": handle,
            "link": link,
        },
        current_user,
        "bluesky",
    )
    return {
        "bluesky_preview": status,
        "bluesky_link": link,
        "bluesky_shown_link": bluesky_text.shown_link(link),
        "bluesky_handle": handle,
        "bluesky_about": f"@{handle}" if handle else name,
        "bluesky_hashtags": bluesky_text.HASHTAGS,
    }


def compose_preview(form: PostForm, editing: Post | None) -> dict:
    """Work out the status the form would post, for the preview beside it."""
    business, name = previewed_business(form)
    handle = business.handle if business else parse_handle(form.new_business_handle.data or "")
    link = preview_link(editing)
    status = crosspost.preview(
        {
            "body": form.body.data or "",
            "kind": preview_kind(form),
            "business_name": name,
            "handle": handle,
            "link": link,
            "spoiler_text": form.spoiler_text.data or "",
        },
        current_user,
    )
    return {
        "preview": status,
        "preview_link": link,
        "preview_link_length": status_length(link, "", limits_for(current_user)[1]),
        "preview_about": handle or name,
        "hashtags": status_text.HASHTAGS,
        "preview_fits_unshortened": not status.shortened,
        "preview_handle": handle,
        "url_length": limits_for(current_user)[1],
    }


def kept_fields(form: PostForm, editing: Post | None) -> str | None:
    """Return a fresh, empty form's fields, the same for everyone and kept; None for any other."""
    if editing is not None or request.method != "GET" or request.args:
        return None
    return fragments.cached(
        "compose-fields",
        (form.happened_on.data.isoformat(), posts.latest_today().isoformat()),
        (),
        lambda: render_template("posts/_compose_fields.html", form=form, editing=None),
    )


def render_compose(form: PostForm, editing: Post | None):
    """Render the compose page with its status preview."""
    status = 422 if form.errors else 200
    context = compose_preview(form, editing) if current_user.mastodon_account else {}
    context["kept_fields"] = kept_fields(form, editing)
    if current_user.bluesky_account:
        context |= bluesky_preview(form, editing)
    context["bluesky_login"] = (
        url_for("bluesky.login", next=request.full_path)
        if "bluesky.login" in current_app.view_functions
        else None
    )
    return render_template("posts/new.html", form=form, editing=editing, **context), status


def remembered_switches(form: PostForm) -> None:
    """Start a fresh form with the networks the person chose last time."""
    form.to_mastodon.data = current_user.post_to_mastodon
    form.to_bluesky.data = current_user.post_to_bluesky


def flash_tone(kind: str, body: str) -> None:
    """Offer calmer wording for a heated complaint, without blocking it."""
    if kind == Kind.COMPLAINT:
        for suggestion in tone.tone_suggestions(body):
            flash(suggestion, "tone")


def fresh_form() -> tuple[str, ...] | None:
    """Name the scopes a fresh compose form shows besides the person's own row and accounts:
    none. A form sent, filled in from the address, or asked for without its body (HEAD, which
    leaves out what only a GET's form carries) is rendered as usual (None)."""
    return () if request.method == "GET" and not request.args else None


def compose_dates() -> tuple[str, str]:
    """Return the dates a fresh compose form shows: its default (today) and the latest allowed."""
    return datetime.now(UTC).date().isoformat(), posts.latest_today().isoformat()


@bp.route("/posts/new", methods=["GET", "POST"])
@kept_pages.for_person("compose", fresh_form, whose=account_scope, parts=compose_dates)
@login_required
@posting_limit(user_key)
def new():
    """Write praise or a complaint."""
    form = PostForm()
    if request.method == "GET":
        prefill(form)
        remembered_switches(form)
        if not form.body.data:
            form.body.data = shared_story(request.args) or None
        return render_compose(form, None)
    # Sent again from the phone's outbox: the first one got through, so go to that post.
    # Checked before the form: what was valid then may not be now (its new business exists).
    earlier = posts.earlier_submission(current_user, request.form.get("submission_key"))
    if earlier is not None:
        return posted(earlier.post.id)
    if form.validate_on_submit():
        key = form.submission_key.data
        draft = form.draft()
        try:
            published = posts.publish(current_user, draft, key)
            # Read before the commit, which would make the next read of them a query.
            post_id, sending = published.post.id, [started.id for started in published.crossposts]
            db.session.commit()
        except IntegrityError as error:
            published = posts.lost_race(current_user, key, error)
            post_id, sending = published.post.id, []
        if not published.is_new:
            return posted(post_id)
        for crosspost_id in sending:
            tasks.enqueue(tasks.deliver, crosspost_id)
        flash("Posted. Thank you for saying it in public.", "success")
        flash_tone(draft.kind, draft.body)
        return posted(post_id)
    return render_compose(form, None)


def posted(post_id: int):
    """Go to a just-made post: a redirect for a form, its address for the outbox's fetch."""
    target = url_for("posts.show", post_id=post_id)
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
        response = jsonify(url=target, id=post_id)
        response.headers["Cache-Control"] = "no-store"
        return response
    return redirect(target)


def render_post(post: Post, resolve_form: ResolveForm | None = None, status: int = 200):
    """Render a post's page with the forms its reader may use."""
    if resolve_form is None and post.is_unresolved:
        resolve_form = ResolveForm()
    return (
        render_template(
            "posts/show.html",
            post=post,
            resolve_form=resolve_form,
            follow_ups=posts.follow_ups(post) if post.kind == Kind.COMPLAINT else [],
            fixed_complaint=posts.fixed_complaint(post) if post.fixes_id else None,
            report_reasons=REPORT_REASONS,
            can_reply=wall_replies.may_answer(post.business, post)
            and wall_replies.can_reply(post.business, current_user),
        ),
        status,
    )


@bp.get("/posts/<int:post_id>")
def show(post_id: int):
    """Show one post; its page is the one people share, so caches may keep it."""
    post = get_post(post_id, check_author=False)
    html, _ = render_post(post)
    if wall_replies.mark_seen(post, current_user):
        db.session.commit()
    return cacheable_page(html)


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
@login_required
def edit(post_id: int):
    """Edit my own post."""
    post = get_post(post_id)
    form = PostForm(data=saved_fields(post)) if request.method == "GET" else PostForm()
    if request.method == "POST" and form.validate_on_submit():
        draft = form.draft()
        posts.update_post(post, draft)
        db.session.commit()
        flash("Saved.", "success")
        flash_tone(draft.kind, draft.body)
        return redirect(url_for("posts.show", post_id=post_id))
    return render_compose(form, post)


@bp.post("/posts/<int:post_id>/delete")
@login_required
def delete(post_id: int):
    """Delete my own post."""
    post = get_post(post_id)
    leftover = posts.delete_post(post)
    db.session.commit()
    for crosspost_left in leftover:
        tasks.enqueue(tasks.delete_status, crosspost_left.id)
    flash("Deleted.", "info")
    return redirect(url_for("main.me"))


@bp.post("/posts/<int:post_id>/crosspost/retry")
@login_required
def retry_crosspost(post_id: int):
    """Send my post's status on a network again, with the same idempotency key."""
    post = get_post(post_id)
    outgoing = post.crosspost_on(request.args.get("network", "mastodon"))
    if outgoing is None or outgoing.state not in crosspost.RETRYABLE:
        abort(409, description="There's nothing to send again for this post.")
    account = networks.get(outgoing.network).account_of(current_user)
    if account is None:
        abort(409, description=f"Connect your {outgoing.network_label} account first.")
    if outgoing.account is None:
        # Never sent, and the account it was meant for is gone: send it from the current one.
        outgoing.account = account
    crosspost.retry(outgoing)
    db.session.commit()
    tasks.enqueue(tasks.deliver, outgoing.id)
    flash(f"Sending to {outgoing.network_label} again.", "info")
    return redirect(url_for("posts.show", post_id=post.id))


@bp.post("/posts/<int:post_id>/resolve")
@login_required
def resolve(post_id: int):
    """Mark my complaint resolved."""
    post = get_complaint(post_id)
    form = ResolveForm()
    if not form.validate():
        return render_post(post, form, 422)
    posts.resolve_complaint(post, form.note.data)
    db.session.commit()
    flash("Marked resolved. Glad it got fixed!", "success")
    return redirect(url_for("posts.show", post_id=post.id))


@bp.post("/posts/<int:post_id>/reopen")
@login_required
def reopen(post_id: int):
    """Reopen my resolved complaint."""
    post = get_complaint(post_id)
    posts.reopen_complaint(post)
    db.session.commit()
    flash("Reopened.", "info")
    return redirect(url_for("posts.show", post_id=post.id))
