"""Passkeys over HTTP: the JSON steps of signing up, signing in and adding one, and signing in
with a recovery code.

Each step hands the browser options holding a challenge, kept in the signed session until
the answer comes back; it is taken out on the first answer and lasts a few minutes.
"""

from __future__ import annotations

import time
from typing import Any

from flask import (
    Blueprint,
    Response,
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
from sqlalchemy.exc import IntegrityError

from webapp import tasks
from webapp.auth import devices
from webapp.auth.forms import RecoveryLoginForm
from webapp.auth.routes import (
    address_username_key,
    failed,
    known_device,
    login_limit,
    safe_next,
    username_key,
)
from webapp.extensions import db, limiter
from webapp.services import accounts, emails, passkeys, recovery_codes
from webapp.web.limits import setting

bp = Blueprint("passkeys", __name__)

CHALLENGE = "webauthn"
TRY_AGAIN = "That took too long, or another page started a passkey since. Try again."


def relying_party() -> passkeys.RelyingParty:
    """Return who asks for passkeys: from the settings, else from SERVER_NAME or the request."""
    config = current_app.config
    host = config.get("SERVER_NAME") or request.host
    return passkeys.RelyingParty(
        id=config["WEBAUTHN_RP_ID"] or host.rsplit(":", 1)[0].strip("[]"),
        name=config["WEBAUTHN_RP_NAME"],
        origin=config["WEBAUTHN_ORIGIN"] or f"{request.scheme}://{request.host}",
    )


def begin(kind: str, ceremony: passkeys.Ceremony, **keep: Any) -> Response:
    """Keep the challenge in the session and hand the options to the browser."""
    session[CHALLENGE] = {"kind": kind, "challenge": ceremony.challenge, "at": time.time(), **keep}
    response = make_response(ceremony.options_json)
    response.mimetype = "application/json"
    response.headers["Cache-Control"] = "no-store"
    return response


def take(kind: str) -> dict | None:
    """Take the challenge out of the session once; None if missing, stale, spent or not for this."""
    kept = session.pop(CHALLENGE, None)
    if not isinstance(kept, dict) or kept.get("kind") != kind:
        return None
    if not 0 <= time.time() - kept.get("at", 0) <= passkeys.TIMEOUT_SECONDS:
        return None
    if not isinstance(kept.get("challenge"), str) or not passkeys.spend(kept["challenge"]):
        return None
    return kept


def body() -> dict:
    """Return the request's JSON object, or an empty one when it sent none."""
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def text(data: dict, name: str) -> str:
    """Return a text field of a JSON body, or an empty string."""
    value = data.get(name)
    return value if isinstance(value, str) else ""


def answer(status: int = 200, **fields: Any) -> tuple[Response, int]:
    """Answer the script in JSON that no cache keeps."""
    response = jsonify(fields)
    response.headers["Cache-Control"] = "no-store"
    return response, status


def refuse(status: int, message: str) -> tuple[Response, int]:
    """Answer the script with what went wrong, in words for the person."""
    return answer(status, error=message)


ALREADY_IN = "You're signed in already."


# Each asks whether a username is free, as the sign-up form does: counted alike, per address.
@bp.post("/register/passkey/options")
@limiter.limit(setting("REGISTER_RATE_LIMIT"), methods=["POST"])
def signup_options():
    """Start signing up with a passkey: check the username and ask for a new passkey."""
    if current_user.is_authenticated:
        return refuse(409, ALREADY_IN)
    username = accounts.normalize_username(text(body(), "username"))
    if problem := accounts.username_problem(username):
        return refuse(422, problem if username else "Choose a username.")
    handle = passkeys.new_user_handle()
    ceremony = passkeys.registration_options(relying_party(), username, handle, [])
    return begin("signup", ceremony, username=username, handle=handle)


@bp.post("/register/passkey")
def signup():
    """Create an account whose way in is the passkey just made, and sign in."""
    if current_user.is_authenticated:
        return refuse(409, ALREADY_IN)
    kept = take("signup")
    if kept is None:
        return refuse(400, TRY_AGAIN)
    data = body()
    if problem := accounts.username_problem(kept["username"]):
        return refuse(409, problem)
    try:
        verified = passkeys.verify_registration(
            relying_party(), kept["challenge"], data.get("credential")
        )
        user = accounts.create_user(kept["username"], None)
        passkeys.add(user, verified, kept["handle"], text(data, "name"))
        db.session.commit()
    except passkeys.PasskeyError as error:
        db.session.rollback()
        return refuse(400, str(error))
    except IntegrityError:
        # Someone else took the name (or made this very passkey) a moment ago.
        db.session.rollback()
        return refuse(409, "That username was taken a moment ago. Choose another.")
    login_user(user, remember=True)
    flash(f"Welcome, {user.username}! Your passkey is your way in. Log your first win.", "success")
    next_page = request.args.get("next")
    target = safe_next(next_page) if next_page else url_for("posts.new")
    return devices.remember(answer(redirect=target)[0], user)


@bp.post("/login/passkey/options")
def login_options():
    """Start signing in with a passkey: any this device holds, or the named account's."""
    if current_user.is_authenticated:
        return refuse(409, ALREADY_IN)
    username = text(body(), "username").strip()
    allowed = None
    if username:
        # An unknown name gets the same answer as a known one: nothing tells them apart.
        user = accounts.find_user(username)
        allowed = [p.credential_id for p in passkeys.user_passkeys(user)] if user else []
    ceremony = passkeys.authentication_options(relying_party(), allowed or [])
    return begin("login", ceremony, allowed=allowed)


@bp.post("/login/passkey")
@limiter.limit(login_limit, methods=["POST"], deduct_when=failed)
def login():
    """Sign in with the passkey the browser answered with."""
    if current_user.is_authenticated:
        return refuse(409, ALREADY_IN)
    kept = take("login")
    if kept is None:
        return refuse(400, TRY_AGAIN)
    data = body()
    try:
        user = passkeys.authenticate(
            relying_party(), kept["challenge"], data.get("credential"), kept.get("allowed")
        )
    except passkeys.PasskeyError as error:
        db.session.rollback()
        return refuse(401, str(error))
    db.session.commit()
    login_user(user, remember=data.get("remember") is True)
    target = safe_next(request.args.get("next"))
    return devices.remember(answer(redirect=target)[0], user)


@bp.post("/settings/passkeys/options")
@login_required
def add_options():
    """Start adding a passkey to my account."""
    user = current_user._get_current_object()
    held = [p.credential_id for p in passkeys.user_passkeys(user)]
    if len(held) >= passkeys.MAX_PER_USER:
        return refuse(
            409, f"You hold {len(held)} passkeys, the most one person may. Remove one first."
        )
    handle = passkeys.handle_for(user)
    ceremony = passkeys.registration_options(relying_party(), user.username, handle, held)
    return begin("add", ceremony, handle=handle, user=user.id)


@bp.post("/settings/passkeys")
@login_required
def add():
    """Keep the passkey just made as another way into my account."""
    kept = take("add")
    if kept is None or kept.get("user") != current_user.id:
        return refuse(400, TRY_AGAIN)
    data = body()
    user = current_user._get_current_object()
    try:
        verified = passkeys.verify_registration(
            relying_party(), kept["challenge"], data.get("credential")
        )
        passkey = passkeys.add(user, verified, kept["handle"], text(data, "name"))
    except passkeys.PasskeyError as error:
        db.session.rollback()
        return refuse(400, str(error))
    notices = emails.new_way_in(user, f"a passkey named “{passkey.name}”")
    db.session.commit()
    tasks.send_mail_soon(notices)
    flash(f"Added your passkey “{passkey.name}”. Use it to sign in.", "success")
    return answer(redirect=url_for("settings.index", _anchor="passkeys"))


# Like the password form: wrong codes count per address, per address and account, and per
# account (the owner's known devices aside).
@bp.route("/login/recovery", methods=["GET", "POST"])
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
def recovery():
    """Sign in once with a username and one of its recovery codes, which is then used up."""
    if current_user.is_authenticated:
        return redirect(url_for("settings.index"))
    form = RecoveryLoginForm()
    if form.validate_on_submit():
        user = accounts.find_user(form.username.data)
        if not recovery_codes.use(user, form.code.data):
            form.code.errors.append("That username and recovery code don't match.")
            return render_template("auth/recovery.html", form=form), 401
        db.session.commit()
        login_user(user)
        left = recovery_codes.remaining(user)
        flash(
            f"You're in. That code is used up; you have {left} left. Add a passkey or set a "
            "password now, so you needn't use another.",
            "info",
        )
        return devices.remember(redirect(url_for("settings.index", _anchor="passkeys")), user)
    status = 422 if form.errors else 200
    return render_template("auth/recovery.html", form=form), status
