"""My settings: password, data export, leaving."""

from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_login import current_user, login_required, login_user, logout_user

from webapp.auth.forms import ChangePasswordForm
from webapp.extensions import db
from webapp.services import accounts, export
from webapp.settings.forms import DeleteAccountForm

bp = Blueprint("settings", __name__)


def render_settings(password_form=None, delete_form=None, status: int = 200):
    """Render the settings page with its forms."""
    return (
        render_template(
            "settings/index.html",
            password_form=password_form or ChangePasswordForm(current_user),
            delete_form=delete_form or DeleteAccountForm(current_user),
        ),
        status,
    )


@bp.get("/settings")
@login_required
def index():
    """Show my settings."""
    return render_settings()


@bp.post("/settings/password")
@login_required
def change_password():
    """Change my password."""
    form = ChangePasswordForm(current_user)
    if not form.validate():
        return render_settings(password_form=form, status=422)
    user = current_user._get_current_object()
    user.set_password(form.password.data)
    db.session.commit()
    # A new password signs out every other session; this one carries on.
    login_user(user)
    flash("Password changed. Any other devices have been logged out.", "success")
    return redirect(url_for("settings.index"))


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
def delete_account():
    """Delete my account and every post I wrote."""
    form = DeleteAccountForm(current_user)
    if not form.validate():
        return render_settings(delete_form=form, status=422)
    accounts.delete_account(current_user._get_current_object())
    db.session.commit()
    logout_user()
    flash("Your account and your posts are gone. Thank you for being here.", "info")
    return redirect(url_for("main.index"))
