"""Sign in with Mastodon, or connect and disconnect a Mastodon account."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user

from webapp.auth.forms import MastodonLoginForm
from webapp.auth.routes import safe_next
from webapp.extensions import db, limiter
from webapp.infra.http import ServerProblem
from webapp.networks.mastodon import signin as connect
from webapp.services import passkeys
from webapp.web.security import content_security_policy

bp = Blueprint("mastodon", __name__)
PENDING = "mastodon_sign_in"


def callback_url() -> str:
    """Return where servers send people back to."""
    return url_for("mastodon.callback", _external=True)


def website() -> str:
    """Return our address, as we tell servers when registering."""
    return url_for("main.index", _external=True)


def send_to_server(sign_in: connect.SignIn, next_page: str | None):
    """Remember the sign-in's state and send the person to their server."""
    session[PENDING] = {**sign_in.pending, "next": next_page}
    return redirect(sign_in.url)


@bp.route("/login/mastodon", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login():
    """Ask for a Mastodon server, then send the person there to sign in (or connect)."""
    form = MastodonLoginForm()
    if form.validate_on_submit():
        try:
            sign_in = connect.begin(
                form.handle.data,
                callback_url(),
                website(),
                allow_insecure=current_app.config["MASTODON_ALLOW_INSECURE"],
            )
        except ServerProblem as problem:
            form.handle.errors.append(str(problem))
        else:
            db.session.commit()
            return send_to_server(sign_in, request.args.get("next"))
    status = 422 if form.errors else 200
    response = make_response(render_template("auth/mastodon.html", form=form), status)
    # Browsers hold the redirect after this form to form-action too, and it goes to the
    # person's own server, wherever that is.
    schemes = "https: http:" if current_app.config["MASTODON_ALLOW_INSECURE"] else "https:"
    response.headers["Content-Security-Policy"] = content_security_policy(f"'self' {schemes}")
    return response


@bp.get("/auth/mastodon/callback")
def callback():
    """Finish signing in: check state, trade the code for a token, and sign in or connect."""
    pending = session.pop(PENDING, None)
    if not pending or request.args.get("state") != pending.get("state"):
        flash("That sign-in link didn't match the one we started. Please try again.", "error")
        return redirect(url_for("mastodon.login")), 303
    if "error" in request.args or not request.args.get("code"):
        flash("Sign-in was cancelled on your server.", "info")
        return redirect(url_for("mastodon.login"))
    try:
        server, me = connect.finish(pending, request.args["code"], callback_url(), website())
    except connect.Restart as restart:
        db.session.commit()
        return send_to_server(restart.sign_in, pending.get("next"))
    except ServerProblem as problem:
        flash(str(problem), "error")
        return redirect(url_for("mastodon.login"))
    if me.get("unconfirmed"):
        flash(unconfirmed_note(me), "info")
    if current_user.is_authenticated:
        existing = connect.account_for(server, me["id"])
        # An account left behind by a deleted user (still deleting its statuses) is free.
        if existing is not None and existing.user_id not in (None, current_user.id):
            flash("That Mastodon account is connected to another Praisewall account.", "error")
            return redirect(url_for("settings.index"))
        account = connect.connect(current_user, server, me)
        db.session.commit()
        flash(f"Connected to @{account.acct}. Your posts can go to Mastodon now.", "success")
        return redirect(
            safe_next(pending.get("next")) if pending.get("next") else url_for("settings.index")
        )
    user = connect.sign_in_user(server, me)
    db.session.commit()
    login_user(user, remember=True)
    flash(f"Signed in as @{user.mastodon_account.acct}.", "success")
    return redirect(safe_next(pending.get("next")))


def unconfirmed_note(me: dict) -> str:
    """Explain why the person isn't named by the handle their server gave."""
    claimed = me["unconfirmed"]
    return (
        f"Your server calls you @{claimed}, but {claimed.split('@', 1)[1]} doesn't confirm it, "
        f"so on Praisewall you are @{me['acct']}."
    )


@bp.post("/settings/mastodon/disconnect")
@login_required
def disconnect():
    """Disconnect my Mastodon account and revoke our access at my server."""
    if not passkeys.other_way_in_than_mastodon(current_user):
        flash("Set a password first, or add a passkey: else you'd have no way to log in.", "error")
        return redirect(url_for("settings.index"))
    revoked = connect.disconnect(current_user)
    db.session.commit()
    if revoked:
        flash("Disconnected. Praisewall can no longer post for you.", "info")
    else:
        flash(
            "Disconnected here, but your server didn't confirm. "
            "You can also remove Praisewall in your Mastodon settings.",
            "info",
        )
    return redirect(url_for("settings.index"))
