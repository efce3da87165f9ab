"""Register, log in and log out with a local account."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from webapp.auth.forms import LoginForm, RegisterForm
from webapp.extensions import db, limiter
from webapp.services import accounts

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str:
    """Return a local path to go to after logging in, never another site."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.netloc and not parts.scheme and "\\" not in target:
            return target
    return url_for("main.index")


def login_limit() -> str:
    """Return the configured limit on failed logins."""
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Create a local account and log in."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        user = accounts.create_user(form.username.data, form.password.data)
        db.session.commit()
        login_user(user)
        flash(f"Welcome, {user.username}! Log your first win.", "success")
        next_page = request.args.get("next")
        return redirect(safe_next(next_page) if next_page else url_for("posts.new"))
    status = 422 if form.errors else 200
    return render_template("auth/register.html", form=form), status


def failed(response) -> bool:
    """Count only failed logins against the limits."""
    return response.status_code != 302


def username_key() -> str:
    """Key the second limit by the username tried, so guessing from many addresses is slowed too."""
    return "login:" + accounts.normalize_username(request.form.get("username", ""))[:30]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"], deduct_when=failed)
@limiter.limit(login_limit, methods=["POST"], deduct_when=failed, key_func=username_key)
def login():
    """Log in with a username and password."""
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.find_user(form.username.data)
        if user is None or not user.check_password(form.password.data):
            form.password.errors.append("That username and password don't match.")
            return render_template("auth/login.html", form=form), 401
        login_user(user, remember=form.remember.data)
        return redirect(safe_next(request.args.get("next")))
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    """Log out."""
    logout_user()
    flash("You're logged out.", "info")
    return redirect(url_for("main.index"))
