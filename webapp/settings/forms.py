"""Forms on the settings page."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, ValidationError


class DeleteAccountForm(FlaskForm):
    """Delete my account, confirmed with my password."""

    password = PasswordField(
        "Your password (or, without one, your username), to confirm",
        validators=[DataRequired(message="Enter your password.")],
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
