"""Forms on the settings page."""

from __future__ import annotations

from wtforms import BooleanField, Label, PasswordField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from webapp.services import emails, notifications, passkeys
from webapp.services.api_tokens import NAME_MAX
from webapp.text import strip_text
from webapp.web.forms import Form


class DeleteAccountForm(Form):
    """Delete my account, confirmed with my password."""

    password = PasswordField(
        "Your password (or, without one, your username), to confirm",
        validators=[DataRequired(message="Enter your password.")],
        id="delete-password",  # the password form above has a "password" field too
    )
    delete_statuses = BooleanField(
        "Also delete my statuses on Mastodon",
        description="The statuses Praisewall posted for you, deleted in the background at "
        "Mastodon's pace (up to 30 every half hour).",
    )

    def __init__(self, user, *args, **kwargs) -> None:
        """Keep the user who wants to leave."""
        super().__init__(*args, **kwargs)
        self.user = user

    def validate_password(self, field: PasswordField) -> None:
        """Check the password."""
        if self.user.password_hash is None:
            if field.data.strip().lower() != self.user.username:
                raise ValidationError("Type your username to confirm.")
        elif not self.user.check_password(field.data):
            raise ValidationError("That isn't your password.")


class ApiTokenForm(Form):
    """Make a personal API token, named after where it will be used."""

    name = StringField(
        "Name it after where you'll use it",
        filters=[strip_text],
        validators=[
            DataRequired(message="Give the token a name, like “Phone shortcut”."),
            Length(max=NAME_MAX, message=f"Keep the name under {NAME_MAX} characters."),
        ],
        description="Like “Phone shortcut”. You can revoke it here at any time.",
    )


class EmailForm(Form):
    """Set, change or remove my email address."""

    email = StringField(
        "Email address",
        filters=[lambda v: emails.normalize(v) if isinstance(v, str) else v],
        validators=[Length(max=emails.ADDRESS_MAX, message="That address is too long.")],
        description="Optional. For a link to set a new password if you forget yours. "
        "Leave it empty to remove it.",
    )
    password = PasswordField("Your password, to confirm", id="email-password")

    def __init__(self, user, *args, **kwargs) -> None:
        """Keep the user whose address it is."""
        super().__init__(*args, **kwargs)
        self.user = user

    def validate_password(self, field: PasswordField) -> None:
        """Check the password: an address can reset it, so a borrowed session can't set one."""
        if self.user.password_hash is None:
            return  # people who only sign in with Mastodon have none
        if not field.data:
            raise ValidationError("Enter your password.")
        if not self.user.check_password(field.data):
            raise ValidationError("That isn't your password.")

    def validate_email(self, field: StringField) -> None:
        """Refuse what can't be an address."""
        problem = emails.address_problem(field.data or "")
        if problem:
            raise ValidationError(problem)


# --- Notifications ---


class NotificationsForm(Form):
    """Choose which emails to get; each box is one kind (webapp/services/notifications.py)."""

    replies = BooleanField(
        notifications.BY_NAME["replies"].label,
        description=notifications.BY_NAME["replies"].hint,
        id="notify-replies",
    )
    status = BooleanField(
        notifications.BY_NAME["status"].label,
        description=notifications.BY_NAME["status"].hint,
        id="notify-status",
    )
    rounds = BooleanField(
        notifications.BY_NAME["rounds"].label,
        description=notifications.BY_NAME["rounds"].hint,
        id="notify-rounds",
    )
    nudge = BooleanField(
        notifications.BY_NAME["nudge"].label,
        description=notifications.BY_NAME["nudge"].hint,
        id="notify-nudge",
    )

    def chosen(self) -> dict[str, bool]:
        """Return the kinds ticked, by name."""
        return {kind.name: bool(self[kind.name].data) for kind in notifications.KINDS}


class PasskeyNameForm(Form):
    """Name a passkey after the device or app that holds it."""

    name = StringField(
        "Name",
        filters=[strip_text],
        validators=[
            DataRequired(message="Give the passkey a name, like “My phone”."),
            Length(
                max=passkeys.NAME_MAX,
                message=f"Keep the name under {passkeys.NAME_MAX} characters.",
            ),
        ],
    )

    def __init__(self, passkey_id: int, *args, **kwargs) -> None:
        """Give the field an id of its own: the page has a form like it for every passkey."""
        super().__init__(*args, **kwargs)
        self.name.id = f"passkey-{passkey_id}-name"
        self.name.label = Label(self.name.id, self.name.label.text)


class NewPasskeyForm(Form):
    """Name a passkey about to be made; the browser's own dialog does the rest."""

    name = StringField(
        "Name it after the device that holds it",
        filters=[strip_text],
        validators=[Length(max=passkeys.NAME_MAX)],
        description="Optional. Like “My phone” or “Work laptop”.",
    )
