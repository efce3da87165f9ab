"""Hostile input to every HTML form: never a 5xx, never reflected raw, nothing half-saved.

The forms come from the app's URL map, so a new form POST is fuzzed (or has to say why not).
Each example starts from the same people, business and posts, with every table emptied first.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from conftest import PASSWORD, compose_form, empty_tables
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_authorization import ROUTES, USERNAMES, build_world, fill
from werkzeug.datastructures import MultiDict

from webapp.auth.forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    RecoveryLoginForm,
    RegisterForm,
    ResetPasswordForm,
)
from webapp.extensions import db
from webapp.owners.forms import DetailsForm, ManagerForm, ReplyForm
from webapp.posts.forms import PostForm, ResolveForm
from webapp.settings.forms import (
    ApiTokenForm,
    DeleteAccountForm,
    EmailForm,
    NotificationsForm,
    PasskeyNameForm,
)

MARKERS = ("<script>alert(", "<img src=x onerror=", "<svg onload=", '"><b id=pwx>')
HTML = [
    "<script>alert('pw')</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    '"><b id=pwx>bold</b>',
    "</textarea><script>alert(1)</script>",
    "<!--",
    "]]><![CDATA[",
    "{{ 7*7 }}{% raw %}",
]
SQL = [
    "'; DROP TABLE post; --",
    "1 OR 1=1",
    '" OR ""="',
    "admin'--",
    "%' UNION SELECT password_hash FROM user --",
    "1; SELECT pg_sleep(10)",
    "\\'; --",
]
BIG = [
    "x" * 100_000,
    "é" * 50_000,
    "\U0001f600" * 25_000,
    "<script>alert(1)</script>" * 4_000,
    "a\u0301" * 33_000,
]
ODD = [
    "",
    " ",
    "\u200b\u200b",
    "\u202etxet desrever",
    "\ufeffBOM",
    "A\u0000B",
    "\r\n\r\n",
    "Ω≈ç√∫",
    "𝕳𝖊𝖑𝖑𝖔",
    "ﷺ",
    "\U000e0041",
    "2026-02-30",
    "-1",
    "99999999999999999999999",
]

any_text = st.text(max_size=300)  # every category Unicode has, surrogates aside (not UTF-8)
controls = st.text(
    st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from("\x7f\x85\u2028\u2029"),
    max_size=40,
)
marked = st.builds(lambda a, m, b: a + m + b, any_text, st.sampled_from(HTML), any_text)
hostile = st.one_of(
    any_text,
    controls,
    marked,
    st.sampled_from(HTML + SQL + ODD),
    st.sampled_from(BIG),
)


class Choice:
    """A named way to treat a field: keep the working value, or leave the field out."""

    def __init__(self, name: str) -> None:
        """Name the choice, for hypothesis's report."""
        self.name = name

    def __repr__(self) -> str:
        """Show the name."""
        return self.name


KEEP, MISSING = Choice("KEEP"), Choice("MISSING")
field_value = st.one_of(
    st.just(KEEP),
    st.just(KEEP),
    st.just(MISSING),
    hostile,
    st.lists(hostile, min_size=2, max_size=3),  # the same field sent more than once
)


def fields_of(form_class: type) -> list[str]:
    """Return the names of a form's fields (its unbound fields), its CSRF token aside."""
    return sorted(
        name for name in dir(form_class) if hasattr(getattr(form_class, name), "field_class")
    )


# Endpoint → (who sends it, a form that would go through, the fields its form reads).
FORMS: dict[str, tuple[str, Callable[[dict], dict[str, str]], list[str]]] = {
    "auth.login": (
        "anonymous",
        lambda w: {"username": "alice", "password": PASSWORD, "remember": "y"},
        fields_of(LoginForm),
    ),
    "auth.register": (
        "anonymous",
        lambda w: {"username": "newcomer", "password": PASSWORD, "confirm": PASSWORD},
        fields_of(RegisterForm),
    ),
    "auth.logout": ("owner", lambda w: {}, []),
    "auth.confirm_email": ("anonymous", lambda w: {}, []),
    "auth.forgot_password": (
        "anonymous",
        lambda w: {"name": "alice"},
        fields_of(ForgotPasswordForm),
    ),
    "auth.reset_password": (
        "anonymous",
        lambda w: {"password": "a new long passphrase", "confirm": "a new long passphrase"},
        fields_of(ResetPasswordForm),
    ),
    "challenge.start": ("owner", lambda w: {}, []),
    "mastodon.disconnect": ("owner", lambda w: {}, []),
    "bluesky.disconnect": ("owner", lambda w: {}, []),
    "moderation.hide": ("admin", lambda w: {}, []),
    "moderation.restore": ("admin", lambda w: {}, []),
    # A report has no form class: the view reads these two fields itself.
    "moderation.report": (
        "other",
        lambda w: {"reason": "spam", "detail": "Looks like an advert."},
        ["detail", "reason"],
    ),
    "moderation.report_reply": (
        "other",
        lambda w: {"reason": "spam", "detail": "Looks like an advert."},
        ["detail", "reason"],
    ),
    "moderation.hide_reply": ("admin", lambda w: {}, []),
    "moderation.restore_reply": ("admin", lambda w: {}, []),
    "owners.claim": ("business_owner", lambda w: {}, []),
    "owners.claim_by_website": ("business_owner", lambda w: {}, []),
    "owners.claim_on_bluesky": ("business_owner", lambda w: {}, []),
    "owners.add_manager": (
        "business_owner",
        lambda w: {"username": "alice"},
        fields_of(ManagerForm),
    ),
    "owners.remove_manager": ("business_owner", lambda w: {}, []),
    "owners.feature": ("business_owner", lambda w: {}, []),
    "owners.release": ("business_owner", lambda w: {}, []),
    "owners.unfeature": ("business_owner", lambda w: {}, []),
    "owners.reply": (
        "business_owner",
        lambda w: {"body": "Thank you, come again!"},
        fields_of(ReplyForm),
    ),
    "owners.delete_reply": ("business_owner", lambda w: {}, []),
    "owners.update": (
        "business_owner",
        lambda w: {"website": "cornerbakery.example", "description": "Fresh bread."},
        fields_of(DetailsForm),
    ),
    "posts.new": ("owner", lambda w: compose_form(w.business), fields_of(PostForm)),
    "posts.edit": ("owner", lambda w: compose_form(w.business), fields_of(PostForm)),
    "posts.delete": ("owner", lambda w: {}, []),
    "posts.reopen": ("owner", lambda w: {}, []),
    "posts.resolve": ("owner", lambda w: {"note": "They refunded me."}, fields_of(ResolveForm)),
    "posts.retry_crosspost": ("owner", lambda w: {}, []),
    "settings.change_email": (
        "owner",
        lambda w: {"email": "alice@elsewhere.example"},
        fields_of(EmailForm),
    ),
    "settings.resend_confirmation": ("owner", lambda w: {}, []),
    "settings.change_password": (
        "owner",
        lambda w: {"current": PASSWORD, "password": "a new long passphrase", "confirm": ""},
        fields_of(ChangePasswordForm),
    ),
    "settings.create_token": ("owner", lambda w: {"name": "Phone"}, fields_of(ApiTokenForm)),
    "settings.delete_account": (
        "owner",
        lambda w: {"password": PASSWORD},
        fields_of(DeleteAccountForm),
    ),
    "settings.revoke_token": ("owner", lambda w: {}, []),
    "settings.save_notifications": (
        "owner",
        lambda w: {"replies": "y", "nudge": "y"},
        fields_of(NotificationsForm),
    ),
    # A mail client's one-click POST reads no fields: the signed link says everything.
    "settings.unsubscribe": ("anonymous", lambda w: {"List-Unsubscribe": "One-Click"}, []),
    "passkeys.recovery": (
        "anonymous",
        lambda w: {"username": "alice", "code": "abcde-23456"},
        fields_of(RecoveryLoginForm),
    ),
    "settings.rename_passkey": (
        "owner",
        lambda w: {"name": "Old phone"},
        fields_of(PasskeyNameForm),
    ),
    "settings.remove_passkey": ("owner", lambda w: {}, []),
    "settings.make_recovery_codes": ("owner", lambda w: {}, []),
}
# Form POSTs not fuzzed here, and why.
NOT_FUZZED = {
    # It looks up the named server over the network; tests/test_mastodon_signin.py feeds it
    # hostile handles against a fake server.
    "mastodon.login": "reaches the network",
    # Likewise: tests/test_bluesky_signin.py sends them bad handles and passwords.
    "bluesky.login": "reaches the network",
    "bluesky.app_password": "reaches the network",
    # Passkeys' steps read JSON, not forms; tests/test_passkeys.py sends them hostile JSON.
    **dict.fromkeys(
        [
            "passkeys.signup_options",
            "passkeys.signup",
            "passkeys.login_options",
            "passkeys.login",
            "passkeys.add_options",
            "passkeys.add",
        ],
        "reads JSON",
    ),
}
FORM_ROUTES = [
    (endpoint, rule)
    for endpoint, method, rule in ROUTES
    if method == "POST" and not rule.startswith("/api/")
]


def test_every_form_post_is_fuzzed_or_excused():
    """A new form POST must be added to FORMS (or NOT_FUZZED, with a reason)."""
    endpoints = {endpoint for endpoint, _ in FORM_ROUTES}
    missing = endpoints - set(FORMS) - set(NOT_FUZZED)
    assert not missing, f"add {sorted(missing)} to FORMS in tests/test_fuzz_forms.py"
    assert set(FORMS) | set(NOT_FUZZED) == endpoints


def row_counts() -> dict[str, int]:
    """Count the rows of every table."""
    return {
        table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


def assert_escaped(response, label: str) -> None:
    """Check no hostile markup came back raw in a page."""
    body = response.get_data(as_text=True)
    for marker in MARKERS:
        assert marker not in body, f"{label}: {marker!r} reflected unescaped"


def build_request(base: dict[str, str], fields: list[str], choices: dict) -> MultiDict:
    """Combine a form that would go through with hostile, missing and repeated fields."""
    data = MultiDict(base)
    for name in fields:
        choice = choices.get(name, KEEP)
        if choice is KEEP:
            continue
        data.poplist(name)
        if choice is MISSING:
            continue
        for value in choice if isinstance(choice, list) else [choice]:
            data.add(name, value)
    for name, value in choices.get("_extra", []):
        data.add(name, value)
    return data


def fuzz_app(make_app) -> Flask:
    """Return this test's app, made on its first example; limits off, as every example posts."""
    # Hypothesis runs all examples in one call of the test, so one app serves them all.
    if not hasattr(make_app, "fuzz_app"):
        make_app.fuzz_app = make_app(RATELIMIT_ENABLED=False)
    return make_app.fuzz_app


@pytest.mark.parametrize(("endpoint", "rule"), [r for r in FORM_ROUTES if r[0] in FORMS])
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_form_input(make_app, endpoint, rule, data):
    """Any input: no 5xx, no raw markup back, and a refusal leaves the database as it was."""
    app = fuzz_app(make_app)
    role, valid, fields = FORMS[endpoint]
    with app.app_context():
        empty_tables()
        world = build_world(app, private=False)
        choices = {name: data.draw(field_value, label=name) for name in fields}
        choices["_extra"] = data.draw(
            st.lists(
                st.tuples(st.sampled_from(["x", "csrf_token", "id", "is_admin"]), hostile),
                max_size=2,
            ),
            label="extra fields",
        )
        client = app.test_client()
        if role != "anonymous":
            login = {"username": USERNAMES[role], "password": PASSWORD}
            assert client.post("/login", data=login).status_code == 302
        before = row_counts()
        path = fill(rule, endpoint, world)
        response = client.post(path, data=build_request(valid(world), fields, choices))
        label = f"{endpoint} {response.status_code}"
        assert response.status_code < 500, label
        assert_escaped(response, label)
        if 400 <= response.status_code < 500:
            db.session.expire_all()
            assert row_counts() == before, f"{label}: a refused request changed the database"
        location = response.headers.get("Location", "")
        if response.status_code in (302, 303) and not urlsplit(location).netloc:
            # What was saved is shown somewhere next: it must come back escaped there too.
            shown = client.get(location)
            assert shown.status_code < 500, location
            assert_escaped(shown, f"{endpoint} → {location}")


@pytest.mark.parametrize(
    "data", [{"description": "Fresh bread."}, {"website": "bakery.example"}, {}]
)
def test_owner_details_with_a_field_left_out_are_saved(client, data):
    """A details form missing a field (not just empty) is read as empty, not a crash."""
    app = client.application
    world = build_world(app, private=False)
    client.post("/login", data={"username": "bakery", "password": PASSWORD})
    response = client.post(f"/b/{world.business.slug}/manage", data=data)
    assert response.status_code in (302, 422)


@pytest.mark.parametrize(("endpoint", "rule"), [r for r in FORM_ROUTES if r[0] in FORMS])
def test_a_file_in_place_of_any_field_is_a_400(make_app, endpoint, rule):
    """No form takes a file: one sent as any of its fields (or an extra one) is a plain 400."""
    app = fuzz_app(make_app)
    role, valid, fields = FORMS[endpoint]
    with app.app_context():
        empty_tables()
        world = build_world(app, private=False)
        client = app.test_client()
        if role != "anonymous":
            login = {"username": USERNAMES[role], "password": PASSWORD}
            assert client.post("/login", data=login).status_code == 302
        before = row_counts()
        path = fill(rule, endpoint, world)
        for name in [*fields, "x"]:
            data = {**valid(world), name: (io.BytesIO(b"<script>alert(1)</script>"), "a.html")}
            response = client.post(path, data=data, content_type="multipart/form-data")
            label = f"{endpoint} with a file as {name}"
            assert response.status_code == 400, label
            assert "nothing here takes files" in response.get_data(as_text=True), label
            assert_escaped(response, label)
        db.session.expire_all()
        assert row_counts() == before
        # The same form as multipart, but with text only, still goes through as before.
        if endpoint == "posts.new":
            response = client.post(path, data=valid(world), content_type="multipart/form-data")
            assert response.status_code == 302
