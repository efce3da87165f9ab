"""The three-praise challenge page."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from webapp.extensions import db
from webapp.services import challenge

bp = Blueprint("challenge", __name__)


@bp.get("/challenge")
def show():
    """Show my round's progress, the posts that counted, and the community's totals."""
    progress = None
    if current_user.is_authenticated:
        round_ = challenge.current_round(current_user)
        progress = challenge.progress(round_) if round_ else None
    return render_template(
        "challenge/show.html", progress=progress, totals=challenge.community_totals()
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
