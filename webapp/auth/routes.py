"""Register, log in and log out with a local account."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.urls import iri_to_uri

from webapp import tasks
from webapp.auth import devices
from webapp.auth.forms import ForgotPasswordForm, LoginForm, RegisterForm, ResetPasswordForm
from webapp.extensions import db, limiter
from webapp.services import accounts, emails, password_reset
from webapp.web.limits import setting

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str:
    """Return a local path to go to after logging in, never another site."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        # Browsers drop tabs and newlines inside URLs ("/\t/evil" is "//evil") and a newline
        # can't go in a header at all, so no space or control character of any kind gets by.
        and not any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in target)
    ):
        parts = urlsplit(target)
        if not parts.netloc and not parts.scheme:
            return iri_to_uri(target)
    return url_for("main.index")


def login_limit() -> str:
    """Return the configured limit on failed logins from one address."""
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(setting("REGISTER_RATE_LIMIT"), methods=["POST"])
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
        target = safe_next(next_page) if next_page else url_for("posts.new")
        return devices.remember(redirect(target), user)
    status = 422 if form.errors else 200
    return render_template("auth/register.html", form=form), status


def failed(response) -> bool:
    """Count only wrong passwords: not logins, nor attempts another limit turned away unchecked.

    Were refused attempts counted, one address hammering away would use up the account's
    allowance that the others share.
    """
    return response.status_code == 401


def tried_username() -> str:
    """Return the username a login attempt names, as accounts are keyed."""
    return accounts.normalize_username(request.form.get("username", ""))[:30]


def username_key() -> str:
    """Key a limit by the username tried, so guessing from many addresses is slowed too."""
    return "login:" + tried_username()


def address_username_key() -> str:
    """Key a limit by the address and the username tried together."""
    return f"login:{get_remote_address()}:{tried_username()}"


def known_device() -> bool:
    """Tell whether this device has signed in to the account tried before."""
    return devices.knows(tried_username())


# Failed logins count per address, per address and account, and per account. The owner's own
# devices skip the last, so guessing from many addresses can't keep them out of their account.
@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"], deduct_when=failed)
@limiter.limit(
    setting("LOGIN_ADDRESS_ACCOUNT_RATE_LIMIT"),
    methods=["POST"],
    deduct_when=failed,
    key_func=address_username_key,
)
@limiter.limit(
    setting("LOGIN_ACCOUNT_RATE_LIMIT"),
    methods=["POST"],
    deduct_when=failed,
    key_func=username_key,
    exempt_when=known_device,
)
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
        return devices.remember(redirect(safe_next(request.args.get("next"))), user)
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    """Log out, here and everywhere: a copy of the cookies must not carry on after it."""
    current_user.end_sessions()
    db.session.commit()
    logout_user()
    flash("You're logged out, on this device and every other.", "info")
    return redirect(url_for("main.index"))


def reset_account_key() -> str:
    """Key a limit by the username or address a reset is asked for, found or not."""
    return "reset:" + request.form.get("name", "").strip().lstrip("@").lower()[:254]


# Asking for a link answers the same whether or not anything was sent, so it can't tell who
# has an account; limits count every request per address and per name asked about.
@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit(setting("RESET_RATE_LIMIT"), methods=["POST"], scope="forgot")
@limiter.limit(
    setting("RESET_ACCOUNT_RATE_LIMIT"),
    methods=["POST"],
    key_func=reset_account_key,
    scope="forgot-account",
)
def forgot_password():
    """Ask for a link to set a new password."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        messages = password_reset.request_links(form.name.data)
        db.session.commit()
        tasks.send_mail_soon(messages)
        return render_template("auth/forgot.html", form=form, sent=True)
    status = 422 if form.errors else 200
    return render_template("auth/forgot.html", form=form, sent=False), status


def dead_link(kind: str):
    """Answer a link that is forged, expired, used or replaced by a newer one."""
    return render_template("auth/dead_link.html", kind=kind), 400


@bp.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"], scope="reset")
def reset_password(token: str):
    """Set a new password from a reset link."""
    user = password_reset.account_for(token)
    if user is None:
        return dead_link("reset")
    form = ResetPasswordForm(user)
    if form.validate_on_submit():
        password_reset.reset(user, form.password.data)
        db.session.commit()
        logout_user()
        flash(
            "Your new password is set, and every device signed in to your account is signed "
            "out. Log in with it now.",
            "success",
        )
        return redirect(url_for("auth.login"))
    status = 422 if form.errors else 200
    response = make_response(render_template("auth/reset.html", form=form, user=user), status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    """Confirm a new email address from its link (a button, so no link preview confirms it)."""
    user = emails.confirm(token)
    if user is None:
        return dead_link("email")
    if request.method == "POST":
        emails.use(user)
        db.session.commit()
        flash(f"Your email address {user.email} is confirmed.", "success")
        where = "settings.index" if current_user.is_authenticated else "main.index"
        return redirect(url_for(where))
    return render_template("auth/confirm_email.html", address=user.new_email)
