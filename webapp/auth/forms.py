"""Forms for registering, logging in and changing a password."""

from __future__ import annotations

from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from webapp.services import accounts
from webapp.web.forms import Form


class RegisterForm(Form):
    """Sign up with a username and password."""

    username = StringField(
        "Username",
        filters=[lambda v: accounts.normalize_username(v) if v else v],
        validators=[DataRequired(message="Choose a username."), Length(max=30)],
    )
    password = PasswordField("Password", validators=[DataRequired(message="Choose a password.")])
    confirm = PasswordField(
        "Password again",
        validators=[EqualTo("password", message="The two passwords don't match.")],
    )

    def validate_username(self, field: StringField) -> None:
        """Refuse malformed and taken usernames."""
        problem = accounts.username_problem(field.data)
        if problem:
            raise ValidationError(problem)

    def validate_password(self, field: PasswordField) -> None:
        """Refuse weak passwords."""
        problem = accounts.password_problem(field.data, self.username.data or "")
        if problem:
            raise ValidationError(problem)


class LoginForm(Form):
    """Log in with a username and password."""

    username = StringField("Username", validators=[DataRequired(message="Enter your username.")])
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])
    remember = BooleanField("Remember me")


class RecoveryLoginForm(Form):
    """Sign in once with a username and a recovery code."""

    username = StringField("Username", validators=[DataRequired(message="Enter your username.")])
    code = StringField(
        "Recovery code",
        validators=[
            DataRequired(message="Enter one of your recovery codes."),
            Length(max=40, message="That is longer than any recovery code."),
        ],
        description="One of the codes you saved, like abcde-23456.",
    )


class NewPasswordForm(Form):
    """Choose a new password, typed twice, for a known user."""

    password = PasswordField(
        "New password", validators=[DataRequired(message="Choose a new password.")]
    )
    confirm = PasswordField(
        "New password again",
        validators=[EqualTo("password", message="The two passwords don't match.")],
    )

    def __init__(self, user, *args, **kwargs) -> None:
        """Keep the user whose password is being set."""
        super().__init__(*args, **kwargs)
        self.user = user

    def validate_password(self, field: PasswordField) -> None:
        """Refuse weak passwords."""
        problem = accounts.password_problem(field.data, self.user.username)
        if problem:
            raise ValidationError(problem)


class ChangePasswordForm(NewPasswordForm):
    """Change a password, proving the old one first."""

    current = PasswordField("Current password")

    def validate_current(self, field: PasswordField) -> None:
        """Check the current password (people who only sign in with Mastodon have none)."""
        if self.user.password_hash is None:
            return
        if not field.data:
            raise ValidationError("Enter your current password.")
        if not self.user.check_password(field.data):
            raise ValidationError("That isn't your current password.")


class MastodonLoginForm(Form):
    """Name your Mastodon server, or your handle on it."""

    handle = StringField(
        "Your Mastodon handle or server",
        validators=[DataRequired(message="Enter your handle, like @you@mastodon.social.")],
        description="Like @you@mastodon.social, or just mastodon.social",
    )


class BlueskyLoginForm(Form):
    """Name your Bluesky handle, or your server."""

    handle = StringField(
        "Your Bluesky handle or server",
        validators=[DataRequired(message="Enter your handle, like alice.bsky.social.")],
        description="Like alice.bsky.social or @brand.example, or your server: https://bsky.social",
    )


class BlueskyAppPasswordForm(Form):
    """Connect Bluesky with an app password, for servers that can't do OAuth."""

    handle = StringField(
        "Your Bluesky handle",
        validators=[DataRequired(message="Enter your handle, like alice.bsky.social.")],
        description="Like alice.bsky.social or @brand.example",
    )
    app_password = PasswordField(
        "App password (not your main password)",
        validators=[DataRequired(message="Enter an app password, like abcd-efgh-ijkl-mnop.")],
        description="Four groups of four, like abcd-efgh-ijkl-mnop",
    )


class ForgotPasswordForm(Form):
    """Ask for a link to set a new password."""

    name = StringField(
        "Your username or email address",
        validators=[
            DataRequired(message="Enter your username or your email address."),
            Length(max=254, message="That is longer than any username or address."),
        ],
    )


class ResetPasswordForm(NewPasswordForm):
    """Choose a new password, from a reset link."""
