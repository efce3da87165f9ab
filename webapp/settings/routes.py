"""My settings: password, passkeys, recovery codes, API tokens, data export, notifications and
leaving; and the links in notification emails that stop them."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from webapp import tasks
from webapp.auth.forms import ChangePasswordForm
from webapp.extensions import csrf, db, limiter
from webapp.models import Passkey, utcnow
from webapp.services import (
    accounts,
    api_tokens,
    emails,
    export,
    notifications,
    passkeys,
    recovery_codes,
)
from webapp.settings.forms import (
    ApiTokenForm,
    DeleteAccountForm,
    EmailForm,
    NewPasskeyForm,
    NotificationsForm,
    PasskeyNameForm,
)
from webapp.web.limits import password_check_limit, setting, user_key, went_through

bp = Blueprint("settings", __name__)


def rename_forms(
    held: list[Passkey], failed: PasskeyNameForm | None = None, renaming: int | None = None
) -> dict[int, PasskeyNameForm]:
    """Return a rename form per passkey, each field with its own id; a refused one as sent."""
    forms = {
        passkey.id: PasskeyNameForm(passkey.id, formdata=None, name=passkey.name)
        for passkey in held
    }
    if failed is not None and renaming in forms:
        forms[renaming] = failed
    return forms


def render_settings(
    password_form=None,
    delete_form=None,
    token_form=None,
    new_token=None,
    email_form=None,
    rename_form=None,
    renaming: int | None = None,
    new_codes: list[str] | None = None,
    status: int = 200,
):
    """Render the settings page with its forms, my passkeys and my API tokens."""
    held = passkeys.user_passkeys(current_user)
    tokens = api_tokens.user_tokens(current_user)
    response = make_response(
        render_template(
            "settings/index.html",
            password_form=password_form or ChangePasswordForm(current_user),
            delete_form=delete_form or DeleteAccountForm(current_user),
            token_form=token_form or ApiTokenForm(formdata=None),
            email_form=email_form
            or EmailForm(
                current_user, formdata=None, email=current_user.new_email or current_user.email
            ),
            tokens=tokens,
            at_token_limit=api_tokens.at_limit(len(tokens)),
            new_token=new_token,
            notify_form=notifications_form(),
            passkeys=held,
            at_risk=passkeys.at_risk(current_user),
            can_disconnect=passkeys.other_way_in_than_mastodon(current_user),
            can_disconnect_bluesky=passkeys.other_way_in_than_bluesky(current_user),
            rename_forms=rename_forms(held, rename_form, renaming),
            codes_left=recovery_codes.remaining(current_user),
            new_codes=new_codes,
            new_passkey_form=NewPasskeyForm(formdata=None, prefix="new-passkey"),
        ),
        status,
    )
    # The page can show a token or recovery codes in plain text, once: no cache may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/settings")
@login_required
def index():
    """Show my settings."""
    return render_settings()


@bp.post("/settings/password")
@login_required
@password_check_limit
def change_password():
    """Change my password."""
    form = ChangePasswordForm(current_user)
    if not form.validate():
        g.wrong_password = bool(form.current.errors)
        return render_settings(password_form=form, status=422)
    user = current_user._get_current_object()
    revoked = accounts.change_password(user, form.password.data)
    db.session.commit()
    # A new password signs out every other session; this one carries on.
    login_user(user)
    flash(
        "Password changed. You're still logged in here; everywhere else is logged out.", "success"
    )
    if revoked:
        tokens = "token" if revoked == 1 else "tokens"
        flash(
            f"Your {revoked} API {tokens} no longer work, in case someone else had one. "
            "Make new ones below for the apps you use.",
            "info",
        )
    return redirect(url_for("settings.index"))


# Each sends mail to an address the person typed: a few an hour, counted together.
email_sending_limit = limiter.shared_limit(
    setting("EMAIL_RESEND_RATE_LIMIT"),
    scope="email-resend",
    key_func=user_key,
    methods=["POST"],
    deduct_when=went_through,
)


@bp.post("/settings/email")
@login_required
@password_check_limit
@email_sending_limit
def change_email():
    """Set, change or remove my email address; a new one waits for its link to be followed."""
    form = EmailForm(current_user)
    if not form.validate():
        g.wrong_password = bool(form.password.errors)
        return render_settings(email_form=form, status=422)
    user = current_user._get_current_object()
    messages = emails.change(user, form.email.data or "")
    db.session.commit()
    tasks.send_mail_soon(messages)
    if user.new_email:
        flash(
            f"We sent a link to {user.new_email}. Follow it within 48 hours to confirm the "
            "address; until then we use it for nothing.",
            "info",
        )
    elif user.email:
        flash(f"Your email address is {user.email}.", "info")
    else:
        flash("Your email address is removed.", "info")
    return redirect(url_for("settings.index", _anchor="email-address"))


@bp.post("/settings/email/resend")
@login_required
@email_sending_limit
def resend_confirmation():
    """Send the link that confirms my new address again."""
    user = current_user._get_current_object()
    if not user.new_email:
        abort(409, description="There is no address waiting to be confirmed.")
    message = emails.confirmation(user)
    db.session.commit()
    tasks.send_mail_soon([message])
    flash(f"We sent the link to {user.new_email} again.", "info")
    return redirect(url_for("settings.index", _anchor="email-address"))


@bp.post("/settings/tokens")
@login_required
def create_token():
    """Make a personal API token and show it, this once."""
    form = ApiTokenForm()
    if form.validate() and (problem := api_tokens.cap_problem(current_user)):
        form.name.errors.append(problem)
    if form.errors:
        return render_settings(token_form=form, status=422)
    made = api_tokens.create(current_user, form.name.data)
    db.session.commit()
    # Rendered, not redirected: a redirect would have to carry the token in the session cookie.
    return render_settings(new_token=made)


@bp.post("/settings/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Revoke one of my API tokens."""
    token = api_tokens.find(current_user, token_id)
    if token is None:
        abort(404, description="You have no API token with that number.")
    api_tokens.revoke(token)
    db.session.commit()
    flash(f"Revoked “{token.name}”. It no longer works.", "info")
    return redirect(url_for("settings.index", _anchor="api-tokens"))


@bp.post("/settings/passkeys/<int:passkey_id>/rename")
@login_required
def rename_passkey(passkey_id: int):
    """Rename one of my passkeys."""
    passkey = passkeys.find(current_user, passkey_id)
    if passkey is None:
        abort(404, description="You have no passkey with that number.")
    form = PasskeyNameForm(passkey.id)
    if not form.validate():
        return render_settings(rename_form=form, renaming=passkey.id, status=422)
    passkeys.rename(passkey, form.name.data)
    db.session.commit()
    flash(f"Renamed your passkey “{passkey.name}”.", "info")
    return redirect(url_for("settings.index", _anchor="passkeys"))


@bp.post("/settings/passkeys/<int:passkey_id>/remove")
@login_required
def remove_passkey(passkey_id: int):
    """Remove one of my passkeys, unless it is my last way in."""
    passkey = passkeys.find(current_user, passkey_id)
    if passkey is None:
        abort(404, description="You have no passkey with that number.")
    if problem := passkeys.removal_problem(passkey):
        flash(problem, "error")
        return redirect(url_for("settings.index", _anchor="passkeys"))
    passkeys.remove(passkey)
    db.session.commit()
    flash(f"Removed “{passkey.name}”. It no longer signs you in.", "info")
    return redirect(url_for("settings.index", _anchor="passkeys"))


@bp.post("/settings/recovery-codes")
@login_required
def make_recovery_codes():
    """Make new recovery codes, replacing any earlier ones, and show them this once."""
    codes = recovery_codes.regenerate(current_user)
    notices = emails.new_way_in(current_user, f"{len(codes)} new recovery codes")
    db.session.commit()
    tasks.send_mail_soon(notices)
    # Rendered, not redirected: a redirect would have to carry the codes in the session cookie.
    return render_settings(new_codes=codes)


@bp.get("/settings/export.json")
@login_required
def export_data():
    """Download everything I've given Praisewall, as JSON."""
    body = json.dumps(export.export_user(current_user), indent=2, ensure_ascii=False)
    filename = f"praisewall-{current_user.username}.json"
    return Response(
        body,
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@bp.post("/settings/delete")
@login_required
@password_check_limit
def delete_account():
    """Delete my account and every post I wrote, and revoke our access to my Mastodon account."""
    form = DeleteAccountForm(current_user)
    if not form.validate():
        g.wrong_password = bool(form.password.errors)
        return render_settings(delete_form=form, status=422)
    farewell = accounts.delete_account(
        current_user._get_current_object(), delete_statuses=form.delete_statuses.data
    )
    db.session.commit()
    for crosspost_id, due_at in farewell.deleting:
        tasks.enqueue(tasks.delete_status, crosspost_id, due_at if due_at > utcnow() else None)
    logout_user()
    flash("Your account and your posts are gone. Thank you for being here.", "info")
    if farewell.deleting_on == ["bluesky"]:
        flash(
            f"Your posts on Bluesky are being deleted, {len(farewell.deleting)} in all. "
            "Then we end our access to your account.",
            "info",
        )
    elif farewell.deleting:
        flash(
            "Your statuses on Mastodon are being deleted: up to "
            f"{accounts.DELETE_BATCH} every half hour (Mastodon's limit), "
            f"{len(farewell.deleting)} in all. Then we revoke our access to your account.",
            "info",
        )
    if farewell.revoked is False:
        flash(
            "Your server didn't confirm that our access is revoked. "
            "You can also remove Praisewall in your Mastodon settings.",
            "info",
        )
    return redirect(url_for("main.index"))


# --- Notifications ---


def notifications_form() -> NotificationsForm:
    """Return the notifications form, ticked as the person chose."""
    return NotificationsForm(formdata=None, data=notifications.choices(current_user))


@bp.post("/settings/notifications")
@login_required
def save_notifications():
    """Choose which emails I get; only with a confirmed address to send them to."""
    user = current_user._get_current_object()
    if not notifications.can_choose(user):
        abort(409, description="Confirm an email address first: notifications need one.")
    form = NotificationsForm()  # only boxes: an unticked one is simply off
    notifications.choose(user, form.chosen(), utcnow())
    db.session.commit()
    flash("Notifications saved.", "success")
    return redirect(url_for("settings.index", _anchor="notifications"))


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058: mail clients POST with no token of ours; the signed link is the key
def unsubscribe(token: str):
    """Turn one kind of email off from its link: a button first, so link checkers change nothing."""
    found = notifications.read_unsubscribe(token)
    if found is None:
        return render_template("settings/unsubscribe.html", kind=None), 400
    user, name = found
    kind = notifications.BY_NAME[name]
    if request.method == "POST":
        notifications.turn_off(user, name)
        db.session.commit()
    return render_template("settings/unsubscribe.html", kind=kind, done=request.method == "POST")
