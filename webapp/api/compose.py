"""Turn a JSON post into the compose form, so the API follows exactly the form's rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from webapp.extensions import db
from webapp.models import Business
from webapp.posts.forms import PostForm
from webapp.services import businesses


@dataclass(frozen=True)
class Field:
    """One JSON field: the form field it fills and the JSON type it must have."""

    form_name: str
    json_type: type
    default: Any = None


# JSON name → form field. Text and choices are checked by the form itself.
FIELDS = {
    "kind": Field("kind", str, "praise"),
    "body": Field("body", str),
    "make_right": Field("make_right", str),
    "rating": Field("rating", int),
    "happened_on": Field("happened_on", str),
    "channel": Field("channel", str),
    "on_wall": Field("is_on_wall", bool, True),
    "show_name": Field("shows_name", bool, True),
    "to_mastodon": Field("to_mastodon", bool, True),
    "to_bluesky": Field("to_bluesky", bool, True),
    "visibility": Field("visibility", str),
    "content_warning": Field("spoiler_text", str),
    "fixes": Field("fixes", int),
    "business_name": Field("business", str),
}
NEW_BUSINESS_FIELDS = {
    "name": Field("new_business_name", str),
    "website": Field("new_business_website", str),
    "handle": Field("new_business_handle", str),
    "bluesky_handle": Field("new_business_bluesky", str),
}
BUSINESS_KEYS = ("business", "business_name", "new_business")
TYPE_NAMES = {str: "a string", int: "a whole number", bool: "true or false", dict: "an object"}


@dataclass
class Compose:
    """The filled-in form and the problems found, by JSON field name."""

    form: PostForm | None
    errors: dict[str, list[str]]


def type_problem(value: Any, wanted: type) -> str | None:
    """Say what is wrong with a JSON value's type, or None when it fits (null always does)."""
    if value is None:
        return None
    if wanted is int and isinstance(value, bool) or not isinstance(value, wanted):
        return f"Must be {TYPE_NAMES[wanted]}."
    if isinstance(value, str) and "\x00" in value:
        return "Contains a NUL character, which no text needs."
    return None


def form_value(value: Any) -> str | None:
    """Write a JSON value as the form would receive it; None means leave the field out."""
    if value is None or value is False:
        return None
    if value is True:
        return "y"
    return str(value)


def check_types(payload: dict, fields: dict[str, Field], prefix: str = "") -> dict:
    """Return problems with unknown fields and wrong types."""
    errors: dict[str, list[str]] = {}
    for key, value in payload.items():
        spec = fields.get(key)
        if spec is None:
            if not (prefix == "" and key in ("business", "new_business")):
                errors[prefix + key] = ["We don't know this field."]
            continue
        problem = type_problem(value, spec.json_type)
        if problem:
            errors[prefix + key] = [problem]
    return errors


def read_payload(payload: dict) -> Compose:
    """Fill the compose form from a JSON object and validate it with the form's own rules."""
    errors = check_types(payload, FIELDS)
    for key, wanted in (("business", str), ("new_business", dict)):
        problem = type_problem(payload.get(key), wanted)
        if problem:
            errors[key] = [problem]
    new_business = payload.get("new_business")
    if isinstance(new_business, dict):
        errors.update(check_types(new_business, NEW_BUSINESS_FIELDS, "new_business."))
    given = [key for key in BUSINESS_KEYS if payload.get(key) is not None]
    if len(given) > 1:
        errors[given[1]] = [
            "Name the business one way only: business, business_name or new_business."
        ]
    if errors:
        return Compose(None, errors)

    data = MultiDict()
    for key, spec in FIELDS.items():
        value = payload.get(key)
        value = spec.default if value is None else value
        if form_value(value) is not None:
            data[spec.form_name] = form_value(value)
    data.setdefault("happened_on", datetime.now(UTC).date().isoformat())
    for key, spec in NEW_BUSINESS_FIELDS.items():
        value = (new_business or {}).get(key)
        if form_value(value) is not None:
            data[spec.form_name] = form_value(value)
    slug = payload.get("business")
    known = None
    if slug is not None:
        known = db.session.scalar(sa.select(Business).where(Business.slug == slug))
        if known is not None:
            data["business_id"] = str(known.id)

    form = PostForm(formdata=data, meta={"csrf": False})
    if form.validate():
        return Compose(form, {})
    return Compose(form, api_errors(form, given[0] if given else "business", slug, known))


def api_errors(form: PostForm, business_key: str, slug: str | None, known) -> dict:
    """Name the form's problems by JSON field, with business advice that suits an API."""
    names = {spec.form_name: key for key, spec in FIELDS.items()}
    names.update(
        {spec.form_name: f"new_business.{key}" for key, spec in NEW_BUSINESS_FIELDS.items()}
    )
    errors: dict[str, list[str]] = {}
    for name, messages in form.errors.items():
        if name in ("business", "business_id", "business_choice"):
            continue
        errors.setdefault(names.get(name, name), []).extend(messages)
    if (form.business.errors or form.business_id.errors) and form.resolved is not None:
        errors[business_key] = [business_problem(form.resolved, business_key, slug, known)]
    return errors


def business_problem(
    resolved: businesses.Resolved, business_key: str, slug: str | None, known
) -> str:
    """Explain why the business could not be settled, in terms of the JSON fields."""
    if business_key == "business" and slug is not None and known is None:
        return "We don't know a business at that slug. Search /api/v1/businesses?q= for it."
    if business_key == "new_business":
        duplicate = resolved.business
        if resolved.outcome == businesses.Outcome.DUPLICATE and duplicate is not None:
            return f"“{duplicate.name}” is already here: send it as business: {duplicate.slug}."
        return "Give the new business a name."
    if business_key == "business_name" and resolved.suggestions:
        slugs = ", ".join(b.slug for b in resolved.suggestions)
        return f"No business has exactly that name. Did you mean one of: {slugs}? Send its slug."
    if business_key == "business_name":
        return "We don't know that business yet. Add it with new_business."
    return "Which business was it? Send business (a slug), business_name or new_business."
