"""Sign in with Bluesky, or connect and disconnect a Bluesky account (OAuth or app password)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user

from webapp.auth.forms import BlueskyAppPasswordForm, BlueskyLoginForm
from webapp.auth.routes import safe_next
from webapp.extensions import db, limiter
from webapp.infra.http import ServerProblem
from webapp.networks.bluesky import oauth
from webapp.networks.bluesky import signin as connect
from webapp.services import passkeys
from webapp.web.security import content_security_policy

bp = Blueprint("bluesky", __name__)
PENDING = "bluesky_sign_in"


def is_loopback(host: str) -> bool:
    """Tell whether a host name is this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def site_url() -> str:
    """Return the site's address as Bluesky servers know it: SITE_URL, else this request's."""
    return (current_app.config.get("SITE_URL") or request.url_root).rstrip("/")


def client() -> tuple[str, str]:
    """Return our (client id, redirect URI) for this request.

    In development on a loopback address, the protocol's loopback client (no document to
    serve); otherwise the https address of our client-metadata document.

    :raise ServerProblem: if the site has no https address to give.
    """
    here = urlsplit(request.host_url)
    if current_app.config["MASTODON_ALLOW_INSECURE"] and is_loopback(here.hostname or ""):
        port = here.port or 80
        # The protocol wants the loopback redirect written with the IP, not "localhost".
        redirect_uri = f"http://127.0.0.1:{port}{oauth.CALLBACK_PATH}"
        return oauth.loopback_client_id(redirect_uri), redirect_uri
    metadata = oauth.client_metadata(site_url())
    if not metadata["client_id"].startswith("https://"):
        raise ServerProblem(
            "Bluesky sign-in needs this site's https address (WEBAPP_SITE_URL). "
            "Tell the site's administrator."
        )
    return metadata["client_id"], metadata["redirect_uris"][0]


def with_policy(response):
    """Let the form's redirect go to the person's own server, wherever that is."""
    schemes = "https: http:" if current_app.config["MASTODON_ALLOW_INSECURE"] else "https:"
    response.headers["Content-Security-Policy"] = content_security_policy(f"'self' {schemes}")
    return response


@bp.get("/bluesky/client-metadata.json")
def client_metadata():
    """Serve our OAuth client's metadata, the document our client id names."""
    response = jsonify(oauth.client_metadata(site_url()))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.route("/login/bluesky", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login():
    """Ask for a Bluesky handle or server, then send the person there to sign in (or connect)."""
    form = BlueskyLoginForm()
    if form.validate_on_submit():
        try:
            problem = connect.entry_problem(form.handle.data)
            if problem:
                raise ServerProblem(problem)
            client_id, redirect_uri = client()
            sign_in = connect.begin(form.handle.data, redirect_uri, client_id)
        except ServerProblem as problem:
            form.handle.errors.append(str(problem))
        else:
            session[PENDING] = {**sign_in.pending, "next": request.args.get("next")}
            return redirect(sign_in.url)
    status = 422 if form.errors else 200
    page = render_template("auth/bluesky.html", form=form, password_form=None)
    return with_policy(make_response(page, status))


@bp.get("/auth/bluesky/callback")
def callback():
    """Finish signing in: check the answer is ours and who signed in, then sign in or connect."""
    pending = session.pop(PENDING, None)
    if "error" in request.args or not request.args.get("code"):
        if pending is None:
            flash("That sign-in link didn't match the one we started. Please try again.", "error")
            return redirect(url_for("bluesky.login")), 303
        flash("Sign-in was cancelled on your Bluesky server.", "info")
        return redirect(url_for("bluesky.login"))
    try:
        connected = connect.finish(
            pending,
            request.args.get("state", ""),
            request.args.get("iss", ""),
            request.args["code"],
        )
    except ServerProblem as problem:
        flash(str(problem), "error")
        return redirect(url_for("bluesky.login")), 303
    next_page = (pending or {}).get("next")
    if current_user.is_authenticated:
        existing = connect.account_for(connected.who.did)
        if existing is not None and existing.user_id not in (None, current_user.id):
            flash("That Bluesky account is connected to another Praisewall account.", "error")
            return redirect(url_for("settings.index"))
        try:
            account = connect.connect_oauth(current_user, connected)
        except ValueError:  # connected to another person's account meanwhile
            db.session.rollback()
            flash("That Bluesky account is connected to another Praisewall account.", "error")
            return redirect(url_for("settings.index")), 303
        db.session.commit()
        flash(f"Connected to @{account.handle}. Your posts can go to Bluesky now.", "success")
        return redirect(safe_next(next_page) if next_page else url_for("settings.index"))
    try:
        user = connect.sign_in_user(connected)
    except ValueError:  # connected to another person's account meanwhile
        db.session.rollback()
        flash("That Bluesky account is connected to another Praisewall account.", "error")
        return redirect(url_for("bluesky.login")), 303
    db.session.commit()
    login_user(user, remember=True)
    flash(f"Signed in as @{connected.who.handle}.", "success")
    return redirect(safe_next(next_page))


@bp.route("/settings/bluesky/app-password", methods=["GET", "POST"])
@login_required
@limiter.limit("10 per minute", methods=["POST"])
def app_password():
    """Connect a Bluesky account with an app password, for servers that can't do OAuth."""
    form = BlueskyAppPasswordForm()
    if form.validate_on_submit():
        try:
            account = connect.connect_app_password(
                current_user, form.handle.data, form.app_password.data
            )
        except ServerProblem as problem:
            form.app_password.errors.append(str(problem))
        except ValueError:
            form.handle.errors.append(
                "That Bluesky account is connected to another Praisewall account."
            )
        else:
            db.session.commit()
            flash(f"Connected to @{account.handle} with an app password.", "success")
            return redirect(url_for("settings.index"))
    status = 422 if form.errors else 200
    page = render_template("auth/bluesky_app_password.html", form=form)
    return make_response(page, status)


@bp.post("/settings/bluesky/disconnect")
@login_required
def disconnect():
    """Disconnect my Bluesky account and revoke our access at my server."""
    if not passkeys.other_way_in_than_bluesky(current_user):
        flash("Set a password first, or add a passkey: else you'd have no way to log in.", "error")
        return redirect(url_for("settings.index"))
    revoked = connect.disconnect(current_user)
    db.session.commit()
    if revoked:
        flash("Disconnected. Praisewall can no longer post to your Bluesky account.", "info")
    else:
        flash(
            "Disconnected here, but your Bluesky server didn't confirm. You can also remove "
            "Praisewall in your Bluesky settings (or delete its app password).",
            "info",
        )
    return redirect(url_for("settings.index"))
