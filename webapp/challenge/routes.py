"""The three-praise challenge page."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from webapp.extensions import db
from webapp.infra import fragments
from webapp.infra.fragments import CHALLENGES, user_scope
from webapp.models import User
from webapp.services import challenge
from webapp.web import kept_pages

bp = Blueprint("challenge", __name__)


@bp.get("/challenge")
@kept_pages.for_person("challenge", lambda: (CHALLENGES,))
def show():
    """Show my round's progress, the posts that counted, and the community's totals."""
    user = current_user._get_current_object() if current_user.is_authenticated else None
    scopes = (CHALLENGES, user_scope(user.id)) if user is not None else (CHALLENGES,)
    body = fragments.cached(
        "challenge", (user.id if user is not None else 0,), scopes, lambda: render_body(user)
    )
    return render_template("challenge/show.html", body=body)


def render_body(user: User | None) -> str:
    """Render the challenge page's content for a person, or for a visitor."""
    progress = share_url = draft = account = None
    if user is not None:
        progress = challenge.latest_progress(user)
        # Read whatever the round's state, so the page costs the same queries in each.
        account = user.mastodon_account
    if progress is not None and progress.is_complete:
        draft = challenge.i_did_it(progress, url_for("challenge.show", _external=True))
        if account is not None:
            share_url = f"{account.server.base_url}/share?{urlencode({'text': draft})}"
    return render_template(
        "challenge/_body.html",
        progress=progress,
        totals=challenge.community_totals(),
        draft=draft,
        share_url=share_url,
    )


@bp.post("/challenge/start")
@login_required
def start():
    """Take the challenge: start a round now (or a new one after finishing)."""
    latest = challenge.current_round(current_user)
    if latest is not None and latest.completed_at is None:
        flash("Your round is already under way.", "info")
        return redirect(url_for("challenge.show"))
    challenge.start_round(current_user)
    db.session.commit()
    flash("You're in! The next three times a company impresses you, say so here.", "success")
    return redirect(url_for("challenge.show"))
