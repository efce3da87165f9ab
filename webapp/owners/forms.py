"""Forms a business owner fills in."""

from __future__ import annotations

from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from webapp.models import REPLY_MAX
from webapp.services.businesses import WEBSITE_MAX
from webapp.services.owners import DESCRIPTION_MAX
from webapp.text import strip_text
from webapp.web.forms import Form


class DetailsForm(Form):
    """The business's own words about itself: its website and a short description."""

    website = StringField(
        "Website",
        filters=[strip_text],
        validators=[Length(max=WEBSITE_MAX, message="That address is too long.")],
        render_kw={"inputmode": "url", "autocomplete": "url", "placeholder": "bakery.example"},
    )
    description = TextAreaField(
        "About the business",
        description=f"Shown at the top of your wall. Up to {DESCRIPTION_MAX} characters.",
        filters=[strip_text],
        validators=[
            Length(max=DESCRIPTION_MAX, message=f"Keep it under {DESCRIPTION_MAX} characters.")
        ],
        render_kw={"rows": 4},
    )
    bluesky_handle = StringField(
        "Bluesky handle",
        description="Customers' posts on Bluesky mention it, so you are notified. Owner only.",
        filters=[strip_text],
        validators=[Length(max=254, message="That handle is too long.")],
        render_kw={
            "autocomplete": "off",
            "autocapitalize": "none",
            "spellcheck": "false",
            "placeholder": "@brand.bsky.social",
        },
    )


class ManagerForm(Form):
    """Someone to let manage the wall, by their username."""

    username = StringField(
        "Username",
        description="Their Praisewall username. They can then edit the page and feature praise.",
        filters=[strip_text],
        validators=[
            DataRequired(message="Enter their username."),
            Length(max=60, message="That username is too long."),
        ],
        render_kw={"autocomplete": "off"},
    )


class ReplyForm(Form):
    """The business's public answer under a post on its wall."""

    body = TextAreaField(
        "Your reply",
        description=f"Shown under the post, as the business. Up to {REPLY_MAX} characters.",
        filters=[strip_text],
        validators=[
            DataRequired(message="Write your reply."),
            Length(max=REPLY_MAX, message=f"Keep your reply under {REPLY_MAX} characters."),
        ],
        render_kw={"rows": 5},
    )
