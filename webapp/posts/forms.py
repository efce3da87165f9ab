"""The compose form and the small forms behind post buttons."""

from __future__ import annotations

from datetime import UTC, datetime

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
    new_business_bluesky = StringField(
        "Bluesky handle (optional)",
        filters=[strip_text],
        validators=[Optional(), Length(max=254)],
        description="Like @brand.bsky.social",
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
    to_bluesky = BooleanField("Also post to my Bluesky account", default=True)
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
        """Start with no business settled: validating settles it."""
        super().__init__(*args, **kwargs)
        self.resolved: businesses.Resolved | None = None

    @property
    def chosen_business(self) -> Business | None:
        """Return the business already here that validating settled on, if any."""
        if self.resolved is None or self.resolved.outcome != businesses.Outcome.EXISTING:
            return None
        return self.resolved.business

    @property
    def suggestions(self) -> tuple[Business, ...]:
        """Return the businesses offered for a name that matched none exactly."""
        return self.resolved.suggestions if self.resolved is not None else ()

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

    def validate_new_business_bluesky(self, field: StringField) -> None:
        """Check the Bluesky handle looks like a domain name."""
        if field.data and businesses.parse_bluesky_handle(field.data) is None:
            raise ValidationError("A Bluesky handle looks like @brand.bsky.social.")

    def validate(self, extra_validators=None) -> bool:
        """Run the field checks, then settle which business the post is about."""
        fields_ok = super().validate(extra_validators)
        self.resolved = businesses.resolve(self.business_choice_data())
        self.show_business(self.resolved)
        return fields_ok and self.resolved.settled is not None

    def business_choice_data(self) -> businesses.BusinessChoice:
        """Read what the person said about the business."""
        new = None
        if self.new_business_name.data:
            new = businesses.NewBusiness(
                self.new_business_name.data,
                website=self.new_business_website.data or None,
                handle=self.new_business_handle.data or None,
                bluesky_handle=self.new_business_bluesky.data or None,
            )
        return businesses.BusinessChoice(
            picked_id=self.business_choice.data or None,
            kept_id=self.business_id.data or None,
            typed_name=self.business.data or None,
            new=new,
        )

    def show_business(self, resolved: businesses.Resolved) -> None:
        """Show how the business settled: fill in the one picked, or say what to do next."""
        outcome, business = resolved.outcome, resolved.business
        if outcome == businesses.Outcome.EXISTING and business is not None:
            self.business.data = business.name
            self.business_id.data = str(business.id)
            self.business_choice.data = ""
            return
        if outcome == businesses.Outcome.DUPLICATE and business is not None:
            self.business.data = business.name
            self.business_id.data = str(business.id)
            self.new_business_name.data = ""
            self.new_business_website.data = ""
            self.new_business_handle.data = ""
            self.new_business_bluesky.data = ""
        else:
            self.business_id.data = ""
        if outcome == businesses.Outcome.UNKNOWN:
            self.new_business_name.data = self.business.data
        if outcome == businesses.Outcome.BAD_NAME:
            self.new_business_name.errors.append(resolved.message)
        elif resolved.message:
            self.business.errors.append(resolved.message)

    def draft(self) -> posts.Draft:
        """Return the validated form as a draft to publish or save.

        :raise ValueError: when the form hasn't validated, so no business is settled.
        """
        business = self.resolved.settled if self.resolved is not None else None
        if business is None:
            raise ValueError("Only a validated form makes a draft.")
        crossposting = None
        chosen = tuple(
            name
            for name, wanted in (
                ("mastodon", self.to_mastodon.data),
                ("bluesky", self.to_bluesky.data),
            )
            if wanted
        )
        if chosen:
            crossposting = posts.Crossposting(
                visibility=self.visibility.data,
                spoiler_text=self.spoiler_text.data or None,
                networks=chosen,
            )
        return posts.Draft(
            kind=Kind(self.kind.data),
            business=business,
            body=self.body.data,
            happened_on=self.happened_on.data,
            rating=self.rating.data,
            channel=self.channel.data,
            make_right=self.make_right.data or None,
            is_on_wall=self.is_on_wall.data,
            shows_name=self.shows_name.data,
            fixes=parse_id(self.fixes.data) if self.fixes.data else None,
            crosspost=crossposting,
        )


class ResolveForm(Form):
    """Mark a complaint resolved, with an optional note."""

    note = TextAreaField(
        "How was it fixed? (optional)",
        filters=[strip_text],
        validators=[Optional(), Length(max=1000, message="Keep it under 1,000 characters.")],
    )


class EmptyForm(Form):
    """A button that changes something: just the CSRF token."""
