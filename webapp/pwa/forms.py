"""The form that sends a share to the person's own Mastodon server."""

from __future__ import annotations

from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from webapp.text import strip_text
from webapp.web.forms import Form


class MastodonShareForm(Form):
    """Which server to share on, and the text to share: a GET form, changing nothing here."""

    TEXT_MAX = 1000

    class Meta:
        """Nothing changes here, so there is nothing to protect with a token."""

        csrf = False

    server = StringField(
        "Your Mastodon server",
        filters=[strip_text],
        validators=[
            DataRequired(message="Enter your server, like mastodon.social."),
            Length(max=300, message="That server name is too long."),
        ],
        description="Like mastodon.social, or your handle @you@mastodon.social",
    )
    text = HiddenField(
        filters=[strip_text],
        validators=[Length(max=TEXT_MAX, message="That is too long to share.")],
    )
