"""The compose form and the small forms behind post buttons."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

from webapp.extensions import db
from webapp.models import BODY_MAX, CHANNEL_LABELS, Business, Kind, Visibility, parse_id
from webapp.services import businesses, posts
from webapp.text import strip_text
from webapp.web.forms import Form

RATING_CHOICES = [SelectChoice("", "No rating")] + [
    SelectChoice(str(n), f"{n} of 5") for n in range(1, 6)
]


def optional_int(value: str | int | None) -> int | None:
    """Read an optional whole number from a form ("" means none)."""
    if value is None or value == "":
        return None
    return int(value)


class PostForm(Form):
    """Praise or a complaint about one business."""

    kind = RadioField(
        "What kind of story?",
        choices=[
            SelectChoice(Kind.PRAISE.value, "Praise"),
            SelectChoice(Kind.COMPLAINT.value, "Complaint"),
        ],
        default=Kind.PRAISE.value,
        validators=[InputRequired(message="Choose praise or complaint.")],
    )
    business = StringField(
        "Business", filters=[strip_text], validators=[Optional(), Length(max=120)]
    )
    business_id = HiddenField()
    business_choice = HiddenField()  # a "did you mean" pick, sent by radio buttons
    new_business_name = StringField(
        "Name", filters=[strip_text], validators=[Optional(), Length(max=120)]
    )
    new_business_website = StringField(
        "Website (optional)", filters=[strip_text], validators=[Optional(), Length(max=300)]
    )
    new_business_handle = StringField(
        "Fediverse handle (optional)",
        filters=[strip_text],
        validators=[Optional(), Length(max=320)],
        description="Like @support@brand.example",
    )
    body = TextAreaField(
        "What happened?",
        filters=[strip_text],
        validators=[
            DataRequired(message="Tell us what happened."),
            Length(max=BODY_MAX, message=f"Keep it under {BODY_MAX:,} characters."),
        ],
    )
    make_right = TextAreaField(
        "What would make it right?",
        filters=[strip_text],
        validators=[Optional(), Length(max=1000, message="Keep it under 1,000 characters.")],
    )
    rating = SelectField("Rating", choices=RATING_CHOICES, coerce=optional_int, default=None)
    happened_on = DateField(
        "When did it happen?",
        default=lambda: datetime.now(UTC).date(),
        validators=[InputRequired(message="Give the date it happened.")],
    )
    channel = SelectField(
        "Where?",
        choices=[SelectChoice(c.value, label) for c, label in CHANNEL_LABELS.items()],
        default="in_person",
    )
    is_on_wall = BooleanField("Show on the public wall", default=True)
    shows_name = BooleanField("Show my name (otherwise “a customer”)", default=True)
    fixes = HiddenField()
    to_mastodon = BooleanField("Also post to my Mastodon account", default=True)
    visibility = SelectField(
        "Who sees it on Mastodon?",
        choices=[SelectChoice(v.value, v.label) for v in Visibility],
        default=Visibility.PUBLIC.value,
    )
    spoiler_text = StringField(
        "Content warning (optional)",
        filters=[strip_text],
        validators=[Optional(), Length(max=200, message="Keep the warning under 200 characters.")],
    )
    # Chosen by the device for each draft, so sending it twice (from the outbox) posts once.
    submission_key = HiddenField(
        validators=[
            Optional(),
            Length(max=64, message="That form came with a broken key. Post it again."),
            Regexp(r"^[A-Za-z0-9-]+\Z", message="That form came with a broken key. Post it again."),
        ]
    )

    def __init__(self, *args, **kwargs) -> None:
        """Remember which business the form settles on while validating."""
        super().__init__(*args, **kwargs)
        self.chosen_business: Business | None = None
        self.suggestions: list[Business] = []

    def validate_happened_on(self, field: DateField) -> None:
        """Refuse dates in the future and before the web existed."""
        if field.data and field.data > posts.latest_today():
            raise ValidationError("That date is in the future. When did it happen?")
        if field.data and field.data.year < 1990:
            raise ValidationError("That date is too long ago.")

    def validate_new_business_website(self, field: StringField) -> None:
        """Check the website looks like one."""
        if field.data and businesses.parse_website(field.data) is None:
            raise ValidationError("That doesn't look like a website. Try brand.example.")

    def validate_new_business_handle(self, field: StringField) -> None:
        """Check the handle looks like @user@server."""
        if field.data and businesses.parse_handle(field.data) is None:
            raise ValidationError("A handle looks like @support@brand.example.")

    def validate(self, extra_validators=None) -> bool:
        """Run the field checks, then settle which business the post is about."""
        fields_ok = super().validate(extra_validators)
        business_ok = self._settle_business()
        return fields_ok and business_ok

    def _settle_business(self) -> bool:
        """Pick the tagged business: a chosen one, a new one, or an exact name match."""
        if self.business_choice.data or self.business_id.data:
            settled = self._settle_chosen_business()
            if settled is not None:
                return settled
        if self.new_business_name.data:
            return self._settle_new_business()
        if not self.business.data:
            self.business.errors.append("Which business was it? Search for it or add it as new.")
            return False
        exact = db.session.scalar(
            sa.select(Business).where(
                Business.normalized_name == businesses.normalize_name(self.business.data)
            )
        )
        if exact is not None:
            self._choose(exact)
            return True
        self.suggestions = businesses.search(self.business.data, limit=5)
        if self.suggestions:
            self.business.errors.append("Pick one of these, or add it as a new business below.")
        else:
            self.new_business_name.data = self.business.data
            self.business.errors.append(
                "We don't know that business yet. Check the details below and add it."
            )
        return False

    def _settle_chosen_business(self) -> bool | None:
        """Use the business picked from a list; None when the typed name has moved on from it."""
        wanted = parse_id(self.business_choice.data or self.business_id.data)
        business = db.session.get(Business, wanted) if wanted else None
        if business is None:
            self.business_id.data = ""
            self.business.errors.append(
                "We couldn't find that business. Search again or add it as new."
            )
            return False
        typed = businesses.normalize_name(self.business.data or "")
        if self.business_choice.data or not typed or typed == business.normalized_name:
            self._choose(business)
            return True
        # Without JavaScript a kept id can't follow a name edited after an error.
        self.business_id.data = ""
        return None

    def _choose(self, business: Business) -> None:
        """Settle on a business and show it in the form."""
        self.chosen_business = business
        self.business.data = business.name
        self.business_id.data = str(business.id)
        self.business_choice.data = ""

    def _settle_new_business(self) -> bool:
        """Catch a new business that is already here under its name or website."""
        site = businesses.parse_website(self.new_business_website.data or "")
        duplicate = businesses.find_duplicate(
            self.new_business_name.data, site[1] if site else None
        )
        if duplicate is not None:
            self.business.data = duplicate.name
            self.business_id.data = str(duplicate.id)
            self.new_business_name.data = ""
            self.new_business_website.data = ""
            self.new_business_handle.data = ""
            self.business.errors.append(
                f"“{duplicate.name}” is already here, so we picked it for you. Check and post."
            )
            return False
        normalized = businesses.normalize_name(self.new_business_name.data)
        if not normalized:
            self.new_business_name.errors.append("Give the business a name with letters in it.")
            return False
        if len(normalized) > businesses.NAME_MAX:
            self.new_business_name.errors.append("That name is too long. Try a shorter form.")
            return False
        return True


class ResolveForm(Form):
    """Mark a complaint resolved, with an optional note."""

    note = TextAreaField(
        "How was it fixed? (optional)",
        filters=[strip_text],
        validators=[Optional(), Length(max=1000, message="Keep it under 1,000 characters.")],
    )


class EmptyForm(Form):
    """A button that changes something: just the CSRF token."""
