"""Claim a business's wall, edit its details and feature praise on it."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from webapp import audit
from webapp.extensions import db, limiter
from webapp.models import Business, Post
from webapp.owners.forms import DetailsForm, ManagerForm, ReplyForm
from webapp.services import owners, site_proof, wall_replies
from webapp.web.limits import setting, user_key, went_through
from webapp.web.lookups import business_or_404

bp = Blueprint("owners", __name__)

# Each claim fetches from the business's server or website: a few a minute per person, both
# ways counted together.
claim_limit = limiter.shared_limit(setting("CLAIM_RATE_LIMIT"), scope="claim", key_func=user_key)
# Replies on the wall count per person as posts do, apart from them.
reply_limit = limiter.shared_limit(
    setting("POST_RATE_LIMIT"),
    scope="wall-reply",
    key_func=user_key,
    methods=["POST"],
    deduct_when=went_through,
)


def owned_business_or_403(slug: str) -> Business:
    """Return the business at this slug when the current user is its verified owner.

    :raise 404: if there is no such business.
    :raise 403: if the current user hasn't claimed it.
    """
    business = business_or_404(slug)
    if not owners.is_owner(business, current_user):
        abort(403, description="Only the business's verified owner can do that.")
    return business


def managed_business_or_403(slug: str) -> Business:
    """Return the business at this slug when the current user is its owner or a manager.

    :raise 404: if there is no such business.
    :raise 403: if the current user doesn't manage it.
    """
    business = business_or_404(slug)
    if not owners.can_manage(business, current_user):
        abort(403, description="Only the business's verified owner and managers can do that.")
    return business


def render_manage(
    business: Business,
    form: DetailsForm | None = None,
    status: int = 200,
    manager_form: ManagerForm | None = None,
):
    """Render the manage page: details form, featured posts, and the owner's own tools."""
    form = form or DetailsForm(
        website=business.website,
        description=business.description,
        bluesky_handle=f"@{business.bluesky_handle}" if business.bluesky_handle else "",
    )
    featured = owners.featured_posts(business)
    return (
        render_template(
            "owners/manage.html",
            business=business,
            form=form,
            featured=featured,
            limit=owners.FEATURE_LIMIT,
            is_owner=owners.is_owner(business, current_user),
            managers=owners.managers(business),
            manager_form=manager_form or ManagerForm(),
            manager_limit=owners.MANAGER_LIMIT,
        ),
        status,
    )


@bp.post("/b/<slug>/claim")
@login_required
@claim_limit
def claim(slug: str):
    """Claim the wall as the business, or re-check its verified website."""
    business = business_or_404(slug)
    first_time = business.owner_id is None
    try:
        owners.claim(business, current_user._get_current_object())
    except owners.Refused as refused:
        db.session.commit()  # keeps a "needs re-login" mark on the account
        abort(403, description=str(refused))
    db.session.commit()
    if first_time:
        flash(f"{business.name} is now verified: you are its owner here.", "success")
    else:
        flash("Checked your Mastodon profile again.", "success")
    return redirect(url_for("businesses.wall", slug=business.slug))


@bp.post("/b/<slug>/claim/bluesky")
@login_required
@claim_limit
def claim_on_bluesky(slug: str):
    """Claim the wall as the business's Bluesky account, or prove it again."""
    business = business_or_404(slug)
    first_time = business.owner_id is None
    try:
        owners.claim(business, current_user._get_current_object(), owners.BLUESKY)
    except owners.Refused as refused:
        db.session.commit()  # keeps a "needs re-login" mark on the account
        abort(403, description=str(refused))
    db.session.commit()
    if first_time:
        flash(f"{business.name} is now verified: you are its owner here.", "success")
    else:
        flash("Checked your Bluesky account again.", "success")
    return redirect(url_for("businesses.wall", slug=business.slug))


@bp.get("/b/<slug>/claim")
@login_required
def claim_page(slug: str):
    """Show the ways to prove the wall is yours, with your code for the website."""
    business = business_or_404(slug)
    user = current_user._get_current_object()
    return render_template(
        "owners/claim.html",
        business=business,
        by_mastodon=owners.can_claim(business, user),
        by_bluesky=owners.can_claim_on_bluesky(business, user),
        by_website=owners.can_claim_by_website(business, user),
        token=site_proof.token(business, user) if business.website else None,
        origin=site_proof.site_origin(business),
        well_known=site_proof.WELL_KNOWN,
        meta_name=site_proof.META_NAME,
    )


@bp.post("/b/<slug>/claim/website")
@login_required
@claim_limit
def claim_by_website(slug: str):
    """Claim the wall, or prove it again, with the code published on its website."""
    business = business_or_404(slug)
    first_time = business.owner_id is None
    try:
        owners.claim(business, current_user._get_current_object(), owners.WEBSITE)
    except owners.Refused as refused:
        db.session.rollback()
        abort(403, description=str(refused))
    db.session.commit()
    if first_time:
        flash(f"{business.name} is now verified by its website: you are its owner here.", "success")
    else:
        flash(f"Found your code on {business.domain} again.", "success")
    return redirect(url_for("businesses.wall", slug=business.slug))


@bp.get("/b/<slug>/manage")
@login_required
def manage(slug: str):
    """Show the manage page, to the owner and their managers."""
    return render_manage(managed_business_or_403(slug))


@bp.post("/b/<slug>/manage")
@login_required
def update(slug: str):
    """Save the business's website and description."""
    business = managed_business_or_403(slug)
    form = DetailsForm()
    if not form.validate():
        return render_manage(business, form, 422)
    try:
        # A field left out of the request altogether comes back as None, not "".
        owners.update_details(business, form.website.data or "", form.description.data or "")
    except owners.Refused as refused:
        form.website.errors = [str(refused)]
        return render_manage(business, form, 422)
    if owners.is_owner(business, current_user) and form.bluesky_handle.data is not None:
        try:
            owners.update_bluesky_handle(business, form.bluesky_handle.data)
        except owners.Refused as refused:
            form.bluesky_handle.errors = [str(refused)]
            return render_manage(business, form, 422)
    audit.record(
        current_user,
        "business.edit",
        business,
        website=business.website,
        bluesky_handle=business.bluesky_handle,
    )
    db.session.commit()
    flash("Saved.", "success")
    return redirect(url_for("businesses.wall", slug=business.slug))


@bp.post("/b/<slug>/release")
@login_required
def release(slug: str):
    """Give up the claim on the wall."""
    business = owned_business_or_403(slug)
    audit.record(current_user, "business.release", business, proof=business.claim_proof)
    owners.release(business)
    db.session.commit()
    flash(f"You no longer manage {business.name} here.", "info")
    return redirect(url_for("businesses.wall", slug=business.slug))


@bp.post("/b/<slug>/featured/<int:post_id>")
@login_required
def feature(slug: str, post_id: int):
    """Feature a praise post at the top of the wall."""
    business = managed_business_or_403(slug)
    post = db.get_or_404(Post, post_id)
    try:
        owners.feature(business, post)
    except owners.Refused as refused:
        flash(str(refused), "error")
        return render_manage(business, status=409)
    audit.record(current_user, "business.feature", business, post=post.id)
    db.session.commit()
    flash("Featured at the top of your wall.", "success")
    return redirect(url_for("businesses.wall", slug=business.slug))


@bp.post("/b/<slug>/featured/<int:post_id>/remove")
@login_required
def unfeature(slug: str, post_id: int):
    """Stop featuring a post; it stays on the wall where it was."""
    business = managed_business_or_403(slug)
    post = db.get_or_404(Post, post_id)
    owners.unfeature(business, post)
    audit.record(current_user, "business.unfeature", business, post=post.id)
    db.session.commit()
    flash("No longer featured.", "info")
    return redirect(url_for("owners.manage", slug=business.slug))


@bp.post("/b/<slug>/managers")
@login_required
def add_manager(slug: str):
    """Let someone manage the wall with the owner."""
    business = owned_business_or_403(slug)
    form = ManagerForm()
    if not form.validate():
        return render_manage(business, status=422, manager_form=form)
    try:
        user = owners.add_manager(business, current_user._get_current_object(), form.username.data)
    except owners.Refused as refused:
        form.username.errors = [str(refused)]
        return render_manage(business, status=422, manager_form=form)
    db.session.commit()
    flash(f"{user.username} can now manage this page.", "success")
    return redirect(url_for("owners.manage", slug=business.slug))


@bp.post("/b/<slug>/managers/<int:user_id>/remove")
@login_required
def remove_manager(slug: str, user_id: int):
    """Stop letting someone manage the wall."""
    business = owned_business_or_403(slug)
    user = owners.remove_manager(business, current_user._get_current_object(), user_id)
    if user is None:
        abort(404, description="That person doesn't manage this page.")
    db.session.commit()
    flash(f"{user.username} no longer manages this page.", "info")
    return redirect(url_for("owners.manage", slug=business.slug))


def answerable_post_or_404(business: Business, post_id: int) -> Post:
    """Return the public post on this wall with this id.

    :raise 404: if the wall shows no such post.
    """
    post = db.session.get(Post, post_id)
    if post is None or not wall_replies.may_answer(business, post):
        abort(404, description="There is no such post on this wall.")
    return post


def render_reply(business: Business, post: Post, form: ReplyForm | None = None, status: int = 200):
    """Render the page where the business writes, edits or deletes its reply to a post."""
    reply = post.wall_reply
    form = form or ReplyForm(body=reply.body if reply else None)
    return (
        render_template("owners/reply.html", business=business, post=post, reply=reply, form=form),
        status,
    )


@bp.get("/b/<slug>/posts/<int:post_id>/reply")
@login_required
def reply_page(slug: str, post_id: int):
    """Show the form for the business's reply under a post on its wall."""
    business = managed_business_or_403(slug)
    return render_reply(business, answerable_post_or_404(business, post_id))


@bp.post("/b/<slug>/posts/<int:post_id>/reply")
@login_required
@reply_limit
def reply(slug: str, post_id: int):
    """Publish the business's reply under a post, or save the edited one."""
    business = managed_business_or_403(slug)
    post = answerable_post_or_404(business, post_id)
    form = ReplyForm()
    if not form.validate():
        return render_reply(business, post, form, 422)
    first_time = post.wall_reply is None
    try:
        answer = wall_replies.publish(
            business, post, current_user._get_current_object(), form.body.data or ""
        )
    except wall_replies.Refused as refused:
        form.body.errors = [str(refused)]
        return render_reply(business, post, form, 422)
    db.session.flush()
    action = "business.reply" if first_time else "business.reply_edit"
    audit.record(current_user, action, business, post=post.id, reply=answer.id)
    db.session.commit()
    flash("Your reply is under the post." if first_time else "Reply saved.", "success")
    return redirect(url_for("posts.show", post_id=post.id))


@bp.post("/b/<slug>/posts/<int:post_id>/reply/delete")
@login_required
@reply_limit
def delete_reply(slug: str, post_id: int):
    """Take the business's reply off a post."""
    business = managed_business_or_403(slug)
    post = answerable_post_or_404(business, post_id)
    gone = wall_replies.delete(post)
    if gone is None:
        abort(404, description="This post has no reply from you.")
    audit.record(current_user, "business.reply_delete", business, post=post.id, reply=gone.id)
    db.session.commit()
    flash("Your reply is deleted.", "info")
    return redirect(url_for("posts.show", post_id=post.id))


@bp.app_template_global("can_reply_as_business")
def can_reply_as_business(business: Business) -> bool:
    """Tell the wall and the post's page whether to offer the current person to reply."""
    return wall_replies.can_reply(business, current_user)


@bp.app_template_global("can_claim_business")
def can_claim_business(business: Business) -> bool:
    """Tell the wall whether to offer the current person the claim button."""
    return owners.can_claim(business, current_user) and business.owner_id is None


@bp.app_template_global("can_claim_on_bluesky")
def can_claim_on_bluesky(business: Business) -> bool:
    """Tell the wall whether to offer the current person the claim button for Bluesky."""
    return owners.can_claim_on_bluesky(business, current_user) and business.owner_id is None


@bp.app_template_global("can_claim_by_website")
def can_claim_by_website(business: Business) -> bool:
    """Tell the wall whether to offer the current person proving it by its website."""
    return owners.can_claim_by_website(business, current_user) and business.owner_id is None
